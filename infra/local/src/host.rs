//! The local stand-in for Pipedrive's web app (local server with simulators only; never
//! deployed): a start page to "log in" as a seeded Pipedrive user and install the app, a deal view
//! that embeds the deal panel (`/ui/panel`) in an iframe and opens the custom modals (`/ui/modal`,
//! `/ui/invoices`) in a second one, and an app-settings view embedding `/ui/settings`. The host
//! script (`assets/host.js`) answers the app-extensions SDK's postMessage commands the way
//! Pipedrive does (API-NOTES §2.4a): `initialize`, `resize`, `get_signed_token`, `show_snackbar`,
//! `show_confirmation`, `open_modal`, `close_modal`, `redirect_to`, and the `user_settings_change`
//! and `close_custom_modal` events.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | redirects to `/_local/` |
//! | `GET /_local/` | start page: who is logged in, "Install the app", app settings, the company's deals |
//! | `GET /_local/deal/{id}` | a deal view embedding the panel with a signed token in its URL |
//! | `GET /_local/deals` | the deals list view (the simulated Pipedrive's deals of the company) with checkboxes and "Bulk invoice", which opens `/ui/bulk` in a 720 px custom modal with the selection in `selectedIds` |
//! | `GET /_local/settings` | the app-settings view embedding the settings page |
//! | `GET /_local/session` | JSON: the logged-in user, whether they installed the app, the install URL |
//! | `POST /_local/login` | form `user=<company>:<user>`: log in as that seeded user (a cookie) → 303 to `/_local/` |
//! | `POST /_local/token` | JSON `{valid_secs?}` → `{token}`: an SDK token for the logged-in user, signed with the app's JWT secret (default 5 minutes; negative values make expired tokens for tests) |
//! | `GET /_local/simulators` | JSON: the URLs of the app and of the simulated Pipedrive and QuickBooks (for tests) |
//! | `GET /_local/assets/{file}` | `host.js`, `host.css` |

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sandbox::pipedrive::PipedriveSim;
use sandbox::pipedrive::seed::{COMPANY_A, USER_A_ADMIN};
use serde::Deserialize;
use serde_json::json;
use shared::app::App;
use shared::domain::{CompanyId, UserId};
use shared::web::http::Route;

use crate::Simulators;

pub const START_ROUTE: Route = Route::new("GET", "/_local/");
/// `/` sends a newcomer to the start page.
pub const ROOT_ROUTE: Route = Route::new("GET", "/");
pub const DEAL_ROUTE: Route = Route::new("GET", "/_local/deal/{id}");
pub const DEALS_ROUTE: Route = Route::new("GET", "/_local/deals");
pub const SETTINGS_ROUTE: Route = Route::new("GET", "/_local/settings");
pub const SESSION_ROUTE: Route = Route::new("GET", "/_local/session");
pub const LOGIN_ROUTE: Route = Route::new("POST", "/_local/login");
pub const TOKEN_ROUTE: Route = Route::new("POST", "/_local/token");
pub const SIMULATORS_ROUTE: Route = Route::new("GET", "/_local/simulators");
pub const ASSET_ROUTE: Route = Route::new("GET", "/_local/assets/{file}");

const COOKIE: &str = "pd_local_user";
/// The custom modal's frame and Pipedrive's confirmation dialog (deal and deals list views).
const MODAL_HTML: &str = "<div id=\"modal-backdrop\" class=\"backdrop\" hidden><div class=\"modal\" role=\"dialog\" aria-modal=\"true\" aria-labelledby=\"modal-title\">\
<div class=\"modal-head\"><h2 id=\"modal-title\">Modal</h2><button type=\"button\" id=\"modal-close\" aria-label=\"Close\">×</button></div>\
<iframe id=\"modal-frame\" title=\"App modal\"></iframe></div></div>\
<dialog id=\"confirm\"><h2 id=\"confirm-title\"></h2><p id=\"confirm-text\"></p>\
<p class=\"actions\"><button type=\"button\" id=\"confirm-cancel\">Cancel</button> <button type=\"button\" id=\"confirm-ok\" class=\"primary\">OK</button></p></dialog>";
const HOST_JS: &str = include_str!("../assets/host.js");
const HOST_CSS: &str = include_str!("../assets/host.css");
/// Lifetime of the tokens the host hands out, as Pipedrive's SDK tokens (5 minutes).
const TOKEN_TTL_SECS: i64 = 300;

#[derive(Clone)]
struct Host {
    app: App,
    pipedrive: PipedriveSim,
    pipedrive_url: String,
    quickbooks_url: String,
}

/// The host's routes, bound to the app and the simulators.
pub fn router(app: App, sims: &Simulators) -> Router {
    Router::new()
        .route(ROOT_ROUTE.path, get(to_start))
        .route("/_local", get(start))
        .route(START_ROUTE.path, get(start))
        .route(DEAL_ROUTE.path, get(deal_page))
        .route(DEALS_ROUTE.path, get(deals_page))
        .route(SETTINGS_ROUTE.path, get(settings_page))
        .route(SESSION_ROUTE.path, get(session))
        .route(LOGIN_ROUTE.path, post(login))
        .route(TOKEN_ROUTE.path, post(token))
        .route(SIMULATORS_ROUTE.path, get(simulators))
        .route(ASSET_ROUTE.path, get(asset))
        .with_state(Host {
            app,
            pipedrive: sims.pipedrive.clone(),
            pipedrive_url: sims.pipedrive_url.clone(),
            quickbooks_url: sims.quickbooks_url.clone(),
        })
}

/// The seeded user "logged in" to the stand-in (from the cookie; Anna Admin of company 1001 by
/// default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Who {
    company_id: u64,
    user_id: u64,
}

fn who(headers: &HeaderMap) -> Who {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .and_then(|(_, value)| parse_user(value))
        .filter(|w| seeded_user(*w).is_some())
        .unwrap_or(Who {
            company_id: COMPANY_A,
            user_id: USER_A_ADMIN,
        })
}

fn parse_user(value: &str) -> Option<Who> {
    let (c, u) = value.trim().split_once(':')?;
    Some(Who {
        company_id: c.parse().ok()?,
        user_id: u.parse().ok()?,
    })
}

fn seeded_user(w: Who) -> Option<sandbox::pipedrive::User> {
    sandbox::pipedrive::seed::seed()
        .users
        .get(&(w.company_id, w.user_id))
        .cloned()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{} — Pipedrive (local stand-in)</title><link rel=\"stylesheet\" href=\"/_local/assets/host.css\">\
<script type=\"module\" src=\"/_local/assets/host.js\"></script></head><body>\
<header class=\"topbar\"><a href=\"/_local/\">Pipedrive <small>(local stand-in)</small></a>\
<button type=\"button\" id=\"theme-toggle\" aria-pressed=\"false\">Dark theme</button></header>{body}\
<div id=\"snackbars\" role=\"status\" aria-live=\"polite\"></div></body></html>\n",
        escape(title)
    );
    let mut response = (StatusCode::OK, html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; frame-src 'self'; frame-ancestors 'none'",
        ),
    );
    response
}

impl Host {
    fn install_url(&self, w: Who) -> String {
        let redirect = format!(
            "{}/oauth/pipedrive/callback",
            self.app.deployment.public_base_url
        );
        format!(
            "{}/oauth/authorize?client_id={}&redirect_uri={}&company_id={}&user_id={}",
            self.pipedrive_url,
            url_encode(&self.app.credentials.pipedrive_client_id),
            url_encode(&redirect),
            w.company_id,
            w.user_id
        )
    }

    async fn installed(&self, w: Who) -> bool {
        matches!(
            self.app
                .records
                .get_user_install(CompanyId(w.company_id), UserId(w.user_id))
                .await,
            Ok(Some(_))
        )
    }

    /// An iframe URL as Pipedrive builds it: context, the extension id, theme and a fresh token.
    fn extension_url(&self, path: &str, w: Who, id: &str, extra: &str) -> String {
        let token = self
            .pipedrive
            .sign_jwt(w.company_id, w.user_id, TOKEN_TTL_SECS)
            .map(|(t, _)| t)
            .unwrap_or_default();
        format!(
            "{path}?id={id}&theme=light&userId={}&companyId={}{extra}&token={token}",
            w.user_id, w.company_id
        )
    }
}

async fn to_start() -> axum::response::Redirect {
    axum::response::Redirect::to("/_local/")
}

async fn start(State(host): State<Host>, headers: HeaderMap) -> Response {
    let me = who(&headers);
    let store = sandbox::pipedrive::seed::seed();
    let options: String = store
        .users
        .values()
        .map(|u| {
            let company = store
                .companies
                .get(&u.company_id)
                .map(|c| c.name.as_str())
                .unwrap_or("");
            let selected = if (u.company_id, u.id) == (me.company_id, me.user_id) {
                " selected"
            } else {
                ""
            };
            // The locale is what the app reads from Pipedrive's `users/me` (as from Pipedrive).
            format!(
                "<option value=\"{}:{}\"{selected}>{} — {}{} · {}</option>",
                u.company_id,
                u.id,
                escape(&u.name),
                escape(company),
                if u.is_admin { " (admin)" } else { "" },
                escape(&u.locale)
            )
        })
        .collect();
    let installed = host.installed(me).await;
    let install = if installed {
        "<p class=\"ok\" id=\"install-state\">The app is installed for you.</p>\
<p><a class=\"button\" href=\"/_local/settings\" id=\"app-settings\">App settings (connect QuickBooks)</a></p>"
            .to_string()
    } else {
        format!(
            "<p id=\"install-state\">The app is not installed for you yet.</p>\
<p><a class=\"button primary\" id=\"install\" data-popup=\"install\" href=\"{}\">Install the app</a></p>",
            escape(&host.install_url(me))
        )
    };
    let deals: String = store
        .deals
        .iter()
        .filter(|((c, _), _)| *c == me.company_id)
        .map(|((_, id), d)| {
            let org = d
                .org_id
                .and_then(|o| store.organizations.get(&(me.company_id, o)))
                .map(|o| o.name.as_str())
                .unwrap_or("—");
            format!(
                "<li><a href=\"/_local/deal/{id}\" data-deal=\"{id}\">{}</a> <span class=\"muted\">{} {} · {}</span></li>",
                escape(&d.title),
                d.value.map(|v| v.to_string()).unwrap_or_default(),
                escape(d.currency.as_deref().unwrap_or("")),
                escape(org)
            )
        })
        .collect();
    let body = format!(
        "<main class=\"start\"><h1>Pipedrive (local stand-in)</h1>\
<form method=\"post\" action=\"/_local/login\" class=\"login\"><label for=\"user\">Logged in as</label> \
<select id=\"user\" name=\"user\">{options}</select> <button type=\"submit\">Switch user</button></form>\
<section aria-labelledby=\"install-h\"><h2 id=\"install-h\">Marketplace app</h2>{install}</section>\
<section aria-labelledby=\"deals-h\"><h2 id=\"deals-h\">Deals</h2>\
<p><a href=\"/_local/deals\" id=\"deals-list\">Deals list view (select deals, bulk invoice)</a></p><ul class=\"deals\">{deals}</ul></section></main>"
    );
    page("Start", &body)
}

async fn deal_page(
    State(host): State<Host>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let me = who(&headers);
    let store = sandbox::pipedrive::seed::seed();
    // The simulator's deal as it is now (a test may have added or edited it).
    let Some(deal) = id
        .parse::<u64>()
        .ok()
        .and_then(|id| host.pipedrive.deal(me.company_id, id))
    else {
        return (StatusCode::NOT_FOUND, "No such deal in your company.").into_response();
    };
    let org = deal
        .org_id
        .and_then(|o| store.organizations.get(&(me.company_id, o)))
        .map(|o| o.name.clone())
        .unwrap_or_else(|| "—".into());
    let person = deal
        .person_id
        .and_then(|p| store.persons.get(&(me.company_id, p)))
        .map(|p| p.name.clone())
        .unwrap_or_else(|| "—".into());
    let panel = host.extension_url(
        "/ui/panel",
        me,
        "qb-panel",
        &format!(
            "&resource=deal&view=details&selectedIds={}&isShared=false",
            deal.id
        ),
    );
    let body = format!(
        "<main class=\"deal\" data-deal=\"{id}\" data-company=\"{c}\" data-user=\"{u}\">\
<section class=\"deal-main\"><p><a href=\"/_local/\">← Deals</a></p><h1>{title}</h1>\
<dl><dt>Value</dt><dd>{value} {currency}</dd><dt>Organization</dt><dd>{org}</dd><dt>Person</dt><dd>{person}</dd></dl></section>\
<aside class=\"sidebar\" aria-label=\"App panels\"><div class=\"sidebar-head\"><h2>QuickBooks invoices</h2>\
<button type=\"button\" id=\"panel-toggle\" aria-expanded=\"true\" aria-controls=\"panel-frame\">Collapse</button></div>\
<iframe id=\"panel-frame\" title=\"QuickBooks invoices panel\" data-src=\"{panel}\" data-extension=\"qb-panel\"></iframe></aside></main>{modal}",
        id = deal.id,
        c = me.company_id,
        u = me.user_id,
        title = escape(&deal.title),
        value = deal.value.map(|v| v.to_string()).unwrap_or_default(),
        currency = escape(deal.currency.as_deref().unwrap_or("")),
        org = escape(&org),
        person = escape(&person),
        panel = escape(&panel),
        modal = MODAL_HTML,
    );
    page(&deal.title, &body)
}

/// The deals list view: every deal of the company in the simulated Pipedrive, a checkbox each,
/// and the app's "Bulk invoice" action (a custom modal, as Pipedrive shows list-view actions).
async fn deals_page(State(host): State<Host>, headers: HeaderMap) -> Response {
    let me = who(&headers);
    let rows: String = host
        .pipedrive
        .company_deals(me.company_id)
        .iter()
        .map(|d| {
            let org = d
                .org_id
                .and_then(|o| host.pipedrive.organization(me.company_id, o))
                .map(|o| o.name)
                .unwrap_or_else(|| "—".into());
            format!(
                "<tr><td><input type=\"checkbox\" class=\"select-deal\" value=\"{id}\" id=\"select-{id}\" aria-label=\"Select {title}\"></td>\
<td><a href=\"/_local/deal/{id}\">{title}</a></td><td>{org}</td><td class=\"num\">{value} {currency}</td></tr>",
                id = d.id,
                title = escape(&d.title),
                org = escape(&org),
                value = d.value.map(|v| v.to_string()).unwrap_or_default(),
                currency = escape(d.currency.as_deref().unwrap_or("")),
            )
        })
        .collect();
    let body = format!(
        "<main class=\"deals-list\" data-company=\"{c}\" data-user=\"{u}\"><p><a href=\"/_local/\">← Start</a></p>\
<h1>Deals</h1><p class=\"toolbar\"><label><input type=\"checkbox\" id=\"select-all\"> Select all</label> \
<span id=\"selected-count\">0 selected</span> <button type=\"button\" id=\"bulk-invoice\" class=\"primary\" disabled>Bulk invoice</button></p>\
<table class=\"deals-table\"><thead><tr><th scope=\"col\"></th><th scope=\"col\">Title</th><th scope=\"col\">Organization</th><th scope=\"col\">Value</th></tr></thead>\
<tbody>{rows}</tbody></table></main>{modal}",
        c = me.company_id,
        u = me.user_id,
        modal = MODAL_HTML,
    );
    page("Deals", &body)
}

async fn settings_page(State(host): State<Host>, headers: HeaderMap) -> Response {
    let me = who(&headers);
    let frame = host.extension_url("/ui/settings", me, "qb-settings", "&resource=settings");
    let body = format!(
        "<main class=\"settings\" data-company=\"{}\" data-user=\"{}\"><p><a href=\"/_local/\">← Back</a></p>\
<h1>App settings: QuickBooks invoicing</h1>\
<iframe id=\"settings-frame\" title=\"QuickBooks invoicing settings\" data-src=\"{}\" data-extension=\"qb-settings\"></iframe></main>\
<dialog id=\"confirm\"><h2 id=\"confirm-title\"></h2><p id=\"confirm-text\"></p>\
<p class=\"actions\"><button type=\"button\" id=\"confirm-cancel\">Cancel</button> <button type=\"button\" id=\"confirm-ok\" class=\"primary\">OK</button></p></dialog>",
        me.company_id,
        me.user_id,
        escape(&frame)
    );
    page("App settings", &body)
}

async fn session(State(host): State<Host>, headers: HeaderMap) -> Json<serde_json::Value> {
    let me = who(&headers);
    let user = seeded_user(me);
    Json(json!({
        "company_id": me.company_id,
        "user_id": me.user_id,
        "name": user.as_ref().map(|u| u.name.clone()),
        "is_admin": user.as_ref().map(|u| u.is_admin),
        "installed": host.installed(me).await,
        "install_url": host.install_url(me),
    }))
}

/// The `user` field of the login form (`1001%3A101` or `1001:101`).
fn form_user(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let raw = text
        .split('&')
        .find_map(|pair| pair.strip_prefix("user="))?;
    Some(raw.replace("%3A", ":").replace("%3a", ":"))
}

async fn login(body: Bytes) -> Response {
    let Some(w) = form_user(&body)
        .and_then(|u| parse_user(&u))
        .filter(|w| seeded_user(*w).is_some())
    else {
        return (StatusCode::BAD_REQUEST, "Choose one of the seeded users.").into_response();
    };
    let mut response = (StatusCode::SEE_OTHER, "").into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static("/_local/"));
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{COOKIE}={}:{}; Path=/; SameSite=Strict; HttpOnly",
        w.company_id, w.user_id
    )) {
        h.insert(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TokenRequest {
    valid_secs: Option<i64>,
}

async fn token(State(host): State<Host>, headers: HeaderMap, body: Bytes) -> Response {
    let me = who(&headers);
    let request: TokenRequest = if body.is_empty() {
        TokenRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return shared::web::error::ApiError::bad_request(format!("not valid JSON: {e}"))
                    .into_response();
            }
        }
    };
    let ttl = request
        .valid_secs
        .unwrap_or(TOKEN_TTL_SECS)
        .clamp(-3600, TOKEN_TTL_SECS);
    match host.pipedrive.sign_jwt(me.company_id, me.user_id, ttl) {
        Ok((token, _)) => {
            let mut response = Json(json!({"token": token})).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => shared::web::error::ApiError::bad_request(e.to_string()).into_response(),
    }
}

async fn simulators(State(host): State<Host>) -> Json<serde_json::Value> {
    Json(json!({
        "app_url": host.app.deployment.public_base_url,
        "pipedrive_url": host.pipedrive_url,
        "quickbooks_url": host.quickbooks_url,
        "quickbooks_realms": {
            "us": sandbox::quickbooks::US_REALM,
        },
    }))
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "host.js" => (HOST_JS, "text/javascript; charset=utf-8"),
        "host.css" => (HOST_CSS, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "No such file.").into_response(),
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
