//! The `invoice-actions` tests on the test world: the function's router served over HTTP, the
//! standard companies (A on the US realm, B on the GB realm, their organizations linked to
//! customers), calls on deal 1 as A's admin, and the end-to-end run of every action that the
//! embedded (`flows.rs`) and moto-backed (`moto.rs`) suites share.
#![allow(dead_code, unused_imports)]

use rust_decimal::Decimal;
use serde_json::Value;
use shared::domain::{CompanyId, InvoiceLink, Party};
use shared::wire::quickbooks::model::{EmailAddress, Invoice};
pub use test_world::*;

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

/// A world serving the function's router.
pub fn world() -> WorldBuilder {
    World::builder().serving(|app| shared::web::http::finish(invoice_actions::router(app.clone())))
}

/// Company A (users 101 admin + 102) on the US realm and company B (201) on the GB realm,
/// with A's organization 1 linked to Acme Corp and B's organization 1 to O'Brien & Sons.
pub async fn standard() -> World {
    standard_on(world().start().await).await
}

pub async fn standard_on(w: World) -> World {
    w.connect(COMPANY_A, USER_A_ADMIN, US_REALM)
        .members(&[USER_A_MEMBER])
        .await;
    w.connect(COMPANY_B, USER_B_ADMIN, GB_REALM).await;
    let acme = (US_REALM, ACME, "Acme Corp");
    let obrien = (GB_REALM, OBRIEN_GB, "O'Brien & Sons");
    for (company, (realm, customer, name)) in [(COMPANY_A, acme), (COMPANY_B, obrien)] {
        w.seed_customer_link(company, Party::Organization(1), realm, customer, name)
            .await;
    }
    w
}

/// What the invoice-actions tests do on a world.
pub trait DealActions {
    /// `call` as company A's admin on deal 1 (`path` below `/api/deals/1`).
    async fn a(&self, method: &str, path: &str, body: Option<Value>) -> Answer;
    /// Creates an invoice for Acme Corp in the US realm and links it to company A's deal.
    async fn acme_invoice(&self, amount: Decimal) -> (Invoice, InvoiceLink);
}

impl DealActions for World {
    async fn a(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let path = format!("/api/deals/{DEAL}{path}");
        self.call(
            method,
            &path,
            (COMPANY_A, USER_A_ADMIN),
            body.as_ref(),
            None,
        )
        .await
    }

    async fn acme_invoice(&self, amount: Decimal) -> (Invoice, InvoiceLink) {
        let invoice = self.create_invoice(US_REALM, ACME, amount).await;
        let link = self.link(COMPANY_A, DEAL, US_REALM, &invoice).await;
        (invoice, link)
    }
}

pub fn bill_email(invoice: &Invoice) -> Option<String> {
    invoice
        .bill_email
        .as_ref()
        .and_then(|e: &EmailAddress| e.address.clone())
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
    assert_eq!(bill_email(&in_qb).as_deref(), Some("billing@acme.example"));
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
