//! Seeding straight into the store: the records of a "connected company" (a `Connected` profile,
//! user installs), written once for every test. Its tokens are the simulators' answers kept as
//! the app keeps them (`shared::app::tokens::grants`).

use chrono::{DateTime, Utc};
use shared::app::App;
use shared::domain::{
    CompanyId, CompanyProfile, ConnectionState, QuickBooksConnection, QuickBooksEnvironment,
    UserId, UserInstall,
};
use shared::web::auth::Tenant;

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
        locale: None,
        version: 0,
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
