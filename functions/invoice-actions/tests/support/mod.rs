//! A test world for the `invoice-actions` function: both simulators on local ports, the
//! function's router served on a local port (called over HTTP with Pipedrive-signed tokens), an
//! [`App`] on the given store and secrets, and companies connected by seeding the store and the
//! token vault directly (a `Connected` QuickBooks connection, user installs, tokens issued by the
//! simulators). Shared by `functions/invoice-actions/tests/*` and
//! `tests/tests/invoice_actions.rs` (moto-backed).
#![allow(dead_code, unused_imports)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use sandbox::harness::RunningServer;
use sandbox::pipedrive::{PipedriveConfig, PipedriveSim};
use sandbox::quickbooks::{QuickBooksConfig, QuickBooksSim, ThrottleConfig};
use serde_json::Value;
use shared::app::testing::{sign_token, test_credentials};
use shared::app::tokens::TokenManager;
use shared::app::{App, Deployment};
use shared::domain::Clock;
use shared::domain::SecretString;
use shared::domain::links::{link_from_invoice, today_in};
use shared::domain::{
    CompanyId, CompanyProfile, ConnectionState, CustomerLink, DealId, InvoiceLink, Party,
    QuickBooksConnection, QuickBooksEnvironment, UserId, UserInstall,
};
use shared::store::secrets::{PipedriveTokens, QuickBooksTokens, SecretStore};
use shared::store::{Item, ItemStore, PageRequest};
use shared::web::auth::Tenant;
use shared::wire::quickbooks::model::{EmailAddress, GlobalTaxCalculation, Invoice, Line, Ref};

pub use sandbox::pipedrive::seed::{
    COMPANY_A, COMPANY_B, USER_A_ADMIN, USER_A_MEMBER, USER_A_MEMBER_2, USER_B_ADMIN,
};
pub use sandbox::quickbooks::{GB_REALM, US_REALM};

/// Company A's seeded deal 1 ("Website relaunch": organization 1, person 1).
pub const DEAL: u64 = 1;
/// Company A's seeded deal 4 (organization 3, person 3): another deal of the same company.
pub const OTHER_DEAL: u64 = 4;
/// The US realm's customer "Acme Corp" (USD): company A's organization 1 is linked to it.
pub const ACME: &str = "3";
/// The US realm's customer "Amy's Bird Sanctuary" (USD).
pub const AMY: &str = "1";
/// The GB realm's customer "O'Brien & Sons" (GBP): company B's organization 1 is linked to it.
pub const OBRIEN_GB: &str = "1";

/// An offset added to the app's clock (moved together with the simulators' clocks).
#[derive(Clone, Default)]
pub struct Offset(Arc<AtomicI64>);

impl Offset {
    pub fn clock(&self) -> Clock {
        let offset = self.0.clone();
        Clock::new(move || Utc::now() + Duration::seconds(offset.load(Ordering::SeqCst)))
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

/// An answer of the function.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Vec<u8>,
    pub json: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn detail(&self) -> &str {
        self.json["detail"].as_str().unwrap_or("")
    }
}

pub struct World {
    pub app: App,
    pub base: String,
    pub quickbooks: QuickBooksSim,
    pub pipedrive: PipedriveSim,
    pub store: Arc<dyn ItemStore>,
    pub http: reqwest::Client,
    pub offset: Offset,
    _servers: Vec<RunningServer>,
}

pub fn tenant(company: u64, user: u64) -> Tenant {
    Tenant {
        company_id: CompanyId(company),
        user_id: UserId(user),
    }
}

impl World {
    /// The world on fresh in-memory backends.
    pub async fn embedded() -> World {
        World::start(
            Arc::new(shared::store::embedded::EmbeddedStore::in_memory()),
            Arc::new(shared::store::secrets::embedded::EmbeddedSecrets::in_memory()),
        )
        .await
    }

    /// The QuickBooks simulator's configuration: the test app's client, no throttling.
    pub fn quickbooks_config() -> QuickBooksConfig {
        let credentials = test_credentials();
        QuickBooksConfig {
            client_id: credentials.quickbooks_client_id.clone(),
            client_secret: credentials.quickbooks_client_secret.expose().to_string(),
            throttle: ThrottleConfig {
                per_minute: 100_000,
                concurrent: 1_000,
            },
            ..QuickBooksConfig::default()
        }
    }

    pub async fn start(store: Arc<dyn ItemStore>, secrets: Arc<dyn SecretStore>) -> World {
        let (quickbooks, qb_server) =
            QuickBooksSim::start(World::quickbooks_config(), "127.0.0.1:0".parse().unwrap())
                .await
                .expect("QuickBooks simulator starts");
        World::assemble(store, secrets, quickbooks, qb_server).await
    }

    /// The world around a QuickBooks simulator the caller serves (e.g. behind an extra layer).
    pub async fn assemble(
        store: Arc<dyn ItemStore>,
        secrets: Arc<dyn SecretStore>,
        quickbooks: QuickBooksSim,
        qb_server: RunningServer,
    ) -> World {
        let credentials = test_credentials();
        let (pipedrive, pd_server) = PipedriveSim::start(PipedriveConfig::new(
            credentials.pipedrive_client_id.clone(),
            credentials.pipedrive_client_secret.expose(),
            "http://127.0.0.1:9/oauth/pipedrive/callback",
        ))
        .await
        .expect("Pipedrive simulator starts");
        pipedrive.set_burst_limit(100_000);
        // Bound now (the router needs its own URL first) and served on below: never let go.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("local address");
        let base = format!("http://{addr}");
        let deployment = Deployment::simulated(&base, &qb_server.base_url(), &pipedrive.base_url());
        let prefix = format!("invoice-actions-{}", uuid::Uuid::new_v4().simple());
        let mut app = App::new(store.clone(), secrets, &prefix, credentials, deployment);
        let offset = Offset::default();
        app.tokens = Arc::new(
            TokenManager::new(
                app.records.clone(),
                app.vault.clone(),
                &app.credentials,
                app.quickbooks.clone(),
                app.pipedrive.clone(),
            )
            .with_clock(offset.clock()),
        );
        let router = shared::web::http::finish(invoice_actions::router(app.clone()));
        let server =
            sandbox::harness::serve_listener(router, listener).expect("the function serves");
        World {
            app,
            base,
            quickbooks,
            pipedrive,
            store,
            http: shared::clients::outbound::plain_client(),
            offset,
            _servers: vec![server, qb_server, pd_server],
        }
    }

    /// Moves the app's clock and both simulators' clocks together.
    pub fn advance(&self, secs: i64) {
        self.offset.advance(secs);
        self.quickbooks.advance_clock(secs);
        self.pipedrive.advance_clock(secs);
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.app.tokens.now()
    }

    /// Installs `users` of `company` (the first one an admin), connects the company to `realm`
    /// (connected by the first user) and stores the tokens the simulators issue.
    pub async fn connect(&self, company: u64, realm: &str, users: &[u64]) {
        let now = self.now();
        let company_id = CompanyId(company);
        let mut profile = CompanyProfile::new(company_id, now);
        profile.quickbooks = Some(QuickBooksConnection {
            realm_id: realm.to_string(),
            environment: QuickBooksEnvironment::Sandbox,
            state: ConnectionState::Connected,
            connected_by: UserId(users[0]),
            connected_at: now,
            reason: None,
        });
        profile.linked_realm_id = Some(realm.to_string());
        self.app
            .records
            .create_company(&profile)
            .await
            .expect("profile created");
        let qb = self
            .quickbooks
            .issue_tokens(realm)
            .expect("QuickBooks tokens");
        let mut pd = Vec::new();
        for (i, user) in users.iter().enumerate() {
            self.app
                .records
                .put_user_install(&UserInstall {
                    company_id,
                    user_id: UserId(*user),
                    scopes: vec!["base".into(), "deals:full".into()],
                    api_domain: self.pipedrive.base_url(),
                    name: Some(format!("User {user}")),
                    is_admin: i == 0,
                    installed_at: now,
                    locale: None,
                    version: 0,
                })
                .await
                .expect("install stored");
            pd.push((
                *user,
                self.pipedrive
                    .issue_tokens(company, *user)
                    .expect("Pipedrive tokens"),
            ));
        }
        let realm = realm.to_string();
        self.app
            .tokens
            .update_secrets(company_id, move |s| {
                s.quickbooks = Some(QuickBooksTokens {
                    realm_id: realm,
                    access_token: SecretString::new(qb.access_token),
                    access_expires_at: now + Duration::seconds(qb.expires_in),
                    refresh_token: SecretString::new(qb.refresh_token),
                    refresh_expires_at: Some(
                        now + Duration::seconds(qb.x_refresh_token_expires_in),
                    ),
                    updated_at: now,
                });
                for (user, t) in pd {
                    s.pipedrive.insert(
                        user,
                        PipedriveTokens {
                            access_token: SecretString::new(t.access_token),
                            access_expires_at: now + Duration::seconds(t.expires_in as i64),
                            refresh_token: SecretString::new(t.refresh_token),
                            api_domain: t.api_domain,
                            scope: Some(t.scope),
                            updated_at: now,
                        },
                    );
                }
            })
            .await
            .expect("tokens stored");
    }

    /// Company A (users 101 admin + 102) on the US realm and company B (201) on the GB realm,
    /// with A's organization 1 linked to Acme Corp and B's organization 1 to O'Brien & Sons.
    pub async fn standard() -> World {
        World::standard_on(World::embedded().await).await
    }

    pub async fn standard_on(world: World) -> World {
        world
            .connect(COMPANY_A, US_REALM, &[USER_A_ADMIN, USER_A_MEMBER])
            .await;
        world.connect(COMPANY_B, GB_REALM, &[USER_B_ADMIN]).await;
        world
            .link_customer(
                COMPANY_A,
                Party::Organization(1),
                US_REALM,
                ACME,
                "Acme Corp",
            )
            .await;
        world
            .link_customer(
                COMPANY_B,
                Party::Organization(1),
                GB_REALM,
                OBRIEN_GB,
                "O'Brien & Sons",
            )
            .await;
        world
    }

    pub async fn link_customer(
        &self,
        company: u64,
        party: Party,
        realm: &str,
        customer_id: &str,
        name: &str,
    ) {
        self.app
            .records
            .save_customer_link(&CustomerLink {
                company_id: CompanyId(company),
                party,
                realm_id: realm.to_string(),
                customer_id: customer_id.to_string(),
                display_name: name.to_string(),
                currency: None,
                linked_by: UserId(0),
                linked_at: self.now(),
                version: 0,
            })
            .await
            .expect("customer link stored");
    }

    /// A QuickBooks access token for direct calls to the simulator (test set-up only).
    pub fn qb_token(&self, realm: &str) -> SecretString {
        SecretString::new(
            self.quickbooks
                .issue_tokens(realm)
                .expect("QuickBooks tokens")
                .access_token,
        )
    }

    /// Creates an invoice in QuickBooks over its API: one line of `amount` for `customer`,
    /// issued on `txn_date` (default: today) and due on `due` (default: the customer's terms).
    pub async fn create_invoice_with(
        &self,
        realm: &str,
        customer: &str,
        amount: Decimal,
        txn_date: Option<NaiveDate>,
        due: Option<NaiveDate>,
    ) -> Invoice {
        let gb = realm == GB_REALM;
        let mut line = Line::sales_item(Ref::new("2"), Decimal::ONE, amount);
        if gb && let Some(detail) = line.sales_item_line_detail.as_mut() {
            detail.tax_code_ref = Some(Ref::new("2"));
        }
        let invoice = Invoice {
            customer_ref: Some(Ref::new(customer)),
            currency_ref: (!gb).then(|| Ref::new("USD")),
            global_tax_calculation: gb.then_some(GlobalTaxCalculation::TaxExcluded),
            txn_date,
            due_date: due,
            line: Some(vec![line]),
            ..Invoice::default()
        };
        self.app
            .quickbooks
            .create_invoice(
                realm,
                &self.qb_token(realm),
                &invoice,
                &uuid::Uuid::new_v4().to_string(),
            )
            .await
            .expect("invoice created in QuickBooks")
    }

    pub async fn create_invoice(&self, realm: &str, customer: &str, amount: Decimal) -> Invoice {
        self.create_invoice_with(realm, customer, amount, None, None)
            .await
    }

    /// Links an invoice to a deal the way invoice creation does.
    pub async fn link(
        &self,
        company: u64,
        deal: u64,
        realm: &str,
        invoice: &Invoice,
    ) -> InvoiceLink {
        let now = self.now();
        let link = link_from_invoice(
            CompanyId(company),
            DealId(deal),
            realm,
            invoice,
            today_in("UTC", now),
            now,
        )
        .expect("a link from the invoice");
        self.app
            .records
            .create_invoice_link(&link)
            .await
            .expect("link stored")
    }

    /// Creates an invoice for Acme Corp in the US realm and links it to company A's deal.
    pub async fn acme_invoice(&self, amount: Decimal) -> (Invoice, InvoiceLink) {
        let invoice = self.create_invoice(US_REALM, ACME, amount).await;
        let link = self.link(COMPANY_A, DEAL, US_REALM, &invoice).await;
        (invoice, link)
    }

    pub fn qb_invoice(&self, realm: &str, id: &str) -> Invoice {
        self.quickbooks
            .invoice(realm, id)
            .expect("invoice in the simulator")
    }

    pub async fn stored_link(&self, company: u64, deal: u64, id: &str) -> Option<InvoiceLink> {
        self.app
            .records
            .get_invoice_link(CompanyId(company), DealId(deal), id)
            .await
            .expect("store readable")
    }

    /// Every item of a company's partition, in key order.
    pub async fn dump(&self, company: u64) -> Vec<Item> {
        self.store
            .query(&format!("COMPANY#{company}"), "", PageRequest::first(1000))
            .await
            .expect("partition readable")
            .items
    }

    /// QuickBooks API calls (method, path) the simulator received for a realm.
    pub fn qb_calls(&self, realm: &str) -> Vec<(String, String)> {
        self.quickbooks
            .harness()
            .requests_matching(None, &format!("/v3/company/{realm}/"))
            .into_iter()
            .map(|r| (r.method, r.path))
            .collect()
    }

    pub fn clear_qb_log(&self) {
        self.quickbooks.harness().clear_log();
    }

    /// Calls the function as `company`/`user` (a freshly signed Pipedrive token).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        company: u64,
        user: u64,
        body: Option<Value>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(sign_token(tenant(company, user)));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the function answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body").to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            bytes,
            json,
        }
    }

    /// `call` as company A's admin on deal 1.
    pub async fn a(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call(
            method,
            &format!("/api/deals/{DEAL}{path}"),
            COMPANY_A,
            USER_A_ADMIN,
            body,
        )
        .await
    }

    /// The deal's activity events (newest first), as the store has them.
    pub async fn activity(&self, company: u64, deal: u64) -> Vec<shared::domain::ActivityEvent> {
        self.app
            .records
            .deal_activity(CompanyId(company), DealId(deal), 200)
            .await
            .expect("activity readable")
    }

    pub fn bill_email(invoice: &Invoice) -> Option<String> {
        invoice
            .bill_email
            .as_ref()
            .and_then(|e: &EmailAddress| e.address.clone())
    }
}

/// A decimal carried as a JSON string (or number).
pub fn dec_of(value: &Value) -> Decimal {
    match value {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not a decimal: {s}")),
        Value::Number(n) => n
            .to_string()
            .parse()
            .unwrap_or_else(|_| panic!("not a decimal: {n}")),
        other => panic!("not a decimal: {other}"),
    }
}

/// Every action on a deal's invoices, end to end over HTTP, asserting the simulator's state and
/// the stored link afterwards. Run against every store (embedded, and DynamoDB on moto).
pub async fn every_action_end_to_end(w: &World) {
    use rust_decimal_macros::dec;
    use serde_json::json;
    use shared::domain::InvoiceStatus;
    use shared::wire::quickbooks::model::EmailStatus;

    // --- void ---
    let (invoice, link) = w.acme_invoice(dec!(500)).await;
    let id = invoice.id.clone().unwrap();
    let before = w.dump(COMPANY_A).await;
    let r = w
        .a(
            "POST",
            &format!("/invoices/{id}/void"),
            Some(json!({"confirm": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["invoice"]["status"], "voided");
    assert!(r.json["message"].as_str().unwrap().contains("voided"));
    let in_qb = w.qb_invoice(US_REALM, &id);
    assert_eq!(in_qb.total_amt, Some(Decimal::ZERO));
    assert_eq!(in_qb.balance, Some(Decimal::ZERO));
    assert!(
        in_qb
            .private_note
            .as_deref()
            .unwrap_or("")
            .starts_with("Voided")
    );
    let stored = w.stored_link(COMPANY_A, DEAL, &id).await.unwrap();
    assert_eq!(stored.status, InvoiceStatus::Voided);
    assert_eq!(stored.total, link.total, "the original total is kept");
    assert_eq!(stored.balance, Decimal::ZERO);
    assert_eq!(stored.sync_token, in_qb.sync_token);
    assert!(
        w.dump(COMPANY_A).await.len() > before.len(),
        "an activity event was written"
    );
    w.clear_qb_log();
    let again = w
        .a(
            "POST",
            &format!("/invoices/{id}/void"),
            Some(json!({"confirm": true})),
        )
        .await;
    assert_eq!(again.status, 200, "voiding a void invoice is not an error");
    assert!(
        again.json["message"]
            .as_str()
            .unwrap()
            .contains("already void")
    );
    assert!(
        w.qb_calls(US_REALM).iter().all(|(m, _)| m == "GET"),
        "nothing is sent to QuickBooks for an invoice that is already void"
    );

    // --- send, to another address ---
    let (invoice, _) = w.acme_invoice(dec!(250)).await;
    let id = invoice.id.clone().unwrap();
    let r = w
        .a(
            "POST",
            &format!("/invoices/{id}/send"),
            Some(json!({"to": " billing@acme.example "})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["invoice"]["sent"], true);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .contains("billing@acme.example")
    );
    let in_qb = w.qb_invoice(US_REALM, &id);
    assert_eq!(in_qb.email_status, Some(EmailStatus::EmailSent));
    assert_eq!(
        World::bill_email(&in_qb).as_deref(),
        Some("billing@acme.example")
    );
    let stored = w.stored_link(COMPANY_A, DEAL, &id).await.unwrap();
    assert!(stored.email_sent);
    assert_eq!(stored.status, InvoiceStatus::Open);

    // --- PDF ---
    let r = w.a("GET", &format!("/invoices/{id}/pdf"), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/pdf");
    let doc = invoice.doc_number.clone().unwrap();
    assert_eq!(
        r.header("content-disposition"),
        format!("attachment; filename=\"Invoice-{doc}.pdf\"")
    );
    assert!(r.bytes.starts_with(b"%PDF"), "a PDF document");

    // --- open in QuickBooks ---
    let r = w.a("GET", &format!("/invoices/{id}/open"), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json["url"].as_str().unwrap(),
        w.app.quickbooks.endpoints().invoice_url(&id)
    );

    // --- delete ---
    let r = w
        .a(
            "POST",
            &format!("/invoices/{id}/delete"),
            Some(json!({"confirm": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["invoice"]["status"], "deleted");
    assert!(
        w.quickbooks
            .deleted_invoice_ids(US_REALM)
            .unwrap()
            .contains(&id)
    );
    assert!(
        w.quickbooks.invoice(US_REALM, &id).is_err(),
        "gone from QuickBooks"
    );
    let stored = w.stored_link(COMPANY_A, DEAL, &id).await.unwrap();
    assert_eq!(
        stored.status,
        InvoiceStatus::Deleted,
        "the link stays, marked deleted"
    );

    // --- refresh after a payment ---
    let (invoice, _) = w.acme_invoice(dec!(300)).await;
    let id = invoice.id.clone().unwrap();
    w.quickbooks
        .record_payment(US_REALM, &id, Some(dec!(100)))
        .unwrap();
    let r = w.a("POST", "/invoices/refresh", None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let row = r.json["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["invoice_id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["status"], "partially_paid");
    assert_eq!(dec_of(&row["balance"]), dec!(200));
    let stored = w.stored_link(COMPANY_A, DEAL, &id).await.unwrap();
    assert_eq!(stored.status, InvoiceStatus::PartiallyPaid);
    assert_eq!(stored.balance, dec!(200));

    // --- link and unlink an existing invoice of the customer ---
    let unlinked = w.create_invoice(US_REALM, ACME, dec!(75)).await;
    let id = unlinked.id.clone().unwrap();
    let r = w.a("PUT", &format!("/invoice-links/{id}"), None).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let stored = w.stored_link(COMPANY_A, DEAL, &id).await.unwrap();
    assert_eq!(stored.customer_id, ACME);
    assert_eq!(stored.total, dec!(75));
    let r = w.a("PUT", &format!("/invoice-links/{id}"), None).await;
    assert_eq!(r.status, 200, "linking twice is not a duplicate");
    let r = w.a("DELETE", &format!("/invoice-links/{id}"), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(w.stored_link(COMPANY_A, DEAL, &id).await.is_none());
    assert_eq!(
        w.qb_invoice(US_REALM, &id).total_amt,
        Some(dec!(75)),
        "the invoice stays in QuickBooks"
    );

    // --- disconnect the deal's organization from the customer ---
    let r = w.a("DELETE", "/customer-link", None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["removed"][0]["customer_id"], ACME);
    assert!(
        w.app
            .records
            .get_customer_link(CompanyId(COMPANY_A), Party::Organization(1))
            .await
            .unwrap()
            .is_none()
    );

    // --- the activity log has every action, newest first ---
    let r = w.a("GET", "/activity", None).await;
    assert_eq!(r.status, 200);
    let kinds: Vec<&str> = r.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "invoice.voided",
        "invoice.sent",
        "invoice.pdf_downloaded",
        "invoice.opened",
        "invoice.deleted",
        "invoices.refreshed",
        "invoice.linked",
        "invoice.unlinked",
        "customer.unlinked",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert_eq!(kinds.first(), Some(&"customer.unlinked"), "newest first");
    assert_eq!(kinds.last(), Some(&"invoice.voided"));
}
