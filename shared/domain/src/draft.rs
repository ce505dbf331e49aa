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

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::{DueDateRule, Party};
use crate::FieldError;
use pipedrive_wire::model::{Deal, DealDiscount, DealProduct, DiscountType, TaxMethod};
use quickbooks_wire::model::{
    CustomField, DiscountLineDetail, EmailAddress, GlobalTaxCalculation, Invoice, Line,
    LineDetailType, MemoRef, Ref, SalesItemLineDetail, TxnTaxDetail,
};

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

impl Discount {
    fn from_pipedrive(kind: Option<DiscountType>, value: Option<Decimal>) -> Option<Self> {
        let value = value.filter(|v| !v.is_zero())?;
        Some(match kind.unwrap_or(DiscountType::Percentage) {
            DiscountType::Percentage => Discount::Percentage(value),
            DiscountType::Amount => Discount::Amount(value),
        })
    }
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

/// Lines from the deal's enabled products; a deal without products gives one line from its
/// value. Items and tax codes are filled in by the caller.
pub fn lines_from_deal(deal: &Deal, products: &[DealProduct]) -> Vec<FormLine> {
    let mut enabled: Vec<&DealProduct> = products.iter().filter(|p| p.is_enabled).collect();
    enabled.sort_by_key(|p| (p.order_nr.unwrap_or(i64::MAX), p.id));
    if enabled.is_empty() {
        let title = deal.title.trim();
        return vec![FormLine {
            product_id: None,
            deal_product_id: None,
            name: if title.is_empty() {
                format!("Deal {}", deal.id)
            } else {
                title.to_string()
            },
            description: None,
            quantity: Decimal::ONE,
            unit_price: deal.value.unwrap_or(Decimal::ZERO),
            discount: None,
            tax_percent: None,
            item_id: None,
            item_name: None,
            tax_code: None,
        }];
    }
    enabled
        .into_iter()
        .map(|p| FormLine {
            product_id: p.product_id,
            deal_product_id: Some(p.id),
            name: p.name.trim().to_string(),
            description: p
                .comments
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string),
            quantity: p.quantity.unwrap_or(Decimal::ONE),
            unit_price: p.item_price.unwrap_or(Decimal::ZERO),
            discount: Discount::from_pipedrive(p.discount_type, p.discount),
            tax_percent: p.tax,
            item_id: None,
            item_name: None,
            tax_code: None,
        })
        .collect()
}

/// The deal's tax method (Pipedrive applies one method to all products of a deal); `None` when
/// the deal has no enabled products.
pub fn tax_mode_of(products: &[DealProduct]) -> TaxMode {
    products
        .iter()
        .filter(|p| p.is_enabled)
        .find_map(|p| p.tax_method)
        .map(TaxMode::from)
        .unwrap_or(TaxMode::None)
}

/// Deal-level discounts for the form.
pub fn discounts_from_deal(discounts: &[DealDiscount]) -> Vec<DealDiscountLine> {
    discounts
        .iter()
        .filter(|d| !d.amount.is_zero())
        .map(|d| DealDiscountLine {
            description: d
                .description
                .clone()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| "Discount".into()),
            discount: match d.discount_type {
                DiscountType::Percentage => Discount::Percentage(d.amount),
                DiscountType::Amount => Discount::Amount(d.amount),
            },
        })
        .collect()
}

/// The default tax code of a line: US → `TAX` when Pipedrive taxes it, else `NON`; elsewhere the
/// code whose rate equals Pipedrive's percentage (`None` when no code matches: the rep chooses).
pub fn default_tax_code(setup: &CompanySetup, mode: TaxMode, line: &FormLine) -> Option<String> {
    let percent = line.tax_percent.unwrap_or(Decimal::ZERO);
    if setup.us {
        return Some(
            if mode != TaxMode::None && percent > Decimal::ZERO {
                "TAX"
            } else {
                "NON"
            }
            .to_string(),
        );
    }
    let percent = if mode == TaxMode::None {
        Decimal::ZERO
    } else {
        percent
    };
    setup.code_for_rate(percent).map(|c| c.id.clone())
}

/// The due date the settings' rule gives (`None`: QuickBooks uses the customer's terms).
pub fn due_date(rule: DueDateRule, issue: NaiveDate) -> Option<NaiveDate> {
    match rule {
        DueDateRule::DaysAfterIssue { days } => issue.checked_add_days(Days::new(u64::from(days))),
        DueDateRule::CustomerTerms => None,
    }
}

/// How US companies treat an inclusive deal: lines are converted to net with Pipedrive's
/// percentage (US sales tax is always added on top).
fn effective_mode(setup: &CompanySetup, mode: TaxMode) -> TaxMode {
    if setup.us && mode == TaxMode::Inclusive {
        TaxMode::Exclusive
    } else {
        mode
    }
}

/// A line's amount in the invoice (net for US companies whose deal is tax-inclusive).
fn invoice_line_amount(setup: &CompanySetup, mode: TaxMode, line: &FormLine) -> Decimal {
    let amount = line.amount();
    if setup.us && mode == TaxMode::Inclusive {
        let pct = line.tax_percent.unwrap_or(Decimal::ZERO);
        round2(amount / (Decimal::ONE + pct / HUNDRED))
    } else {
        amount
    }
}

/// The amounts of the deal discounts, on `base`: one line in QuickBooks (a percentage when there
/// is exactly one percentage discount, else the summed amount).
fn discount_line(discounts: &[DealDiscountLine], base: Decimal) -> Option<(Decimal, Line)> {
    if discounts.is_empty() {
        return None;
    }
    let description = discounts
        .iter()
        .map(|d| d.description.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let (amount, detail, line_amount) = match discounts {
        [
            DealDiscountLine {
                discount: Discount::Percentage(p),
                ..
            },
        ] => (
            round2(base * *p / HUNDRED),
            DiscountLineDetail {
                percent_based: Some(true),
                discount_percent: Some(*p),
                ..DiscountLineDetail::default()
            },
            None,
        ),
        many => {
            let total: Decimal = many
                .iter()
                .map(|d| match d.discount {
                    Discount::Percentage(p) => round2(base * p / HUNDRED),
                    Discount::Amount(a) => round2(a),
                })
                .sum();
            (
                total,
                DiscountLineDetail {
                    percent_based: Some(false),
                    ..DiscountLineDetail::default()
                },
                Some(total),
            )
        }
    };
    let line = Line {
        id: None,
        line_num: None,
        description: Some(description),
        amount: line_amount,
        detail_type: LineDetailType::DiscountLineDetail,
        sales_item_line_detail: None,
        discount_line_detail: Some(detail),
        sub_total_line_detail: None,
        group_line_detail: None,
        description_line_detail: None,
        linked_txn: None,
    };
    Some((amount, line))
}

/// Checks the form against the company's setup and the customer's currency: everything that can
/// be known before calling QuickBooks. Every problem at once, each naming what to change.
pub fn validate(
    form: &InvoiceForm,
    setup: &CompanySetup,
    customer_currency: Option<&str>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let currency = form.currency.trim();
    if form
        .customer_id
        .as_deref()
        .is_none_or(|c| c.trim().is_empty())
    {
        errors.push(FieldError::new(
            "customer_id",
            "Choose the QuickBooks customer for this invoice: link the deal's organization (or person) to an existing customer, or create one.",
        ));
    }
    if let Some(problem) = super::conversion::check(form) {
        errors.push(problem);
    } else if let Err(message) = check_currency(currency, customer_currency, setup) {
        errors.push(FieldError::new("currency", message));
    }
    if form.lines.is_empty() {
        errors.push(FieldError::new(
            "lines",
            "Add at least one line to the invoice.",
        ));
    }
    if form.lines.len() > 750 {
        errors.push(FieldError::new(
            "lines",
            "QuickBooks accepts at most 750 lines on an invoice.",
        ));
    }
    let mode = effective_mode(setup, form.tax_mode);
    for (i, line) in form.lines.iter().enumerate() {
        let label = line_label(i, line);
        if line.item_id.as_deref().is_none_or(|s| s.trim().is_empty()) {
            errors.push(FieldError::new(
                format!("lines[{i}].item_id"),
                format!("{label} is not linked to a QuickBooks product or service. Choose an item for it."),
            ));
        }
        if line.quantity <= Decimal::ZERO {
            errors.push(FieldError::new(
                format!("lines[{i}].quantity"),
                format!("{label}: the quantity must be more than 0."),
            ));
        }
        if line.unit_price < Decimal::ZERO {
            errors.push(FieldError::new(
                format!("lines[{i}].unit_price"),
                format!("{label}: the price cannot be negative."),
            ));
        }
        if line.amount() < Decimal::ZERO {
            errors.push(FieldError::new(
                format!("lines[{i}].discount"),
                format!("{label}: the discount is larger than the line."),
            ));
        }
        match (&line.tax_code, setup.us) {
            (Some(code), true) if code != "TAX" && code != "NON" => {
                errors.push(FieldError::new(
                    format!("lines[{i}].tax_code"),
                    format!("{label}: US companies mark lines TAX or NON, not {code}."),
                ));
            }
            (None, true) => errors.push(FieldError::new(
                format!("lines[{i}].tax_code"),
                format!("{label}: mark the line taxable (TAX) or not (NON)."),
            )),
            (Some(code), false) if setup.tax_code(code).is_none_or(|c| !c.active) => {
                errors.push(FieldError::new(
                    format!("lines[{i}].tax_code"),
                    format!("{label}: {code} is not an active tax code in your QuickBooks company. Choose another."),
                ));
            }
            (None, false) if mode != TaxMode::None => errors.push(FieldError::new(
                format!("lines[{i}].tax_code"),
                format!("{label} has no QuickBooks tax code (VAT rate). Choose one; QuickBooks needs a tax code on every line."),
            )),
            _ => {}
        }
    }
    for (i, d) in form.discounts.iter().enumerate() {
        let negative = match d.discount {
            Discount::Percentage(p) => p < Decimal::ZERO || p > HUNDRED,
            Discount::Amount(a) => a < Decimal::ZERO,
        };
        if negative {
            errors.push(FieldError::new(
                format!("discounts[{i}]"),
                "A discount must be between 0 and 100 % or a positive amount.",
            ));
        }
    }
    if setup.us {
        let taxed = form
            .lines
            .iter()
            .any(|l| l.tax_code.as_deref() == Some("TAX"));
        match &form.txn_tax_code {
            Some(code) if setup.tax_code(code).is_none_or(|c| !c.group || !c.active) => {
                errors.push(FieldError::new(
                    "txn_tax_code",
                    format!("{code} is not a sales tax rate of your QuickBooks company. Choose one of its tax rates."),
                ));
            }
            None if taxed => errors.push(FieldError::new(
                "txn_tax_code",
                "Choose the sales tax rate for the taxable lines.",
            )),
            _ => {}
        }
    }
    if let Some(doc) = &form.doc_number {
        if !setup.custom_txn_numbers {
            errors.push(FieldError::new(
                "doc_number",
                "QuickBooks numbers invoices itself in your company. Leave the invoice number empty, or turn on custom transaction numbers in QuickBooks (Settings › Account and settings › Sales).",
            ));
        } else if doc.trim().is_empty() || doc.chars().count() > 21 {
            errors.push(FieldError::new(
                "doc_number",
                "The invoice number must have 1 to 21 characters.",
            ));
        }
    }
    for (i, c) in form.custom_fields.iter().enumerate() {
        if !setup
            .custom_fields
            .iter()
            .any(|d| d.definition_id == c.definition_id)
        {
            errors.push(FieldError::new(
                format!("custom_fields[{i}].definition_id"),
                "This custom field is not defined on your QuickBooks sales forms.",
            ));
        } else if c.value.chars().count() > 31 {
            errors.push(FieldError::new(
                format!("custom_fields[{i}].value"),
                "QuickBooks keeps at most 31 characters in a custom field.",
            ));
        }
    }
    if let Some(memo) = &form.customer_memo
        && memo.chars().count() > 1000
    {
        errors.push(FieldError::new(
            "customer_memo",
            "The message to the customer can have at most 1000 characters.",
        ));
    }
    if let Some(note) = &form.private_note
        && note.chars().count() > 4000
    {
        errors.push(FieldError::new(
            "private_note",
            "The private note can have at most 4000 characters.",
        ));
    }
    if let Some(email) = &form.bill_email
        && !super::mapping::is_plausible_email(email)
    {
        errors.push(FieldError::new(
            "bill_email",
            format!("{email} is not an email address QuickBooks accepts."),
        ));
    }
    if let Some(due) = form.due_date
        && due < form.txn_date
    {
        errors.push(FieldError::new(
            "due_date",
            "The due date cannot be before the invoice date.",
        ));
    }
    errors
}

fn line_label(i: usize, line: &FormLine) -> String {
    if line.name.trim().is_empty() {
        format!("Line {}", i + 1)
    } else {
        format!("Line {} \"{}\"", i + 1, line.name.trim())
    }
}

/// The currency rules, with what to change in QuickBooks.
pub fn check_currency(
    currency: &str,
    customer_currency: Option<&str>,
    setup: &CompanySetup,
) -> Result<(), String> {
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "{currency:?} is not a currency code (use ISO codes such as EUR or USD)."
        ));
    }
    let home = setup.home_currency.as_str();
    if currency != home && !setup.multi_currency {
        return Err(format!(
            "The deal is in {currency}, but your QuickBooks company works only in {home} (multi-currency is off). Turn on multi-currency in QuickBooks (Settings › Account and settings › Advanced › Currency) and add {currency}, or change the deal's currency to {home}."
        ));
    }
    if !setup.currency_enabled(currency) {
        return Err(format!(
            "{currency} is not in your QuickBooks currency list. Add it in QuickBooks (Settings › Currencies), then try again."
        ));
    }
    if let Some(customer) = customer_currency
        && customer != currency
    {
        return Err(format!(
            "The QuickBooks customer uses {customer}, but the invoice is in {currency}. QuickBooks invoices must be in the customer's currency: link the deal to a customer in {currency} (create one, e.g. with \"({currency})\" in its name), or change the deal's currency to {customer}."
        ));
    }
    Ok(())
}

/// The totals QuickBooks will compute for [`build_invoice`]'s invoice.
pub fn preview(form: &InvoiceForm, setup: &CompanySetup) -> Totals {
    let mode = effective_mode(setup, form.tax_mode);
    let amounts: Vec<Decimal> = form
        .lines
        .iter()
        .map(|l| invoice_line_amount(setup, form.tax_mode, l))
        .collect();
    let lines_total: Decimal = amounts.iter().copied().sum();
    let inclusive = !setup.us && mode == TaxMode::Inclusive;
    let rate_of = |code: &Option<String>| -> Decimal {
        code.as_deref()
            .and_then(|c| setup.tax_code(c))
            .map(TaxCodeInfo::total_rate)
            .unwrap_or_default()
    };
    // Net per line (QuickBooks derives net from gross per line when inclusive).
    let nets: Vec<Decimal> = if inclusive {
        form.lines
            .iter()
            .zip(&amounts)
            .map(|(l, gross)| round2(*gross / (Decimal::ONE + rate_of(&l.tax_code) / HUNDRED)))
            .collect()
    } else {
        amounts.clone()
    };
    let subtotal: Decimal = nets.iter().copied().sum();
    let discount_base = if inclusive { lines_total } else { subtotal };
    let discount = discount_line(&form.discounts, discount_base)
        .map(|(a, _)| a)
        .unwrap_or_default();
    let after_discount = !form.discounts.is_empty() && !inclusive;
    let factor = if after_discount && subtotal > Decimal::ZERO {
        (subtotal - discount.min(subtotal)) / subtotal
    } else {
        Decimal::ONE
    };
    let mut taxes = Vec::new();
    if setup.us {
        let taxable: Decimal = form
            .lines
            .iter()
            .zip(&nets)
            .filter(|(l, _)| l.tax_code.as_deref() == Some("TAX"))
            .map(|(_, n)| *n)
            .sum();
        let base = round2(taxable * factor);
        if let Some(code) = form.txn_tax_code.as_deref().and_then(|c| setup.tax_code(c))
            && base > Decimal::ZERO
        {
            for rate in &code.rates {
                taxes.push(TaxAmount {
                    tax_code: code.id.clone(),
                    rate: *rate,
                    base,
                    tax: round2(base * *rate / HUNDRED),
                });
            }
        }
    } else if mode != TaxMode::None {
        let mut by_code: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
        for ((line, net), gross) in form.lines.iter().zip(&nets).zip(&amounts) {
            if let Some(code) = &line.tax_code {
                let e = by_code.entry(code.clone()).or_default();
                e.0 += *net;
                e.1 += *gross;
            }
        }
        for (code_id, (net, gross)) in by_code {
            let Some(code) = setup.tax_code(&code_id) else {
                continue;
            };
            let base = round2(net * factor);
            if inclusive {
                let code_tax = gross - net;
                let pct_sum = code.total_rate();
                let mut allocated = Decimal::ZERO;
                for (i, rate) in code.rates.iter().enumerate() {
                    let tax = if i + 1 == code.rates.len() || pct_sum.is_zero() {
                        code_tax - allocated
                    } else {
                        round2(code_tax * *rate / pct_sum)
                    };
                    allocated += tax;
                    taxes.push(TaxAmount {
                        tax_code: code_id.clone(),
                        rate: *rate,
                        base,
                        tax,
                    });
                }
            } else {
                for rate in &code.rates {
                    taxes.push(TaxAmount {
                        tax_code: code_id.clone(),
                        rate: *rate,
                        base,
                        tax: round2(base * *rate / HUNDRED),
                    });
                }
            }
        }
    }
    let tax: Decimal = taxes.iter().map(|t| t.tax).sum();
    let total = if inclusive {
        lines_total - discount
    } else {
        subtotal - discount + tax
    };
    Totals {
        lines_total,
        subtotal,
        discount,
        tax,
        taxes,
        total,
    }
}

/// Quantity and unit price that QuickBooks multiplies back to exactly `amount`: the discounted
/// unit price when it has at most 5 decimals that round back, else one unit at the amount.
fn qty_and_price(quantity: Decimal, amount: Decimal) -> (Decimal, Decimal) {
    if !quantity.is_zero() {
        let unit = (amount / quantity)
            .round_dp_with_strategy(5, RoundingStrategy::MidpointAwayFromZero)
            .normalize();
        if round2(quantity * unit) == amount {
            return (quantity.normalize(), unit);
        }
    }
    (Decimal::ONE, amount)
}

/// The private note with what a conversion did (kept with the invoice in QuickBooks).
fn private_note(form: &InvoiceForm) -> Option<String> {
    let note = form.private_note.clone().filter(|n| !n.trim().is_empty());
    match (&form.conversion, note) {
        (Some(c), Some(note)) => Some(format!("{note}\n{}", super::conversion::note(c))),
        (Some(c), None) => Some(super::conversion::note(c)),
        (None, note) => note,
    }
}

/// The QuickBooks invoice for a validated form ([`validate`] first). `request` text goes in the
/// `Description` of each line; the line discount is folded into the unit price (QuickBooks has no
/// per-line discount on sales lines) and named in the description.
pub fn build_invoice(form: &InvoiceForm, setup: &CompanySetup) -> Invoice {
    let mode = effective_mode(setup, form.tax_mode);
    let inclusive = !setup.us && mode == TaxMode::Inclusive;
    let mut lines: Vec<Line> = Vec::with_capacity(form.lines.len() + 1);
    for l in &form.lines {
        let amount = invoice_line_amount(setup, form.tax_mode, l);
        let (qty, unit_price) = qty_and_price(l.quantity, amount);
        let mut description = l.name.trim().to_string();
        if let Some(extra) = l.description.as_deref().filter(|d| !d.trim().is_empty()) {
            description.push_str(" — ");
            description.push_str(extra.trim());
        }
        match l.discount {
            Some(Discount::Percentage(p)) => {
                description.push_str(&format!(" (incl. {}% discount)", p.normalize()));
            }
            Some(Discount::Amount(a)) => {
                description.push_str(&format!(" (incl. {} discount)", format_money(a)));
            }
            None => {}
        }
        if qty != l.quantity.normalize() {
            description.push_str(&format!(
                " ({} × {})",
                l.quantity.normalize(),
                l.unit_price.normalize()
            ));
        }
        let tax_code = l.tax_code.as_ref().map(|c| Ref::new(c.clone()));
        lines.push(Line {
            id: None,
            line_num: None,
            description: Some(description.chars().take(4000).collect()),
            amount: Some(amount),
            detail_type: LineDetailType::SalesItemLineDetail,
            sales_item_line_detail: Some(SalesItemLineDetail {
                item_ref: l.item_id.as_ref().map(|id| Ref {
                    value: id.clone(),
                    name: l.item_name.clone(),
                }),
                qty: Some(qty),
                unit_price: Some(unit_price),
                tax_code_ref: tax_code,
                tax_inclusive_amt: inclusive.then_some(amount),
                ..SalesItemLineDetail::default()
            }),
            discount_line_detail: None,
            sub_total_line_detail: None,
            group_line_detail: None,
            description_line_detail: None,
            linked_txn: None,
        });
    }
    let totals = preview(form, setup);
    let discount_base = if inclusive {
        totals.lines_total
    } else {
        totals.subtotal
    };
    if let Some((_, line)) = discount_line(&form.discounts, discount_base) {
        lines.push(line);
    }
    let txn_tax_detail = if setup.us {
        form.txn_tax_code
            .as_ref()
            .filter(|_| {
                form.lines
                    .iter()
                    .any(|l| l.tax_code.as_deref() == Some("TAX"))
            })
            .map(|code| TxnTaxDetail {
                txn_tax_code_ref: Some(Ref::new(code.clone())),
                ..TxnTaxDetail::default()
            })
    } else {
        None
    };
    Invoice {
        customer_ref: form.customer_id.as_ref().map(|c| Ref::new(c.clone())),
        currency_ref: Some(Ref::new(form.currency.clone())),
        txn_date: Some(form.txn_date),
        due_date: form.due_date,
        doc_number: form.doc_number.clone().filter(|_| setup.custom_txn_numbers),
        line: Some(lines),
        txn_tax_detail,
        global_tax_calculation: (!setup.us).then(|| mode.global_tax_calculation()),
        apply_tax_after_discount: (!form.discounts.is_empty() && !inclusive).then_some(true),
        bill_email: form.bill_email.as_ref().map(|e| EmailAddress {
            address: Some(e.trim().to_string()),
        }),
        customer_memo: form
            .customer_memo
            .as_ref()
            .filter(|m| !m.trim().is_empty())
            .map(|m| MemoRef { value: m.clone() }),
        private_note: private_note(form),
        custom_field: (!form.custom_fields.is_empty()).then(|| {
            form.custom_fields
                .iter()
                .map(|c| CustomField {
                    definition_id: Some(c.definition_id.clone()),
                    name: setup
                        .custom_fields
                        .iter()
                        .find(|d| d.definition_id == c.definition_id)
                        .map(|d| d.name.clone()),
                    r#type: Some("StringType".into()),
                    string_value: Some(c.value.clone()),
                })
                .collect()
        }),
        ..Invoice::default()
    }
}

#[cfg(test)]
mod tests {
    //! Golden cases built from the Pipedrive simulator's seed deals (same numbers as
    //! `infra/sandbox/src/pipedrive/seed.rs`); the function's tests check the same drafts against
    //! the QuickBooks simulator's own arithmetic.
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn code(id: &str, rates: &[Decimal], group: bool) -> TaxCodeInfo {
        TaxCodeInfo {
            id: id.into(),
            name: id.into(),
            rates: rates.to_vec(),
            group,
            active: true,
        }
    }

    fn us() -> CompanySetup {
        CompanySetup {
            us: true,
            home_currency: "USD".into(),
            multi_currency: true,
            currencies: vec!["EUR".into(), "GBP".into()],
            tax_codes: vec![
                code("TAX", &[], false),
                code("NON", &[], false),
                code("2", &[dec!(8)], true),
                code("3", &[dec!(7.1), dec!(2)], true),
            ],
            default_txn_tax_code: Some("2".into()),
            custom_txn_numbers: false,
            custom_fields: vec![CustomFieldDef {
                definition_id: "1".into(),
                name: "Crew #".into(),
            }],
            automated_sales_tax: false,
        }
    }

    fn vat(home: &str, codes: Vec<TaxCodeInfo>) -> CompanySetup {
        CompanySetup {
            us: false,
            home_currency: home.into(),
            multi_currency: false,
            currencies: Vec::new(),
            tax_codes: codes,
            default_txn_tax_code: None,
            custom_txn_numbers: true,
            custom_fields: Vec::new(),
            automated_sales_tax: false,
        }
    }

    fn gb() -> CompanySetup {
        vat(
            "GBP",
            vec![
                code("2", &[dec!(20)], false),
                code("3", &[dec!(5)], false),
                code("4", &[dec!(0)], false),
                code("5", &[], false),
            ],
        )
    }

    fn de() -> CompanySetup {
        vat(
            "EUR",
            vec![code("7", &[dec!(19)], false), code("8", &[dec!(7)], false)],
        )
    }

    fn deal(v: serde_json::Value) -> Deal {
        serde_json::from_value(v).unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    fn product(
        id: u64,
        product_id: u64,
        name: &str,
        qty: &str,
        price: &str,
        discount: &str,
        kind: &str,
        tax: &str,
        method: &str,
        enabled: bool,
    ) -> DealProduct {
        serde_json::from_value(json!({
            "id": id, "product_id": product_id, "name": name, "quantity": qty.parse::<f64>().unwrap(),
            "item_price": price.parse::<f64>().unwrap(), "discount": discount.parse::<f64>().unwrap(),
            "discount_type": kind, "tax": tax.parse::<f64>().unwrap(), "tax_method": method,
            "is_enabled": enabled, "order_nr": id
        }))
        .unwrap()
    }

    fn deal_discount(description: &str, amount: f64, kind: &str) -> DealDiscount {
        serde_json::from_value(
            json!({"id": "x", "description": description, "amount": amount, "type": kind}),
        )
        .unwrap()
    }

    /// A form from the deal as the draft builds it, with items and default tax codes.
    fn form_of(
        setup: &CompanySetup,
        d: &Deal,
        products: &[DealProduct],
        discounts: &[DealDiscount],
    ) -> InvoiceForm {
        let mode = if products.iter().any(|p| p.is_enabled) {
            tax_mode_of(products)
        } else {
            TaxMode::None
        };
        let mut lines = lines_from_deal(d, products);
        for l in &mut lines {
            l.item_id = Some("1".into());
            l.tax_code = default_tax_code(setup, mode, l);
        }
        InvoiceForm {
            party: Some(Party::Organization(1)),
            customer_id: Some("1".into()),
            currency: d.currency.clone().unwrap_or_default(),
            txn_date: NaiveDate::from_ymd_opt(2026, 3, 13).unwrap(),
            due_date: due_date(
                DueDateRule::DaysAfterIssue { days: 7 },
                NaiveDate::from_ymd_opt(2026, 3, 13).unwrap(),
            ),
            tax_mode: mode,
            txn_tax_code: setup.us.then(|| "2".to_string()),
            lines,
            discounts: discounts_from_deal(discounts),
            bill_email: None,
            customer_memo: None,
            private_note: None,
            doc_number: None,
            custom_fields: Vec::new(),
            expected_total: None,
            deal_currency: d.currency.clone(),
            conversion: None,
            confirm_duplicate: false,
        }
    }

    fn deal1() -> (Deal, Vec<DealProduct>, Vec<DealDiscount>) {
        (
            deal(
                json!({"id": 1, "title": "Website relaunch", "currency": "EUR", "org_id": 1, "person_id": 1, "value": 3978.8}),
            ),
            vec![
                product(
                    101,
                    1,
                    "Consulting hour",
                    "10",
                    "120",
                    "10",
                    "percentage",
                    "19",
                    "exclusive",
                    true,
                ),
                product(
                    102,
                    2,
                    "Design package",
                    "1",
                    "2500",
                    "200",
                    "amount",
                    "19",
                    "exclusive",
                    true,
                ),
                product(
                    103,
                    3,
                    "Cloud hosting (monthly)",
                    "12",
                    "49.90",
                    "0",
                    "percentage",
                    "19",
                    "exclusive",
                    true,
                ),
                product(
                    104,
                    5,
                    "Legacy add-on",
                    "1",
                    "300",
                    "0",
                    "percentage",
                    "19",
                    "exclusive",
                    false,
                ),
            ],
            vec![
                deal_discount("Loyalty 5%", 5.0, "percentage"),
                deal_discount("Voucher", 100.0, "amount"),
            ],
        )
    }

    #[test]
    fn golden_deal_1_both_discount_kinds_deal_discounts_exclusive_tax_disabled_line() {
        let (d, products, discounts) = deal1();
        let setup = de();
        let form = form_of(&setup, &d, &products, &discounts);
        assert_eq!(form.lines.len(), 3, "the disabled product is skipped");
        assert_eq!(form.tax_mode, TaxMode::Exclusive);
        let amounts: Vec<Decimal> = form.lines.iter().map(FormLine::amount).collect();
        assert_eq!(amounts, vec![dec!(1080), dec!(2300), dec!(598.80)]);
        assert!(
            form.lines
                .iter()
                .all(|l| l.tax_code.as_deref() == Some("7")),
            "19 % → code 7"
        );
        let t = preview(&form, &setup);
        assert_eq!(t.subtotal, dec!(3978.80));
        assert_eq!(
            t.discount,
            dec!(298.94),
            "5 % of 3978.80 = 198.94, + 100.00"
        );
        assert_eq!(t.taxes[0].base, dec!(3679.86), "tax after the discount");
        assert_eq!(t.tax, dec!(699.17));
        assert_eq!(t.total, dec!(4379.03));
        let inv = build_invoice(&form, &setup);
        assert_eq!(
            inv.global_tax_calculation,
            Some(GlobalTaxCalculation::TaxExcluded)
        );
        assert_eq!(inv.apply_tax_after_discount, Some(true));
        let lines = inv.line.unwrap();
        assert_eq!(lines.len(), 4);
        let first = lines[0].sales_item_line_detail.as_ref().unwrap();
        assert_eq!(
            (first.qty, first.unit_price),
            (Some(dec!(10)), Some(dec!(108)))
        );
        assert!(
            lines[0]
                .description
                .as_deref()
                .unwrap()
                .contains("10% discount")
        );
        let d = lines[3].discount_line_detail.as_ref().unwrap();
        assert_eq!(d.percent_based, Some(false));
        assert_eq!(lines[3].amount, Some(dec!(298.94)));
    }

    #[test]
    fn golden_deal_2_inclusive_tax_fractional_quantity_amount_deal_discount() {
        let d = deal(
            json!({"id": 2, "title": "UK expansion workshop", "currency": "GBP", "org_id": 2, "person_id": 2}),
        );
        let products = vec![
            product(
                201,
                4,
                "Training day",
                "2",
                "900",
                "5",
                "percentage",
                "20",
                "inclusive",
                true,
            ),
            product(
                202,
                1,
                "Consulting hour",
                "3.5",
                "150",
                "0",
                "percentage",
                "20",
                "inclusive",
                true,
            ),
        ];
        let discounts = vec![deal_discount("Early booking", 50.0, "amount")];
        let setup = gb();
        let form = form_of(&setup, &d, &products, &discounts);
        assert_eq!(form.tax_mode, TaxMode::Inclusive);
        assert!(
            form.lines
                .iter()
                .all(|l| l.tax_code.as_deref() == Some("2"))
        );
        let t = preview(&form, &setup);
        assert_eq!(t.lines_total, dec!(2235));
        assert_eq!(t.subtotal, dec!(1862.50), "1710 / 1.2 + 525 / 1.2");
        assert_eq!(t.tax, dec!(372.50));
        assert_eq!(t.discount, dec!(50));
        assert_eq!(t.total, dec!(2185));
        let inv = build_invoice(&form, &setup);
        assert_eq!(
            inv.global_tax_calculation,
            Some(GlobalTaxCalculation::TaxInclusive)
        );
        assert_eq!(inv.apply_tax_after_discount, None);
        let l = inv.line.unwrap();
        let second = l[1].sales_item_line_detail.as_ref().unwrap();
        assert_eq!(second.qty, Some(dec!(3.5)));
        assert_eq!(second.tax_inclusive_amt, Some(dec!(525)));
    }

    #[test]
    fn golden_deal_3_no_tax_many_lines() {
        let d = deal(
            json!({"id": 3, "title": "Conference merchandise", "currency": "USD", "org_id": 4, "person_id": 4}),
        );
        let products: Vec<DealProduct> = (1..=120u64)
            .map(|i| {
                product(
                    300 + i,
                    6,
                    &format!("Sticker pack #{i}"),
                    &(i % 7 + 1).to_string(),
                    "2.50",
                    "0",
                    "percentage",
                    "0",
                    "none",
                    true,
                )
            })
            .collect();
        let setup = vat("USD", gb().tax_codes);
        let form = form_of(&setup, &d, &products, &[]);
        assert_eq!(form.lines.len(), 120);
        assert_eq!(form.tax_mode, TaxMode::None);
        let qty: u64 = (1..=120u64).map(|i| i % 7 + 1).sum();
        let t = preview(&form, &setup);
        assert_eq!(t.tax, Decimal::ZERO);
        assert_eq!(t.total, Decimal::from(qty) * dec!(2.5));
        let inv = build_invoice(&form, &setup);
        assert_eq!(
            inv.global_tax_calculation,
            Some(GlobalTaxCalculation::NotApplicable)
        );
        // US: the same deal has NON lines and no transaction tax.
        let form = form_of(&us(), &d, &products, &[]);
        assert!(
            form.lines
                .iter()
                .all(|l| l.tax_code.as_deref() == Some("NON"))
        );
        let inv = build_invoice(&form, &us());
        assert_eq!(inv.txn_tax_detail, None);
        assert_eq!(inv.global_tax_calculation, None);
    }

    #[test]
    fn golden_deal_without_products_is_one_line_from_the_value() {
        let d = deal(
            json!({"id": 4, "title": "Retainer (no products yet)", "currency": "EUR", "value": 1250, "org_id": 3, "person_id": 3}),
        );
        let lines = lines_from_deal(&d, &[]);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].name, "Retainer (no products yet)");
        assert_eq!(
            (lines[0].quantity, lines[0].unit_price),
            (Decimal::ONE, dec!(1250))
        );
        assert_eq!(lines[0].product_id, None);
        // Only disabled products: the same.
        let disabled = [product(
            1,
            1,
            "x",
            "1",
            "5",
            "0",
            "percentage",
            "0",
            "none",
            false,
        )];
        assert_eq!(lines_from_deal(&d, &disabled).len(), 1);
    }

    #[test]
    fn golden_us_deal_tax_and_txn_tax_code() {
        let d = deal(
            json!({"id": 1, "title": "Fleet tracking rollout", "currency": "USD", "org_id": 1, "person_id": 1}),
        );
        let products = vec![
            product(
                601,
                1,
                "Fleet tracker",
                "25",
                "199",
                "2.5",
                "percentage",
                "8.25",
                "exclusive",
                true,
            ),
            product(
                602,
                2,
                "Support plan",
                "25",
                "29",
                "0",
                "percentage",
                "8.25",
                "exclusive",
                true,
            ),
        ];
        let setup = us();
        let form = form_of(&setup, &d, &products, &[]);
        assert!(
            form.lines
                .iter()
                .all(|l| l.tax_code.as_deref() == Some("TAX"))
        );
        let t = preview(&form, &setup);
        assert_eq!(
            t.subtotal,
            dec!(5575.63),
            "4850.625 rounds half away from zero"
        );
        assert_eq!(t.tax, dec!(446.05));
        assert_eq!(t.total, dec!(6021.68));
        let inv = build_invoice(&form, &setup);
        assert_eq!(
            inv.txn_tax_detail.unwrap().txn_tax_code_ref.unwrap().value,
            "2"
        );
        let first = inv.line.unwrap()[0].sales_item_line_detail.clone().unwrap();
        assert_eq!(first.unit_price, Some(dec!(194.0252)));
        assert_eq!(round2(dec!(25) * dec!(194.0252)), dec!(4850.63));
        // Two rates of one group: each rounded on the same base.
        let mut tucson = form.clone();
        tucson.txn_tax_code = Some("3".into());
        let t = preview(&tucson, &setup);
        assert_eq!(t.taxes.len(), 2);
        assert_eq!(t.tax, dec!(395.87) + dec!(111.51));
    }

    #[test]
    fn us_inclusive_deals_are_converted_to_net() {
        let d = deal(json!({"id": 9, "title": "x", "currency": "USD"}));
        let products = vec![product(
            1,
            1,
            "Gross",
            "1",
            "120",
            "0",
            "percentage",
            "20",
            "inclusive",
            true,
        )];
        let setup = us();
        let form = form_of(&setup, &d, &products, &[]);
        let t = preview(&form, &setup);
        assert_eq!(t.subtotal, dec!(100));
        assert_eq!(t.tax, dec!(8));
        assert_eq!(
            build_invoice(&form, &setup).line.unwrap()[0].amount,
            Some(dec!(100))
        );
    }

    #[test]
    fn unlinked_lines_missing_codes_and_customer_are_named() {
        let (d, products, discounts) = deal1();
        let setup = gb();
        let mut form = form_of(&setup, &d, &products, &discounts);
        form.lines[1].item_id = None;
        form.customer_id = None;
        form.currency = "GBP".into();
        let errors = validate(&form, &setup, Some("GBP"));
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"customer_id"), "{fields:?}");
        let item = errors
            .iter()
            .find(|e| e.field == "lines[1].item_id")
            .unwrap();
        assert!(
            item.message.contains("Line 2 \"Design package\""),
            "{}",
            item.message
        );
        // No 19 % code in a UK company: the rep must choose one per line.
        assert!(fields.contains(&"lines[0].tax_code"));
        assert!(
            errors
                .iter()
                .find(|e| e.field == "lines[0].tax_code")
                .unwrap()
                .message
                .contains("VAT")
        );
    }

    #[test]
    fn currency_rules_say_what_to_change() {
        let mut setup = gb();
        let off = check_currency("EUR", None, &setup).unwrap_err();
        assert!(
            off.contains("multi-currency is off") && off.contains("Turn on multi-currency"),
            "{off}"
        );
        setup.multi_currency = true;
        let missing = check_currency("EUR", None, &setup).unwrap_err();
        assert!(missing.contains("Add it in QuickBooks"), "{missing}");
        setup.currencies.push("EUR".into());
        assert_eq!(check_currency("EUR", Some("EUR"), &setup), Ok(()));
        let mismatch = check_currency("EUR", Some("GBP"), &setup).unwrap_err();
        assert!(mismatch.contains("customer uses GBP"), "{mismatch}");
        assert!(check_currency("eur", None, &setup).is_err());
    }

    #[test]
    fn us_lines_and_doc_numbers_are_checked() {
        let d = deal(json!({"id": 1, "title": "x", "currency": "USD", "value": 10}));
        let setup = us();
        let mut form = form_of(&setup, &d, &[], &[]);
        form.lines[0].tax_code = Some("7".into());
        form.doc_number = Some("PD-1".into());
        let errors = validate(&form, &setup, Some("USD"));
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"lines[0].tax_code"));
        assert!(fields.contains(&"doc_number"), "custom numbering is off");
        form.lines[0].tax_code = Some("TAX".into());
        form.txn_tax_code = None;
        form.doc_number = None;
        let errors = validate(&form, &setup, Some("USD"));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "txn_tax_code");
    }

    #[test]
    fn money_rounding_and_formatting() {
        assert_eq!(round2(dec!(0.845)), dec!(0.85));
        assert_eq!(round2(dec!(-0.845)), dec!(-0.85));
        assert_eq!(round2(dec!(4850.625)), dec!(4850.63));
        assert_eq!(format_money(dec!(1250)), "1,250.00");
        assert_eq!(format_money(dec!(1234567.891)), "1,234,567.89");
        assert_eq!(format_money(dec!(12.5)), "12.50");
        assert_eq!(format_money(dec!(-1000)), "-1,000.00");
        assert_eq!(
            qty_and_price(dec!(3), dec!(100)),
            (dec!(3), dec!(33.33333)),
            "multiplies back to 100.00"
        );
        assert_eq!(
            qty_and_price(dec!(1000000), dec!(1.23)),
            (dec!(1), dec!(1.23)),
            "no 5-place price multiplies back"
        );
        assert_eq!(qty_and_price(dec!(4), dec!(100)), (dec!(4), dec!(25)));
    }

    #[test]
    fn due_dates_follow_the_rule() {
        let issue = NaiveDate::from_ymd_opt(2026, 3, 13).unwrap();
        assert_eq!(
            due_date(DueDateRule::DaysAfterIssue { days: 7 }, issue),
            NaiveDate::from_ymd_opt(2026, 3, 20)
        );
        assert_eq!(due_date(DueDateRule::CustomerTerms, issue), None);
    }

    #[test]
    fn the_form_carries_memo_note_custom_fields_and_doc_number() {
        let d = deal(json!({"id": 1, "title": "x", "currency": "GBP", "value": 10}));
        let setup = gb();
        let mut form = form_of(&setup, &d, &[], &[]);
        form.customer_memo = Some("Thank you!".into());
        form.private_note = Some("deal 1".into());
        form.doc_number = Some("PD-0001".into());
        form.bill_email = Some("ap@example.com".into());
        form.lines[0].tax_code = Some("4".into());
        let inv = build_invoice(&form, &setup);
        assert_eq!(inv.customer_memo.unwrap().value, "Thank you!");
        assert_eq!(inv.private_note.as_deref(), Some("deal 1"));
        assert_eq!(inv.doc_number.as_deref(), Some("PD-0001"));
        assert_eq!(
            inv.bill_email.unwrap().address.as_deref(),
            Some("ap@example.com")
        );
        assert!(TEMPLATE_NOTE.contains("no field"));
    }
}
