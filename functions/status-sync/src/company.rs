//! The scheduled sync of one company.
//!
//! 1. **One CDC call** (`GET /cdc?entities=Invoice,Payment,Estimate&changedSince=<watermark>`). Its
//!    invoices go through [`shared::app::sync::changes::apply_for_company`] (only invoices the company links
//!    are touched; a link is written only when something it keeps changed). A payment changes
//!    the invoices it applies to, and QuickBooks then reports those invoices as changed in the
//!    same answer; payments that name a linked invoice the answer does not carry get that
//!    invoice re-read (an extra query, only then). Its estimates go to the deals' estimate links
//!    the same way ([`shared::app::sync::estimates::apply_estimates`]).
//! 2. **Split full windows.** CDC answers at most [`CDC_MAX_OBJECTS`] objects, oldest first
//!    (grouped by entity, ordered by `LastUpdatedTime`, deleted objects after the active ones).
//!    CDC has no end bound, so a full answer is split at the newest active invoice it carries:
//!    the next call starts there (inclusive: the boundary objects are read twice, harmlessly).
//!    Because deleted stubs come after the active objects, a cut answer may have dropped
//!    deletions: after a split, the company's linked invoices that are still open and were not
//!    seen in the answers are re-read with `Id IN (…)` queries (a missing one is confirmed
//!    deleted), so nothing is missed. If one instant alone holds 1000 objects (no progress
//!    possible) the same re-read covers the rest.
//! 3. **Watermark ≤ 30 days.** CDC only looks back 30 days. A watermark (or, for a first run,
//!    the connection time) older than that is clamped to 30 days minus a margin, and the gap is
//!    covered by the same re-read of linked open invoices.
//! 4. **Overdue pass, no API call.** Every link of the company still Open whose due date has
//!    passed in the company's time zone becomes Overdue ([`status_on`]). A link only turns
//!    overdue when the local date changes (new and refreshed links get their status for today
//!    from QuickBooks data), so the pass runs when the company's local date differs from the
//!    previous run's, or when there was no previous run.
//! 5. **Watermark last.** The new watermark (this run's start minus [`WATERMARK_OVERLAP`] for
//!    clock skew) is saved with a versioned write only after every update above is stored; a
//!    failing run leaves it where it was, so the retry reads the same changes again.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use shared::app::App;
use shared::app::sync::estimates::apply_estimates;
use shared::app::sync::fetch_invoices;
use shared::app::sync::write_back::write_back;
use shared::domain::links::{overdue_version, qbo_updated_at, today_in};
use shared::domain::{CompanyId, CompanyProfile, DealId, InvoiceStatus};
use shared::store::{PageRequest, StoreError};
use shared::wire::quickbooks::model::{CdcResponseEnvelope, EntityStatus, Estimate, Invoice};

use shared::app::sync::changes::{
    Applied, Failure, Logged, SyncError, apply_for_company, classify, mark_overdue,
};

/// Largest CDC answer.
pub const CDC_MAX_OBJECTS: usize = 1000;
/// How far back CDC reaches.
pub const CDC_MAX_DAYS: i64 = 30;
/// Kept between the oldest allowed `changedSince` and the one we send (clock skew).
pub const CDC_LIMIT_MARGIN_MINUTES: i64 = 10;
/// The next run re-reads changes of this last stretch (clock skew, late commits).
pub const WATERMARK_OVERLAP: Duration = Duration::minutes(2);
/// Entities read by CDC.
pub const CDC_ENTITIES: &[&str] = &["Invoice", "Payment", "Estimate"];
/// Most CDC windows one run reads before falling back to the re-read of linked open invoices.
pub const MAX_WINDOWS: usize = 50;

/// What one company's sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompanyOutcome {
    Synced(CompanyReport),
    /// Not synced until a human acts; the connection state already shows why.
    Skipped {
        reason: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompanyReport {
    pub company_id: Option<CompanyId>,
    /// CDC calls made (1 unless a window was full).
    pub cdc_calls: usize,
    /// Other QuickBooks calls (re-reads after a split, a clamped watermark, payments).
    pub query_calls: usize,
    pub links_written: usize,
    pub links_unchanged: usize,
    pub status_changes: usize,
    pub overdue: usize,
    pub overdue_pass: bool,
    pub watermark: Option<DateTime<Utc>>,
}

/// Syncs one company at `now`. See the module documentation.
pub async fn sync_company(
    app: &App,
    company: CompanyId,
    now: DateTime<Utc>,
) -> Result<CompanyOutcome, SyncError> {
    let Some(profile) = app.records.get_company(company).await? else {
        return Ok(CompanyOutcome::Skipped {
            reason: "the company is not installed".into(),
        });
    };
    let Some(realm) = profile.connected_realm().map(str::to_string) else {
        return Ok(CompanyOutcome::Skipped {
            reason: not_connected(&profile),
        });
    };
    let mut run = Run {
        app,
        profile: &profile,
        realm: &realm,
        now,
        report: CompanyReport {
            company_id: Some(company),
            ..CompanyReport::default()
        },
        applied: Applied::default(),
        seen: BTreeSet::new(),
    };
    let (start, clamped) = cdc_start(&profile, now);
    let step = async {
        let needs_reread = run.cdc_windows(start).await? || clamped;
        if needs_reread {
            run.reread_unseen().await?;
        }
        Ok::<_, Failure>(())
    };
    match step.await {
        Ok(()) => {}
        Err(Failure::Skip(reason)) => return Ok(CompanyOutcome::Skipped { reason }),
        Err(Failure::Error(e)) => return Err(e),
    }
    let Run {
        report, applied, ..
    } = run;
    finish(app, profile, &realm, report, applied, now).await
}

/// Why a company without an active connection is skipped.
fn not_connected(profile: &CompanyProfile) -> String {
    match &profile.quickbooks {
        Some(q) => format!(
            "QuickBooks connection is {:?}{}",
            q.state,
            q.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        None => "QuickBooks is not connected".into(),
    }
}

/// Where CDC starts: the watermark (or the connection's time), clamped to CDC's reach; `true`
/// when it was clamped (what lies before must be re-read instead).
fn cdc_start(profile: &CompanyProfile, now: DateTime<Utc>) -> (DateTime<Utc>, bool) {
    let limit = now - Duration::days(CDC_MAX_DAYS) + Duration::minutes(CDC_LIMIT_MARGIN_MINUTES);
    let wanted = profile.sync_watermark.unwrap_or_else(|| {
        profile
            .quickbooks
            .as_ref()
            .map(|q| q.connected_at)
            .unwrap_or(limit)
    });
    if wanted < limit {
        (limit, true)
    } else {
        (wanted, false)
    }
}

/// One company's run in progress.
struct Run<'a> {
    app: &'a App,
    profile: &'a CompanyProfile,
    realm: &'a str,
    now: DateTime<Utc>,
    report: CompanyReport,
    applied: Applied,
    /// Active invoices seen in the answers (a re-read skips them).
    seen: BTreeSet<String>,
}

impl Run<'_> {
    /// Reads CDC from `start`, window after window while they come back full; answers whether a
    /// window was full (what a full window left out is found by re-reading the open links).
    async fn cdc_windows(&mut self, mut start: DateTime<Utc>) -> Result<bool, Failure> {
        let mut windows = 0;
        let mut full = false;
        loop {
            let answer = cdc(self.app, self.profile, start).await?;
            self.report.cdc_calls += 1;
            windows += 1;
            let invoices: Vec<Invoice> = answer.invoices().cloned().collect();
            let objects = invoices.len() + answer.payments().count() + answer.estimates().count();
            self.apply_window(&answer, &invoices).await?;
            if objects < CDC_MAX_OBJECTS {
                return Ok(full);
            }
            // A full window: continue from its newest active invoice.
            full = true;
            let newest = invoices
                .iter()
                .filter(|i| i.status != Some(EntityStatus::Deleted))
                .filter_map(qbo_updated_at)
                .max();
            match newest {
                Some(next) if next > start && windows < MAX_WINDOWS => start = next,
                _ => {
                    tracing::warn!(
                        company_id = self.profile.company_id.0,
                        windows,
                        "CDC windows cannot be split further; re-reading linked open invoices"
                    );
                    return Ok(true);
                }
            }
        }
    }

    /// Applies one CDC answer: its invoices, and the linked invoices its payments name.
    async fn apply_window(
        &mut self,
        answer: &CdcResponseEnvelope,
        invoices: &[Invoice],
    ) -> Result<(), Failure> {
        let in_answer: BTreeSet<&str> = invoices.iter().filter_map(|i| i.id.as_deref()).collect();
        let named_by_payments: BTreeSet<String> = answer
            .payments()
            .filter_map(|p| p.line.as_ref())
            .flatten()
            .flat_map(|l| l.linked_txn.iter())
            .filter(|t| t.txn_type.eq_ignore_ascii_case("Invoice"))
            .map(|t| t.txn_id.clone())
            .filter(|id| !in_answer.contains(id.as_str()))
            .collect();
        for invoice in invoices {
            if invoice.status != Some(EntityStatus::Deleted)
                && let Some(id) = &invoice.id
            {
                self.seen.insert(id.clone());
            }
        }
        let applied = apply_for_company(
            self.app,
            self.profile,
            self.realm,
            invoices,
            Logged::Here,
            self.now,
        )
        .await
        .map_err(|e| Failure::Error(e.into()))?;
        self.applied.merge(applied);
        let estimates: Vec<Estimate> = answer.estimates().cloned().collect();
        let estimates = apply_estimates(self.app, self.profile, self.realm, &estimates, self.now)
            .await
            .map_err(|e| Failure::Error(e.into()))?;
        self.applied.changed += estimates.written.len();
        self.applied.unchanged += estimates.unchanged;
        if !named_by_payments.is_empty() {
            let ids = linked_ids(
                self.app,
                self.profile.company_id,
                self.realm,
                &named_by_payments,
            )
            .await
            .map_err(|e| Failure::Error(e.into()))?;
            self.reread(&ids).await?;
            self.seen.extend(ids);
        }
        Ok(())
    }

    /// Re-reads the open links no answer of this run showed.
    async fn reread_unseen(&mut self) -> Result<(), Failure> {
        let ids = open_links_not_seen(self.app, self.profile.company_id, self.realm, &self.seen)
            .await
            .map_err(|e| Failure::Error(e.into()))?;
        self.reread(&ids).await
    }

    async fn reread(&mut self, ids: &BTreeSet<String>) -> Result<(), Failure> {
        if ids.is_empty() {
            return Ok(());
        }
        let (calls, result) = reread(self.app, self.profile, self.realm, ids, self.now).await;
        self.report.query_calls += calls;
        self.applied.merge(result?);
        Ok(())
    }
}

/// After the updates: the overdue pass (once a day), then the watermark, then the report.
async fn finish(
    app: &App,
    profile: CompanyProfile,
    realm: &str,
    mut report: CompanyReport,
    applied: Applied,
    now: DateTime<Utc>,
) -> Result<CompanyOutcome, SyncError> {
    let company = profile.company_id;
    let today = today_in(&profile.time_zone, now);
    let last_run_day = profile
        .sync_watermark
        .map(|w| today_in(&profile.time_zone, w + WATERMARK_OVERLAP));
    if last_run_day != Some(today) {
        report.overdue_pass = true;
        report.overdue = overdue_pass(app, &profile, realm, now).await?;
    }
    let watermark = now - WATERMARK_OVERLAP;
    save_watermark(app, profile, watermark).await?;
    report.links_written = applied.changed + report.overdue;
    report.links_unchanged = applied.unchanged;
    report.status_changes = applied.status_changes.len() + report.overdue;
    report.watermark = Some(watermark);
    tracing::info!(
        company_id = company.0,
        cdc_calls = report.cdc_calls,
        query_calls = report.query_calls,
        links_written = report.links_written,
        overdue = report.overdue,
        "company synced"
    );
    Ok(CompanyOutcome::Synced(report))
}

async fn cdc(
    app: &App,
    profile: &CompanyProfile,
    since: DateTime<Utc>,
) -> Result<CdcResponseEnvelope, Failure> {
    app.quickbooks_of(profile)
        .cdc(CDC_ENTITIES, since)
        .await
        .map_err(|e| classify(e.into()))
}

/// Re-reads `ids` and applies them; answers the number of calls made (approximately: one query
/// per thousand ids) and the result.
async fn reread(
    app: &App,
    profile: &CompanyProfile,
    realm: &str,
    ids: &BTreeSet<String>,
    now: DateTime<Utc>,
) -> (usize, Result<Applied, Failure>) {
    let calls = ids.len().div_ceil(shared::app::sync::IDS_PER_QUERY);
    let invoices = match fetch_invoices(app, profile, ids).await {
        Ok(invoices) => invoices,
        Err(e) => return (calls, Err(classify(e))),
    };
    let result = apply_for_company(app, profile, realm, &invoices, Logged::Here, now)
        .await
        .map_err(|e| Failure::Error(e.into()));
    (calls, result)
}

/// Ids of the company's links in `realm` that may still change (open, overdue, partially paid)
/// and were not seen in this run's CDC answers.
async fn open_links_not_seen(
    app: &App,
    company: CompanyId,
    realm: &str,
    seen: &BTreeSet<String>,
) -> Result<BTreeSet<String>, StoreError> {
    let mut out = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let (links, next) = app
            .records
            .realm_invoice_links(realm, PageRequest::after(500, cursor.as_deref()))
            .await?;
        for link in links {
            if link.company_id == company
                && matches!(
                    link.status,
                    InvoiceStatus::Open | InvoiceStatus::Overdue | InvoiceStatus::PartiallyPaid
                )
                && !seen.contains(&link.invoice_id)
            {
                out.insert(link.invoice_id);
            }
        }
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// Marks Overdue every Open link of the company in `realm` whose due date has passed in the
/// company's time zone. No QuickBooks call. Answers how many links changed; the deals they
/// belong to get their mapped fields written once each, at the end (also when a store error
/// ends the pass early: what was marked is written back).
pub async fn overdue_pass(
    app: &App,
    profile: &CompanyProfile,
    realm: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut deals = BTreeSet::new();
    let marked = mark_overdue_links(app, profile, realm, now, &mut deals).await;
    write_back(app, profile, deals, now).await;
    marked
}

/// The overdue pass's marking: how many links changed, their deals into `deals`.
async fn mark_overdue_links(
    app: &App,
    profile: &CompanyProfile,
    realm: &str,
    now: DateTime<Utc>,
    deals: &mut BTreeSet<DealId>,
) -> Result<usize, StoreError> {
    let today = today_in(&profile.time_zone, now);
    let mut changed = 0;
    let mut cursor: Option<String> = None;
    loop {
        let (links, next) = app
            .records
            .realm_invoice_links(realm, PageRequest::after(500, cursor.as_deref()))
            .await?;
        for link in links {
            if link.company_id != profile.company_id || overdue_version(&link, today, now).is_none()
            {
                continue;
            }
            if let Some(written) = mark_overdue(app, profile, link, now).await? {
                changed += 1;
                deals.insert(written.link.deal_id);
            }
        }
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(changed),
        }
    }
}

/// Which of `ids` of `realm` the company links (to any deal).
async fn linked_ids(
    app: &App,
    company: CompanyId,
    realm: &str,
    ids: &BTreeSet<String>,
) -> Result<BTreeSet<String>, StoreError> {
    let mut out = BTreeSet::new();
    for id in ids {
        let links = app.records.find_invoice_links(realm, id).await?;
        if links.iter().any(|l| l.company_id == company) {
            out.insert(id.clone());
        }
    }
    Ok(out)
}

/// Saves the watermark (versioned; on a conflict the profile is re-read and the watermark set
/// again, keeping whatever else changed).
async fn save_watermark(
    app: &App,
    mut profile: CompanyProfile,
    watermark: DateTime<Utc>,
) -> Result<(), StoreError> {
    for _ in 0..3 {
        profile.sync_watermark = Some(watermark);
        match app.records.save_company(&profile).await {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict { .. }) => {
                match app.records.get_company(profile.company_id).await? {
                    Some(fresh) => profile = fresh,
                    None => return Ok(()),
                }
            }
            Err(other) => return Err(other),
        }
    }
    Err(StoreError::Backend(format!(
        "company {} kept changing while its sync watermark was saved",
        profile.company_id
    )))
}
