//! Invoices in the QuickBooks simulator and their links to deals, and what the simulator saw.

use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;
use sandbox::harness::LoggedRequest;
use shared::domain::links::{link_from_invoice, today_in};
use shared::domain::{CompanyId, DealId, InvoiceLink, InvoiceStatus, SecretString};
use shared::wire::quickbooks::model::{Customer, GlobalTaxCalculation, Invoice, Line, Ref};

use crate::GB_REALM;
use crate::world::World;

impl World {
    /// A QuickBooks access token for direct calls to the simulator (test set-up only).
    pub fn qb_token(&self, realm: &str) -> SecretString {
        let issued = self.quickbooks.issue_tokens(realm);
        SecretString::new(issued.expect("QuickBooks tokens").access_token)
    }

    /// A customer of the realm who pays in dollars (the first of the seed).
    pub fn usd_customer(&self, realm: &str) -> String {
        self.quickbooks
            .customers(realm)
            .expect("realm exists")
            .into_iter()
            .find(|c| c.currency_ref.as_ref().is_none_or(|r| r.value == "USD"))
            .and_then(|c| c.id)
            .expect("a USD customer in the seed")
    }

    /// Creates an invoice in QuickBooks over its API: one line of `amount` for `customer`,
    /// issued on `txn_date` (default: today) and due on `due` (default: the customer's terms);
    /// in the GB realm VAT-exclusive at the standard rate.
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
        let request_id = uuid::Uuid::new_v4().to_string();
        self.app
            .quickbooks
            .create_invoice(realm, &self.qb_token(realm), &invoice, &request_id)
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
        let today = today_in("UTC", now);
        let link = link_from_invoice(CompanyId(company), DealId(deal), realm, invoice, today, now)
            .expect("a link from the invoice");
        self.app
            .records
            .create_invoice_link(&link)
            .await
            .expect("link stored")
    }

    /// Creates an invoice of a dollar customer in the simulator, due in 30 days, and links it
    /// to `deal`.
    pub async fn invoice_on_deal(
        &self,
        company: u64,
        deal: u64,
        realm: &str,
        amount: Decimal,
    ) -> (Invoice, InvoiceLink) {
        let due = self.now().date_naive() + Duration::days(30);
        let customer = self.usd_customer(realm);
        let invoice = self
            .create_invoice_with(realm, &customer, amount, None, Some(due))
            .await;
        let link = self.link(company, deal, realm, &invoice).await;
        (invoice, link)
    }

    /// Seeds `count` open links straight into the store (invoices QuickBooks will not report as
    /// changed: the simulator does not need to hold them), due in 30 days.
    pub async fn seed_quiet_links(&self, company: u64, realm: &str, count: usize) {
        let now = self.now();
        for i in 0..count {
            let link = InvoiceLink {
                company_id: CompanyId(company),
                deal_id: DealId(10_000 + i as u64),
                realm_id: realm.to_string(),
                invoice_id: format!("{}", 5_000_000 + i),
                doc_number: Some(format!("Q{i}")),
                currency: "USD".into(),
                total: Decimal::new(10_000, 2),
                balance: Decimal::new(10_000, 2),
                txn_date: now.date_naive(),
                due_date: Some(now.date_naive() + Duration::days(30)),
                status: InvoiceStatus::Open,
                customer_id: "1".into(),
                customer_name: None,
                email_sent: false,
                sync_token: Some("0".into()),
                qbo_updated_at: Some(now - Duration::days(3)),
                last_payment_date: None,
                billing: None,
                created_at: now - Duration::days(3),
                updated_at: now - Duration::days(3),
                version: 0,
            };
            self.app
                .records
                .create_invoice_link(&link)
                .await
                .expect("link created");
        }
    }

    pub fn qb_invoice(&self, realm: &str, id: &str) -> Invoice {
        self.quickbooks
            .invoice(realm, id)
            .expect("invoice in the simulator")
    }

    /// A customer as the simulator holds it.
    pub fn qb_customer(&self, realm: &str, id: &str) -> Customer {
        let customers = self.quickbooks.customers(realm).expect("realm exists");
        let found = customers.into_iter().find(|c| c.id.as_deref() == Some(id));
        found.expect("customer in the simulator")
    }

    /// QuickBooks API requests (not OAuth, not the control API) to `realm` since the log was
    /// last cleared.
    pub fn api_calls(&self, realm: &str) -> Vec<LoggedRequest> {
        self.quickbooks
            .harness()
            .requests_matching(None, &format!("/v3/company/{realm}/"))
    }

    /// [`Self::api_calls`] as (method, path).
    pub fn qb_calls(&self, realm: &str) -> Vec<(String, String)> {
        let calls = self.api_calls(realm);
        calls.into_iter().map(|r| (r.method, r.path)).collect()
    }

    pub fn clear_qb_log(&self) {
        self.quickbooks.harness().clear_log();
    }

    /// The requests QuickBooks received to create invoices (POST /invoice without `operation`).
    pub fn invoice_posts(&self, realm: &str) -> Vec<LoggedRequest> {
        self.quickbooks
            .harness()
            .requests_matching(Some("POST"), &format!("/v3/company/{realm}/invoice"))
            .into_iter()
            .filter(|r| r.path.ends_with("/invoice"))
            .filter(|r| !r.query.as_deref().unwrap_or("").contains("operation="))
            .collect()
    }

    /// Token-endpoint calls the QuickBooks simulator received.
    pub fn quickbooks_token_calls(&self) -> usize {
        self.quickbooks
            .harness()
            .requests_matching(Some("POST"), "/oauth2/v1/tokens/bearer")
            .len()
    }

    /// Refresh calls the Pipedrive simulator received.
    pub fn pipedrive_refresh_calls(&self) -> usize {
        self.pipedrive
            .harness()
            .requests_matching(Some("POST"), "/oauth/token")
            .iter()
            .filter(|r| r.body.contains("grant_type=refresh_token"))
            .count()
    }

    /// Points the simulator's webhooks at `url` (a served webhook route), signed with the app's
    /// verifier, in `format`, sent when flushed.
    pub fn point_webhooks_at(&self, url: &str, format: sandbox::quickbooks::WebhookFormat) {
        let verifier = self.app.credentials.quickbooks_webhook_verifier.expose();
        self.quickbooks
            .set_webhook_config(sandbox::quickbooks::WebhookConfig {
                url: Some(url.to_string()),
                verifier_token: verifier.to_string(),
                format,
                batch_ms: 0,
            });
    }
}
