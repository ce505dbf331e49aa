//! Every published payload deserialises into the shared model, and the simulator's answer to the
//! same call has the same shape (keys and JSON types, recursively) as the published one. Extra
//! keys are accepted only when they are documented fields the sample happens not to show;
//! sample keys that depend on data the scenario does not have are listed as optional.

mod quickbooks_support;

use quickbooks_support::*;
use reqwest::StatusCode;
use sandbox::quickbooks::{US_REALM, WebhookConfig, WebhookFormat};
use serde_json::{Value, json};
use shared::wire::quickbooks::model::{
    BatchRequest, BatchResponse, CdcResponseEnvelope, CompanyInfoEnvelope, Customer,
    CustomerEnvelope, FaultEnvelope, GatewayFaultEnvelope, Invoice, InvoiceEnvelope, OAuthError,
    PreferencesEnvelope, QueryResponseEnvelope, TokenResponse, parse_fault,
};
use shared::wire::quickbooks::webhook::{WebhookPayload, verify};

/// Documented invoice fields the samples do not all show.
const INVOICE_EXTRA: &[&str] = &[
    "CurrencyRef",
    "SalesTermRef",
    "BillEmail",
    "AllowOnlinePayment",
    "AllowOnlineCreditCardPayment",
    "AllowOnlineACHPayment",
    "AllowIPNPayment",
    "ExchangeRate",
    "HomeTotalAmt",
    "HomeBalance",
    "Qty",
    "UnitPrice",
    "Description",
    "TxnTaxCodeRef",
    "TaxLine",
    "PrivateNote",
    "CustomerMemo",
    "DeliveryInfo",
    "InvoiceLink",
    "StringValue",
    "DefinitionId",
    "name",
    "TaxCodeRef",
    "LinkedTxn",
    "Deposit",
    "Line1",
    "Line2",
    "Line3",
    "Line4",
    "Line5",
    "City",
    "Country",
    "CountrySubDivisionCode",
    "PostalCode",
    "Lat",
    "Long",
];

/// Sample keys tied to data the simulator's companies do not have (projects, classes,
/// departments, shipping details, accounts, free-form addresses, last-modified-by).
const INVOICE_OPTIONAL: &[&str] = &[
    "ProjectRef",
    "ClassRef",
    "DepartmentRef",
    "ShipMethodRef",
    "ShipDate",
    "TrackingNum",
    "DepositToAccountRef",
    "ServiceDate",
    "ItemAccountRef",
    "FreeFormAddress",
    "LastModifiedByRef",
    "Line1",
    "Line2",
    "Line3",
    "Line4",
    "Line5",
    "City",
    "Country",
    "CountrySubDivisionCode",
    "PostalCode",
    "Lat",
    "Long",
    "StringValue",
    "DefinitionId",
    "Qty",
    "UnitPrice",
    "Description",
];

fn invoice_tolerance() -> Tolerance<'static> {
    Tolerance {
        extra: INVOICE_EXTRA,
        optional: INVOICE_OPTIONAL,
        open: &[],
    }
}

fn realm_path(realm: &str, rest: &str) -> String {
    format!("/v3/company/{realm}/{rest}?minorversion=75")
}

/// A taxed invoice with description, quantities, memo and e-mail (like the read sample).
fn taxed_invoice() -> Value {
    json!({
        "CustomerRef": {"value": "1"},
        "BillEmail": {"Address": "birds@sandbox.example"},
        "CustomerMemo": {"value": "Thank you for your business and have a great day!"},
        "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "2"}},
        "Line": [
            {"DetailType": "SalesItemLineDetail", "Description": "Rock Fountain", "Amount": 275.0,
             "SalesItemLineDetail": {"ItemRef": {"value": "5"}, "Qty": 1, "UnitPrice": 275, "TaxCodeRef": {"value": "TAX"}}},
            {"DetailType": "SalesItemLineDetail", "Description": "Widget", "Amount": 50.0,
             "SalesItemLineDetail": {"ItemRef": {"value": "4"}, "Qty": 2, "UnitPrice": 25, "TaxCodeRef": {"value": "TAX"}}}
        ]
    })
}

#[test]
fn published_payloads_deserialize_into_the_model() {
    for name in [
        "invoice-create-response.json",
        "invoice-read-response.json",
        "invoice-send-response.json",
        "invoice-void-response.json",
        "invoice-delete-response.json",
        "invoice-paid-with-payment-linkedtxn.json",
    ] {
        serde_json::from_value::<InvoiceEnvelope>(fixture(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for name in [
        "invoice-create-request-minimal.json",
        "invoice-sparse-update-request.json",
        "invoice-void-request.json",
        "invoice-delete-request.json",
    ] {
        serde_json::from_value::<Invoice>(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    serde_json::from_value::<Customer>(fixture("customer-create-request.json")).unwrap();
    serde_json::from_value::<CustomerEnvelope>(fixture("customer-create-response.json")).unwrap();
    for name in [
        "customer-query-response.json",
        "invoice-query-response.json",
        "companycurrency-query-response.json",
        "taxcode-query-response.json",
    ] {
        serde_json::from_value::<QueryResponseEnvelope>(fixture(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    serde_json::from_value::<CdcResponseEnvelope>(fixture("cdc-response.json")).unwrap();
    serde_json::from_value::<BatchRequest>(fixture("batch-request.json")).unwrap();
    serde_json::from_value::<BatchResponse>(fixture("batch-response.json")).unwrap();
    serde_json::from_value::<FaultEnvelope>(fixture("error-fault-format.json")).unwrap();
    serde_json::from_value::<FaultEnvelope>(fixture("error-object-not-found-610.json")).unwrap();
    serde_json::from_value::<GatewayFaultEnvelope>(fixture(
        "error-401-authentication-failed-gateway.json",
    ))
    .unwrap();
    serde_json::from_value::<OAuthError>(fixture("error-oauth-invalid-grant.json")).unwrap();
    serde_json::from_value::<TokenResponse>(fixture("oauth-token-response.json")).unwrap();
    for name in [
        "webhook-legacy-payload.json",
        "webhook-cloudevents-payload.json",
        "webhook-cloudevents-payload-dotnet-sdk-test.json",
    ] {
        WebhookPayload::parse(fixture_text(name).as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[tokio::test]
async fn invoice_answers_have_the_published_shapes() {
    let qbo = Qbo::start().await;
    let realm = US_SINGLE_CURRENCY_REALM;
    let token = qbo.sim.issue_tokens(realm).unwrap().access_token;

    // Create (the official minimal request).
    let (status, created) = qbo
        .post(
            &token,
            &realm_path(realm, "invoice"),
            &fixture("invoice-create-request-minimal.json"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_same_shape(
        "invoice create",
        &fixture("invoice-create-response.json"),
        &created,
        &invoice_tolerance(),
    );
    serde_json::from_value::<InvoiceEnvelope>(created.clone()).unwrap();
    assert_eq!(created["Invoice"]["TotalAmt"], json!(100.0));
    assert_eq!(
        created["Invoice"]["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"]["value"],
        "NON"
    );
    let id = created["Invoice"]["Id"].as_str().unwrap().to_string();

    // Sparse update (the official request with this invoice's id).
    let mut sparse = fixture("invoice-sparse-update-request.json");
    sparse["Id"] = json!(id);
    sparse["DueDate"] = json!(created["Invoice"]["TxnDate"]);
    let (status, updated) = qbo
        .post(&token, &realm_path(realm, "invoice"), &sparse)
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_same_shape(
        "invoice sparse update",
        &fixture("invoice-create-response.json"),
        &updated,
        &invoice_tolerance(),
    );
    assert_eq!(updated["Invoice"]["SyncToken"], "1");

    // Read of a taxed invoice.
    let (status, taxed) = qbo
        .post(&token, &realm_path(realm, "invoice"), &taxed_invoice())
        .await;
    assert_eq!(status, StatusCode::OK, "{taxed}");
    let taxed_id = taxed["Invoice"]["Id"].as_str().unwrap().to_string();
    let (status, read) = qbo
        .get(&token, &realm_path(realm, &format!("invoice/{taxed_id}")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_same_shape(
        "invoice read",
        &fixture("invoice-read-response.json"),
        &read,
        &invoice_tolerance(),
    );
    let inv = &read["Invoice"];
    assert_eq!(inv["TxnTaxDetail"]["TotalTax"], json!(26.0), "8% of 325");
    assert_eq!(inv["TotalAmt"], json!(351.0));

    // Query.
    let (status, queried) = qbo
        .query(
            &token,
            realm,
            &format!("select * from Invoice where Id = '{taxed_id}'"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_same_shape(
        "invoice query",
        &fixture("invoice-query-response.json"),
        &queried,
        &invoice_tolerance(),
    );

    // Send (with a discount, shipping and a deposit like the sample).
    let send_input = json!({
        "CustomerRef": {"value": "1"},
        "PrivateNote": "Summary for sample invoice",
        "CustomerMemo": {"value": "This is the customer message"},
        "Deposit": 12.0,
        "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "2"}},
        "Line": [
            {"DetailType": "SalesItemLineDetail", "Description": "Sample invoice create request", "Amount": 50.0,
             "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "Qty": 1, "UnitPrice": 50, "TaxCodeRef": {"value": "TAX"}}},
            {"DetailType": "DiscountLineDetail", "Amount": 5.0,
             "DiscountLineDetail": {"DiscountAccountRef": {"name": "Discounts given", "value": "30"}, "PercentBased": true, "DiscountPercent": 10}},
            {"DetailType": "SalesItemLineDetail", "Amount": 2.0, "SalesItemLineDetail": {"ItemRef": {"value": "SHIPPING_ITEM_ID"}}}
        ]
    });
    let (status, to_send) = qbo
        .post(&token, &realm_path(realm, "invoice"), &send_input)
        .await;
    assert_eq!(status, StatusCode::OK, "{to_send}");
    assert_eq!(
        to_send["Invoice"]["TotalAmt"],
        json!(51.0),
        "50 - 5 discount + 4 tax + 2 shipping"
    );
    assert_eq!(
        to_send["Invoice"]["Balance"],
        json!(39.0),
        "minus the 12 deposit"
    );
    let send_id = to_send["Invoice"]["Id"].as_str().unwrap();
    let response = qbo
        .http
        .post(qbo.url(&format!(
            "/v3/company/{realm}/invoice/{send_id}/send?sendTo=test%40intuit.com&minorversion=75"
        )))
        .bearer_auth(&token)
        .header("content-type", "application/octet-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let sent: Value = response.json().await.unwrap();
    assert_same_shape(
        "invoice send",
        &fixture("invoice-send-response.json"),
        &sent,
        &invoice_tolerance(),
    );
    assert_eq!(sent["Invoice"]["EmailStatus"], "EmailSent");
    assert_eq!(sent["Invoice"]["BillEmail"]["Address"], "test@intuit.com");

    // Paid in full: LinkedTxn carries the payment.
    qbo.sim.record_payment(realm, &taxed_id, None).unwrap();
    let (_, paid) = qbo
        .get(&token, &realm_path(realm, &format!("invoice/{taxed_id}")))
        .await;
    // The sample was re-wrapped from a batch answer: it has a `_note` and no `time`.
    let mut published = fixture("invoice-paid-with-payment-linkedtxn.json");
    published.as_object_mut().unwrap().remove("_note");
    let mut paid_invoice_only = paid.clone();
    paid_invoice_only.as_object_mut().unwrap().remove("time");
    assert_same_shape(
        "paid invoice",
        &published,
        &paid_invoice_only,
        &invoice_tolerance(),
    );
    assert_eq!(paid["Invoice"]["Balance"], json!(0.0));
    assert_eq!(paid["Invoice"]["LinkedTxn"][0]["TxnType"], "Payment");

    // Void (fresh invoice with a memo and descriptions, like the sample).
    let (_, to_void) = qbo
        .post(&token, &realm_path(realm, "invoice"), &taxed_invoice())
        .await;
    let void_id = to_void["Invoice"]["Id"].as_str().unwrap();
    let mut void_req = fixture("invoice-void-request.json");
    void_req["Id"] = json!(void_id);
    let (status, voided) = qbo
        .post(
            &token,
            &format!("{}&operation=void", realm_path(realm, "invoice")),
            &void_req,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{voided}");
    assert_same_shape(
        "invoice void",
        &fixture("invoice-void-response.json"),
        &voided,
        &invoice_tolerance(),
    );
    assert_eq!(voided["Invoice"]["PrivateNote"], "Voided");
    assert_eq!(voided["Invoice"]["TotalAmt"], json!(0.0));
    assert_eq!(
        voided["Invoice"]["Line"][0]["SalesItemLineDetail"]["Qty"],
        json!(0.0)
    );

    // Delete, then 610 on read.
    let mut del_req = fixture("invoice-delete-request.json");
    del_req["Id"] = json!(void_id);
    del_req["SyncToken"] = json!(voided["Invoice"]["SyncToken"]);
    let (status, deleted) = qbo
        .post(
            &token,
            &format!("{}&operation=delete", realm_path(realm, "invoice")),
            &del_req,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_same_shape(
        "invoice delete",
        &fixture("invoice-delete-response.json"),
        &deleted,
        &Tolerance::default(),
    );
    let (status, gone) = qbo
        .get(&token, &realm_path(realm, &format!("invoice/{void_id}")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_same_shape(
        "610",
        &fixture("error-object-not-found-610.json"),
        &gone,
        &Tolerance::default(),
    );
    assert_eq!(
        gone,
        json!({"Fault": fixture("error-object-not-found-610.json")["Fault"], "time": gone["time"]})
    );
    assert_same_shape(
        "fault format",
        &fixture("error-fault-format.json"),
        &gone,
        &Tolerance::default(),
    );

    // PDF.
    let response = qbo
        .http
        .get(qbo.url(&format!("/v3/company/{realm}/invoice/{taxed_id}/pdf")))
        .bearer_auth(&token)
        .header("accept", "application/pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let pdf = response.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4"));
    let text = String::from_utf8_lossy(&pdf);
    let doc = read["Invoice"]["DocNumber"].as_str().unwrap();
    assert!(text.contains(&format!("Invoice no. {doc}")));
    assert!(text.contains("Amy's Bird Sanctuary"));
    assert!(text.contains("Rock Fountain"));
    assert!(text.contains("351.00"));
    assert!(text.trim_end().ends_with("%%EOF"));
}

#[tokio::test]
async fn customer_and_list_answers_have_the_published_shapes() {
    let qbo = Qbo::start().await;
    let token = qbo
        .sim
        .issue_tokens(US_SINGLE_CURRENCY_REALM)
        .unwrap()
        .access_token;
    let customer_extra: &[&str] = &["SalesTermRef", "CurrencyRef", "ShipAddr", "Country"];
    let (status, created) = qbo
        .post(
            &token,
            &realm_path(US_SINGLE_CURRENCY_REALM, "customer"),
            &fixture("customer-create-request.json"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_same_shape(
        "customer create",
        &fixture("customer-create-response.json"),
        &created,
        &Tolerance {
            extra: customer_extra,
            ..Tolerance::default()
        },
    );
    assert_eq!(created["Customer"]["DisplayName"], "King's Groceries");

    let (status, customers) = qbo
        .query(
            &token,
            US_SINGLE_CURRENCY_REALM,
            "select * from Customer where Id IN ('1', '2')",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let extra: Vec<&str> = customer_extra
        .iter()
        .copied()
        .chain(["Title", "Suffix", "totalCount"])
        .collect();
    assert_same_shape(
        "customer query",
        &fixture("customer-query-response.json"),
        &customers,
        &Tolerance {
            extra: &extra,
            optional: &["MiddleName", "Notes", "DefaultTaxCodeRef"],
            ..Tolerance::default()
        },
    );

    // Multi-currency company: currencies and tax codes.
    let token = qbo.sim.issue_tokens(US_REALM).unwrap().access_token;
    let (_, currencies) = qbo
        .query(&token, US_REALM, "select * from companycurrency")
        .await;
    assert_same_shape(
        "companycurrency query",
        &fixture("companycurrency-query-response.json"),
        &currencies,
        &Tolerance::default(),
    );
    let (_, codes) = qbo.query(&token, US_REALM, "select * from TaxCode").await;
    assert_same_shape(
        "taxcode query",
        &fixture("taxcode-query-response.json"),
        &codes,
        &Tolerance {
            extra: &["Hidden", "Active"],
            ..Tolerance::default()
        },
    );

    // No published sample: these must at least read into the model.
    let (_, prefs) = qbo.get(&token, &realm_path(US_REALM, "preferences")).await;
    let prefs: PreferencesEnvelope = serde_json::from_value(prefs).unwrap();
    assert!(prefs.preferences.multi_currency_enabled());
    assert_eq!(prefs.preferences.home_currency(), Some("USD"));
    let (_, info) = qbo
        .get(
            &token,
            &realm_path(US_REALM, &format!("companyinfo/{US_REALM}")),
        )
        .await;
    let info: CompanyInfoEnvelope = serde_json::from_value(info).unwrap();
    assert_eq!(info.company_info.country.as_deref(), Some("US"));
}

#[tokio::test]
async fn cdc_and_batch_answers_have_the_published_shapes() {
    let qbo = Qbo::start().await;
    let realm = US_SINGLE_CURRENCY_REALM;
    let token = qbo.sim.issue_tokens(realm).unwrap().access_token;
    let since = (qbo.sim.now() - chrono::Duration::minutes(1)).to_rfc3339();
    let (_, a) = qbo
        .post(&token, &realm_path(realm, "invoice"), &taxed_invoice())
        .await;
    let (_, b) = qbo
        .post(&token, &realm_path(realm, "invoice"), &taxed_invoice())
        .await;
    qbo.post(
        &token,
        &realm_path(realm, "customer"),
        &json!({"DisplayName": "CDC Customer"}),
    )
    .await;
    let b_id = b["Invoice"]["Id"].as_str().unwrap();
    let (status, deleted) = qbo
        .post(
            &token,
            &format!("{}&operation=delete", realm_path(realm, "invoice")),
            &json!({"Id": b_id, "SyncToken": "0"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");

    let response = qbo
        .http
        .get(qbo.url(&format!("/v3/company/{realm}/cdc")))
        .query(&[
            ("entities", "Customer,Invoice"),
            ("changedSince", since.as_str()),
            ("minorversion", "75"),
        ])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cdc: Value = response.json().await.unwrap();
    assert_same_shape(
        "cdc",
        &fixture("cdc-response.json"),
        &cdc,
        &Tolerance {
            extra: &["Invoice"],
            optional: &[],
            open: &["Customer", "Invoice"],
        },
    );
    let invoices = cdc["CDCResponse"][0]["QueryResponse"][1]["Invoice"]
        .as_array()
        .unwrap();
    assert_eq!(invoices[0]["Id"], a["Invoice"]["Id"]);
    let stub = invoices.last().unwrap();
    assert_same_shape(
        "cdc deleted stub",
        &fixture("cdc-response.json")["CDCResponse"][0]["QueryResponse"][1]["Estimate"][2],
        stub,
        &Tolerance::default(),
    );
    assert_eq!(stub["status"], "Deleted");
    serde_json::from_value::<CdcResponseEnvelope>(cdc).unwrap();

    // Batch: the published request's operations, against entities the simulator serves.
    let batch = json!({"BatchItemRequest": [
        {"bId": "bid1", "Customer": {"DisplayName": "O'Brien & Sons"}, "operation": "create"},
        {"bId": "bid2", "operation": "delete", "Invoice": {"SyncToken": "0", "Id": "129"}},
        {"bId": "bid3", "operation": "update", "Invoice": {"PrivateNote": "A private note.", "SyncToken": "7", "Id": a["Invoice"]["Id"], "sparse": true}},
        {"bId": "bid4", "Query": "select * from Invoice where TotalAmt > '300.00'"}
    ]});
    let (status, answer) = qbo.post(&token, &realm_path(realm, "batch"), &batch).await;
    assert_eq!(status, StatusCode::OK);
    assert_same_shape(
        "batch",
        &fixture("batch-response.json"),
        &answer,
        &Tolerance {
            extra: &["Invoice", "totalCount"],
            optional: &["SalesReceipt"],
            open: &["Invoice"],
        },
    );
    let items = answer["BatchItemResponse"].as_array().unwrap();
    let published = fixture("batch-response.json");
    for i in 0..3 {
        assert_eq!(
            items[i]["Fault"],
            published["BatchItemResponse"][i]["Fault"],
            "bid{}",
            i + 1
        );
    }
    assert_eq!(
        items[3]["QueryResponse"]["Invoice"][0]["Id"],
        a["Invoice"]["Id"]
    );
    serde_json::from_value::<BatchResponse>(answer).unwrap();

    // More than 30 items is refused as a whole.
    let too_many: Vec<Value> = (0..31)
        .map(|i| json!({"bId": format!("b{i}"), "Query": "select * from Term"}))
        .collect();
    let (status, refused) = qbo
        .post(
            &token,
            &realm_path(realm, "batch"),
            &json!({"BatchItemRequest": too_many}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(parse_fault(refused.to_string().as_bytes()).is_some());
}

#[tokio::test]
async fn auth_and_oauth_answers_have_the_published_shapes() {
    let qbo = Qbo::start().await;
    let (tokens, _) = qbo.connect(US_REALM).await;
    let body = serde_json::to_value(&tokens).unwrap();
    assert_same_shape(
        "token",
        &fixture("oauth-token-response.json"),
        &body,
        &Tolerance {
            optional: &["id_token"],
            ..Tolerance::default()
        },
    );
    assert_eq!(tokens.expires_in, 3600);

    let (status, unauthorized) = qbo
        .get("not-a-token", &realm_path(US_REALM, "preferences"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_same_shape(
        "gateway 401",
        &fixture("error-401-authentication-failed-gateway.json"),
        &unauthorized,
        &Tolerance::default(),
    );
    assert_eq!(
        parse_fault(unauthorized.to_string().as_bytes())
            .unwrap()
            .code(),
        "3200"
    );

    let (status, invalid) = qbo
        .token(&[("grant_type", "refresh_token"), ("refresh_token", "nope")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_same_shape(
        "invalid_grant",
        &fixture("error-oauth-invalid-grant.json"),
        &invalid,
        &Tolerance::default(),
    );

    // Throttle fault: the values of the published XML, in the JSON envelope.
    let xml = fixture_text("error-throttle-429.xml");
    qbo.sim.harness().set_fault(
        "/v3/company/",
        sandbox::harness::FaultSpec {
            force_429: 1,
            ..Default::default()
        },
    );
    let (status, throttled) = qbo
        .get(&tokens.access_token, &realm_path(US_REALM, "preferences"))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_same_shape(
        "throttle",
        &fixture("error-fault-format.json"),
        &throttled,
        &Tolerance::default(),
    );
    let error = &throttled["Fault"]["Error"][0];
    assert!(xml.contains(r#"<Fault type="SERVICE">"#) && throttled["Fault"]["type"] == "SERVICE");
    assert!(xml.contains(r#"code="3001""#) && error["code"] == "3001");
    assert!(xml.contains(&format!(
        "<Message>{}</Message>",
        error["Message"].as_str().unwrap()
    )));
    assert!(xml.contains(&format!(
        "<Detail>{}</Detail>",
        error["Detail"].as_str().unwrap()
    )));
}

#[tokio::test]
async fn webhook_bodies_have_the_published_shapes_and_verify() {
    let receiver = Receiver::default();
    let (_hook_server, url) = receiver.start().await;
    let qbo = Qbo::start().await;
    let token = "b5771f19b12ddb4bcdb9f08bdc50bc63878a";
    for (format, sample) in [
        (WebhookFormat::Legacy, "webhook-legacy-payload.json"),
        (
            WebhookFormat::CloudEvents,
            "webhook-cloudevents-payload.json",
        ),
    ] {
        qbo.sim.set_webhook_config(WebhookConfig {
            url: Some(url.clone()),
            verifier_token: token.into(),
            format,
            batch_ms: 0,
        });
        qbo.sim
            .create_customer(
                US_REALM,
                &Customer {
                    display_name: Some(format!("Hook {format:?}")),
                    ..Customer::default()
                },
            )
            .unwrap();
        let deliveries = qbo.sim.flush_webhooks().await;
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].status, Some(200));
        let received = receiver.all().pop().unwrap();
        let body: Value = serde_json::from_slice(&received.body).unwrap();
        assert_same_shape(sample, &fixture(sample), &body, &Tolerance::default());
        assert!(verify(
            token,
            &received.body,
            received.signature.as_deref().unwrap()
        ));
    }
}
