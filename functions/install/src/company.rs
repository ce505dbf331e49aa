//! What the install, connect and connection handlers all do to a company: save its profile,
//! name its users, let a QuickBooks grant go — and the one rule they share on an active
//! connection.

use shared::app::App;
use shared::clients::quickbooks::ClientCredentials as QuickBooksCredentials;
use shared::domain::{CompanyId, CompanyProfile, ConnectionState, QuickBooksConnection, UserId};
use shared::store::StoreError;
use shared::store::secrets::QuickBooksTokens;

/// The connection a connect (or its callback) by `caller` must not silently replace: the
/// company's, when it is active, held by someone else, and the caller did not ask to replace it.
/// The user who holds it may connect again directly (QuickBooks may have revoked it before we
/// noticed: reconnecting is how they mend it).
pub(crate) fn active_connection(
    connection: Option<&QuickBooksConnection>,
    replace: bool,
    caller: Option<UserId>,
) -> Option<&QuickBooksConnection> {
    connection.filter(|c| {
        c.state == ConnectionState::Connected && !replace && Some(c.connected_by) != caller
    })
}

/// A versioned read-modify-write of the company profile, retried on conflicts.
pub(crate) async fn save_connection(
    app: &App,
    company: CompanyId,
    change: impl Fn(&mut CompanyProfile),
) -> Result<CompanyProfile, StoreError> {
    for _ in 0..5 {
        let mut profile = match app.records.get_company(company).await? {
            Some(profile) => profile,
            None => CompanyProfile::new(company, app.clock.now()),
        };
        change(&mut profile);
        let saved = if profile.version == 0 {
            app.records.create_company(&profile).await
        } else {
            app.records.save_company(&profile).await
        };
        match saved {
            Ok(saved) => return Ok(saved),
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(StoreError::Backend(
        "the company profile kept changing; gave up after 5 attempts".into(),
    ))
}

/// A user's name as pages show it (also for a user who has since uninstalled).
pub(crate) async fn user_name(app: &App, company: CompanyId, user: UserId) -> String {
    match app.records.get_user_install(company, user).await {
        Ok(Some(install)) => install
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("Pipedrive user {user}")),
        _ => format!("Pipedrive user {user} (who has since uninstalled the app)"),
    }
}

/// Who holds `connection`, as told to `caller`: "you", or the holder's name.
pub(crate) async fn holder_name(
    app: &App,
    company: CompanyId,
    connection: &QuickBooksConnection,
    caller: UserId,
) -> String {
    if connection.connected_by == caller {
        "you".to_string()
    } else {
        user_name(app, company, connection.connected_by).await
    }
}

pub(crate) fn quickbooks_credentials(app: &App) -> QuickBooksCredentials {
    QuickBooksCredentials {
        client_id: app.credentials.quickbooks_client_id.clone(),
        client_secret: app.credentials.quickbooks_client_secret.clone(),
    }
}

/// Revokes a QuickBooks grant at Intuit, best effort (logged either way).
pub(crate) async fn revoke_quickbooks(app: &App, company: CompanyId, tokens: &QuickBooksTokens) {
    match app
        .quickbooks
        .revoke(&quickbooks_credentials(app), &tokens.refresh_token)
        .await
    {
        Ok(()) => tracing::info!(company_id = company.0, "QuickBooks connection revoked"),
        Err(error) => {
            tracing::warn!(company_id = company.0, %error, "revoking the QuickBooks connection failed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::connection;

    #[test]
    fn only_an_active_connection_not_being_replaced_blocks_a_connect() {
        let active = connection(ConnectionState::Connected, 1);
        assert_eq!(
            active_connection(Some(&active), false, Some(UserId(99))),
            Some(&active)
        );
        assert_eq!(
            active_connection(Some(&active), true, Some(UserId(99))),
            None
        );
        assert_eq!(active_connection(None, false, Some(UserId(99))), None);
        for state in [
            ConnectionState::NeedsReconnect,
            ConnectionState::Disconnected,
        ] {
            assert_eq!(
                active_connection(Some(&connection(state, 1)), false, Some(UserId(99))),
                None
            );
        }
    }

    #[test]
    fn the_user_who_holds_the_connection_may_connect_again() {
        let active = connection(ConnectionState::Connected, 1);
        assert_eq!(
            active_connection(Some(&active), false, Some(UserId(1))),
            None
        );
        assert_eq!(active_connection(Some(&active), false, None), Some(&active));
    }
}
