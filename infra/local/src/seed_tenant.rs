//! `POST /_local/seed-tenant` (local server with simulators only; never deployed): installs a
//! seed company's user and connects the company to a simulated QuickBooks realm by writing the
//! records and tokens directly — what the install and connect flows would leave behind — and
//! answers a signed Pipedrive token for that user. The reliability fuzzing
//! (`tests/reliability/fuzz.sh`) uses it to call every `/api/*` route as a real user.
//!
//! Request (every field optional): `{"company_id": 1001, "user_id": 101, "realm_id":
//! "9341453050420001", "valid_secs": 3600}`. Answer `200 {"token", "company_id", "user_id",
//! "realm_id", "expires_at"}`. Unknown seed users or realms are a 422 problem.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use sandbox::pipedrive::PipedriveSim;
use sandbox::quickbooks::{QuickBooksSim, US_REALM};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::app::App;
use shared::app::tokens::grants;
use shared::domain::{
    CompanyId, CompanyProfile, ConnectionState, QuickBooksConnection, UserId, UserInstall,
};
use shared::web::error::{ApiError, FieldError};
use shared::web::http::{Route, parse_json};

pub const SEED_TENANT_ROUTE: Route = Route::new("POST", "/_local/seed-tenant");

/// Longest token lifetime the route signs (a fuzzing run, not a session).
const MAX_VALID_SECS: i64 = 24 * 3600;

#[derive(Clone)]
struct Seeder {
    app: App,
    pipedrive: PipedriveSim,
    quickbooks: QuickBooksSim,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedRequest {
    pub company_id: Option<u64>,
    pub user_id: Option<u64>,
    pub realm_id: Option<String>,
    pub valid_secs: Option<i64>,
}

/// The route, bound to the app and the simulators it seeds against.
pub fn router(app: App, pipedrive: PipedriveSim, quickbooks: QuickBooksSim) -> Router {
    Router::new()
        .route(SEED_TENANT_ROUTE.path, post(seed))
        .with_state(Seeder {
            app,
            pipedrive,
            quickbooks,
        })
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::unprocessable(vec![FieldError::new(field, message)])
}

/// Stores the company as connected to `realm` by `user`, with the tokens the simulators issued.
async fn connect(
    app: &App,
    company_id: CompanyId,
    user: UserId,
    realm: &str,
    qb: &shared::wire::quickbooks::model::TokenResponse,
    pd: &shared::wire::pipedrive::model::TokenResponse,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let mut profile = match app.records.get_company(company_id).await? {
        Some(profile) => profile,
        None => {
            let fresh = CompanyProfile::new(company_id, now);
            app.records.create_company(&fresh).await?
        }
    };
    profile.linked_realm_id = Some(realm.to_string());
    profile.quickbooks = Some(QuickBooksConnection {
        realm_id: realm.to_string(),
        environment: app.deployment.quickbooks_environment,
        state: ConnectionState::Connected,
        connected_by: user,
        connected_at: now,
        reason: None,
    });
    app.records.save_company(&profile).await?;
    let install = UserInstall {
        company_id,
        user_id: user,
        scopes: pd.scope.split(',').map(str::to_string).collect(),
        api_domain: pd.api_domain.clone(),
        name: None,
        is_admin: true,
        installed_at: now,
        locale: None,
        version: 0,
    };
    app.records.put_user_install(&install).await?;
    let quickbooks = grants::quickbooks_granted(realm, qb, now);
    let pipedrive = grants::pipedrive_granted(pd, now);
    app.tokens
        .update_secrets(company_id, move |secrets| {
            secrets.quickbooks = Some(quickbooks.clone());
            secrets.pipedrive.insert(user.0, pipedrive.clone());
        })
        .await?;
    Ok(())
}

async fn seed(State(s): State<Seeder>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let request: SeedRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SeedRequest::default()
    } else {
        parse_json(&body)?
    };
    let company = request
        .company_id
        .unwrap_or(sandbox::pipedrive::seed::COMPANY_A);
    let user = request
        .user_id
        .unwrap_or(sandbox::pipedrive::seed::USER_A_ADMIN);
    let realm = request.realm_id.unwrap_or_else(|| US_REALM.to_string());
    let valid_secs = request.valid_secs.unwrap_or(3600);
    if !(1..=MAX_VALID_SECS).contains(&valid_secs) {
        return Err(invalid(
            "valid_secs",
            format!("Choose 1 to {MAX_VALID_SECS} seconds."),
        ));
    }
    let (token, _claims) = s
        .pipedrive
        .sign_jwt(company, user, valid_secs)
        .map_err(|e| invalid("user_id", format!("Not a seed user of the simulator: {e}")))?;
    let qb = s
        .quickbooks
        .issue_tokens(&realm)
        .map_err(|e| invalid("realm_id", format!("Not a realm of the simulator: {e}")))?;
    let pd = s
        .pipedrive
        .issue_tokens(company, user)
        .map_err(|e| invalid("user_id", format!("Not a seed user of the simulator: {e}")))?;
    let now = s.app.clock.now();
    connect(
        &s.app,
        CompanyId(company),
        UserId(user),
        &realm,
        &qb,
        &pd,
        now,
    )
    .await?;
    Ok(Json(json!({
        "token": token,
        "company_id": company,
        "user_id": user,
        "realm_id": realm,
        "expires_at": (now + Duration::seconds(valid_secs)).to_rfc3339(),
    })))
}
