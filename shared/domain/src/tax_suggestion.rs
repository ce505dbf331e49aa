//! Which QuickBooks tax rate the form pre-selects, and why none when none fits.
//!
//! Pipedrive gives each deal product a tax percentage. A US company charges one sales-tax rate
//! per invoice (`TxnTaxCodeRef`, a rate group): the suggestion is the active rate group whose
//! summed rate equals the taxed products' percentage — not the company's default rate, which
//! may be a different state's. Elsewhere each line gets the active tax code of its percentage
//! ([`super::draft::default_tax_code`]). When no code has the percentage (or the products carry
//! different ones), nothing is pre-selected and the form says why.

use rust_decimal::Decimal;

use super::draft::{CompanySetup, FormLine, TaxCodeInfo, TaxMode};

/// What the form pre-selects for the invoice's sales-tax rate (US) and the sentence shown when
/// it pre-selects nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxSuggestion {
    pub code: Option<String>,
    pub note: Option<String>,
}

fn percent(p: Decimal) -> String {
    format!("{} %", p.normalize())
}

/// The active US rate group whose total rate is `percent`.
fn group_for_rate(setup: &CompanySetup, percent: Decimal) -> Option<&TaxCodeInfo> {
    setup
        .tax_codes
        .iter()
        .filter(|c| c.active && c.group && !c.rates.is_empty())
        .find(|c| c.total_rate() == percent)
}

/// US: the rate group for the taxed lines (`TAX`), by the products' tax percentage.
pub fn suggest_txn_tax_code(setup: &CompanySetup, lines: &[FormLine]) -> TaxSuggestion {
    let mut percents: Vec<Decimal> = lines
        .iter()
        .filter(|l| l.tax_code.as_deref() == Some("TAX"))
        .filter_map(|l| l.tax_percent)
        .map(|p| p.normalize())
        .collect();
    percents.sort();
    percents.dedup();
    match percents.as_slice() {
        [] => TaxSuggestion {
            code: None,
            note: None,
        },
        [one] => match group_for_rate(setup, *one) {
            Some(code) => TaxSuggestion {
                code: Some(code.id.clone()),
                note: None,
            },
            None => TaxSuggestion {
                code: None,
                note: Some(format!(
                    "None of your QuickBooks sales tax rates is {} (the tax of the deal's products), so none is chosen. Choose the rate to charge.",
                    percent(*one)
                )),
            },
        },
        many => TaxSuggestion {
            code: None,
            note: Some(format!(
                "The deal's products carry different taxes ({}), and an invoice has one sales tax rate. Choose the rate to charge.",
                many.iter()
                    .map(|p| percent(*p))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
    }
}

/// Outside the US: why a line has no tax code pre-selected (its percentage matches no active
/// code), `None` when it has one or needs none.
pub fn line_tax_note(setup: &CompanySetup, mode: TaxMode, line: &FormLine) -> Option<String> {
    if setup.us || mode == TaxMode::None || line.tax_code.is_some() {
        return None;
    }
    let p = line.tax_percent.unwrap_or(Decimal::ZERO);
    Some(format!(
        "No QuickBooks tax code has the rate {} of this product, so none is chosen. Choose one.",
        percent(p)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

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
            currencies: vec![],
            tax_codes: vec![
                code("TAX", &[], false),
                code("NON", &[], false),
                code("2", &[dec!(8)], true),
                code("3", &[dec!(7.1), dec!(2)], true),
            ],
            default_txn_tax_code: Some("2".into()),
            custom_txn_numbers: false,
            custom_fields: vec![],
            automated_sales_tax: false,
        }
    }

    fn line(tax_code: &str, percent: Option<Decimal>) -> FormLine {
        FormLine {
            product_id: None,
            deal_product_id: None,
            name: "x".into(),
            description: None,
            quantity: dec!(1),
            unit_price: dec!(1),
            discount: None,
            tax_percent: percent,
            item_id: None,
            item_name: None,
            tax_code: Some(tax_code.into()),
        }
    }

    #[test]
    fn the_rate_of_the_products_is_suggested_never_the_default_of_another_rate() {
        let setup = us();
        assert_eq!(
            suggest_txn_tax_code(&setup, &[line("TAX", Some(dec!(9.10)))]).code,
            Some("3".into()),
            "Tucson's 7.1 + 2"
        );
        assert_eq!(
            suggest_txn_tax_code(&setup, &[line("TAX", Some(dec!(8))), line("NON", None)]).code,
            Some("2".into())
        );
        // A 19 % VAT deal: no US rate is 19 %, and California's 8 % is not pre-selected.
        let vat = suggest_txn_tax_code(&setup, &[line("TAX", Some(dec!(19)))]);
        assert_eq!(vat.code, None);
        assert!(vat.note.unwrap().contains("19 %"));
        let mixed = suggest_txn_tax_code(
            &setup,
            &[line("TAX", Some(dec!(8))), line("TAX", Some(dec!(19)))],
        );
        assert_eq!(mixed.code, None);
        assert!(mixed.note.unwrap().contains("8 %, 19 %"));
        let untaxed = suggest_txn_tax_code(&setup, &[line("NON", Some(dec!(0)))]);
        assert_eq!(
            untaxed,
            TaxSuggestion {
                code: None,
                note: None
            }
        );
    }

    #[test]
    fn a_line_without_a_matching_code_says_why() {
        let mut setup = us();
        setup.us = false;
        let mut l = line("x", Some(dec!(19)));
        l.tax_code = None;
        assert!(
            line_tax_note(&setup, TaxMode::Exclusive, &l)
                .unwrap()
                .contains("19 %")
        );
        assert_eq!(line_tax_note(&setup, TaxMode::None, &l), None);
        l.tax_code = Some("2".into());
        assert_eq!(line_tax_note(&setup, TaxMode::Exclusive, &l), None);
    }
}
