//! What Pipedrive does towards the app: signing iframe JWTs and calling the uninstall callback.

use chrono::SecondsFormat;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use shared::wire::pipedrive::model::{IframeClaims, UninstallCallback};

use super::{PipedriveSim, SimError};

/// Signs iframe claims with HS256.
pub(crate) fn sign_jwt(
    secret: &str,
    company_id: u64,
    user_id: u64,
    iat: i64,
    ttl_secs: i64,
) -> Result<(String, IframeClaims), SimError> {
    let claims = IframeClaims {
        user_id,
        company_id,
        iat,
        exp: iat + ttl_secs,
    };
    shared::web::auth::jwt_crypto::install();
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?;
    Ok((token, claims))
}

/// The JSON body of the uninstall `DELETE` for a user at `now`.
pub fn uninstall_body(
    client_id: &str,
    company_id: u64,
    user_id: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> UninstallCallback {
    UninstallCallback {
        client_id: client_id.to_string(),
        company_id,
        user_id,
        timestamp: now.to_rfc3339_opts(SecondsFormat::Millis, true),
    }
}

/// Sends `DELETE <uninstall URL>` with HTTP Basic (client id and secret) and the JSON body.
pub(crate) async fn send_uninstall(
    sim: &PipedriveSim,
    company_id: u64,
    user_id: u64,
) -> Result<u16, SimError> {
    let config = &sim.inner.config;
    let body = uninstall_body(
        &config.client_id,
        company_id,
        user_id,
        sim.inner.harness.now(),
    );
    let response = sim
        .inner
        .http
        .delete(&config.uninstall_url)
        .basic_auth(&config.client_id, Some(&config.client_secret))
        .json(&body)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await?;
    Ok(response.status().as_u16())
}
