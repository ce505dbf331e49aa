//! `oauth.pipedrive.com`: the consent page, the token endpoint and revocation.
//!
//! - `GET /oauth/authorize?client_id&redirect_uri&state` shows the consent page ("Allow and
//!   install" / "Cancel"), which posts back to `POST /oauth/authorize`. With `auto=1` (or
//!   [`PipedriveConfig::auto_approve`](super::PipedriveConfig)) it redirects straight to the
//!   callback with `code` (and `state`); `auto=deny` redirects with `error=access_denied`.
//!   `company_id` / `user_id` choose who is "logged in" (default: the first seed admin).
//! - `POST /oauth/token`: HTTP Basic client authentication, form body, `authorization_code` and
//!   `refresh_token` grants. Errors follow RFC 6749 §5.2 (`invalid_client` 401,
//!   `invalid_grant` / `invalid_request` / `unsupported_grant_type` 400).
//! - `POST /oauth/revoke`: RFC 7009 (`token`, `token_type_hint`); always 200 for a known client.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use shared::wire::pipedrive::model::{OAuthError, TokenResponse, TokenTypeHint};

use super::PipedriveSim;
use super::seed::{COMPANY_A, USER_A_ADMIN};
use crate::harness::lock;

/// Lifetime of an access token (the published example answers `expires_in: 3599`).
pub const ACCESS_TOKEN_TTL_SECS: i64 = 3599;
/// A refresh token expires after this long without use; each use resets it.
pub const REFRESH_TOKEN_IDLE_SECS: i64 = 60 * 24 * 60 * 60;
/// An authorization code must be exchanged within this time, once.
pub const AUTH_CODE_TTL_SECS: i64 = 300;

/// Who a grant belongs to and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    pub company_id: u64,
    pub user_id: u64,
    pub scope: String,
}

#[derive(Debug, Clone)]
struct CodeGrant {
    install: Install,
    redirect_uri: String,
    issued_at: DateTime<Utc>,
    used: bool,
}

#[derive(Debug, Clone)]
pub struct AccessGrant {
    pub install: Install,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct RefreshGrant {
    install: Install,
    last_used: DateTime<Utc>,
}

/// Outstanding codes and tokens.
#[derive(Debug, Default)]
pub struct Grants {
    codes: HashMap<String, CodeGrant>,
    access: HashMap<String, AccessGrant>,
    refresh: HashMap<String, RefreshGrant>,
}

fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Grants {
    pub fn new_code(
        &mut self,
        install: Install,
        redirect_uri: String,
        now: DateTime<Utc>,
    ) -> String {
        let code = random_hex();
        self.codes.insert(
            code.clone(),
            CodeGrant {
                install,
                redirect_uri,
                issued_at: now,
                used: false,
            },
        );
        code
    }

    /// A new access/refresh token pair for an install.
    pub fn issue(
        &mut self,
        install: Install,
        now: DateTime<Utc>,
        api_domain: &str,
    ) -> TokenResponse {
        let refresh_token = format!(
            "{}:{}:{}",
            install.company_id,
            install.user_id,
            random_hex()
        );
        self.refresh.insert(
            refresh_token.clone(),
            RefreshGrant {
                install: install.clone(),
                last_used: now,
            },
        );
        self.access_token(install, refresh_token, now, api_domain)
    }

    fn access_token(
        &mut self,
        install: Install,
        refresh_token: String,
        now: DateTime<Utc>,
        api_domain: &str,
    ) -> TokenResponse {
        let access_token = format!("v1u:{}{}", random_hex(), random_hex());
        let scope = install.scope.clone();
        self.access.insert(
            access_token.clone(),
            AccessGrant {
                install,
                expires_at: now + Duration::seconds(ACCESS_TOKEN_TTL_SECS),
            },
        );
        TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: ACCESS_TOKEN_TTL_SECS.unsigned_abs(),
            refresh_token,
            scope,
            api_domain: api_domain.to_string(),
        }
    }

    /// The grant of a live access token.
    pub fn access_grant(&self, token: &str, now: DateTime<Utc>) -> Option<&AccessGrant> {
        self.access.get(token).filter(|g| g.expires_at > now)
    }

    pub fn expire_access(&mut self, company_id: u64, user_id: u64, now: DateTime<Utc>) -> usize {
        let mut count = 0;
        for grant in self.access.values_mut() {
            if grant.install.company_id == company_id && grant.install.user_id == user_id {
                grant.expires_at = now - Duration::seconds(1);
                count += 1;
            }
        }
        count
    }

    /// Every token of a user (uninstall).
    pub fn revoke_install(&mut self, company_id: u64, user_id: u64) {
        let mine = |i: &Install| i.company_id == company_id && i.user_id == user_id;
        self.access.retain(|_, g| !mine(&g.install));
        self.refresh.retain(|_, g| !mine(&g.install));
        self.codes.retain(|_, g| !mine(&g.install));
    }

    fn exchange_code(
        &mut self,
        code: &str,
        redirect_uri: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Install, TokenError> {
        let grant = self
            .codes
            .get_mut(code)
            .ok_or_else(|| TokenError::grant("authorization code is invalid"))?;
        if grant.used {
            return Err(TokenError::grant(
                "authorization code has already been used",
            ));
        }
        if now - grant.issued_at > Duration::seconds(AUTH_CODE_TTL_SECS) {
            return Err(TokenError::grant("authorization code has expired"));
        }
        if redirect_uri != Some(grant.redirect_uri.as_str()) {
            return Err(TokenError::grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        grant.used = true;
        Ok(grant.install.clone())
    }

    fn refresh(
        &mut self,
        refresh_token: &str,
        now: DateTime<Utc>,
        api_domain: &str,
    ) -> Result<TokenResponse, TokenError> {
        let grant = self
            .refresh
            .get_mut(refresh_token)
            .ok_or_else(|| TokenError::grant("refresh token is invalid"))?;
        if now - grant.last_used > Duration::seconds(REFRESH_TOKEN_IDLE_SECS) {
            self.refresh.remove(refresh_token);
            return Err(TokenError::grant("refresh token has expired"));
        }
        grant.last_used = now;
        let install = grant.install.clone();
        Ok(self.access_token(install, refresh_token.to_string(), now, api_domain))
    }

    fn revoke(&mut self, token: &str, hint: Option<TokenTypeHint>) {
        let as_refresh = |grants: &mut Grants| {
            if let Some(grant) = grants.refresh.remove(token) {
                let install = grant.install;
                grants.revoke_install(install.company_id, install.user_id);
                true
            } else {
                false
            }
        };
        let as_access = |grants: &mut Grants| grants.access.remove(token).is_some();
        let found = match hint {
            Some(TokenTypeHint::AccessToken) => as_access(self) || as_refresh(self),
            _ => as_refresh(self) || as_access(self),
        };
        tracing::debug!(found, "token revocation");
    }
}

/// An RFC 6749 error answer of the token endpoint.
#[derive(Debug)]
pub struct TokenError {
    status: StatusCode,
    body: OAuthError,
}

impl TokenError {
    fn new(status: StatusCode, error: &str, description: &str) -> Self {
        TokenError {
            status,
            body: OAuthError {
                error: error.into(),
                error_description: Some(description.into()),
            },
        }
    }

    fn grant(description: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    fn request(description: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Basic realm=\"oauth\""),
            );
        }
        response
    }
}

pub fn routes() -> Router<PipedriveSim> {
    Router::new()
        .route(
            "/oauth/authorize",
            get(authorize_page).post(authorize_decision),
        )
        .route("/oauth/token", post(token))
        .route("/oauth/token/", post(token))
        .route("/oauth/revoke", post(revoke))
}

/// Query of `GET /oauth/authorize` and form of `POST /oauth/authorize`.
#[derive(Debug, Deserialize)]
struct AuthorizeParams {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    /// Simulator extension: `1`/`allow` approves without the page, `deny` cancels.
    auto: Option<String>,
    /// Simulator extension: who is logged in (`company_id` and `user_id`, or `user` =
    /// `company_id:user_id` from the page's select).
    company_id: Option<u64>,
    user_id: Option<u64>,
    user: Option<String>,
    /// Form: `allow` or `cancel`.
    decision: Option<String>,
}

impl AuthorizeParams {
    fn who(&self) -> (u64, u64) {
        if let Some((c, u)) = self.user.as_deref().and_then(|s| s.split_once(':'))
            && let (Ok(c), Ok(u)) = (c.parse(), u.parse())
        {
            return (c, u);
        }
        (
            self.company_id.unwrap_or(COMPANY_A),
            self.user_id.unwrap_or(USER_A_ADMIN),
        )
    }
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><title>Pipedrive</title><p>{}</p>",
            escape(message)
        )),
    )
        .into_response()
}

/// Validates client and redirect URI; the redirect URI must be the registered one or nothing is
/// redirected anywhere.
fn check_client(sim: &PipedriveSim, params: &AuthorizeParams) -> Result<String, &'static str> {
    let config = sim.config();
    if params.client_id.as_deref() != Some(config.client_id.as_str()) {
        return Err("Unknown client_id.");
    }
    match params.redirect_uri.as_deref() {
        Some(uri) if uri == config.redirect_uri => Ok(uri.to_string()),
        _ => Err("redirect_uri does not match the app's callback URL."),
    }
}

fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (k, v) in pairs {
                    query.append_pair(k, v);
                }
            }
            Redirect::to(url.as_str()).into_response()
        }
        Err(_) => bad_request("redirect_uri is not a URL."),
    }
}

fn approve(sim: &PipedriveSim, params: &AuthorizeParams, redirect_uri: &str) -> Response {
    let (company_id, user_id) = params.who();
    let code = match sim.issue_code(company_id, user_id) {
        Ok(code) => code,
        Err(e) => return bad_request(&e.to_string()),
    };
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = params.state.as_deref() {
        pairs.push(("state", state));
    }
    redirect_with(redirect_uri, &pairs)
}

fn deny(params: &AuthorizeParams, redirect_uri: &str) -> Response {
    let mut pairs = vec![("error", "access_denied")];
    if let Some(state) = params.state.as_deref() {
        pairs.push(("state", state));
    }
    redirect_with(redirect_uri, &pairs)
}

async fn authorize_page(
    State(sim): State<PipedriveSim>,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    let redirect_uri = match check_client(&sim, &params) {
        Ok(uri) => uri,
        Err(message) => return bad_request(message),
    };
    match params.auto.as_deref() {
        Some("deny") | Some("cancel") => return deny(&params, &redirect_uri),
        Some("1") | Some("true") | Some("allow") => return approve(&sim, &params, &redirect_uri),
        _ if sim.config().auto_approve => return approve(&sim, &params, &redirect_uri),
        _ => {}
    }
    let (company_id, user_id) = params.who();
    let options: String = {
        let store = lock(&sim.inner.store);
        store
            .users
            .values()
            .map(|u| {
                let company = store
                    .companies
                    .get(&u.company_id)
                    .map(|c| c.name.as_str())
                    .unwrap_or("");
                let selected = if (u.company_id, u.id) == (company_id, user_id) {
                    " selected"
                } else {
                    ""
                };
                format!(
                    "<option value=\"{}:{}\"{selected}>{} ({}) — {}</option>",
                    u.company_id,
                    u.id,
                    escape(&u.name),
                    escape(&u.email),
                    escape(company)
                )
            })
            .collect()
    };
    let hidden = |name: &str, value: Option<&str>| {
        value
            .map(|v| {
                format!(
                    "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                    escape(v)
                )
            })
            .unwrap_or_default()
    };
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Install app — Pipedrive (simulated)</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto}}button{{padding:.5rem 1rem;margin-right:.5rem}}</style>
</head><body>
<h1>Install the app</h1>
<p>The app <strong>{client}</strong> asks for access to: <code>{scope}</code></p>
<form method="post" action="/oauth/authorize">
{client_input}{redirect_input}{state_input}
<p><label>Logged in as <select name="user">{options}</select></label></p>
<button type="submit" name="decision" value="allow">Allow and install</button>
<button type="submit" name="decision" value="cancel">Cancel</button>
</form>
</body></html>"#,
        client = escape(&sim.config().client_id),
        scope = escape(&sim.config().scope),
        client_input = hidden("client_id", params.client_id.as_deref()),
        redirect_input = hidden("redirect_uri", params.redirect_uri.as_deref()),
        state_input = hidden("state", params.state.as_deref()),
    ))
    .into_response()
}

async fn authorize_decision(State(sim): State<PipedriveSim>, body: Bytes) -> Response {
    let params: AuthorizeParams = match serde_urlencoded::from_bytes(&body) {
        Ok(params) => params,
        Err(_) => return bad_request("Malformed form."),
    };
    let redirect_uri = match check_client(&sim, &params) {
        Ok(uri) => uri,
        Err(message) => return bad_request(message),
    };
    match params.decision.as_deref() {
        Some("allow") => approve(&sim, &params, &redirect_uri),
        _ => deny(&params, &redirect_uri),
    }
}

/// Checks `Authorization: Basic base64(client_id:client_secret)`.
fn client_authenticated(sim: &PipedriveSim, headers: &HeaderMap) -> bool {
    let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
    else {
        return false;
    };
    let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let expected = format!("{}:{}", sim.config().client_id, sim.config().client_secret);
    constant_time_eq(&decoded, expected.as_bytes())
}

/// The token form, read loosely so a wrong grant type gets the right error.
#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    refresh_token: Option<String>,
}

async fn token(
    State(sim): State<PipedriveSim>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<TokenResponse>, TokenError> {
    if !client_authenticated(&sim, &headers) {
        return Err(TokenError::client());
    }
    let form: TokenForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| TokenError::request("body must be application/x-www-form-urlencoded"))?;
    let now = sim.inner.harness.now();
    let api_domain = sim.base_url();
    let mut grants = lock(&sim.inner.grants);
    match form.grant_type.as_deref() {
        Some("authorization_code") => {
            let code = form
                .code
                .as_deref()
                .ok_or_else(|| TokenError::request("code is required"))?;
            let install = grants.exchange_code(code, form.redirect_uri.as_deref(), now)?;
            Ok(axum::Json(grants.issue(install, now, &api_domain)))
        }
        Some("refresh_token") => {
            let refresh_token = form
                .refresh_token
                .as_deref()
                .ok_or_else(|| TokenError::request("refresh_token is required"))?;
            Ok(axum::Json(grants.refresh(
                refresh_token,
                now,
                &api_domain,
            )?))
        }
        Some(_) => Err(TokenError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        )),
        None => Err(TokenError::request("grant_type is required")),
    }
}

#[derive(Debug, Deserialize)]
struct RevokeForm {
    token: Option<String>,
    token_type_hint: Option<String>,
}

async fn revoke(
    State(sim): State<PipedriveSim>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, TokenError> {
    if !client_authenticated(&sim, &headers) {
        return Err(TokenError::client());
    }
    let form: RevokeForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| TokenError::request("body must be application/x-www-form-urlencoded"))?;
    let token = form
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::request("token is required"))?;
    let hint = match form.token_type_hint.as_deref() {
        Some("access_token") => Some(TokenTypeHint::AccessToken),
        Some("refresh_token") => Some(TokenTypeHint::RefreshToken),
        _ => None,
    };
    // RFC 7009 §2.2: unknown tokens are not an error.
    lock(&sim.inner.grants).revoke(&token, hint);
    Ok(StatusCode::OK)
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
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

/// Compares in time independent of where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
