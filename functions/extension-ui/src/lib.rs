//! The `extension-ui` function: the pages Pipedrive loads in its app-extension iframes, and their
//! assets (our scripts and styles, and the pinned `@pipedrive/app-extensions-sdk`, all embedded in
//! the binary).
//!
//! | route | auth | answer |
//! |---|---|---|
//! | `GET /ui/panel?selectedIds={deal}&id&theme&companyId&userId&token` | the iframe URL's `token` (Pipedrive JWT) | the deal panel: invoices with status flags, per-currency summary, refresh, "…" actions, activity log, links |
//! | `GET /ui/modal?data={"deal_id":…}&id&theme&token` | same | the create-invoice modal |
//! | `GET /ui/settings?id&theme&token` | same | the app settings page (QuickBooks connection, field mapping, due date, access) |
//! | `GET /ui/invoices?data={"deal_id":…}&id&theme&token` | same | all invoices of the deal's linked customer (time frame, link/unlink) |
//! | `GET /ui/bulk?selectedIds={deal},{deal},…&id&theme&token` | same | the bulk-invoice modal of the deals list view: each selected deal's readiness with its fix, the run with live progress, each deal's result |
//! | `GET /ui/assets/{file}` | none (public, nothing secret) | `app.css`, `sdk.js`, `common.js`, `decimal.js`, `panel.js` (with `panel-estimates.js`, `panel-estimate-part.js`), `modal.js` with its parts (`totals.js`, `form-*.js`), `settings.js`, `invoices.js`, `bulk.js` |
//!
//! A page is served only after its `token` verifies (HS256, `exp` required; the extension's JWT
//! secret or the client secret) and, when the URL carries `companyId` / `userId`, only if they are
//! the token's. Otherwise the answer is a 401 page without any script. Nothing secret is embedded
//! in a page: the page asks the SDK for a fresh signed token (`GET_SIGNED_TOKEN`) before every API
//! call and sends it as `Authorization: Bearer`.
//!
//! Every answer carries the security headers of [`SecurityHeaders`]: a Content-Security-Policy
//! that admits scripts, styles and connections only from our own origin (no inline code, no CDN)
//! and framing only by `FRAME_ANCESTORS` (Pipedrive's origins by default), `X-Content-Type-Options:
//! nosniff`, `Referrer-Policy: no-referrer` (the token in the page URL must not leak), and
//! `Cache-Control: no-store` on pages.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use shared::clients::app_secret::{AppCredentials, AppSecretError};
use shared::config::Env;
use shared::domain::Clock;
use shared::web::auth::jwt::{JwtError, verify_pipedrive_jwt};
use shared::web::auth::{JwtKeys, Tenant};
use shared::web::http::{PathParams, Route};

/// Every route this function serves (checked against template.yaml and the OpenAPI description).
pub const ROUTES: &[Route] = &[
    Route::new("GET", "/ui/panel"),
    Route::new("GET", "/ui/modal"),
    Route::new("GET", "/ui/settings"),
    Route::new("GET", "/ui/invoices"),
    Route::new("GET", "/ui/bulk"),
    Route::new("GET", "/ui/assets/{file}"),
];

/// The version of `@pipedrive/app-extensions-sdk` embedded (pinned in `web/package-lock.json`).
pub const SDK_VERSION: &str = include_str!(concat!(env!("OUT_DIR"), "/sdk-version.txt"));

/// One embedded static file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

/// The static files, by name (`/ui/assets/{name}`).
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "sdk.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!(concat!(env!("OUT_DIR"), "/sdk.js")),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../web/app.css"),
    },
    Asset {
        name: "common.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/common.js"),
    },
    Asset {
        name: "decimal.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/decimal.js"),
    },
    Asset {
        name: "panel.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/panel.js"),
    },
    Asset {
        name: "panel-estimates.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/panel-estimates.js"),
    },
    Asset {
        name: "panel-estimate-part.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/panel-estimate-part.js"),
    },
    Asset {
        name: "modal.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/modal.js"),
    },
    Asset {
        name: "totals.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/totals.js"),
    },
    Asset {
        name: "form-state.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/form-state.js"),
    },
    Asset {
        name: "form-controls.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/form-controls.js"),
    },
    Asset {
        name: "form-totals.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/form-totals.js"),
    },
    Asset {
        name: "form-part.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/form-part.js"),
    },
    Asset {
        name: "form-currency.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/form-currency.js"),
    },
    Asset {
        name: "form-customer.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/form-customer.js"),
    },
    Asset {
        name: "form-lines.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/form-lines.js"),
    },
    Asset {
        name: "settings.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/settings.js"),
    },
    Asset {
        name: "bulk.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/bulk.js"),
    },
    Asset {
        name: "invoices.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/invoices.js"),
    },
];

/// The asset called `name`, if there is one.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The pages: path, title, script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Panel,
    Modal,
    Settings,
    Invoices,
    Bulk,
}

impl Page {
    pub fn title(self) -> &'static str {
        match self {
            Page::Panel => "QuickBooks invoices",
            Page::Modal => "Create a QuickBooks invoice",
            Page::Settings => "QuickBooks invoicing settings",
            Page::Invoices => "All invoices of the customer",
            Page::Bulk => "Invoice the selected deals",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Page::Panel => "panel",
            Page::Modal => "modal",
            Page::Settings => "settings",
            Page::Invoices => "invoices",
            Page::Bulk => "bulk",
        }
    }

    /// The page's HTML: no inline script or style, no data from the request.
    pub fn html(self) -> String {
        format!(
            "<!doctype html>\n<html lang=\"en\" data-page=\"{name}\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n\
<link rel=\"stylesheet\" href=\"/ui/assets/app.css\">\n<script src=\"/ui/assets/sdk.js\"></script>\n\
<script type=\"module\" src=\"/ui/assets/{name}.js\"></script>\n</head>\n<body>\n\
<main id=\"app\" aria-busy=\"true\"><p class=\"muted\">Loading…</p></main>\n</body>\n</html>\n",
            name = self.name(),
            title = self.title(),
        )
    }
}

/// The headers every answer of this function carries.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    csp: HeaderValue,
}

impl SecurityHeaders {
    /// From the origins allowed to frame our pages. Anything that is not an origin (scheme,
    /// host with an optional `*.` wildcard and port) is dropped, so a configuration mistake cannot
    /// inject CSP directives; with no origin left, no one may frame the pages.
    pub fn new(frame_ancestors: &[String]) -> Self {
        let allowed: Vec<&str> = frame_ancestors
            .iter()
            .map(|s| s.trim().trim_end_matches('/'))
            .filter(|s| is_origin(s))
            .collect();
        let ancestors = if allowed.is_empty() {
            "'none'".to_string()
        } else {
            allowed.join(" ")
        };
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; \
frame-ancestors {ancestors}"
        );
        SecurityHeaders {
            csp: HeaderValue::from_str(&csp).unwrap_or_else(|_| {
                HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'")
            }),
        }
    }

    pub fn content_security_policy(&self) -> &HeaderValue {
        &self.csp
    }

    fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
}

/// `https://app.pipedrive.com`, `https://*.pipedrive.com`, `http://127.0.0.1:8080`.
fn is_origin(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    if !matches!(scheme, "http" | "https") || rest.is_empty() {
        return false;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let host = host.strip_prefix("*.").unwrap_or(host);
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
    host_ok && port_ok
}

/// What the pages need to know, read once per cold start: the key that verifies Pipedrive's
/// tokens, who may frame the pages, and now. Nothing else — this function links no store and no
/// AWS SDK (the app secret is read with one signed call, see `shared::clients::app_secret`).
#[derive(Clone, Debug)]
pub struct PagesConfig {
    pub jwt: JwtKeys,
    pub frame_ancestors: Vec<String>,
    pub clock: Clock,
}

impl PagesConfig {
    /// From the app's credentials (`APP_SECRET_ID` or the variables) and `FRAME_ANCESTORS`.
    pub async fn from_env(env: &Env) -> Result<Self, AppSecretError> {
        let credentials = AppCredentials::load(env, None).await?;
        Ok(PagesConfig {
            jwt: JwtKeys::new(credentials.jwt_secret()),
            frame_ancestors: shared::config::frame_ancestors(env),
            clock: Clock::system(),
        })
    }
}

/// The function's state.
#[derive(Clone)]
pub struct UiState {
    pub keys: JwtKeys,
    pub clock: Clock,
    pub headers: Arc<SecurityHeaders>,
}

impl FromRef<UiState> for JwtKeys {
    fn from_ref(state: &UiState) -> JwtKeys {
        state.keys.clone()
    }
}

/// The routes of this function (the Lambda binary and the local server both mount this).
pub fn router(config: PagesConfig) -> Router {
    let state = UiState {
        keys: config.jwt,
        clock: config.clock,
        headers: Arc::new(SecurityHeaders::new(&config.frame_ancestors)),
    };
    Router::new()
        .route("/ui/panel", get(panel))
        .route("/ui/modal", get(modal))
        .route("/ui/settings", get(settings))
        .route("/ui/invoices", get(invoices))
        .route("/ui/bulk", get(bulk))
        .route("/ui/assets/{file}", get(asset_file))
        .layer(axum::middleware::from_fn_with_state(
            state.headers.clone(),
            security_headers,
        ))
        .with_state(state)
}

async fn security_headers(
    State(headers): State<Arc<SecurityHeaders>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    headers.apply(response.headers_mut());
    response
}

/// The query Pipedrive appends to an extension URL (only what we check; the page's script reads
/// `id`, `theme`, `selectedIds` and `data` itself).
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub token: Option<String>,
    #[serde(rename = "companyId")]
    pub company_id: Option<String>,
    #[serde(rename = "userId")]
    pub user_id: Option<String>,
}

/// Why a page is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum PageRefusal {
    Token(JwtError),
    /// `companyId` / `userId` in the URL are not the token's.
    Mismatch,
    /// The query string does not parse.
    BadQuery,
}

/// Verifies the page request's token and its agreement with `companyId` / `userId`.
pub fn verify_page(
    query: &PageQuery,
    keys: &JwtKeys,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Tenant, PageRefusal> {
    let token = query.token.as_deref().unwrap_or("").trim();
    let tenant = verify_pipedrive_jwt(token, keys, now).map_err(PageRefusal::Token)?;
    let agrees = |claimed: &Option<String>, actual: u64| {
        claimed
            .as_deref()
            .is_none_or(|c| c.trim().parse::<u64>().ok() == Some(actual))
    };
    if !agrees(&query.company_id, tenant.company_id.0) || !agrees(&query.user_id, tenant.user_id.0)
    {
        return Err(PageRefusal::Mismatch);
    }
    Ok(tenant)
}

async fn serve_page(state: &UiState, raw_query: Option<&str>, page: Page) -> Response {
    let verdict = serde_urlencoded_query(raw_query)
        .ok_or(PageRefusal::BadQuery)
        .and_then(|q| verify_page(&q, &state.keys, state.clock.now()));
    match verdict {
        Ok(tenant) => {
            tracing::info!(
                company_id = tenant.company_id.0,
                user_id = tenant.user_id.0,
                page = page.name(),
                "page served"
            );
            html_response(StatusCode::OK, page.html())
        }
        Err(refusal) => {
            let reason = match &refusal {
                PageRefusal::Token(JwtError::Missing) => {
                    "The page was opened without Pipedrive's signed token.".to_string()
                }
                PageRefusal::Token(JwtError::Expired) => {
                    "Pipedrive's signed token has expired. Reload the page in Pipedrive."
                        .to_string()
                }
                PageRefusal::Token(e) => format!("Pipedrive's signed token was refused: {e}."),
                PageRefusal::Mismatch => {
                    "The company or user in the address is not the one Pipedrive signed for."
                        .to_string()
                }
                PageRefusal::BadQuery => "The page address is not valid.".to_string(),
            };
            tracing::warn!(page = page.name(), ?refusal, "page refused");
            html_response(StatusCode::UNAUTHORIZED, refusal_html(&reason))
        }
    }
}

fn serde_urlencoded_query(raw: Option<&str>) -> Option<PageQuery> {
    axum::extract::Query::<PageQuery>::try_from_uri(
        &format!("/?{}", raw.unwrap_or("")).parse().ok()?,
    )
    .ok()
    .map(|q| q.0)
}

fn html_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The 401 page: a sentence, no script.
fn refusal_html(reason: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not allowed</title>\
<link rel=\"stylesheet\" href=\"/ui/assets/app.css\"></head><body><main id=\"app\">\
<h1>This page can only be opened from Pipedrive</h1><p role=\"alert\">{}</p></main></body></html>\n",
        escape(reason)
    )
}

async fn bulk(State(state): State<UiState>, uri: axum::http::Uri) -> Response {
    serve_page(&state, uri.query(), Page::Bulk).await
}

async fn panel(State(state): State<UiState>, uri: axum::http::Uri) -> Response {
    serve_page(&state, uri.query(), Page::Panel).await
}

async fn modal(State(state): State<UiState>, uri: axum::http::Uri) -> Response {
    serve_page(&state, uri.query(), Page::Modal).await
}

async fn settings(State(state): State<UiState>, uri: axum::http::Uri) -> Response {
    serve_page(&state, uri.query(), Page::Settings).await
}

async fn invoices(State(state): State<UiState>, uri: axum::http::Uri) -> Response {
    serve_page(&state, uri.query(), Page::Invoices).await
}

#[derive(Debug, Deserialize)]
struct AssetPath {
    file: String,
}

async fn asset_file(path: Result<PathParams<AssetPath>, shared::web::error::ApiError>) -> Response {
    let found = path.ok().and_then(|PathParams(p)| asset(&p.file));
    match found {
        Some(a) => {
            let mut response = a.body.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            response
        }
        None => {
            let mut response = (StatusCode::NOT_FOUND, "No such file.\n").into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_before_they_reach_the_policy() {
        for ok in [
            "https://app.pipedrive.com",
            "https://*.pipedrive.com",
            "http://127.0.0.1:8080",
        ] {
            assert!(is_origin(ok), "{ok}");
        }
        for bad in [
            "*",
            "'self'",
            "https://a.com; script-src *",
            "javascript://x",
            "https://",
            "https://a.com:80a",
            "https://a.com/path",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
        let headers = SecurityHeaders::new(&["https://a.com; script-src *".into()]);
        let csp = headers.content_security_policy().to_str().unwrap();
        assert!(csp.ends_with("frame-ancestors 'none'"), "{csp}");
    }

    #[test]
    fn pages_have_no_inline_code() {
        for page in [Page::Panel, Page::Modal, Page::Settings, Page::Invoices] {
            let html = page.html();
            assert!(!html.contains("<script>"), "inline script in {page:?}");
            assert!(!html.contains("<style"), "inline style in {page:?}");
            assert!(!html.contains(" on"), "event handler attribute in {page:?}");
            for src in html.split("src=\"").skip(1) {
                assert!(src.starts_with("/ui/assets/"), "{page:?} loads {src}");
            }
        }
    }
}
