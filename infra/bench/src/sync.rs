//! The cost of keeping statuses current: QuickBooks calls and store writes of one scheduled run
//! of `status-sync` (its real entry points: [`status_sync::worker::schedule`] onto an in-process
//! SQS-shaped queue, then [`status_sync::worker::drain_once`], which hands the jobs to the worker
//! in SQS batches) for 10 / 1,000 / 10,000 tracked invoices per company and 1 / 100 / 1,000
//! companies, on the embedded store behind a counting wrapper, against the QuickBooks simulator.
//!
//! Each company: its own realm; 1 % of its tracked invoices (at least one) are real QuickBooks
//! invoices that get paid in full between the previous run (the watermark) and this one; the
//! other links point at invoices that did not change (QuickBooks' CDC does not report them,
//! whatever their number). A second run right after shows the idle cost. The baseline is polling
//! each invoice: one `GET /invoice/{id}` per tracked invoice, or one `Id IN (…)` query per 1,000.
//!
//! Estimates are tracked beside the invoices (one per ten invoices, at least one): 1 % of them (at
//! least one) are real QuickBooks estimates the customer accepts between the runs. The run's one
//! CDC call per company reads `Invoice,Payment,Estimate` together, so tracking estimates adds no
//! call, and their writes follow the changed estimates.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use sandbox::harness::RunningServer;
use sandbox::quickbooks::{QuickBooksSim, RealmSeed};
use shared::app::sync::jobs::InProcessQueue;
use shared::app::{App, Deployment};
use shared::domain::SecretString;
use shared::domain::estimates::link_from_estimate;
use shared::domain::links::link_from_invoice;
use shared::domain::{CompanyId, DealId};
use shared::store::embedded::EmbeddedStore;
use shared::store::secrets::embedded::EmbeddedSecrets;
use shared::store::{Condition, Item, ItemStore, Page, PageRequest, StoreError};
use shared::wire::quickbooks::model::{Estimate, Invoice, Line, Ref, TxnStatus};
use status_sync::worker::{drain_once, schedule};

use crate::report::Table;
use crate::world;

/// A store that counts what goes through it.
pub struct CountingStore {
    inner: Arc<dyn ItemStore>,
    reads: AtomicU64,
    writes: AtomicU64,
    link_writes: AtomicU64,
    estimate_writes: AtomicU64,
    event_writes: AtomicU64,
}

/// Writes of one run, by what was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Writes {
    pub total: u64,
    /// Invoice links (`DEAL#…#INVOICE#…`).
    pub links: u64,
    /// Estimate links (`DEAL#…#ESTIMATE#…`).
    pub estimate_links: u64,
    /// Activity events (`DEAL#…#EVENT#…`): what changed, for the deal's history.
    pub events: u64,
}

/// What a written sort key is: an invoice link, an estimate link, an activity event, or
/// something else.
pub fn write_kind(sk: &str) -> Option<&'static str> {
    if !sk.starts_with("DEAL#") {
        None
    } else if sk.contains("#INVOICE#") {
        Some("link")
    } else if sk.contains("#ESTIMATE#") {
        Some("estimate")
    } else if sk.contains("#EVENT#") {
        Some("event")
    } else {
        None
    }
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ItemStore>) -> Self {
        CountingStore {
            inner,
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            link_writes: AtomicU64::new(0),
            estimate_writes: AtomicU64::new(0),
            event_writes: AtomicU64::new(0),
        }
    }

    /// Reads and writes since the last reset; resets.
    pub fn take(&self) -> (u64, Writes) {
        (
            self.reads.swap(0, Ordering::SeqCst),
            Writes {
                total: self.writes.swap(0, Ordering::SeqCst),
                links: self.link_writes.swap(0, Ordering::SeqCst),
                estimate_links: self.estimate_writes.swap(0, Ordering::SeqCst),
                events: self.event_writes.swap(0, Ordering::SeqCst),
            },
        )
    }

    fn read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    fn write(&self, sk: &str) {
        self.writes.fetch_add(1, Ordering::Relaxed);
        match write_kind(sk) {
            Some("link") => self.link_writes.fetch_add(1, Ordering::Relaxed),
            Some("estimate") => self.estimate_writes.fetch_add(1, Ordering::Relaxed),
            Some(_) => self.event_writes.fetch_add(1, Ordering::Relaxed),
            None => 0,
        };
    }
}

#[async_trait]
impl ItemStore for CountingStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.read();
        self.inner.get(pk, sk).await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<Item, StoreError> {
        self.write(&item.sk);
        self.inner.put(item, condition).await
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.write(sk);
        self.inner.delete(pk, sk, condition).await
    }

    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        page: PageRequest<'_>,
    ) -> Result<Page, StoreError> {
        self.read();
        self.inner.query(pk, sk_prefix, page).await
    }

    async fn query_index(
        &self,
        gsi_pk: &str,
        gsi_sk_prefix: &str,
        page: PageRequest<'_>,
    ) -> Result<Page, StoreError> {
        self.read();
        self.inner.query_index(gsi_pk, gsi_sk_prefix, page).await
    }

    async fn delete_partition(&self, pk: &str) -> Result<usize, StoreError> {
        self.write("");
        self.inner.delete_partition(pk).await
    }
}

/// Invoices of a company that change between two runs: 1 %, at least one.
pub fn changed_per_company(tracked: usize) -> usize {
    (tracked / 100).max(1).min(tracked)
}

/// Estimates a company tracks beside `tracked` invoices: one per ten, at least one.
pub fn estimates_per_company(tracked: usize) -> usize {
    (tracked / 10).max(1)
}

/// QuickBooks calls per company per run when polling: one read per invoice, or one query per
/// 1,000 ids (`Id IN (…)`, QuickBooks' page limit).
pub fn polling_calls(tracked: usize) -> (usize, usize) {
    (tracked, tracked.div_ceil(1000))
}

/// One scenario's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub companies: usize,
    pub tracked: usize,
    /// Invoices that changed in QuickBooks since the last run (all companies).
    pub changed: usize,
    /// Estimates tracked per company.
    pub estimates: usize,
    /// Estimates the customers accepted since the last run (all companies).
    pub estimates_changed: usize,
    /// Measured (`true`) or derived from the per-company figures of a measured scenario.
    pub measured: bool,
    pub qb_calls: usize,
    pub store_writes: Writes,
    pub store_reads: u64,
    pub failed_jobs: usize,
    /// A second run right after (nothing changed).
    pub idle_qb_calls: usize,
    pub idle_store_writes: u64,
    pub idle_store_reads: u64,
}

/// A link to an invoice QuickBooks has but that does not change (its number is what the
/// scenario scales; the scheduled sync must not pay for it).
fn quiet_invoice(n: usize, customer: &str, today: NaiveDate) -> Invoice {
    let amount = Decimal::from(100 + (n % 900) as i64);
    Invoice {
        id: Some(format!("{}", 50_000_000 + n)),
        sync_token: Some("0".into()),
        doc_number: Some(format!("Q-{n}")),
        txn_date: Some(today),
        due_date: Some(today + Duration::days(30)),
        customer_ref: Some(Ref::new(customer)),
        currency_ref: Some(Ref::new("USD")),
        total_amt: Some(amount),
        balance: Some(amount),
        ..Invoice::default()
    }
}

/// A tracked estimate QuickBooks has but that does not change.
fn quiet_estimate(n: usize, customer: &str, today: NaiveDate) -> Estimate {
    let amount = Decimal::from(300 + (n % 700) as i64);
    let mut estimate = Estimate::from_invoice(
        Invoice {
            id: Some(format!("{}", 60_000_000 + n)),
            sync_token: Some("0".into()),
            doc_number: Some(format!("E-{n}")),
            txn_date: Some(today),
            customer_ref: Some(Ref::new(customer)),
            currency_ref: Some(Ref::new("USD")),
            total_amt: Some(amount),
            ..Invoice::default()
        },
        Some(today + Duration::days(30)),
    );
    estimate.txn_status = Some(TxnStatus::Pending);
    estimate
}

/// What changes in QuickBooks between the two runs: invoices paid, estimates accepted
/// (realm, id).
#[derive(Default)]
struct Changes {
    to_pay: Vec<(String, String)>,
    to_accept: Vec<(String, String)>,
}

/// The QuickBooks simulator and an app on the counting embedded store, as the scenarios use them.
struct SyncWorld {
    qb: QuickBooksSim,
    counting: Arc<CountingStore>,
    app: App,
    _qb_server: RunningServer,
}

impl SyncWorld {
    async fn start() -> Result<SyncWorld, String> {
        let (qb, qb_server) = QuickBooksSim::start(
            world::quickbooks_config(),
            SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await
        .map_err(|e| format!("QuickBooks simulator: {e}"))?;
        let counting = Arc::new(CountingStore::new(Arc::new(EmbeddedStore::in_memory())));
        let app = App::new(
            counting.clone(),
            Arc::new(EmbeddedSecrets::in_memory()),
            "bench",
            world::credentials(),
            Deployment::simulated(
                "http://127.0.0.1:9",
                &qb_server.base_url(),
                "http://127.0.0.1:9",
            ),
        );
        Ok(SyncWorld {
            qb,
            counting,
            app,
            _qb_server: qb_server,
        })
    }

    /// Company number `c` as seeded at `now`: its own realm, `tracked` links of which the first `changed` point at
    /// real QuickBooks invoices (their realm and id are pushed onto `to_pay`), connected with a
    /// watermark just after its invoices were written.
    async fn seed_company(
        &self,
        c: usize,
        tracked: usize,
        changed: usize,
        now: DateTime<Utc>,
        changes: &mut Changes,
    ) -> Result<(), String> {
        let qb = &self.qb;
        let today = now.date_naive();
        let company = 500_000 + c as u64;
        let realm = format!("{}", 9_130_000_000_000_000u64 + c as u64);
        qb.seed_realm(&RealmSeed::us(&realm));
        let customer = qb
            .customers(&realm)
            .map_err(|e| e.to_string())?
            .into_iter()
            .find_map(|c| c.id)
            .ok_or_else(|| "a seeded realm has no customer".to_string())?;
        let token = SecretString::new(
            qb.issue_tokens(&realm)
                .map_err(|e| e.to_string())?
                .access_token,
        );
        for n in 0..tracked {
            let invoice = if n < changed {
                let created = self.changing_invoice(&realm, &token, &customer).await?;
                if let Some(id) = created.id.clone() {
                    changes.to_pay.push((realm.clone(), id));
                }
                created
            } else {
                quiet_invoice(n, &customer, today)
            };
            let link = link_from_invoice(
                CompanyId(company),
                DealId(1 + (n / 50) as u64),
                &realm,
                &invoice,
                today,
                now,
            )
            .map_err(|e| e.to_string())?;
            self.app
                .records
                .create_invoice_link(&link)
                .await
                .map_err(|e| format!("seeding a link: {e}"))?;
        }
        self.seed_estimates(company, &realm, &token, &customer, tracked, now, changes)
            .await?;
        // The previous run read QuickBooks up to now.
        let watermark: DateTime<Utc> = qb.now() + Duration::seconds(1);
        world::connect(&self.app, qb, company, 1, &realm, Some(watermark))
            .await
            .map_err(|e| e.to_string())
    }

    /// The company's tracked estimates (one per ten invoices): the first 1 % real QuickBooks
    /// estimates (pushed onto `changes.to_accept`), the others quiet.
    #[allow(clippy::too_many_arguments)]
    async fn seed_estimates(
        &self,
        company: u64,
        realm: &str,
        token: &SecretString,
        customer: &str,
        tracked: usize,
        now: DateTime<Utc>,
        changes: &mut Changes,
    ) -> Result<(), String> {
        let today = now.date_naive();
        let estimates = estimates_per_company(tracked);
        for n in 0..estimates {
            let estimate = if n < changed_per_company(estimates) {
                let created = self.changing_estimate(realm, token, customer).await?;
                if let Some(id) = created.sale.id.clone() {
                    changes.to_accept.push((realm.to_string(), id));
                }
                created
            } else {
                quiet_estimate(n, customer, today)
            };
            let link = link_from_estimate(
                CompanyId(company),
                DealId(1 + (n / 5) as u64),
                realm,
                &estimate,
                today,
                now,
            )
            .map_err(|e| e.to_string())?;
            self.app
                .records
                .create_estimate_link(&link)
                .await
                .map_err(|e| format!("seeding an estimate link: {e}"))?;
        }
        Ok(())
    }

    /// A real QuickBooks invoice of `customer` (paid between the two runs).
    async fn changing_invoice(
        &self,
        realm: &str,
        token: &SecretString,
        customer: &str,
    ) -> Result<Invoice, String> {
        let draft = Invoice {
            customer_ref: Some(Ref::new(customer)),
            currency_ref: Some(Ref::new("USD")),
            line: Some(vec![Line::sales_item(
                Ref::new("2"),
                Decimal::ONE,
                Decimal::from(250),
            )]),
            ..Invoice::default()
        };
        self.app
            .quickbooks
            .create_invoice(realm, token, &draft, &uuid::Uuid::new_v4().to_string())
            .await
            .map_err(|e| format!("seeding an invoice: {e}"))
    }

    /// A real QuickBooks estimate of `customer` (accepted between the two runs).
    async fn changing_estimate(
        &self,
        realm: &str,
        token: &SecretString,
        customer: &str,
    ) -> Result<Estimate, String> {
        let draft = Estimate::from_invoice(
            Invoice {
                customer_ref: Some(Ref::new(customer)),
                currency_ref: Some(Ref::new("USD")),
                line: Some(vec![Line::sales_item(
                    Ref::new("2"),
                    Decimal::ONE,
                    Decimal::from(400),
                )]),
                ..Invoice::default()
            },
            None,
        );
        self.app
            .quickbooks
            .create_estimate(realm, token, &draft, &uuid::Uuid::new_v4().to_string())
            .await
            .map_err(|e| format!("seeding an estimate: {e}"))
    }

    /// Between the runs: the changed invoices are paid in full in QuickBooks, and the changed
    /// estimates accepted by the customers.
    fn pay(&self, changes: &Changes) -> Result<(), String> {
        self.qb.advance_clock(120);
        for (realm, id) in &changes.to_pay {
            self.qb
                .record_payment(realm, id, None)
                .map_err(|e| format!("paying {id}: {e}"))?;
        }
        for (realm, id) in &changes.to_accept {
            self.qb
                .set_estimate_status(realm, id, TxnStatus::Accepted, Some("Bench Customer"))
                .map_err(|e| format!("accepting estimate {id}: {e}"))?;
        }
        // This run starts ten minutes after the payments, so the next run's window (from this
        // run's start minus the two-minute overlap) no longer includes them: that run is idle.
        self.qb.advance_clock(600);
        Ok(())
    }

    /// One scheduled run at the simulator's time: its failed jobs, store reads and writes and
    /// QuickBooks calls.
    async fn run(&self) -> Result<(usize, u64, Writes, usize), String> {
        self.counting.take();
        self.qb.harness().clear_log();
        let failed = scheduled_run(&self.app, self.qb.now()).await?;
        let (reads, writes) = self.counting.take();
        Ok((failed, reads, writes, api_calls(&self.qb)))
    }
}

/// Runs one scenario: `companies` connected companies with `tracked` linked invoices each.
pub async fn scenario(companies: usize, tracked: usize) -> Result<Figures, String> {
    let world = SyncWorld::start().await?;
    let changed = changed_per_company(tracked);
    let now = world.qb.now();
    let mut changes = Changes::default();
    for c in 0..companies {
        world
            .seed_company(c, tracked, changed, now, &mut changes)
            .await?;
    }
    world.pay(&changes)?;
    let (failed, reads, writes, qb_calls) = world.run().await?;
    world.qb.advance_clock(15 * 60);
    let (_, idle_reads, idle_writes, idle_calls) = world.run().await?;
    Ok(Figures {
        companies,
        tracked,
        changed: changed * companies,
        estimates: estimates_per_company(tracked),
        estimates_changed: changes.to_accept.len(),
        measured: true,
        qb_calls,
        store_writes: writes,
        store_reads: reads,
        failed_jobs: failed,
        idle_qb_calls: idle_calls,
        idle_store_writes: idle_writes.total,
        idle_store_reads: idle_reads,
    })
}

/// One scheduled run through status-sync's real entry points (schedule onto an SQS-shaped
/// queue, then the worker's batches): its failed jobs.
pub async fn scheduled_run(app: &App, at: DateTime<Utc>) -> Result<usize, String> {
    let queue = InProcessQueue::new();
    let enqueued = schedule(app, &queue).await.map_err(|e| e.to_string())?;
    let report = drain_once(app, &queue, 10, at).await;
    if enqueued != report.processed {
        return Err(format!(
            "{enqueued} jobs enqueued, {} processed",
            report.processed
        ));
    }
    Ok(report.failed)
}

/// QuickBooks Accounting API requests in the simulator's log (token calls excluded).
fn api_calls(qb: &QuickBooksSim) -> usize {
    qb.harness()
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v3/company/"))
        .count()
}

/// Per-company figures of a measured scenario scaled to `companies` (companies are independent
/// jobs: each its own realm, its own CDC call, its own links).
pub fn derive(per: &Figures, companies: usize) -> Figures {
    let scale = |v: usize| v / per.companies.max(1) * companies;
    let scale64 = |v: u64| v / per.companies.max(1) as u64 * companies as u64;
    Figures {
        companies,
        tracked: per.tracked,
        changed: scale(per.changed),
        estimates: per.estimates,
        estimates_changed: scale(per.estimates_changed),
        measured: false,
        qb_calls: scale(per.qb_calls),
        store_writes: Writes {
            total: scale64(per.store_writes.total),
            links: scale64(per.store_writes.links),
            estimate_links: scale64(per.store_writes.estimate_links),
            events: scale64(per.store_writes.events),
        },
        store_reads: scale64(per.store_reads),
        failed_jobs: 0,
        idle_qb_calls: scale(per.idle_qb_calls),
        idle_store_writes: scale64(per.idle_store_writes),
        idle_store_reads: scale64(per.idle_store_reads),
    }
}

/// The grid: measured for one company and wherever the whole scenario holds ≤ `max_links`
/// links, derived from the one-company figures of the same size otherwise.
pub async fn measure(max_links: usize) -> Result<Vec<Figures>, String> {
    let mut out = Vec::new();
    let mut single: Vec<Figures> = Vec::new();
    for companies in [1usize, 100, 1000] {
        for tracked in [10usize, 1000, 10_000] {
            let figures = if companies == 1 || companies * tracked <= max_links {
                let f = scenario(companies, tracked).await?;
                eprintln!("sync: {companies} companies × {tracked} invoices measured");
                f
            } else {
                let per = single
                    .iter()
                    .find(|f| f.tracked == tracked)
                    .ok_or_else(|| format!("no one-company figures for {tracked} invoices"))?;
                derive(per, companies)
            };
            if companies == 1 {
                single.push(figures.clone());
            }
            out.push(figures);
        }
    }
    Ok(out)
}

pub fn table(figures: &[Figures]) -> Table {
    let mut t = Table::new(
        "sync",
        "Sync cost per scheduled run (status-sync: schedule → SQS-shaped queue → worker)",
        &[
            "companies",
            "invoices / company",
            "changed",
            "estimates / company",
            "estimates changed",
            "QuickBooks calls",
            "calls / company",
            "store writes: all (invoice links + estimate links + events + other)",
            "link writes ÷ changed documents",
            "store reads",
            "idle run: calls / writes / reads",
            "polling: calls (1 per invoice / Id IN 1000)",
            "calls ÷ polling",
            "how",
        ],
    );
    for f in figures {
        let (one_by_one, batched) = polling_calls(f.tracked);
        let (one_by_one, batched) = (one_by_one * f.companies, batched * f.companies);
        t.row(vec![
            f.companies.to_string(),
            f.tracked.to_string(),
            f.changed.to_string(),
            f.estimates.to_string(),
            f.estimates_changed.to_string(),
            f.qb_calls.to_string(),
            format!("{:.2}", f.qb_calls as f64 / f.companies.max(1) as f64),
            format!(
                "{} ({} + {} + {} + {})",
                f.store_writes.total,
                f.store_writes.links,
                f.store_writes.estimate_links,
                f.store_writes.events,
                f.store_writes.total
                    - f.store_writes.links
                    - f.store_writes.estimate_links
                    - f.store_writes.events
            ),
            format!(
                "{:.2}",
                (f.store_writes.links + f.store_writes.estimate_links) as f64
                    / (f.changed + f.estimates_changed).max(1) as f64
            ),
            f.store_reads.to_string(),
            format!(
                "{} / {} / {}",
                f.idle_qb_calls, f.idle_store_writes, f.idle_store_reads
            ),
            format!("{one_by_one} / {batched}"),
            format!(
                "{:.4} / {:.2}",
                f.qb_calls as f64 / one_by_one.max(1) as f64,
                f.qb_calls as f64 / batched.max(1) as f64
            ),
            if f.measured {
                if f.failed_jobs == 0 {
                    "measured".into()
                } else {
                    format!("measured, {} jobs FAILED", f.failed_jobs)
                }
            } else {
                "derived (× companies)".into()
            },
        ]);
    }
    t.note("Targets: one QuickBooks call per company per run whatever the number of invoices and estimates tracked (one CDC call over Invoice, Payment and Estimate); store writes equal to the changed documents.");
    t.note("Estimates: one tracked per ten invoices (at least one); 1 % of them (at least one) accepted by the customer in QuickBooks between the runs.");
    t.note("Store writes by kind: invoice links (the target: one per changed invoice), estimate links (one per changed estimate), activity events (one per status change, the deal's history), other (the company's sync watermark: one versioned write per company per run, after its updates). Store reads are requests (query pages and gets), not items.");
    t.note("Derived rows (more than the measured limit of links in one process) scale the one-company figures of the same size: companies are independent jobs.");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_percent_changes_at_least_one() {
        assert_eq!(changed_per_company(10), 1);
        assert_eq!(changed_per_company(1000), 10);
        assert_eq!(changed_per_company(10_000), 100);
        assert_eq!(changed_per_company(0), 0);
    }

    #[test]
    fn polling_costs_one_call_per_invoice_or_per_thousand() {
        assert_eq!(polling_calls(10), (10, 1));
        assert_eq!(polling_calls(1000), (1000, 1));
        assert_eq!(polling_calls(10_001), (10_001, 11));
    }

    #[test]
    fn derived_rows_scale_per_company_figures() {
        let per = Figures {
            companies: 1,
            tracked: 10_000,
            changed: 100,
            estimates: 1000,
            estimates_changed: 10,
            measured: true,
            qb_calls: 1,
            store_writes: Writes {
                total: 221,
                links: 100,
                estimate_links: 10,
                events: 110,
            },
            store_reads: 210,
            failed_jobs: 0,
            idle_qb_calls: 1,
            idle_store_writes: 1,
            idle_store_reads: 3,
        };
        let d = derive(&per, 1000);
        assert!(!d.measured);
        assert_eq!(
            (d.qb_calls, d.store_writes.links, d.changed),
            (1000, 100_000, 100_000)
        );
        assert_eq!(
            (
                d.estimates,
                d.estimates_changed,
                d.store_writes.estimate_links
            ),
            (1000, 10_000, 10_000)
        );
        let t = table(&[per, d]);
        assert_eq!(t.rows[0][6], "1.00");
        assert_eq!(t.rows[0][7], "221 (100 + 10 + 110 + 1)");
        assert_eq!(t.rows[0][8], "1.00");
        assert_eq!(t.rows[0][11], "10000 / 10");
        assert_eq!(t.rows[1][13], "derived (× companies)");
    }

    #[tokio::test]
    async fn the_counting_store_counts_reads_and_writes() {
        let store = CountingStore::new(Arc::new(EmbeddedStore::in_memory()));
        store
            .put(
                Item::new("P", "S", serde_json::json!({})),
                Condition::Always,
            )
            .await
            .unwrap();
        store
            .put(
                Item::new("P", "DEAL#1#INVOICE#9", serde_json::json!({})),
                Condition::Always,
            )
            .await
            .unwrap();
        store.get("P", "S").await.unwrap();
        store.query("P", "", PageRequest::first(10)).await.unwrap();
        store.delete("P", "S", Condition::Always).await.unwrap();
        let (reads, writes) = store.take();
        assert_eq!(
            (
                reads,
                writes.total,
                writes.links,
                writes.estimate_links,
                writes.events
            ),
            (2, 3, 1, 0, 0)
        );
        assert_eq!(store.take(), (0, Writes::default()));
        assert_eq!(
            write_kind("DEAL#4#EVENT#2026-01-01T00:00:00Z#x"),
            Some("event")
        );
        assert_eq!(write_kind("DEAL#4#ESTIMATE#17"), Some("estimate"));
        assert_eq!(write_kind("PROFILE"), None);
    }
}
