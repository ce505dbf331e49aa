//! The company's QuickBooks connection as the settings page and the panel see it:
//! `GET /api/connection`, and `POST /api/quickbooks/disconnect`.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use shared::app::App;
use shared::app::access::require_install;
use shared::app::tokens::{CallError, TokenFailure};
use shared::domain::{
    CompanyProfile, ConnectionState, QuickBooksConnection, QuickBooksEnvironment, UserId,
};
use shared::web::auth::Tenant;
use shared::web::error::ApiError;
use shared::wire::quickbooks::model::CompanyInfo;

use crate::company::{revoke_quickbooks, save_connection, user_name};

/// A user, as the settings page shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub id: UserId,
    pub name: String,
}

/// The company's QuickBooks connection as the settings page and the panel show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionView {
    /// The connection's state; `None` (never connected) is written `not_connected`.
    #[serde(with = "shared::domain::state_or_not_connected")]
    pub state: Option<ConnectionState>,
    pub realm_id: Option<String>,
    pub company_name: Option<String>,
    pub country: Option<String>,
    pub connected_by: Option<UserRef>,
    pub connected_at: Option<DateTime<Utc>>,
    pub environment: Option<QuickBooksEnvironment>,
    pub reason: Option<String>,
    /// The QuickBooks company the invoice links point at (kept after a disconnect).
    pub linked_realm_id: Option<String>,
    /// Where to reconnect, when the state is `needs_reconnect` (the Pipedrive app settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect_url: Option<String>,
}

/// The view of `profile`'s connection; `connected_by` is the name of the user who connected.
/// QuickBooks' own facts (company name, country) are added by [`with_company`].
fn view_of(profile: &CompanyProfile, connected_by: Option<String>) -> ConnectionView {
    let connection = profile.quickbooks.as_ref();
    ConnectionView {
        state: connection.map(|c| c.state),
        realm_id: connection.map(|c| c.realm_id.clone()),
        company_name: None,
        country: None,
        connected_by: connection.zip(connected_by).map(|(c, name)| UserRef {
            id: c.connected_by,
            name,
        }),
        connected_at: connection.map(|c| c.connected_at),
        environment: connection.map(|c| c.environment),
        reason: connection.and_then(|c| c.reason.clone()),
        linked_realm_id: profile.linked_realm_id.clone(),
        reconnect_url: None,
    }
}

fn with_company(mut view: ConnectionView, info: CompanyInfo) -> ConnectionView {
    view.company_name = info.company_name.or(info.legal_name);
    view.country = info.country;
    view
}

async fn view(app: &App, profile: &CompanyProfile) -> ConnectionView {
    let connected_by = match &profile.quickbooks {
        Some(c) => Some(user_name(app, profile.company_id, c.connected_by).await),
        None => None,
    };
    view_of(profile, connected_by)
}

/// The status of the connection, always a 200: an active connection is checked with one cheap
/// QuickBooks call (the company's name and country), so a grant revoked in QuickBooks shows as
/// `needs_reconnect` at once (the token manager marks it when QuickBooks refuses the refresh);
/// one known to need reconnecting is answered with its reconnect link, without a call.
pub(crate) async fn connection(
    State(app): State<App>,
    tenant: Tenant,
) -> Result<Json<ConnectionView>, ApiError> {
    let (profile, _) = require_install(&app.records, tenant).await?;
    match check_of(&profile) {
        Check::Nothing => return Ok(Json(view(&app, &profile).await)),
        Check::Reconnect => {
            let url = app.tokens.reconnect_url(tenant.company_id, None).await;
            return Ok(Json(with_reconnect(view(&app, &profile).await, url)));
        }
        Check::AskQuickBooks => {}
    }
    match app.quickbooks_of(&profile).company_info().await {
        Ok(info) => Ok(Json(with_company(view(&app, &profile).await, info))),
        Err(CallError::Token(TokenFailure::QuickBooksReconnectRequired {
            reconnect_url, ..
        })) => {
            // Marked needs_reconnect (with its reason) on the way: answer what is stored now.
            let profile = app
                .records
                .get_company(tenant.company_id)
                .await?
                .unwrap_or(profile);
            Ok(Json(with_reconnect(
                view(&app, &profile).await,
                reconnect_url,
            )))
        }
        Err(other) => Err(other.into()),
    }
}

/// What the status answer needs besides the stored profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Never connected, or disconnected: the profile says it all.
    Nothing,
    /// Active: one QuickBooks call names the company and proves the grant still works.
    AskQuickBooks,
    /// Known to need reconnecting: the reconnect link, no call.
    Reconnect,
}

fn check_of(profile: &CompanyProfile) -> Check {
    match profile.quickbooks.as_ref().map(|c| c.state) {
        Some(ConnectionState::Connected) => Check::AskQuickBooks,
        Some(ConnectionState::NeedsReconnect) => Check::Reconnect,
        Some(ConnectionState::Disconnected) | None => Check::Nothing,
    }
}

/// The view of a connection that needs reconnecting, with where to do it.
fn with_reconnect(mut view: ConnectionView, url: String) -> ConnectionView {
    view.state = Some(ConnectionState::NeedsReconnect);
    view.reconnect_url = Some(url);
    view
}

/// What a disconnect request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disconnect {
    /// Nothing to disconnect (never connected, or already disconnected): answer the view.
    Nothing,
    /// Only a Pipedrive admin or the user who connected may disconnect.
    Forbidden,
    /// Revoke the grant, forget the tokens, mark the connection disconnected.
    Proceed,
}

fn plan_disconnect(
    connection: Option<&QuickBooksConnection>,
    is_admin: bool,
    caller: UserId,
) -> Disconnect {
    match connection {
        None => Disconnect::Nothing,
        Some(c) if !is_admin && c.connected_by != caller => Disconnect::Forbidden,
        Some(c) if c.state == ConnectionState::Disconnected => Disconnect::Nothing,
        Some(_) => Disconnect::Proceed,
    }
}

/// Why the connection is off, as the settings page shows it.
fn disconnected_reason(name: &str, at: DateTime<Utc>) -> String {
    format!(
        "Disconnected by {name} on {}",
        at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// The profile after a disconnect: the connection is kept, marked disconnected with its reason
/// (the invoice links stay).
fn mark_disconnected(profile: &mut CompanyProfile, reason: &str) {
    if let Some(c) = profile.quickbooks.as_mut() {
        c.state = ConnectionState::Disconnected;
        c.reason = Some(reason.to_string());
    }
}

pub(crate) async fn quickbooks_disconnect(
    State(app): State<App>,
    tenant: Tenant,
) -> Result<Json<ConnectionView>, ApiError> {
    let (profile, install) = require_install(&app.records, tenant).await?;
    match plan_disconnect(
        profile.quickbooks.as_ref(),
        install.is_admin,
        tenant.user_id,
    ) {
        Disconnect::Nothing => return Ok(Json(view(&app, &profile).await)),
        Disconnect::Forbidden => {
            return Err(ApiError::Forbidden(
                "Only a Pipedrive admin or the user who connected QuickBooks can disconnect it."
                    .into(),
            ));
        }
        Disconnect::Proceed => {}
    }
    let company = tenant.company_id;
    let removed = app
        .tokens
        .with_lease(company, |vault| async move {
            let before = vault.read_fresh(company).await?.quickbooks;
            vault.update(company, |s| s.quickbooks = None).await?;
            Ok(before)
        })
        .await?;
    if let Some(tokens) = &removed {
        revoke_quickbooks(&app, company, tokens).await;
    }
    let name = install
        .name
        .clone()
        .unwrap_or_else(|| format!("Pipedrive user {}", tenant.user_id));
    let reason = disconnected_reason(&name, app.clock.now());
    let saved =
        save_connection(&app, company, |profile| mark_disconnected(profile, &reason)).await?;
    tracing::info!(
        company_id = company.0,
        user_id = tenant.user_id.0,
        "QuickBooks disconnected"
    );
    Ok(Json(view(&app, &saved).await))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{connection, now};
    use serde_json::json;
    use shared::domain::CompanyId;

    fn profile(connection: Option<QuickBooksConnection>) -> CompanyProfile {
        let mut profile = CompanyProfile::new(CompanyId(1), now());
        profile.quickbooks = connection;
        profile.linked_realm_id = Some("9130".into());
        profile
    }

    #[test]
    fn a_company_that_never_connected_is_not_connected() {
        let view = view_of(&profile(None), None);
        assert_eq!(view.state, None);
        assert_eq!(view.connected_by, None);
        assert_eq!(view.linked_realm_id.as_deref(), Some("9130"));
        let written = serde_json::to_value(&view).unwrap();
        assert_eq!(written["state"], "not_connected");
        assert_eq!(written["realm_id"], json!(null));
        let read: ConnectionView = serde_json::from_value(written).unwrap();
        assert_eq!(read, view);
    }

    #[test]
    fn the_view_shows_the_connection_and_who_made_it() {
        let mut connected = connection(ConnectionState::Connected, 7);
        connected.reason = Some("why".into());
        let view = view_of(&profile(Some(connected)), Some("Ada".into()));
        assert_eq!(view.state, Some(ConnectionState::Connected));
        assert_eq!(view.realm_id.as_deref(), Some("9130"));
        assert_eq!(
            view.connected_by,
            Some(UserRef {
                id: UserId(7),
                name: "Ada".into()
            })
        );
        assert_eq!(view.connected_at, Some(now()));
        assert_eq!(view.environment, Some(QuickBooksEnvironment::Sandbox));
        assert_eq!(view.reason.as_deref(), Some("why"));
        for (state, written) in [
            (ConnectionState::Connected, "connected"),
            (ConnectionState::NeedsReconnect, "needs_reconnect"),
            (ConnectionState::Disconnected, "disconnected"),
        ] {
            let view = view_of(&profile(Some(connection(state, 7))), Some("Ada".into()));
            let json = serde_json::to_value(&view).unwrap();
            assert_eq!(json["state"], written);
            assert_eq!(json["connected_by"], json!({"id": 7, "name": "Ada"}));
            let read: ConnectionView = serde_json::from_value(json).unwrap();
            assert_eq!(read.state, Some(state));
        }
        let unknown = json!({"state": "sideways", "realm_id": null, "company_name": null,
            "country": null, "connected_by": null, "connected_at": null, "environment": null,
            "reason": null, "linked_realm_id": null});
        assert!(serde_json::from_value::<ConnectionView>(unknown).is_err());
    }

    #[test]
    fn quickbooks_names_the_company_of_a_live_or_broken_connection() {
        assert_eq!(check_of(&profile(None)), Check::Nothing);
        let with = |state| check_of(&profile(Some(connection(state, 7))));
        assert_eq!(with(ConnectionState::Disconnected), Check::Nothing);
        assert_eq!(with(ConnectionState::Connected), Check::AskQuickBooks);
        // A known broken connection is answered with its reconnect link, without a call.
        assert_eq!(with(ConnectionState::NeedsReconnect), Check::Reconnect);
        let broken = with_reconnect(view_of(&profile(None), None), "https://x".into());
        assert_eq!(broken.state, Some(ConnectionState::NeedsReconnect));
        assert_eq!(broken.reconnect_url.as_deref(), Some("https://x"));
        let view = view_of(&profile(None), None);
        let legal_only = CompanyInfo {
            legal_name: Some("Acme Ltd".into()),
            country: Some("GB".into()),
            ..CompanyInfo::default()
        };
        let named = with_company(view, legal_only);
        assert_eq!(named.company_name.as_deref(), Some("Acme Ltd"));
        assert_eq!(named.country.as_deref(), Some("GB"));
    }

    #[test]
    fn an_admin_or_the_connector_may_disconnect() {
        let (connector, other) = (UserId(7), UserId(8));
        let live = connection(ConnectionState::Connected, 7);
        assert_eq!(plan_disconnect(None, false, other), Disconnect::Nothing);
        assert_eq!(
            plan_disconnect(Some(&live), false, other),
            Disconnect::Forbidden
        );
        assert_eq!(
            plan_disconnect(Some(&live), false, connector),
            Disconnect::Proceed
        );
        assert_eq!(
            plan_disconnect(Some(&live), true, other),
            Disconnect::Proceed
        );
        let broken = connection(ConnectionState::NeedsReconnect, 7);
        assert_eq!(
            plan_disconnect(Some(&broken), true, other),
            Disconnect::Proceed
        );
        let off = connection(ConnectionState::Disconnected, 7);
        assert_eq!(
            plan_disconnect(Some(&off), true, other),
            Disconnect::Nothing
        );
        assert_eq!(
            plan_disconnect(Some(&off), false, other),
            Disconnect::Forbidden,
            "permission is checked first"
        );
    }

    #[test]
    fn a_disconnect_keeps_the_connection_marked_with_who_and_when() {
        let reason = disconnected_reason("Ada", now());
        assert_eq!(reason, "Disconnected by Ada on 2025-03-01 09:30 UTC");
        let mut connected = profile(Some(connection(ConnectionState::Connected, 7)));
        mark_disconnected(&mut connected, &reason);
        let off = connected.quickbooks.unwrap();
        assert_eq!(off.state, ConnectionState::Disconnected);
        assert_eq!(off.reason.as_deref(), Some(reason.as_str()));
        assert_eq!(off.realm_id, "9130");
        assert_eq!(connected.linked_realm_id.as_deref(), Some("9130"));
        let mut never = profile(None);
        mark_disconnected(&mut never, &reason);
        assert_eq!(never.quickbooks, None);
    }
}
