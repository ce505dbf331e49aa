//! The `settings` function: the caller's company settings, the Pipedrive fields they can point
//! at, and what the connected QuickBooks company offers.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /api/settings` | installed users | the settings (defaults until an admin saves) and their version |
//! | `PUT /api/settings` | Pipedrive admins | save, checked against the company's real fields; refused with 409 (and the current settings) if someone saved since `version` |
//! | `GET /api/settings/fields` | installed users | the company's deal, organisation and person fields (standard and custom), with the slots each can fill, and the pipelines with their stages (for the rules); `?fresh=true` skips the one-minute cache |
//! | `GET /api/quickbooks/reference` | installed users | home currency, multi-currency and currencies, tax model and codes, terms, custom numbering, custom fields — one round of parallel QuickBooks calls |
//! | `GET /api/me` | installed users | who the caller is and how their amounts are written (the Pipedrive locale's number format, [`me`]) |
//!
//! The settings include the invoicing rules and the field write-back to deal fields
//! ([`automation`]): checked against the company's pipelines, stages and deal fields when saved.
//! The write-back is live; the rules are applied every 15 minutes by the `invoice-rules` binary
//! of the invoice-create package (`functions/invoice-create/src/rules/`); the settings page does
//! not offer them yet (they are saved through this route).

pub mod automation;
pub mod catalog;
pub mod input;
pub mod me;

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use shared::app::App;
use shared::app::access::{require_admin, require_install};
use shared::app::reference::{self, CompanyReference};
use shared::domain::{Clock, DueDateRule, Settings};
use shared::store::StoreError;
use shared::web::auth::JwtKeys;
use shared::web::auth::Tenant;
use shared::web::error::{ApiError, FieldError};
use shared::web::http::{JsonBody, QueryParams, Route};

use catalog::{Catalog, CatalogCache, check_mapping};

/// Every route this function serves (checked against template.yaml and the OpenAPI description).
pub const ROUTES: &[Route] = &[
    Route::new("GET", "/api/settings"),
    Route::new("PUT", "/api/settings"),
    Route::new("GET", "/api/settings/fields"),
    Route::new("GET", "/api/quickbooks/reference"),
    Route::new("GET", "/api/me"),
];

/// The function's state: the app and the per-instance field-catalog cache.
#[derive(Clone)]
pub struct SettingsState {
    pub app: App,
    pub catalogs: Arc<CatalogCache>,
}

impl FromRef<SettingsState> for JwtKeys {
    fn from_ref(state: &SettingsState) -> JwtKeys {
        state.app.jwt.clone()
    }
}

impl FromRef<SettingsState> for Clock {
    fn from_ref(state: &SettingsState) -> Clock {
        state.app.clock.clone()
    }
}

/// The routes of this function (the Lambda binary and the local server both mount this).
pub fn router(app: App) -> Router {
    Router::new()
        .route("/api/settings", get(read_settings).put(save_settings))
        .route("/api/settings/fields", get(read_fields))
        .route("/api/quickbooks/reference", get(read_reference))
        .route("/api/me", get(me::me))
        .with_state(SettingsState {
            app,
            catalogs: Arc::new(CatalogCache::default()),
        })
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SettingsDocument {
    pub settings: Settings,
    /// Pass back when saving; a save from an older version is refused.
    pub version: u64,
}

async fn read_settings(
    State(state): State<SettingsState>,
    tenant: Tenant,
) -> Result<Json<SettingsDocument>, ApiError> {
    let (profile, _) = require_install(&state.app.records, tenant).await?;
    Ok(Json(SettingsDocument {
        settings: profile.settings,
        version: profile.settings_version,
    }))
}

async fn save_settings(
    State(state): State<SettingsState>,
    tenant: Tenant,
    JsonBody(raw): JsonBody<serde_json::Value>,
) -> Result<Json<SettingsDocument>, ApiError> {
    let app = &state.app;
    let (mut profile, _) = require_admin(&app.records, tenant).await?;
    let body = input::read_document(raw)?;
    let errors = validate(&body.settings);
    if !errors.is_empty() {
        return Err(ApiError::unprocessable(errors));
    }
    if body.version != profile.settings_version {
        return Err(conflict(&profile.settings, profile.settings_version));
    }
    let mut catalog = state.catalogs.get(app, tenant, false).await?;
    if !catalog.knows_all(&body.settings) {
        catalog = state.catalogs.get(app, tenant, true).await?;
    }
    let errors = check_mapping(&body.settings.mapping, &catalog);
    if !errors.is_empty() {
        return Err(ApiError::unprocessable(errors));
    }
    let mut body = body;
    automation::complete(app, tenant, &profile.settings, &mut body.settings, &catalog).await?;
    // The record may also change for other reasons (a QuickBooks connection, the sync's
    // watermark): retry those; refuse only a settings save made by someone else meanwhile.
    for _ in 0..5 {
        profile.settings = body.settings.clone();
        profile.settings_version = body.version + 1;
        match app.records.save_company(&profile).await {
            Ok(saved) => {
                return Ok(Json(SettingsDocument {
                    settings: saved.settings,
                    version: saved.settings_version,
                }));
            }
            Err(StoreError::Conflict { .. }) => {
                let current = app
                    .records
                    .get_company(tenant.company_id)
                    .await?
                    .ok_or_else(|| ApiError::internal("company vanished during a save"))?;
                if current.settings_version != body.version {
                    return Err(conflict(&current.settings, current.settings_version));
                }
                profile = current;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Upstream {
        detail: "The company record kept changing while saving; try again.".into(),
        retryable: true,
        intuit_tid: None,
    })
}

fn conflict(current: &Settings, version: u64) -> ApiError {
    ApiError::Conflict {
        detail: "Someone else saved the settings since you opened them. Review the current settings and save again.".into(),
        current: serde_json::to_value(SettingsDocument {
            settings: current.clone(),
            version,
        })
        .ok(),
    }
}

/// Checks what can be checked without Pipedrive; every problem is reported at once.
pub fn validate(settings: &Settings) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let DueDateRule::DaysAfterIssue { days } = settings.due_date
        && days > 365
    {
        errors.push(FieldError::new(
            "settings.due_date.days",
            input::DAYS_SENTENCE,
        ));
    }
    if settings.estimate_expiry_days.is_some_and(|days| days > 365) {
        errors.push(FieldError::new(
            "settings.estimate_expiry_days",
            "An estimate expires 0 to 365 days after its date.",
        ));
    }
    let mapping = &settings.mapping;
    let slots = [
        ("settings.mapping.to", Some(&mapping.to)),
        ("settings.mapping.address", mapping.address.as_ref()),
        ("settings.mapping.email", mapping.email.as_ref()),
        ("settings.mapping.tax_id", mapping.tax_id.as_ref()),
    ];
    for (field, slot) in slots {
        if let Some(f) = slot
            && (f.key.trim().is_empty() || f.key.len() > 64)
        {
            errors.push(FieldError::new(
                format!("{field}.key"),
                "Choose a Pipedrive field for this slot.",
            ));
        }
    }
    errors
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldsQuery {
    #[serde(default)]
    fresh: bool,
}

async fn read_fields(
    State(state): State<SettingsState>,
    tenant: Tenant,
    QueryParams(query): QueryParams<FieldsQuery>,
) -> Result<Json<Catalog>, ApiError> {
    require_install(&state.app.records, tenant).await?;
    let catalog = state.catalogs.get(&state.app, tenant, query.fresh).await?;
    Ok(Json((*catalog).clone()))
}

async fn read_reference(
    State(state): State<SettingsState>,
    tenant: Tenant,
) -> Result<Json<CompanyReference>, ApiError> {
    let (profile, _) = require_install(&state.app.records, tenant).await?;
    Ok(Json(reference::load(&state.app, &profile).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_estimate_expires_within_a_year() {
        let mut settings = Settings::default();
        assert_eq!(settings.estimate_days(), 30);
        settings.estimate_expiry_days = Some(365);
        assert!(validate(&settings).is_empty());
        settings.estimate_expiry_days = Some(366);
        let errors = validate(&settings);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "settings.estimate_expiry_days");
    }
}
