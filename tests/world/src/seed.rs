//! Seeding straight into the store and the token vault: the "connected company" (a `Connected`
//! profile, user installs, tokens the simulators issued), written once for every test.

use chrono::{DateTime, Duration, Utc};
use shared::app::App;
use shared::domain::{
    CompanyId, CompanyProfile, ConnectionState, QuickBooksConnection, QuickBooksEnvironment,
    SecretString, UserId, UserInstall,
};
use shared::store::secrets::{PipedriveTokens, QuickBooksTokens};
use shared::web::auth::Tenant;
use shared::wire::pipedrive::model::TokenResponse as PipedriveTokenResponse;
use shared::wire::quickbooks::model::TokenResponse as QuickBooksTokenResponse;

/// Scopes of a seeded install.
const SCOPES: [&str; 2] = ["base", "deals:full"];

/// A profile of `company` connected to `realm` by `user` at `connected_at`.
pub fn connected_profile(
    company: u64,
    user: u64,
    realm: &str,
    connected_at: DateTime<Utc>,
) -> CompanyProfile {
    let mut profile = CompanyProfile::new(CompanyId(company), connected_at);
    profile.quickbooks = Some(QuickBooksConnection {
        realm_id: realm.to_string(),
        environment: QuickBooksEnvironment::Sandbox,
        state: ConnectionState::Connected,
        connected_by: UserId(user),
        connected_at,
        reason: None,
    });
    profile.linked_realm_id = Some(realm.to_string());
    profile
}

/// An installation of the app by `tenant` whose Pipedrive API lives at `api_domain`.
pub fn user_install(
    tenant: Tenant,
    is_admin: bool,
    api_domain: &str,
    now: DateTime<Utc>,
) -> UserInstall {
    UserInstall {
        company_id: tenant.company_id,
        user_id: tenant.user_id,
        scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
        api_domain: api_domain.to_string(),
        name: Some(format!("User {}", tenant.user_id)),
        is_admin,
        installed_at: now,
        version: 0,
    }
}

/// QuickBooks tokens as the vault keeps them, from a token answer received at `now`.
pub fn quickbooks_tokens(
    realm: &str,
    issued: QuickBooksTokenResponse,
    now: DateTime<Utc>,
) -> QuickBooksTokens {
    QuickBooksTokens {
        realm_id: realm.to_string(),
        access_token: SecretString::new(issued.access_token),
        access_expires_at: now + Duration::seconds(issued.expires_in),
        refresh_token: SecretString::new(issued.refresh_token),
        refresh_expires_at: Some(now + Duration::seconds(issued.x_refresh_token_expires_in)),
        updated_at: now,
    }
}

/// Pipedrive tokens as the vault keeps them, from a token answer received at `now`.
pub fn pipedrive_tokens(issued: PipedriveTokenResponse, now: DateTime<Utc>) -> PipedriveTokens {
    PipedriveTokens {
        access_token: SecretString::new(issued.access_token),
        access_expires_at: now
            + Duration::seconds(i64::try_from(issued.expires_in).unwrap_or(3600)),
        refresh_token: SecretString::new(issued.refresh_token),
        api_domain: issued.api_domain,
        scope: Some(issued.scope),
        updated_at: now,
    }
}

/// Records an installation of `tenant` (and its company's profile, not connected, if new) on an
/// app without simulators: no tokens.
pub async fn seed_install(app: &App, tenant: Tenant, is_admin: bool) {
    let now = app.clock.now();
    let known = app.records.get_company(tenant.company_id).await;
    if known.expect("store readable").is_none() {
        app.records
            .create_company(&CompanyProfile::new(tenant.company_id, now))
            .await
            .expect("profile created");
    }
    app.records
        .put_user_install(&user_install(tenant, is_admin, "http://127.0.0.1:1", now))
        .await
        .expect("install stored");
}
