//! Install → connect → disconnect → uninstall over HTTP, with both simulators in-process and the
//! store and secrets on moto's DynamoDB and Secrets Manager; tokens refreshed exactly once under
//! concurrency (in one instance and across two), a refresh race that meets `invalid_grant`, and a
//! truly revoked connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::future::join_all;
use serde_json::Value;
use shared::app::App;
use shared::app::tokens::TokenFailure;
use shared::domain::{CompanyId, ConnectionState, QuickBooksEnvironment, UserId};
use shared::store::secrets::{SecretStore, TokenError};
use test_world::moto::{dynamo_store, secrets_store};
use test_world::*;

/// A world serving the install router on `secrets` and a DynamoDB table in moto.
async fn world_on(secrets: Arc<dyn SecretStore>) -> World {
    World::builder()
        .store(dynamo_store().await)
        .secrets(secrets)
        .serving(|app| shared::web::http::finish(install::router(app.clone())))
        .start()
        .await
}

async fn moto_world() -> World {
    world_on(secrets_store().await).await
}

async fn company_info_via(app: &App, company: u64) -> Result<String, String> {
    let client = app.quickbooks.clone();
    app.tokens
        .with_quickbooks(CompanyId(company), |access| {
            let client = client.clone();
            async move { client.company_info(&access.realm_id, &access.token).await }
        })
        .await
        .map(|info| info.company_name.unwrap_or_default())
        .map_err(|e| e.to_string())
}

async fn users_me_via(app: &App, company: u64, user: u64) -> Result<u64, String> {
    let client = app.pipedrive.clone();
    app.tokens
        .with_pipedrive(tenant(company, user), |access| {
            let client = client.clone();
            async move { client.users_me(&access.api_domain, &access.token).await }
        })
        .await
        .map(|me| me.id)
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_connect_disconnect_uninstall_over_http() {
    let w = moto_world().await;
    let a = CompanyId(COMPANY_A);

    // --- install: two users of company A, one of company B ---
    let response = w.pipedrive_install(COMPANY_A, USER_A_ADMIN).await;
    assert_eq!(response.status(), 302);
    assert_eq!(
        location(&response),
        format!(
            "{}/settings/marketplace/app/pd-client/app-settings",
            w.pipedrive.base_url()
        )
    );
    let install = w
        .app
        .records
        .get_user_install(a, UserId(USER_A_ADMIN))
        .await
        .unwrap()
        .expect("install stored");
    assert_eq!(install.name.as_deref(), Some("Anna Admin"));
    assert!(install.is_admin);
    assert_eq!(install.api_domain, w.pipedrive.base_url());
    assert!(install.scopes.contains(&"deals:full".to_string()));
    assert!(w.app.records.get_company(a).await.unwrap().is_some());
    let first = w.secrets_of(COMPANY_A).await.pipedrive[&USER_A_ADMIN].clone();
    assert_eq!(first.api_domain, w.pipedrive.base_url());

    assert_eq!(
        w.pipedrive_install(COMPANY_A, USER_A_MEMBER).await.status(),
        302
    );
    assert_eq!(
        w.pipedrive_install(COMPANY_B, USER_B_ADMIN).await.status(),
        302
    );
    let member = w
        .app
        .records
        .get_user_install(a, UserId(USER_A_MEMBER))
        .await
        .unwrap()
        .unwrap();
    assert!(!member.is_admin);

    // Re-installing replaces the tokens and never duplicates the install.
    assert_eq!(
        w.pipedrive_install(COMPANY_A, USER_A_ADMIN).await.status(),
        302
    );
    let again = w.secrets_of(COMPANY_A).await.pipedrive[&USER_A_ADMIN].clone();
    assert_ne!(again.access_token, first.access_token);
    assert_ne!(again.refresh_token, first.refresh_token);
    assert_eq!(w.app.records.list_user_installs(a).await.unwrap().len(), 2);

    // --- connect (A → US realm, B → GB realm) ---
    let (status, html) = w
        .quickbooks_connect(COMPANY_A, USER_A_ADMIN, US_REALM)
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Connected to Sandbox Landscaping Inc."),
        "{html}"
    );
    assert!(html.contains("return to Pipedrive"), "{html}");
    let (status, _) = w
        .quickbooks_connect(COMPANY_B, USER_B_ADMIN, GB_REALM)
        .await;
    assert_eq!(status, 200);
    let profile = w.app.records.get_company(a).await.unwrap().unwrap();
    let connection = profile.quickbooks.clone().unwrap();
    assert_eq!(connection.realm_id, US_REALM);
    assert_eq!(connection.state, ConnectionState::Connected);
    assert_eq!(connection.connected_by, UserId(USER_A_ADMIN));
    assert_eq!(connection.environment, QuickBooksEnvironment::Sandbox);
    assert_eq!(profile.linked_realm_id.as_deref(), Some(US_REALM));
    let qb = w
        .secrets_of(COMPANY_A)
        .await
        .quickbooks
        .expect("tokens stored");
    assert_eq!(qb.realm_id, US_REALM);
    assert_eq!(
        w.secrets_of(COMPANY_A).await.pipedrive.len(),
        2,
        "the Pipedrive tokens stay beside the QuickBooks ones"
    );

    // --- the connection as the settings page sees it ---
    let (status, body) = w
        .api("GET", "/api/connection", COMPANY_A, USER_A_MEMBER)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "connected");
    assert_eq!(body["realm_id"], US_REALM);
    assert_eq!(body["company_name"], "Sandbox Landscaping Inc.");
    assert_eq!(body["country"], "US");
    assert_eq!(body["connected_by"]["id"], USER_A_ADMIN);
    assert_eq!(body["connected_by"]["name"], "Anna Admin");
    assert_eq!(body["environment"], "sandbox");

    // --- disconnect ---
    w.quickbooks.harness().clear_log();
    let (status, body) = w
        .api(
            "POST",
            "/api/quickbooks/disconnect",
            COMPANY_A,
            USER_A_ADMIN,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "disconnected");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("Disconnected by Anna Admin")
    );
    assert_eq!(
        w.quickbooks
            .harness()
            .requests_matching(Some("POST"), "/oauth2/v1/tokens/revoke")
            .len(),
        1,
        "revoked at Intuit"
    );
    assert!(w.secrets_of(COMPANY_A).await.quickbooks.is_none());
    let profile = w.app.records.get_company(a).await.unwrap().unwrap();
    assert_eq!(
        profile.quickbooks.as_ref().map(|c| c.state),
        Some(ConnectionState::Disconnected)
    );
    assert_eq!(
        profile.linked_realm_id.as_deref(),
        Some(US_REALM),
        "history stays"
    );
    let (status, body) = w
        .api("GET", "/api/connection", COMPANY_A, USER_A_MEMBER)
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("disconnected"))
    );
    let failure = w.app.tokens.quickbooks(a).await.unwrap_err();
    assert!(
        matches!(failure, TokenFailure::QuickBooksNotConnected),
        "{failure:?}"
    );

    // --- uninstall: the member first (the company stays), then the last user ---
    assert_eq!(
        w.pipedrive
            .fire_uninstall(COMPANY_A, USER_A_MEMBER)
            .await
            .unwrap(),
        200
    );
    assert!(
        w.app
            .records
            .get_user_install(a, UserId(USER_A_MEMBER))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !w.secrets_of(COMPANY_A)
            .await
            .pipedrive
            .contains_key(&USER_A_MEMBER)
    );
    assert!(w.app.records.get_company(a).await.unwrap().is_some());

    let (status, _) = w
        .quickbooks_connect(COMPANY_A, USER_A_ADMIN, US_REALM)
        .await;
    assert_eq!(status, 200, "reconnecting works");
    w.quickbooks.harness().clear_log();
    let b_before = (w.dump(COMPANY_B).await, w.raw_secret(COMPANY_B).await);
    assert!(!b_before.0.is_empty() && b_before.1.is_some());

    assert_eq!(
        w.pipedrive
            .fire_uninstall(COMPANY_A, USER_A_ADMIN)
            .await
            .unwrap(),
        200
    );
    assert!(
        w.dump(COMPANY_A).await.is_empty(),
        "every record of A is gone"
    );
    assert!(
        w.raw_secret(COMPANY_A).await.is_none(),
        "A's secret is gone"
    );
    assert_eq!(
        w.quickbooks
            .harness()
            .requests_matching(Some("POST"), "/oauth2/v1/tokens/revoke")
            .len(),
        1,
        "A's QuickBooks connection was revoked"
    );
    let b_after = (w.dump(COMPANY_B).await, w.raw_secret(COMPANY_B).await);
    assert_eq!(b_after, b_before, "nothing of company B changed");
    let (status, body) = w
        .api("GET", "/api/connection", COMPANY_B, USER_B_ADMIN)
        .await;
    assert_eq!((status, body["state"].as_str()), (200, Some("connected")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_calls_refresh_an_expired_quickbooks_token_once() {
    let w = moto_world().await;
    w.install_and_connect(COMPANY_A, USER_A_ADMIN, US_REALM)
        .await;
    let before = w.secrets_of(COMPANY_A).await.quickbooks.unwrap();

    // 1. QuickBooks expired the token, our instance still believes in it: 50 calls get 401,
    //    one refresh serves them all.
    w.quickbooks.advance_clock(3700);
    w.quickbooks.harness().clear_log();
    let calls = (0..50).map(|_| w.api("GET", "/api/connection", COMPANY_A, USER_A_ADMIN));
    let answers = join_all(calls).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["company_name"], "Sandbox Landscaping Inc.");
    }
    assert_eq!(w.quickbooks_token_calls(), 1, "exactly one refresh");
    let after = w.secrets_of(COMPANY_A).await.quickbooks.unwrap();
    assert_ne!(after.access_token, before.access_token);
    assert_ne!(
        after.refresh_token, before.refresh_token,
        "the rotated one is kept"
    );

    // 2. Expired by the clock, on two instances at once: one refresh across both.
    let other = w.instance(w.secrets.clone());
    w.advance(3700);
    w.quickbooks.harness().clear_log();
    let over_http = (0..25).map(|_| async {
        let (status, body) = w
            .api("GET", "/api/connection", COMPANY_A, USER_A_ADMIN)
            .await;
        if status == 200 {
            Ok(())
        } else {
            Err(body.to_string())
        }
    });
    let direct = (0..25).map(|_| async { company_info_via(&other, COMPANY_A).await.map(|_| ()) });
    let (a, b) = tokio::join!(join_all(over_http), join_all(direct));
    for result in a.into_iter().chain(b) {
        result.unwrap();
    }
    assert_eq!(
        w.quickbooks_token_calls(),
        1,
        "exactly one refresh across two instances"
    );
    let profile = w.profile(COMPANY_A).await;
    assert_eq!(profile.connected_realm(), Some(US_REALM));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_calls_refresh_an_expired_pipedrive_token_once() {
    let w = moto_world().await;
    w.pipedrive_install(COMPANY_A, USER_A_ADMIN).await;

    // 1. Pipedrive expired the token: 50 calls get 401, one refresh.
    w.pipedrive.expire_access_tokens(COMPANY_A, USER_A_ADMIN);
    w.pipedrive.harness().clear_log();
    let results = join_all((0..50).map(|_| users_me_via(&w.app, COMPANY_A, USER_A_ADMIN))).await;
    for result in results {
        assert_eq!(result.unwrap(), USER_A_ADMIN);
    }
    assert_eq!(w.pipedrive_refresh_calls(), 1, "exactly one refresh");

    // 2. Expired by the clock on two instances.
    let other = w.instance(w.secrets.clone());
    w.advance(3700);
    w.pipedrive.harness().clear_log();
    let (a, b) = tokio::join!(
        join_all((0..25).map(|_| users_me_via(&w.app, COMPANY_A, USER_A_ADMIN))),
        join_all((0..25).map(|_| users_me_via(&other, COMPANY_A, USER_A_ADMIN))),
    );
    for result in a.into_iter().chain(b) {
        assert_eq!(result.unwrap(), USER_A_ADMIN);
    }
    assert_eq!(
        w.pipedrive_refresh_calls(),
        1,
        "one refresh across two instances"
    );
    let stored = w.secrets_of(COMPANY_A).await.pipedrive[&USER_A_ADMIN].clone();
    assert_eq!(stored.api_domain, w.pipedrive.base_url());
}

/// A secret store that answers the next `n` reads with an old value: what an instance sees when
/// it read the secret just before another instance's write landed.
struct StaleReads {
    inner: Arc<dyn SecretStore>,
    stale: Mutex<Option<(String, usize)>>,
}

impl StaleReads {
    fn arm(&self, value: String, reads: usize) {
        *self.stale.lock().unwrap() = Some((value, reads));
    }

    fn take(&self) -> Option<String> {
        let mut stale = self.stale.lock().unwrap();
        match stale.as_mut() {
            Some((value, n)) if *n > 0 => {
                *n -= 1;
                Some(value.clone())
            }
            _ => None,
        }
    }
}

type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, TokenError>> + Send + 'a>>;

impl SecretStore for StaleReads {
    fn get<'a, 'b, 'c>(&'a self, name: &'b str) -> StoreFuture<'c, Option<String>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move {
            match self.take() {
                Some(stale) => Ok(Some(stale)),
                None => self.inner.get(name).await,
            }
        })
    }

    fn put<'a, 'b, 'd, 'c>(&'a self, name: &'b str, value: &'d str) -> StoreFuture<'c, ()>
    where
        'a: 'c,
        'b: 'c,
        'd: 'c,
        Self: 'c,
    {
        self.inner.put(name, value)
    }

    fn delete<'a, 'b, 'c>(&'a self, name: &'b str) -> StoreFuture<'c, ()>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        self.inner.delete(name)
    }

    fn list<'a, 'b, 'c>(&'a self, prefix: &'b str) -> StoreFuture<'c, Vec<String>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        self.inner.list(prefix)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_racing_another_instance_recovers_from_invalid_grant() {
    let moto = secrets_store().await;
    let stale = Arc::new(StaleReads {
        inner: moto.clone(),
        stale: Mutex::new(None),
    });
    let w = world_on(stale.clone()).await;
    w.install_and_connect(COMPANY_A, USER_A_ADMIN, US_REALM)
        .await;
    let company = CompanyId(COMPANY_A);
    // Instance A (the server's app) has the first token set in memory.
    let first_raw = w.raw_secret(COMPANY_A).await.unwrap();
    let first = w.secrets_of(COMPANY_A).await.quickbooks.unwrap();

    // Instance B refreshes an hour later (QuickBooks rotates the refresh token) …
    let b = w.instance(moto.clone());
    w.advance(3700);
    w.quickbooks.harness().clear_log();
    b.tokens.quickbooks(company).await.unwrap();
    assert_eq!(w.quickbooks_token_calls(), 1);
    let second = b
        .vault
        .read_fresh(company)
        .await
        .unwrap()
        .quickbooks
        .unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);

    // … and a day later the old refresh token is dead. Instance A reads the secret as it was
    // before B's write (its lease expired while it was slow), refreshes with the old token,
    // gets invalid_grant, re-reads, sees B's token and retries with it.
    w.advance(25 * 3600);
    stale.arm(first_raw, 2);
    w.quickbooks.harness().clear_log();
    let access = w.app.tokens.quickbooks(company).await.expect("recovers");
    assert_eq!(access.realm_id, US_REALM);
    let calls = w
        .quickbooks
        .harness()
        .requests_matching(Some("POST"), "/oauth2/v1/tokens/bearer");
    assert_eq!(
        calls.len(),
        2,
        "one refused refresh, one retry with the stored token"
    );
    assert_eq!(calls[0].status, 400);
    assert_eq!(calls[1].status, 200);

    let profile = w.app.records.get_company(company).await.unwrap().unwrap();
    assert_eq!(
        profile.quickbooks.as_ref().map(|c| c.state),
        Some(ConnectionState::Connected),
        "a benign race never marks the connection broken"
    );
    let third = w.secrets_of(COMPANY_A).await.quickbooks.unwrap();
    assert_ne!(
        third.refresh_token, second.refresh_token,
        "the newest token is kept"
    );
    assert_eq!(third.access_token, access.token);
    assert_eq!(
        company_info_via(&b, COMPANY_A).await.unwrap(),
        "Sandbox Landscaping Inc."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_connection_needs_reconnect_and_says_so() {
    let w = moto_world().await;
    w.pipedrive_install(COMPANY_A, USER_A_ADMIN).await;
    w.pipedrive_install(COMPANY_A, USER_A_MEMBER).await;
    assert_eq!(
        w.quickbooks_connect(COMPANY_A, USER_A_ADMIN, US_REALM)
            .await
            .0,
        200
    );

    // The user disconnects the app inside QuickBooks.
    w.quickbooks.disconnect(US_REALM);
    let (status, problem) = w
        .api("GET", "/api/connection", COMPANY_A, USER_A_MEMBER)
        .await;
    assert_reconnect_problem(status, &problem, &w);
    let profile = w.profile(COMPANY_A).await;
    let connection = profile.quickbooks.unwrap();
    assert_eq!(connection.state, ConnectionState::NeedsReconnect);
    assert!(connection.reason.unwrap().contains("QuickBooks refused"));
    assert!(
        w.secrets_of(COMPANY_A).await.quickbooks.is_none(),
        "dead tokens removed"
    );

    // Every later call answers the same problem, without asking QuickBooks again.
    w.quickbooks.harness().clear_log();
    let (status, problem) = w
        .api("GET", "/api/connection", COMPANY_A, USER_A_ADMIN)
        .await;
    assert_reconnect_problem(status, &problem, &w);
    let failure = w
        .app
        .tokens
        .quickbooks(CompanyId(COMPANY_A))
        .await
        .unwrap_err();
    assert!(
        matches!(failure, TokenFailure::QuickBooksReconnectRequired { .. }),
        "{failure:?}"
    );
    assert_eq!(w.quickbooks_token_calls(), 0);

    // Reconnecting (any installed user may, since nothing is active) heals it.
    let (status, html) = w
        .quickbooks_connect(COMPANY_A, USER_A_MEMBER, US_REALM)
        .await;
    assert_eq!(status, 200, "{html}");
    let (status, body) = w
        .api("GET", "/api/connection", COMPANY_A, USER_A_ADMIN)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "connected");
    assert_eq!(body["connected_by"]["name"], "Ben Berger");
    assert_eq!(body["reason"], Value::Null);
}

/// `GET /api/connection` is the status endpoint: a connection that needs reconnecting is a 200
/// saying so, with the reconnect link and the reason (issue 20; it used to be a 409 problem).
fn assert_reconnect_problem(status: u16, view: &Value, w: &World) {
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["state"], "needs_reconnect", "{view}");
    assert_eq!(
        view["reconnect_url"],
        format!(
            "{}/settings/marketplace/app/pd-client/app-settings",
            w.pipedrive.base_url()
        )
    );
    assert!(
        view["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("QuickBooks refused"),
        "{view}"
    );
}
