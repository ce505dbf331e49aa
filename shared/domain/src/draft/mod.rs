//! The invoice draft: from a Pipedrive deal to a QuickBooks `Invoice`, with the arithmetic
//! QuickBooks does. Pure: the deal, its products and discounts, and the company's QuickBooks setup
//! are read elsewhere.
//!
//! - **Lines** come from the deal's enabled products (quantity, unit price, line discount as a
//!   percentage or an amount, Pipedrive's tax percentage); a deal without products gives one line
//!   from the deal value. Deal-level discounts become one QuickBooks discount line.
//! - **Tax.** US companies: each line is `TAX` or `NON` and the transaction tax code
//!   (`TxnTaxDetail.TxnTaxCodeRef`) picks the rates. Other companies: a real tax code per line and
//!   `GlobalTaxCalculation` from the deal's tax method (`exclusive` → `TaxExcluded`, `inclusive` →
//!   `TaxInclusive`, `none` → `NotApplicable`). The form may override both.
//! - **Money** is rounded as QuickBooks rounds: 2 places, half away from zero. [`preview`] computes
//!   the totals exactly as QuickBooks does for the invoice [`build_invoice`] produces (tax per rate
//!   on the summed taxable amount of each code, after the discount when there is one; inclusive
//!   amounts split into net and tax per line), so the total shown before creation is the total
//!   QuickBooks returns.
//! - **Checks** that need no QuickBooks call — currency against the customer and the company's
//!   multi-currency setting, an item on every line, a tax code where one is needed — run first,
//!   each with a message that says what to change.
//! - **Templates**: the public API documents no field that selects an invoice template
//!   ([`TEMPLATE_NOTE`]).

mod checks;
mod from_deal;
mod invoice;
mod totals;

pub use checks::{check_currency, validate};
pub use from_deal::{
    default_tax_code, discounts_from_deal, due_date, lines_from_deal, tax_mode_of,
};
pub use invoice::build_invoice;
pub(crate) use invoice::qty_and_price;
pub use totals::preview;
pub(crate) use totals::{effective_mode, invoice_line_amount};

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::Party;
use pipedrive_wire::model::TaxMethod;
use quickbooks_wire::model::GlobalTaxCalculation;

/// What the form says about invoice templates (and what it offers instead).
pub const TEMPLATE_NOTE: &str = "QuickBooks' public API has no field that chooses the invoice template (custom form style), so new invoices use your company's default template; change the default in QuickBooks under Settings › Custom form styles. What the API does let you set here: a message to the customer (customer memo), an internal note (private note), the invoice's custom fields, and the invoice number when custom transaction numbers are on in QuickBooks.";

const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

/// Half away from zero, 2 places: how QuickBooks rounds money.
pub fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// `1250` → `1,250.00` (English separators; [`super::money::NumberFormat`] is the formatter,
/// this is its English form for text that has no reader's locale).
pub fn format_money(amount: Decimal) -> String {
    super::money::NumberFormat::english().amount(amount)
}

/// How tax is applied to the invoice's amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaxMode {
    /// Amounts are net; tax is added.
    Exclusive,
    /// Amounts include the tax.
    Inclusive,
    /// No tax.
    None,
}

impl From<TaxMethod> for TaxMode {
    fn from(m: TaxMethod) -> Self {
        match m {
            TaxMethod::Exclusive => TaxMode::Exclusive,
            TaxMethod::Inclusive => TaxMode::Inclusive,
            TaxMethod::None => TaxMode::None,
        }
    }
}

impl TaxMode {
    /// `GlobalTaxCalculation` for non-US companies.
    pub fn global_tax_calculation(self) -> GlobalTaxCalculation {
        match self {
            TaxMode::Exclusive => GlobalTaxCalculation::TaxExcluded,
            TaxMode::Inclusive => GlobalTaxCalculation::TaxInclusive,
            TaxMode::None => GlobalTaxCalculation::NotApplicable,
        }
    }
}

/// One tax code of the QuickBooks company with its summed sales rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxCodeInfo {
    pub id: String,
    pub name: String,
    /// Each sales rate the code applies, in percent (8 = 8 %).
    pub rates: Vec<Decimal>,
    /// A US rate group (usable as the transaction tax code).
    pub group: bool,
    pub active: bool,
}

impl TaxCodeInfo {
    pub fn total_rate(&self) -> Decimal {
        self.rates.iter().copied().sum()
    }
}

/// A sales-form custom field defined in QuickBooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomFieldDef {
    pub definition_id: String,
    pub name: String,
}

/// What the company's QuickBooks needs (read from Preferences, CompanyInfo, TaxCode, TaxRate and
/// CompanyCurrency).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanySetup {
    /// US sales tax (TAX/NON line codes) rather than VAT/GST codes per line.
    pub us: bool,
    pub home_currency: String,
    pub multi_currency: bool,
    /// Active currencies besides the home one (multi-currency companies).
    pub currencies: Vec<String>,
    pub tax_codes: Vec<TaxCodeInfo>,
    /// US: the company's default rate group (`TaxPrefs.TaxGroupCodeRef`).
    pub default_txn_tax_code: Option<String>,
    /// Custom transaction numbers: the invoice number may (and should) be typed.
    pub custom_txn_numbers: bool,
    pub custom_fields: Vec<CustomFieldDef>,
    /// US Automated Sales Tax: QuickBooks computes the tax itself, so the preview's tax is only
    /// the rate the form names.
    #[serde(default)]
    pub automated_sales_tax: bool,
}

impl CompanySetup {
    pub fn tax_code(&self, id: &str) -> Option<&TaxCodeInfo> {
        self.tax_codes.iter().find(|c| c.id == id)
    }

    /// The first active non-US code whose total rate is `percent` (for mapping Pipedrive's tax).
    pub fn code_for_rate(&self, percent: Decimal) -> Option<&TaxCodeInfo> {
        self.tax_codes
            .iter()
            .filter(|c| c.active && !c.group && c.id != "TAX" && c.id != "NON")
            .filter(|c| !c.rates.is_empty())
            .find(|c| c.total_rate() == percent)
    }

    /// Whether invoices in `currency` are possible at all (home, or enabled with multi-currency).
    pub fn currency_enabled(&self, currency: &str) -> bool {
        currency == self.home_currency
            || (self.multi_currency && self.currencies.iter().any(|c| c == currency))
    }
}

/// A line discount or a deal discount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Discount {
    /// Percent of the line (or of the subtotal), `10` = 10 %.
    Percentage(Decimal),
    /// An amount in the invoice currency.
    Amount(Decimal),
}

/// A deal-level discount as the form shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealDiscountLine {
    pub description: String,
    pub discount: Discount,
}

/// One invoice line of the form (pre-filled, then edited by the rep).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormLine {
    /// The Pipedrive product, when the line comes from one (item links are per product).
    #[serde(default)]
    pub product_id: Option<u64>,
    /// The deal-product attachment the line came from.
    #[serde(default)]
    pub deal_product_id: Option<u64>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub quantity: Decimal,
    /// Before the line discount; gross when the tax mode is inclusive.
    pub unit_price: Decimal,
    #[serde(default)]
    pub discount: Option<Discount>,
    /// Pipedrive's tax percentage for the line (informational; QuickBooks' code decides).
    #[serde(default)]
    pub tax_percent: Option<Decimal>,
    /// The QuickBooks item (product/service).
    #[serde(default)]
    pub item_id: Option<String>,
    #[serde(default)]
    pub item_name: Option<String>,
    /// US: `TAX` or `NON`; other countries: a QuickBooks tax code id.
    #[serde(default)]
    pub tax_code: Option<String>,
}

impl FormLine {
    /// The line amount after the line discount, rounded as QuickBooks rounds.
    pub fn amount(&self) -> Decimal {
        let gross = self.quantity * self.unit_price;
        match self.discount {
            None => round2(gross),
            Some(Discount::Percentage(p)) => round2(gross - gross * p / HUNDRED),
            Some(Discount::Amount(a)) => round2(gross - a),
        }
    }
}

/// A custom field value for the invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomFieldValue {
    pub definition_id: String,
    pub value: String,
}

/// The invoice as the rep submits it (the edited draft): the body of the create request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceForm {
    /// The deal's organisation (or person) the customer is linked to.
    #[serde(default)]
    pub party: Option<Party>,
    /// The QuickBooks customer (must be the one linked to the deal's organisation or person).
    #[serde(default)]
    pub customer_id: Option<String>,
    /// ISO 4217; must be the customer's currency.
    pub currency: String,
    pub txn_date: NaiveDate,
    /// `None`: QuickBooks derives it from the customer's payment terms.
    #[serde(default)]
    pub due_date: Option<NaiveDate>,
    pub tax_mode: TaxMode,
    /// US only: the rate group applied to `TAX` lines.
    #[serde(default)]
    pub txn_tax_code: Option<String>,
    pub lines: Vec<FormLine>,
    #[serde(default)]
    pub discounts: Vec<DealDiscountLine>,
    #[serde(default)]
    pub bill_email: Option<String>,
    /// Shown to the customer on the invoice.
    #[serde(default)]
    pub customer_memo: Option<String>,
    /// Internal; not shown to the customer.
    #[serde(default)]
    pub private_note: Option<String>,
    /// Only when custom transaction numbers are on.
    #[serde(default)]
    pub doc_number: Option<String>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
    /// The total the form showed; when given it must equal what the app computes now.
    #[serde(default)]
    pub expected_total: Option<Decimal>,
    /// The currency the prices came in (the deal's; set by the draft). An invoice in another
    /// currency needs `conversion` ([`super::conversion::check`]).
    #[serde(default)]
    pub deal_currency: Option<String>,
    /// How the prices were converted from `deal_currency` to `currency`.
    #[serde(default)]
    pub conversion: Option<super::conversion::Conversion>,
    /// The rep saw that the deal already has an open invoice like this one and wants another.
    #[serde(default)]
    pub confirm_duplicate: bool,
    /// Bill only part of the deal (a deposit, a progress invoice, the rest): the lines above are
    /// the whole deal's, the part says how much of it ([`crate::progress`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<crate::progress::BillingPart>,
    /// The rep saw that the part bills more than what is left of the deal and wants it anyway.
    #[serde(default)]
    pub confirm_over_invoice: bool,
}

/// One tax amount of the preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxAmount {
    pub tax_code: String,
    pub rate: Decimal,
    /// The amount the rate applies to.
    pub base: Decimal,
    pub tax: Decimal,
}

/// The totals QuickBooks will compute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Sum of the line amounts as entered (gross when inclusive).
    pub lines_total: Decimal,
    /// QuickBooks' subtotal (net of tax).
    pub subtotal: Decimal,
    pub discount: Decimal,
    pub tax: Decimal,
    pub taxes: Vec<TaxAmount>,
    pub total: Decimal,
}

#[cfg(test)]
mod tests;
