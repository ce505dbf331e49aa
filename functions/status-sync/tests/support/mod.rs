//! The status-sync tests on the test world: the scheduled run and the redelivery through the
//! function's worker and the world's in-process queue, and the companies with changes in
//! QuickBooks that the embedded (`sync.rs`) and moto-backed (`moto.rs`) runs share.
#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};
use rust_decimal_macros::dec;
use sandbox::harness::FaultSpec;
use shared::domain::InvoiceLink;
use shared::wire::quickbooks::model::Invoice;
use status_sync::worker::{DrainReport, drain_once, schedule};
pub use test_world::*;

/// A second US company (the seeded GB one needs VAT codes on every line).
pub const OTHER_REALM: &str = "9341453050420201";

pub trait SyncRuns {
    /// One scheduled run: the schedule step, then one SQS-shaped delivery of every job.
    async fn scheduled_run(&self) -> (usize, DrainReport);
    /// Delivers the queued jobs once more (redelivery of failed messages).
    async fn redeliver(&self) -> DrainReport;
}

impl SyncRuns for World {
    async fn scheduled_run(&self) -> (usize, DrainReport) {
        let enqueued = schedule(&self.app, &self.queue)
            .await
            .expect("schedule enqueues");
        (enqueued, self.redeliver().await)
    }

    async fn redeliver(&self) -> DrainReport {
        drain_once(&self.app, &self.queue, 10, self.now()).await
    }
}

/// Company 1's links (deals 1–4) whose invoices changed in QuickBooks since the watermark an
/// hour ago.
pub struct Changed {
    /// Paid in full.
    pub paid: InvoiceLink,
    /// 50 of 200 paid.
    pub part: InvoiceLink,
    pub void: InvoiceLink,
    /// Deleted in QuickBooks.
    pub gone: InvoiceLink,
}

/// Company 1 on the US realm with [`Changed`] invoices.
pub async fn four_changes(w: &World) -> Changed {
    w.connect(1, 11, US_REALM).watermark(an_hour_ago()).await;
    let (paid, paid_link) = w.invoice_on_deal(1, 1, US_REALM, dec!(100)).await;
    let (part, part_link) = w.invoice_on_deal(1, 2, US_REALM, dec!(200)).await;
    let (void, void_link) = w.invoice_on_deal(1, 3, US_REALM, dec!(300)).await;
    let (gone, gone_link) = w.invoice_on_deal(1, 4, US_REALM, dec!(400)).await;
    let id = |i: &Invoice| i.id.clone().unwrap();
    let qb = &w.quickbooks;
    qb.record_payment(US_REALM, &id(&paid), None).unwrap();
    qb.record_payment(US_REALM, &id(&part), Some(dec!(50)))
        .unwrap();
    qb.void_invoice(US_REALM, &id(&void)).unwrap();
    qb.delete_invoice(US_REALM, &id(&gone)).unwrap();
    Changed {
        paid: paid_link,
        part: part_link,
        void: void_link,
        gone: gone_link,
    }
}

/// Each (company, realm, tracked) connected an hour ago and tracking `tracked` links, 5 of them
/// (deals 1–5) paid in QuickBooks since; the 5 links of every company.
pub async fn five_paid_of(w: &World, companies: &[(u64, &str, usize)]) -> Vec<InvoiceLink> {
    let mut changed = Vec::new();
    for &(company, realm, tracked) in companies {
        w.connect(company, 1, realm).watermark(an_hour_ago()).await;
        w.seed_quiet_links(company, realm, tracked - 5).await;
        for deal in 0..5 {
            let (invoice, link) = w.invoice_on_deal(company, deal + 1, realm, dec!(120)).await;
            w.quickbooks
                .record_payment(realm, invoice.id.as_deref().unwrap(), None)
                .unwrap();
            changed.push(link);
        }
    }
    changed
}

/// Companies 1 (US realm) and 2 (another realm) synced up to `watermark`, each with an invoice
/// on deal 1 paid since, every QuickBooks call for company 2 failing; their links.
pub async fn one_company_failing(
    w: &World,
    watermark: DateTime<Utc>,
) -> (InvoiceLink, InvoiceLink) {
    let mut links = Vec::new();
    for (company, user, realm) in [(1, 11, US_REALM), (2, 21, OTHER_REALM)] {
        w.connect(company, user, realm)
            .watermark(Some(watermark))
            .await;
        let (invoice, link) = w.invoice_on_deal(company, 1, realm, dec!(100)).await;
        w.quickbooks
            .record_payment(realm, invoice.id.as_deref().unwrap(), None)
            .unwrap();
        links.push(link);
    }
    w.quickbooks.harness().set_fault(
        format!("/v3/company/{OTHER_REALM}/"),
        FaultSpec {
            force_500: 100,
            ..FaultSpec::default()
        },
    );
    let other = links.pop().unwrap();
    (links.pop().unwrap(), other)
}

pub fn an_hour_ago() -> Option<DateTime<Utc>> {
    Some(Utc::now() - Duration::hours(1))
}
