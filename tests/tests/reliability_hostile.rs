//! Hostile input against every function's router served over HTTP (both simulators in-process):
//! JWT attacks, oversized and deeply nested JSON, injection attempts in every string that reaches
//! a QuickBooks query, path traversal in ids, huge pagination parameters, webhook forgery and
//! replay, uninstall callbacks with wrong credentials. Each attack must get a 4xx problem+json
//! with a human `detail`, and nothing may change: the store, the secrets and QuickBooks are
//! compared before and after. The number of attacks tried is written to
//! `target/reliability/hostile.json`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use integration_tests::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use shared::wire::quickbooks::model::TxnStatus;
use test_world::*;

const A: (u64, u64) = (COMPANY_A, USER_A_ADMIN);
const B: (u64, u64) = (COMPANY_B, USER_B_ADMIN);

/// Company A on the GB realm with deal 2 ready (customer and items linked) and one invoice;
/// company B on the US realm with deal 1 ready and one invoice.
async fn world() -> (World, String, String, Value) {
    let w = full_world().start().await;
    w.connect(COMPANY_A, USER_A_ADMIN, GB_REALM).await;
    w.connect(COMPANY_B, USER_B_ADMIN, US_REALM).await;
    let (form_a, a) = invoice_deal_2_of_a(&w, "hostile-a").await;
    let invoice_a = a.json["invoice"]["id"].as_str().unwrap().to_string();
    let c = w
        .call(
            "POST",
            "/api/quickbooks/customers",
            B,
            Some(&json!({"deal_id": 1, "display_name": "Bolt Freight Co.", "email": "riley@bolt-freight.example"})),
            Some("hostile-customer-b"),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text);
    w.link_item(B, 1, "4").await;
    w.link_item(B, 2, "2").await;
    let draft = w.ready_draft(B, 1).await;
    let b = w
        .call(
            "POST",
            "/api/deals/1/invoices",
            B,
            Some(&draft["form"]),
            Some("hostile-b"),
        )
        .await;
    assert_eq!(b.status, 201, "{}", b.text);
    let invoice_b = b.json["invoice"]["id"].as_str().unwrap().to_string();
    (w, invoice_a, invoice_b, form_a)
}

/// What QuickBooks holds (invoices and customers of both realms), for "nothing changed".
fn quickbooks_state(w: &World) -> Value {
    let mut out = serde_json::Map::new();
    for realm in [US_REALM, GB_REALM] {
        out.insert(
            realm.to_string(),
            json!({
                "invoices": serde_json::to_value(w.quickbooks.invoices(realm).unwrap()).unwrap(),
                "customers": serde_json::to_value(w.quickbooks.customers(realm).unwrap()).unwrap(),
            }),
        );
    }
    Value::Object(out)
}

/// Tallies the attacks and checks each answer.
#[derive(Default)]
struct Tally {
    tried: usize,
    by_kind: std::collections::BTreeMap<&'static str, usize>,
    failures: Vec<String>,
}

impl Tally {
    /// The answer must be a 4xx (one of `allowed` when given) problem+json with a human detail.
    fn refused(&mut self, kind: &'static str, what: &str, answer: &Answer, allowed: &[u16]) {
        self.tried += 1;
        *self.by_kind.entry(kind).or_default() += 1;
        let status_ok = if allowed.is_empty() {
            (400..500).contains(&answer.status)
        } else {
            allowed.contains(&answer.status)
        };
        let detail = answer.detail();
        if !status_ok || !answer.is_problem() || detail.trim().len() < 10 {
            self.failures.push(format!(
                "[{kind}] {what}: got {} {} {}",
                answer.status,
                answer.content_type,
                answer.text.chars().take(300).collect::<String>()
            ));
        }
    }

    /// An attack the app must absorb without effect (e.g. an injection in a search, a replay):
    /// a non-5xx answer (`allowed` statuses); its effect is checked by the caller.
    fn absorbed(&mut self, kind: &'static str, what: &str, answer: &Answer, allowed: &[u16]) {
        self.tried += 1;
        *self.by_kind.entry(kind).or_default() += 1;
        if !allowed.contains(&answer.status) {
            self.failures.push(format!(
                "[{kind}] {what}: got {} {}",
                answer.status,
                answer.text.chars().take(300).collect::<String>()
            ));
        }
    }
}

fn now() -> i64 {
    Utc::now().timestamp()
}

fn hs256(claims: &Value, secret: &str) -> String {
    shared::web::auth::jwt_crypto::install();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn valid_claims(company: u64, user: u64) -> Value {
    json!({"companyId": company, "userId": user, "iat": now(), "exp": now() + 300})
}

/// A token with any header, HMAC-signed with `secret` over the exact bytes (key confusion: an
/// RS256 header with an HMAC signature; `none` with an empty signature).
fn forged(header: &Value, claims: &Value, secret: Option<&str>) -> String {
    use hmac::{Hmac, Mac};
    let head = URL_SAFE_NO_PAD.encode(header.to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{head}.{body}");
    let signature = match secret {
        Some(secret) => {
            let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(signing_input.as_bytes());
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        None => String::new(),
    };
    format!("{signing_input}.{signature}")
}

/// A real HS512 token (HMAC-SHA512 over header and claims): our jsonwebtoken provider signs
/// HS256 only, so the test signs this one by hand.
fn hs512_token(claims: &Value, secret: &str) -> String {
    use hmac::{Hmac, Mac};
    let head = URL_SAFE_NO_PAD.encode(json!({"alg": "HS512", "typ": "JWT"}).to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{head}.{body}");
    let mut mac = <Hmac<sha2::Sha512> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// The tokens every JWT attack sends, with what it is.
fn jwt_attacks() -> Vec<(&'static str, String)> {
    let valid = sign_token(tenant(COMPANY_A, USER_A_ADMIN));
    let mut parts: Vec<String> = valid.split('.').map(str::to_string).collect();
    let tampered_body = URL_SAFE_NO_PAD.encode(
        json!({"companyId": COMPANY_B, "userId": USER_B_ADMIN, "iat": now(), "exp": now() + 300})
            .to_string(),
    );
    parts[1] = tampered_body;
    let tampered = parts.join(".");
    vec![
        (
            "alg none",
            forged(
                &json!({"alg": "none", "typ": "JWT"}),
                &valid_claims(COMPANY_A, USER_A_ADMIN),
                None,
            ),
        ),
        (
            "alg None with a signature",
            forged(
                &json!({"alg": "None", "typ": "JWT"}),
                &valid_claims(COMPANY_A, USER_A_ADMIN),
                Some(TEST_JWT_SECRET),
            ),
        ),
        (
            "key confusion: RS256 header, HMAC signature with the shared secret",
            forged(
                &json!({"alg": "RS256", "typ": "JWT"}),
                &valid_claims(COMPANY_A, USER_A_ADMIN),
                Some(TEST_JWT_SECRET),
            ),
        ),
        (
            "HS512 with the right secret",
            hs512_token(&valid_claims(COMPANY_A, USER_A_ADMIN), TEST_JWT_SECRET),
        ),
        (
            "wrong secret",
            hs256(
                &valid_claims(COMPANY_A, USER_A_ADMIN),
                "not-the-secret-0123456789",
            ),
        ),
        (
            "expired an hour ago",
            hs256(
                &json!({"companyId": COMPANY_A, "userId": USER_A_ADMIN, "iat": now() - 7200, "exp": now() - 3600}),
                TEST_JWT_SECRET,
            ),
        ),
        (
            "issued an hour in the future",
            hs256(
                &json!({"companyId": COMPANY_A, "userId": USER_A_ADMIN, "iat": now() + 3600, "exp": now() + 7200}),
                TEST_JWT_SECRET,
            ),
        ),
        (
            "not valid before an hour from now",
            hs256(
                &json!({"companyId": COMPANY_A, "userId": USER_A_ADMIN, "nbf": now() + 3600, "exp": now() + 7200}),
                TEST_JWT_SECRET,
            ),
        ),
        (
            "no exp",
            hs256(
                &json!({"companyId": COMPANY_A, "userId": USER_A_ADMIN, "iat": now()}),
                TEST_JWT_SECRET,
            ),
        ),
        (
            "no companyId",
            hs256(
                &json!({"userId": USER_A_ADMIN, "iat": now(), "exp": now() + 300}),
                TEST_JWT_SECRET,
            ),
        ),
        (
            "companyId not a number",
            hs256(
                &json!({"companyId": "1001 OR 1=1", "userId": USER_A_ADMIN, "exp": now() + 300}),
                TEST_JWT_SECRET,
            ),
        ),
        ("tampered claims (company B, A's signature)", tampered),
        ("garbage", "not.a.jwt".into()),
        ("empty", String::new()),
        ("three empty parts", "..".into()),
    ]
}

/// Routes the JWT attacks are tried on (a read, a company-wide write, a create, an action).
const JWT_TARGETS: &[(&str, &str)] = &[
    ("GET", "/api/settings"),
    ("GET", "/api/deals/2/invoices"),
    ("POST", "/api/deals/2/invoices"),
    ("POST", "/api/quickbooks/disconnect"),
    ("POST", "/api/bulk/batches"),
    (
        "POST",
        "/api/bulk/batches/6f1d2c3b-4a59-4e8f-9c0d-1e2f3a4b5c6d/run",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_refused_clearly_and_changes_nothing() {
    let (w, invoice_a, invoice_b, form_a) = world().await;
    // B's deal 1 has an estimate the customer accepted (for the hostile parts of it).
    let estimate_b = {
        let draft = w.ready_draft(B, 1).await;
        let created = w
            .create_estimate(B, 1, &draft["form"], "hostile-estimate-b")
            .await;
        let id = created["estimate"]["estimate_id"]
            .as_str()
            .unwrap()
            .to_string();
        w.quickbooks
            .set_estimate_status(US_REALM, &id, TxnStatus::Accepted, None)
            .unwrap();
        id
    };
    let mut tally = Tally::default();
    let before = w.snapshot().await;
    let qb_before = quickbooks_state(&w);

    // --- JWT attacks ---
    for (what, token) in jwt_attacks() {
        for (method, path) in JWT_TARGETS {
            let answer = answer(
                w.request(method, path)
                    .header("authorization", format!("Bearer {token}"))
                    .header("idempotency-key", "jwt-attack")
                    .json(&json!({"confirm": true}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            tally.refused(
                "jwt",
                &format!("{what} on {method} {path}"),
                &answer,
                &[401],
            );
        }
    }
    let expired = hs256(
        &json!({"companyId": COMPANY_A, "userId": USER_A_ADMIN, "iat": now() - 7200, "exp": now() - 3600}),
        TEST_JWT_SECRET,
    );
    let a = answer(
        w.request("GET", "/api/settings")
            .bearer_auth(&expired)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(a.detail().contains("expired"), "says why: {}", a.text);
    // Bodies that pass validation, so the install check is what answers.
    let body_for = |method: &str, path: &str| {
        if method == "POST" && path.ends_with("/invoices") {
            form_a.clone()
        } else if path == "/api/bulk/batches" {
            json!({"batch_id": "6f1d2c3b-4a59-4e8f-9c0d-1e2f3a4b5c6d", "deal_ids": [2]})
        } else {
            json!({})
        }
    };
    // A valid token of a company (and of a user) that never installed the app.
    for (who, what) in [
        ((3003, 301), "a company that never installed the app"),
        ((COMPANY_A, 999), "a user of A who never installed the app"),
    ] {
        for (method, path) in JWT_TARGETS {
            let a = w
                .call(
                    method,
                    path,
                    who,
                    Some(&body_for(method, path)),
                    Some("k-stranger"),
                )
                .await;
            tally.refused("jwt", &format!("{what}: {method} {path}"), &a, &[403, 404]);
        }
    }
    // The token in the wrong place: query string, cookie, Basic, no scheme.
    let valid = sign_token(tenant(COMPANY_A, USER_A_ADMIN));
    for (method, path) in JWT_TARGETS {
        let places = [
            (
                "query string",
                w.request(method, &format!("{path}?token={valid}")),
            ),
            (
                "cookie",
                w.request(method, path)
                    .header("cookie", format!("token={valid}")),
            ),
            (
                "Basic scheme",
                w.request(method, path)
                    .header("authorization", format!("Basic {valid}")),
            ),
            (
                "no scheme",
                w.request(method, path)
                    .header("authorization", valid.clone()),
            ),
            (
                "x-pipedrive-token header",
                w.request(method, path).header("x-token", valid.clone()),
            ),
        ];
        for (place, request) in places {
            let a = answer(request.json(&json!({})).send().await.unwrap()).await;
            tally.refused(
                "jwt",
                &format!("token in the {place}: {method} {path}"),
                &a,
                &[401],
            );
        }
    }

    // --- Oversized, deeply nested and malformed JSON ---
    let big = json!({"filler": "x".repeat(300 * 1024)});
    for (method, path) in [
        ("PUT", "/api/settings"),
        ("POST", "/api/deals/2/invoices"),
        ("POST", "/api/quickbooks/customers"),
        ("PUT", "/api/deals/2/customer-link"),
        ("POST", "/api/bulk/readiness"),
        ("POST", "/api/bulk/batches"),
        (
            "POST",
            "/api/bulk/batches/6f1d2c3b-4a59-4e8f-9c0d-1e2f3a4b5c6d/run",
        ),
        ("POST", "/api/deals/2/estimates/7/invoice"),
    ] {
        let a = w.call(method, path, A, Some(&big), Some("k-big")).await;
        tally.refused(
            "json",
            &format!("300 KiB body on {method} {path}"),
            &a,
            &[413],
        );
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let a = answer(
            w.request_as(method, path, A)
                .header("content-type", "application/json")
                .header("idempotency-key", "k-deep")
                .body(deep)
                .send()
                .await
                .unwrap(),
        )
        .await;
        tally.refused(
            "json",
            &format!("100,000-deep JSON on {method} {path}"),
            &a,
            &[400, 413, 422],
        );
        for (what, body, content_type) in [
            ("truncated JSON", "{\"a\": ", "application/json"),
            ("not UTF-8", "\u{FFFD}", "application/json"),
            (
                "a form instead of JSON",
                "a=1&b=2",
                "application/x-www-form-urlencoded",
            ),
            ("JSON of the wrong shape", "[1, 2, 3]", "application/json"),
        ] {
            let body = if what == "not UTF-8" {
                vec![0xff, 0xfe, 0x7b]
            } else {
                body.as_bytes().to_vec()
            };
            let a = answer(
                w.request_as(method, path, A)
                    .header("content-type", content_type)
                    .header("idempotency-key", "k-malformed")
                    .body(body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            tally.refused("json", &format!("{what} on {method} {path}"), &a, &[]);
        }
    }

    // --- Injection attempts in every string that reaches a QuickBooks query ---
    let hostile_terms = [
        "O'Brien",
        "' OR 1=1 --",
        r"back\slash",
        r"trailing\",
        r"\'",
        "50% off",
        "%",
        "_%'%",
        "\"double\" quotes",
        "Müller ☃ 𝄞 日本語",
        "'; DELETE FROM Customer; --",
        "Name LIKE '%' AND Id > '0",
        "\u{202e}rtl override",
    ];
    w.quickbooks.harness().clear_log();
    for term in hostile_terms {
        for (path, realm, who) in [
            ("/api/quickbooks/customers", GB_REALM, A),
            ("/api/quickbooks/items", GB_REALM, A),
            ("/api/quickbooks/customers", US_REALM, B),
            ("/api/quickbooks/items", US_REALM, B),
        ] {
            let a = answer(
                w.request_as("GET", path, who)
                    .query(&[("search", term)])
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            tally.absorbed(
                "injection",
                &format!("search {term:?} on {path}"),
                &a,
                &[200],
            );
            // Each word of the term, escaped, anywhere in the name.
            let sent: Vec<String> = w
                .quickbooks
                .harness()
                .requests_matching(None, &format!("/v3/company/{realm}/query"))
                .iter()
                .map(logged_query)
                .collect();
            for word in term.split_whitespace().take(5) {
                let expected =
                    format!("LIKE '%{}%'", shared::wire::quickbooks::query::escape(word));
                assert!(
                    sent.iter().any(|q| q.contains(&expected)),
                    "QuickBooks received the word escaped ({expected}); it got {sent:#?}"
                );
            }
        }
    }
    let refused_queries: Vec<_> = w
        .quickbooks
        .harness()
        .requests_matching(None, "/v3/company/")
        .into_iter()
        .filter(|r| r.path.ends_with("/query") && r.status >= 400)
        .collect();
    assert!(
        refused_queries.is_empty(),
        "QuickBooks refused none of our queries (no 4001): {refused_queries:#?}"
    );
    // Too long: refused. Empty or blank: the first results (the list shown on focus).
    for (term, expected) in [
        ("x".repeat(101), 422),
        (String::new(), 200),
        ("   ".into(), 200),
    ] {
        let a = answer(
            w.request_as("GET", "/api/quickbooks/customers", A)
                .query(&[("search", term.as_str())])
                .send()
                .await
                .unwrap(),
        )
        .await;
        if expected == 422 {
            tally.refused(
                "injection",
                &format!("search of {} chars", term.len()),
                &a,
                &[422],
            );
        } else {
            tally.absorbed(
                "injection",
                &format!("search of {} blank chars", term.len()),
                &a,
                &[200],
            );
        }
    }

    // --- Path traversal and hostile ids ---
    let hostile_ids = [
        "..",
        "..%2F..%2Fsettings",
        "%2e%2e",
        "%2e%2e%2f%2e%2e%2fapi%2fsettings",
        "1%2F..%2F2",
        "..%5C..%5C",
        "1%00",
        "1%27%20OR%20%271%27%3D%271",
        "-1",
        "99999999999999999999999",
        "1e3",
        "%F0%9D%84%9E",
    ];
    for id in hostile_ids {
        for (method, path) in [
            ("GET", format!("/api/deals/{id}/invoices")),
            ("GET", format!("/api/deals/{id}/draft")),
            ("GET", format!("/api/deals/2/invoices/{id}/pdf")),
            ("GET", format!("/api/deals/2/invoices/{id}/open")),
            ("POST", format!("/api/deals/2/invoices/{id}/void")),
            ("POST", format!("/api/deals/2/invoices/{id}/delete")),
            ("PUT", format!("/api/deals/2/invoice-links/{id}")),
            ("DELETE", format!("/api/deals/2/invoice-links/{id}")),
            ("PUT", format!("/api/products/{id}/item-link")),
            ("GET", format!("/api/deals/{id}/estimates")),
            ("GET", format!("/api/deals/2/estimates/{id}/pdf")),
            ("POST", format!("/api/deals/2/estimates/{id}/send")),
            ("POST", format!("/api/deals/2/estimates/{id}/delete")),
            ("POST", format!("/api/deals/2/estimates/{id}/answer")),
            ("POST", format!("/api/deals/2/estimates/{id}/invoice")),
            ("POST", format!("/api/deals/{id}/prepared-invoice")),
        ] {
            let a = w
                .call(
                    method,
                    &path,
                    A,
                    Some(&json!({"confirm": true, "item_id": "3"})),
                    None,
                )
                .await;
            tally.refused("path", &format!("{method} {path}"), &a, &[400, 404, 422]);
        }
    }
    // A forged preparation key (nothing is prepared for the deal): refused, nothing created.
    for key in ["prepared:x:deal:2:1", "prepared:' OR '1'='1:deal:2:0"] {
        let a = w
            .call("POST", "/api/deals/2/prepared-invoice", A, None, Some(key))
            .await;
        tally.refused(
            "path",
            &format!("forged preparation key {key}"),
            &a,
            &[400, 404, 409],
        );
    }
    let traversed: Vec<_> = w
        .quickbooks
        .harness()
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("..") || r.path.contains("%2e") || r.path.contains("%2E"))
        .collect();
    assert!(
        traversed.is_empty(),
        "no traversal reached QuickBooks: {traversed:#?}"
    );

    // --- Huge and hostile pagination parameters ---
    for query in [
        "limit=1000000000000",
        "limit=18446744073709551616",
        "limit=-1",
        "limit=0",
        "limit=abc",
        "limit=1e9",
        "cursor=..%2F..%2F",
        "cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "from=9999-99-99",
        "from=2020-01-01&to=2019-01-01",
    ] {
        for path in ["/api/deals/2/customer-invoices", "/api/deals/2/activity"] {
            if path.ends_with("activity") && !query.starts_with("limit") {
                continue;
            }
            let a = w
                .call("GET", &format!("{path}?{query}"), A, None, None)
                .await;
            tally.refused("pagination", &format!("{path}?{query}"), &a, &[400, 422]);
        }
    }

    // --- Webhook forgery ---
    let payload = json!({"eventNotifications": [{"realmId": GB_REALM, "dataChangeEvent": {"entities": [
        {"name": "Invoice", "id": invoice_a, "operation": "Update", "lastUpdated": Utc::now().to_rfc3339()}
    ]}}]})
    .to_string();
    let verifier = test_credentials().quickbooks_webhook_verifier;
    let right = shared::wire::quickbooks::webhook::sign(verifier.expose(), payload.as_bytes());
    let other_body = shared::wire::quickbooks::webhook::sign(verifier.expose(), b"{}");
    let wrong_key = shared::wire::quickbooks::webhook::sign("not-the-verifier", payload.as_bytes());
    let altered = payload.replace("Update", "Delete");
    for (what, body, signature) in [
        ("no signature", payload.clone(), None),
        ("empty signature", payload.clone(), Some(String::new())),
        (
            "signature of another body",
            payload.clone(),
            Some(other_body),
        ),
        ("signed with another key", payload.clone(), Some(wrong_key)),
        ("altered after signing", altered, Some(right.clone())),
        (
            "not base64",
            payload.clone(),
            Some("!!!not base64!!!".into()),
        ),
        (
            "hex instead of base64",
            payload.clone(),
            Some(
                STANDARD
                    .decode(&right)
                    .unwrap()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            ),
        ),
    ] {
        let mut request = w
            .request("POST", "/webhooks/quickbooks")
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("intuit-signature", signature);
        }
        let a = answer(request.send().await.unwrap()).await;
        tally.refused("webhook", what, &a, &[401]);
    }

    // --- Uninstall callbacks with wrong credentials ---
    let credentials = test_credentials();
    let uninstall_body = json!({
        "client_id": credentials.pipedrive_client_id,
        "company_id": COMPANY_A,
        "user_id": USER_A_ADMIN,
        "timestamp": Utc::now().to_rfc3339(),
    });
    let basic =
        |id: &str, secret: &str| format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    for (what, authorization, body) in [
        ("no credentials", None, uninstall_body.clone()),
        (
            "wrong secret",
            Some(basic(&credentials.pipedrive_client_id, "wrong-secret")),
            uninstall_body.clone(),
        ),
        (
            "wrong client id",
            Some(basic(
                "another-app",
                credentials.pipedrive_client_secret.expose(),
            )),
            uninstall_body.clone(),
        ),
        (
            "the secret as a bearer token",
            Some(format!(
                "Bearer {}",
                credentials.pipedrive_client_secret.expose()
            )),
            uninstall_body.clone(),
        ),
        (
            "a Pipedrive user's JWT",
            Some(format!("Bearer {valid}")),
            uninstall_body.clone(),
        ),
        (
            "right credentials, another app's client id in the body",
            Some(basic(
                &credentials.pipedrive_client_id,
                credentials.pipedrive_client_secret.expose(),
            )),
            json!({"client_id": "another-app", "company_id": COMPANY_A, "user_id": USER_A_ADMIN, "timestamp": Utc::now().to_rfc3339()}),
        ),
        (
            "credentials truncated",
            Some(basic(&credentials.pipedrive_client_id, "")),
            uninstall_body.clone(),
        ),
    ] {
        let mut request = w.request("DELETE", "/oauth/pipedrive/callback").json(&body);
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let a = answer(request.send().await.unwrap()).await;
        tally.refused("uninstall", what, &a, &[400, 401, 403]);
    }

    // --- Bulk: batch ids that are not the page's UUIDs, selections out of bounds ---
    for raw in [
        "..%2F..%2Fsettings",
        "6f1d2c3b-4a59-4e8f-9c0d-1e2f3a4b5c6d%27%20OR%201%3D1",
        "COMPANY%231001",
        "x",
    ] {
        for (method, path) in [
            ("GET", format!("/api/bulk/batches/{raw}")),
            ("POST", format!("/api/bulk/batches/{raw}/run")),
        ] {
            let a = w.call(method, &path, A, None, None).await;
            tally.refused("bulk", &format!("{method} {path}"), &a, &[400, 404]);
        }
    }
    for body in [
        json!({"batch_id": "COMPANY#2002", "deal_ids": [2]}),
        json!({"batch_id": "6f1d2c3b-4a59-4e8f-9c0d-1e2f3a4b5c6d", "deal_ids": []}),
        json!({"batch_id": "6f1d2c3b-4a59-4e8f-9c0d-1e2f3a4b5c6d", "deal_ids": [-1]}),
        json!({"batch_id": "6f1d2c3b-4a59-4e8f-9c0d-1e2f3a4b5c6d", "deal_ids": (1..=500).collect::<Vec<u64>>()}),
        json!({"batch_id": "6f1d2c3b-4a59-4e8f-9c0d-1e2f3a4b5c6d", "deal_ids": [2], "company_id": COMPANY_B}),
        json!({"batch_id": "6f1d2c3b-4a59-4e8f-9c0d-1e2f3a4b5c6d", "deal_ids": [2], "document": "receipt"}),
        json!({"batch_id": "6f1d2c3b-4a59-4e8f-9c0d-1e2f3a4b5c6d", "deal_ids": [2], "document": null}),
    ] {
        let a = w
            .call("POST", "/api/bulk/batches", A, Some(&body), None)
            .await;
        tally.refused(
            "bulk",
            &format!("POST /api/bulk/batches {body}"),
            &a,
            &[400, 422],
        );
    }

    // --- Hostile parts of an accepted estimate: a 422 with a sentence, nothing invoiced ---
    let part_path = format!("/api/deals/1/estimates/{estimate_b}/invoice");
    for (n, body) in [
        json!({"part": {"kind": "percentage", "percent": -30}}),
        json!({"part": {"kind": "percentage", "percent": 0}}),
        json!({"part": {"kind": "percentage", "percent": "100.0001"}}),
        json!({"part": {"kind": "amount", "amount": "-0.01"}}),
        json!({"part": {"kind": "amount", "amount": "0.001"}}),
        json!({"part": {"kind": "amount", "amount": "79228162514264337593543950335"}}),
        json!({"part": {"kind": "amount", "amount": 1e300}}),
        json!({"part": {"kind": "amount", "amount": "NaN"}}),
        json!({"part": {"kind": "lines", "lines": [{"index": 18446744073709551615u64, "quantity": 1}]}}),
        json!({"part": {"kind": "lines", "lines": [{"index": 0, "quantity": "-1"}]}}),
        json!({"part": {"kind": "lines", "lines": []}}),
        json!({"part": {"kind": "rest", "percent": 5}}),
        json!({"part": {"kind": "everything"}}),
        json!({"part": "rest"}),
        json!({"part": {"kind": "rest"}, "confirm_over_invoice": "yes"}),
        json!({"part": {"kind": "rest"}, "admin": true}),
    ]
    .into_iter()
    .enumerate()
    {
        let a = w
            .call("POST", &part_path, B, Some(&body), Some(&format!("hostile-part-{n}")))
            .await;
        tally.refused("part", &format!("estimate part {body}"), &a, &[422]);
    }

    // --- Methods and routes that do not exist ---
    for (method, path) in [
        ("PATCH", "/api/settings"),
        ("DELETE", "/api/settings"),
        ("GET", "/api/admin"),
        ("TRACE", "/api/settings"),
    ] {
        let a = w.call(method, path, A, None, None).await;
        tally.refused("routing", &format!("{method} {path}"), &a, &[404, 405]);
    }

    assert!(
        tally.failures.is_empty(),
        "{} of {} attacks were not refused with a clear 4xx problem:\n{}",
        tally.failures.len(),
        tally.tried,
        tally.failures.join("\n")
    );
    assert_eq!(
        w.snapshot().await,
        before,
        "the store and secrets are unchanged"
    );
    assert_eq!(quickbooks_state(&w), qb_before, "QuickBooks is unchanged");

    // --- Webhook replay: the genuine delivery of a change, then the same delivery again ---
    w.quickbooks
        .record_payment(US_REALM, &invoice_b, None)
        .unwrap();
    let paid = json!({"eventNotifications": [{"realmId": US_REALM, "dataChangeEvent": {"entities": [
        {"name": "Invoice", "id": invoice_b, "operation": "Update", "lastUpdated": Utc::now().to_rfc3339()}
    ]}}]})
    .to_string();
    let signature = shared::wire::quickbooks::webhook::sign(verifier.expose(), paid.as_bytes());
    let deliver = || {
        w.request("POST", "/webhooks/quickbooks")
            .header("content-type", "application/json")
            .header("intuit-signature", signature.clone())
            .body(paid.clone())
            .send()
    };
    let first = answer(deliver().await.unwrap()).await;
    assert_eq!(first.status, 200, "the genuine delivery: {}", first.text);
    let after_first = w.snapshot().await;
    assert!(
        after_first.to_string().contains("\"paid\""),
        "the genuine delivery updated the link to paid: {after_first}"
    );
    for _ in 0..3 {
        let replay = answer(deliver().await.unwrap()).await;
        tally.absorbed("webhook", "replay of a genuine delivery", &replay, &[200]);
        assert_eq!(
            replay.json["redelivered"], true,
            "acknowledged as a redelivery: {}",
            replay.text
        );
    }
    assert_eq!(
        w.snapshot().await,
        after_first,
        "replays change nothing (no duplicate activity, no older state)"
    );

    // --- A customer name full of quotes reaches QuickBooks exactly as typed, once ---
    let hostile_name = r#"O'Brien \ "Quotes" 50% ☃ Ltd"#;
    w.quickbooks.harness().clear_log();
    let created = w
        .call(
            "POST",
            "/api/quickbooks/customers",
            A,
            Some(&json!({"deal_id": 2, "display_name": hostile_name})),
            Some("hostile-name"),
        )
        .await;
    tally.absorbed("injection", "customer named with quotes", &created, &[201]);
    let customers: Vec<_> = w
        .quickbooks
        .customers(GB_REALM)
        .unwrap()
        .into_iter()
        .filter(|c| c.display_name.as_deref() == Some(hostile_name))
        .collect();
    assert_eq!(customers.len(), 1, "created once, named exactly as typed");
    let again = w
        .call(
            "POST",
            "/api/quickbooks/customers",
            A,
            Some(&json!({"deal_id": 2, "display_name": hostile_name})),
            Some("hostile-name-2"),
        )
        .await;
    tally.refused(
        "injection",
        "the same quoted name again (a clash)",
        &again,
        &[409],
    );
    let clash_queries: Vec<String> = w
        .quickbooks
        .harness()
        .requests_matching(None, &format!("/v3/company/{GB_REALM}/query"))
        .iter()
        .map(logged_query)
        .collect();
    assert!(
        clash_queries
            .iter()
            .any(|q| q.contains(&shared::wire::quickbooks::query::quote(hostile_name))),
        "the clash check quoted the name: {clash_queries:#?}"
    );
    assert!(
        w.quickbooks
            .harness()
            .requests_matching(None, "/v3/company/")
            .iter()
            .all(|r| !(r.path.ends_with("/query") && r.status >= 400)),
        "no query fault (4001) from QuickBooks"
    );

    assert!(
        tally.failures.is_empty(),
        "after the replay and create checks:\n{}",
        tally.failures.join("\n")
    );
    println!("attacks by kind: {:?}", tally.by_kind);
    write_counts(
        "hostile",
        json!({"attacks_tried": tally.tried, "by_kind": tally.by_kind}),
    );
}

/// The query statement of a logged QuickBooks request (GET `?query=` or POST body), decoded.
fn logged_query(r: &sandbox::harness::LoggedRequest) -> String {
    let raw = r
        .query
        .as_deref()
        .and_then(|q| {
            q.split('&')
                .find_map(|pair| pair.strip_prefix("query="))
                .map(str::to_string)
        })
        .unwrap_or_else(|| r.body.clone());
    form_decode(&raw)
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or(""),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
