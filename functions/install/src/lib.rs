//! The `install` function: the Pipedrive install and uninstall callbacks, and the company's
//! QuickBooks connection (connect, OAuth callback, disconnect, status).
//!
//! | route | auth | request → answer |
//! |---|---|---|
//! | `GET /oauth/pipedrive/callback?code&state?` | the OAuth code (`state`, when present, must be ours) | exchanges the code, reads `users/me`, stores the install and tokens → `302` to the app's Pipedrive settings page; `?error=access_denied` → 200 HTML page; failures → HTML page (400/502) |
//! | `DELETE /oauth/pipedrive/callback` | HTTP Basic = the app's Pipedrive client id and secret (constant-time) | JSON `{client_id, company_id, user_id, timestamp}` → `200 {"ok":true}`; removes the user's tokens and install; the last user's uninstall purges the company (QuickBooks revoked, secret and every record deleted). Wrong credentials → 401 problem, nothing changes |
//! | `POST /api/quickbooks/connect` | Pipedrive JWT; any installed user | optional JSON `{replace?, confirm_new_realm?}` → `200 {"authorize_url", "expires_in"}`; 409 problem naming who holds an active connection unless `replace` (Pipedrive admins only) |
//! | `GET /oauth/quickbooks/callback?code&state&realmId` | the signed `state` (10 min) | stores the connection → 200 HTML "Connected to <company>"; tampered/expired state, missing `realmId`, replayed code, another realm than the invoice links → 4xx HTML page, nothing stored |
//! | `POST /api/quickbooks/disconnect` | Pipedrive JWT; a Pipedrive admin or the user who connected | revokes at Intuit (best effort), deletes the QuickBooks tokens, marks the connection `disconnected` (invoice links stay) → `200` [`ConnectionView`] |
//! | `GET /api/connection` | Pipedrive JWT; any installed user | `200` [`ConnectionView`] (company name and country from QuickBooks when connected); a connection that needs reconnecting answers the 409 `quickbooks-reconnect-required` problem with `reconnect_url` |
//!
//! Choices:
//! - **Who connects:** any user who installed the app may connect QuickBooks when no connection is
//!   active (the person holding the QuickBooks login is often not a Pipedrive admin). Replacing an
//!   active connection (`{"replace": true}`) and moving the company to another QuickBooks company
//!   than its invoice links point at (`{"confirm_new_realm": true}`) are reserved to Pipedrive
//!   admins; both choices travel inside the signed `state`, so the callback cannot be talked into
//!   them.
//! - **Needs reconnect:** `GET /api/connection` answers the same 409 reconnect problem as every
//!   other QuickBooks call, so the UI has one handler for it; the problem's `detail` carries the
//!   reason and `reconnect_url` the app's Pipedrive settings page.
//! - **Uninstall** does its work before answering (a Lambda cannot work after its answer), bounded
//!   by the outbound timeouts; whatever fails after authentication is logged and still answered
//!   200, since Pipedrive neither reads nor retries the answer.
//! - **Redirect URIs:** `{PUBLIC_BASE_URL}/oauth/pipedrive/callback` (Pipedrive's single callback
//!   URL, also the uninstall target) and `{PUBLIC_BASE_URL}/oauth/quickbooks/callback`.
//!
//! Codes, tokens and secrets are never logged or returned; the callback pages carry
//! `Cache-Control: no-store` and `Referrer-Policy: no-referrer` (their URL holds the code).

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;

use shared::access::require_install;
use shared::app::App;
use shared::auth::state::{OAuthState, STATE_TTL_SECS, StateError, StatePurpose, StateSigner};
use shared::domain::{
    CompanyId, CompanyProfile, ConnectionState, QuickBooksConnection, QuickBooksEnvironment,
    Tenant, UserId, UserInstall, UserLocale,
};
use shared::error::ApiError;
use shared::http::{MAX_BODY_BYTES, QueryParams, Route, parse_json};
use shared::pipedrive::client::{ClientCredentials as PipedriveCredentials, PipedriveError};
use shared::pipedrive::model::UninstallCallback;
use shared::quickbooks::client::{ClientCredentials as QuickBooksCredentials, QuickBooksError};
use shared::store::StoreError;
use shared::tokens::manager::{TokenFailure, app_settings_url};
use shared::tokens::{PipedriveTokens, QuickBooksTokens, SecretString};

/// Path of the Pipedrive callback (install `GET`, uninstall `DELETE`).
pub const PIPEDRIVE_CALLBACK_PATH: &str = "/oauth/pipedrive/callback";
/// Path of the QuickBooks OAuth callback.
pub const QUICKBOOKS_CALLBACK_PATH: &str = "/oauth/quickbooks/callback";

/// Every route this function serves (checked against template.yaml and the OpenAPI description).
pub const ROUTES: &[Route] = &[
    Route::new("GET", PIPEDRIVE_CALLBACK_PATH),
    Route::new("DELETE", PIPEDRIVE_CALLBACK_PATH),
    Route::new("GET", QUICKBOOKS_CALLBACK_PATH),
    Route::new("POST", "/api/quickbooks/connect"),
    Route::new("POST", "/api/quickbooks/disconnect"),
    Route::new("GET", "/api/connection"),
];

/// The routes of this function (the Lambda binary and the local server both mount this).
pub fn router(app: App) -> Router {
    Router::new()
        .route(
            PIPEDRIVE_CALLBACK_PATH,
            get(pipedrive_callback).delete(pipedrive_uninstall),
        )
        .route(QUICKBOOKS_CALLBACK_PATH, get(quickbooks_callback))
        .route("/api/quickbooks/connect", post(quickbooks_connect))
        .route("/api/quickbooks/disconnect", post(quickbooks_disconnect))
        .route("/api/connection", get(connection))
        .with_state(app)
}

/// The Pipedrive redirect URI of this deployment (`base` from [`Deployment::base_url`]).
///
/// [`Deployment::base_url`]: shared::app::Deployment::base_url
pub fn pipedrive_redirect_uri(base: &str) -> String {
    format!("{base}{PIPEDRIVE_CALLBACK_PATH}")
}

/// The QuickBooks redirect URI of this deployment.
pub fn quickbooks_redirect_uri(base: &str) -> String {
    format!("{base}{QUICKBOOKS_CALLBACK_PATH}")
}

fn signer(app: &App) -> StateSigner {
    StateSigner::new(&app.credentials.state_signing_key)
}

fn pipedrive_credentials(app: &App) -> PipedriveCredentials {
    PipedriveCredentials {
        client_id: app.credentials.pipedrive_client_id.clone(),
        client_secret: app.credentials.pipedrive_client_secret.clone(),
    }
}

fn quickbooks_credentials(app: &App) -> QuickBooksCredentials {
    QuickBooksCredentials {
        client_id: app.credentials.quickbooks_client_id.clone(),
        client_secret: app.credentials.quickbooks_client_secret.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Small HTML pages for the browser-facing callbacks
// ---------------------------------------------------------------------------------------------

/// A small HTML page (what a browser shows after an OAuth redirect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
    /// Optional link (href, text).
    pub link: Option<(String, String)>,
}

impl Page {
    fn new(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        Page {
            status,
            title: title.into(),
            message: message.into(),
            link: None,
        }
    }

    fn with_link(mut self, href: impl Into<String>, text: impl Into<String>) -> Self {
        self.link = Some((href.into(), text.into()));
        self
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn private_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let link = match &self.link {
            Some((href, text)) => format!(
                "<p><a href=\"{}\" target=\"_top\">{}</a></p>",
                escape(href),
                escape(text)
            ),
            None => String::new(),
        };
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#222}}\
h1{{font-size:1.4rem}}</style></head><body><h1>{title}</h1><p>{message}</p>{link}</body></html>",
            title = escape(&self.title),
            message = escape(&self.message),
        );
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response();
        private_headers(&mut response);
        response
    }
}

/// An upstream value shown on a page: trimmed to something short and printable.
fn shown(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_-. ".contains(*c))
        .take(80)
        .collect()
}

fn found(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
        }
        Err(_) => {
            return Page::new(
                StatusCode::OK,
                "The app is installed",
                "Return to Pipedrive and open the app's settings.",
            )
            .into_response();
        }
    }
    private_headers(&mut response);
    response
}

// ---------------------------------------------------------------------------------------------
// GET /oauth/pipedrive/callback — install
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct PipedriveCallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

async fn pipedrive_callback(
    State(app): State<App>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<PipedriveCallbackQuery>,
) -> Response {
    let base = app.deployment.base_url(&headers);
    match install(&app, &base, query).await {
        Ok(response) => response,
        Err(page) => page.into_response(),
    }
}

async fn install(app: &App, base: &str, query: PipedriveCallbackQuery) -> Result<Response, Page> {
    if let Some(error) = query.error.as_deref() {
        return Err(if error == "access_denied" {
            Page::new(
                StatusCode::OK,
                "Installation cancelled",
                "You cancelled the installation, so nothing was installed. You can install the app any time from the Pipedrive Marketplace.",
            )
        } else {
            tracing::warn!(
                error = shown(error),
                "Pipedrive install callback with an error"
            );
            Page::new(
                StatusCode::BAD_REQUEST,
                "Installation failed",
                format!(
                    "Pipedrive reported an error ({}). Please install the app again from the Pipedrive Marketplace.",
                    shown(error)
                ),
            )
        });
    }
    let now = app.tokens.now();
    // Marketplace installs carry no state; installs started from our own pages do.
    let bound = match query.state.as_deref().filter(|s| !s.is_empty()) {
        Some(raw) => match signer(app).verify(raw, StatePurpose::PipedriveInstall, now) {
            Ok(state) => Some(state),
            Err(error) => {
                tracing::warn!(%error, "Pipedrive install callback with a bad state");
                return Err(state_page(
                    error,
                    "install the app again from the Pipedrive Marketplace",
                ));
            }
        },
        None => None,
    };
    let Some(code) = query.code.as_deref().filter(|c| !c.is_empty()) else {
        return Err(Page::new(
            StatusCode::BAD_REQUEST,
            "Installation failed",
            "Pipedrive did not send an authorization code. Please install the app again from the Pipedrive Marketplace.",
        ));
    };
    let credentials = pipedrive_credentials(app);
    let answer = app
        .pipedrive
        .exchange_code(&credentials, code, &pipedrive_redirect_uri(base))
        .await
        .map_err(|error| match error {
            PipedriveError::InvalidGrant(_) => Page::new(
                StatusCode::BAD_REQUEST,
                "This installation link was already used",
                "The authorization code was already used or has expired, so nothing was installed. Please install the app again from the Pipedrive Marketplace.",
            ),
            other => {
                tracing::error!(error = %other, "Pipedrive code exchange failed");
                upstream_page("Pipedrive")
            }
        })?;
    let api_domain = answer.api_domain.trim_end_matches('/').to_string();
    let access = SecretString::new(answer.access_token.clone());
    let me = app
        .pipedrive
        .users_me(&api_domain, &access)
        .await
        .map_err(|error| {
            tracing::error!(%error, "Pipedrive users/me failed during install");
            upstream_page("Pipedrive")
        })?;
    let company = CompanyId(me.company_id);
    let user = UserId(me.id);
    if let Some(state) = &bound
        && (state.company_id.is_some_and(|c| c != company)
            || state.user_id.is_some_and(|u| u != user))
    {
        tracing::warn!(
            company_id = company.0,
            "install state was issued to another user"
        );
        return Err(Page::new(
            StatusCode::BAD_REQUEST,
            "Installation refused",
            "This installation was started by another Pipedrive user. Please install the app again while logged in as yourself.",
        ));
    }
    let tokens = PipedriveTokens {
        access_token: access,
        access_expires_at: now
            + Duration::seconds(i64::try_from(answer.expires_in).unwrap_or(3599)),
        refresh_token: SecretString::new(answer.refresh_token.clone()),
        api_domain: api_domain.clone(),
        scope: Some(answer.scope.clone()).filter(|s| !s.is_empty()),
        updated_at: now,
    };
    let scopes: Vec<String> = answer.scopes().into_iter().map(str::to_string).collect();
    let is_admin = me.is_admin();
    let name = me.name.clone();
    let locale = me.locale.clone().map(|locale| UserLocale {
        locale,
        read_at: now,
    });
    let records = app.records.clone();
    let stored = app
        .tokens
        .with_lease(company, |vault| async move {
            vault
                .update(company, |s| {
                    s.pipedrive.insert(user.0, tokens);
                })
                .await?;
            match records
                .create_company(&CompanyProfile::new(company, now))
                .await
            {
                Ok(_) | Err(StoreError::Conflict { .. }) => {}
                Err(other) => return Err(TokenFailure::Store(other)),
            }
            let installed_at = records
                .get_user_install(company, user)
                .await?
                .map_or(now, |existing| existing.installed_at);
            records
                .put_user_install(&UserInstall {
                    company_id: company,
                    user_id: user,
                    scopes,
                    api_domain: api_domain.clone(),
                    name,
                    is_admin,
                    installed_at,
                    locale,
                    version: 0,
                })
                .await?;
            Ok(api_domain)
        })
        .await;
    match stored {
        Ok(api_domain) => {
            tracing::info!(company_id = company.0, user_id = user.0, "app installed");
            Ok(found(&app_settings_url(
                &api_domain,
                &app.credentials.pipedrive_client_id,
            )))
        }
        Err(error) => {
            tracing::error!(company_id = company.0, %error, "storing the install failed");
            Err(Page::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Installation did not finish",
                "We could not save the installation. Please install the app again in a minute.",
            ))
        }
    }
}

fn upstream_page(who: &str) -> Page {
    Page::new(
        StatusCode::BAD_GATEWAY,
        format!("{who} did not answer"),
        format!(
            "{who} did not answer as expected, so nothing was changed. Please try again in a minute."
        ),
    )
}

fn state_page(error: StateError, again: &str) -> Page {
    match error {
        StateError::Expired => Page::new(
            StatusCode::BAD_REQUEST,
            "This link has expired",
            format!(
                "The link is valid for {} minutes and has expired, so nothing was changed. Please {again}.",
                STATE_TTL_SECS / 60
            ),
        ),
        _ => Page::new(
            StatusCode::BAD_REQUEST,
            "This link is not valid",
            format!(
                "The link was altered or was not issued by this app, so nothing was changed. Please {again}."
            ),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// DELETE /oauth/pipedrive/callback — uninstall
// ---------------------------------------------------------------------------------------------

/// Whether `Authorization` is HTTP Basic with exactly the app's client id and secret (compared
/// in constant time).
pub fn basic_auth_matches(
    headers: &HeaderMap,
    client_id: &str,
    client_secret: &SecretString,
) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let expected = format!("{client_id}:{}", client_secret.expose());
    bool::from(decoded.as_slice().ct_eq(expected.as_bytes()))
}

async fn pipedrive_uninstall(
    State(app): State<App>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !basic_auth_matches(
        &headers,
        &app.credentials.pipedrive_client_id,
        &app.credentials.pipedrive_client_secret,
    ) {
        tracing::warn!("uninstall callback with wrong credentials");
        return Err(ApiError::Unauthorized(
            "The uninstall callback must authenticate with the app's client id and secret (HTTP Basic).".into(),
        ));
    }
    let bytes = read_body(body).await?;
    let callback: UninstallCallback = parse_json(&bytes)?;
    if callback.client_id != app.credentials.pipedrive_client_id {
        return Err(ApiError::bad_request(
            "The uninstall callback names another app's client id.",
        ));
    }
    let company = CompanyId(callback.company_id);
    let user = UserId(callback.user_id);
    match uninstall(&app, company, user).await {
        Ok(purged) => {
            tracing::info!(
                company_id = company.0,
                user_id = user.0,
                purged,
                "app uninstalled"
            )
        }
        Err(error) => {
            tracing::error!(company_id = company.0, user_id = user.0, %error, "uninstall did not finish")
        }
    }
    Ok(Json(json!({ "ok": true })))
}

/// Removes a user's tokens and install; purges the company after its last user. Returns
/// whether the company was purged.
pub async fn uninstall(app: &App, company: CompanyId, user: UserId) -> Result<bool, TokenFailure> {
    let records = app.records.clone();
    // Pipedrive never retries this callback: wait out a whole lease rather than give up.
    let wait = app.tokens.options().lease_ttl.to_std().unwrap_or_default()
        + std::time::Duration::from_secs(2);
    app.tokens
        .with_lease_waiting(company, wait, |vault| async move {
            vault
                .update(company, |s| {
                    s.pipedrive.remove(&user.0);
                })
                .await?;
            records.delete_user_install(company, user).await?;
            if !records.list_user_installs(company).await?.is_empty() {
                return Ok(false);
            }
            // The last user left: revoke QuickBooks (best effort), then forget the company.
            let secrets = vault.read_fresh(company).await?;
            if let Some(quickbooks) = &secrets.quickbooks {
                revoke_quickbooks(app, company, quickbooks).await;
            }
            vault.purge(company).await?;
            let deleted = records.purge_company(company).await?;
            tracing::info!(
                company_id = company.0,
                deleted,
                "company purged after its last uninstall"
            );
            Ok(true)
        })
        .await
}

async fn revoke_quickbooks(app: &App, company: CompanyId, tokens: &QuickBooksTokens) {
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

async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::PayloadTooLarge(format!(
                "The request body is larger than {} KiB.",
                MAX_BODY_BYTES / 1024
            ))
        })
}

// ---------------------------------------------------------------------------------------------
// POST /api/quickbooks/connect
// ---------------------------------------------------------------------------------------------

/// Body of `POST /api/quickbooks/connect` (optional; both default to false).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    /// Replace the active connection (Pipedrive admins only).
    #[serde(default)]
    pub replace: bool,
    /// Allow a QuickBooks company other than the one the invoice links point at (admins only).
    #[serde(default)]
    pub confirm_new_realm: bool,
}

/// An optional JSON body: empty is the default; anything else must be JSON.
async fn optional_json<T: Default + serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let bytes = read_body(body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType(
            "Send the request body as JSON with `Content-Type: application/json`.".into(),
        ));
    }
    parse_json(&bytes)
}

async fn user_name(app: &App, company: CompanyId, user: UserId) -> String {
    match app.records.get_user_install(company, user).await {
        Ok(Some(install)) => install
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("Pipedrive user {user}")),
        _ => format!("Pipedrive user {user} (who has since uninstalled the app)"),
    }
}

async fn quickbooks_connect(
    State(app): State<App>,
    tenant: Tenant,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (profile, install) = require_install(&app.records, tenant).await?;
    let request: ConnectRequest = optional_json(&headers, body).await?;
    if (request.replace || request.confirm_new_realm) && !install.is_admin {
        return Err(ApiError::Forbidden(
            "Only a Pipedrive admin of your company can replace the QuickBooks connection or move it to another QuickBooks company.".into(),
        ));
    }
    if let Some(connection) = &profile.quickbooks
        && connection.state == ConnectionState::Connected
        && !request.replace
    {
        let holder = if connection.connected_by == tenant.user_id {
            "you".to_string()
        } else {
            user_name(&app, tenant.company_id, connection.connected_by).await
        };
        return Err(ApiError::Refused {
            reason: shared::error::Refusal::AlreadyConnected,
            detail: format!(
                "QuickBooks is already connected by {holder}. Disconnect it first, or ask a Pipedrive admin to replace the connection."
            ),
            current: Some(json!({
                "state": "connected",
                "realm_id": connection.realm_id,
                "connected_by": { "id": connection.connected_by, "name": holder },
            })),
        });
    }
    let mut state =
        OAuthState::quickbooks_connect(tenant.company_id, tenant.user_id, app.tokens.now());
    state.replace = request.replace;
    state.confirm_new_realm = request.confirm_new_realm;
    let authorize_url = app.quickbooks.authorize_url(
        &app.credentials.quickbooks_client_id,
        &quickbooks_redirect_uri(&app.deployment.base_url(&headers)),
        &signer(&app).sign(&state),
    );
    Ok(Json(json!({
        "authorize_url": authorize_url,
        "expires_in": STATE_TTL_SECS,
    })))
}

// ---------------------------------------------------------------------------------------------
// GET /oauth/quickbooks/callback
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct QuickBooksCallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default, rename = "realmId")]
    realm_id: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

const CONNECT_AGAIN: &str =
    "return to Pipedrive and click \"Connect QuickBooks\" in the app settings again";

async fn quickbooks_callback(
    State(app): State<App>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<QuickBooksCallbackQuery>,
) -> Response {
    let base = app.deployment.base_url(&headers);
    match connect(&app, &base, query).await {
        Ok(page) | Err(page) => page.into_response(),
    }
}

async fn connect(app: &App, base: &str, query: QuickBooksCallbackQuery) -> Result<Page, Page> {
    if let Some(error) = query.error.as_deref() {
        return Err(if error == "access_denied" {
            Page::new(
                StatusCode::OK,
                "Connection cancelled",
                "You cancelled connecting QuickBooks, so nothing was changed. You can close this tab and return to Pipedrive.",
            )
        } else {
            tracing::warn!(error = shown(error), "QuickBooks callback with an error");
            Page::new(
                StatusCode::BAD_REQUEST,
                "QuickBooks was not connected",
                format!(
                    "QuickBooks reported an error ({}). Please {CONNECT_AGAIN}.",
                    shown(error)
                ),
            )
        });
    }
    let now = app.tokens.now();
    let raw_state = query.state.as_deref().unwrap_or("");
    let state = signer(app)
        .verify(raw_state, StatePurpose::QuickBooksConnect, now)
        .map_err(|error| {
            tracing::warn!(%error, "QuickBooks callback with a bad state");
            state_page(error, CONNECT_AGAIN)
        })?;
    let (Some(company), Some(user)) = (state.company_id, state.user_id) else {
        return Err(state_page(StateError::Malformed, CONNECT_AGAIN));
    };
    let Some(code) = query.code.as_deref().filter(|c| !c.is_empty()) else {
        return Err(Page::new(
            StatusCode::BAD_REQUEST,
            "QuickBooks was not connected",
            format!("QuickBooks did not send an authorization code. Please {CONNECT_AGAIN}."),
        ));
    };
    let realm = match query.realm_id.as_deref().map(str::trim) {
        Some(r)
            if !r.is_empty() && r.len() <= 32 && r.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            r.to_string()
        }
        Some(r) if !r.is_empty() => {
            return Err(Page::new(
                StatusCode::BAD_REQUEST,
                "QuickBooks was not connected",
                format!(
                    "The QuickBooks company id (realmId) is not valid. Please {CONNECT_AGAIN}."
                ),
            ));
        }
        _ => {
            return Err(Page::new(
                StatusCode::BAD_REQUEST,
                "QuickBooks was not connected",
                format!(
                    "QuickBooks did not say which company you chose (realmId is missing), so nothing was changed. Please {CONNECT_AGAIN}."
                ),
            ));
        }
    };
    let stored_error = |error: &dyn std::fmt::Display| {
        tracing::error!(company_id = company.0, %error, "QuickBooks callback could not read the store");
        Page::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "QuickBooks was not connected",
            format!("We could not save the connection. Please {CONNECT_AGAIN} in a minute."),
        )
    };
    let install = app
        .records
        .get_user_install(company, user)
        .await
        .map_err(|e| stored_error(&e))?
        .ok_or_else(|| {
            Page::new(
                StatusCode::FORBIDDEN,
                "QuickBooks was not connected",
                "The app is no longer installed for your Pipedrive user. Install it from the Pipedrive Marketplace, then connect QuickBooks from its settings.",
            )
        })?;
    let settings_link = app_settings_url(&install.api_domain, &app.credentials.pipedrive_client_id);
    let profile = app
        .records
        .get_company(company)
        .await
        .map_err(|e| stored_error(&e))?
        .ok_or_else(|| stored_error(&"the installed company has no profile"))?;
    if let Some(connection) = &profile.quickbooks
        && connection.state == ConnectionState::Connected
        && !state.replace
    {
        let holder = if connection.connected_by == user {
            "you".to_string()
        } else {
            user_name(app, company, connection.connected_by).await
        };
        return Err(Page::new(
            StatusCode::CONFLICT,
            "QuickBooks is already connected",
            format!(
                "QuickBooks is already connected by {holder}, so nothing was changed. To use another connection, disconnect it first or ask a Pipedrive admin to replace it."
            ),
        )
        .with_link(settings_link, "Back to the app settings in Pipedrive"));
    }
    if let Some(linked) = &profile.linked_realm_id
        && *linked != realm
        && !state.confirm_new_realm
    {
        return Err(Page::new(
            StatusCode::CONFLICT,
            "This is another QuickBooks company",
            format!(
                "Your company's invoices are linked to QuickBooks company {linked}, but you chose company {realm}. Nothing was changed: invoices from two sets of books are never mixed. To move to the new company, a Pipedrive admin must confirm the switch in the app settings."
            ),
        )
        .with_link(settings_link, "Back to the app settings in Pipedrive"));
    }
    let credentials = quickbooks_credentials(app);
    let answer = app
        .quickbooks
        .exchange_code(&credentials, code, &quickbooks_redirect_uri(base))
        .await
        .map_err(|error| match error {
            QuickBooksError::InvalidGrant { .. } => Page::new(
                StatusCode::BAD_REQUEST,
                "This connection link was already used",
                format!(
                    "QuickBooks says the authorization code was already used or has expired, so nothing was changed. Please {CONNECT_AGAIN}."
                ),
            ),
            other => {
                tracing::error!(error = %other, "QuickBooks code exchange failed");
                upstream_page("QuickBooks")
            }
        })?;
    let access = SecretString::new(answer.access_token.clone());
    // Proves that the token opens the company named by `realmId`, and names it for the page.
    let info = match app.quickbooks.company_info(&realm, &access).await {
        Ok(info) => Some(info),
        Err(
            error @ (QuickBooksError::Unauthorized { .. }
            | QuickBooksError::Fault {
                status: 401 | 403, ..
            }
            | QuickBooksError::Http {
                status: 401 | 403, ..
            }),
        ) => {
            tracing::warn!(company_id = company.0, %error, "the new token does not open the chosen realm");
            return Err(Page::new(
                StatusCode::BAD_REQUEST,
                "QuickBooks was not connected",
                format!(
                    "QuickBooks did not confirm access to the company you chose. Please {CONNECT_AGAIN}."
                ),
            ));
        }
        Err(error) => {
            tracing::warn!(company_id = company.0, %error, "CompanyInfo failed after connecting; continuing");
            None
        }
    };
    let tokens = QuickBooksTokens {
        realm_id: realm.clone(),
        access_token: access,
        access_expires_at: now + Duration::seconds(answer.expires_in.max(0)),
        refresh_token: SecretString::new(answer.refresh_token.clone()),
        refresh_expires_at: (answer.x_refresh_token_expires_in > 0)
            .then(|| now + Duration::seconds(answer.x_refresh_token_expires_in)),
        updated_at: now,
    };
    let previous = app
        .tokens
        .with_lease(company, |vault| async move {
            let before = vault.read_fresh(company).await?.quickbooks;
            vault
                .update(company, |s| s.quickbooks = Some(tokens))
                .await?;
            Ok(before)
        })
        .await
        .map_err(|e| stored_error(&e))?;
    if let Some(old) = previous
        && old.realm_id != realm
    {
        // Another realm's grant is no longer used: let it go (never for the same realm, where a
        // revoke would end the new connection too).
        revoke_quickbooks(app, company, &old).await;
    }
    let environment = app.deployment.quickbooks_environment;
    save_connection(app, company, |profile| {
        profile.quickbooks = Some(QuickBooksConnection {
            realm_id: realm.clone(),
            environment,
            state: ConnectionState::Connected,
            connected_by: user,
            connected_at: now,
            reason: None,
        });
        if profile.linked_realm_id.is_none() || state.confirm_new_realm {
            profile.linked_realm_id = Some(realm.clone());
        }
    })
    .await
    .map_err(|e| stored_error(&e))?;
    tracing::info!(
        company_id = company.0,
        user_id = user.0,
        realm_id = realm.as_str(),
        "QuickBooks connected"
    );
    let name = info
        .as_ref()
        .and_then(|i| i.company_name.clone().or_else(|| i.legal_name.clone()))
        .filter(|n| !n.trim().is_empty());
    Ok(Page::new(
        StatusCode::OK,
        match &name {
            Some(n) => format!("Connected to {n}"),
            None => "Connected to QuickBooks".to_string(),
        },
        "QuickBooks is connected. You can close this tab and return to Pipedrive to create invoices from your deals.",
    )
    .with_link(settings_link, "Return to Pipedrive"))
}

/// A versioned read-modify-write of the company profile, retried on conflicts.
async fn save_connection(
    app: &App,
    company: CompanyId,
    change: impl Fn(&mut CompanyProfile),
) -> Result<CompanyProfile, StoreError> {
    for _ in 0..5 {
        let mut profile = match app.records.get_company(company).await? {
            Some(profile) => profile,
            None => CompanyProfile::new(company, app.tokens.now()),
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

// ---------------------------------------------------------------------------------------------
// POST /api/quickbooks/disconnect and GET /api/connection
// ---------------------------------------------------------------------------------------------

/// A user, as the settings page shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub id: UserId,
    pub name: String,
}

/// The company's QuickBooks connection as the settings page and the panel show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionView {
    /// `not_connected`, `connected`, `disconnected` (`needs_reconnect` answers the 409 problem).
    pub state: String,
    pub realm_id: Option<String>,
    pub company_name: Option<String>,
    pub country: Option<String>,
    pub connected_by: Option<UserRef>,
    pub connected_at: Option<DateTime<Utc>>,
    pub environment: Option<QuickBooksEnvironment>,
    pub reason: Option<String>,
    /// The QuickBooks company the invoice links point at (kept after a disconnect).
    pub linked_realm_id: Option<String>,
}

async fn view(app: &App, profile: &CompanyProfile) -> ConnectionView {
    let (state, connection) = match &profile.quickbooks {
        None => ("not_connected", None),
        Some(c) => (
            match c.state {
                ConnectionState::Connected => "connected",
                ConnectionState::NeedsReconnect => "needs_reconnect",
                ConnectionState::Disconnected => "disconnected",
            },
            Some(c),
        ),
    };
    let connected_by = match connection {
        Some(c) => Some(UserRef {
            id: c.connected_by,
            name: user_name(app, profile.company_id, c.connected_by).await,
        }),
        None => None,
    };
    ConnectionView {
        state: state.to_string(),
        realm_id: connection.map(|c| c.realm_id.clone()),
        company_name: None,
        country: None,
        connected_by,
        connected_at: connection.map(|c| c.connected_at),
        environment: connection.map(|c| c.environment),
        reason: connection.and_then(|c| c.reason.clone()),
        linked_realm_id: profile.linked_realm_id.clone(),
    }
}

async fn connection(
    State(app): State<App>,
    tenant: Tenant,
) -> Result<Json<ConnectionView>, ApiError> {
    let (profile, _) = require_install(&app.records, tenant).await?;
    let connected = matches!(
        profile.quickbooks.as_ref().map(|c| c.state),
        Some(ConnectionState::Connected | ConnectionState::NeedsReconnect)
    );
    let mut out = view(&app, &profile).await;
    if connected {
        let client = app.quickbooks.clone();
        let info = app
            .tokens
            .with_quickbooks_for(&profile, |access| {
                let client = client.clone();
                async move { client.company_info(&access.realm_id, &access.token).await }
            })
            .await?;
        out.company_name = info.company_name.or(info.legal_name);
        out.country = info.country;
    }
    Ok(Json(out))
}

async fn quickbooks_disconnect(
    State(app): State<App>,
    tenant: Tenant,
) -> Result<Json<ConnectionView>, ApiError> {
    let (profile, install) = require_install(&app.records, tenant).await?;
    let Some(connection) = &profile.quickbooks else {
        return Ok(Json(view(&app, &profile).await));
    };
    if !install.is_admin && connection.connected_by != tenant.user_id {
        return Err(ApiError::Forbidden(
            "Only a Pipedrive admin or the user who connected QuickBooks can disconnect it.".into(),
        ));
    }
    if connection.state == ConnectionState::Disconnected {
        return Ok(Json(view(&app, &profile).await));
    }
    let company = tenant.company_id;
    let removed = app
        .tokens
        .with_lease(company, |vault| async move {
            let before = vault.read_fresh(company).await?.quickbooks;
            vault.update(company, |s| s.quickbooks = None).await?;
            Ok(before)
        })
        .await?;
    if let Some(tokens) = &removed {
        revoke_quickbooks(&app, company, tokens).await;
    }
    let name = install
        .name
        .clone()
        .unwrap_or_else(|| format!("Pipedrive user {}", tenant.user_id));
    let now = app.tokens.now();
    let saved = save_connection(&app, company, |profile| {
        if let Some(c) = profile.quickbooks.as_mut() {
            c.state = ConnectionState::Disconnected;
            c.reason = Some(format!(
                "Disconnected by {name} on {}",
                now.format("%Y-%m-%d %H:%M UTC")
            ));
        }
    })
    .await?;
    tracing::info!(
        company_id = company.0,
        user_id = tenant.user_id.0,
        "QuickBooks disconnected"
    );
    Ok(Json(view(&app, &saved).await))
}
