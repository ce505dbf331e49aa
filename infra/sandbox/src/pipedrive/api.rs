//! The company API domain: Bearer authentication, scopes, rate limits and the REST endpoints.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration as StdDuration, Instant};

use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use shared::wire::pipedrive::model::{
    ApiError, Envelope, FieldDefinition, NamedRef, NewNote, Note, NoteDeal, NoteUser, split_scopes,
};

use super::PipedriveSim;
use super::store::FieldEntity;
use crate::harness::lock;

/// Length of the burst window.
const BURST_WINDOW: StdDuration = StdDuration::from_secs(2);
/// Base daily token budget per seat (Lite plan multiplier 1).
const DAILY_TOKENS_PER_SEAT: u64 = 30_000;
/// Page size bounds of v2 cursor pagination.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;

/// Who is calling (from the access token) — put into request extensions by [`authenticate`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub company_id: u64,
    pub user_id: u64,
}

/// Token cost and accepted scopes (any one of) of each endpoint, from the specs' `x-token-cost`
/// and `security`.
fn endpoint_rule(method: &str, route: &str) -> (u64, &'static [&'static str]) {
    if method == "PATCH" && route == "/api/v2/deals/{id}" {
        return (5, &["deals:full"]);
    }
    match route {
        "/api/v1/users/me" | "/v1/users/me" => (2, &["base"]),
        "/api/v1/notes" | "/v1/notes" => (10, &["deals:full", "contacts:full"]),
        "/api/v2/deals/{id}" => (1, &["deals:read", "deals:full"]),
        "/api/v2/deals" => (10, &["deals:read", "deals:full"]),
        "/api/v2/pipelines" | "/api/v2/stages" => (5, &["deals:read", "deals:full", "admin"]),
        "/api/v2/deals/{id}/products" => (
            10,
            &["products:read", "products:full", "deals:read", "deals:full"],
        ),
        "/api/v2/deals/{id}/discounts" => (10, &["deals:read", "deals:full"]),
        "/api/v2/organizations/{id}" | "/api/v2/persons/{id}" => {
            (1, &["contacts:read", "contacts:full"])
        }
        "/api/v2/products/{id}" => (1, &["products:read", "products:full"]),
        "/api/v2/dealFields" => (
            10,
            &["deals:read", "deals:full", "admin", "deal-fields:full"],
        ),
        "/api/v2/organizationFields" | "/api/v2/personFields" => (
            10,
            &[
                "contacts:read",
                "contacts:full",
                "admin",
                "contact-fields:full",
            ],
        ),
        _ => (1, &[]),
    }
}

/// Burst windows per access token and daily budgets per company.
#[derive(Debug, Default)]
pub struct Limits {
    burst: HashMap<String, VecDeque<Instant>>,
    daily: HashMap<u64, (NaiveDate, u64)>,
    /// Whether a 429 also carries `Retry-After` (documented for the old scheme only; the app
    /// must read either it or `x-ratelimit-reset`).
    pub retry_after: bool,
}

/// The rate-limit headers of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitHeaders {
    /// `x-ratelimit-limit`: requests allowed per 2-second window.
    pub limit: u32,
    /// `x-ratelimit-remaining`.
    pub remaining: u32,
    /// `x-ratelimit-reset`: seconds until the window frees up.
    pub reset: u64,
    /// `x-daily-ratelimit-token-limit` (absent when the caller is unknown).
    pub daily_limit: Option<u64>,
    /// `x-daily-ratelimit-token-remaining`.
    pub daily_remaining: Option<u64>,
    /// `Retry-After` on a 429 (seconds), when the simulator is asked to send it.
    #[serde(default)]
    pub retry_after: Option<u64>,
}

impl RateLimitHeaders {
    /// Headers of a burst-exhausted answer.
    pub fn exhausted(limit: u32) -> Self {
        RateLimitHeaders {
            limit,
            remaining: 0,
            reset: BURST_WINDOW.as_secs(),
            daily_limit: None,
            daily_remaining: None,
            retry_after: None,
        }
    }

    fn apply(&self, headers: &mut HeaderMap) {
        let mut put = |name: &'static str, value: u64| {
            headers.insert(name, HeaderValue::from(value));
        };
        put("x-ratelimit-limit", u64::from(self.limit));
        put("x-ratelimit-remaining", u64::from(self.remaining));
        put("x-ratelimit-reset", self.reset);
        if let Some(limit) = self.daily_limit {
            put("x-daily-ratelimit-token-limit", limit);
        }
        if let Some(remaining) = self.daily_remaining {
            put("x-daily-ratelimit-token-remaining", remaining);
        }
        if let Some(seconds) = self.retry_after {
            put("retry-after", seconds);
        }
    }
}

/// An error answer in Pipedrive's format.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub body: Box<ApiError>,
}

impl ApiFailure {
    pub fn not_found() -> Self {
        ApiFailure {
            status: StatusCode::NOT_FOUND,
            body: Box::new(ApiError::not_found()),
        }
    }

    pub fn unauthorized() -> Self {
        ApiFailure {
            status: StatusCode::UNAUTHORIZED,
            body: Box::new(ApiError::unauthorized()),
        }
    }

    /// A v2 validation error (400).
    pub fn bad_request(message: &str) -> Self {
        ApiFailure {
            status: StatusCode::BAD_REQUEST,
            body: Box::new(ApiError::v2("Validation failed", message)),
        }
    }

    /// A v1-style error with `errorCode`.
    pub fn v1(status: StatusCode, error: &str) -> Self {
        ApiFailure {
            status,
            body: Box::new(ApiError::v1(
                status.as_u16(),
                error,
                "Please check developers.pipedrive.com for more information about Pipedrive API.",
            )),
        }
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        (self.status, Json(*self.body)).into_response()
    }
}

/// A 429 answer with these headers (the body shape is not published; v1 style is used).
pub fn too_many_requests(headers: RateLimitHeaders) -> Response {
    let mut response =
        ApiFailure::v1(StatusCode::TOO_MANY_REQUESTS, "Too many requests").into_response();
    headers.apply(response.headers_mut());
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Middleware for `/api/…`: token → caller, scope check, burst and daily limits, headers.
pub async fn authenticate(
    State(sim): State<PipedriveSim>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let (cost, scopes) = endpoint_rule(request.method().as_str(), &route);
    let burst_limit = sim.burst_limit();
    let idle = RateLimitHeaders {
        limit: burst_limit,
        remaining: burst_limit,
        reset: BURST_WINDOW.as_secs(),
        daily_limit: None,
        daily_remaining: None,
        retry_after: None,
    };
    let now = sim.inner.harness.now();
    let grant = bearer(request.headers()).and_then(|token| {
        lock(&sim.inner.grants)
            .access_grant(token, now)
            .map(|g| (token.to_string(), g.install.clone()))
    });
    let Some((token, install)) = grant else {
        let mut response = ApiFailure::unauthorized().into_response();
        idle.apply(response.headers_mut());
        return response;
    };

    // Burst window per token.
    let instant = Instant::now();
    let (remaining, reset) = {
        let mut limits = lock(&sim.inner.limits);
        let send_retry_after = limits.retry_after;
        let window = limits.burst.entry(token).or_default();
        while window
            .front()
            .is_some_and(|t| instant.duration_since(*t) >= BURST_WINDOW)
        {
            window.pop_front();
        }
        let reset = window
            .front()
            .map(|t| {
                BURST_WINDOW
                    .saturating_sub(instant.duration_since(*t))
                    .as_secs()
                    .max(1)
            })
            .unwrap_or(BURST_WINDOW.as_secs());
        if window.len() >= burst_limit as usize {
            drop(limits);
            return too_many_requests(RateLimitHeaders {
                reset,
                retry_after: send_retry_after.then_some(reset),
                ..RateLimitHeaders::exhausted(burst_limit)
            });
        }
        window.push_back(instant);
        (burst_limit as usize - window.len(), reset)
    };

    // Daily token budget per company (resets at midnight UTC on the simulator clock).
    let daily_limit = sim.inner.config.daily_token_budget.unwrap_or_else(|| {
        DAILY_TOKENS_PER_SEAT * lock(&sim.inner.store).seats(install.company_id).max(1)
    });
    let daily_remaining = {
        let mut limits = lock(&sim.inner.limits);
        let today = now.date_naive();
        let used = limits.daily.entry(install.company_id).or_insert((today, 0));
        if used.0 != today {
            *used = (today, 0);
        }
        if used.1 + cost > daily_limit {
            let left = daily_limit.saturating_sub(used.1);
            drop(limits);
            return too_many_requests(RateLimitHeaders {
                limit: burst_limit,
                remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
                reset,
                daily_limit: Some(daily_limit),
                daily_remaining: Some(left),
                retry_after: None,
            });
        }
        used.1 += cost;
        daily_limit - used.1
    };
    let headers = RateLimitHeaders {
        limit: burst_limit,
        remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
        reset,
        daily_limit: Some(daily_limit),
        daily_remaining: Some(daily_remaining),
        retry_after: None,
    };

    let granted = split_scopes(&install.scope);
    let mut response = if !scopes.is_empty() && !scopes.iter().any(|s| granted.contains(s)) {
        // Pipedrive's wording for a token without the endpoint's scope.
        ApiFailure::v1(StatusCode::FORBIDDEN, "Scope and URL mismatch").into_response()
    } else {
        request.extensions_mut().insert(Caller {
            company_id: install.company_id,
            user_id: install.user_id,
        });
        next.run(request).await
    };
    headers.apply(response.headers_mut());
    response
}

pub fn routes(sim: PipedriveSim) -> Router<PipedriveSim> {
    Router::new()
        .route("/api/v1/users/me", get(users_me))
        .route("/api/v1/notes", post(post_note))
        // v1 also answers without the `/api` prefix (the official scaffold calls `/v1/users/me`).
        .route("/v1/users/me", get(users_me))
        .route("/v1/notes", post(post_note))
        .route("/api/v2/deals", get(super::deals::list_deals))
        .route(
            "/api/v2/deals/{id}",
            get(get_deal).patch(super::deals::patch_deal),
        )
        .route("/api/v2/pipelines", get(super::deals::pipelines))
        .route("/api/v2/stages", get(super::deals::stages))
        .route("/api/v2/deals/{id}/products", get(deal_products))
        .route("/api/v2/deals/{id}/discounts", get(deal_discounts))
        .route("/api/v2/organizations/{id}", get(get_organization))
        .route("/api/v2/persons/{id}", get(get_person))
        .route("/api/v2/products/{id}", get(get_product))
        .route("/api/v2/dealFields", get(deal_fields))
        .route("/api/v2/organizationFields", get(organization_fields))
        .route("/api/v2/personFields", get(person_fields))
        .route_layer(axum::middleware::from_fn_with_state(sim, authenticate))
}

/// Anything else: v2's 404 body.
pub async fn unknown_route() -> ApiFailure {
    ApiFailure::not_found()
}

type ApiResult<T> = Result<Json<Envelope<T>>, ApiFailure>;

pub(super) fn parse_id(raw: &str) -> Result<u64, ApiFailure> {
    raw.parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiFailure::bad_request("id must be a positive integer"))
}

async fn users_me(
    State(sim): State<PipedriveSim>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<shared::wire::pipedrive::model::UserMe> {
    let store = lock(&sim.inner.store);
    store
        .user_me(caller.company_id, caller.user_id)
        .map(|me| Json(Envelope::ok(me)))
        .map_err(|_| ApiFailure::unauthorized())
}

async fn post_note(
    State(sim): State<PipedriveSim>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult<Note> {
    let new: NewNote = serde_json::from_slice(&body).map_err(|e| {
        ApiFailure::v1(
            StatusCode::BAD_REQUEST,
            &format!("Invalid request body: {e}"),
        )
    })?;
    if new.content.trim().is_empty() {
        return Err(ApiFailure::v1(
            StatusCode::BAD_REQUEST,
            "Validation failed: content: Missing required field",
        ));
    }
    if new.deal_id.is_none()
        && new.person_id.is_none()
        && new.org_id.is_none()
        && new.lead_id.is_none()
        && new.project_id.is_none()
    {
        return Err(ApiFailure::v1(
            StatusCode::BAD_REQUEST,
            "Validation failed: one of deal_id, person_id, org_id, lead_id, project_id is required",
        ));
    }
    let flag = |f: Option<u8>| -> Result<bool, ApiFailure> {
        match f {
            None | Some(0) => Ok(false),
            Some(1) => Ok(true),
            Some(_) => Err(ApiFailure::v1(
                StatusCode::BAD_REQUEST,
                "Validation failed: pinned flags must be 0 or 1",
            )),
        }
    };
    let pinned_deal = flag(new.pinned_to_deal_flag)?;
    let pinned_org = flag(new.pinned_to_organization_flag)?;
    let pinned_person = flag(new.pinned_to_person_flag)?;
    if pinned_deal && new.deal_id.is_none() {
        return Err(ApiFailure::v1(
            StatusCode::BAD_REQUEST,
            "Validation failed: pinned_to_deal_flag requires deal_id",
        ));
    }

    let now = sim
        .inner
        .harness
        .now()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let mut store = lock(&sim.inner.store);
    let company = caller.company_id;
    let author = store
        .user(company, caller.user_id)
        .map_err(|_| ApiFailure::unauthorized())?
        .clone();
    let user_id = match new.user_id {
        Some(other) if other != author.id => {
            if !author.is_admin {
                return Err(ApiFailure::v1(
                    StatusCode::FORBIDDEN,
                    "Only admins can add notes on behalf of other users",
                ));
            }
            store
                .user(company, other)
                .map_err(|_| ApiFailure::v1(StatusCode::BAD_REQUEST, "User not found"))?
                .clone()
        }
        _ => author,
    };
    let deal = match new.deal_id {
        Some(id) => Some(
            store
                .deals
                .get(&(company, id))
                .cloned()
                .ok_or_else(|| ApiFailure::v1(StatusCode::NOT_FOUND, "Deal not found"))?,
        ),
        None => None,
    };
    let org_id = new.org_id.or(deal.as_ref().and_then(|d| d.org_id));
    let person_id = new.person_id.or(deal.as_ref().and_then(|d| d.person_id));
    let organization = match org_id {
        Some(id) => Some(
            store
                .organizations
                .get(&(company, id))
                .map(|o| NamedRef {
                    name: Some(o.name.clone()),
                })
                .ok_or_else(|| ApiFailure::v1(StatusCode::NOT_FOUND, "Organization not found"))?,
        ),
        None => None,
    };
    let person = match person_id {
        Some(id) => Some(
            store
                .persons
                .get(&(company, id))
                .map(|p| NamedRef {
                    name: Some(p.name.clone()),
                })
                .ok_or_else(|| ApiFailure::v1(StatusCode::NOT_FOUND, "Person not found"))?,
        ),
        None => None,
    };
    let note = Note {
        id: store.next_note_id(),
        active_flag: Some(true),
        add_time: Some(new.add_time.clone().unwrap_or_else(|| now.clone())),
        content: new.content.clone(),
        deal: deal.as_ref().map(|d| NoteDeal {
            title: Some(d.title.clone()),
        }),
        lead_id: new.lead_id.clone(),
        deal_id: new.deal_id,
        last_update_user_id: Some(user_id.id),
        org_id,
        organization,
        person,
        person_id,
        project_id: new.project_id,
        project: None,
        pinned_to_lead_flag: Some(false),
        pinned_to_deal_flag: Some(pinned_deal),
        pinned_to_organization_flag: Some(pinned_org),
        pinned_to_person_flag: Some(pinned_person),
        pinned_to_project_flag: Some(false),
        update_time: Some(now),
        user: Some(NoteUser {
            email: Some(user_id.email.clone()),
            icon_url: Some(format!(
                "https://sim.invalid/avatars/{company}-{}.png",
                user_id.id
            )),
            is_you: Some(user_id.id == caller.user_id),
            name: Some(user_id.name.clone()),
        }),
        user_id: Some(user_id.id),
    };
    Ok(Json(Envelope::ok(store.add_note(company, note))))
}

/// Reads one record of the caller's company, 404 otherwise (including other companies' ids).
fn one<T: Clone>(
    sim: &PipedriveSim,
    raw_id: &str,
    pick: impl Fn(&super::store::Store, (u64, u64)) -> Option<T>,
    caller: &Caller,
) -> ApiResult<T> {
    let id = parse_id(raw_id)?;
    let store = lock(&sim.inner.store);
    pick(&store, (caller.company_id, id))
        .map(|item| Json(Envelope::ok(item)))
        .ok_or_else(ApiFailure::not_found)
}

async fn get_deal(
    State(sim): State<PipedriveSim>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<shared::wire::pipedrive::model::Deal> {
    one(&sim, &id, |s, k| s.deals.get(&k).cloned(), &caller)
}

async fn get_organization(
    State(sim): State<PipedriveSim>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<shared::wire::pipedrive::model::Organization> {
    one(&sim, &id, |s, k| s.organizations.get(&k).cloned(), &caller)
}

async fn get_person(
    State(sim): State<PipedriveSim>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<shared::wire::pipedrive::model::Person> {
    one(&sim, &id, |s, k| s.persons.get(&k).cloned(), &caller)
}

async fn get_product(
    State(sim): State<PipedriveSim>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<shared::wire::pipedrive::model::Product> {
    one(&sim, &id, |s, k| s.products.get(&k).cloned(), &caller)
}

/// Query of v2 list endpoints.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
    limit: Option<String>,
    sort_direction: Option<String>,
    include_fields: Option<String>,
}

impl ListQuery {
    /// Just the page: a cursor and a limit.
    pub(super) fn page_of(cursor: Option<String>, limit: Option<String>) -> Self {
        ListQuery {
            cursor,
            limit,
            ..ListQuery::default()
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CursorState {
    offset: usize,
}

/// One page of `items` per the query; the cursor is opaque to clients.
pub(super) fn paginate<T: Clone>(
    items: &[T],
    query: &ListQuery,
) -> Result<Envelope<Vec<T>>, ApiFailure> {
    let limit = match query.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| ApiFailure::bad_request("limit must be an integer between 1 and 500"))?,
    };
    let offset = match query.cursor.as_deref() {
        None | Some("") => 0,
        Some(raw) => URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<CursorState>(&bytes).ok())
            .map(|c| c.offset)
            .ok_or_else(|| ApiFailure::bad_request("cursor is invalid"))?,
    };
    let end = offset.saturating_add(limit).min(items.len());
    let page = items.get(offset..end).unwrap_or_default().to_vec();
    let next_cursor = (end < items.len()).then(|| {
        let state = serde_json::json!({ "offset": end });
        URL_SAFE_NO_PAD.encode(state.to_string())
    });
    Ok(Envelope::page(page, next_cursor))
}

async fn deal_products(
    State(sim): State<PipedriveSim>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Vec<shared::wire::pipedrive::model::DealProduct>> {
    let id = parse_id(&id)?;
    let mut lines = {
        let store = lock(&sim.inner.store);
        let key = (caller.company_id, id);
        if !store.deals.contains_key(&key) {
            return Err(ApiFailure::not_found());
        }
        store.deal_products.get(&key).cloned().unwrap_or_default()
    };
    match query.sort_direction.as_deref() {
        None | Some("asc") => {}
        Some("desc") => lines.reverse(),
        Some(_) => {
            return Err(ApiFailure::bad_request(
                "sort_direction must be asc or desc",
            ));
        }
    }
    paginate(&lines, &query).map(Json)
}

async fn deal_discounts(
    State(sim): State<PipedriveSim>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Vec<shared::wire::pipedrive::model::DealDiscount>> {
    let id = parse_id(&id)?;
    let store = lock(&sim.inner.store);
    let key = (caller.company_id, id);
    if !store.deals.contains_key(&key) {
        return Err(ApiFailure::not_found());
    }
    let discounts = store.deal_discounts.get(&key).cloned().unwrap_or_default();
    Ok(Json(Envelope::ok(discounts)))
}

fn fields(
    sim: &PipedriveSim,
    caller: &Caller,
    entity: FieldEntity,
    query: &ListQuery,
) -> ApiResult<Vec<FieldDefinition>> {
    let mut defs = lock(&sim.inner.store)
        .fields
        .get(&(caller.company_id, entity))
        .cloned()
        .unwrap_or_default();
    let include: Vec<&str> = query
        .include_fields
        .as_deref()
        .map(|s| s.split(',').map(str::trim).collect())
        .unwrap_or_default();
    for def in &mut defs {
        if !include.contains(&"ui_visibility") {
            def.ui_visibility = None;
        }
        if !include.contains(&"important_fields") {
            def.important_fields = None;
        }
        if !include.contains(&"required_fields") {
            def.required_fields = None;
        }
    }
    paginate(&defs, query).map(Json)
}

async fn deal_fields(
    State(sim): State<PipedriveSim>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Vec<FieldDefinition>> {
    fields(&sim, &caller, FieldEntity::Deal, &query)
}

async fn organization_fields(
    State(sim): State<PipedriveSim>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Vec<FieldDefinition>> {
    fields(&sim, &caller, FieldEntity::Organization, &query)
}

async fn person_fields(
    State(sim): State<PipedriveSim>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Vec<FieldDefinition>> {
    fields(&sim, &caller, FieldEntity::Person, &query)
}
