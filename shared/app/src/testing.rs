//! Helpers for tests of any crate (behind the `contract-tests` feature): an [`App`] on embedded
//! backends, signed Pipedrive tokens, seeded installs.

use std::sync::Arc;

use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::{App, AppCredentials, Deployment};
use domain::{CompanyId, CompanyProfile, UserId, UserInstall};
use store::embedded::EmbeddedStore;
use store::secrets::embedded::EmbeddedSecrets;
use web::auth::Tenant;

/// The JWT secret test apps verify with.
pub const TEST_JWT_SECRET: &str = "test-jwt-secret-0123456789";

pub fn test_credentials() -> AppCredentials {
    AppCredentials {
        pipedrive_client_id: "pd-client".into(),
        pipedrive_client_secret: "pd-client-secret".into(),
        pipedrive_jwt_secret: Some(TEST_JWT_SECRET.into()),
        quickbooks_client_id: "qb-client".into(),
        quickbooks_client_secret: "qb-client-secret".into(),
        quickbooks_webhook_verifier: "qb-verifier".into(),
        state_signing_key: "state-signing-key-for-tests".into(),
    }
}

/// An app on fresh in-memory backends (upstreams at unroutable addresses).
pub fn embedded_app() -> App {
    embedded_app_with(Deployment::simulated(
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
    ))
}

/// An app on fresh in-memory backends talking to the given upstreams.
pub fn embedded_app_with(deployment: Deployment) -> App {
    App::new(
        Arc::new(EmbeddedStore::in_memory()),
        Arc::new(EmbeddedSecrets::in_memory()),
        "test",
        test_credentials(),
        deployment,
    )
}

/// A token as Pipedrive's SDK would sign it, valid for five minutes.
pub fn sign_token(tenant: Tenant) -> String {
    sign_token_with(tenant, TEST_JWT_SECRET, 300)
}

pub fn sign_token_with(tenant: Tenant, secret: &str, valid_secs: i64) -> String {
    let now = Utc::now().timestamp();
    let claims = serde_json::json!({
        "userId": tenant.user_id.0,
        "companyId": tenant.company_id.0,
        "iat": now,
        "exp": now + valid_secs,
    });
    web::auth::jwt_crypto::install();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
}

pub fn tenant(company: u64, user: u64) -> Tenant {
    Tenant {
        company_id: CompanyId(company),
        user_id: UserId(user),
    }
}

/// Records an installation of `tenant` (and its company's profile if new).
pub async fn seed_install(app: &App, tenant: Tenant, is_admin: bool) {
    let now = Utc::now();
    if app
        .records
        .get_company(tenant.company_id)
        .await
        .ok()
        .flatten()
        .is_none()
    {
        let _ = app
            .records
            .create_company(&CompanyProfile::new(tenant.company_id, now))
            .await;
    }
    let _ = app
        .records
        .put_user_install(&UserInstall {
            company_id: tenant.company_id,
            user_id: tenant.user_id,
            scopes: vec!["base".into(), "deals:full".into()],
            api_domain: "http://127.0.0.1:1".into(),
            name: Some(format!("User {}", tenant.user_id)),
            is_admin,
            installed_at: now,
            locale: None,
            version: 0,
        })
        .await;
}
