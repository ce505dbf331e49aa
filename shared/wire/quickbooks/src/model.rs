//! QuickBooks Online Accounting API v3 wire types (JSON, minor version 75), shared by the app's
//! client and the simulator.
//!
//! Conventions: field names are the documented PascalCase names (`sparse`, `domain`, `status`,
//! `time`, `value`/`name` in references and the fault fields keep their lower-case spelling);
//! almost everything is `Option` and skipped when `None` (a full update nulls omitted writable
//! fields, so callers should prefer sparse updates); unknown fields are ignored; money is
//! [`Decimal`] carried as a JSON number; enum-like strings are tolerant enums that accept both the
//! usual spelling and the UPPER_SNAKE spelling seen in the official void sample, with an
//! `Other(String)` fallback.

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Declares a tolerant string enum: each variant has a canonical spelling plus accepted aliases,
/// anything else lands in `Other` and is written back verbatim.
macro_rules! tolerant_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $canon:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            /// A spelling this crate does not know; kept verbatim.
            Other(String),
        }

        impl $name {
            /// The canonical spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $canon,)+
                    Self::Other(s) => s.as_str(),
                }
            }

            /// Parses a spelling (canonical or alias); never fails.
            pub fn parse(s: &str) -> Self {
                match s {
                    $($canon $(| $alias)* => Self::$variant,)+
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Ok(Self::parse(&s))
            }
        }
    };
}

tolerant_enum!(
    /// `Invoice.EmailStatus`.
    EmailStatus {
        NotSet => "NotSet" | "NOT_SET",
        NeedToSend => "NeedToSend" | "NEED_TO_SEND",
        EmailSent => "EmailSent" | "EMAIL_SENT",
    }
);

tolerant_enum!(
    /// `Invoice.PrintStatus`.
    PrintStatus {
        NotSet => "NotSet" | "NOT_SET",
        NeedToPrint => "NeedToPrint" | "NEED_TO_PRINT",
        PrintComplete => "PrintComplete" | "PRINT_COMPLETE",
    }
);

tolerant_enum!(
    /// `Line.DetailType`.
    LineDetailType {
        SalesItemLineDetail => "SalesItemLineDetail" | "SALES_ITEM_LINE_DETAIL",
        GroupLineDetail => "GroupLineDetail" | "GROUP_LINE_DETAIL",
        DescriptionOnly => "DescriptionOnly" | "DESCRIPTION_ONLY",
        DiscountLineDetail => "DiscountLineDetail" | "DISCOUNT_LINE_DETAIL",
        SubTotalLineDetail => "SubTotalLineDetail" | "SUB_TOTAL_LINE_DETAIL",
        TaxLineDetail => "TaxLineDetail" | "TAX_LINE_DETAIL",
        PaymentLineDetail => "PaymentLineDetail" | "PAYMENT_LINE_DETAIL",
    }
);

tolerant_enum!(
    /// `GlobalTaxCalculation` (required for non-US companies, not applicable to US ones).
    GlobalTaxCalculation {
        TaxExcluded => "TaxExcluded" | "TAX_EXCLUDED",
        TaxInclusive => "TaxInclusive" | "TAX_INCLUSIVE",
        NotApplicable => "NotApplicable" | "NOT_APPLICABLE",
    }
);

tolerant_enum!(
    /// Top-level `status` of an entity (XSD `EntityStatusEnum`); `Deleted` in delete answers and CDC.
    EntityStatus {
        Deleted => "Deleted" | "DELETED",
        Voided => "Voided" | "VOIDED",
        Draft => "Draft" | "DRAFT",
        Pending => "Pending" | "PENDING",
        InTransit => "InTransit" | "IN_TRANSIT",
        Synchronized => "Synchronized" | "SYNCHRONIZED",
        SyncError => "SyncError" | "SYNC_ERROR",
    }
);

tolerant_enum!(
    /// `Estimate.TxnStatus` (documented values: Pending, Accepted, Closed, Rejected; QuickBooks'
    /// UI also says "Converted" for a closed estimate, which the API writes as `Closed`).
    TxnStatus {
        Pending => "Pending" | "PENDING",
        Accepted => "Accepted" | "ACCEPTED",
        Closed => "Closed" | "CLOSED",
        Rejected => "Rejected" | "REJECTED",
    }
);

tolerant_enum!(
    /// `Item.Type`.
    ItemType {
        Inventory => "Inventory" | "INVENTORY",
        Service => "Service" | "SERVICE",
        NonInventory => "NonInventory" | "NON_INVENTORY",
        Group => "Group" | "GROUP",
        Category => "Category" | "CATEGORY",
    }
);

/// A reference to another entity: `{"value": "1", "name": "Services"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ref {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Ref {
    pub fn new(value: impl Into<String>) -> Self {
        Ref {
            value: value.into(),
            name: None,
        }
    }

    pub fn named(value: impl Into<String>, name: impl Into<String>) -> Self {
        Ref {
            value: value.into(),
            name: Some(name.into()),
        }
    }
}

/// `{"value": "..."}` memo objects (`CustomerMemo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoRef {
    pub value: String,
}

/// `{"Address": "a@b.example"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EmailAddress {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// `{"FreeFormNumber": "(555) 555-5555"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TelephoneNumber {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_form_number: Option<String>,
}

/// `BillAddr` / `ShipAddr` / `CompanyAddr`. `Lat`/`Long` are strings (often `"INVALID"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PhysicalAddress {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line3: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line4: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line5: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_sub_division_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long: Option<String>,
}

/// `MetaData` on every entity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MetaData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<DateTime<FixedOffset>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_by_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_time: Option<DateTime<FixedOffset>>,
}

/// `CustomField[]` entries (string custom fields on sales forms).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CustomField {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `StringType` (the void sample spells it `STRING_TYPE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
}

/// `LinkedTxn[]` entries (`{"TxnId": "166", "TxnType": "Payment"}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LinkedTxn {
    pub txn_id: String,
    pub txn_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txn_line_id: Option<String>,
}

/// `DeliveryInfo` (set when the invoice was e-mailed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeliveryInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_time: Option<DateTime<FixedOffset>>,
}

/// `SalesItemLineDetail` of a sales line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SalesItemLineDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_ref: Option<Ref>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub qty: Option<Decimal>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub unit_price: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_code_ref: Option<Ref>,
    /// Gross line amount when the transaction is tax inclusive.
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub tax_inclusive_amt: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_ref: Option<Ref>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub discount_rate: Option<Decimal>,
}

/// `DiscountLineDetail` of a discount line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DiscountLineDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent_based: Option<bool>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub discount_percent: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount_account_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_code_ref: Option<Ref>,
}

/// `SubTotalLineDetail` (empty object in responses).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SubTotalLineDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_ref: Option<Ref>,
}

/// One `Line[]` entry of an invoice (or a payment, which uses `Amount` + `LinkedTxn`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Line {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_num: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(
        default,
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub amount: Option<Decimal>,
    pub detail_type: LineDetailType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_item_line_detail: Option<SalesItemLineDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_line_detail: Option<DiscountLineDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_total_line_detail: Option<SubTotalLineDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_line_detail: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_line_detail: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_txn: Option<Vec<LinkedTxn>>,
}

impl Line {
    /// A sales line for `item` with quantity and unit price; `Amount` = qty × price.
    pub fn sales_item(item: Ref, qty: Decimal, unit_price: Decimal) -> Line {
        Line {
            id: None,
            line_num: None,
            description: None,
            amount: Some(qty * unit_price),
            detail_type: LineDetailType::SalesItemLineDetail,
            sales_item_line_detail: Some(SalesItemLineDetail {
                item_ref: Some(item),
                qty: Some(qty),
                unit_price: Some(unit_price),
                ..SalesItemLineDetail::default()
            }),
            discount_line_detail: None,
            sub_total_line_detail: None,
            group_line_detail: None,
            description_line_detail: None,
            linked_txn: None,
        }
    }
}

/// `TxnTaxDetail.TaxLine[].TaxLineDetail`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaxLineDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_rate_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent_based: Option<bool>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub tax_percent: Option<Decimal>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub net_amount_taxable: Option<Decimal>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub tax_inclusive_amount: Option<Decimal>,
}

/// `TxnTaxDetail.TaxLine[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaxLine {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail_type: Option<String>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub amount: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_line_detail: Option<TaxLineDetail>,
}

/// `TxnTaxDetail` of a sales transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TxnTaxDetail {
    /// US: the tax code (rate group) that drives the transaction's sales tax.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txn_tax_code_ref: Option<Ref>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_tax: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_line: Option<Vec<TaxLine>>,
}

/// The Invoice entity. Read-only fields (`Id`, `MetaData`, `TotalAmt`, `Balance`, `HomeBalance`,
/// `HomeTotalAmt`, `DeliveryInfo`, `InvoiceLink`) are ignored by QBO on writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Invoice {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
    #[serde(rename = "domain", skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(rename = "sparse", skip_serializing_if = "Option::is_none")]
    pub sparse: Option<bool>,
    /// `Deleted` in delete answers and CDC.
    #[serde(rename = "status", skip_serializing_if = "Option::is_none")]
    pub status: Option<EntityStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<MetaData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txn_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ship_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency_ref: Option<Ref>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub exchange_rate: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sales_term_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<Vec<Line>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txn_tax_detail: Option<TxnTaxDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_tax_calculation: Option<GlobalTaxCalculation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply_tax_after_discount: Option<bool>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_amt: Option<Decimal>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub home_total_amt: Option<Decimal>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub balance: Option<Decimal>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub home_balance: Option<Decimal>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub deposit: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_status: Option<EmailStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub print_status: Option<PrintStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bill_email: Option<EmailAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bill_email_cc: Option<EmailAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bill_email_bcc: Option<EmailAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bill_addr: Option<PhysicalAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ship_addr: Option<PhysicalAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_info: Option<DeliveryInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_memo: Option<MemoRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linked_txn: Option<Vec<LinkedTxn>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_field: Option<Vec<CustomField>>,
    /// Customer payment link; only with `include=invoiceLink`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deposit_to_account_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ship_method_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_num: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_online_payment: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_online_credit_card_payment: Option<bool>,
    #[serde(
        rename = "AllowOnlineACHPayment",
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_online_ach_payment: Option<bool>,
    #[serde(rename = "AllowIPNPayment", skip_serializing_if = "Option::is_none")]
    pub allow_ipn_payment: Option<bool>,
}

impl Invoice {
    /// True for the `{"status":"Deleted",…}` stubs of delete answers and CDC.
    pub fn is_deleted(&self) -> bool {
        self.status == Some(EntityStatus::Deleted)
    }

    /// Voided per the documented markers: `status: Voided`, or a zero total with a private note
    /// starting with "Voided" (callers that know the original total should also check it).
    pub fn looks_voided(&self) -> bool {
        self.status == Some(EntityStatus::Voided)
            || (self.total_amt == Some(Decimal::ZERO)
                && self
                    .private_note
                    .as_deref()
                    .is_some_and(|n| n.starts_with("Voided")))
    }
}

/// The Estimate entity: a sales transaction of the same shape as an [`Invoice`] (customer,
/// lines, tax, currency, memo, e-mail status, `LinkedTxn`) plus its own fields. The shared
/// fields are the flattened `sale` (its invoice-only fields — `DueDate`, `Balance`, `Deposit`,
/// `InvoiceLink` — stay `None` on an estimate). Facts and sources: `ESTIMATES.md` of this crate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Estimate {
    #[serde(flatten)]
    pub sale: Invoice,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txn_status: Option<TxnStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_date: Option<NaiveDate>,
}

impl Estimate {
    /// An estimate of the same customer, lines, tax, currency and memo as `invoice` (the app's
    /// draft builds an invoice; an estimate is made from the same draft).
    pub fn from_invoice(invoice: Invoice, expiration_date: Option<NaiveDate>) -> Estimate {
        Estimate {
            sale: Invoice {
                due_date: None,
                sales_term_ref: None,
                balance: None,
                home_balance: None,
                deposit: None,
                invoice_link: None,
                ..invoice
            },
            expiration_date,
            txn_status: Some(TxnStatus::Pending),
            ..Estimate::default()
        }
    }

    pub fn id(&self) -> Option<&str> {
        self.sale.id.as_deref()
    }

    /// True for the `{"status":"Deleted",…}` stubs of delete answers and CDC.
    pub fn is_deleted(&self) -> bool {
        self.sale.is_deleted()
    }
}

/// `{"Estimate": {...}, "time": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EstimateEnvelope {
    #[serde(rename = "Estimate")]
    pub estimate: Estimate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// The Customer entity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Customer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
    #[serde(rename = "domain", skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(rename = "sparse", skip_serializing_if = "Option::is_none")]
    pub sparse: Option<bool>,
    #[serde(rename = "status", skip_serializing_if = "Option::is_none")]
    pub status: Option<EntityStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<MetaData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fully_qualified_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub print_on_check_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_email_addr: Option<EmailAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_phone: Option<TelephoneNumber>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bill_addr: Option<PhysicalAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ship_addr: Option<PhysicalAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taxable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bill_with_parent: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_ref: Option<Ref>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub balance: Option<Decimal>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub balance_with_jobs: Option<Decimal>,
    /// Fixed once set; defaults to the home currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_tax_code_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sales_term_ref: Option<Ref>,
    /// `Print | Email | None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_delivery_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_tax_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resale_num: Option<String>,
}

/// The Item entity (products and services).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Item {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
    #[serde(rename = "domain", skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(rename = "sparse", skip_serializing_if = "Option::is_none")]
    pub sparse: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<MetaData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fully_qualified_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<ItemType>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub unit_price: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taxable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sales_tax_included: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sales_tax_code_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub income_account_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track_qty_on_hand: Option<bool>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub qty_on_hand: Option<Decimal>,
}

/// `{"Item": {...}, "time": "..."}` (the answer of an item create or read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemEnvelope {
    #[serde(rename = "Item")]
    pub item: Item,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// The Account entity (chart of accounts): what an item's `IncomeAccountRef` points at. Only the
/// fields the app reads (query `select * from Account where AccountType = 'Income'`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Account {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
    #[serde(rename = "domain", skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<MetaData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fully_qualified_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// `Income`, `Bank`, `Expense`, … (the classification the app filters on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_sub_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency_ref: Option<Ref>,
}

/// The ExchangeRate entity (multi-currency companies): `Rate` home-currency units for one unit of
/// `SourceCurrencyCode` on `AsOfDate` (`GET /exchangerate?sourcecurrencycode=EUR&asofdate=…`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExchangeRate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
    #[serde(rename = "domain", skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_currency_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_currency_code: Option<String>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub rate: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<MetaData>,
}

/// `{"ExchangeRate": {...}, "time": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExchangeRateEnvelope {
    #[serde(rename = "ExchangeRate")]
    pub exchange_rate: ExchangeRate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// `TaxRateDetail` inside a tax code's rate lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaxRateDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_rate_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_type_applicable: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_order: Option<i32>,
}

/// `SalesTaxRateList` / `PurchaseTaxRateList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaxRateList {
    pub tax_rate_detail: Vec<TaxRateDetail>,
}

/// The TaxCode entity (read-only via the API). US pseudo codes `TAX`/`NON` have `TaxGroup: false`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaxCode {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
    #[serde(rename = "domain", skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(rename = "sparse", skip_serializing_if = "Option::is_none")]
    pub sparse: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<MetaData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taxable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_group: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sales_tax_rate_list: Option<TaxRateList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchase_tax_rate_list: Option<TaxRateList>,
}

/// The TaxRate entity. `RateValue` is a percentage (8 = 8 %).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaxRate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
    #[serde(rename = "domain", skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(rename = "sparse", skip_serializing_if = "Option::is_none")]
    pub sparse: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<MetaData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub rate_value: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agency_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub special_tax_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_type: Option<String>,
}

/// The Term entity (payment terms such as "Net 30").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Term {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
    #[serde(rename = "domain", skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(rename = "sparse", skip_serializing_if = "Option::is_none")]
    pub sparse: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<MetaData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// `STANDARD` (due after N days) or `DATE_DRIVEN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount_days: Option<i64>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub discount_percent: Option<Decimal>,
}

/// The CompanyCurrency entity (multi-currency companies only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CompanyCurrency {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
    #[serde(rename = "domain", skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(rename = "sparse", skip_serializing_if = "Option::is_none")]
    pub sparse: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<MetaData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// One `Payment.Line[]` entry: the amount applied to the linked invoice(s).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PaymentLine {
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub amount: Option<Decimal>,
    pub linked_txn: Vec<LinkedTxn>,
}

/// The Payment entity (received payments applied to invoices).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Payment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
    #[serde(rename = "domain", skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(rename = "sparse", skip_serializing_if = "Option::is_none")]
    pub sparse: Option<bool>,
    #[serde(rename = "status", skip_serializing_if = "Option::is_none")]
    pub status: Option<EntityStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<MetaData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txn_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_ref: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency_ref: Option<Ref>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_amt: Option<Decimal>,
    #[serde(
        with = "rust_decimal::serde::float_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub unapplied_amt: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_ref_num: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<Vec<PaymentLine>>,
}

/// `Preferences.CurrencyPrefs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CurrencyPrefs {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_currency_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_currency: Option<Ref>,
}

/// `Preferences.SalesFormsPrefs` (the parts the integration needs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SalesFormsPrefs {
    /// When true the company types its own DocNumbers; QBO does not auto-number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_txn_numbers: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_terms: Option<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_deposit: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_discount: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_shipping: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e_transaction_enabled_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_field: Option<Value>,
}

/// `Preferences.TaxPrefs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaxPrefs {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub using_sales_tax: Option<bool>,
    /// Automated sales tax (the company computes tax itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_tax_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_group_code_ref: Option<Ref>,
}

/// The Preferences entity (one per company).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Preferences {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
    #[serde(rename = "domain", skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(rename = "sparse", skip_serializing_if = "Option::is_none")]
    pub sparse: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<MetaData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency_prefs: Option<CurrencyPrefs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sales_forms_prefs: Option<SalesFormsPrefs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_prefs: Option<TaxPrefs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_messages_prefs: Option<Value>,
}

impl Preferences {
    pub fn multi_currency_enabled(&self) -> bool {
        self.currency_prefs
            .as_ref()
            .and_then(|c| c.multi_currency_enabled)
            .unwrap_or(false)
    }

    pub fn home_currency(&self) -> Option<&str> {
        self.currency_prefs
            .as_ref()?
            .home_currency
            .as_ref()
            .map(|r| r.value.as_str())
    }

    pub fn custom_txn_numbers(&self) -> bool {
        self.sales_forms_prefs
            .as_ref()
            .and_then(|s| s.custom_txn_numbers)
            .unwrap_or(false)
    }
}

/// `CompanyInfo.NameValue[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NameValue {
    pub name: String,
    pub value: String,
}

/// The CompanyInfo entity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CompanyInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_token: Option<String>,
    #[serde(rename = "domain", skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(rename = "sparse", skip_serializing_if = "Option::is_none")]
    pub sparse: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<MetaData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legal_name: Option<String>,
    /// Country code, e.g. `US`, `GB`, `AU`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_addr: Option<PhysicalAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fiscal_year_start_month: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_value: Option<Vec<NameValue>>,
}

/// `{"Invoice": {...}, "time": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoiceEnvelope {
    #[serde(rename = "Invoice")]
    pub invoice: Invoice,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// `{"Customer": {...}, "time": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerEnvelope {
    #[serde(rename = "Customer")]
    pub customer: Customer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// `{"Payment": {...}, "time": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PaymentEnvelope {
    #[serde(rename = "Payment")]
    pub payment: Payment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// `{"Preferences": {...}, "time": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PreferencesEnvelope {
    #[serde(rename = "Preferences")]
    pub preferences: Preferences,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// `{"CompanyInfo": {...}, "time": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompanyInfoEnvelope {
    #[serde(rename = "CompanyInfo")]
    pub company_info: CompanyInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// `QueryResponse`: the entity key is absent when nothing matched; `count(*)` answers carry only
/// `totalCount`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueryResponse {
    #[serde(rename = "Invoice", skip_serializing_if = "Option::is_none")]
    pub invoice: Option<Vec<Invoice>>,
    #[serde(rename = "Estimate", skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Vec<Estimate>>,
    #[serde(rename = "Customer", skip_serializing_if = "Option::is_none")]
    pub customer: Option<Vec<Customer>>,
    #[serde(rename = "Item", skip_serializing_if = "Option::is_none")]
    pub item: Option<Vec<Item>>,
    #[serde(rename = "TaxCode", skip_serializing_if = "Option::is_none")]
    pub tax_code: Option<Vec<TaxCode>>,
    #[serde(rename = "TaxRate", skip_serializing_if = "Option::is_none")]
    pub tax_rate: Option<Vec<TaxRate>>,
    #[serde(rename = "Term", skip_serializing_if = "Option::is_none")]
    pub term: Option<Vec<Term>>,
    #[serde(rename = "CompanyCurrency", skip_serializing_if = "Option::is_none")]
    pub company_currency: Option<Vec<CompanyCurrency>>,
    #[serde(rename = "Payment", skip_serializing_if = "Option::is_none")]
    pub payment: Option<Vec<Payment>>,
    #[serde(rename = "Account", default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Vec<Account>>,
    #[serde(rename = "startPosition", skip_serializing_if = "Option::is_none")]
    pub start_position: Option<u32>,
    #[serde(rename = "maxResults", skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u32>,
    #[serde(rename = "totalCount", skip_serializing_if = "Option::is_none")]
    pub total_count: Option<u32>,
}

/// `{"QueryResponse": {...}, "time": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryResponseEnvelope {
    #[serde(rename = "QueryResponse")]
    pub query_response: QueryResponse,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// One element of `CDCResponse[]`: a list of per-entity query responses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CdcResponse {
    #[serde(rename = "QueryResponse", default)]
    pub query_response: Vec<QueryResponse>,
}

/// `{"CDCResponse": [{"QueryResponse": [...]}], "time": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CdcResponseEnvelope {
    #[serde(rename = "CDCResponse", default)]
    pub cdc_response: Vec<CdcResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

impl CdcResponseEnvelope {
    /// All invoices (including `Deleted` stubs) across the response.
    pub fn invoices(&self) -> impl Iterator<Item = &Invoice> {
        self.cdc_response
            .iter()
            .flat_map(|c| c.query_response.iter())
            .filter_map(|q| q.invoice.as_ref())
            .flatten()
    }

    /// All estimates (including `Deleted` stubs) across the response.
    pub fn estimates(&self) -> impl Iterator<Item = &Estimate> {
        self.cdc_response
            .iter()
            .flat_map(|c| c.query_response.iter())
            .filter_map(|q| q.estimate.as_ref())
            .flatten()
    }

    /// All payments across the response.
    pub fn payments(&self) -> impl Iterator<Item = &Payment> {
        self.cdc_response
            .iter()
            .flat_map(|c| c.query_response.iter())
            .filter_map(|q| q.payment.as_ref())
            .flatten()
    }
}

/// One `BatchItemRequest[]` entry. Entities this crate does not model stay in `other`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchItemRequest {
    #[serde(rename = "bId")]
    pub b_id: String,
    /// `create | update | delete` (absent for queries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// `void` together with `operation: update`.
    #[serde(
        rename = "optionsData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub options_data: Option<String>,
    #[serde(rename = "Query", default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(rename = "Invoice", default, skip_serializing_if = "Option::is_none")]
    pub invoice: Option<Invoice>,
    #[serde(rename = "Customer", default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// `{"BatchItemRequest": [...]}` (at most 30 items).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchRequest {
    #[serde(rename = "BatchItemRequest", default)]
    pub batch_item_request: Vec<BatchItemRequest>,
}

/// One `BatchItemResponse[]` entry: a fault or the entity / query answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchItemResponse {
    #[serde(rename = "bId")]
    pub b_id: String,
    #[serde(rename = "Fault", default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    #[serde(rename = "Invoice", default, skip_serializing_if = "Option::is_none")]
    pub invoice: Option<Invoice>,
    #[serde(rename = "Customer", default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
    #[serde(
        rename = "QueryResponse",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub query_response: Option<QueryResponse>,
}

/// `{"BatchItemResponse": [...], "time": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    #[serde(rename = "BatchItemResponse", default)]
    pub batch_item_response: Vec<BatchItemResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// One error of a fault. `code` is a string ("6240").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultError {
    #[serde(rename = "Message", default)]
    pub message: String,
    #[serde(rename = "Detail", default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default)]
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<String>,
}

/// `Fault`: `{"Error": [...], "type": "ValidationFault"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    #[serde(rename = "Error", default)]
    pub error: Vec<FaultError>,
    #[serde(rename = "type", default)]
    pub r#type: String,
}

impl Fault {
    /// The first error's code ("" when there is none).
    pub fn code(&self) -> &str {
        self.error.first().map(|e| e.code.as_str()).unwrap_or("")
    }

    pub fn has_code(&self, code: &str) -> bool {
        self.error.iter().any(|e| e.code == code)
    }
}

/// `{"Fault": {...}, "time": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultEnvelope {
    #[serde(rename = "Fault")]
    pub fault: Fault,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// One error of the gateway's lower-case 401 envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayFaultError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub element: Option<String>,
}

/// The gateway's lower-case `fault`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayFault {
    #[serde(default)]
    pub error: Vec<GatewayFaultError>,
    #[serde(rename = "type", default)]
    pub r#type: String,
}

/// The lower-camel envelope the API gateway answers 401s with (`time` is epoch millis). The
/// always-null / always-empty members are kept so the simulator reproduces the documented shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayFaultEnvelope {
    #[serde(default)]
    pub warnings: Option<Value>,
    #[serde(default)]
    pub intuit_object: Option<Value>,
    pub fault: GatewayFault,
    #[serde(default)]
    pub report: Option<Value>,
    #[serde(default)]
    pub query_response: Option<Value>,
    #[serde(default)]
    pub batch_item_response: Vec<Value>,
    #[serde(default)]
    pub attachable_response: Vec<Value>,
    #[serde(default)]
    pub sync_error_response: Option<Value>,
    #[serde(default)]
    pub request_id: Option<Value>,
    #[serde(default)]
    pub time: Option<Value>,
    #[serde(default)]
    pub status: Option<Value>,
    #[serde(rename = "cdcresponse", default)]
    pub cdc_response: Vec<Value>,
}

impl From<GatewayFault> for Fault {
    fn from(g: GatewayFault) -> Fault {
        Fault {
            r#type: g.r#type,
            error: g
                .error
                .into_iter()
                .map(|e| FaultError {
                    message: e.message,
                    detail: e.detail,
                    code: e.code,
                    element: e.element,
                })
                .collect(),
        }
    }
}

/// Reads a fault from any API answer body: the normal `Fault` envelope or the gateway's
/// lower-case `fault` one. `None` when the body carries no fault (remember that a 200 can).
pub fn parse_fault(body: &[u8]) -> Option<Fault> {
    // Most answers carry no fault, and parsing a query answer of hundreds of invoices just to
    // find that out cost as much as reading it. A fault envelope has the key `Fault` or `fault`
    // (or one spelled with a \u escape): without any of these bytes there is none.
    let has = |needle: &[u8]| memchr::memmem::find(body, needle).is_some();
    if !(has(br#""Fault""#) || has(br#""fault""#) || (has(br"\u") && has(br#"ault""#))) {
        return None;
    }
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "Fault")]
        upper: Option<Fault>,
        #[serde(rename = "fault")]
        lower: Option<GatewayFault>,
    }
    let probe: Probe = serde_json::from_slice(body).ok()?;
    probe.upper.or_else(|| probe.lower.map(Fault::from))
}

/// The OAuth token endpoint's success answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    #[serde(default)]
    pub token_type: String,
    /// Seconds (3600).
    #[serde(default)]
    pub expires_in: i64,
    /// Seconds until the refresh token expires (rolling, ~100 days).
    #[serde(default)]
    pub x_refresh_token_expires_in: i64,
    /// OpenID scopes only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// The OAuth endpoints' error answer, e.g. `{"error":"invalid_grant","error_description":"…"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthError {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

impl OAuthError {
    pub fn is_invalid_grant(&self) -> bool {
        self.error == "invalid_grant"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../../../tests/fixtures/quickbooks/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn estimates_read_with_their_own_fields_and_the_shared_ones() {
        let cdc: CdcResponseEnvelope = serde_json::from_str(&fixture("cdc-response.json")).unwrap();
        let estimates: Vec<&Estimate> = cdc.estimates().collect();
        assert_eq!(estimates.len(), 3);
        assert!(estimates[2].is_deleted());
        let e: Estimate = serde_json::from_value(serde_json::json!({
            "Id": "100", "SyncToken": "2", "TxnStatus": "Accepted", "AcceptedBy": "Bill",
            "AcceptedDate": "2026-01-05", "ExpirationDate": "2026-02-01", "TotalAmt": 10.5,
            "CustomerRef": {"value": "1"}, "EmailStatus": "EmailSent"
        }))
        .unwrap();
        assert_eq!(e.txn_status, Some(TxnStatus::Accepted));
        assert_eq!(e.sale.total_amt, Some(dec!(10.5)));
        assert_eq!(e.id(), Some("100"));
        let back = serde_json::to_value(&e).unwrap();
        assert_eq!(back["TxnStatus"], "Accepted");
        assert_eq!(back["ExpirationDate"], "2026-02-01");
        assert_eq!(back["CustomerRef"]["value"], "1");
        let from = Estimate::from_invoice(
            Invoice {
                due_date: NaiveDate::from_ymd_opt(2026, 1, 1),
                total_amt: Some(dec!(1)),
                ..Invoice::default()
            },
            None,
        );
        assert_eq!(from.sale.due_date, None);
        assert_eq!(from.txn_status, Some(TxnStatus::Pending));
    }

    #[test]
    fn invoice_payloads_deserialize() {
        for name in [
            "invoice-create-response.json",
            "invoice-read-response.json",
            "invoice-send-response.json",
            "invoice-void-response.json",
            "invoice-delete-response.json",
            "invoice-paid-with-payment-linkedtxn.json",
        ] {
            let env: InvoiceEnvelope = serde_json::from_str(&fixture(name)).unwrap();
            assert!(env.invoice.id.is_some(), "{name}");
        }
        let read: InvoiceEnvelope =
            serde_json::from_str(&fixture("invoice-read-response.json")).unwrap();
        let tax = read.invoice.txn_tax_detail.unwrap();
        assert_eq!(tax.total_tax, Some(dec!(26.82)));
        assert_eq!(read.invoice.balance, Some(dec!(362.07)));
        let void: InvoiceEnvelope =
            serde_json::from_str(&fixture("invoice-void-response.json")).unwrap();
        assert_eq!(void.invoice.email_status, Some(EmailStatus::NotSet));
        assert_eq!(void.invoice.print_status, Some(PrintStatus::NeedToPrint));
        assert!(void.invoice.looks_voided());
        let lines = void.invoice.line.unwrap();
        assert_eq!(lines[0].detail_type, LineDetailType::SalesItemLineDetail);
        assert_eq!(
            lines.last().unwrap().detail_type,
            LineDetailType::SubTotalLineDetail
        );
        let deleted: InvoiceEnvelope =
            serde_json::from_str(&fixture("invoice-delete-response.json")).unwrap();
        assert!(deleted.invoice.is_deleted());
        let send: InvoiceEnvelope =
            serde_json::from_str(&fixture("invoice-send-response.json")).unwrap();
        assert_eq!(send.invoice.email_status, Some(EmailStatus::EmailSent));
        assert!(send.invoice.delivery_info.unwrap().delivery_time.is_some());
    }

    #[test]
    fn requests_deserialize() {
        let minimal: Invoice =
            serde_json::from_str(&fixture("invoice-create-request-minimal.json")).unwrap();
        assert_eq!(minimal.line.unwrap()[0].amount, Some(dec!(100)));
        let sparse: Invoice =
            serde_json::from_str(&fixture("invoice-sparse-update-request.json")).unwrap();
        assert_eq!(sparse.sparse, Some(true));
        for name in ["invoice-void-request.json", "invoice-delete-request.json"] {
            let inv: Invoice = serde_json::from_str(&fixture(name)).unwrap();
            assert!(inv.sync_token.is_some());
        }
        let customer: Customer =
            serde_json::from_str(&fixture("customer-create-request.json")).unwrap();
        assert_eq!(customer.display_name.as_deref(), Some("King's Groceries"));
        let batch: BatchRequest = serde_json::from_str(&fixture("batch-request.json")).unwrap();
        assert_eq!(batch.batch_item_request.len(), 4);
        assert!(batch.batch_item_request[0].other.contains_key("Vendor"));
        assert!(batch.batch_item_request[3].query.is_some());
    }

    #[test]
    fn other_payloads_deserialize() {
        let c: CustomerEnvelope =
            serde_json::from_str(&fixture("customer-create-response.json")).unwrap();
        assert_eq!(c.customer.currency_ref.unwrap().value, "USD");
        let q: QueryResponseEnvelope =
            serde_json::from_str(&fixture("customer-query-response.json")).unwrap();
        assert_eq!(q.query_response.customer.unwrap().len(), 2);
        let q: QueryResponseEnvelope =
            serde_json::from_str(&fixture("invoice-query-response.json")).unwrap();
        assert!(q.query_response.invoice.is_some());
        let q: QueryResponseEnvelope =
            serde_json::from_str(&fixture("companycurrency-query-response.json")).unwrap();
        assert_eq!(q.query_response.company_currency.unwrap().len(), 5);
        let q: QueryResponseEnvelope =
            serde_json::from_str(&fixture("taxcode-query-response.json")).unwrap();
        let codes = q.query_response.tax_code.unwrap();
        assert_eq!(
            codes[4]
                .sales_tax_rate_list
                .as_ref()
                .unwrap()
                .tax_rate_detail
                .len(),
            2
        );
        let cdc: CdcResponseEnvelope = serde_json::from_str(&fixture("cdc-response.json")).unwrap();
        assert_eq!(cdc.cdc_response[0].query_response.len(), 2);
        let batch: BatchResponse = serde_json::from_str(&fixture("batch-response.json")).unwrap();
        let items = &batch.batch_item_response;
        assert_eq!(items[0].fault.as_ref().unwrap().code(), "6240");
        assert_eq!(items[2].fault.as_ref().unwrap().code(), "5010");
        assert!(items[3].query_response.is_some());
        let tok: TokenResponse =
            serde_json::from_str(&fixture("oauth-token-response.json")).unwrap();
        assert_eq!(tok.expires_in, 3600);
        let err: OAuthError =
            serde_json::from_str(&fixture("error-oauth-invalid-grant.json")).unwrap();
        assert!(err.is_invalid_grant());
    }

    #[test]
    fn faults_parse_in_both_casings() {
        let f = parse_fault(fixture("error-object-not-found-610.json").as_bytes()).unwrap();
        assert_eq!(f.code(), "610");
        let f = parse_fault(fixture("error-fault-format.json").as_bytes()).unwrap();
        assert_eq!(f.r#type, "ValidationFault");
        let body = fixture("error-401-authentication-failed-gateway.json");
        let f = parse_fault(body.as_bytes()).unwrap();
        assert_eq!(f.code(), "3200");
        assert_eq!(f.r#type, "AUTHENTICATION");
        let gw: GatewayFaultEnvelope = serde_json::from_str(&body).unwrap();
        assert_eq!(gw.fault.error.len(), 1);
        assert!(parse_fault(br#"{"Invoice":{"Id":"1"}}"#).is_none());
        // The quick check lets every spelling of the key through to the parser.
        let escaped =
            br#"{"\u0046ault":{"Error":[{"Message":"m","code":"610"}],"type":"ValidationFault"}}"#;
        assert_eq!(parse_fault(escaped).as_ref().map(Fault::code), Some("610"));
        assert!(parse_fault(br#"{"Invoice":{"Id":"1","PrivateNote":"Fault"}}"#).is_none());
    }

    #[test]
    fn money_round_trips_as_json_numbers() {
        let inv = Invoice {
            total_amt: Some(dec!(362.07)),
            ..Invoice::default()
        };
        let json = serde_json::to_value(&inv).unwrap();
        assert_eq!(json["TotalAmt"], serde_json::json!(362.07));
        let back: Invoice = serde_json::from_value(json).unwrap();
        assert_eq!(back.total_amt, Some(dec!(362.07)));
        assert_eq!(
            serde_json::to_value(EmailStatus::Other("X".into())).unwrap(),
            serde_json::json!("X")
        );
    }
}
