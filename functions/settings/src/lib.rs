//! The `settings` function: the caller's company settings.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/settings` | the settings (defaults until an admin saves) and their version |
//! | `PUT /api/settings` | save, if nobody saved since `version` was read (else 409 with the current ones) |

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use shared::access::{require_admin, require_install};
use shared::app::App;
use shared::domain::{DueDateRule, Settings, Tenant};
use shared::error::{ApiError, FieldError};
use shared::http::{JsonBody, Route};
use shared::store::StoreError;

/// Every route this function serves (checked against template.yaml and the OpenAPI description).
pub const ROUTES: &[Route] = &[
    Route::new("GET", "/api/settings"),
    Route::new("PUT", "/api/settings"),
];

/// The routes of this function (the Lambda binary and the local server both mount this).
pub fn router(app: App) -> Router {
    Router::new()
        .route("/api/settings", get(read_settings).put(save_settings))
        .with_state(app)
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SettingsDocument {
    pub settings: Settings,
    /// Pass back when saving; a save from an older version is refused.
    pub version: u64,
}

async fn read_settings(
    State(app): State<App>,
    tenant: Tenant,
) -> Result<Json<SettingsDocument>, ApiError> {
    let (profile, _) = require_install(&app.records, tenant).await?;
    Ok(Json(SettingsDocument {
        settings: profile.settings,
        version: profile.version,
    }))
}

async fn save_settings(
    State(app): State<App>,
    tenant: Tenant,
    JsonBody(body): JsonBody<SettingsDocument>,
) -> Result<Json<SettingsDocument>, ApiError> {
    let (mut profile, _) = require_admin(&app.records, tenant).await?;
    let errors = validate(&body.settings);
    if !errors.is_empty() {
        return Err(ApiError::unprocessable(errors));
    }
    if body.version != profile.version {
        return Err(conflict(&profile.settings, profile.version));
    }
    profile.settings = body.settings;
    match app.records.save_company(&profile).await {
        Ok(saved) => Ok(Json(SettingsDocument {
            settings: saved.settings,
            version: saved.version,
        })),
        Err(StoreError::Conflict { .. }) => {
            let current = app
                .records
                .get_company(tenant.company_id)
                .await?
                .ok_or_else(|| ApiError::internal("company vanished during a save"))?;
            Err(conflict(&current.settings, current.version))
        }
        Err(other) => Err(other.into()),
    }
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
            "must be between 0 and 365",
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
                "must name a Pipedrive field",
            ));
        }
    }
    errors
}
