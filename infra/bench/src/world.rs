//! What every benchmark needs around the code it measures: the app's credentials, Pipedrive-style
//! signed tokens, and a company connected to a simulated QuickBooks realm (profile, install and
//! tokens seeded directly, the way the function tests do it).

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::net::SocketAddr;

use sandbox::harness::RunningServer;
use sandbox::pipedrive::{PipedriveConfig, PipedriveSim};
use sandbox::quickbooks::{QuickBooksConfig, QuickBooksSim, ThrottleConfig};
use shared::app::{App, AppCredentials};
use shared::domain::{
    CompanyId, CompanyProfile, ConnectionState, QuickBooksConnection, QuickBooksEnvironment,
    UserId, UserInstall,
};
use shared::store::secrets::{PipedriveTokens, QuickBooksTokens};

pub const PIPEDRIVE_CLIENT_ID: &str = "bench-pipedrive-app";
pub const PIPEDRIVE_CLIENT_SECRET: &str = "bench-pipedrive-client-secret";
pub const JWT_SECRET: &str = "bench-jwt-secret-0123456789abcdef";
pub const QUICKBOOKS_CLIENT_ID: &str = "bench-quickbooks-app";
pub const QUICKBOOKS_CLIENT_SECRET: &str = "bench-quickbooks-client-secret";
pub const WEBHOOK_VERIFIER: &str = "bench-webhook-verifier";
pub const STATE_SIGNING_KEY: &str = "bench-state-signing-key-0123456789";

/// The credentials every process of a run shares (as environment variables: see [`credential_env`]).
pub fn credentials() -> AppCredentials {
    AppCredentials {
        pipedrive_client_id: PIPEDRIVE_CLIENT_ID.into(),
        pipedrive_client_secret: PIPEDRIVE_CLIENT_SECRET.into(),
        pipedrive_jwt_secret: Some(JWT_SECRET.into()),
        quickbooks_client_id: QUICKBOOKS_CLIENT_ID.into(),
        quickbooks_client_secret: QUICKBOOKS_CLIENT_SECRET.into(),
        quickbooks_webhook_verifier: WEBHOOK_VERIFIER.into(),
        state_signing_key: STATE_SIGNING_KEY.into(),
    }
}

/// [`credentials`] as the environment variables `App::from_env` reads.
pub fn credential_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("PIPEDRIVE_CLIENT_ID", PIPEDRIVE_CLIENT_ID),
        ("PIPEDRIVE_CLIENT_SECRET", PIPEDRIVE_CLIENT_SECRET),
        ("PIPEDRIVE_JWT_SECRET", JWT_SECRET),
        ("QUICKBOOKS_CLIENT_ID", QUICKBOOKS_CLIENT_ID),
        ("QUICKBOOKS_CLIENT_SECRET", QUICKBOOKS_CLIENT_SECRET),
        ("QUICKBOOKS_WEBHOOK_VERIFIER", WEBHOOK_VERIFIER),
        ("STATE_SIGNING_KEY", STATE_SIGNING_KEY),
    ]
}

/// The simulated QuickBooks with the run's client and no rate limit (the benchmarks count calls;
/// throttling is the simulator's own test subject).
pub fn quickbooks_config() -> QuickBooksConfig {
    QuickBooksConfig {
        client_id: QUICKBOOKS_CLIENT_ID.into(),
        client_secret: QUICKBOOKS_CLIENT_SECRET.into(),
        throttle: ThrottleConfig {
            per_minute: u32::MAX,
            concurrent: u32::MAX,
        },
        ..QuickBooksConfig::default()
    }
}

/// Both simulators, started on free loopback ports with the run's app credentials, without rate
/// limits (the benchmarks count calls; throttling is the simulators' own test subject).
pub struct Simulators {
    pub qb: QuickBooksSim,
    pub qb_server: RunningServer,
    pub pd: PipedriveSim,
    pub pd_server: RunningServer,
}

pub async fn simulators() -> Result<Simulators, String> {
    let (qb, qb_server) =
        QuickBooksSim::start(quickbooks_config(), SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| format!("QuickBooks simulator: {e}"))?;
    let mut pd_config = PipedriveConfig::new(
        PIPEDRIVE_CLIENT_ID.to_string(),
        PIPEDRIVE_CLIENT_SECRET.to_string(),
        "http://127.0.0.1:9/oauth/pipedrive/callback".to_string(),
    );
    pd_config.jwt_secret = JWT_SECRET.to_string();
    pd_config.burst_limit = u32::MAX;
    let (pd, pd_server) = PipedriveSim::start(pd_config)
        .await
        .map_err(|e| format!("Pipedrive simulator: {e}"))?;
    Ok(Simulators {
        qb,
        qb_server,
        pd,
        pd_server,
    })
}

/// A token as Pipedrive's app-extensions SDK signs it (HS256, `exp` in five minutes).
pub fn sign_token(company: u64, user: u64) -> Result<String, jsonwebtoken::errors::Error> {
    let now = Utc::now().timestamp();
    let claims = serde_json::json!({
        "userId": user,
        "companyId": company,
        "iat": now,
        "exp": now + 300,
    });
    shared::web::auth::jwt_crypto::install();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
}

#[derive(Debug, thiserror::Error)]
#[error("seeding failed: {0}")]
pub struct SeedError(pub String);

fn seed<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> SeedError + '_ {
    move |e| SeedError(format!("{what}: {e}"))
}

/// Connects `company` to `realm` as the install flow leaves it: a `Connected` profile (sync
/// watermark `watermark`), and the QuickBooks tokens the simulator issues.
pub async fn connect(
    app: &App,
    qb: &QuickBooksSim,
    company: u64,
    user: u64,
    realm: &str,
    watermark: Option<DateTime<Utc>>,
) -> Result<(), SeedError> {
    let now = Utc::now();
    let mut profile = CompanyProfile::new(CompanyId(company), now);
    profile.linked_realm_id = Some(realm.into());
    profile.sync_watermark = watermark;
    profile.quickbooks = Some(QuickBooksConnection {
        realm_id: realm.into(),
        environment: QuickBooksEnvironment::Sandbox,
        state: ConnectionState::Connected,
        connected_by: UserId(user),
        connected_at: now - Duration::days(1),
        reason: None,
    });
    app.records
        .create_company(&profile)
        .await
        .map_err(seed("company profile"))?;
    let tokens = qb.issue_tokens(realm).map_err(seed("QuickBooks tokens"))?;
    let realm = realm.to_string();
    app.tokens
        .update_secrets(CompanyId(company), move |s| {
            s.quickbooks = Some(QuickBooksTokens {
                realm_id: realm,
                access_token: tokens.access_token.into(),
                access_expires_at: now + Duration::seconds(tokens.expires_in),
                refresh_token: tokens.refresh_token.into(),
                refresh_expires_at: None,
                updated_at: now,
            });
        })
        .await
        .map_err(seed("QuickBooks token secret"))?;
    Ok(())
}

/// Installs the app for `user` of `company` (an admin): the install record and the Pipedrive
/// tokens the simulator issues.
pub async fn install(
    app: &App,
    pd: &PipedriveSim,
    company: u64,
    user: u64,
) -> Result<(), SeedError> {
    let now = Utc::now();
    let tokens = pd
        .issue_tokens(company, user)
        .map_err(seed("Pipedrive tokens"))?;
    app.records
        .put_user_install(&UserInstall {
            company_id: CompanyId(company),
            user_id: UserId(user),
            scopes: tokens.scope.split(',').map(str::to_string).collect(),
            api_domain: tokens.api_domain.clone(),
            name: Some("Bench user".into()),
            is_admin: true,
            installed_at: now,
            locale: None,
            version: 0,
        })
        .await
        .map_err(seed("user install"))?;
    app.tokens
        .update_secrets(CompanyId(company), move |s| {
            s.pipedrive.insert(
                user,
                PipedriveTokens {
                    access_token: tokens.access_token.into(),
                    access_expires_at: now
                        + Duration::seconds(i64::try_from(tokens.expires_in).unwrap_or(3600)),
                    refresh_token: tokens.refresh_token.into(),
                    api_domain: tokens.api_domain,
                    scope: Some(tokens.scope),
                    updated_at: now,
                },
            );
        })
        .await
        .map_err(seed("Pipedrive token secret"))?;
    Ok(())
}

/// The workspace root (this crate is `infra/bench`).
pub fn workspace_root() -> std::path::PathBuf {
    let manifest = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(|p| p.parent())
        .map(std::path::PathBuf::from)
        .unwrap_or(manifest)
}

/// Runs `scenario` for each size of a benchmark's grid, in order, saying when each is measured.
pub async fn grid<T, F, Fut>(
    name: &str,
    unit: &str,
    sizes: &[usize],
    scenario: F,
) -> Result<Vec<T>, String>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let mut out = Vec::with_capacity(sizes.len());
    for &size in sizes {
        out.push(scenario(size).await?);
        eprintln!("{name}: {size} {unit}: measured");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_with_the_apps_key() {
        let token = sign_token(7, 8).unwrap();
        let tenant = shared::web::auth::jwt::verify_pipedrive_jwt(
            &token,
            &shared::web::auth::JwtKeys::new(credentials().jwt_secret()),
            Utc::now(),
        )
        .unwrap();
        assert_eq!((tenant.company_id.0, tenant.user_id.0), (7, 8));
    }

    #[test]
    fn the_workspace_root_has_the_workspace_manifest() {
        assert!(workspace_root().join("Cargo.toml").exists());
        assert!(workspace_root().join("infra/bench/Cargo.toml").exists());
    }
}
