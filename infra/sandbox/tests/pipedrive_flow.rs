//! End-to-end behaviour of the Pipedrive simulator over HTTP: install, API calls, token expiry
//! and refresh, refresh-token idleness, uninstall, tenant isolation, scopes, rate limits, faults
//! and the control API.

mod pipedrive_support;

use base64::Engine;
use pipedrive_support::*;
use reqwest::StatusCode;
use sandbox::harness::FaultSpec;
use sandbox::pipedrive::seed::{
    COMPANY_A, COMPANY_B, DEAL_MANY_PRODUCTS, MANY_PRODUCTS_COUNT, ORG_TAX_ID_FIELD_A,
    USER_A_ADMIN, USER_A_MEMBER, USER_B_ADMIN,
};
use sandbox::pipedrive::{ACCESS_TOKEN_TTL_SECS, PipedriveConfig, PipedriveSim};
use serde_json::{Value, json};
use shared::wire::pipedrive::model::{
    ApiError, Deal, DealProduct, Envelope, FieldDefinition, OAuthError, Organization, Person,
    TaxMethod, TokenResponse, UninstallCallback, UserMe,
};

fn location(response: &reqwest::Response) -> url::Url {
    let raw = response
        .headers()
        .get("location")
        .expect("a redirect")
        .to_str()
        .unwrap();
    url::Url::parse(raw).unwrap()
}

fn query_param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn token_request(base: &str, form: &[(&str, &str)]) -> reqwest::Response {
    http()
        .post(format!("{base}/oauth/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn all_products(api: &str, token: &str, deal: u64, limit: usize) -> Vec<DealProduct> {
    let mut lines = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{api}/api/v2/deals/{deal}/products?limit={limit}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let (status, _, body) = get(&url, token).await;
        assert_eq!(status, 200, "{body}");
        let page: Envelope<Vec<DealProduct>> = serde_json::from_value(body).unwrap();
        assert!(page.data.len() <= limit);
        lines.extend(page.data.iter().cloned());
        match page.next_cursor() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    lines
}

#[tokio::test]
async fn pipedrive_install_use_expire_refresh_and_uninstall() {
    let (receiver, received) = start_receiver().await;
    let callback = format!("{}/oauth/callback", receiver.base_url());
    let (sim, server) = PipedriveSim::start(config(&callback)).await.unwrap();
    let base = server.base_url();

    // 1. The consent page, then "Allow and install" (the form post) → callback with code+state.
    let page = http()
        .get(format!("{base}/oauth/authorize"))
        .query(&[
            ("client_id", CLIENT_ID),
            ("redirect_uri", callback.as_str()),
            ("state", "st-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Allow and install"), "{html}");
    assert!(html.contains("Cancel"));
    let user = format!("{COMPANY_A}:{USER_A_ADMIN}");
    let allowed = http()
        .post(format!("{base}/oauth/authorize"))
        .form(&[
            ("client_id", CLIENT_ID),
            ("redirect_uri", callback.as_str()),
            ("state", "st-1"),
            ("user", user.as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert!(allowed.status().is_redirection());
    let back = location(&allowed);
    assert!(back.as_str().starts_with(&callback));
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-1"));
    let code = query_param(&back, "code").unwrap();

    // 2. Code exchange with HTTP Basic; the code works once.
    let response = token_request(
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", callback.as_str()),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let tokens: TokenResponse = response.json().await.unwrap();
    assert_eq!(tokens.api_domain, base);
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, ACCESS_TOKEN_TTL_SECS as u64);
    assert!(tokens.scopes().contains(&"deals:full"));
    let replay = token_request(
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", callback.as_str()),
        ],
    )
    .await;
    assert_eq!(replay.status(), 400);
    let error: OAuthError = replay.json().await.unwrap();
    assert_eq!(error.error, "invalid_grant");
    let token_log = sim
        .harness()
        .requests_matching(Some("POST"), "/oauth/token");
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    assert!(token_log.iter().all(|r| {
        r.headers
            .iter()
            .any(|(k, v)| k == "authorization" && *v == format!("Basic {basic}"))
    }));

    // 3. Who am I, then everything an invoice needs, at api_domain.
    let api = tokens.api_domain.clone();
    let access = tokens.access_token.clone();
    let (status, headers, me) = get(&format!("{api}/api/v1/users/me"), &access).await;
    assert_eq!(status, 200);
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-daily-ratelimit-token-limit",
        "x-daily-ratelimit-token-remaining",
    ] {
        assert!(headers.contains_key(name), "{name}");
    }
    let me: Envelope<UserMe> = serde_json::from_value(me).unwrap();
    assert_eq!((me.data.company_id, me.data.id), (COMPANY_A, USER_A_ADMIN));
    assert_eq!(me.data.default_currency.as_deref(), Some("EUR"));
    assert!(me.data.is_admin());
    let (status, _, _) = get(&format!("{api}/v1/users/me"), &access).await;
    assert_eq!(status, 200, "v1 without the /api prefix");

    let (status, _, deal) = get(&format!("{api}/api/v2/deals/{DEAL_MANY_PRODUCTS}"), &access).await;
    assert_eq!(status, 200);
    let deal: Envelope<Deal> = serde_json::from_value(deal).unwrap();
    assert_eq!(deal.data.currency.as_deref(), Some("USD"));
    let lines = all_products(&api, &access, DEAL_MANY_PRODUCTS, 50).await;
    assert_eq!(lines.len() as u64, MANY_PRODUCTS_COUNT);
    let mut ids: Vec<u64> = lines.iter().map(|l| l.id).collect();
    ids.dedup();
    assert_eq!(ids.len() as u64, MANY_PRODUCTS_COUNT, "no line twice");
    assert!(lines.iter().all(|l| l.tax_method == Some(TaxMethod::None)));
    let (_, _, first_page) = get(
        &format!("{api}/api/v2/deals/{DEAL_MANY_PRODUCTS}/products"),
        &access,
    )
    .await;
    assert_eq!(first_page["data"].as_array().unwrap().len(), 100);
    assert!(first_page["additional_data"]["next_cursor"].is_string());

    let org_id = deal.data.org_id.unwrap();
    let person_id = deal.data.person_id.unwrap();
    let (status, _, org) = get(&format!("{api}/api/v2/organizations/{org_id}"), &access).await;
    assert_eq!(status, 200);
    let org: Envelope<Organization> = serde_json::from_value(org).unwrap();
    assert!(org.data.address.unwrap().postal_code.is_some());
    let (status, _, person) = get(&format!("{api}/api/v2/persons/{person_id}"), &access).await;
    assert_eq!(status, 200);
    let person: Envelope<Person> = serde_json::from_value(person).unwrap();
    assert!(person.data.primary_email().is_some());
    for catalog in ["dealFields", "organizationFields", "personFields"] {
        let (status, _, fields) = get(&format!("{api}/api/v2/{catalog}"), &access).await;
        assert_eq!(status, 200, "{catalog}");
        let fields: Envelope<Vec<FieldDefinition>> = serde_json::from_value(fields).unwrap();
        assert!(fields.data.iter().any(|f| f.is_custom_field), "{catalog}");
        assert!(
            fields
                .data
                .iter()
                .filter(|f| f.is_custom_field)
                .all(|f| f.field_code.len() == 40)
        );
    }

    // 4. The hour passes: 401 with Pipedrive's body.
    sim.advance_clock(ACCESS_TOKEN_TTL_SECS + 1);
    let (status, _, body) = get(&format!("{api}/api/v1/users/me"), &access).await;
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_value::<ApiError>(body).unwrap(),
        ApiError::unauthorized()
    );

    // 5. Refresh → calls work again (the refresh token stays the same; its idle timer resets).
    let response = token_request(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.refresh_token.as_str()),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let refreshed: TokenResponse = response.json().await.unwrap();
    assert_ne!(refreshed.access_token, access);
    assert_eq!(refreshed.api_domain, base);
    let (status, _, _) = get(&format!("{api}/api/v1/users/me"), &refreshed.access_token).await;
    assert_eq!(status, 200);

    // A refresh token used within 60 days keeps working…
    sim.advance_clock(59 * 24 * 3600);
    let response = token_request(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refreshed.refresh_token.as_str()),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    // …and one unused for more than 60 days is rejected.
    sim.advance_clock(60 * 24 * 3600 + 1);
    let response = token_request(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refreshed.refresh_token.as_str()),
        ],
    )
    .await;
    assert_eq!(response.status(), 400);
    let error: OAuthError = response.json().await.unwrap();
    assert_eq!(error.error, "invalid_grant");

    // 6. The user uninstalls: DELETE to the callback with Basic auth and the JSON body.
    let fired: Value = http()
        .post(format!("{base}/_sim/uninstall"))
        .json(&json!({"company_id": COMPANY_A, "user_id": USER_A_ADMIN}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fired["callback_status"], 200);
    let requests = received.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let delete = &requests[0];
    assert_eq!(delete.method, "DELETE");
    assert_eq!(delete.path, "/oauth/callback");
    assert_eq!(
        delete.authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert!(
        delete
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/json"))
    );
    let body: UninstallCallback = serde_json::from_slice(&delete.body).unwrap();
    assert_eq!(body.client_id, CLIENT_ID);
    assert_eq!((body.company_id, body.user_id), (COMPANY_A, USER_A_ADMIN));
    assert!(chrono::DateTime::parse_from_rfc3339(&body.timestamp).is_ok());
}

#[tokio::test]
async fn pipedrive_authorize_auto_modes_and_client_checks() {
    let (sim, server) = start().await;
    let base = server.base_url();
    let callback = sim.config().redirect_uri.clone();
    let authorize = |extra: &'static [(&'static str, &'static str)]| {
        let base = base.clone();
        let callback = callback.clone();
        async move {
            let mut query = vec![
                ("client_id", CLIENT_ID.to_string()),
                ("redirect_uri", callback),
                ("state", "s".to_string()),
            ];
            query.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
            http()
                .get(format!("{base}/oauth/authorize"))
                .query(&query)
                .send()
                .await
                .unwrap()
        }
    };
    let approved = authorize(&[("auto", "1"), ("company_id", "2002"), ("user_id", "201")]).await;
    let code = query_param(&location(&approved), "code").unwrap();
    let response = token_request(
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", callback.as_str()),
        ],
    )
    .await;
    let tokens: TokenResponse = response.json().await.unwrap();
    let (_, _, me) = get(&format!("{base}/api/v1/users/me"), &tokens.access_token).await;
    assert_eq!(me["data"]["company_id"], COMPANY_B);
    assert_eq!(me["data"]["id"], USER_B_ADMIN);

    let denied = authorize(&[("auto", "deny")]).await;
    let back = location(&denied);
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("access_denied")
    );
    assert!(query_param(&back, "code").is_none());

    // Unregistered redirect URIs and unknown clients are not redirected anywhere.
    let evil = http()
        .get(format!("{base}/oauth/authorize"))
        .query(&[
            ("client_id", CLIENT_ID),
            ("redirect_uri", "https://evil.example/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 400);

    // Wrong client secret → invalid_client.
    let wrong = http()
        .post(format!("{base}/oauth/token"))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let error: OAuthError = wrong.json().await.unwrap();
    assert_eq!(error.error, "invalid_client");

    // Unknown refresh token → invalid_grant; unknown grant type → unsupported_grant_type.
    let unknown = token_request(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "1:1:nope"),
        ],
    )
    .await;
    assert_eq!(unknown.status(), 400);
    let unsupported = token_request(&base, &[("grant_type", "password")]).await;
    let error: OAuthError = unsupported.json().await.unwrap();
    assert_eq!(error.error, "unsupported_grant_type");
}

#[tokio::test]
async fn pipedrive_revoke_refresh_token_ends_the_installation() {
    let (sim, server) = start().await;
    let base = server.base_url();
    let tokens = sim.issue_tokens(COMPANY_A, USER_A_MEMBER).unwrap();
    let revoke = http()
        .post(format!("{base}/oauth/revoke"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("token", tokens.refresh_token.as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    let (status, _, _) = get(&format!("{base}/api/v1/users/me"), &tokens.access_token).await;
    assert_eq!(status, 401);
    let refresh = token_request(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.refresh_token.as_str()),
        ],
    )
    .await;
    assert_eq!(refresh.status(), 400);

    // Revoking only an access token keeps the refresh token.
    let tokens = sim.issue_tokens(COMPANY_A, USER_A_MEMBER).unwrap();
    http()
        .post(format!("{base}/oauth/revoke"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("token", tokens.access_token.as_str()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .unwrap();
    let (status, _, _) = get(&format!("{base}/api/v1/users/me"), &tokens.access_token).await;
    assert_eq!(status, 401);
    let refresh = token_request(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.refresh_token.as_str()),
        ],
    )
    .await;
    assert_eq!(refresh.status(), 200);
}

#[tokio::test]
async fn pipedrive_tenant_isolation() {
    let (sim, server) = start().await;
    let base = server.base_url();
    let a = sim
        .issue_tokens(COMPANY_A, USER_A_ADMIN)
        .unwrap()
        .access_token;
    let b = sim
        .issue_tokens(COMPANY_B, USER_B_ADMIN)
        .unwrap()
        .access_token;

    // Deal 1 exists in both companies: each token sees its own.
    let (_, _, deal_a) = get(&format!("{base}/api/v2/deals/1"), &a).await;
    let (_, _, deal_b) = get(&format!("{base}/api/v2/deals/1"), &b).await;
    assert_eq!(deal_a["data"]["title"], "Website relaunch");
    assert_eq!(deal_b["data"]["title"], "Fleet tracking rollout");

    // Company A's other records are 404 for company B, with the v2 body.
    for path in [
        format!("/api/v2/deals/{DEAL_MANY_PRODUCTS}"),
        format!("/api/v2/deals/{DEAL_MANY_PRODUCTS}/products"),
        format!("/api/v2/deals/{DEAL_MANY_PRODUCTS}/discounts"),
        "/api/v2/organizations/4".to_string(),
        "/api/v2/persons/5".to_string(),
        "/api/v2/products/6".to_string(),
    ] {
        let (status, _, body) = get(&format!("{base}{path}"), &b).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(
            serde_json::from_value::<ApiError>(body).unwrap(),
            ApiError::not_found()
        );
        let (status, _, _) = get(&format!("{base}{path}"), &a).await;
        assert_eq!(status, 200, "{path}");
    }
    // B's catalog does not list A's custom fields.
    let (_, _, fields) = get(&format!("{base}/api/v2/organizationFields"), &b).await;
    assert!(!fields.to_string().contains(ORG_TAX_ID_FIELD_A));

    // Notes cannot target another company's deal.
    let note = http()
        .post(format!("{base}/api/v1/notes"))
        .bearer_auth(&b)
        .json(&json!({"content": "x", "deal_id": DEAL_MANY_PRODUCTS}))
        .send()
        .await
        .unwrap();
    assert_eq!(note.status(), 404);
    assert!(sim.notes().is_empty());
}

#[tokio::test]
async fn pipedrive_scopes_rate_limits_and_faults() {
    let mut config = config("http://127.0.0.1:9/oauth/callback");
    config.scope = "base,deals:read".into();
    config.burst_limit = 3;
    config.daily_token_budget = Some(35);
    let (sim, server) = PipedriveSim::start(config).await.unwrap();
    let base = server.base_url();
    let token = sim
        .issue_tokens(COMPANY_A, USER_A_ADMIN)
        .unwrap()
        .access_token;

    // Notes need deals:full (or contacts:full).
    let note = http()
        .post(format!("{base}/api/v1/notes"))
        .bearer_auth(&token)
        .json(&json!({"content": "x", "deal_id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(note.status(), 403);
    // Persons need a contacts scope.
    let (status, _, _) = get(&format!("{base}/api/v2/persons/1"), &token).await;
    assert_eq!(status, 403);
    // contacts:full is the other scope that may write notes.
    let contacts = sim
        .issue_tokens_with_scope(COMPANY_A, USER_A_MEMBER, "base,contacts:full")
        .unwrap()
        .access_token;
    let note = http()
        .post(format!("{base}/api/v1/notes"))
        .bearer_auth(&contacts)
        .json(&json!({"content": "x", "person_id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(note.status(), 200);

    // Burst: 3 requests per 2 s per token (the two above counted).
    let (status, headers, _) = get(&format!("{base}/api/v2/deals/1"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-ratelimit-limit"], "3");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    let (status, headers, body) = get(&format!("{base}/api/v2/deals/1"), &token).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert!(headers.contains_key("x-ratelimit-reset"));

    // The window passes; the daily budget (35 tokens) runs out: 10 + 1 + 10 + 1 spent so far.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, headers, _) = get(&format!("{base}/api/v2/deals/1/products"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-daily-ratelimit-token-limit"], "35");
    assert_eq!(headers["x-daily-ratelimit-token-remaining"], "3");
    let (status, headers, _) = get(&format!("{base}/api/v2/dealFields"), &token).await;
    assert_eq!(status, 429);
    assert_eq!(headers["x-daily-ratelimit-token-remaining"], "3");
    // A new (simulated) day restores the budget.
    sim.advance_clock(24 * 3600);
    let fresh = sim
        .issue_tokens(COMPANY_A, USER_A_ADMIN)
        .unwrap()
        .access_token;
    let (status, _, _) = get(&format!("{base}/api/v2/dealFields"), &fresh).await;
    assert_eq!(status, 200);

    // Injected faults through the harness, in Pipedrive's format.
    sim.set_burst_limit(100);
    sim.harness().set_fault(
        "/api/v2/deals",
        FaultSpec {
            force_500: 1,
            force_429: 1,
            ..FaultSpec::default()
        },
    );
    let (status, headers, _) = get(&format!("{base}/api/v2/deals/1"), &fresh).await;
    assert_eq!(status, 429);
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    let (status, _, body) = get(&format!("{base}/api/v2/deals/1"), &fresh).await;
    assert_eq!(status, 500);
    assert_eq!(body["success"], false);
    let (status, _, _) = get(&format!("{base}/api/v2/deals/1"), &fresh).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn pipedrive_control_api() {
    let (sim, server) = start().await;
    let base = server.base_url();
    let control = |path: &str| format!("{base}/_sim{path}");
    let client = http();

    // Tokens without the browser, then a custom field appears in the catalog with a value.
    let tokens: TokenResponse = client
        .post(control("/tokens/issue"))
        .json(&json!({"company_id": COMPANY_A, "user_id": USER_A_MEMBER}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens.access_token;
    let field: FieldDefinition = client
        .post(control(&format!(
            "/companies/{COMPANY_A}/fields/organization"
        )))
        .json(&json!({"field_name": "VAT number", "field_type": "varchar"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(field.field_code.len(), 40);
    assert!(field.is_custom_field);
    let (_, _, catalog) = get(&format!("{base}/api/v2/organizationFields"), &token).await;
    assert!(catalog.to_string().contains(&field.field_code));

    let (_, _, org) = get(&format!("{base}/api/v2/organizations/3"), &token).await;
    let mut org: Organization = serde_json::from_value(org["data"].clone()).unwrap();
    assert!(org.address.is_none());
    org.custom_fields
        .insert(field.field_code.clone(), json!("NL123456789B01"));
    let put = client
        .put(control(&format!("/companies/{COMPANY_A}/organizations")))
        .json(&org)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let (_, _, org) = get(&format!("{base}/api/v2/organizations/3"), &token).await;
    let org: Envelope<Organization> = serde_json::from_value(org).unwrap();
    assert_eq!(
        org.data.custom_fields.text(&field.field_code).as_deref(),
        Some("NL123456789B01")
    );

    // A new deal with a product line.
    let (_, _, deal) = get(&format!("{base}/api/v2/deals/5"), &token).await;
    let mut deal: Deal = serde_json::from_value(deal["data"].clone()).unwrap();
    deal.id = 77;
    deal.title = "Added by a test".into();
    client
        .put(control(&format!("/companies/{COMPANY_A}/deals")))
        .json(&deal)
        .send()
        .await
        .unwrap();
    let (_, _, lines) = get(&format!("{base}/api/v2/deals/5/products"), &token).await;
    let mut line: DealProduct = serde_json::from_value(lines["data"][0].clone()).unwrap();
    line.id = 7701;
    let added = client
        .post(control(&format!(
            "/companies/{COMPANY_A}/deals/77/products"
        )))
        .json(&line)
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);
    let (status, _, lines) = get(&format!("{base}/api/v2/deals/77/products"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(lines["data"][0]["deal_id"], 77);
    let unknown = client
        .post(control(&format!(
            "/companies/{COMPANY_A}/deals/999/products"
        )))
        .json(&line)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // Notes, the request log, expiring a user's tokens, resetting.
    client
        .post(format!("{base}/api/v1/notes"))
        .bearer_auth(&token)
        .json(&json!({"content": "<p>Invoice 1</p>", "deal_id": 77}))
        .send()
        .await
        .unwrap();
    let notes: Value = client
        .get(control("/notes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(notes[0]["company_id"], COMPANY_A);
    assert_eq!(notes[0]["note"]["deal_id"], 77);
    let log: Value = client
        .get(control("/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|r| r["path"] == "/api/v1/notes" && r["status"] == 200)
    );
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .all(|r| !r["path"].as_str().unwrap().starts_with("/_sim"))
    );
    let expired: Value = client
        .post(control("/tokens/expire"))
        .json(&json!({"company_id": COMPANY_A, "user_id": USER_A_MEMBER}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(expired["expired"], 1);
    let (status, _, _) = get(&format!("{base}/api/v1/users/me"), &token).await;
    assert_eq!(status, 401);

    let knobs = client
        .put(control("/knobs"))
        .json(&json!({"latency_ms": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(knobs.status(), 200);
    assert_eq!(sim.harness().knobs().latency_ms, 1);
    let advanced: Value = client
        .post(control("/clock/advance"))
        .json(&json!({"seconds": 60}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(advanced["now"].is_string());

    client.post(control("/reset")).send().await.unwrap();
    assert!(sim.notes().is_empty());
    assert!(sim.requests().is_empty());
    assert_eq!(sim.harness().knobs().latency_ms, 0);
    let seed: Value = client
        .get(control("/seed"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seed["companies"].as_array().unwrap().len(), 2);
    let bad = client
        .post(control("/jwt"))
        .json(&json!({"company_id": COMPANY_B, "user_id": USER_A_ADMIN}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pipedrive_embedded_router_uses_the_configured_api_domain() {
    let config = PipedriveConfig {
        api_domain: Some("https://acme-analytics.pipedrive.invalid".into()),
        ..config("http://127.0.0.1:9/oauth/callback")
    };
    let sim = PipedriveSim::new(config);
    let server = sandbox::harness::serve(sim.router(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let tokens = sim.issue_tokens(COMPANY_A, USER_A_ADMIN).unwrap();
    assert_eq!(
        tokens.api_domain,
        "https://acme-analytics.pipedrive.invalid"
    );
    let (status, _, _) = get(
        &format!("{}/api/v1/users/me", server.base_url()),
        &tokens.access_token,
    )
    .await;
    assert_eq!(status, 200);
}
