//! Invoicing in another currency than the deal's: the prices come in the deal's currency, so an
//! invoice in another currency carries them converted with a rate the rep saw and confirmed —
//! never the same numbers under another currency code.
//!
//! The form says which currency its prices came in (`deal_currency`, set by the draft) and, when
//! the invoice currency differs, how they were converted ([`Conversion`]: from, to, the rate and
//! where it came from). [`check`] refuses a form whose currency changed without a conversion (or
//! with one that does not lead from the deal's currency to the invoice's). [`cross_rate`] turns
//! QuickBooks' rates (home-currency units per unit of a currency) into the rate between two
//! currencies; [`convert`] is the arithmetic the page applies (and the tests check): unit prices
//! and amount discounts times the rate, rounded to cents half away from zero; percentages stay.

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::draft::{Discount, InvoiceForm, round2};
use crate::FieldError;

/// Decimals kept of a cross rate (QuickBooks shows rates with up to 6 decimals).
pub const RATE_DECIMALS: u32 = 6;

/// Where a rate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateSource {
    /// QuickBooks' own exchange rate for the date.
    Quickbooks,
    /// Typed (or changed) by the rep.
    Manual,
}

/// How the form's prices were converted from the deal's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    /// The deal's currency (the prices' original currency).
    pub from: String,
    /// The invoice currency.
    pub to: String,
    /// Units of `to` for one unit of `from`.
    pub rate: Decimal,
    pub source: RateSource,
    /// The date of QuickBooks' rate.
    #[serde(default)]
    pub as_of: Option<NaiveDate>,
}

/// The rate from `from` to `to` given each one's rate into the home currency (QuickBooks'
/// `ExchangeRate.Rate`; the home currency's is 1), rounded to [`RATE_DECIMALS`].
pub fn cross_rate(from_in_home: Decimal, to_in_home: Decimal) -> Option<Decimal> {
    if from_in_home <= Decimal::ZERO || to_in_home <= Decimal::ZERO {
        return None;
    }
    Some(
        (from_in_home / to_in_home)
            .round_dp_with_strategy(RATE_DECIMALS, RoundingStrategy::MidpointAwayFromZero)
            .normalize(),
    )
}

fn convert_discount(discount: Discount, rate: Decimal) -> Discount {
    match discount {
        Discount::Percentage(p) => Discount::Percentage(p),
        Discount::Amount(a) => Discount::Amount(round2(a * rate)),
    }
}

/// The form with its prices converted at `conversion.rate` and its currency set to
/// `conversion.to` (what the page does when the rep confirms a conversion).
pub fn convert(form: &InvoiceForm, conversion: &Conversion) -> InvoiceForm {
    let mut out = form.clone();
    for line in &mut out.lines {
        line.unit_price = round2(line.unit_price * conversion.rate);
        line.discount = line.discount.map(|d| convert_discount(d, conversion.rate));
    }
    for d in &mut out.discounts {
        d.discount = convert_discount(d.discount, conversion.rate);
    }
    out.currency = conversion.to.clone();
    out.conversion = Some(conversion.clone());
    out.expected_total = None;
    out
}

/// The problem with the form's currency and conversion, if any.
pub fn check(form: &InvoiceForm) -> Option<FieldError> {
    let currency = form.currency.trim();
    let deal = form
        .deal_currency
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    match (&form.conversion, deal) {
        (None, Some(deal)) if deal != currency => Some(FieldError::new(
            "currency",
            format!(
                "The prices are in {deal}, the deal's currency. Convert them to {currency} with an exchange rate you confirm, or keep {deal}."
            ),
        )),
        (Some(c), _) if c.rate <= Decimal::ZERO => Some(FieldError::new(
            "conversion.rate",
            "The exchange rate must be more than 0.",
        )),
        (Some(c), deal) if c.to != currency || deal.is_some_and(|d| d != c.from) => {
            Some(FieldError::new(
                "conversion",
                format!(
                    "The prices were converted from {} to {}, but the invoice is in {currency}{}. Convert them again.",
                    c.from,
                    c.to,
                    deal.map(|d| format!(" and the deal in {d}"))
                        .unwrap_or_default()
                ),
            ))
        }
        _ => None,
    }
}

/// What the invoice's private note says about a conversion (kept in QuickBooks with the
/// invoice): "Prices converted from GBP at 1 GBP = 1.27 USD (QuickBooks rate of 2025-03-01)."
pub fn note(conversion: &Conversion) -> String {
    let source = match (conversion.source, conversion.as_of) {
        (RateSource::Quickbooks, Some(date)) => format!(" (QuickBooks rate of {date})"),
        (RateSource::Quickbooks, None) => " (QuickBooks rate)".to_string(),
        (RateSource::Manual, _) => " (rate entered in Pipedrive)".to_string(),
    };
    format!(
        "Prices converted from {from} at 1 {from} = {rate} {to}{source}.",
        from = conversion.from,
        to = conversion.to,
        rate = conversion.rate.normalize(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::draft::{DealDiscountLine, FormLine, TaxMode};
    use rust_decimal_macros::dec;

    fn form(currency: &str, deal: Option<&str>) -> InvoiceForm {
        InvoiceForm {
            party: None,
            customer_id: Some("2".into()),
            currency: currency.into(),
            txn_date: NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
            due_date: None,
            tax_mode: TaxMode::Exclusive,
            txn_tax_code: None,
            lines: vec![FormLine {
                product_id: Some(201),
                deal_product_id: None,
                name: "Workshop day".into(),
                description: None,
                quantity: dec!(2),
                unit_price: dec!(900),
                discount: Some(Discount::Amount(dec!(12.345))),
                tax_percent: Some(dec!(20)),
                item_id: Some("1".into()),
                item_name: None,
                tax_code: Some("TAX".into()),
            }],
            discounts: vec![
                DealDiscountLine {
                    description: "Loyalty".into(),
                    discount: Discount::Amount(dec!(50)),
                },
                DealDiscountLine {
                    description: "Spring".into(),
                    discount: Discount::Percentage(dec!(5)),
                },
            ],
            bill_email: None,
            customer_memo: None,
            private_note: None,
            doc_number: None,
            custom_fields: Vec::new(),
            expected_total: Some(dec!(1)),
            deal_currency: deal.map(str::to_string),
            conversion: None,
            confirm_duplicate: false,
            part: None,
            confirm_over_invoice: false,
        }
    }

    fn quickbooks(from: &str, to: &str, rate: Decimal) -> Conversion {
        Conversion {
            from: from.into(),
            to: to.into(),
            rate,
            source: RateSource::Quickbooks,
            as_of: NaiveDate::from_ymd_opt(2025, 3, 1),
        }
    }

    #[test]
    fn a_currency_changed_without_a_conversion_is_refused() {
        let relabelled = form("USD", Some("GBP"));
        let problem = check(&relabelled).expect("refused");
        assert_eq!(problem.field, "currency");
        assert!(
            problem.message.contains("The prices are in GBP"),
            "{problem:?}"
        );
        assert_eq!(
            check(&form("GBP", Some("GBP"))),
            None,
            "the deal's currency"
        );
        assert_eq!(check(&form("GBP", None)), None, "a form without its origin");
        let converted = convert(&relabelled, &quickbooks("GBP", "USD", dec!(1.27)));
        assert_eq!(check(&converted), None);
        // A conversion that no longer leads to the invoice's currency, or from the deal's.
        let mut stale = converted.clone();
        stale.currency = "EUR".into();
        assert_eq!(check(&stale).unwrap().field, "conversion");
        let wrong_origin = convert(
            &form("USD", Some("EUR")),
            &quickbooks("GBP", "USD", dec!(1.27)),
        );
        assert_eq!(check(&wrong_origin).unwrap().field, "conversion");
        let zero = convert(&relabelled, &quickbooks("GBP", "USD", Decimal::ZERO));
        assert_eq!(check(&zero).unwrap().field, "conversion.rate");
    }

    #[test]
    fn prices_and_amount_discounts_are_converted_percentages_stay() {
        let converted = convert(
            &form("GBP", Some("GBP")),
            &quickbooks("GBP", "USD", dec!(1.27)),
        );
        assert_eq!(converted.currency, "USD");
        assert_eq!(converted.lines[0].unit_price, dec!(1143.00));
        // 12.345 × 1.27 = 15.67815 → 15.68
        assert_eq!(
            converted.lines[0].discount,
            Some(Discount::Amount(dec!(15.68)))
        );
        assert_eq!(
            converted.discounts[0].discount,
            Discount::Amount(dec!(63.50))
        );
        assert_eq!(
            converted.discounts[1].discount,
            Discount::Percentage(dec!(5))
        );
        assert_eq!(
            converted.expected_total, None,
            "the total must be seen again"
        );
    }

    #[test]
    fn cross_rates_come_from_the_home_currency_rates() {
        // US company: EUR 1.09 USD, GBP 1.27 USD.
        assert_eq!(cross_rate(dec!(1.27), Decimal::ONE), Some(dec!(1.27)));
        assert_eq!(cross_rate(Decimal::ONE, dec!(1.27)), Some(dec!(0.787402)));
        assert_eq!(cross_rate(dec!(1.09), dec!(1.27)), Some(dec!(0.858268)));
        assert_eq!(cross_rate(Decimal::ZERO, Decimal::ONE), None);
        assert_eq!(
            note(&quickbooks("GBP", "USD", dec!(1.27))),
            "Prices converted from GBP at 1 GBP = 1.27 USD (QuickBooks rate of 2025-03-01)."
        );
    }
}
