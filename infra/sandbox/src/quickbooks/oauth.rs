//! OAuth 2.0 as Intuit runs it: `GET /connect/oauth2` (consent page or direct redirect with
//! `code`, `state`, `realmId`), `POST /oauth2/v1/tokens/bearer` (HTTP Basic client auth or
//! client_secret_post; `authorization_code` and `refresh_token` grants), `POST
//! /oauth2/v1/tokens/revoke` (JSON `{"token"}` or form body).
//!
//! Access tokens live 3600 s. Every refresh rotates the refresh token; the previous one keeps
//! working for 24 h (simulator clock) and then answers `invalid_grant`, as do replayed codes,
//! unknown tokens and tokens of a disconnected company. Refresh tokens expire 100 days after
//! their issue (rolling: each refresh issues a new one).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use http::{HeaderMap, StatusCode};
use shared::wire::quickbooks::model::{OAuthError, TokenResponse};

use super::Inner;
use crate::harness::lock;

/// Access-token lifetime (seconds).
pub const ACCESS_TOKEN_SECS: i64 = 3600;
/// Refresh-token lifetime (seconds, ≈101 days as Intuit reports).
pub const REFRESH_TOKEN_SECS: i64 = 8_726_400;
/// How long a rotated refresh token keeps working.
pub const ROTATION_GRACE_SECS: i64 = 24 * 3600;
/// Authorization-code lifetime (seconds).
pub const CODE_SECS: i64 = 300;

#[derive(Debug, Clone)]
struct AuthCode {
    realm_id: String,
    client_id: String,
    redirect_uri: String,
    expires_at: DateTime<Utc>,
    used: bool,
}

#[derive(Debug, Clone)]
struct AccessToken {
    realm_id: String,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct RefreshToken {
    realm_id: String,
    expires_at: DateTime<Utc>,
    /// When a newer refresh token replaced this one.
    superseded_at: Option<DateTime<Utc>>,
}

/// Why an access token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Missing,
    Unknown,
    Expired,
}

/// Codes and tokens.
#[derive(Debug, Default)]
pub struct TokenStore {
    codes: HashMap<String, AuthCode>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
}

fn random_token(prefix: &str) -> String {
    format!(
        "{prefix}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl TokenStore {
    /// A fresh access + refresh token pair for a realm.
    pub fn issue(&mut self, realm_id: &str, now: DateTime<Utc>) -> TokenResponse {
        let access_token = random_token("eyJsim.");
        let refresh_token = random_token("AB11sim");
        self.access.insert(
            access_token.clone(),
            AccessToken {
                realm_id: realm_id.into(),
                expires_at: now + Duration::seconds(ACCESS_TOKEN_SECS),
            },
        );
        self.refresh.insert(
            refresh_token.clone(),
            RefreshToken {
                realm_id: realm_id.into(),
                expires_at: now + Duration::seconds(REFRESH_TOKEN_SECS),
                superseded_at: None,
            },
        );
        TokenResponse {
            access_token,
            refresh_token,
            token_type: "bearer".into(),
            expires_in: ACCESS_TOKEN_SECS,
            x_refresh_token_expires_in: REFRESH_TOKEN_SECS,
            id_token: None,
        }
    }

    /// The realm an access token grants, or why not.
    pub fn check_access(
        &self,
        token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<String, TokenProblem> {
        let token = token.ok_or(TokenProblem::Missing)?;
        let t = self.access.get(token).ok_or(TokenProblem::Unknown)?;
        if now >= t.expires_at {
            return Err(TokenProblem::Expired);
        }
        Ok(t.realm_id.clone())
    }

    /// Removes every code and token of a realm (user disconnected the app).
    pub fn revoke_realm(&mut self, realm_id: &str) {
        self.codes.retain(|_, c| c.realm_id != realm_id);
        self.access.retain(|_, t| t.realm_id != realm_id);
        self.refresh.retain(|_, t| t.realm_id != realm_id);
    }

    fn realm_of(&self, token: &str) -> Option<String> {
        self.access
            .get(token)
            .map(|t| t.realm_id.clone())
            .or_else(|| self.refresh.get(token).map(|t| t.realm_id.clone()))
    }

    fn redeem_code(
        &mut self,
        code: &str,
        client_id: &str,
        redirect_uri: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        let Some(entry) = self.codes.get_mut(code) else {
            return Err(invalid_grant("Invalid authorization code"));
        };
        if entry.used {
            // A replayed code: refuse, as Intuit does.
            return Err(invalid_grant("Authorization code has already been used"));
        }
        if now >= entry.expires_at {
            return Err(invalid_grant("Authorization code expired"));
        }
        if entry.client_id != client_id || redirect_uri != Some(entry.redirect_uri.as_str()) {
            return Err(invalid_grant(
                "redirect_uri or client does not match the authorization request",
            ));
        }
        entry.used = true;
        let realm = entry.realm_id.clone();
        Ok(self.issue(&realm, now))
    }

    fn refresh(&mut self, token: &str, now: DateTime<Utc>) -> Result<TokenResponse, OAuthError> {
        let Some(entry) = self.refresh.get_mut(token) else {
            return Err(invalid_grant("Token invalid"));
        };
        if now >= entry.expires_at {
            return Err(invalid_grant("Token expired"));
        }
        if let Some(at) = entry.superseded_at
            && now >= at + Duration::seconds(ROTATION_GRACE_SECS)
        {
            return Err(invalid_grant("Token invalid"));
        }
        entry.superseded_at.get_or_insert(now);
        let realm = entry.realm_id.clone();
        Ok(self.issue(&realm, now))
    }
}

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError {
        error: "invalid_grant".into(),
        error_description: Some(description.into()),
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = OAuthError {
        error: error.into(),
        error_description: Some(description.into()),
    };
    (status, axum::Json(body)).into_response()
}

pub fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/connect/oauth2", get(authorize))
        .route("/connect/oauth2/approve", get(approve))
        .route("/connect/oauth2/deny", get(deny))
        .route("/oauth2/v1/tokens/bearer", post(token))
        .route("/oauth2/v1/tokens/revoke", post(revoke))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn error_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><html><head><title>Intuit (simulated)</title></head><body><h1>Something went wrong</h1><p>{}</p></body></html>",
            html_escape(message)
        )),
    )
        .into_response()
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    format!("{base}{sep}{query}")
}

/// Validates the authorize request; answers the redirect URI.
fn validate_authorize(inner: &Inner, q: &HashMap<String, String>) -> Result<String, String> {
    let client_id = q.get("client_id").map(String::as_str).unwrap_or_default();
    if client_id != inner.config.client_id {
        return Err("The client_id is not valid for this app.".into());
    }
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    if !inner.config.redirect_uris.contains(&redirect) {
        return Err(format!(
            "The redirect_uri {redirect} is not registered for this app."
        ));
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return Err("response_type must be code.".into());
    }
    let scope = q.get("scope").map(String::as_str).unwrap_or_default();
    if !scope
        .split([' ', '+'])
        .any(|s| s == "com.intuit.quickbooks.accounting" || s == "com.intuit.quickbooks.payment")
    {
        return Err("The scope must include com.intuit.quickbooks.accounting.".into());
    }
    Ok(redirect)
}

fn chosen_realm(inner: &Inner, q: &HashMap<String, String>) -> Option<String> {
    let st = lock(&inner.state);
    let requested = q.get("realm_id").or_else(|| q.get("realmId"));
    match requested {
        Some(r) => st.realms.contains_key(r).then(|| r.clone()),
        None => inner
            .config
            .realms
            .first()
            .map(|s| s.realm_id.clone())
            .filter(|r| st.realms.contains_key(r))
            .or_else(|| st.realms.keys().next().cloned()),
    }
}

fn issue_code_redirect(inner: &Inner, q: &HashMap<String, String>, redirect: &str) -> Response {
    let Some(realm_id) = chosen_realm(inner, q) else {
        return error_page("No such QuickBooks company.");
    };
    let code = random_token("AB11code");
    let now = inner.now();
    lock(&inner.state).tokens.codes.insert(
        code.clone(),
        AuthCode {
            realm_id: realm_id.clone(),
            client_id: inner.config.client_id.clone(),
            redirect_uri: redirect.to_string(),
            expires_at: now + Duration::seconds(CODE_SECS),
            used: false,
        },
    );
    let state = q.get("state").cloned().unwrap_or_default();
    Redirect::to(&with_query(
        redirect,
        &[("code", &code), ("state", &state), ("realmId", &realm_id)],
    ))
    .into_response()
}

/// `GET /connect/oauth2`: the consent page, or a direct redirect in auto-approve mode
/// (`sim_auto=1|0` overrides the configured mode).
async fn authorize(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let redirect = match validate_authorize(&inner, &q) {
        Ok(r) => r,
        Err(message) => return error_page(&message),
    };
    let auto = match q.get("sim_auto").map(String::as_str) {
        Some("1" | "true") => true,
        Some("0" | "false") => false,
        _ => inner.config.auto_approve,
    };
    if auto {
        return issue_code_redirect(&inner, &q, &redirect);
    }
    let companies: Vec<(String, String)> = {
        let st = lock(&inner.state);
        st.realms
            .values()
            .map(|r| {
                (
                    r.id.clone(),
                    r.company_info
                        .company_name
                        .clone()
                        .unwrap_or_else(|| r.id.clone()),
                )
            })
            .collect()
    };
    let selected = chosen_realm(&inner, &q).unwrap_or_default();
    let options: String = companies
        .iter()
        .map(|(id, name)| {
            let sel = if *id == selected { " selected" } else { "" };
            format!(
                "<option value=\"{}\"{sel}>{} ({})</option>",
                html_escape(id),
                html_escape(name),
                html_escape(id)
            )
        })
        .collect();
    let hidden: String = [
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
    ]
    .iter()
    .filter_map(|k| q.get(*k).map(|v| (k, v)))
    .map(|(k, v)| {
        format!(
            "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
            html_escape(v)
        )
    })
    .collect();
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Connect to QuickBooks (simulated)</title>\
<style>body{{font-family:sans-serif;max-width:32rem;margin:4rem auto}}button{{padding:.6rem 1.4rem;font-size:1rem}}\
.connect{{background:#2ca01c;color:#fff;border:0;border-radius:4px}}</style></head><body>\
<h1>QuickBooks Online (simulated)</h1><p>The app is asking to connect to your QuickBooks company.</p>\
<form method=\"get\" action=\"/connect/oauth2/approve\">{hidden}<p><label>Company: <select name=\"realm_id\">{options}</select></label></p>\
<p><button class=\"connect\" type=\"submit\" id=\"connect\">Connect</button> \
<button type=\"submit\" formaction=\"/connect/oauth2/deny\" id=\"cancel\">Cancel</button></p></form></body></html>"
    ))
    .into_response()
}

/// The consent page's "Connect" button.
async fn approve(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match validate_authorize(&inner, &q) {
        Ok(redirect) => issue_code_redirect(&inner, &q, &redirect),
        Err(message) => error_page(&message),
    }
}

/// The consent page's "Cancel" button: `error=access_denied`.
async fn deny(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match validate_authorize(&inner, &q) {
        Ok(redirect) => {
            let state = q.get("state").cloned().unwrap_or_default();
            Redirect::to(&with_query(
                &redirect,
                &[("error", "access_denied"), ("state", &state)],
            ))
            .into_response()
        }
        Err(message) => error_page(&message),
    }
}

/// Client credentials from `Authorization: Basic` or the form body.
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<(String, String)> {
    if let Some(value) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(encoded) = value
            .strip_prefix("Basic ")
            .or_else(|| value.strip_prefix("basic "))
    {
        let decoded = BASE64.decode(encoded.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        return Some((id.to_string(), secret.to_string()));
    }
    Some((
        form.get("client_id")?.clone(),
        form.get("client_secret")?.clone(),
    ))
}

fn authenticate_client(inner: &Inner, headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
    client_credentials(headers, form).is_some_and(|(id, secret)| {
        id == inner.config.client_id && secret == inner.config.client_secret
    })
}

/// `POST /oauth2/v1/tokens/bearer`.
async fn token(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !authenticate_client(&inner, &headers, &form) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    let now = inner.now();
    let result = {
        let mut st = lock(&inner.state);
        match form.get("grant_type").map(String::as_str) {
            Some("authorization_code") => match form.get("code") {
                Some(code) => st.tokens.redeem_code(
                    code,
                    &inner.config.client_id,
                    form.get("redirect_uri").map(String::as_str),
                    now,
                ),
                None => Err(OAuthError {
                    error: "invalid_request".into(),
                    error_description: Some("code is required".into()),
                }),
            },
            Some("refresh_token") => match form.get("refresh_token") {
                Some(rt) => st.tokens.refresh(rt, now),
                None => Err(OAuthError {
                    error: "invalid_request".into(),
                    error_description: Some("refresh_token is required".into()),
                }),
            },
            _ => Err(OAuthError {
                error: "unsupported_grant_type".into(),
                error_description: Some(
                    "grant_type must be authorization_code or refresh_token".into(),
                ),
            }),
        }
    };
    match result {
        Ok(tokens) => (StatusCode::OK, axum::Json(tokens)).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, axum::Json(e)).into_response(),
    }
}

/// `POST /oauth2/v1/tokens/revoke`: revokes the whole connection the token belongs to.
async fn revoke(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !authenticate_client(&inner, &headers, &form) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    let token = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("token").and_then(|t| t.as_str()).map(str::to_string))
        .or_else(|| form.get("token").cloned());
    let Some(token) = token else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        );
    };
    let mut st = lock(&inner.state);
    if let Some(realm) = st.tokens.realm_of(&token) {
        st.tokens.revoke_realm(&realm);
    }
    StatusCode::OK.into_response()
}
