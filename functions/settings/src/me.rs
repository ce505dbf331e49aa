//! `GET /api/me`: who the caller is and how the money they read is written (their Pipedrive
//! locale's [`NumberFormat`]). The pages load it once and format every amount with it, as the API
//! formats the amounts in its sentences.
//!
//! The locale is what Pipedrive's `users/me` answers (`data.locale`): read at install and kept in
//! the install record. When the record has none (installed before the app kept it) or it was read
//! more than [`LOCALE_MAX_AGE_HOURS`] ago, it is read again here (2 Pipedrive API tokens, at most
//! once a day per user); if Pipedrive does not answer, the stored one (or English) is used.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use shared::app::App;
use shared::app::access::require_install;
use shared::domain::money::NumberFormat;
use shared::domain::{UserInstall, UserLocale};
use shared::web::auth::Tenant;
use shared::web::error::ApiError;

use crate::SettingsState;

/// How long a locale read from `users/me` is trusted.
pub const LOCALE_MAX_AGE_HOURS: i64 = 24;

/// The answer of `GET /api/me`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Me {
    pub company_id: u64,
    pub user_id: u64,
    pub name: Option<String>,
    pub is_admin: bool,
    /// The Pipedrive locale (`de_DE`), `null` when Pipedrive has not told us.
    pub locale: Option<String>,
    /// How to write amounts for this user (decimal mark, group separator, grouping rule).
    pub number_format: NumberFormat,
}

/// Whether the stored locale should be read again from Pipedrive.
pub fn locale_is_stale(stored: Option<&UserLocale>, now: DateTime<Utc>) -> bool {
    stored.is_none_or(|l| now - l.read_at > Duration::hours(LOCALE_MAX_AGE_HOURS))
}

pub async fn me(State(state): State<SettingsState>, tenant: Tenant) -> Result<Json<Me>, ApiError> {
    let app = &state.app;
    let (_, mut install) = require_install(&app.records, tenant).await?;
    let now = app.tokens.now();
    if locale_is_stale(install.locale.as_ref(), now)
        && let Some(locale) = read_locale(app, tenant).await
    {
        install.locale = Some(UserLocale {
            locale,
            read_at: now,
        });
        remember(app, &install).await;
    }
    let locale = install.locale.as_ref().map(|l| l.locale.clone());
    Ok(Json(Me {
        company_id: tenant.company_id.0,
        user_id: tenant.user_id.0,
        name: install.name.clone(),
        is_admin: install.is_admin,
        number_format: NumberFormat::for_locale(locale.as_deref()),
        locale,
    }))
}

/// `users/me` → `locale` with the caller's Pipedrive token; `None` (logged) when it fails.
async fn read_locale(app: &App, tenant: Tenant) -> Option<String> {
    let answer = app.pipedrive_of(tenant).users_me().await;
    match answer {
        Ok(me) => me.locale.filter(|l| !l.trim().is_empty()),
        Err(error) => {
            tracing::warn!(%error, "the user's Pipedrive locale could not be read");
            None
        }
    }
}

/// Stores the locale on the install as it is now (a reinstall meanwhile wins).
async fn remember(app: &App, install: &UserInstall) {
    let current = app
        .records
        .get_user_install(install.company_id, install.user_id)
        .await;
    let Ok(Some(mut current)) = current else {
        return;
    };
    current.locale = install.locale.clone();
    if let Err(error) = app.records.put_user_install(&current).await {
        tracing::warn!(%error, "the user's locale could not be stored");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locale_is_read_again_when_missing_or_a_day_old() {
        let now = Utc::now();
        let read = |hours| UserLocale {
            locale: "de_DE".into(),
            read_at: now - Duration::hours(hours),
        };
        assert!(locale_is_stale(None, now));
        assert!(!locale_is_stale(Some(&read(1)), now));
        assert!(locale_is_stale(Some(&read(25)), now));
    }
}
