//! `GET /api/quickbooks/exchange-rate?from=GBP&to=USD&date=YYYY-MM-DD`: the rate the create form
//! shows (and the rep confirms or edits) before it converts the deal's prices to another invoice
//! currency.
//!
//! QuickBooks keeps one rate per currency and date into the company's home currency (the
//! `ExchangeRate` entity, multi-currency companies only). The rate between two currencies is
//! their quotient ([`cross_rate`]); the home currency's own rate is 1, so a conversion from or to
//! the home currency costs one QuickBooks call, between two foreign currencies two (in
//! parallel). A company without multi-currency has no rates: the answer has `rate: null` and a
//! sentence, and the rep types the rate.

use axum::Json;
use axum::extract::State;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::app::App;
use shared::app::tokens::CallError;
use shared::clients::quickbooks::QuickBooksError;
use shared::domain::conversion::{RateSource, cross_rate};
use shared::domain::draft::CompanySetup;
use shared::domain::links::today_in;
use shared::web::error::{ApiError, FieldError};
use shared::web::http::QueryParams;

use shared::web::auth::Tenant;

use crate::context::{Caller, caller, company_setup, qb_error};

#[derive(Debug, Deserialize)]
pub struct RateParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub date: Option<String>,
}

/// The answer: the rate to show, or why there is none.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RateAnswer {
    pub from: String,
    pub to: String,
    /// Units of `to` for one unit of `from`; `null` when QuickBooks has none (type one).
    pub rate: Option<Decimal>,
    pub as_of: NaiveDate,
    pub source: Option<RateSource>,
    /// Why there is no rate.
    pub note: Option<String>,
}

fn currency_param(raw: Option<&str>, field: &str) -> Result<String, FieldError> {
    let code = raw.unwrap_or("").trim().to_ascii_uppercase();
    if code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(FieldError::new(
            field,
            "Give a currency code such as EUR or USD.",
        ))
    }
}

fn date_param(raw: Option<&str>, today: NaiveDate) -> Result<NaiveDate, FieldError> {
    match raw.map(str::trim).filter(|d| !d.is_empty()) {
        None => Ok(today),
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| FieldError::new("date", "Give the date as YYYY-MM-DD.")),
    }
}

/// Why a company cannot answer a rate between `from` and `to` without a QuickBooks call.
pub fn no_rate_reason(setup: &CompanySetup, from: &str, to: &str) -> Option<String> {
    if from == to {
        return None;
    }
    if !setup.multi_currency {
        return Some(format!(
            "Your QuickBooks company works only in {} (multi-currency is off), so QuickBooks has no exchange rate from {from} to {to}. Type the rate to use.",
            setup.home_currency
        ));
    }
    None
}

pub async fn exchange_rate(
    State(app): State<App>,
    tenant: Tenant,
    QueryParams(params): QueryParams<RateParams>,
) -> Result<Json<RateAnswer>, ApiError> {
    let caller = caller(&app, tenant).await?;
    let today = today_in(&caller.profile.time_zone, app.clock.now());
    let from = currency_param(params.from.as_deref(), "from");
    let to = currency_param(params.to.as_deref(), "to");
    let date = date_param(params.date.as_deref(), today);
    let (from, to, as_of) = match (from, to, date) {
        (Ok(f), Ok(t), Ok(d)) => (f, t, d),
        (f, t, d) => {
            let errors = [f.err(), t.err(), d.err()].into_iter().flatten().collect();
            return Err(ApiError::unprocessable(errors));
        }
    };
    let setup = company_setup(&app, &caller).await?;
    let answer = |rate: Option<Decimal>, source: Option<RateSource>, note: Option<String>| {
        Json(RateAnswer {
            from: from.clone(),
            to: to.clone(),
            rate,
            as_of,
            source,
            note,
        })
    };
    if from == to {
        return Ok(answer(Some(Decimal::ONE), None, None));
    }
    if let Some(note) = no_rate_reason(&setup, &from, &to) {
        return Ok(answer(None, None, Some(note)));
    }
    let (from_rate, to_rate) = futures::join!(
        home_rate(&app, &caller, &setup, &from, as_of),
        home_rate(&app, &caller, &setup, &to, as_of)
    );
    match (from_rate?, to_rate?) {
        (Some(f), Some(t)) => match cross_rate(f, t) {
            Some(rate) => Ok(answer(Some(rate), Some(RateSource::Quickbooks), None)),
            None => Ok(answer(
                None,
                None,
                Some(
                    "QuickBooks' rate for one of the currencies is 0. Type the rate to use.".into(),
                ),
            )),
        },
        (f, _) => {
            let missing = if f.is_none() { &from } else { &to };
            Ok(answer(
                None,
                None,
                Some(format!(
                    "QuickBooks has no exchange rate for {missing} on {as_of} (is it in your QuickBooks currency list?). Type the rate to use."
                )),
            ))
        }
    }
}

/// QuickBooks' rate of `currency` into the home currency (1 for the home currency); `None` when
/// QuickBooks has none (610).
async fn home_rate(
    app: &App,
    caller: &Caller,
    setup: &CompanySetup,
    currency: &str,
    as_of: NaiveDate,
) -> Result<Option<Decimal>, ApiError> {
    if currency == setup.home_currency {
        return Ok(Some(Decimal::ONE));
    }
    let read = app
        .quickbooks_of(&caller.profile)
        .exchange_rate(currency, Some(as_of))
        .await;
    match read {
        Ok(rate) => Ok(rate.rate),
        Err(CallError::Call(QuickBooksError::Fault { fault, .. })) if fault.has_code("610") => {
            Ok(None)
        }
        Err(e) => Err(qb_error(e, "reading the exchange rate")),
    }
}
