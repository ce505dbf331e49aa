//! What every handler of this function does first (who is calling, may they invoice, which
//! QuickBooks company), the company's QuickBooks setup (read in one parallel round, cached per
//! instance), and the mapping of QuickBooks faults to answers.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde_json::Value;
use shared::app::App;
use shared::app::access::{may_invoice, require_install};
use shared::app::tokens::{CallError, NOT_CONNECTED_DETAIL, quickbooks_api_error};
use shared::clients::quickbooks::{QuickBooksError, fault_message};
use shared::domain::draft::{CompanySetup, CustomFieldDef, TaxCodeInfo};
use shared::domain::money::NumberFormat;
use shared::domain::{CompanyProfile, UserInstall};
use shared::web::auth::Tenant;
use shared::web::error::{ApiError, FieldError, Refusal};
use shared::wire::quickbooks::model::{TaxCode, TaxRate};
use shared::wire::quickbooks::query::Query;

/// The caller, allowed to invoice, with a connected QuickBooks company.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: Tenant,
    pub profile: CompanyProfile,
    pub install: UserInstall,
    pub realm_id: String,
}

impl Caller {
    /// How the caller's amounts are written (their Pipedrive locale, `users/me`).
    pub fn number_format(&self) -> NumberFormat {
        NumberFormat::for_locale(self.install.locale.as_ref().map(|l| l.locale.as_str()))
    }
}

/// Checks the install, the access policy and the QuickBooks connection.
pub async fn caller(app: &App, tenant: Tenant) -> Result<Caller, ApiError> {
    let (profile, install) = require_install(&app.records, tenant).await?;
    may_invoice(&profile, tenant)?;
    let realm_id = match profile.connected_realm() {
        Some(realm) => realm.to_string(),
        None => {
            // Let the token manager word it (reconnect link for needs_reconnect).
            app.tokens.quickbooks_for(&profile).await?;
            return Err(ApiError::refused(
                Refusal::NotConnected,
                NOT_CONNECTED_DETAIL,
            ));
        }
    };
    Ok(Caller {
        tenant,
        profile,
        install,
        realm_id,
    })
}

/// A QuickBooks failure as an answer, naming what was being done; validation faults become 422
/// with QuickBooks' own message.
pub fn qb_error(error: CallError<QuickBooksError>, doing: &str) -> ApiError {
    match error {
        CallError::Token(failure) => failure.into(),
        CallError::Call(error) => quickbooks_error(error, doing),
    }
}

/// See [`qb_error`].
pub fn quickbooks_error(error: QuickBooksError, doing: &str) -> ApiError {
    match &error {
        QuickBooksError::Fault { status, fault, .. } if *status < 500 && *status != 429 => {
            let message = fault_message(fault);
            let code = fault.code().to_string();
            let hint = match code.as_str() {
                "6000" => {
                    " Check the tax codes, currency and customer in QuickBooks, or change the invoice."
                }
                "6140" => " Choose another invoice number.",
                "610" | "2500" => {
                    " An item, tax code or customer it refers to was deleted or made inactive in QuickBooks; choose another."
                }
                "6240" => " Another customer, vendor or employee already has that name.",
                "6190" => " The QuickBooks subscription of the company is not active.",
                "6210" => {
                    " The invoice date is in a closed accounting period; choose a later date."
                }
                _ => "",
            };
            let field = match code.as_str() {
                "6140" => "doc_number",
                "6210" => "txn_date",
                _ => "quickbooks",
            };
            ApiError::Unprocessable {
                detail: format!("QuickBooks refused {doing} (error {code}): {message}.{hint}"),
                errors: vec![FieldError::new(field, format!("{message}{hint}"))],
            }
        }
        _ => quickbooks_api_error(error, doing),
    }
}

/// A QuickBooks answer that says for sure that nothing was created (a validation fault).
pub fn is_definitive(error: &CallError<QuickBooksError>) -> bool {
    matches!(
        error,
        CallError::Call(QuickBooksError::Fault { status, .. }) if *status < 500 && *status != 429
    )
}

// ----- company setup -----

/// How long an instance reuses a company's setup (currency and tax settings change rarely;
/// QuickBooks re-checks everything on create anyway).
pub const SETUP_TTL: Duration = Duration::from_secs(300);

type SetupKey = (String, String);
static SETUP_CACHE: LazyLock<Mutex<HashMap<SetupKey, (Instant, CompanySetup)>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn setup_key(app: &App, realm: &str) -> SetupKey {
    (
        app.quickbooks.endpoints().api_base.clone(),
        realm.to_string(),
    )
}

/// Forgets the cached setup of a realm (after QuickBooks disagreed with it).
pub fn forget_setup(app: &App, realm: &str) {
    let mut cache = SETUP_CACHE.lock().unwrap_or_else(|p| p.into_inner());
    cache.remove(&setup_key(app, realm));
}

/// Puts a company's setup in this instance's cache (warm-up, benchmarks and tests).
pub fn prime_setup(app: &App, realm: &str, setup: CompanySetup) {
    let mut cache = SETUP_CACHE.lock().unwrap_or_else(|p| p.into_inner());
    cache.insert(setup_key(app, realm), (Instant::now(), setup));
}

/// The company's setup: from this instance's cache, else one parallel round of QuickBooks reads.
pub async fn company_setup(app: &App, caller: &Caller) -> Result<CompanySetup, ApiError> {
    let key = setup_key(app, &caller.realm_id);
    {
        let cache = SETUP_CACHE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, setup)) = cache.get(&key)
            && at.elapsed() < SETUP_TTL
        {
            return Ok(setup.clone());
        }
    }
    let setup = fetch_setup(app, caller).await?;
    let mut cache = SETUP_CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() > 4096 {
        cache.retain(|_, (at, _)| at.elapsed() < SETUP_TTL);
    }
    cache.insert(key, (Instant::now(), setup.clone()));
    Ok(setup)
}

async fn fetch_setup(app: &App, caller: &Caller) -> Result<CompanySetup, ApiError> {
    let quickbooks = app.quickbooks_of(&caller.profile);
    let prefs = quickbooks.preferences();
    let info = quickbooks.company_info();
    let codes_q = Query::select("TaxCode").max_results(1000);
    let rates_q = Query::select("TaxRate").max_results(1000);
    let currencies_q = Query::select("CompanyCurrency").max_results(1000);
    let (prefs, info, codes, rates, currencies) = futures::join!(
        prefs,
        info,
        quickbooks.query(&codes_q),
        quickbooks.query(&rates_q),
        quickbooks.query(&currencies_q),
    );
    let doing = "reading the company's settings";
    let prefs = prefs.map_err(|e| qb_error(e, doing))?;
    let info = info.map_err(|e| qb_error(e, doing))?;
    let codes = codes.map_err(|e| qb_error(e, doing))?;
    let rates = rates.map_err(|e| qb_error(e, doing))?;
    // Companies without multi-currency may refuse the currency query: no extra currencies then.
    let currencies = currencies.unwrap_or_default();

    let tax_codes = tax_codes(
        codes.tax_code.unwrap_or_default(),
        rates.tax_rate.unwrap_or_default(),
    );
    let home = prefs.home_currency().unwrap_or("USD").to_string();
    let multi = prefs.multi_currency_enabled();
    let custom_fields = prefs
        .sales_forms_prefs
        .as_ref()
        .and_then(|s| s.custom_field.as_ref())
        .map(custom_field_defs)
        .unwrap_or_default();
    // `Country` is ISO-2, or ISO-3 since late 2025.
    let us = matches!(info.country.as_deref().map(str::trim), Some("US" | "USA"));
    Ok(CompanySetup {
        us,
        automated_sales_tax: us
            && prefs
                .tax_prefs
                .as_ref()
                .and_then(|t| t.partner_tax_enabled)
                .unwrap_or(false),
        home_currency: home.clone(),
        multi_currency: multi,
        currencies: currencies
            .company_currency
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.active != Some(false))
            .filter_map(|c| c.code)
            .filter(|c| *c != home)
            .collect(),
        tax_codes,
        default_txn_tax_code: prefs
            .tax_prefs
            .as_ref()
            .and_then(|t| t.tax_group_code_ref.as_ref())
            .map(|r| r.value.clone()),
        custom_txn_numbers: prefs.custom_txn_numbers(),
        custom_fields,
    })
}

/// Each tax code with its sales rates' percentages (a code is inactive when hidden).
fn tax_codes(codes: Vec<TaxCode>, rates: Vec<TaxRate>) -> Vec<TaxCodeInfo> {
    let rate_of: HashMap<String, Decimal> = rates
        .into_iter()
        .filter_map(|r| Some((r.id?, r.rate_value.unwrap_or_default())))
        .collect();
    codes
        .into_iter()
        .filter_map(|c| {
            let id = c.id?;
            let rates = c
                .sales_tax_rate_list
                .iter()
                .flat_map(|l| l.tax_rate_detail.iter())
                .filter_map(|d| d.tax_rate_ref.as_ref())
                .filter_map(|r| rate_of.get(&r.value).copied())
                .collect();
            Some(TaxCodeInfo {
                name: c.name.unwrap_or_else(|| id.clone()),
                id,
                rates,
                group: c.tax_group.unwrap_or(false),
                active: c.active.unwrap_or(true) && c.hidden != Some(true),
            })
        })
        .collect()
}

/// The enabled sales-form custom fields from `Preferences.SalesFormsPrefs.CustomField`
/// (`UseSalesCustomN` true, named by `SalesCustomNameN`).
pub fn custom_field_defs(value: &Value) -> Vec<CustomFieldDef> {
    let mut flags: HashMap<String, bool> = HashMap::new();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut visit = |entry: &Value| {
        let name = entry.get("Name").and_then(Value::as_str).unwrap_or("");
        if let Some(n) = name.strip_prefix("SalesFormsPrefs.UseSalesCustom") {
            flags.insert(
                n.to_string(),
                entry
                    .get("BooleanValue")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            );
        } else if let Some(n) = name.strip_prefix("SalesFormsPrefs.SalesCustomName")
            && let Some(v) = entry.get("StringValue").and_then(Value::as_str)
        {
            names.insert(n.to_string(), v.to_string());
        }
    };
    let groups: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    for group in groups {
        match group.get("CustomField") {
            Some(Value::Array(entries)) => entries.iter().for_each(&mut visit),
            _ => visit(group),
        }
    }
    let mut defs: Vec<CustomFieldDef> = flags
        .into_iter()
        .filter(|(_, on)| *on)
        .filter_map(|(n, _)| {
            names.get(&n).map(|name| CustomFieldDef {
                definition_id: n.clone(),
                name: name.clone(),
            })
        })
        .collect();
    defs.sort_by(|a, b| a.definition_id.cmp(&b.definition_id));
    defs
}

/// A Pipedrive read that failed while `doing` something, as the answer says it.
pub(crate) fn pd_error(
    error: shared::app::tokens::CallError<shared::clients::pipedrive::PipedriveError>,
    doing: &str,
) -> ApiError {
    match error {
        shared::app::tokens::CallError::Token(f) => f.into(),
        shared::app::tokens::CallError::Call(e) => {
            shared::app::tokens::pipedrive_api_error(e, doing)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enabled_custom_fields_are_read_from_the_preferences() {
        let prefs = json!([{"CustomField": [
            {"Name": "SalesFormsPrefs.UseSalesCustom1", "Type": "BooleanType", "BooleanValue": true},
            {"Name": "SalesFormsPrefs.SalesCustomName1", "Type": "StringType", "StringValue": "Crew #"},
            {"Name": "SalesFormsPrefs.UseSalesCustom2", "Type": "BooleanType", "BooleanValue": false},
            {"Name": "SalesFormsPrefs.SalesCustomName2", "Type": "StringType", "StringValue": "Unused"}
        ]}]);
        assert_eq!(
            custom_field_defs(&prefs),
            vec![CustomFieldDef {
                definition_id: "1".into(),
                name: "Crew #".into()
            }]
        );
        assert!(custom_field_defs(&json!({})).is_empty());
    }
}
