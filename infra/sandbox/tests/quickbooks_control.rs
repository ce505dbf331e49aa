//! The control API (`/_sim/…`) and the harness integration: UI actions, listing, knobs, request
//! log, clock, reset, realm seeding.

mod quickbooks_support;

use quickbooks_support::*;
use reqwest::StatusCode;
use sandbox::quickbooks::{GB_REALM, US_REALM};
use serde_json::{Value, json};

async fn control(
    qbo: &Qbo,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = qbo.http.request(method, qbo.url(path));
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn ui_actions_listing_and_tokens() {
    let qbo = Qbo::start().await;
    let (status, realms) = control(&qbo, reqwest::Method::GET, "/_sim/realms", None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = realms
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["realm_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&US_REALM) && ids.contains(&GB_REALM));
    let gb = realms
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["realm_id"] == GB_REALM)
        .unwrap();
    assert_eq!(
        (gb["multi_currency"].as_bool(), gb["home_currency"].as_str()),
        (Some(false), Some("GBP"))
    );

    // Tokens without the redirect dance.
    let (status, tokens) = control(
        &qbo,
        reqwest::Method::POST,
        &format!("/_sim/realms/{GB_REALM}/tokens"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let token = tokens["access_token"].as_str().unwrap().to_string();

    // A customer typed into QuickBooks, then an invoice via the API.
    let (status, customer) = control(
        &qbo,
        reqwest::Method::POST,
        &format!("/_sim/realms/{GB_REALM}/customers"),
        Some(json!({"DisplayName": "UI Customer"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{customer}");
    let (status, created) = qbo
        .post(
            &token,
            &format!("/v3/company/{GB_REALM}/invoice"),
            &json!({"CustomerRef": {"value": customer["Id"]}, "GlobalTaxCalculation": "TaxExcluded",
                    "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 10.0,
                              "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "TaxCodeRef": {"value": "3"}}}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["Invoice"]["Id"].as_str().unwrap().to_string();
    assert_eq!(
        created["Invoice"]["TotalAmt"],
        json!(10.5),
        "5 % reduced rate"
    );
    assert!(
        created["Invoice"]["DocNumber"].as_str().is_some(),
        "auto-numbered when omitted"
    );

    // Due date changed in the UI.
    let (status, changed) = control(
        &qbo,
        reqwest::Method::POST,
        &format!("/_sim/realms/{GB_REALM}/invoices/{id}/due-date"),
        Some(json!({"due_date": "2099-12-31"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let (_, read) = qbo
        .get(&token, &format!("/v3/company/{GB_REALM}/invoice/{id}"))
        .await;
    assert_eq!(read["Invoice"]["DueDate"], "2099-12-31");
    assert_eq!(read["Invoice"]["SyncToken"], "1");

    // Full payment, listed.
    let (status, _) = control(
        &qbo,
        reqwest::Method::POST,
        &format!("/_sim/realms/{GB_REALM}/payments"),
        Some(json!({"invoice_id": id})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, payments) = control(
        &qbo,
        reqwest::Method::GET,
        &format!("/_sim/realms/{GB_REALM}/payments"),
        None,
    )
    .await;
    assert_eq!(payments[0]["TotalAmt"], json!(10.5));
    let (status, over) = control(
        &qbo,
        reqwest::Method::POST,
        &format!("/_sim/realms/{GB_REALM}/payments"),
        Some(json!({"invoice_id": id, "amount": 1.0})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "nothing left to pay: {over}"
    );
    let (_, customers) = control(
        &qbo,
        reqwest::Method::GET,
        &format!("/_sim/realms/{GB_REALM}/customers"),
        None,
    )
    .await;
    assert!(
        customers
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["DisplayName"] == "UI Customer")
    );

    // Void and delete in the UI.
    let (status, voided) = control(
        &qbo,
        reqwest::Method::POST,
        &format!("/_sim/realms/{GB_REALM}/invoices/{id}/void"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(voided["PrivateNote"], "Voided");
    let (status, _) = control(
        &qbo,
        reqwest::Method::POST,
        &format!("/_sim/realms/{GB_REALM}/invoices/{id}/delete"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = control(
        &qbo,
        reqwest::Method::GET,
        &format!("/_sim/realms/{GB_REALM}/invoices"),
        None,
    )
    .await;
    assert_eq!(listed["Invoice"], json!([]));
    assert_eq!(listed["deleted"], json!([id]));
    let (status, missing) = control(
        &qbo,
        reqwest::Method::GET,
        &format!("/_sim/realms/{GB_REALM}/invoices/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(missing["Fault"]["Error"][0]["code"], "610");
    let (status, _) = control(
        &qbo,
        reqwest::Method::GET,
        "/_sim/realms/nope/invoices",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Seed a new realm, then reset back to the configured ones.
    let (status, _) = control(
        &qbo,
        reqwest::Method::POST,
        "/_sim/realms",
        Some(json!({"realm_id": "4620816365", "company_name": "Extra", "country": "GB", "multi_currency": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(qbo.sim.realm_ids().contains(&"4620816365".to_string()));
    let (status, _) = control(&qbo, reqwest::Method::POST, "/_sim/reset", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!qbo.sim.realm_ids().contains(&"4620816365".to_string()));
    assert!(qbo.sim.invoices(GB_REALM).unwrap().is_empty());
    let (status, _) = qbo
        .get(&token, &format!("/v3/company/{GB_REALM}/preferences"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "reset forgets tokens");
}

#[tokio::test]
async fn knobs_request_log_and_clock() {
    let qbo = Qbo::start().await;
    let token = qbo.sim.issue_tokens(US_REALM).unwrap().access_token;
    let (status, _) = control(
        &qbo,
        reqwest::Method::PUT,
        "/_sim/knobs",
        Some(json!({"faults": {"/v3/company/": {"force_500": 1}}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = qbo
        .get(&token, &format!("/v3/company/{US_REALM}/preferences"))
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(fault_code(&body), "10000");
    let (status, _) = qbo
        .get(
            &token,
            &format!("/v3/company/{US_REALM}/companyinfo/{US_REALM}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, log) = control(&qbo, reqwest::Method::GET, "/_sim/requests", None).await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2, "control requests are not logged");
    assert_eq!(log[0]["status"], 500);
    assert_eq!(
        log[1]["path"],
        format!("/v3/company/{US_REALM}/companyinfo/{US_REALM}")
    );
    let (status, _) = control(&qbo, reqwest::Method::DELETE, "/_sim/requests", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(qbo.sim.harness().requests().is_empty());

    let before = qbo.sim.now();
    let (_, clock) = control(
        &qbo,
        reqwest::Method::POST,
        "/_sim/clock/advance",
        Some(json!({"seconds": 86400})),
    )
    .await;
    let after: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(clock["now"].clone()).unwrap();
    assert!(after - before >= chrono::Duration::seconds(86400));

    // The access token expired with the clock; a new one is needed.
    let (status, _) = qbo
        .get(&token, &format!("/v3/company/{US_REALM}/preferences"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let token = qbo.sim.issue_tokens(US_REALM).unwrap().access_token;

    // Unknown API paths answer a fault, not a bare 404.
    let (status, body) = qbo
        .get(&token, &format!("/v3/company/{US_REALM}/salesreceipt/1"))
        .await;
    assert_eq!(
        (status, fault_code(&body)),
        (StatusCode::BAD_REQUEST, "500")
    );
    // Malformed JSON.
    let response = qbo
        .http
        .post(qbo.url(&format!("/v3/company/{US_REALM}/invoice")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(fault_code(&body), "2010");
}
