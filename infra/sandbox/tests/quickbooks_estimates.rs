//! Estimates in the simulator: create, read, query, sparse update with SyncToken, send, PDF,
//! CDC and webhook events, the customer's answer entered in the UI (control API), an invoice
//! made from the estimate closing it, delete.

mod quickbooks_support;

use quickbooks_support::*;
use reqwest::StatusCode;
use sandbox::quickbooks::US_REALM;
use serde_json::{Value, json};
use shared::wire::quickbooks::webhook::Operation;

fn path(rest: &str) -> String {
    format!("/v3/company/{US_REALM}/{rest}?minorversion=75")
}

fn line(item: &str, amount: f64) -> Value {
    json!({"DetailType": "SalesItemLineDetail", "Amount": amount,
           "SalesItemLineDetail": {"ItemRef": {"value": item}, "Qty": 1, "UnitPrice": amount}})
}

#[tokio::test]
async fn an_estimate_lives_from_pending_to_closed() {
    let qbo = Qbo::start().await;
    let (tokens, _) = qbo.connect(US_REALM).await;
    let token = tokens.access_token.clone();
    let since = (qbo.sim.now() - chrono::Duration::seconds(1)).to_rfc3339();

    let (status, created) = qbo
        .post(
            &token,
            &path("estimate"),
            &json!({"CustomerRef": {"value": "1"}, "CurrencyRef": {"value": "USD"},
                    "TxnDate": "2026-01-10", "ExpirationDate": "2026-02-09",
                    "CustomerMemo": {"value": "Valid 30 days"},
                    "BillEmail": {"Address": "buyer@example.com"},
                    "Line": [line("1", 100.0), line("1", 25.5)]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let e = &created["Estimate"];
    let id = e["Id"].as_str().unwrap().to_string();
    assert_eq!(e["TxnStatus"], "Pending");
    assert_eq!(e["TotalAmt"], 125.5);
    assert_eq!(e["ExpirationDate"], "2026-02-09");
    assert_eq!(e["SyncToken"], "0");
    assert!(
        e.get("Balance").is_none() && e.get("DueDate").is_none(),
        "{e}"
    );

    // An expiration before the estimate date is refused.
    let (status, refused) = qbo
        .post(
            &token,
            &path("estimate"),
            &json!({"CustomerRef": {"value": "1"}, "CurrencyRef": {"value": "USD"},
                    "TxnDate": "2026-01-10", "ExpirationDate": "2026-01-09",
                    "Line": [line("1", 1.0)]}),
        )
        .await;
    assert_eq!(
        (status, fault_code(&refused)),
        (StatusCode::BAD_REQUEST, "6000")
    );

    // Read and query.
    let (status, read) = qbo.get(&token, &path(&format!("estimate/{id}"))).await;
    assert_eq!(
        (status, &read["Estimate"]["Id"]),
        (StatusCode::OK, &json!(id))
    );
    let (status, queried) = qbo
        .query(
            &token,
            US_REALM,
            &format!("select * from Estimate where Id in ('{id}')"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{queried}");
    assert_eq!(queried["QueryResponse"]["Estimate"][0]["TotalAmt"], 125.5);

    // Send and PDF.
    let (status, sent) = qbo
        .post(&token, &path(&format!("estimate/{id}/send")), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["Estimate"]["EmailStatus"], "EmailSent");
    let pdf = qbo
        .http
        .get(qbo.url(&path(&format!("estimate/{id}/pdf"))))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), StatusCode::OK);
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));

    // A sparse update with a stale SyncToken is 5010; with the current one it applies.
    let (status, stale) = qbo
        .post(
            &token,
            &path("estimate"),
            &json!({"Id": id, "SyncToken": "0", "sparse": true, "TxnStatus": "Rejected"}),
        )
        .await;
    assert_eq!(
        (status, fault_code(&stale)),
        (StatusCode::BAD_REQUEST, "5010")
    );
    let (status, rejected) = qbo
        .post(
            &token,
            &path("estimate"),
            &json!({"Id": id, "SyncToken": "1", "sparse": true, "TxnStatus": "Rejected"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["Estimate"]["TxnStatus"], "Rejected");
    assert_eq!(rejected["Estimate"]["TotalAmt"], 125.5);
    assert_eq!(rejected["Estimate"]["EmailStatus"], "EmailSent");

    // The customer accepts after all, entered in the QuickBooks UI (control API).
    let accepted = qbo
        .http
        .post(qbo.url(&format!("/_sim/realms/{US_REALM}/estimates/{id}/status")))
        .json(&json!({"status": "Accepted", "accepted_by": "Pat Buyer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);
    let accepted: Value = accepted.json().await.unwrap();
    assert_eq!(accepted["TxnStatus"], "Accepted");
    assert_eq!(accepted["AcceptedBy"], "Pat Buyer");

    // An invoice made from it closes it and is linked both ways.
    let (status, invoice) = qbo
        .post(
            &token,
            &path("invoice"),
            &json!({"CustomerRef": {"value": "1"}, "CurrencyRef": {"value": "USD"},
                    "LinkedTxn": [{"TxnId": id, "TxnType": "Estimate"}],
                    "Line": [line("1", 125.5)]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{invoice}");
    let invoice_id = invoice["Invoice"]["Id"].as_str().unwrap();
    assert_eq!(invoice["Invoice"]["LinkedTxn"][0]["TxnType"], "Estimate");
    let closed = qbo.sim.estimate(US_REALM, &id).unwrap();
    assert_eq!(
        closed.txn_status.as_ref().map(|s| s.as_str()),
        Some("Closed")
    );
    let back = closed.sale.linked_txn.unwrap();
    assert_eq!(
        (back[0].txn_type.as_str(), back[0].txn_id.as_str()),
        ("Invoice", invoice_id)
    );
    // A second conversion of a closed estimate is refused.
    let (status, again) = qbo
        .post(
            &token,
            &path("invoice"),
            &json!({"CustomerRef": {"value": "1"}, "CurrencyRef": {"value": "USD"},
                    "LinkedTxn": [{"TxnId": id, "TxnType": "Estimate"}], "Line": [line("1", 1.0)]}),
        )
        .await;
    assert_eq!(
        (status, fault_code(&again)),
        (StatusCode::BAD_REQUEST, "6000")
    );

    // Webhook events and CDC carry the estimate; delete leaves a Deleted stub in CDC.
    let events: Vec<(String, Operation)> = qbo
        .sim
        .pending_webhook_events()
        .into_iter()
        .filter(|e| e.entity == "Estimate")
        .map(|e| (e.id, e.operation))
        .collect();
    assert!(
        events.contains(&(id.clone(), Operation::Create)),
        "{events:?}"
    );
    assert!(
        events.contains(&(id.clone(), Operation::Emailed)),
        "{events:?}"
    );
    assert!(
        events.iter().filter(|e| e.1 == Operation::Update).count() >= 3,
        "{events:?}"
    );
    let current = qbo.sim.estimate(US_REALM, &id).unwrap();
    let (status, _) = qbo
        .post(
            &token,
            &format!("/v3/company/{US_REALM}/estimate?operation=delete&minorversion=75"),
            &json!({"Id": id, "SyncToken": current.sale.sync_token}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, cdc) = qbo
        .get(
            &token,
            &format!(
                "/v3/company/{US_REALM}/cdc?entities=Invoice,Payment,Estimate&changedSince={}",
                url::form_urlencoded::byte_serialize(since.as_bytes()).collect::<String>()
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cdc}");
    let parsed: shared::wire::quickbooks::model::CdcResponseEnvelope =
        serde_json::from_value(cdc).unwrap();
    let estimates: Vec<_> = parsed.estimates().collect();
    assert!(
        estimates
            .iter()
            .any(|e| e.id() == Some(id.as_str()) && e.is_deleted())
    );
    assert_eq!(parsed.invoices().count(), 1);
    let (status, gone) = qbo.get(&token, &path(&format!("estimate/{id}"))).await;
    assert_eq!(
        (status, fault_code(&gone)),
        (StatusCode::BAD_REQUEST, "610")
    );
}
