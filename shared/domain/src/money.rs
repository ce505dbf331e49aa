//! The one money formatter: every amount a person reads — in the pages, in the sentences the API
//! answers, in the notes on the deal — is written by [`NumberFormat::money`]: the amount rounded
//! as QuickBooks rounds (2 places, half away from zero), grouped and with the decimal mark of the
//! Pipedrive user's locale, then the ISO currency code (`1.234,50 EUR` for `de_DE`,
//! `1,234.50 EUR` for `en_US`).
//!
//! The locale reaches the app the way Pipedrive gives it: `GET /v1/users/me` → `data.locale`
//! (`et_EE`, `de_DE`; read at install and kept in the user's install record). The app-extensions
//! SDK and the iframe URL carry no locale (only `theme`). The pages get the resolved
//! [`NumberFormat`] from `GET /api/me` and apply it with the same three rules (decimal mark,
//! group separator, minimum grouping digits), so a page and a message show the same text.
//!
//! The separators follow CLDR's number symbols for the locale's language (and region where the
//! region changes them); a locale we do not know is formatted as English.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// How numbers are written in a locale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberFormat {
    /// The locale these rules were chosen for (normalised: `de_DE`), `en_US` when unknown.
    pub locale: String,
    /// The decimal mark (`.` or `,`).
    pub decimal: String,
    /// The group separator (`,`, `.`, `’`, a no-break space U+00A0, or U+202F for French).
    pub group: String,
    /// CLDR's minimum grouping digits: with 2, a four-digit integer part is not grouped
    /// (`1234,50` in Spanish and Polish).
    pub min_grouping_digits: u8,
}

const NBSP: &str = "\u{a0}";
const NNBSP: &str = "\u{202f}";

/// (language, region or "" for any, decimal, group, minimum grouping digits); the first match
/// of language + region wins, then language alone.
const RULES: &[(&str, &str, &str, &str, u8)] = &[
    ("de", "CH", ".", "’", 1),
    ("de", "LI", ".", "’", 1),
    ("de", "AT", ",", NBSP, 1),
    ("de", "", ",", ".", 1),
    ("it", "CH", ".", "’", 1),
    ("it", "", ",", ".", 1),
    ("fr", "CA", ",", NBSP, 1),
    ("fr", "", ",", NNBSP, 1),
    ("es", "MX", ".", ",", 1),
    ("es", "US", ".", ",", 1),
    ("es", "419", ".", ",", 1),
    ("es", "", ",", ".", 2),
    ("pt", "PT", ",", NBSP, 2),
    ("pt", "", ",", ".", 1),
    ("nl", "", ",", ".", 1),
    ("da", "", ",", ".", 1),
    ("ro", "", ",", ".", 1),
    ("hr", "", ",", ".", 1),
    ("sl", "", ",", ".", 1),
    ("tr", "", ",", ".", 1),
    ("el", "", ",", ".", 1),
    ("id", "", ",", ".", 1),
    ("vi", "", ",", ".", 1),
    ("sv", "", ",", NBSP, 1),
    ("nb", "", ",", NBSP, 1),
    ("no", "", ",", NBSP, 1),
    ("nn", "", ",", NBSP, 1),
    ("fi", "", ",", NBSP, 1),
    ("et", "", ",", NBSP, 2),
    ("lv", "", ",", NBSP, 1),
    ("lt", "", ",", NBSP, 1),
    ("pl", "", ",", NBSP, 2),
    ("cs", "", ",", NBSP, 1),
    ("sk", "", ",", NBSP, 1),
    ("hu", "", ",", NBSP, 1),
    ("ru", "", ",", NBSP, 1),
    ("uk", "", ",", NBSP, 1),
    ("bg", "", ",", NBSP, 2),
    ("en", "", ".", ",", 1),
    ("ja", "", ".", ",", 1),
    ("zh", "", ".", ",", 1),
    ("ko", "", ".", ",", 1),
    ("he", "", ".", ",", 1),
    ("th", "", ".", ",", 1),
    ("ms", "", ".", ",", 1),
];

/// `de-de`, `de_DE`, `de_DE.UTF-8` → (`de`, `DE`).
fn split_locale(locale: &str) -> (String, String) {
    let base = locale.trim().split(['.', '@']).next().unwrap_or("");
    let mut parts = base.split(['_', '-']);
    let language = parts.next().unwrap_or("").to_ascii_lowercase();
    let region = parts
        .find(|p| p.len() == 2 || (p.len() == 3 && p.chars().all(|c| c.is_ascii_digit())))
        .unwrap_or("")
        .to_ascii_uppercase();
    (language, region)
}

impl NumberFormat {
    /// The rules for a Pipedrive locale (`users/me` → `locale`); English when unknown or absent.
    pub fn for_locale(locale: Option<&str>) -> NumberFormat {
        let (language, region) = split_locale(locale.unwrap_or(""));
        let rule = RULES
            .iter()
            .find(|r| r.0 == language && !r.1.is_empty() && r.1 == region)
            .or_else(|| RULES.iter().find(|r| r.0 == language && r.1.is_empty()));
        match rule {
            Some(&(_, _, decimal, group, min)) => NumberFormat {
                locale: if region.is_empty() {
                    language
                } else {
                    format!("{language}_{region}")
                },
                decimal: decimal.to_string(),
                group: group.to_string(),
                min_grouping_digits: min,
            },
            None => NumberFormat::english(),
        }
    }

    /// `1,234.50` (what the app wrote before it knew the user's locale).
    pub fn english() -> NumberFormat {
        NumberFormat {
            locale: "en_US".into(),
            decimal: ".".into(),
            group: ",".into(),
            min_grouping_digits: 1,
        }
    }

    /// The amount with 2 decimals, rounded half away from zero: `1.234,50`.
    pub fn amount(&self, amount: Decimal) -> String {
        let rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        let negative = rounded.is_sign_negative() && !rounded.is_zero();
        let text = format!("{:.2}", rounded.abs());
        let (int, frac) = text.split_once('.').unwrap_or((text.as_str(), "00"));
        let digits: Vec<char> = int.chars().collect();
        let group = digits.len() >= 3 + usize::from(self.min_grouping_digits.max(1));
        let mut out = String::with_capacity(text.len() + 8);
        if negative {
            out.push('-');
        }
        for (i, c) in digits.iter().enumerate() {
            if group && i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push_str(&self.group);
            }
            out.push(*c);
        }
        out.push_str(&self.decimal);
        out.push_str(frac);
        out
    }

    /// The amount and its currency: `1.234,50 EUR`.
    pub fn money(&self, amount: Decimal, currency: &str) -> String {
        let code = currency.trim();
        if code.is_empty() {
            self.amount(amount)
        } else {
            format!("{} {code}", self.amount(amount))
        }
    }
}

impl Default for NumberFormat {
    fn default() -> Self {
        NumberFormat::english()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn money(locale: &str, amount: Decimal) -> String {
        NumberFormat::for_locale(Some(locale)).money(amount, "EUR")
    }

    #[test]
    fn each_locale_writes_its_own_separators() {
        assert_eq!(money("en_US", dec!(3974.25)), "3,974.25 EUR");
        assert_eq!(money("de_DE", dec!(3974.25)), "3.974,25 EUR");
        assert_eq!(money("de_CH", dec!(1234567.8)), "1’234’567.80 EUR");
        assert_eq!(money("fr_FR", dec!(1234.5)), "1\u{202f}234,50 EUR");
        assert_eq!(money("et_EE", dec!(123456.5)), "123\u{a0}456,50 EUR");
        assert_eq!(money("pt_PT", dec!(7948.5)), "7948,50 EUR");
        assert_eq!(money("pt_BR", dec!(7948.5)), "7.948,50 EUR");
        assert_eq!(money("es_ES", dec!(1234)), "1234,00 EUR");
        assert_eq!(money("es_ES", dec!(12345)), "12.345,00 EUR");
        assert_eq!(money("es_MX", dec!(1234)), "1,234.00 EUR");
    }

    #[test]
    fn rounding_signs_and_unknown_locales() {
        let en = NumberFormat::english();
        assert_eq!(en.amount(dec!(0.005)), "0.01");
        assert_eq!(en.amount(dec!(-0.005)), "-0.01");
        assert_eq!(en.amount(dec!(-1000)), "-1,000.00");
        assert_eq!(en.amount(dec!(-0.001)), "0.00");
        assert_eq!(en.amount(dec!(999)), "999.00");
        assert_eq!(en.money(dec!(5), ""), "5.00");
        for unknown in [None, Some(""), Some("xx_YY"), Some("klingon")] {
            assert_eq!(NumberFormat::for_locale(unknown), NumberFormat::english());
        }
        // The spellings Pipedrive and browsers use all resolve.
        for spelling in ["de_DE", "de-DE", "de_de", "de_DE.UTF-8", "de"] {
            assert_eq!(NumberFormat::for_locale(Some(spelling)).decimal, ",");
        }
        assert_eq!(NumberFormat::for_locale(Some("es_419")).decimal, ".");
    }
}
