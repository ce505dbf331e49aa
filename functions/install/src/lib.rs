//! The `install` function: the Pipedrive install and uninstall callbacks, and the company's
//! QuickBooks connection (connect, OAuth callback, disconnect, status).
//!
//! | route | handler | auth | request → answer |
//! |---|---|---|---|
//! | `GET /oauth/pipedrive/callback?code&state?` | `install.rs` | the OAuth code (`state`, when present, must be ours) | exchanges the code, reads `users/me`, stores the install and tokens → `302` to the app's Pipedrive settings page; `?error=access_denied` → 200 HTML page; failures → HTML page (400/502) |
//! | `DELETE /oauth/pipedrive/callback` | `install.rs` | HTTP Basic = the app's Pipedrive client id and secret (constant-time) | JSON `{client_id, company_id, user_id, timestamp}` → `200 {"ok":true}`; removes the user's tokens and install; the last user's uninstall purges the company (QuickBooks revoked, secret and every record deleted). Wrong credentials → 401 problem, nothing changes |
//! | `POST /api/quickbooks/connect` | `connect.rs` | Pipedrive JWT; any installed user | optional JSON `{replace?, confirm_new_realm?}` → `200 {"authorize_url", "expires_in"}`; 409 problem naming who holds an active connection unless `replace` (Pipedrive admins only) |
//! | `GET /oauth/quickbooks/callback?code&state&realmId` | `connect.rs` | the signed `state` (10 min) | stores the connection → 200 HTML "Connected to <company>"; tampered/expired state, missing `realmId`, replayed code, another realm than the invoice links → 4xx HTML page, nothing stored |
//! | `POST /api/quickbooks/disconnect` | `connection.rs` | Pipedrive JWT; a Pipedrive admin or the user who connected | revokes at Intuit (best effort), deletes the QuickBooks tokens, marks the connection `disconnected` (invoice links stay) → `200` [`ConnectionView`] |
//! | `GET /api/connection` | `connection.rs` | Pipedrive JWT; any installed user | `200` [`ConnectionView`] (company name and country from QuickBooks when connected); a connection that needs reconnecting answers the 409 `quickbooks-reconnect-required` problem with `reconnect_url` |
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
//!
//! Layout: each handler reads, asks a pure rule of its file (unit-tested there), and acts.
//! `pages.rs` holds the HTML pages both callbacks answer with; `company.rs` what the handlers
//! share (saving the profile, naming users, revoking a QuickBooks grant, the active-connection
//! rule). Time is read from the app's clock (`app.clock`) only.

mod company;
mod connect;
mod connection;
#[cfg(test)]
mod fixtures;
mod install;
mod pages;

use axum::Router;
use axum::routing::{get, post};

use shared::app::App;
use shared::web::auth::state::StateSigner;
use shared::web::http::Route;

pub use connect::ConnectRequest;
pub use connection::{ConnectionView, UserRef};
pub use install::{basic_auth_matches, uninstall};
pub use pages::Page;

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
            get(install::pipedrive_callback).delete(install::pipedrive_uninstall),
        )
        .route(QUICKBOOKS_CALLBACK_PATH, get(connect::quickbooks_callback))
        .route("/api/quickbooks/connect", post(connect::quickbooks_connect))
        .route(
            "/api/quickbooks/disconnect",
            post(connection::quickbooks_disconnect),
        )
        .route("/api/connection", get(connection::connection))
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

/// Signs and verifies the OAuth `state` of both flows.
fn signer(app: &App) -> StateSigner {
    StateSigner::new(&app.credentials.state_signing_key)
}
