//! Calling the served router as Pipedrive's iframe does (a freshly signed token), and what it
//! answered.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::clock::TestClock;
use crate::tokens::{TEST_JWT_SECRET, sign_token_at, tenant};

/// Who calls: (company, user).
pub type Who = (u64, u64);

/// One answer of our API.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub bytes: Vec<u8>,
    pub text: String,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn is_problem(&self) -> bool {
        self.content_type.starts_with("application/problem+json")
    }

    /// The human `detail` of a problem answer ("" when absent).
    pub fn detail(&self) -> &str {
        self.json["detail"].as_str().unwrap_or("")
    }
}

/// A decimal an answer carries as a JSON string (or number).
pub fn dec_of(value: &Value) -> rust_decimal::Decimal {
    match value {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not a decimal: {s}")),
        Value::Number(n) => n
            .to_string()
            .parse()
            .unwrap_or_else(|_| panic!("not a decimal: {n}")),
        other => panic!("not a decimal: {other}"),
    }
}

/// Reads a whole response.
pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after");
    let bytes = response.bytes().await.unwrap_or_default().to_vec();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        content_type,
        retry_after,
        bytes,
        text,
        json,
    }
}

/// Calls the world's served router; cheap to clone into spawned tasks.
#[derive(Clone, Debug)]
pub struct Caller {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: TestClock,
}

impl Caller {
    /// A token of `who` signed now by the world's clock (the one the app verifies with).
    pub fn token(&self, who: Who) -> String {
        sign_token_at(tenant(who.0, who.1), TEST_JWT_SECRET, self.clock.now(), 300)
    }

    /// A raw request with whatever headers the caller sets.
    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// A raw request as `who` (a fresh token) with whatever else the caller sets.
    pub fn request_as(&self, method: &str, path: &str, who: Who) -> reqwest::RequestBuilder {
        self.request(method, path).bearer_auth(self.token(who))
    }

    /// An API call as the iframe makes it: `Authorization: Bearer` with a fresh token of `who`,
    /// an optional JSON body and idempotency key.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        who: Who,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Answer {
        let mut request = self.request_as(method, path, who);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        answer(request.send().await.expect("the app answers")).await
    }

    /// [`Self::call`] as (status, JSON), an error answer checked to be problem+json (what every
    /// API route promises).
    pub async fn call_json(
        &self,
        method: &str,
        path: &str,
        who: Who,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let a = self.call(method, path, who, body, key).await;
        if a.status >= 400 {
            assert!(
                a.is_problem(),
                "errors are problem+json: {} {}",
                a.status,
                a.json
            );
        }
        (a.status, a.json)
    }

    /// `n` identical POSTs at once, with the same body and idempotency key (a double-clicking rep,
    /// clients retrying): each must answer 201 with the same body; that body.
    pub async fn same_post_at_once(
        &self,
        n: usize,
        path: &str,
        who: Who,
        body: Option<&Value>,
        key: &str,
    ) -> Value {
        let calls = (0..n).map(|_| {
            let caller = self.clone();
            let (path, body, key) = (path.to_string(), body.cloned(), key.to_string());
            tokio::spawn(async move {
                caller
                    .call_json("POST", &path, who, body.as_ref(), Some(&key))
                    .await
            })
        });
        let mut answers = Vec::with_capacity(n);
        for call in calls.collect::<Vec<_>>() {
            answers.push(call.await.expect("the call task runs to its end"));
        }
        let first = answers.first().map(|a| a.1.clone()).unwrap_or(Value::Null);
        for (status, body) in &answers {
            assert_eq!(*status, 201, "{body}");
            assert_eq!(body, &first, "identical answers");
        }
        first
    }

    /// [`Self::call`] without a body or key, as (status, JSON).
    pub async fn api(&self, method: &str, path: &str, company: u64, user: u64) -> (u16, Value) {
        let a = self.call(method, path, (company, user), None, None).await;
        (a.status, a.json)
    }

    /// Links a product to a QuickBooks item through the API (`PUT …/item-link`).
    pub async fn link_item(&self, who: Who, product: u64, item: &str) {
        let path = format!("/api/products/{product}/item-link");
        let a = self
            .call("PUT", &path, who, Some(&json!({"item_id": item})), None)
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
    }

    /// Company B's deal 1 made ready on the US realm through the API: its organisation's
    /// customer "Bolt Freight Co." created in QuickBooks and linked (the answer is returned),
    /// its products linked to items (Fleet tracker → 4 "Widget", taxable; Support plan → 2
    /// "Hours").
    pub async fn ready_bolt_deal_1(&self) -> Value {
        let b = (crate::COMPANY_B, crate::USER_B_ADMIN);
        let body = json!({"deal_id": 1, "display_name": "Bolt Freight Co.", "email": "riley@bolt-freight.example"});
        let a = self
            .call(
                "POST",
                "/api/quickbooks/customers",
                b,
                Some(&body),
                Some("customer-key-1"),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.text);
        self.link_item(b, 1, "4").await;
        self.link_item(b, 2, "2").await;
        a.json
    }

    /// Links the deal's party to a QuickBooks customer through the API, without updating it.
    pub async fn link_customer(&self, who: Who, deal: u64, customer: &str) {
        let path = format!("/api/deals/{deal}/customer-link");
        let body = json!({"customer_id": customer, "update_customer": false});
        let a = self.call("PUT", &path, who, Some(&body), None).await;
        assert_eq!(a.status, 200, "{}", a.text);
    }

    /// The deal's invoice draft (`GET …/draft`).
    pub async fn draft(&self, who: Who, deal: u64) -> Value {
        let path = format!("/api/deals/{deal}/draft");
        let a = self.call("GET", &path, who, None, None).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.json
    }

    /// [`Self::draft`] of a deal ready to invoice: the draft has no problems. When the products'
    /// tax matches none of a US company's sales tax rates, none is pre-selected (the draft's
    /// `tax_note` says why): California's is chosen, as a rep would.
    pub async fn ready_draft(&self, who: Who, deal: u64) -> Value {
        let mut draft = self.draft(who, deal).await;
        if draft["tax_note"].is_string() {
            assert_eq!(
                draft["problems"],
                json!([{"field": "txn_tax_code", "message": "Choose the sales tax rate for the taxable lines."}])
            );
            draft["form"]["txn_tax_code"] = json!("2");
            draft["problems"] = json!([]);
        }
        assert_eq!(draft["problems"], json!([]), "{draft:#}");
        draft
    }
}
