//! What the create form needs to know about the connected QuickBooks company — home currency,
//! multi-currency and its currencies, tax model and codes, terms, custom numbering — read in ONE
//! round of parallel calls.

use serde::Serialize;

use crate::App;
use crate::tokens::CallError;
use clients::quickbooks::QuickBooksError;
use domain::CompanyProfile;
use quickbooks_wire::model::{CompanyCurrency, TaxCode, Term};
use quickbooks_wire::query::Query;
use web::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaxCodeChoice {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A group of rates (US sales-tax "rate groups" used as the transaction tax code).
    pub group: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TermChoice {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_days: Option<i64>,
}

/// The invoice custom fields QuickBooks lets a company define (up to three string fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomFieldChoice {
    pub definition_id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompanyReference {
    pub company_name: Option<String>,
    /// As QuickBooks reports it (ISO-2 or, since 2025, ISO-3).
    pub country: Option<String>,
    /// US companies use TAX/NON line codes and a transaction tax code; everyone else a tax code
    /// per line and `GlobalTaxCalculation`.
    pub us_tax_model: bool,
    /// QuickBooks computes tax itself (Automated Sales Tax); tax codes are not chosen by hand.
    pub automated_sales_tax: bool,
    pub home_currency: Option<String>,
    pub multi_currency: bool,
    /// Active currencies (the home currency alone when multi-currency is off).
    pub currencies: Vec<String>,
    pub tax_codes: Vec<TaxCodeChoice>,
    pub terms: Vec<TermChoice>,
    pub default_term_id: Option<String>,
    /// `DocNumber` may be set by us (custom transaction numbers are on).
    pub custom_txn_numbers: bool,
    pub custom_fields: Vec<CustomFieldChoice>,
}

/// True for the United States, however QuickBooks spells it.
pub fn is_us(country: Option<&str>) -> bool {
    matches!(
        country.map(|c| c.trim().to_ascii_uppercase()).as_deref(),
        Some("US" | "USA" | "UNITED STATES")
    )
}

fn tax_codes(codes: Vec<TaxCode>) -> Vec<TaxCodeChoice> {
    codes
        .into_iter()
        .filter(|c| c.active != Some(false) && c.hidden != Some(true))
        .filter_map(|c| {
            Some(TaxCodeChoice {
                id: c.id?,
                name: c.name.unwrap_or_default(),
                description: c.description,
                group: c.tax_group.unwrap_or(false),
            })
        })
        .collect()
}

fn terms(terms: Vec<Term>) -> Vec<TermChoice> {
    terms
        .into_iter()
        .filter(|t| t.active != Some(false))
        .filter_map(|t| {
            Some(TermChoice {
                id: t.id?,
                name: t.name.unwrap_or_default(),
                due_days: t.due_days,
            })
        })
        .collect()
}

fn custom_fields(raw: Option<&serde_json::Value>) -> Vec<CustomFieldChoice> {
    // `SalesFormsPrefs.CustomField` is a list of groups of `{Name, Type, StringValue}`; the
    // `SalesFormsPrefs.UseSalesCustomN` booleans say which are on and `SalesCustomNameN` their
    // names. Read what is there, tolerating both shapes.
    let mut out = Vec::new();
    let Some(groups) = raw.and_then(|v| v.as_array()) else {
        return out;
    };
    let entries = groups.iter().flat_map(|g| {
        g.get("CustomField")
            .and_then(|c| c.as_array())
            .cloned()
            .unwrap_or_default()
    });
    let mut enabled = std::collections::BTreeMap::new();
    let mut names = std::collections::BTreeMap::new();
    for entry in entries {
        let name = entry.get("Name").and_then(|n| n.as_str()).unwrap_or("");
        if let Some(n) = name.strip_prefix("SalesFormsPrefs.UseSalesCustom") {
            enabled.insert(
                n.to_string(),
                entry
                    .get("BooleanValue")
                    .and_then(|b| b.as_bool())
                    .unwrap_or(false),
            );
        } else if let Some(n) = name.strip_prefix("SalesFormsPrefs.SalesCustomName")
            && let Some(value) = entry.get("StringValue").and_then(|s| s.as_str())
        {
            names.insert(n.to_string(), value.to_string());
        }
    }
    for (n, on) in enabled {
        if on && let Some(name) = names.get(&n) {
            out.push(CustomFieldChoice {
                definition_id: n,
                name: name.clone(),
            });
        }
    }
    out
}

/// Reads everything at once: preferences, company info, tax codes, terms, currencies.
pub async fn load(app: &App, profile: &CompanyProfile) -> Result<CompanyReference, ApiError> {
    let quickbooks = app.quickbooks_of(profile);
    let codes = Query::select("TaxCode").max_results(1000);
    let term_list = Query::select("Term").max_results(1000);
    let currency_list = Query::select("CompanyCurrency").max_results(1000);
    let (preferences, info, codes, term_list, currency_list) = futures::join!(
        quickbooks.preferences(),
        quickbooks.company_info(),
        quickbooks.query(&codes),
        quickbooks.query(&term_list),
        quickbooks.query(&currency_list)
    );
    let preferences = preferences?;
    let info = info?;
    let codes = codes?;
    let term_list = term_list?;
    // Without multi-currency QuickBooks may refuse the CompanyCurrency query: no list then.
    let currency_list: Vec<CompanyCurrency> = match currency_list {
        Ok(response) => response.company_currency.unwrap_or_default(),
        Err(CallError::Call(QuickBooksError::Fault { .. })) => Vec::new(),
        Err(other) => return Err(other.into()),
    };
    let home = preferences.home_currency().map(str::to_string);
    let multi = preferences.multi_currency_enabled();
    let mut currencies: Vec<String> = home.iter().cloned().collect();
    if multi {
        for c in currency_list {
            if c.active != Some(false)
                && let Some(code) = c.code
                && !currencies.contains(&code)
            {
                currencies.push(code);
            }
        }
    }
    let sales_forms = preferences.sales_forms_prefs.as_ref();
    Ok(CompanyReference {
        us_tax_model: is_us(info.country.as_deref()),
        automated_sales_tax: preferences
            .tax_prefs
            .as_ref()
            .and_then(|t| t.partner_tax_enabled)
            .unwrap_or(false),
        company_name: info.company_name,
        country: info.country,
        home_currency: home,
        multi_currency: multi,
        currencies,
        tax_codes: tax_codes(codes.tax_code.unwrap_or_default()),
        terms: terms(term_list.term.unwrap_or_default()),
        default_term_id: sales_forms
            .and_then(|s| s.default_terms.as_ref())
            .map(|r| r.value.clone()),
        custom_txn_numbers: preferences.custom_txn_numbers(),
        custom_fields: custom_fields(sales_forms.and_then(|s| s.custom_field.as_ref())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_in_every_spelling() {
        for c in ["US", "USA", "us", "United States"] {
            assert!(is_us(Some(c)), "{c}");
        }
        for c in ["GB", "GBR", "CA", "AU", ""] {
            assert!(!is_us(Some(c)), "{c}");
        }
        assert!(!is_us(None));
    }

    #[test]
    fn only_active_visible_tax_codes() {
        let codes: Vec<TaxCode> = serde_json::from_value(serde_json::json!([
            {"Id": "1", "Name": "VAT 20%", "Active": true},
            {"Id": "2", "Name": "Old", "Active": false},
            {"Id": "3", "Name": "Hidden", "Active": true, "Hidden": true},
            {"Name": "No id"}
        ]))
        .unwrap();
        let ids: Vec<String> = tax_codes(codes).into_iter().map(|c| c.id).collect();
        assert_eq!(ids, vec!["1"]);
    }

    #[test]
    fn enabled_custom_fields_with_names() {
        let raw = serde_json::json!([{"CustomField": [
            {"Name": "SalesFormsPrefs.UseSalesCustom1", "Type": "BooleanType", "BooleanValue": true},
            {"Name": "SalesFormsPrefs.UseSalesCustom2", "Type": "BooleanType", "BooleanValue": false},
            {"Name": "SalesFormsPrefs.SalesCustomName1", "Type": "StringType", "StringValue": "Deal"},
            {"Name": "SalesFormsPrefs.SalesCustomName2", "Type": "StringType", "StringValue": "Off"}
        ]}]);
        let fields = custom_fields(Some(&raw));
        assert_eq!(
            fields,
            vec![CustomFieldChoice {
                definition_id: "1".into(),
                name: "Deal".into()
            }]
        );
        assert!(custom_fields(None).is_empty());
    }
}
