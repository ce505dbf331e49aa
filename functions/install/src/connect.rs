//! Connecting QuickBooks: `POST /api/quickbooks/connect` (the authorize URL, with the caller's
//! choices signed into its `state`) and `GET /oauth/quickbooks/callback` (the connection
//! stored, or a page saying why not).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use shared::app::App;
use shared::app::access::require_install;
use shared::app::tokens::app_settings_url;
use shared::clients::quickbooks::QuickBooksError;
use shared::domain::{
    CompanyId, CompanyProfile, ConnectionState, QuickBooksConnection, QuickBooksEnvironment,
    SecretString, UserId,
};
use shared::store::secrets::QuickBooksTokens;
use shared::web::auth::Tenant;
use shared::web::auth::state::{OAuthState, STATE_TTL_SECS, StateError, StatePurpose, StateSigner};
use shared::web::error::ApiError;
use shared::web::http::{OptionalJsonBody, QueryParams};
use shared::wire::quickbooks::model::{CompanyInfo, TokenResponse};

use crate::company::{
    active_connection, holder_name, quickbooks_credentials, revoke_quickbooks, save_connection,
};
use crate::pages::{Page, shown, state_page, upstream_page};
use crate::{quickbooks_redirect_uri, signer};

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

/// Replacing a connection and moving to another QuickBooks company are for admins.
fn may_ask(request: &ConnectRequest, is_admin: bool) -> Result<(), ApiError> {
    if (request.replace || request.confirm_new_realm) && !is_admin {
        return Err(ApiError::Forbidden(
            "Only a Pipedrive admin of your company can replace the QuickBooks connection or move it to another QuickBooks company.".into(),
        ));
    }
    Ok(())
}

/// The 409 naming who holds the active connection.
fn already_connected(connection: &QuickBooksConnection, holder: &str) -> ApiError {
    ApiError::Refused {
        reason: shared::web::error::Refusal::AlreadyConnected,
        detail: format!(
            "QuickBooks is already connected by {holder}. Disconnect it first, or ask a Pipedrive admin to replace the connection."
        ),
        current: Some(json!({
            "state": connection.state,
            "realm_id": connection.realm_id,
            "connected_by": { "id": connection.connected_by, "name": holder },
        })),
    }
}

/// The state the flow carries to the callback: who started it, and what they allowed.
fn connect_state(tenant: Tenant, request: &ConnectRequest, now: DateTime<Utc>) -> OAuthState {
    let mut state = OAuthState::quickbooks_connect(tenant.company_id, tenant.user_id, now);
    state.replace = request.replace;
    state.confirm_new_realm = request.confirm_new_realm;
    state
}

pub(crate) async fn quickbooks_connect(
    State(app): State<App>,
    tenant: Tenant,
    headers: HeaderMap,
    body: Result<OptionalJsonBody<ConnectRequest>, ApiError>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (profile, install) = require_install(&app.records, tenant).await?;
    // The body is judged after the install: a caller who has not installed learns that first.
    let request = body?.0.unwrap_or_default();
    may_ask(&request, install.is_admin)?;
    if let Some(connection) = active_connection(
        profile.quickbooks.as_ref(),
        request.replace,
        Some(tenant.user_id),
    ) {
        let holder = holder_name(&app, tenant.company_id, connection, tenant.user_id).await;
        return Err(already_connected(connection, &holder));
    }
    let state = connect_state(tenant, &request, app.clock.now());
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
pub(crate) struct QuickBooksCallbackQuery {
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

const NOT_CONNECTED: &str = "QuickBooks was not connected";

/// Why a callback stops before anything is read or called.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// The user declined on Intuit's consent page.
    Cancelled,
    /// Intuit redirected with another `error`.
    Failed(String),
    BadState(StateError),
    NoCode,
    BadRealm,
    NoRealm,
}

impl Refusal {
    fn log(&self) {
        match self {
            Refusal::Failed(error) => {
                tracing::warn!(error = shown(error), "QuickBooks callback with an error")
            }
            Refusal::BadState(error) => {
                tracing::warn!(%error, "QuickBooks callback with a bad state")
            }
            _ => {}
        }
    }

    fn page(&self) -> Page {
        let refused = |message: String| Page::new(StatusCode::BAD_REQUEST, NOT_CONNECTED, message);
        match self {
            Refusal::Cancelled => Page::new(
                StatusCode::OK,
                "Connection cancelled",
                "You cancelled connecting QuickBooks, so nothing was changed. You can close this tab and return to Pipedrive.",
            ),
            Refusal::Failed(error) => refused(format!(
                "QuickBooks reported an error ({}). Please {CONNECT_AGAIN}.",
                shown(error)
            )),
            Refusal::BadState(error) => state_page(*error, CONNECT_AGAIN),
            Refusal::NoCode => refused(format!(
                "QuickBooks did not send an authorization code. Please {CONNECT_AGAIN}."
            )),
            Refusal::BadRealm => refused(format!(
                "The QuickBooks company id (realmId) is not valid. Please {CONNECT_AGAIN}."
            )),
            Refusal::NoRealm => refused(format!(
                "QuickBooks did not say which company you chose (realmId is missing), so nothing was changed. Please {CONNECT_AGAIN}."
            )),
        }
    }
}

/// What a callback brings, checked: who started the flow (and what they allowed), the code,
/// the QuickBooks company chosen.
#[derive(Debug)]
struct Grant {
    state: OAuthState,
    company: CompanyId,
    user: UserId,
    code: String,
    realm: String,
}

fn read_grant(
    query: &QuickBooksCallbackQuery,
    signer: &StateSigner,
    now: DateTime<Utc>,
) -> Result<Grant, Refusal> {
    if let Some(error) = query.error.as_deref() {
        return Err(match error {
            "access_denied" => Refusal::Cancelled,
            other => Refusal::Failed(other.to_string()),
        });
    }
    let raw_state = query.state.as_deref().unwrap_or("");
    let state = signer
        .verify(raw_state, StatePurpose::QuickBooksConnect, now)
        .map_err(Refusal::BadState)?;
    let (Some(company), Some(user)) = (state.company_id, state.user_id) else {
        return Err(Refusal::BadState(StateError::Malformed));
    };
    let code = query
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(Refusal::NoCode)?;
    let realm = realm_of(query.realm_id.as_deref())?;
    Ok(Grant {
        state,
        company,
        user,
        code: code.to_string(),
        realm,
    })
}

/// `realmId`, trimmed: 1–32 ASCII letters and digits.
fn realm_of(raw: Option<&str>) -> Result<String, Refusal> {
    match raw.map(str::trim) {
        Some(r)
            if !r.is_empty() && r.len() <= 32 && r.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            Ok(r.to_string())
        }
        Some(r) if !r.is_empty() => Err(Refusal::BadRealm),
        _ => Err(Refusal::NoRealm),
    }
}

/// Why the callback must not connect the chosen QuickBooks company.
#[derive(Debug, PartialEq, Eq)]
enum Blocked<'p> {
    /// Someone holds an active connection, and the flow was not started to replace it.
    Held(&'p QuickBooksConnection),
    /// The invoice links point at another QuickBooks company, and no admin confirmed the move.
    OtherRealm(&'p str),
}

fn blocked<'p>(profile: &'p CompanyProfile, grant: &Grant) -> Option<Blocked<'p>> {
    if let Some(connection) = active_connection(
        profile.quickbooks.as_ref(),
        grant.state.replace,
        grant.state.user_id,
    ) {
        return Some(Blocked::Held(connection));
    }
    match profile.linked_realm_id.as_deref() {
        Some(linked) if linked != grant.realm && !grant.state.confirm_new_realm => {
            Some(Blocked::OtherRealm(linked))
        }
        _ => None,
    }
}

fn held_page(holder: &str) -> Page {
    Page::new(
        StatusCode::CONFLICT,
        "QuickBooks is already connected",
        format!(
            "QuickBooks is already connected by {holder}, so nothing was changed. To use another connection, disconnect it first or ask a Pipedrive admin to replace it."
        ),
    )
}

fn other_realm_page(linked: &str, realm: &str) -> Page {
    Page::new(
        StatusCode::CONFLICT,
        "This is another QuickBooks company",
        format!(
            "Your company's invoices are linked to QuickBooks company {linked}, but you chose company {realm}. Nothing was changed: invoices from two sets of books are never mixed. To move to the new company, a Pipedrive admin must confirm the switch in the app settings."
        ),
    )
}

/// Whether QuickBooks says the new token does not open the chosen company (any other failure
/// of the check is not a refusal: the connection is kept, unnamed).
fn refuses_the_realm(error: &QuickBooksError) -> bool {
    matches!(
        error,
        QuickBooksError::Unauthorized { .. }
            | QuickBooksError::Fault {
                status: 401 | 403,
                ..
            }
            | QuickBooksError::Http {
                status: 401 | 403,
                ..
            }
    )
}

/// The grant the new one replaces, when it is for another QuickBooks company: no longer used,
/// it is let go. Never for the same company, where a revoke would end the new connection too.
fn superseded(previous: Option<QuickBooksTokens>, realm: &str) -> Option<QuickBooksTokens> {
    previous.filter(|old| old.realm_id != realm)
}

/// The profile once the grant is stored: connected by its user; its invoice links point at the
/// chosen company when they pointed nowhere yet or an admin confirmed the move.
fn connect_profile(
    profile: &mut CompanyProfile,
    grant: &Grant,
    environment: QuickBooksEnvironment,
    now: DateTime<Utc>,
) {
    profile.quickbooks = Some(QuickBooksConnection {
        realm_id: grant.realm.clone(),
        environment,
        state: ConnectionState::Connected,
        connected_by: grant.user,
        connected_at: now,
        reason: None,
    });
    if profile.linked_realm_id.is_none() || grant.state.confirm_new_realm {
        profile.linked_realm_id = Some(grant.realm.clone());
    }
}

/// The page after connecting, named after the QuickBooks company when we know its name.
fn connected_page(info: Option<&CompanyInfo>) -> Page {
    let name = info
        .and_then(|i| i.company_name.clone().or_else(|| i.legal_name.clone()))
        .filter(|n| !n.trim().is_empty());
    Page::new(
        StatusCode::OK,
        match &name {
            Some(n) => format!("Connected to {n}"),
            None => "Connected to QuickBooks".to_string(),
        },
        "QuickBooks is connected. You can close this tab and return to Pipedrive to create invoices from your deals.",
    )
}

pub(crate) async fn quickbooks_callback(
    State(app): State<App>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<QuickBooksCallbackQuery>,
) -> Response {
    let base = app.deployment.base_url(&headers);
    match callback(&app, &base, query).await {
        Ok(page) | Err(page) => page.into_response(),
    }
}

async fn callback(app: &App, base: &str, query: QuickBooksCallbackQuery) -> Result<Page, Page> {
    let now = app.clock.now();
    let grant = read_grant(&query, &signer(app), now).map_err(|refusal| {
        refusal.log();
        refusal.page()
    })?;
    let settings_link = check_company(app, &grant).await?;
    let answer = exchange_code(app, base, &grant.code).await?;
    let access = SecretString::new(answer.access_token.clone());
    let info = confirm_realm(app, &grant, &access).await?;
    store_tokens(
        app,
        &grant,
        shared::app::tokens::grants::quickbooks_granted(&grant.realm, &answer, now),
    )
    .await?;
    let environment = app.deployment.quickbooks_environment;
    save_connection(app, grant.company, |profile| {
        connect_profile(profile, &grant, environment, now)
    })
    .await
    .map_err(|e| store_failed(grant.company, &e))?;
    tracing::info!(
        company_id = grant.company.0,
        user_id = grant.user.0,
        realm_id = grant.realm.as_str(),
        "QuickBooks connected"
    );
    Ok(connected_page(info.as_ref()).with_link(settings_link, "Return to Pipedrive"))
}

fn store_failed(company: CompanyId, error: &dyn std::fmt::Display) -> Page {
    tracing::error!(company_id = company.0, %error, "QuickBooks callback could not read the store");
    Page::new(
        StatusCode::SERVICE_UNAVAILABLE,
        NOT_CONNECTED,
        format!("We could not save the connection. Please {CONNECT_AGAIN} in a minute."),
    )
}

/// Reads the caller's install and the company's profile and checks the chosen QuickBooks
/// company against them. Returns the link back to the app's settings in Pipedrive.
async fn check_company(app: &App, grant: &Grant) -> Result<String, Page> {
    let company = grant.company;
    let install = app
        .records
        .get_user_install(company, grant.user)
        .await
        .map_err(|e| store_failed(company, &e))?
        .ok_or_else(|| {
            Page::new(
                StatusCode::FORBIDDEN,
                NOT_CONNECTED,
                "The app is no longer installed for your Pipedrive user. Install it from the Pipedrive Marketplace, then connect QuickBooks from its settings.",
            )
        })?;
    let settings_link = app_settings_url(&install.api_domain, &app.credentials.pipedrive_client_id);
    let profile = app
        .records
        .get_company(company)
        .await
        .map_err(|e| store_failed(company, &e))?
        .ok_or_else(|| store_failed(company, &"the installed company has no profile"))?;
    let page = match blocked(&profile, grant) {
        None => return Ok(settings_link),
        Some(Blocked::Held(connection)) => {
            held_page(&holder_name(app, company, connection, grant.user).await)
        }
        Some(Blocked::OtherRealm(linked)) => other_realm_page(linked, &grant.realm),
    };
    Err(page.with_link(settings_link, "Back to the app settings in Pipedrive"))
}

async fn exchange_code(app: &App, base: &str, code: &str) -> Result<TokenResponse, Page> {
    app.quickbooks
        .exchange_code(
            &quickbooks_credentials(app),
            code,
            &quickbooks_redirect_uri(base),
        )
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
        })
}

/// Proves that the token opens the company named by `realmId`, and names it for the page.
async fn confirm_realm(
    app: &App,
    grant: &Grant,
    access: &SecretString,
) -> Result<Option<CompanyInfo>, Page> {
    let company = grant.company.0;
    match app.quickbooks.company_info(&grant.realm, access).await {
        Ok(info) => Ok(Some(info)),
        Err(error) if refuses_the_realm(&error) => {
            tracing::warn!(company_id = company, %error, "the new token does not open the chosen realm");
            Err(Page::new(
                StatusCode::BAD_REQUEST,
                NOT_CONNECTED,
                format!(
                    "QuickBooks did not confirm access to the company you chose. Please {CONNECT_AGAIN}."
                ),
            ))
        }
        Err(error) => {
            tracing::warn!(company_id = company, %error, "CompanyInfo failed after connecting; continuing");
            Ok(None)
        }
    }
}

/// Stores the new grant under the company's lease, and lets a superseded one go.
async fn store_tokens(app: &App, grant: &Grant, tokens: QuickBooksTokens) -> Result<(), Page> {
    let company = grant.company;
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
        .map_err(|e| store_failed(company, &e))?;
    if let Some(old) = superseded(previous, &grant.realm) {
        revoke_quickbooks(app, company, &old).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{connection, now, signer};
    use chrono::Duration;
    use shared::wire::quickbooks::model::Fault;

    fn tenant() -> Tenant {
        Tenant {
            company_id: CompanyId(1),
            user_id: UserId(2),
        }
    }

    fn request(replace: bool, confirm_new_realm: bool) -> ConnectRequest {
        ConnectRequest {
            replace,
            confirm_new_realm,
        }
    }

    fn query(
        state: Option<String>,
        code: Option<&str>,
        realm: Option<&str>,
    ) -> QuickBooksCallbackQuery {
        QuickBooksCallbackQuery {
            code: code.map(str::to_string),
            state,
            realm_id: realm.map(str::to_string),
            error: None,
        }
    }

    fn signed(replace: bool, confirm_new_realm: bool) -> String {
        signer().sign(&connect_state(
            tenant(),
            &request(replace, confirm_new_realm),
            now(),
        ))
    }

    fn grant(replace: bool, confirm_new_realm: bool, realm: &str) -> Grant {
        let query = query(
            Some(signed(replace, confirm_new_realm)),
            Some("code"),
            Some(realm),
        );
        read_grant(&query, &signer(), now()).unwrap()
    }

    fn tokens(realm: &str) -> QuickBooksTokens {
        shared::app::tokens::grants::quickbooks_granted(realm, &TokenResponse::default(), now())
    }

    #[test]
    fn replacing_or_moving_a_connection_is_for_admins() {
        for (replace, confirm) in [(true, false), (false, true), (true, true)] {
            let refused = may_ask(&request(replace, confirm), false).unwrap_err();
            assert_eq!(refused.status(), StatusCode::FORBIDDEN);
            assert!(may_ask(&request(replace, confirm), true).is_ok());
        }
        assert!(may_ask(&request(false, false), false).is_ok());
    }

    #[test]
    fn the_conflict_names_the_holder_and_the_connection() {
        let held = connection(ConnectionState::Connected, 7);
        let refused = already_connected(&held, "Ada");
        assert_eq!(
            refused.kind(),
            "already-connected",
            "not 'changed by someone else'"
        );
        let ApiError::Refused {
            detail, current, ..
        } = refused
        else {
            panic!("a refusal");
        };
        assert!(detail.contains("already connected by Ada."), "{detail}");
        assert_eq!(
            current.unwrap(),
            json!({"state": "connected", "realm_id": "9130", "connected_by": {"id": 7, "name": "Ada"}})
        );
    }

    #[test]
    fn the_state_carries_the_caller_and_their_choices() {
        let state = connect_state(tenant(), &request(true, false), now());
        assert_eq!(state.purpose, StatePurpose::QuickBooksConnect);
        assert_eq!(
            (state.company_id, state.user_id),
            (Some(CompanyId(1)), Some(UserId(2)))
        );
        assert!(state.replace && !state.confirm_new_realm);
        assert_eq!(state.expires_at, now().timestamp() + STATE_TTL_SECS);
    }

    #[test]
    fn a_callback_brings_a_valid_state_a_code_and_a_realm() {
        let grant = grant(false, true, " 9130 ");
        assert_eq!((grant.company, grant.user), (CompanyId(1), UserId(2)));
        assert_eq!(
            (grant.code.as_str(), grant.realm.as_str()),
            ("code", "9130")
        );
        assert!(grant.state.confirm_new_realm && !grant.state.replace);
    }

    #[test]
    fn what_a_callback_lacks_is_refused_in_order() {
        let read = |q: QuickBooksCallbackQuery| read_grant(&q, &signer(), now()).unwrap_err();
        let mut cancelled = query(None, None, None);
        cancelled.error = Some("access_denied".into());
        assert_eq!(read(cancelled), Refusal::Cancelled);
        let mut failed = query(Some(signed(false, false)), Some("c"), Some("1"));
        failed.error = Some("invalid_scope".into());
        assert_eq!(read(failed), Refusal::Failed("invalid_scope".into()));
        assert_eq!(
            read(query(None, Some("c"), Some("1"))),
            Refusal::BadState(StateError::Missing)
        );
        let later = now() + Duration::minutes(11);
        let expired = query(Some(signed(false, false)), Some("c"), Some("1"));
        assert_eq!(
            read_grant(&expired, &signer(), later).unwrap_err(),
            Refusal::BadState(StateError::Expired)
        );
        let anonymous = signer().sign(&OAuthState::new(
            StatePurpose::QuickBooksConnect,
            None,
            None,
            now(),
        ));
        assert_eq!(
            read(query(Some(anonymous), Some("c"), Some("1"))),
            Refusal::BadState(StateError::Malformed)
        );
        assert_eq!(
            read(query(Some(signed(false, false)), Some(""), Some("1"))),
            Refusal::NoCode
        );
        assert_eq!(
            read(query(Some(signed(false, false)), Some("c"), None)),
            Refusal::NoRealm
        );
    }

    #[test]
    fn a_realm_id_is_short_and_alphanumeric() {
        assert_eq!(realm_of(Some("9341452")).unwrap(), "9341452");
        assert_eq!(realm_of(Some(" abc123 ")).unwrap(), "abc123");
        assert_eq!(realm_of(Some(&"9".repeat(32))).unwrap().len(), 32);
        for bad in ["93-41", "93 41", "../1", &"9".repeat(33)] {
            assert_eq!(realm_of(Some(bad)).unwrap_err(), Refusal::BadRealm, "{bad}");
        }
        for missing in [None, Some(""), Some("  ")] {
            assert_eq!(realm_of(missing).unwrap_err(), Refusal::NoRealm);
        }
    }

    #[test]
    fn every_refusal_is_a_page_saying_nothing_was_connected() {
        assert_eq!(Refusal::Cancelled.page().status, StatusCode::OK);
        for refusal in [
            Refusal::Failed("x".into()),
            Refusal::BadState(StateError::BadSignature),
            Refusal::NoCode,
            Refusal::BadRealm,
            Refusal::NoRealm,
        ] {
            assert_eq!(
                refusal.page().status,
                StatusCode::BAD_REQUEST,
                "{refusal:?}"
            );
        }
        assert!(
            Refusal::NoRealm
                .page()
                .message
                .contains("realmId is missing")
        );
        assert_eq!(Refusal::NoCode.page().title, NOT_CONNECTED);
    }

    #[test]
    fn an_active_connection_blocks_unless_replaced() {
        let mut profile = CompanyProfile::new(CompanyId(1), now());
        profile.quickbooks = Some(connection(ConnectionState::Connected, 7));
        let held = profile.quickbooks.as_ref().unwrap();
        assert_eq!(
            blocked(&profile, &grant(false, false, "9130")),
            Some(Blocked::Held(held))
        );
        assert_eq!(blocked(&profile, &grant(true, false, "9130")), None);
        profile.quickbooks = Some(connection(ConnectionState::NeedsReconnect, 7));
        assert_eq!(blocked(&profile, &grant(false, false, "9130")), None);
    }

    #[test]
    fn invoices_never_move_to_another_realm_unconfirmed() {
        let mut profile = CompanyProfile::new(CompanyId(1), now());
        assert_eq!(blocked(&profile, &grant(false, false, "555")), None);
        profile.linked_realm_id = Some("9130".into());
        assert_eq!(blocked(&profile, &grant(false, false, "9130")), None);
        assert_eq!(
            blocked(&profile, &grant(false, false, "555")),
            Some(Blocked::OtherRealm("9130"))
        );
        assert_eq!(blocked(&profile, &grant(false, true, "555")), None);
        let page = other_realm_page("9130", "555");
        assert_eq!(page.status, StatusCode::CONFLICT);
        assert!(
            page.message
                .contains("company 9130, but you chose company 555")
        );
        assert_eq!(held_page("you").status, StatusCode::CONFLICT);
    }

    #[test]
    fn only_401_and_403_mean_the_token_does_not_open_the_realm() {
        let tid = || None;
        assert!(refuses_the_realm(&QuickBooksError::Unauthorized {
            intuit_tid: tid()
        }));
        for status in [401, 403] {
            assert!(refuses_the_realm(&QuickBooksError::Http {
                status,
                intuit_tid: tid()
            }));
            assert!(refuses_the_realm(&QuickBooksError::Fault {
                status,
                fault: Fault::default(),
                intuit_tid: tid()
            }));
        }
        assert!(!refuses_the_realm(&QuickBooksError::Http {
            status: 500,
            intuit_tid: tid()
        }));
        assert!(!refuses_the_realm(&QuickBooksError::Transport("x".into())));
        assert!(!refuses_the_realm(&QuickBooksError::Throttled {
            retry_after_secs: 1,
            intuit_tid: tid()
        }));
    }

    #[test]
    fn granted_tokens_expire_as_quickbooks_says() {
        let answer = TokenResponse {
            access_token: "a".into(),
            refresh_token: "r".into(),
            expires_in: 3600,
            x_refresh_token_expires_in: 8_726_400,
            ..TokenResponse::default()
        };
        let tokens = shared::app::tokens::grants::quickbooks_granted("9130", &answer, now());
        assert_eq!(tokens.realm_id, "9130");
        assert_eq!(tokens.access_expires_at, now() + Duration::seconds(3600));
        assert_eq!(
            tokens.refresh_expires_at,
            Some(now() + Duration::seconds(8_726_400))
        );
        assert_eq!(
            (tokens.access_token.expose(), tokens.refresh_token.expose()),
            ("a", "r")
        );
        assert_eq!(tokens.updated_at, now());
    }

    #[test]
    fn a_missing_or_unusable_lifetime_is_none() {
        for (access, refresh) in [(0, 0), (-5, -5), (i64::MAX, i64::MAX)] {
            let answer = TokenResponse {
                expires_in: access,
                x_refresh_token_expires_in: refresh,
                ..TokenResponse::default()
            };
            let tokens = shared::app::tokens::grants::quickbooks_granted("9130", &answer, now());
            assert_eq!(tokens.access_expires_at, now(), "{access}");
            assert_eq!(tokens.refresh_expires_at, None, "{refresh}");
        }
    }

    #[test]
    fn only_another_realms_grant_is_let_go() {
        assert_eq!(superseded(None, "9130"), None);
        assert_eq!(superseded(Some(tokens("9130")), "9130"), None);
        assert_eq!(superseded(Some(tokens("555")), "9130"), Some(tokens("555")));
    }

    #[test]
    fn connecting_points_unlinked_or_confirmed_invoices_at_the_new_realm() {
        let environment = QuickBooksEnvironment::Production;
        let mut profile = CompanyProfile::new(CompanyId(1), now());
        profile.quickbooks = Some(connection(ConnectionState::NeedsReconnect, 7));
        connect_profile(
            &mut profile,
            &grant(false, false, "9130"),
            environment,
            now(),
        );
        let connected = profile.quickbooks.clone().unwrap();
        assert_eq!(connected.state, ConnectionState::Connected);
        assert_eq!(connected.connected_by, UserId(2));
        assert_eq!(connected.connected_at, now());
        assert_eq!(connected.environment, environment);
        assert_eq!(connected.reason, None);
        assert_eq!(profile.linked_realm_id.as_deref(), Some("9130"));

        connect_profile(&mut profile, &grant(true, false, "555"), environment, now());
        assert_eq!(profile.connected_realm(), Some("555"));
        assert_eq!(profile.linked_realm_id.as_deref(), Some("9130"), "kept");
        connect_profile(&mut profile, &grant(false, true, "555"), environment, now());
        assert_eq!(profile.linked_realm_id.as_deref(), Some("555"), "moved");
    }

    #[test]
    fn the_connected_page_names_the_company_when_it_can() {
        let info = |company: Option<&str>, legal: Option<&str>| CompanyInfo {
            company_name: company.map(str::to_string),
            legal_name: legal.map(str::to_string),
            ..CompanyInfo::default()
        };
        let title = |info: Option<&CompanyInfo>| connected_page(info).title;
        assert_eq!(
            title(Some(&info(Some("Acme"), Some("Acme Ltd")))),
            "Connected to Acme"
        );
        assert_eq!(
            title(Some(&info(None, Some("Acme Ltd")))),
            "Connected to Acme Ltd"
        );
        assert_eq!(
            title(Some(&info(Some(" "), Some("Acme Ltd")))),
            "Connected to QuickBooks"
        );
        assert_eq!(title(None), "Connected to QuickBooks");
        assert_eq!(connected_page(None).status, StatusCode::OK);
    }
}
