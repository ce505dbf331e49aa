//! No token, authorization code or secret ever reaches the logs: a JSON subscriber captures
//! every event (TRACE and up) of a whole install → connect → refresh → disconnect → uninstall
//! flow, then every token value seen in the secrets, every code and the app's secrets are looked
//! for in the text. Alone in its test binary: `tracing` caches per-callsite interest
//! process-wide, so tests running beside it on other threads could hide events from the capture.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use shared::store::embedded::EmbeddedStore;
use shared::store::secrets::SecretStore;
use shared::store::secrets::embedded::EmbeddedSecrets;
use support::*;

/// Collects everything a `tracing` subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_token_code_or_secret_ever_reaches_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_current_span(true)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = Arc::new(EmbeddedStore::in_memory());
    let backend: Arc<dyn SecretStore> = Arc::new(EmbeddedSecrets::in_memory());
    let world = world_on(store.clone(), backend).await;
    let w = &world;
    let mut secrets: Vec<String> = vec![
        "pd-client-secret".into(),
        "qb-client-secret".into(),
        "state-signing-key-for-tests".into(),
        TEST_JWT_SECRET.into(),
    ];
    let mut remember = |s: &shared::store::secrets::CompanySecrets| {
        for t in s.pipedrive.values() {
            secrets.push(t.access_token.expose().to_string());
            secrets.push(t.refresh_token.expose().to_string());
        }
        if let Some(q) = &s.quickbooks {
            secrets.push(q.access_token.expose().to_string());
            secrets.push(q.refresh_token.expose().to_string());
        }
    };
    let mut codes = Vec::new();

    let (callback, response) = w.pipedrive_install_flow(COMPANY_A, USER_A_ADMIN).await;
    assert_eq!(response.status(), 302);
    codes.push(param(&callback, "code").unwrap());
    let (callback, _) = w.pipedrive_install_flow(COMPANY_A, USER_A_MEMBER).await;
    codes.push(param(&callback, "code").unwrap());
    let callback = w
        .quickbooks_callback_url(COMPANY_A, USER_A_ADMIN, US_REALM, None)
        .await;
    codes.push(param(&callback, "code").unwrap());
    codes.push(param(&callback, "state").unwrap());
    assert_eq!(w.http.get(&callback).send().await.unwrap().status(), 200);
    remember(&w.secrets_of(COMPANY_A).await);

    // Refresh both kinds of tokens (expired by the clock, then refused with 401).
    w.advance(3700);
    let (status, _) = w
        .api("GET", "/api/connection", COMPANY_A, USER_A_MEMBER)
        .await;
    assert_eq!(status, 200);
    w.app
        .tokens
        .pipedrive(tenant(COMPANY_A, USER_A_ADMIN))
        .await
        .unwrap();
    remember(&w.secrets_of(COMPANY_A).await);
    w.pipedrive.expire_access_tokens(COMPANY_A, USER_A_MEMBER);
    let pd = w.app.pipedrive.clone();
    w.app
        .tokens
        .with_pipedrive(tenant(COMPANY_A, USER_A_MEMBER), |a| {
            let pd = pd.clone();
            async move { pd.users_me(&a.api_domain, &a.token).await }
        })
        .await
        .unwrap();
    remember(&w.secrets_of(COMPANY_A).await);

    // A revoked connection, a disconnect, uninstalls and a refused uninstall.
    let (status, _) = w
        .api(
            "POST",
            "/api/quickbooks/disconnect",
            COMPANY_A,
            USER_A_ADMIN,
        )
        .await;
    assert_eq!(status, 200);
    w.pipedrive
        .fire_uninstall(COMPANY_A, USER_A_MEMBER)
        .await
        .unwrap();
    w.http
        .delete(format!("{}/oauth/pipedrive/callback", w.base))
        .basic_auth("pd-client", Some("not-the-secret"))
        .json(&json!({"client_id": "pd-client", "company_id": COMPANY_A, "user_id": USER_A_ADMIN, "timestamp": "x"}))
        .send()
        .await
        .unwrap();
    w.pipedrive
        .fire_uninstall(COMPANY_A, USER_A_ADMIN)
        .await
        .unwrap();
    assert!(store.dump().is_empty(), "the company was purged");

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("app installed"), "the capture works: {logs}");
    assert!(logs.contains("QuickBooks tokens refreshed"));
    assert!(logs.contains("Pipedrive tokens refreshed"));
    assert!(secrets.len() >= 14, "{}", secrets.len());
    for secret in secrets.iter().chain(codes.iter()) {
        assert!(!secret.is_empty());
        assert!(
            !logs.contains(secret.as_str()),
            "a token, code or secret was logged: …{}",
            &secret[secret.len().saturating_sub(4)..]
        );
    }
}
