//! `GET /oauth/pipedrive/callback` (install) and `DELETE /oauth/pipedrive/callback` (uninstall,
//! HTTP Basic with the app's client id and secret).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use shared::app::App;
use shared::app::tokens::{TokenFailure, app_settings_url};
use shared::clients::pipedrive::{ClientCredentials as PipedriveCredentials, PipedriveError};
use shared::domain::{CompanyId, CompanyProfile, SecretString, UserId, UserInstall, UserLocale};
use shared::store::StoreError;
use shared::web::auth::state::{OAuthState, StateError, StatePurpose, StateSigner};
use shared::web::error::ApiError;
use shared::web::http::{QueryParams, parse_json, read_body};
use shared::wire::pipedrive::model::{TokenResponse, UninstallCallback, UserMe};

use crate::company::revoke_quickbooks;
use crate::pages::{Page, found, shown, state_page, upstream_page};
use crate::{pipedrive_redirect_uri, signer};

const INSTALL_AGAIN: &str = "install the app again from the Pipedrive Marketplace";

/// Pipedrive's access-token lifetime (its published example), for an `expires_in` we cannot use.

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PipedriveCallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Why an install stops before Pipedrive is called.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// The user declined on Pipedrive's consent page.
    Cancelled,
    /// Pipedrive redirected with another `error`.
    Failed(String),
    BadState(StateError),
    NoCode,
}

impl Refusal {
    fn log(&self) {
        match self {
            Refusal::Failed(error) => tracing::warn!(
                error = shown(error),
                "Pipedrive install callback with an error"
            ),
            Refusal::BadState(error) => {
                tracing::warn!(%error, "Pipedrive install callback with a bad state")
            }
            Refusal::Cancelled | Refusal::NoCode => {}
        }
    }

    fn page(&self) -> Page {
        match self {
            Refusal::Cancelled => Page::new(
                StatusCode::OK,
                "Installation cancelled",
                "You cancelled the installation, so nothing was installed. You can install the app any time from the Pipedrive Marketplace.",
            ),
            Refusal::Failed(error) => Page::new(
                StatusCode::BAD_REQUEST,
                "Installation failed",
                format!(
                    "Pipedrive reported an error ({}). Please {INSTALL_AGAIN}.",
                    shown(error)
                ),
            ),
            Refusal::BadState(error) => state_page(*error, INSTALL_AGAIN),
            Refusal::NoCode => Page::new(
                StatusCode::BAD_REQUEST,
                "Installation failed",
                format!("Pipedrive did not send an authorization code. Please {INSTALL_AGAIN}."),
            ),
        }
    }
}

/// What an install callback brings, checked: the code and, for an install started from our own
/// pages, the state it was started with (Marketplace installs carry none).
#[derive(Debug)]
struct Callback<'q> {
    code: &'q str,
    bound: Option<OAuthState>,
}

fn read_callback<'q>(
    query: &'q PipedriveCallbackQuery,
    signer: &StateSigner,
    now: DateTime<Utc>,
) -> Result<Callback<'q>, Refusal> {
    if let Some(error) = query.error.as_deref() {
        return Err(match error {
            "access_denied" => Refusal::Cancelled,
            other => Refusal::Failed(other.to_string()),
        });
    }
    let bound = match query.state.as_deref().filter(|s| !s.is_empty()) {
        Some(raw) => Some(
            signer
                .verify(raw, StatePurpose::PipedriveInstall, now)
                .map_err(Refusal::BadState)?,
        ),
        None => None,
    };
    let code = query
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(Refusal::NoCode)?;
    Ok(Callback { code, bound })
}

/// Whether an install started from our pages is finished by the user it was started for.
fn issued_to(bound: Option<&OAuthState>, company: CompanyId, user: UserId) -> bool {
    bound.is_none_or(|state| {
        state.company_id.is_none_or(|c| c == company) && state.user_id.is_none_or(|u| u == user)
    })
}

fn api_domain_of(answer: &TokenResponse) -> String {
    answer.api_domain.trim_end_matches('/').to_string()
}

/// The user's install record; a reinstall keeps the date of the first install.
fn user_install(
    answer: &TokenResponse,
    me: &UserMe,
    existing: Option<&UserInstall>,
    now: DateTime<Utc>,
) -> UserInstall {
    UserInstall {
        company_id: CompanyId(me.company_id),
        user_id: UserId(me.id),
        scopes: answer.scopes().into_iter().map(str::to_string).collect(),
        api_domain: api_domain_of(answer),
        name: me.name.clone(),
        is_admin: me.is_admin(),
        installed_at: existing.map_or(now, |existing| existing.installed_at),
        // The user's Pipedrive locale: it formats the money they read.
        locale: me.locale.clone().map(|locale| UserLocale {
            locale,
            read_at: now,
        }),
        version: 0,
    }
}

pub(crate) async fn pipedrive_callback(
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
    let now = app.clock.now();
    let callback = read_callback(&query, &signer(app), now).map_err(|refusal| {
        refusal.log();
        refusal.page()
    })?;
    let answer = exchange_code(app, base, callback.code).await?;
    let me = users_me(app, &answer).await?;
    let (company, user) = (CompanyId(me.company_id), UserId(me.id));
    if !issued_to(callback.bound.as_ref(), company, user) {
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
    match store_install(app, &answer, &me, now).await {
        Ok(()) => {
            tracing::info!(company_id = company.0, user_id = user.0, "app installed");
            Ok(found(&app_settings_url(
                &api_domain_of(&answer),
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

fn pipedrive_credentials(app: &App) -> PipedriveCredentials {
    PipedriveCredentials {
        client_id: app.credentials.pipedrive_client_id.clone(),
        client_secret: app.credentials.pipedrive_client_secret.clone(),
    }
}

async fn exchange_code(app: &App, base: &str, code: &str) -> Result<TokenResponse, Page> {
    app.pipedrive
        .exchange_code(&pipedrive_credentials(app), code, &pipedrive_redirect_uri(base))
        .await
        .map_err(|error| match error {
            PipedriveError::InvalidGrant(_) => Page::new(
                StatusCode::BAD_REQUEST,
                "This installation link was already used",
                format!(
                    "The authorization code was already used or has expired, so nothing was installed. Please {INSTALL_AGAIN}."
                ),
            ),
            other => {
                tracing::error!(error = %other, "Pipedrive code exchange failed");
                upstream_page("Pipedrive")
            }
        })
}

/// Who installed (and in which company), asked with the new token.
async fn users_me(app: &App, answer: &TokenResponse) -> Result<UserMe, Page> {
    let access = SecretString::new(answer.access_token.clone());
    app.pipedrive
        .users_me(&api_domain_of(answer), &access)
        .await
        .map_err(|error| {
            tracing::error!(%error, "Pipedrive users/me failed during install");
            upstream_page("Pipedrive")
        })
}

/// Under the company's lease: the user's tokens, the company's profile (once), the user's
/// install record.
async fn store_install(
    app: &App,
    answer: &TokenResponse,
    me: &UserMe,
    now: DateTime<Utc>,
) -> Result<(), TokenFailure> {
    let (company, user) = (CompanyId(me.company_id), UserId(me.id));
    let tokens = shared::app::tokens::grants::pipedrive_granted(answer, now);
    let records = app.records.clone();
    app.tokens
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
            let existing = records.get_user_install(company, user).await?;
            records
                .put_user_install(&user_install(answer, me, existing.as_ref(), now))
                .await?;
            Ok(())
        })
        .await
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

/// The company and user an (authenticated) uninstall callback names, if it is for this app.
fn uninstall_target(body: &[u8], client_id: &str) -> Result<(CompanyId, UserId), ApiError> {
    let callback: UninstallCallback = parse_json(body)?;
    if callback.client_id != client_id {
        return Err(ApiError::bad_request(
            "The uninstall callback names another app's client id.",
        ));
    }
    Ok((CompanyId(callback.company_id), UserId(callback.user_id)))
}

pub(crate) async fn pipedrive_uninstall(
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
    let (company, user) = uninstall_target(&bytes, &app.credentials.pipedrive_client_id)?;
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

/// How long an uninstall waits for the company's lease: Pipedrive never retries this callback,
/// so a whole lease (another instance's) and then some.
fn uninstall_wait(lease_ttl: Duration) -> std::time::Duration {
    lease_ttl.to_std().unwrap_or_default() + std::time::Duration::from_secs(2)
}

/// Removes a user's tokens and install; purges the company after its last user. Returns
/// whether the company was purged.
pub async fn uninstall(app: &App, company: CompanyId, user: UserId) -> Result<bool, TokenFailure> {
    let records = app.records.clone();
    let wait = uninstall_wait(app.tokens.options().lease_ttl);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{now, signer};

    fn query(
        code: Option<&str>,
        state: Option<&str>,
        error: Option<&str>,
    ) -> PipedriveCallbackQuery {
        PipedriveCallbackQuery {
            code: code.map(str::to_string),
            state: state.map(str::to_string),
            error: error.map(str::to_string),
        }
    }

    fn answer(expires_in: u64) -> TokenResponse {
        TokenResponse {
            access_token: "access".into(),
            token_type: "Bearer".into(),
            expires_in,
            refresh_token: "refresh".into(),
            scope: "base,deals:full".into(),
            api_domain: "https://acme.pipedrive.com/".into(),
        }
    }

    fn me(company: u64, user: u64) -> UserMe {
        serde_json::from_value(json!({
            "id": user, "company_id": company, "name": "Ada", "is_admin": true,
        }))
        .unwrap()
    }

    fn install_state(company: Option<u64>, user: Option<u64>) -> OAuthState {
        OAuthState::new(
            StatePurpose::PipedriveInstall,
            company.map(CompanyId),
            user.map(UserId),
            now(),
        )
    }

    /// `read_callback` on a query of these parts: the code and the bound state.
    fn read(
        code: Option<&str>,
        state: Option<&str>,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(String, Option<OAuthState>), Refusal> {
        let query = query(code, state, error);
        read_callback(&query, &signer(), at).map(|c| (c.code.to_string(), c.bound))
    }

    #[test]
    fn a_declined_consent_is_cancelled_and_any_other_error_failed() {
        let refused = |error| read(Some("c"), None, Some(error), now()).unwrap_err();
        assert_eq!(refused("access_denied"), Refusal::Cancelled);
        let failed = refused("server_error");
        assert_eq!(failed, Refusal::Failed("server_error".into()));
        assert_eq!(Refusal::Cancelled.page().status, StatusCode::OK);
        let page = failed.page();
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
        assert!(page.message.contains("(server_error)"), "{}", page.message);
    }

    #[test]
    fn a_marketplace_install_has_no_state_and_needs_a_code() {
        for state in [None, Some("")] {
            let (code, bound) = read(Some("code-1"), state, None, now()).unwrap();
            assert_eq!(code, "code-1");
            assert!(bound.is_none());
        }
        for code in [None, Some("")] {
            let refused = read(code, None, None, now()).unwrap_err();
            assert_eq!(refused, Refusal::NoCode);
            assert_eq!(refused.page().status, StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn a_state_must_be_ours_fresh_and_for_an_install() {
        let signed = signer().sign(&install_state(Some(1), Some(2)));
        let (_, bound) = read(Some("c"), Some(&signed), None, now()).unwrap();
        assert_eq!(bound.unwrap().user_id, Some(UserId(2)));

        let later = now() + Duration::minutes(11);
        let expired = read(Some("c"), Some(&signed), None, later).unwrap_err();
        assert_eq!(expired, Refusal::BadState(StateError::Expired));

        let tampered = format!("{signed}x");
        let refused = read(Some("c"), Some(&tampered), None, now()).unwrap_err();
        assert!(matches!(refused, Refusal::BadState(_)), "{refused:?}");

        let connect = signer().sign(&OAuthState::quickbooks_connect(
            CompanyId(1),
            UserId(2),
            now(),
        ));
        let refused = read(Some("c"), Some(&connect), None, now()).unwrap_err();
        assert_eq!(refused, Refusal::BadState(StateError::WrongPurpose));
    }

    #[test]
    fn a_state_binds_the_install_to_its_company_and_user() {
        let (company, user) = (CompanyId(1), UserId(2));
        assert!(issued_to(None, company, user));
        assert!(issued_to(Some(&install_state(None, None)), company, user));
        assert!(issued_to(
            Some(&install_state(Some(1), Some(2))),
            company,
            user
        ));
        assert!(issued_to(
            Some(&install_state(Some(1), None)),
            company,
            user
        ));
        assert!(!issued_to(
            Some(&install_state(Some(9), Some(2))),
            company,
            user
        ));
        assert!(!issued_to(
            Some(&install_state(Some(1), Some(9))),
            company,
            user
        ));
        assert!(!issued_to(
            Some(&install_state(None, Some(9))),
            company,
            user
        ));
    }

    #[test]
    fn granted_tokens_expire_as_pipedrive_says() {
        let tokens = shared::app::tokens::grants::pipedrive_granted(&answer(3599), now());
        assert_eq!(tokens.access_expires_at, now() + Duration::seconds(3599));
        assert_eq!(tokens.api_domain, "https://acme.pipedrive.com");
        assert_eq!(tokens.scope.as_deref(), Some("base,deals:full"));
        assert_eq!(tokens.access_token.expose(), "access");
        assert_eq!(tokens.refresh_token.expose(), "refresh");
        assert_eq!(tokens.updated_at, now());
        let mut unscoped = answer(60);
        unscoped.scope = String::new();
        assert_eq!(
            shared::app::tokens::grants::pipedrive_granted(&unscoped, now()).scope,
            None
        );
    }

    #[test]
    fn an_unusable_lifetime_is_taken_as_pipedrives_usual_one() {
        for absurd in [u64::MAX, i64::MAX as u64, 1 << 60] {
            let tokens = shared::app::tokens::grants::pipedrive_granted(&answer(absurd), now());
            assert_eq!(tokens.access_expires_at, now() + Duration::seconds(3599));
        }
    }

    #[test]
    fn a_reinstall_keeps_the_first_install_date() {
        let first = user_install(&answer(3599), &me(1, 2), None, now());
        assert_eq!(first.installed_at, now());
        assert_eq!((first.company_id, first.user_id), (CompanyId(1), UserId(2)));
        assert_eq!(first.scopes, ["base", "deals:full"]);
        assert_eq!(first.api_domain, "https://acme.pipedrive.com");
        assert_eq!(first.name.as_deref(), Some("Ada"));
        assert!(first.is_admin);
        let later = now() + Duration::days(30);
        let again = user_install(&answer(3599), &me(1, 2), Some(&first), later);
        assert_eq!(again.installed_at, now());
    }

    fn basic(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn the_uninstall_callback_must_carry_exactly_our_client_credentials() {
        let secret = SecretString::new("s3cret".to_string());
        let matches = |headers: &HeaderMap| basic_auth_matches(headers, "client", &secret);
        let encoded = STANDARD.encode("client:s3cret");
        assert!(matches(&basic(&format!("Basic {encoded}"))));
        assert!(matches(&basic(&format!("  basic   {encoded} "))));
        assert!(!matches(&HeaderMap::new()));
        assert!(!matches(&basic(&format!("Bearer {encoded}"))));
        assert!(!matches(&basic(&format!("Basic{encoded}"))));
        assert!(!matches(&basic("Basic not-base64!")));
        for wrong in ["client:s3cre", "client:s3cret ", "other:s3cret", "client"] {
            let value = format!("Basic {}", STANDARD.encode(wrong));
            assert!(!matches(&basic(&value)), "{wrong}");
        }
    }

    #[test]
    fn the_uninstall_body_must_name_this_app() {
        let body =
            json!({"client_id": "client", "company_id": 1, "user_id": "2", "timestamp": "t"});
        let bytes = serde_json::to_vec(&body).unwrap();
        assert_eq!(
            uninstall_target(&bytes, "client").unwrap(),
            (CompanyId(1), UserId(2))
        );
        let other = uninstall_target(&bytes, "another").unwrap_err();
        assert_eq!(other.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            uninstall_target(b"{", "client").unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            uninstall_target(br#"{"client_id":"client"}"#, "client")
                .unwrap_err()
                .status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[test]
    fn an_uninstall_waits_out_a_whole_lease() {
        assert_eq!(
            uninstall_wait(Duration::seconds(30)),
            std::time::Duration::from_secs(32)
        );
        assert_eq!(
            uninstall_wait(Duration::seconds(-1)),
            std::time::Duration::from_secs(2)
        );
    }
}
