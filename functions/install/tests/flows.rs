//! The install function over HTTP against both simulators, on the embedded store and secrets
//! (so that a whole dump of both can be compared): refused requests change nothing, cancelled
//! flows get a friendly page, no token or secret is ever logged.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};
use shared::app::tokens::TokenFailure;
use shared::domain::{CompanyId, ConnectionState, UserId};
use shared::store::Item;
use shared::store::embedded::EmbeddedStore;
use shared::store::secrets::SecretStore;
use shared::store::secrets::embedded::EmbeddedSecrets;
use shared::web::auth::state::{OAuthState, StatePurpose, StateSigner};
use shared::web::error::ApiError;
use shared::wire::pipedrive::model::TokenTypeHint;
use support::*;

struct Embedded {
    world: World,
    store: Arc<EmbeddedStore>,
}

async fn embedded() -> Embedded {
    let store = Arc::new(EmbeddedStore::in_memory());
    let secrets: Arc<dyn SecretStore> = Arc::new(EmbeddedSecrets::in_memory());
    let world = world_on(store.clone(), secrets).await;
    Embedded { world, store }
}

type Snapshot = (Vec<Item>, BTreeMap<String, String>);

impl Embedded {
    /// Every record and every secret, in a comparable form.
    async fn snapshot(&self) -> Snapshot {
        let mut items = self.store.dump();
        items.sort_by(|a, b| (&a.pk, &a.sk).cmp(&(&b.pk, &b.sk)));
        let mut secrets = BTreeMap::new();
        for name in self.world.secrets.list(&self.world.prefix).await.unwrap() {
            if let Some(value) = self.world.secrets.get(&name).await.unwrap() {
                secrets.insert(name, value);
            }
        }
        (items, secrets)
    }
}

/// GETs a page (`url` as a browser follows it) and reads it.
async fn page(w: &World, url: impl reqwest::IntoUrl) -> (u16, String) {
    let response = w.http.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn signer() -> StateSigner {
    StateSigner::new(&test_credentials().state_signing_key)
}

#[tokio::test]
async fn a_tampered_expired_or_foreign_state_is_refused_and_changes_nothing() {
    let env = embedded().await;
    let w = &env.world;
    assert_eq!(
        w.pipedrive_install(COMPANY_A, USER_A_ADMIN).await.status(),
        302
    );
    let callback = w
        .quickbooks_callback_url(COMPANY_A, USER_A_ADMIN, US_REALM, None)
        .await;
    let before = env.snapshot().await;

    let state = param(&callback, "state").unwrap();
    let (payload, signature) = state.split_once('.').unwrap();
    let mut forged_payload = payload.to_string();
    let first = if forged_payload.starts_with('A') {
        "B"
    } else {
        "A"
    };
    forged_payload.replace_range(0..1, first);
    let tampered = format!("{forged_payload}.{signature}");
    let (status, html) = page(w, with_param(&callback, "state", Some(&tampered))).await;
    assert_eq!(status, 400);
    assert!(html.contains("not valid"), "{html}");

    let mut expired =
        OAuthState::quickbooks_connect(CompanyId(COMPANY_A), UserId(USER_A_ADMIN), Utc::now());
    expired.expires_at = Utc::now().timestamp() - 1;
    let (status, html) = page(
        w,
        with_param(&callback, "state", Some(&signer().sign(&expired))),
    )
    .await;
    assert_eq!(status, 400);
    assert!(html.contains("expired"), "{html}");

    let install_state = OAuthState::new(
        StatePurpose::PipedriveInstall,
        Some(CompanyId(COMPANY_A)),
        Some(UserId(USER_A_ADMIN)),
        Utc::now(),
    );
    let (status, _) = page(
        w,
        with_param(&callback, "state", Some(&signer().sign(&install_state))),
    )
    .await;
    assert_eq!(status, 400, "a state of another flow is refused");

    let (status, _) = page(w, with_param(&callback, "state", None)).await;
    assert_eq!(status, 400, "no state at all is refused");
    assert_eq!(
        env.snapshot().await,
        before,
        "refused callbacks change nothing"
    );

    // The code was never spent: the genuine callback still connects.
    let (status, html) = page(w, &callback).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Connected to Sandbox Landscaping Inc."),
        "{html}"
    );
}

#[tokio::test]
async fn a_missing_realm_id_is_refused_and_changes_nothing() {
    let env = embedded().await;
    let w = &env.world;
    w.pipedrive_install(COMPANY_A, USER_A_ADMIN).await;
    let callback = w
        .quickbooks_callback_url(COMPANY_A, USER_A_ADMIN, US_REALM, None)
        .await;
    let before = env.snapshot().await;
    let (status, html) = page(w, with_param(&callback, "realmId", None)).await;
    assert_eq!(status, 400);
    assert!(html.contains("realmId is missing"), "{html}");
    let (status, _) = page(w, with_param(&callback, "realmId", Some("../../x"))).await;
    assert_eq!(status, 400);
    assert_eq!(env.snapshot().await, before);
    assert_eq!(w.quickbooks_token_calls(), 0, "the code was not exchanged");
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_changes_nothing() {
    let env = embedded().await;
    let w = &env.world;
    w.pipedrive_install(COMPANY_A, USER_A_ADMIN).await;
    let callback = w
        .quickbooks_callback_url(COMPANY_A, USER_A_ADMIN, US_REALM, None)
        .await;
    let (status, _) = page(w, &callback).await;
    assert_eq!(status, 200);

    // Replayed while connected by the same user (who may reconnect directly, issue 20):
    // QuickBooks refuses the spent code, and nothing changes.
    let before = env.snapshot().await;
    let (status, html) = page(w, &callback).await;
    assert_eq!(status, 400);
    assert!(html.contains("already used"), "{html}");
    assert_eq!(env.snapshot().await, before);

    // Replayed after a disconnect: QuickBooks refuses the spent code.
    let (status, _) = w
        .api(
            "POST",
            "/api/quickbooks/disconnect",
            COMPANY_A,
            USER_A_ADMIN,
        )
        .await;
    assert_eq!(status, 200);
    let before = env.snapshot().await;
    let (status, html) = page(w, &callback).await;
    assert_eq!(status, 400);
    assert!(html.contains("already used"), "{html}");
    assert_eq!(env.snapshot().await, before);
}

#[tokio::test]
async fn a_second_user_cannot_take_over_an_active_connection() {
    let env = embedded().await;
    let w = &env.world;
    w.pipedrive_install(COMPANY_A, USER_A_ADMIN).await;
    w.pipedrive_install(COMPANY_A, USER_A_MEMBER).await;
    let (status, _) = w
        .quickbooks_connect(COMPANY_A, USER_A_ADMIN, US_REALM)
        .await;
    assert_eq!(status, 200);
    let before = env.snapshot().await;

    let response = w
        .quickbooks_connect_request(COMPANY_A, USER_A_MEMBER, None)
        .await;
    assert_eq!(response.status(), 409);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("already connected by Anna Admin"),
        "{detail}"
    );
    assert_eq!(problem["current"]["connected_by"]["id"], USER_A_ADMIN);

    let response = w
        .quickbooks_connect_request(COMPANY_A, USER_A_MEMBER, Some(json!({"replace": true})))
        .await;
    assert_eq!(response.status(), 403, "only admins may replace");
    let (status, _) = w
        .api(
            "POST",
            "/api/quickbooks/disconnect",
            COMPANY_A,
            USER_A_MEMBER,
        )
        .await;
    assert_eq!(
        status, 403,
        "a member who did not connect may not disconnect"
    );
    assert_eq!(env.snapshot().await, before, "nothing changed");

    // The admin may replace it (the choice travels in the signed state).
    let response = w
        .quickbooks_connect_request(COMPANY_A, USER_A_ADMIN, Some(json!({"replace": true})))
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn uninstall_with_wrong_credentials_is_refused_and_changes_nothing() {
    let env = embedded().await;
    let w = &env.world;
    w.pipedrive_install(COMPANY_A, USER_A_ADMIN).await;
    let before = env.snapshot().await;
    let url = format!("{}/oauth/pipedrive/callback", w.base);
    let body = json!({"client_id": "pd-client", "company_id": COMPANY_A, "user_id": USER_A_ADMIN,
                      "timestamp": "2026-11-27T04:00:00.000Z"});
    for auth in [
        Some(("pd-client", "wrong-secret")),
        Some(("another-client", "pd-client-secret")),
        Some(("pd-client", "pd-client-secret-and-more")),
        None,
    ] {
        let mut request = w.http.delete(&url).json(&body);
        if let Some((id, secret)) = auth {
            request = request.basic_auth(id, Some(secret));
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    let response = w
        .http
        .delete(&url)
        .header("authorization", "Bearer pd-client-secret")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(env.snapshot().await, before, "nothing changed");

    let response = w
        .http
        .delete(&url)
        .basic_auth("pd-client", Some("pd-client-secret"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (items, secrets) = env.snapshot().await;
    assert!(items.is_empty(), "the only user left: {items:?}");
    assert!(secrets.is_empty());
}

#[tokio::test]
async fn cancelled_flows_get_a_friendly_page() {
    let env = embedded().await;
    let w = &env.world;
    let (status, html) = page(
        w,
        format!("{}/oauth/pipedrive/callback?error=access_denied", w.base),
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("Installation cancelled"), "{html}");
    let (status, html) = page(
        w,
        format!(
            "{}/oauth/quickbooks/callback?error=access_denied&state=x",
            w.base
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("cancelled"), "{html}");
    let (status, html) = page(
        w,
        format!("{}/oauth/pipedrive/callback?error=%3Cscript%3E", w.base),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        !html.contains("<script>"),
        "upstream text is never echoed raw"
    );
    assert!(env.snapshot().await.0.is_empty());
}

#[tokio::test]
async fn a_replayed_install_code_and_a_foreign_install_state_are_refused() {
    let env = embedded().await;
    let w = &env.world;
    let (callback, response) = w.pipedrive_install_flow(COMPANY_A, USER_A_ADMIN).await;
    assert_eq!(response.status(), 302);
    let before = env.snapshot().await;
    let (status, html) = page(w, &callback).await;
    assert_eq!(status, 400);
    assert!(html.contains("already used"), "{html}");
    let forged = format!(
        "{}/oauth/pipedrive/callback?code=abc&state=forged.state",
        w.base
    );
    let (status, _) = page(w, forged).await;
    assert_eq!(status, 400);
    assert_eq!(env.snapshot().await, before);
}

#[tokio::test]
async fn invoices_never_mix_two_quickbooks_companies() {
    let env = embedded().await;
    let w = &env.world;
    w.install_and_connect(COMPANY_A, USER_A_ADMIN, US_REALM)
        .await;
    let (status, _) = w
        .api(
            "POST",
            "/api/quickbooks/disconnect",
            COMPANY_A,
            USER_A_ADMIN,
        )
        .await;
    assert_eq!(status, 200);
    let before = env.snapshot().await;
    let (status, html) = w
        .quickbooks_connect(COMPANY_A, USER_A_ADMIN, GB_REALM)
        .await;
    assert_eq!(status, 409);
    assert!(html.contains("another QuickBooks company"), "{html}");
    assert_eq!(env.snapshot().await, before);

    let callback = w
        .quickbooks_callback_url(
            COMPANY_A,
            USER_A_ADMIN,
            GB_REALM,
            Some(json!({"confirm_new_realm": true})),
        )
        .await;
    let (status, html) = page(w, callback).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Connected to Sandbox Trading Ltd"), "{html}");
    let profile = w.profile(COMPANY_A).await;
    assert_eq!(profile.linked_realm_id.as_deref(), Some(GB_REALM));
    assert_eq!(profile.connected_realm(), Some(GB_REALM));
}

#[tokio::test]
async fn a_dead_pipedrive_refresh_token_asks_the_user_to_reinstall() {
    let env = embedded().await;
    let w = &env.world;
    w.pipedrive_install(COMPANY_A, USER_A_ADMIN).await;
    let t = tenant(COMPANY_A, USER_A_ADMIN);
    let tokens = w.secrets_of(COMPANY_A).await.pipedrive[&USER_A_ADMIN].clone();
    let credentials = shared::clients::pipedrive::ClientCredentials {
        client_id: "pd-client".into(),
        client_secret: "pd-client-secret".into(),
    };
    w.app
        .pipedrive
        .revoke(
            &credentials,
            &tokens.refresh_token,
            TokenTypeHint::RefreshToken,
        )
        .await
        .unwrap();
    w.advance(3600);
    let failure = w.app.tokens.pipedrive(t).await.unwrap_err();
    assert!(
        matches!(failure, TokenFailure::PipedriveReinstallRequired),
        "{failure:?}"
    );
    let problem = ApiError::from(failure);
    assert_eq!(problem.status(), 403);
    assert!(
        problem.to_string().contains("Reinstall the app"),
        "{problem}"
    );
    assert!(
        !w.secrets_of(COMPANY_A)
            .await
            .pipedrive
            .contains_key(&USER_A_ADMIN),
        "the dead tokens are gone"
    );
    // Reinstalling brings the user back.
    assert_eq!(
        w.pipedrive_install(COMPANY_A, USER_A_ADMIN).await.status(),
        302
    );
    assert!(w.app.tokens.pipedrive(t).await.is_ok());
}

#[tokio::test]
async fn api_routes_need_a_pipedrive_token_and_an_install() {
    let env = embedded().await;
    let w = &env.world;
    let response = w
        .http
        .get(format!("{}/api/connection", w.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (status, _) = w
        .api("GET", "/api/connection", COMPANY_A, USER_A_ADMIN)
        .await;
    assert_eq!(status, 403, "not installed");
    w.pipedrive_install(COMPANY_A, USER_A_ADMIN).await;
    let (status, body) = w
        .api("GET", "/api/connection", COMPANY_A, USER_A_ADMIN)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["state"], "not_connected");
    let response = w
        .request_as("POST", "/api/quickbooks/connect", (COMPANY_A, USER_A_ADMIN))
        .header("content-type", "text/plain")
        .body("replace")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let profile = w.profile(COMPANY_A).await;
    assert!(profile.quickbooks.is_none());
    assert!(!matches!(
        profile.quickbooks.map(|q| q.state),
        Some(ConnectionState::Connected)
    ));
}

#[tokio::test]
async fn the_user_who_holds_a_revoked_connection_reconnects_directly() {
    let env = embedded().await;
    let w = &env.world;
    w.pipedrive_install(COMPANY_A, USER_A_ADMIN).await;
    let (status, _) = w
        .quickbooks_connect(COMPANY_A, USER_A_ADMIN, US_REALM)
        .await;
    assert_eq!(status, 200);
    // Revoked inside QuickBooks; nothing of ours has noticed yet.
    w.quickbooks.disconnect(US_REALM);
    let response = w
        .quickbooks_connect_request(COMPANY_A, USER_A_ADMIN, None)
        .await;
    assert_eq!(
        response.status(),
        200,
        "the holder is not told to disconnect first"
    );
    let (status, html) = w
        .quickbooks_connect(COMPANY_A, USER_A_ADMIN, US_REALM)
        .await;
    assert_eq!(status, 200, "{html}");
    let (status, body) = w
        .api("GET", "/api/connection", COMPANY_A, USER_A_ADMIN)
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("connected")),
        "{body}"
    );
}
