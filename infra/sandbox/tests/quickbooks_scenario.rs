//! End-to-end scenarios over HTTP: connect, customer, invoice, payment, CDC, void, delete and
//! webhooks; token rotation and revocation; idempotency; documented faults; throttling.

mod quickbooks_support;

use std::time::Duration;

use quickbooks_support::*;
use reqwest::StatusCode;
use rust_decimal_macros::dec;
use sandbox::harness::Knobs;
use sandbox::quickbooks::{
    GB_REALM, QuickBooksConfig, ThrottleConfig, US_REALM, WebhookConfig, WebhookFormat,
};
use serde_json::{Value, json};
use shared::wire::quickbooks::model::{CdcResponseEnvelope, InvoiceEnvelope};
use shared::wire::quickbooks::webhook::{Operation, WebhookPayload, verify};

fn path(realm: &str, rest: &str) -> String {
    format!("/v3/company/{realm}/{rest}?minorversion=75")
}

async fn cdc(
    qbo: &Qbo,
    token: &str,
    realm: &str,
    entities: &str,
    since: &str,
) -> (StatusCode, Value) {
    let response = qbo
        .http
        .get(qbo.url(&format!("/v3/company/{realm}/cdc")))
        .query(&[
            ("entities", entities),
            ("changedSince", since),
            ("minorversion", "75"),
        ])
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn connect_invoice_pay_cdc_void_delete_with_webhooks() {
    let receiver = Receiver::default();
    let (_hooks, hook_url) = receiver.start().await;
    let qbo = Qbo::start().await;
    let verifier = "scenario-verifier";
    let control = qbo
        .http
        .put(qbo.url("/_sim/webhooks/config"))
        .json(&json!({"url": hook_url, "verifier_token": verifier, "format": "legacy", "batch_ms": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(control.status(), StatusCode::OK);
    let realm = US_REALM;
    let started = (qbo.sim.now() - chrono::Duration::seconds(5)).to_rfc3339();

    // Connect.
    let (tokens, callback) = qbo.connect(realm).await;
    assert_eq!(callback["state"], "csrf-123");
    assert_eq!(callback["realmId"], realm);
    let token = tokens.access_token.clone();

    // Customer in a foreign currency (multi-currency company).
    let (status, customer) = qbo
        .post(
            &token,
            &path(realm, "customer"),
            &json!({"DisplayName": "Scenario GmbH", "CurrencyRef": {"value": "EUR"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{customer}");
    let customer_id = customer["Customer"]["Id"].as_str().unwrap().to_string();
    assert_eq!(customer["Customer"]["CurrencyRef"]["value"], "EUR");

    // Invoice: 2 × 150 EUR.
    let (status, created) = qbo
        .post(
            &token,
            &path(realm, "invoice"),
            &json!({
                "CustomerRef": {"value": customer_id},
                "CurrencyRef": {"value": "EUR"},
                "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 300.0, "Description": "Consulting",
                          "SalesItemLineDetail": {"ItemRef": {"value": "3"}, "Qty": 2, "UnitPrice": 150}}]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let inv: InvoiceEnvelope = serde_json::from_value(created.clone()).unwrap();
    let inv = inv.invoice;
    let id = inv.id.clone().unwrap();
    assert_eq!(inv.total_amt, Some(dec!(300)));
    assert_eq!(inv.exchange_rate, Some(dec!(1.09)));
    assert_eq!(inv.home_total_amt, Some(dec!(327)));
    assert_eq!(inv.doc_number.as_deref(), Some("1001"));
    let due_days = (inv.due_date.unwrap() - inv.txn_date.unwrap()).num_days();
    assert_eq!(due_days, 30, "default Net 30");

    // Partial payment "in QuickBooks".
    let paid = qbo
        .http
        .post(qbo.url(&format!("/_sim/realms/{realm}/payments")))
        .json(&json!({"invoice_id": id, "amount": 100.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::OK);
    let payment: Value = paid.json().await.unwrap();
    let payment_id = payment["Id"].as_str().unwrap().to_string();
    let (_, after_payment) = qbo
        .get(&token, &path(realm, &format!("invoice/{id}")))
        .await;
    assert_eq!(after_payment["Invoice"]["Balance"], json!(200.0));
    assert_eq!(
        after_payment["Invoice"]["LinkedTxn"],
        json!([{"TxnId": payment_id, "TxnType": "Payment"}])
    );
    let sync_token = after_payment["Invoice"]["SyncToken"]
        .as_str()
        .unwrap()
        .to_string();

    // CDC shows the payment and the invoice change.
    let (status, changes) = cdc(&qbo, &token, realm, "Invoice,Payment", &started).await;
    assert_eq!(status, StatusCode::OK, "{changes}");
    let changes: CdcResponseEnvelope = serde_json::from_value(changes).unwrap();
    let invoice = changes
        .invoices()
        .find(|i| i.id.as_deref() == Some(id.as_str()))
        .unwrap();
    assert_eq!(invoice.balance, Some(dec!(200)));
    let payment = changes.payments().next().unwrap();
    assert_eq!(payment.id.as_deref(), Some(payment_id.as_str()));
    assert_eq!(payment.total_amt, Some(dec!(100)));

    // Stale SyncToken → 5010.
    let (status, stale) = qbo
        .post(
            &token,
            &format!("{}&operation=void", path(realm, "invoice")),
            &json!({"Id": id, "SyncToken": "0"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fault_code(&stale), "5010");

    // Void.
    let (status, voided) = qbo
        .post(
            &token,
            &format!("{}&operation=void", path(realm, "invoice")),
            &json!({"Id": id, "SyncToken": sync_token}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{voided}");
    assert_eq!(voided["Invoice"]["TotalAmt"], json!(0.0));
    assert_eq!(voided["Invoice"]["Balance"], json!(0.0));
    assert_eq!(voided["Invoice"]["PrivateNote"], "Voided");
    assert_eq!(voided["Invoice"]["LinkedTxn"], json!([]));

    // Delete, then 610.
    let (status, deleted) = qbo
        .post(
            &token,
            &format!("{}&operation=delete", path(realm, "invoice")),
            &json!({"Id": id, "SyncToken": voided["Invoice"]["SyncToken"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["Invoice"]["status"], "Deleted");
    let (status, gone) = qbo
        .get(&token, &path(realm, &format!("invoice/{id}")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fault_code(&gone), "610");
    let (status, again) = qbo
        .post(
            &token,
            &format!("{}&operation=delete", path(realm, "invoice")),
            &json!({"Id": id, "SyncToken": "9"}),
        )
        .await;
    assert_eq!(
        (status, fault_code(&again)),
        (StatusCode::BAD_REQUEST, "610")
    );
    let (_, changes) = cdc(&qbo, &token, realm, "Invoice", &started).await;
    let changes: CdcResponseEnvelope = serde_json::from_value(changes).unwrap();
    assert!(
        changes
            .invoices()
            .any(|i| i.id.as_deref() == Some(id.as_str()) && i.is_deleted())
    );
    let (_, listed) = qbo
        .query(
            &token,
            realm,
            &format!("select * from Invoice where Id = '{id}'"),
        )
        .await;
    assert_eq!(
        listed["QueryResponse"],
        json!({}),
        "deleted invoices are not returned by queries"
    );

    // Webhooks: flushed on demand, legacy format, signed.
    let flushed = qbo
        .http
        .post(qbo.url("/_sim/webhooks/flush"))
        .send()
        .await
        .unwrap();
    let deliveries: Value = flushed.json().await.unwrap();
    assert_eq!(deliveries[0]["status"], 200);
    let received = receiver.all();
    assert_eq!(received.len(), 1);
    assert!(verify(
        verifier,
        &received[0].body,
        received[0].signature.as_deref().unwrap()
    ));
    let events: Vec<(String, String, Operation)> = WebhookPayload::parse(&received[0].body)
        .unwrap()
        .changes()
        .into_iter()
        .inspect(|c| assert_eq!(c.realm_id, realm))
        .map(|c| (c.entity, c.entity_id, c.operation))
        .collect();
    let expected = vec![
        (
            "Customer".to_string(),
            customer_id.clone(),
            Operation::Create,
        ),
        ("Invoice".to_string(), id.clone(), Operation::Create),
        ("Payment".to_string(), payment_id.clone(), Operation::Create),
        ("Invoice".to_string(), id.clone(), Operation::Update),
        ("Payment".to_string(), payment_id.clone(), Operation::Update),
        ("Invoice".to_string(), id.clone(), Operation::Void),
        ("Invoice".to_string(), id.clone(), Operation::Delete),
    ];
    assert_eq!(events, expected);
}

#[tokio::test]
async fn refresh_tokens_rotate_with_a_24_hour_grace() {
    let qbo = Qbo::start().await;
    let (first, callback) = qbo.connect(US_REALM).await;

    // A replayed authorization code is refused.
    let redirect = qbo.sim.config().redirect_uris[0].clone();
    let (status, replay) = qbo
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &callback["code"]),
            ("redirect_uri", &redirect),
        ])
        .await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Rotation.
    let (status, second) = qbo
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first.refresh_token),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_rt = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second_rt, first.refresh_token);
    assert_eq!(second["expires_in"], 3600);

    // The previous refresh token keeps working for 24 hours…
    qbo.sim.advance_clock(23 * 3600);
    let (status, _) = qbo
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first.refresh_token),
        ])
        .await;
    assert_eq!(status, StatusCode::OK);
    // …then invalid_grant, while the newest one still works.
    qbo.sim.advance_clock(3600 + 1);
    let (status, expired) = qbo
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first.refresh_token),
        ])
        .await;
    assert_eq!(
        (status, expired["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, third) = qbo
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &second_rt),
        ])
        .await;
    assert_eq!(status, StatusCode::OK);
    let access = third["access_token"].as_str().unwrap().to_string();
    let third_rt = third["refresh_token"].as_str().unwrap().to_string();

    // Access tokens last 3600 s.
    let (status, _) = qbo.get(&access, &path(US_REALM, "preferences")).await;
    assert_eq!(status, StatusCode::OK);
    qbo.sim.advance_clock(3600);
    let (status, body) = qbo.get(&access, &path(US_REALM, "preferences")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["fault"]["error"][0]["code"], "3200");

    // A token of another company is refused.
    let other = qbo.sim.issue_tokens(GB_REALM).unwrap().access_token;
    let (status, _) = qbo.get(&other, &path(US_REALM, "preferences")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Wrong client credentials.
    let response = qbo
        .http
        .post(qbo.url("/oauth2/v1/tokens/bearer"))
        .basic_auth("sim-client-id", Some("wrong"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", third_rt.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Disconnecting the app in QuickBooks revokes everything.
    let response = qbo
        .http
        .post(qbo.url(&format!("/_sim/realms/{US_REALM}/disconnect")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, revoked) = qbo
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &third_rt),
        ])
        .await;
    assert_eq!(
        (status, revoked["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // The revoke endpoint (JSON body, Basic auth) does the same.
    let (fresh, _) = qbo.connect(US_REALM).await;
    let config = qbo.sim.config().clone();
    let response = qbo
        .http
        .post(qbo.url("/oauth2/v1/tokens/revoke"))
        .basic_auth(&config.client_id, Some(&config.client_secret))
        .json(&json!({"token": fresh.refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _) = qbo
        .get(&fresh.access_token, &path(US_REALM, "preferences"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = qbo
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &fresh.refresh_token),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn consent_page_and_access_denied() {
    let mut config = test_config();
    config.auto_approve = false;
    let qbo = Qbo::start_with(config.clone()).await;
    let params = [
        ("client_id", config.client_id.as_str()),
        ("response_type", "code"),
        ("scope", "com.intuit.quickbooks.accounting"),
        ("redirect_uri", config.redirect_uris[0].as_str()),
        ("state", "s1"),
    ];
    let page = qbo
        .http
        .get(qbo.url("/connect/oauth2"))
        .query(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(">Connect</button>") && html.contains(US_REALM));
    let mut approve: Vec<(&str, &str)> = params.to_vec();
    approve.push(("realm_id", GB_REALM));
    let redirect = qbo
        .http
        .get(qbo.url("/connect/oauth2/approve"))
        .query(&approve)
        .send()
        .await
        .unwrap();
    let location = redirect.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.contains(&format!("realmId={GB_REALM}"))
            && location.contains("state=s1")
            && location.contains("code=")
    );
    let denied = qbo
        .http
        .get(qbo.url("/connect/oauth2/deny"))
        .query(&params)
        .send()
        .await
        .unwrap();
    let location = denied.headers()["location"].to_str().unwrap();
    assert!(location.contains("error=access_denied"));
    // Unregistered redirect URI: an error page, no redirect.
    let bad = [
        ("client_id", config.client_id.as_str()),
        ("response_type", "code"),
        ("scope", "com.intuit.quickbooks.accounting"),
        ("redirect_uri", "https://evil.example/cb"),
        ("state", "s"),
    ];
    let response = qbo
        .http
        .get(qbo.url("/connect/oauth2"))
        .query(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn requestid_makes_writes_idempotent() {
    let qbo = Qbo::start().await;
    let token = qbo
        .sim
        .issue_tokens(US_SINGLE_CURRENCY_REALM)
        .unwrap()
        .access_token;
    let url = format!(
        "{}&requestid=6f1c7a2e-0d6b-4b8e-9d0c-1f2e3d4c5b6a",
        path(US_SINGLE_CURRENCY_REALM, "invoice")
    );
    let body = fixture("invoice-create-request-minimal.json");
    let (s1, first) = qbo.post(&token, &url, &body).await;
    let (s2, second) = qbo.post(&token, &url, &body).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first, second, "the same answer, byte for byte");
    assert_eq!(
        qbo.sim.invoices(US_SINGLE_CURRENCY_REALM).unwrap().len(),
        1,
        "no second write"
    );
    // A different request id writes again.
    let (_, third) = qbo
        .post(
            &token,
            &format!(
                "{}&requestid=other",
                path(US_SINGLE_CURRENCY_REALM, "invoice")
            ),
            &body,
        )
        .await;
    assert_ne!(third["Invoice"]["Id"], first["Invoice"]["Id"]);
    // Failures are replayed too.
    let dup = json!({"DisplayName": "O'Brien & Sons"});
    let url = format!(
        "{}&requestid=dup-1",
        path(US_SINGLE_CURRENCY_REALM, "customer")
    );
    let (a, fa) = qbo.post(&token, &url, &dup).await;
    let (b, fb) = qbo.post(&token, &url, &dup).await;
    assert_eq!((a, b), (StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST));
    assert_eq!(fa, fb);
}

#[tokio::test]
async fn documented_validation_faults() {
    let qbo = Qbo::start().await;
    let us = qbo.sim.issue_tokens(US_REALM).unwrap().access_token;
    let gb = qbo.sim.issue_tokens(GB_REALM).unwrap().access_token;

    // 6240: DisplayName unique (case-insensitive), also on update.
    let (status, dup) = qbo
        .post(
            &us,
            &path(US_REALM, "customer"),
            &json!({"DisplayName": "o'brien & sons"}),
        )
        .await;
    assert_eq!(
        (status, fault_code(&dup)),
        (StatusCode::BAD_REQUEST, "6240")
    );
    assert_eq!(
        dup["Fault"]["Error"][0]["Message"],
        "Duplicate Name Exists Error"
    );
    let (_, acme) = qbo.get(&us, &path(US_REALM, "customer/3")).await;
    let (status, dup) = qbo
        .post(&us, &path(US_REALM, "customer"), &json!({"Id": "3", "SyncToken": acme["Customer"]["SyncToken"], "sparse": true, "DisplayName": "Amy's Bird Sanctuary"}))
        .await;
    assert_eq!(
        (status, fault_code(&dup)),
        (StatusCode::BAD_REQUEST, "6240")
    );

    // Customer currency is fixed once set.
    let (status, fixed) = qbo
        .post(
            &us,
            &path(US_REALM, "customer"),
            &json!({"Id": "3", "SyncToken": "0", "sparse": true, "CurrencyRef": {"value": "EUR"}}),
        )
        .await;
    assert_eq!(
        (status, fault_code(&fixed)),
        (StatusCode::BAD_REQUEST, "6000")
    );
    let (status, ok) = qbo
        .post(
            &us,
            &path(US_REALM, "customer"),
            &json!({"Id": "3", "SyncToken": "0", "sparse": true, "Notes": "VIP"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(ok["Customer"]["SyncToken"], "1");
    assert_eq!(ok["Customer"]["DisplayName"], "Acme Corp");

    let line = |item: &str, amount: f64| json!({"DetailType": "SalesItemLineDetail", "Amount": amount, "SalesItemLineDetail": {"ItemRef": {"value": item}}});

    // Multi-currency on: CurrencyRef required, and it must be the customer's.
    let (status, missing) = qbo
        .post(
            &us,
            &path(US_REALM, "invoice"),
            &json!({"CustomerRef": {"value": "1"}, "Line": [line("1", 10.0)]}),
        )
        .await;
    assert_eq!(
        (status, fault_code(&missing)),
        (StatusCode::BAD_REQUEST, "2020")
    );
    let (status, wrong) = qbo
        .post(&us, &path(US_REALM, "invoice"), &json!({"CustomerRef": {"value": "4"}, "CurrencyRef": {"value": "USD"}, "Line": [line("1", 10.0)]}))
        .await;
    assert_eq!(
        (status, fault_code(&wrong)),
        (StatusCode::BAD_REQUEST, "6000"),
        "customer 4 bills in EUR"
    );
    // Inactive item → 610; unknown item → 2500; no lines → 2020; no customer → 2020.
    let (_, inactive) = qbo
        .post(&us, &path(US_REALM, "invoice"), &json!({"CustomerRef": {"value": "1"}, "CurrencyRef": {"value": "USD"}, "Line": [line("6", 10.0)]}))
        .await;
    assert_eq!(fault_code(&inactive), "610");
    let (_, unknown) = qbo
        .post(&us, &path(US_REALM, "invoice"), &json!({"CustomerRef": {"value": "1"}, "CurrencyRef": {"value": "USD"}, "Line": [line("99", 10.0)]}))
        .await;
    assert_eq!(fault_code(&unknown), "2500");
    let (_, no_lines) = qbo
        .post(
            &us,
            &path(US_REALM, "invoice"),
            &json!({"CustomerRef": {"value": "1"}, "CurrencyRef": {"value": "USD"}}),
        )
        .await;
    assert_eq!(fault_code(&no_lines), "2020");
    let (_, no_customer) = qbo
        .post(
            &us,
            &path(US_REALM, "invoice"),
            &json!({"CurrencyRef": {"value": "USD"}, "Line": [line("1", 1.0)]}),
        )
        .await;
    assert_eq!(fault_code(&no_customer), "2020");

    // Multi-currency off (GB): only the home currency.
    let vat_line = json!({"DetailType": "SalesItemLineDetail", "Amount": 100.0,
                          "SalesItemLineDetail": {"ItemRef": {"value": "3"}, "TaxCodeRef": {"value": "2"}}});
    let (_, foreign) = qbo
        .post(&gb, &path(GB_REALM, "invoice"), &json!({"CustomerRef": {"value": "1"}, "CurrencyRef": {"value": "USD"}, "GlobalTaxCalculation": "TaxExcluded", "Line": [vat_line]}))
        .await;
    assert_eq!(fault_code(&foreign), "6000");

    // 6000: non-US companies need GlobalTaxCalculation and a TaxCodeRef on every line.
    let (status, no_gtc) = qbo
        .post(
            &gb,
            &path(GB_REALM, "invoice"),
            &json!({"CustomerRef": {"value": "1"}, "Line": [vat_line]}),
        )
        .await;
    assert_eq!(
        (status, fault_code(&no_gtc)),
        (StatusCode::BAD_REQUEST, "6000")
    );
    let (_, no_code) = qbo
        .post(&gb, &path(GB_REALM, "invoice"), &json!({"CustomerRef": {"value": "1"}, "GlobalTaxCalculation": "TaxExcluded", "Line": [line("3", 100.0)]}))
        .await;
    assert_eq!(fault_code(&no_code), "6000");

    // VAT exclusive: 100 + 20 %.
    let (status, excl) = qbo
        .post(&gb, &path(GB_REALM, "invoice"), &json!({"CustomerRef": {"value": "1"}, "GlobalTaxCalculation": "TaxExcluded", "DocNumber": "GB-1", "Line": [vat_line]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{excl}");
    assert_eq!(excl["Invoice"]["TxnTaxDetail"]["TotalTax"], json!(20.0));
    assert_eq!(excl["Invoice"]["TotalAmt"], json!(120.0));
    assert_eq!(
        excl["Invoice"]["DocNumber"], "GB-1",
        "custom transaction numbers on"
    );

    // VAT inclusive: 99.99 gross at 20 % → 83.33 net + 16.66 VAT; total stays 99.99.
    let incl_line = json!({"DetailType": "SalesItemLineDetail", "Amount": 99.99,
                           "SalesItemLineDetail": {"ItemRef": {"value": "3"}, "TaxCodeRef": {"value": "2"}}});
    let (status, incl) = qbo
        .post(&gb, &path(GB_REALM, "invoice"), &json!({"CustomerRef": {"value": "1"}, "GlobalTaxCalculation": "TaxInclusive", "DocNumber": "GB-2", "Line": [incl_line]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{incl}");
    assert_eq!(incl["Invoice"]["Line"][0]["Amount"], json!(83.33));
    assert_eq!(
        incl["Invoice"]["Line"][0]["SalesItemLineDetail"]["TaxInclusiveAmt"],
        json!(99.99)
    );
    assert_eq!(incl["Invoice"]["TxnTaxDetail"]["TotalTax"], json!(16.66));
    assert_eq!(incl["Invoice"]["TotalAmt"], json!(99.99));

    // 6140: duplicate DocNumber unless include=allowduplicatedocnum.
    let dup_doc = json!({"CustomerRef": {"value": "1"}, "GlobalTaxCalculation": "NotApplicable", "DocNumber": "GB-1", "Line": [line("3", 5.0)]});
    let (_, dup) = qbo.post(&gb, &path(GB_REALM, "invoice"), &dup_doc).await;
    assert_eq!(fault_code(&dup), "6140");
    let (status, _) = qbo
        .post(
            &gb,
            &format!("{}&include=allowduplicatedocnum", path(GB_REALM, "invoice")),
            &dup_doc,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // US tax: half-away-from-zero rounding on the summed taxable amount (8 % of 10.5625 = 0.845).
    let (status, rounded) = qbo
        .post(
            &us,
            &path(US_REALM, "invoice"),
            &json!({"CustomerRef": {"value": "1"}, "CurrencyRef": {"value": "USD"}, "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "2"}},
                    "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 10.56,
                              "SalesItemLineDetail": {"ItemRef": {"value": "4"}, "Qty": 0.5, "UnitPrice": 21.125, "TaxCodeRef": {"value": "TAX"}}}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rounded}");
    assert_eq!(
        rounded["Invoice"]["Line"][0]["Amount"],
        json!(10.56),
        "0.5 × 21.125 = 10.5625 → 10.56"
    );
    assert_eq!(
        rounded["Invoice"]["TxnTaxDetail"]["TotalTax"],
        json!(0.84),
        "8 % of 10.56 = 0.8448"
    );
    let (status, half) = qbo
        .post(
            &us,
            &path(US_REALM, "invoice"),
            &json!({"CustomerRef": {"value": "1"}, "CurrencyRef": {"value": "USD"}, "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "2"}},
                    "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 0.0,
                              "SalesItemLineDetail": {"ItemRef": {"value": "4"}, "Qty": 1, "UnitPrice": 10.5625, "TaxCodeRef": {"value": "TAX"}}}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(half["Invoice"]["Line"][0]["Amount"], json!(10.56));

    // Send to an invalid address.
    let id = rounded["Invoice"]["Id"].as_str().unwrap();
    let response = qbo
        .http
        .post(qbo.url(&format!(
            "/v3/company/{US_REALM}/invoice/{id}/send?sendTo=not-an-email"
        )))
        .bearer_auth(&us)
        .header("content-type", "application/octet-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(fault_code(&body), "6000");

    // include=invoiceLink.
    let (_, linked) = qbo
        .get(
            &us,
            &format!(
                "{}&include=invoiceLink",
                path(US_REALM, &format!("invoice/{id}"))
            ),
        )
        .await;
    let link = linked["Invoice"]["InvoiceLink"].as_str().unwrap();
    assert!(link.contains(&format!("/_sim/pay/{US_REALM}/{id}")));
    let (_, plain) = qbo
        .get(&us, &path(US_REALM, &format!("invoice/{id}")))
        .await;
    assert!(plain["Invoice"].get("InvoiceLink").is_none());

    // CDC window: at most 30 days back.
    let old = (qbo.sim.now() - chrono::Duration::days(31))
        .format("%Y-%m-%d")
        .to_string();
    let (status, too_old) = cdc(&qbo, &us, US_REALM, "Invoice", &old).await;
    assert_eq!(
        (status, fault_code(&too_old)),
        (StatusCode::BAD_REQUEST, "6000")
    );
}

#[tokio::test]
async fn throttling_per_minute_and_concurrency() {
    let mut config: QuickBooksConfig = test_config();
    config.throttle = ThrottleConfig {
        per_minute: 500,
        concurrent: 10,
    };
    let qbo = Qbo::start_with(config).await;
    let token = qbo.sim.issue_tokens(US_REALM).unwrap().access_token;
    let url = path(US_REALM, "preferences");
    for i in 0..500 {
        let (status, _) = qbo.get(&token, &url).await;
        assert_eq!(status, StatusCode::OK, "request {i}");
    }
    let (status, body) = qbo.get(&token, &url).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(fault_code(&body), "3001");
    assert_eq!(body["Fault"]["type"], "SERVICE");
    // Other companies are not affected.
    let gb = qbo.sim.issue_tokens(GB_REALM).unwrap().access_token;
    let (status, _) = qbo.get(&gb, &path(GB_REALM, "preferences")).await;
    assert_eq!(status, StatusCode::OK);
    // A minute later (simulator clock) the window has moved on.
    qbo.sim.advance_clock(61);
    let token = qbo.sim.issue_tokens(US_REALM).unwrap().access_token;
    let (status, _) = qbo.get(&token, &url).await;
    assert_eq!(status, StatusCode::OK);

    // 10 concurrent requests at most: slow responses down and send 15 at once.
    qbo.sim.harness().set_knobs(Knobs {
        latency_ms: 1500,
        ..Knobs::default()
    });
    let calls = (0..15).map(|_| {
        let http = qbo.http.clone();
        let full = qbo.url(&path(GB_REALM, "preferences"));
        let gb = gb.clone();
        async move {
            http.get(full)
                .bearer_auth(gb)
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures::future::join_all(calls).await;
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!((ok, throttled), (10, 5), "{statuses:?}");
}

#[tokio::test]
async fn cloudevents_webhooks_are_batched_by_the_background_sender() {
    let receiver = Receiver::default();
    let (_hooks, url) = receiver.start().await;
    let qbo = Qbo::start().await;
    qbo.sim.set_webhook_config(WebhookConfig {
        url: Some(url),
        verifier_token: "ce-token".into(),
        format: WebhookFormat::CloudEvents,
        batch_ms: 100,
    });
    let token = qbo
        .sim
        .issue_tokens(US_SINGLE_CURRENCY_REALM)
        .unwrap()
        .access_token;
    let (_, inv) = qbo
        .post(
            &token,
            &path(US_SINGLE_CURRENCY_REALM, "invoice"),
            &fixture("invoice-create-request-minimal.json"),
        )
        .await;
    let id = inv["Invoice"]["Id"].as_str().unwrap().to_string();
    qbo.sim
        .record_payment(US_SINGLE_CURRENCY_REALM, &id, None)
        .unwrap();
    let mut received = Vec::new();
    for _ in 0..50 {
        received = receiver.all();
        let total: usize = received
            .iter()
            .map(|r| WebhookPayload::parse(&r.body).unwrap().changes().len())
            .sum();
        if total >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let changes: Vec<_> = received
        .iter()
        .flat_map(|r| {
            assert!(verify("ce-token", &r.body, r.signature.as_deref().unwrap()));
            WebhookPayload::parse(&r.body).unwrap().changes()
        })
        .collect();
    let kinds: Vec<(String, Operation)> = changes
        .iter()
        .map(|c| (c.entity.clone(), c.operation.clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("Invoice".to_string(), Operation::Create),
            ("Payment".to_string(), Operation::Create),
            ("Invoice".to_string(), Operation::Update)
        ]
    );
    assert!(
        changes
            .iter()
            .all(|c| c.realm_id == US_SINGLE_CURRENCY_REALM)
    );
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body[0]["type"], "qbo.invoice.created.v1");
}
