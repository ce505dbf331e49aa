//! The test app's credentials and Pipedrive-signed iframe tokens.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use shared::app::AppCredentials;
use shared::domain::{CompanyId, UserId};
use shared::web::auth::Tenant;

/// The JWT secret test apps verify with.
pub const TEST_JWT_SECRET: &str = "test-jwt-secret-0123456789";

/// The credentials of every test app (the simulators are registered with the same ones).
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

/// The verifier token QuickBooks signs the test app's webhooks with.
pub fn webhook_verifier() -> String {
    let credentials = test_credentials();
    credentials.quickbooks_webhook_verifier.expose().to_string()
}

pub fn tenant(company: u64, user: u64) -> Tenant {
    Tenant {
        company_id: CompanyId(company),
        user_id: UserId(user),
    }
}

/// A token as Pipedrive's SDK would sign it, issued now and valid for five minutes.
pub fn sign_token(tenant: Tenant) -> String {
    sign_token_with(tenant, TEST_JWT_SECRET, 300)
}

/// A token of `company`/`user` ([`sign_token`]).
pub fn jwt(company: u64, user: u64) -> String {
    sign_token(tenant(company, user))
}

pub fn sign_token_with(tenant: Tenant, secret: &str, valid_secs: i64) -> String {
    sign_token_at(tenant, secret, Utc::now(), valid_secs)
}

/// A token issued at `issued` (a test clock's now) and valid for `valid_secs`.
pub fn sign_token_at(
    tenant: Tenant,
    secret: &str,
    issued: DateTime<Utc>,
    valid_secs: i64,
) -> String {
    let now = issued.timestamp();
    let claims = serde_json::json!({
        "userId": tenant.user_id.0,
        "companyId": tenant.company_id.0,
        "iat": now,
        "exp": now + valid_secs,
    });
    shared::web::auth::jwt_crypto::install();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("an HS256 token")
}
