//! The control API under `/_sim` (JSON in, JSON out; not logged, delayed or faulted):
//!
//! | method | path | body → answer |
//! |---|---|---|
//! | POST | `/_sim/reset` | – → `{}`: seed data back, tokens/notes/log/knobs/limits cleared |
//! | GET | `/_sim/seed` | → companies and users (with admin flags) |
//! | PUT | `/_sim/companies/{company_id}/deals` | a v2 `Deal` → `{}` |
//! | PATCH | `/_sim/companies/{company_id}/deals/{deal_id}` | a `DealUpdate` (a user's edit in Pipedrive: status, stage, title, custom fields) → the deal |
//! | PUT | `/_sim/retry-after` | `{"on": bool}` → `{}`: 429s also carry `Retry-After` |
//! | POST | `/_sim/companies/{company_id}/deals/{deal_id}/products` | a v2 `DealProduct` → `{}` |
//! | POST | `/_sim/companies/{company_id}/deals/{deal_id}/discounts` | a v2 `DealDiscount` → `{}` |
//! | PUT | `/_sim/companies/{company_id}/organizations` | a v2 `Organization` → `{}` |
//! | PUT | `/_sim/companies/{company_id}/persons` | a v2 `Person` → `{}` |
//! | PUT | `/_sim/companies/{company_id}/products` | a v2 `Product` → `{}` |
//! | POST | `/_sim/companies/{company_id}/fields/{deal\|organization\|person}` | [`NewCustomField`] → the `FieldDefinition` (with its hash) |
//! | GET | `/_sim/notes` | → [`PostedNote`]s |
//! | GET / DELETE | `/_sim/requests` | → [`LoggedRequest`](crate::harness::LoggedRequest)s / clears |
//! | GET / PUT | `/_sim/knobs` | [`Knobs`] |
//! | PUT | `/_sim/burst-limit` | `{"limit": n}` → `{}` |
//! | POST | `/_sim/clock/advance` | `{"seconds": n}` → `{"now": …}` |
//! | POST | `/_sim/tokens/issue` | `{"company_id","user_id","scope"?}` → token answer (install without browser) |
//! | POST | `/_sim/tokens/expire` | `{"company_id","user_id"}` → `{"expired": n}` |
//! | POST | `/_sim/jwt` | `{"company_id","user_id","ttl_secs"?}` → `{"token","claims"}` |
//! | POST | `/_sim/uninstall` | `{"company_id","user_id"}` → `{"callback_status"}` |
//!
//! Errors: `{"error": "…"}` with 400 (bad input), 404 (unknown company/user/deal) or 502 (the
//! uninstall callback could not be reached).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::store::{FieldEntity, NewCustomField, PostedNote};
use super::{PipedriveSim, SimError};
use crate::harness::{AdvanceClock, Knobs, LoggedRequest, lock};

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let status = match &self {
            SimError::UnknownCompany(_) | SimError::UnknownUser { .. } => StatusCode::NOT_FOUND,
            SimError::UnknownDeal { .. } => StatusCode::NOT_FOUND,
            SimError::Invalid(_) => StatusCode::BAD_REQUEST,
            SimError::Callback(_) => StatusCode::BAD_GATEWAY,
            SimError::Io(_) | SimError::Jwt(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

type ControlResult = Result<Json<Value>, SimError>;

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, SimError> {
    serde_json::from_slice(body).map_err(|e| SimError::Invalid(e.to_string()))
}

fn done() -> ControlResult {
    Ok(Json(json!({})))
}

pub fn routes() -> Router<PipedriveSim> {
    Router::new()
        .route("/reset", post(reset))
        .route("/seed", get(seed))
        .route("/companies/{company_id}/deals", put(put_deal))
        .route(
            "/companies/{company_id}/deals/{deal_id}",
            axum::routing::patch(edit_deal),
        )
        .route("/retry-after", put(set_retry_after))
        .route(
            "/companies/{company_id}/deals/{deal_id}/products",
            post(post_deal_product),
        )
        .route(
            "/companies/{company_id}/deals/{deal_id}/discounts",
            post(post_deal_discount),
        )
        .route(
            "/companies/{company_id}/organizations",
            put(put_organization),
        )
        .route("/companies/{company_id}/persons", put(put_person))
        .route("/companies/{company_id}/products", put(put_product))
        .route(
            "/companies/{company_id}/fields/{entity}",
            post(post_custom_field),
        )
        .route("/notes", get(notes))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/knobs", get(knobs).put(set_knobs))
        .route("/burst-limit", put(set_burst_limit))
        .route("/clock/advance", post(advance_clock))
        .route("/tokens/issue", post(issue_tokens))
        .route("/tokens/expire", post(expire_tokens))
        .route("/jwt", post(sign_jwt))
        .route("/uninstall", post(uninstall))
}

async fn reset(State(sim): State<PipedriveSim>) -> ControlResult {
    sim.reset();
    done()
}

async fn seed(State(sim): State<PipedriveSim>) -> ControlResult {
    let store = lock(&sim.inner.store);
    let companies: Vec<Value> = store
        .companies
        .values()
        .map(|c| {
            let users: Vec<_> = store
                .users
                .values()
                .filter(|u| u.company_id == c.id)
                .collect();
            json!({ "company": c, "users": users })
        })
        .collect();
    Ok(Json(json!({ "companies": companies })))
}

async fn put_deal(
    State(sim): State<PipedriveSim>,
    Path(company_id): Path<u64>,
    body: Bytes,
) -> ControlResult {
    sim.upsert_deal(company_id, parse(&body)?)?;
    done()
}

async fn edit_deal(
    State(sim): State<PipedriveSim>,
    Path((company_id, deal_id)): Path<(u64, u64)>,
    body: Bytes,
) -> ControlResult {
    let deal = sim.edit_deal(company_id, deal_id, &parse(&body)?)?;
    Ok(Json(serde_json::to_value(deal).unwrap_or(Value::Null)))
}

#[derive(Deserialize)]
struct RetryAfter {
    on: bool,
}

async fn set_retry_after(State(sim): State<PipedriveSim>, body: Bytes) -> ControlResult {
    let RetryAfter { on } = parse(&body)?;
    sim.set_retry_after(on);
    done()
}

async fn post_deal_product(
    State(sim): State<PipedriveSim>,
    Path((company_id, deal_id)): Path<(u64, u64)>,
    body: Bytes,
) -> ControlResult {
    sim.add_deal_product(company_id, deal_id, parse(&body)?)?;
    done()
}

async fn post_deal_discount(
    State(sim): State<PipedriveSim>,
    Path((company_id, deal_id)): Path<(u64, u64)>,
    body: Bytes,
) -> ControlResult {
    sim.add_deal_discount(company_id, deal_id, parse(&body)?)?;
    done()
}

async fn put_organization(
    State(sim): State<PipedriveSim>,
    Path(company_id): Path<u64>,
    body: Bytes,
) -> ControlResult {
    sim.upsert_organization(company_id, parse(&body)?)?;
    done()
}

async fn put_person(
    State(sim): State<PipedriveSim>,
    Path(company_id): Path<u64>,
    body: Bytes,
) -> ControlResult {
    sim.upsert_person(company_id, parse(&body)?)?;
    done()
}

async fn put_product(
    State(sim): State<PipedriveSim>,
    Path(company_id): Path<u64>,
    body: Bytes,
) -> ControlResult {
    sim.upsert_product(company_id, parse(&body)?)?;
    done()
}

async fn post_custom_field(
    State(sim): State<PipedriveSim>,
    Path((company_id, entity)): Path<(u64, String)>,
    body: Bytes,
) -> ControlResult {
    let entity = match entity.as_str() {
        "deal" | "deals" | "dealFields" => FieldEntity::Deal,
        "organization" | "organizations" | "organizationFields" => FieldEntity::Organization,
        "person" | "persons" | "personFields" => FieldEntity::Person,
        other => return Err(SimError::Invalid(format!("unknown field catalog {other}"))),
    };
    let field: NewCustomField = parse(&body)?;
    let definition = sim.add_custom_field(company_id, entity, field)?;
    Ok(Json(json!(definition)))
}

async fn notes(State(sim): State<PipedriveSim>) -> Json<Vec<PostedNote>> {
    Json(sim.notes())
}

async fn requests(State(sim): State<PipedriveSim>) -> Json<Vec<LoggedRequest>> {
    Json(sim.requests())
}

async fn clear_requests(State(sim): State<PipedriveSim>) -> ControlResult {
    sim.harness().clear_log();
    done()
}

async fn knobs(State(sim): State<PipedriveSim>) -> Json<Knobs> {
    Json(sim.harness().knobs())
}

async fn set_knobs(State(sim): State<PipedriveSim>, body: Bytes) -> ControlResult {
    let knobs: Knobs = parse(&body)?;
    sim.harness().set_knobs(knobs);
    done()
}

#[derive(Debug, Deserialize)]
struct BurstLimit {
    limit: u32,
}

async fn set_burst_limit(State(sim): State<PipedriveSim>, body: Bytes) -> ControlResult {
    let BurstLimit { limit } = parse(&body)?;
    sim.set_burst_limit(limit);
    done()
}

async fn advance_clock(State(sim): State<PipedriveSim>, body: Bytes) -> ControlResult {
    let AdvanceClock { seconds } = parse(&body)?;
    sim.advance_clock(seconds);
    Ok(Json(json!({ "now": sim.harness().now() })))
}

#[derive(Debug, Deserialize)]
struct UserRef {
    company_id: u64,
    user_id: u64,
    #[serde(default)]
    ttl_secs: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
}

async fn issue_tokens(State(sim): State<PipedriveSim>, body: Bytes) -> ControlResult {
    let who: UserRef = parse(&body)?;
    let tokens = match &who.scope {
        Some(scope) => sim.issue_tokens_with_scope(who.company_id, who.user_id, scope)?,
        None => sim.issue_tokens(who.company_id, who.user_id)?,
    };
    Ok(Json(json!(tokens)))
}

async fn expire_tokens(State(sim): State<PipedriveSim>, body: Bytes) -> ControlResult {
    let who: UserRef = parse(&body)?;
    let expired = sim.expire_access_tokens(who.company_id, who.user_id);
    Ok(Json(json!({ "expired": expired })))
}

/// Default lifetime of a signed iframe JWT (`GET_SIGNED_TOKEN` tokens live 5 minutes).
pub const JWT_TTL_SECS: i64 = 300;

async fn sign_jwt(State(sim): State<PipedriveSim>, body: Bytes) -> ControlResult {
    let who: UserRef = parse(&body)?;
    let (token, claims) = sim.sign_jwt(
        who.company_id,
        who.user_id,
        who.ttl_secs.unwrap_or(JWT_TTL_SECS),
    )?;
    Ok(Json(json!({ "token": token, "claims": claims })))
}

async fn uninstall(State(sim): State<PipedriveSim>, body: Bytes) -> ControlResult {
    let who: UserRef = parse(&body)?;
    let status = sim.fire_uninstall(who.company_id, who.user_id).await?;
    Ok(Json(json!({ "callback_status": status })))
}
