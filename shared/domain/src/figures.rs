//! A deal's invoice figures, and the Pipedrive deal fields that carry them (the write-back the
//! admin maps in the settings), as pure functions:
//!
//! - [`deal_figures`]: from every invoice link of a deal — the deal's invoice status (worst of
//!   its live invoices: overdue > partially paid > open > paid), the amounts invoiced, paid and
//!   outstanding, the last invoice number and the last payment date.
//! - [`field_values`]: those figures as the values of the mapped custom fields, shaped for each
//!   field's type (an option id of an enum, `{"value", "currency"}` of a monetary field, …).
//! - [`changed_fields`]: of those, the ones that differ from what was last written — the body
//!   of the one deal update per changed deal, or nothing.
//!
//! A *live* invoice is one that is neither voided nor deleted. Amounts are only added up in one
//! currency: a deal whose live invoices are in several currencies gets no amounts (cleared),
//! never a sum across currencies.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{CompanyId, DealId, InvoiceLink, InvoiceStatus};

/// A deal's invoice status: the worst of its live invoices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealInvoiceStatus {
    /// Declared worst first: the smallest wins.
    Overdue,
    PartiallyPaid,
    Open,
    Paid,
}

impl DealInvoiceStatus {
    pub const ALL: [DealInvoiceStatus; 4] = [
        DealInvoiceStatus::Overdue,
        DealInvoiceStatus::PartiallyPaid,
        DealInvoiceStatus::Open,
        DealInvoiceStatus::Paid,
    ];

    /// How the status reads in a Pipedrive field (and the enum option label it needs).
    pub fn label(self) -> &'static str {
        match self {
            DealInvoiceStatus::Overdue => "Overdue",
            DealInvoiceStatus::PartiallyPaid => "Partially paid",
            DealInvoiceStatus::Open => "Open",
            DealInvoiceStatus::Paid => "Paid",
        }
    }

    /// An invoice's part in the deal's status (`None`: voided and deleted invoices take none).
    pub fn of(status: InvoiceStatus) -> Option<Self> {
        match status {
            InvoiceStatus::Overdue => Some(DealInvoiceStatus::Overdue),
            InvoiceStatus::PartiallyPaid => Some(DealInvoiceStatus::PartiallyPaid),
            InvoiceStatus::Open => Some(DealInvoiceStatus::Open),
            InvoiceStatus::Paid => Some(DealInvoiceStatus::Paid),
            InvoiceStatus::Voided | InvoiceStatus::Deleted => None,
        }
    }
}

/// What the deal's invoices add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealFigures {
    /// `None` without a live invoice.
    pub status: Option<DealInvoiceStatus>,
    /// The currency of the amounts (`None` with no invoice at all, or live invoices in several
    /// currencies — then the amounts are `None` too).
    pub currency: Option<String>,
    pub invoiced: Option<Decimal>,
    pub paid: Option<Decimal>,
    pub outstanding: Option<Decimal>,
    /// The number of the newest invoice that still exists in QuickBooks (voided ones do).
    pub last_number: Option<String>,
    /// The latest day a payment was recorded on one of the live invoices.
    pub last_payment: Option<NaiveDate>,
    /// Live invoices in more than one currency (the amounts are left out).
    pub mixed_currencies: bool,
}

fn live(link: &InvoiceLink) -> bool {
    !matches!(link.status, InvoiceStatus::Voided | InvoiceStatus::Deleted)
}

/// The figures of a deal from all its invoice links (in any order).
pub fn deal_figures(links: &[InvoiceLink]) -> DealFigures {
    let live_links: Vec<&InvoiceLink> = links.iter().filter(|l| live(l)).collect();
    let status = live_links
        .iter()
        .filter_map(|l| DealInvoiceStatus::of(l.status))
        .min();
    let mut currencies: Vec<&str> = live_links.iter().map(|l| l.currency.as_str()).collect();
    currencies.sort_unstable();
    currencies.dedup();
    let newest = |list: &mut dyn Iterator<Item = &InvoiceLink>| {
        list.max_by_key(|l| (l.created_at, l.txn_date, l.invoice_id.clone()))
            .cloned()
    };
    let newest_existing = newest(&mut links.iter().filter(|l| l.status != InvoiceStatus::Deleted));
    let last_number = newest_existing.as_ref().and_then(|l| l.doc_number.clone());
    let last_payment = live_links.iter().filter_map(|l| l.last_payment_date).max();
    let (currency, mixed) = match currencies.as_slice() {
        [] => (newest(&mut links.iter()).map(|l| l.currency.clone()), false),
        [one] => (Some((*one).to_string()), false),
        _ => (None, true),
    };
    let sum = |f: fn(&InvoiceLink) -> Decimal| -> Option<Decimal> {
        (currency.is_some()).then(|| live_links.iter().map(|l| f(l)).sum())
    };
    DealFigures {
        status,
        invoiced: sum(|l| l.total),
        paid: sum(|l| (l.total - l.balance).max(Decimal::ZERO)),
        outstanding: sum(|l| l.balance),
        currency,
        last_number,
        last_payment,
        mixed_currencies: mixed,
    }
}

/// What the app last wrote to a deal's mapped fields (field key → value), so that an event that
/// changes nothing writes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenFigures {
    pub company_id: CompanyId,
    pub deal_id: DealId,
    pub values: BTreeMap<String, Value>,
    pub written_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub version: u64,
}

/// The figures a deal field can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    Status,
    Invoiced,
    Paid,
    Outstanding,
    LastNumber,
    LastPaymentDate,
}

impl Figure {
    pub const ALL: [Figure; 6] = [
        Figure::Status,
        Figure::Invoiced,
        Figure::Paid,
        Figure::Outstanding,
        Figure::LastNumber,
        Figure::LastPaymentDate,
    ];

    /// The Pipedrive field types that can hold the figure.
    pub fn field_types(self) -> &'static [&'static str] {
        match self {
            Figure::Status => &["enum", "varchar", "varchar_auto", "text"],
            Figure::Invoiced | Figure::Paid | Figure::Outstanding => &["monetary", "double"],
            Figure::LastNumber => &["varchar", "varchar_auto", "text"],
            Figure::LastPaymentDate => &["date", "varchar", "text"],
        }
    }

    /// Whether a field of `field_type` can hold the figure.
    pub fn fits(self, field_type: &str) -> bool {
        self.field_types().contains(&field_type)
    }

    /// Its name in the settings document (`settings.write_back.<key>`).
    pub fn key(self) -> &'static str {
        match self {
            Figure::Status => "status",
            Figure::Invoiced => "invoiced",
            Figure::Paid => "paid",
            Figure::Outstanding => "outstanding",
            Figure::LastNumber => "last_number",
            Figure::LastPaymentDate => "last_payment_date",
        }
    }

    /// How the figure is named in the settings and in messages.
    pub fn words(self) -> &'static str {
        match self {
            Figure::Status => "invoice status",
            Figure::Invoiced => "amount invoiced",
            Figure::Paid => "amount paid",
            Figure::Outstanding => "amount outstanding",
            Figure::LastNumber => "last invoice number",
            Figure::LastPaymentDate => "last payment date",
        }
    }
}

/// A deal custom field the admin mapped a figure to, as checked against the company's field
/// catalog when the settings were saved: its key, its type and — for an enum field holding the
/// status — the option id of each status label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappedField {
    /// The field's 40-character hash key.
    pub key: String,
    /// Filled in from the catalog when saved.
    #[serde(default)]
    pub field_type: String,
    /// Status label → option id (enum fields only; filled in when saved).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, Value>,
}

impl MappedField {
    pub fn new(key: &str, field_type: &str) -> Self {
        MappedField {
            key: key.to_string(),
            field_type: field_type.to_string(),
            options: BTreeMap::new(),
        }
    }
}

/// Which deal field carries which figure (nothing is written for an unmapped figure).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteBack {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<MappedField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoiced: Option<MappedField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid: Option<MappedField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outstanding: Option<MappedField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_number: Option<MappedField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_payment_date: Option<MappedField>,
}

impl WriteBack {
    pub fn get(&self, figure: Figure) -> Option<&MappedField> {
        match figure {
            Figure::Status => self.status.as_ref(),
            Figure::Invoiced => self.invoiced.as_ref(),
            Figure::Paid => self.paid.as_ref(),
            Figure::Outstanding => self.outstanding.as_ref(),
            Figure::LastNumber => self.last_number.as_ref(),
            Figure::LastPaymentDate => self.last_payment_date.as_ref(),
        }
    }

    pub fn get_mut(&mut self, figure: Figure) -> &mut Option<MappedField> {
        match figure {
            Figure::Status => &mut self.status,
            Figure::Invoiced => &mut self.invoiced,
            Figure::Paid => &mut self.paid,
            Figure::Outstanding => &mut self.outstanding,
            Figure::LastNumber => &mut self.last_number,
            Figure::LastPaymentDate => &mut self.last_payment_date,
        }
    }

    /// The mapped figures, each with its field.
    pub fn mapped(&self) -> impl Iterator<Item = (Figure, &MappedField)> {
        Figure::ALL
            .into_iter()
            .filter_map(|f| self.get(f).map(|m| (f, m)))
    }

    pub fn is_empty(&self) -> bool {
        self.mapped().next().is_none()
    }
}

/// An enum field's options (id, label) as the status needs them: the option id of every status
/// label (compared without case or surrounding spaces), or the labels it lacks.
pub fn status_options(options: &[(Value, String)]) -> Result<BTreeMap<String, Value>, Vec<String>> {
    let mut found = BTreeMap::new();
    let mut missing = Vec::new();
    for status in DealInvoiceStatus::ALL {
        let label = status.label();
        match options
            .iter()
            .find(|(_, l)| l.trim().eq_ignore_ascii_case(label))
        {
            Some((id, _)) => {
                found.insert(label.to_string(), id.clone());
            }
            None => missing.push(label.to_string()),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(missing)
    }
}

fn number(amount: Decimal) -> Value {
    amount
        .round_dp(2)
        .to_f64()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

fn text_or_null(text: Option<String>) -> Value {
    text.map_or(Value::Null, Value::String)
}

/// The value `field` holds for `figure` of `figures` (`null` clears it).
fn value_of(figure: Figure, field: &MappedField, figures: &DealFigures) -> Value {
    let amount = |a: Option<Decimal>| match (a, figures.currency.as_deref()) {
        (Some(a), Some(currency)) if field.field_type == "monetary" => {
            json!({"value": number(a), "currency": currency})
        }
        (Some(a), Some(_)) => number(a),
        _ => Value::Null,
    };
    match figure {
        Figure::Status => match figures.status {
            None => Value::Null,
            Some(status) if field.field_type == "enum" => field
                .options
                .get(status.label())
                .cloned()
                .unwrap_or(Value::Null),
            Some(status) => Value::String(status.label().to_string()),
        },
        Figure::Invoiced => amount(figures.invoiced),
        Figure::Paid => amount(figures.paid),
        Figure::Outstanding => amount(figures.outstanding),
        Figure::LastNumber => text_or_null(figures.last_number.clone()),
        Figure::LastPaymentDate => text_or_null(
            figures
                .last_payment
                .map(|d| d.format("%Y-%m-%d").to_string()),
        ),
    }
}

/// The value of every mapped field, keyed by field key.
pub fn field_values(write_back: &WriteBack, figures: &DealFigures) -> BTreeMap<String, Value> {
    write_back
        .mapped()
        .map(|(figure, field)| (field.key.clone(), value_of(figure, field, figures)))
        .collect()
}

/// The fields whose value differs from what was last written to the deal (`written`). A field
/// never written is written unless its value is empty: nothing is cleared that the app never
/// filled.
pub fn changed_fields(
    values: &BTreeMap<String, Value>,
    written: &BTreeMap<String, Value>,
) -> BTreeMap<String, Value> {
    values
        .iter()
        .filter(|(key, value)| match written.get(*key) {
            Some(before) => before != *value,
            None => !value.is_null(),
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn link(id: &str, status: InvoiceStatus, total: Decimal, balance: Decimal) -> InvoiceLink {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
            + chrono::Duration::minutes(id.parse::<i64>().unwrap_or(0));
        InvoiceLink {
            company_id: CompanyId(1),
            deal_id: DealId(7),
            realm_id: "r".into(),
            invoice_id: id.into(),
            doc_number: Some(format!("10{id}")),
            currency: "EUR".into(),
            total,
            balance,
            txn_date: at.date_naive(),
            due_date: None,
            status,
            customer_id: "c".into(),
            customer_name: None,
            email_sent: false,
            sync_token: None,
            qbo_updated_at: None,
            last_payment_date: None,
            billing: None,
            created_at: at,
            updated_at: at,
            version: 0,
        }
    }

    #[test]
    fn the_worst_live_status_wins() {
        use InvoiceStatus::*;
        let cases: [(&[InvoiceStatus], Option<DealInvoiceStatus>); 7] = [
            (&[], None),
            (&[Paid, Open], Some(DealInvoiceStatus::Open)),
            (
                &[Paid, PartiallyPaid, Open],
                Some(DealInvoiceStatus::PartiallyPaid),
            ),
            (
                &[Open, Overdue, PartiallyPaid],
                Some(DealInvoiceStatus::Overdue),
            ),
            (&[Paid, Paid], Some(DealInvoiceStatus::Paid)),
            (&[Voided, Deleted], None),
            (&[Voided, Paid], Some(DealInvoiceStatus::Paid)),
        ];
        for (statuses, expected) in cases {
            let links: Vec<InvoiceLink> = statuses
                .iter()
                .enumerate()
                .map(|(i, s)| link(&i.to_string(), *s, dec!(10), dec!(10)))
                .collect();
            assert_eq!(deal_figures(&links).status, expected, "{statuses:?}");
        }
    }

    #[test]
    fn amounts_of_live_invoices_in_one_currency() {
        let mut paid = link("1", InvoiceStatus::Paid, dec!(100), dec!(0));
        paid.last_payment_date = NaiveDate::from_ymd_opt(2026, 3, 10);
        let mut partly = link("2", InvoiceStatus::PartiallyPaid, dec!(250.50), dec!(50.25));
        partly.last_payment_date = NaiveDate::from_ymd_opt(2026, 3, 12);
        let voided = link("3", InvoiceStatus::Voided, dec!(0), dec!(0));
        let figures = deal_figures(&[paid.clone(), partly.clone(), voided.clone()]);
        assert_eq!(figures.invoiced, Some(dec!(350.50)));
        assert_eq!(figures.paid, Some(dec!(300.25)));
        assert_eq!(figures.outstanding, Some(dec!(50.25)));
        assert_eq!(figures.currency.as_deref(), Some("EUR"));
        assert_eq!(
            figures.last_number.as_deref(),
            Some("103"),
            "voided invoices exist"
        );
        assert_eq!(figures.last_payment, NaiveDate::from_ymd_opt(2026, 3, 12));

        // A deleted newest invoice does not count as the last number.
        let deleted = link("4", InvoiceStatus::Deleted, dec!(0), dec!(0));
        assert_eq!(
            deal_figures(&[paid.clone(), deleted])
                .last_number
                .as_deref(),
            Some("101")
        );

        // Everything voided: zero amounts in the last currency, no status.
        let gone = deal_figures(&[voided]);
        assert_eq!(gone.status, None);
        assert_eq!(gone.invoiced, Some(dec!(0)));
        assert_eq!(gone.currency.as_deref(), Some("EUR"));

        // Two currencies: no sum across them.
        let mut usd = link("5", InvoiceStatus::Open, dec!(10), dec!(10));
        usd.currency = "USD".into();
        let mixed = deal_figures(&[paid, usd]);
        assert!(mixed.mixed_currencies);
        assert_eq!((mixed.invoiced, mixed.currency), (None, None));
        assert_eq!(mixed.status, Some(DealInvoiceStatus::Open));

        assert_eq!(deal_figures(&[]), DealFigures::default());
    }

    fn write_back() -> WriteBack {
        let mut status = MappedField::new("s", "enum");
        status.options = status_options(&[
            (json!(1), "open".into()),
            (json!(2), " Overdue ".into()),
            (json!(3), "Partially paid".into()),
            (json!(4), "Paid".into()),
        ])
        .unwrap();
        WriteBack {
            status: Some(status),
            invoiced: Some(MappedField::new("i", "monetary")),
            paid: Some(MappedField::new("p", "double")),
            outstanding: None,
            last_number: Some(MappedField::new("n", "varchar")),
            last_payment_date: Some(MappedField::new("d", "date")),
        }
    }

    #[test]
    fn values_are_shaped_for_each_field_type() {
        let figures = DealFigures {
            status: Some(DealInvoiceStatus::PartiallyPaid),
            currency: Some("EUR".into()),
            invoiced: Some(dec!(1250.5)),
            paid: Some(dec!(200)),
            outstanding: Some(dec!(1050.5)),
            last_number: Some("1042".into()),
            last_payment: NaiveDate::from_ymd_opt(2026, 3, 20),
            mixed_currencies: false,
        };
        let values = field_values(&write_back(), &figures);
        assert_eq!(
            values,
            BTreeMap::from([
                ("s".to_string(), json!(3)),
                ("i".to_string(), json!({"value": 1250.5, "currency": "EUR"})),
                ("p".to_string(), json!(200.0)),
                ("n".to_string(), json!("1042")),
                ("d".to_string(), json!("2026-03-20")),
            ]),
            "nothing for the unmapped outstanding amount"
        );
        let mut text = write_back();
        text.status = Some(MappedField::new("s", "varchar"));
        assert_eq!(field_values(&text, &figures)["s"], json!("Partially paid"));
        let none = field_values(&write_back(), &DealFigures::default());
        assert!(none.values().all(Value::is_null));
    }

    #[test]
    fn only_changed_values_are_written() {
        let values = BTreeMap::from([
            ("a".to_string(), json!(1)),
            ("b".to_string(), json!("x")),
            ("c".to_string(), Value::Null),
            ("d".to_string(), Value::Null),
        ]);
        let written = BTreeMap::from([
            ("a".to_string(), json!(1)),
            ("b".to_string(), json!("y")),
            ("d".to_string(), json!("2026-03-01")),
        ]);
        assert_eq!(
            changed_fields(&values, &written),
            BTreeMap::from([
                ("b".to_string(), json!("x")),
                ("d".to_string(), Value::Null)
            ]),
            "a unchanged; c never written and empty; d cleared"
        );
        assert!(changed_fields(&values, &values).is_empty());
    }

    #[test]
    fn an_enum_needs_every_status_label() {
        assert_eq!(
            status_options(&[(json!(1), "Open".into()), (json!(2), "Paid".into())]),
            Err(vec!["Overdue".to_string(), "Partially paid".to_string()])
        );
        assert!(Figure::Invoiced.fits("monetary") && !Figure::Invoiced.fits("varchar"));
        assert!(Figure::LastPaymentDate.fits("date") && !Figure::Status.fits("date"));
    }
}
