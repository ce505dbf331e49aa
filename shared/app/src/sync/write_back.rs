//! The deal's invoice figures written back to the Pipedrive deal fields the admin mapped
//! (settings › field write-back), so that Pipedrive's own lists, filters, reports and
//! automations can use them.
//!
//! Called once per event for every deal whose links the event wrote — by the place status
//! changes are settled ([`crate::sync::changes`]: webhooks, the scheduled sync, the panel's
//! refresh, action answers), by the overdue pass, by the create and by link/unlink — so a deal
//! gets **one update per event**, however many of its invoices changed, and **none when no
//! mapped value changed**: what was last written is kept per deal (`DEAL#{did}#FIGURES`) and
//! only differing fields are sent (`PATCH /api/v2/deals/{id}`, `custom_fields` only; scope
//! `deals:full`, which the app has for its notes — no new scope).
//!
//! Claim, then write: the new values are stored first with a versioned write, so of two paths
//! racing on one deal only one sends them; if Pipedrive then refuses, the old values are put
//! back so the next event of the deal (or the panel's refresh, which writes back even when it
//! finds nothing new) tries again, and the refusal is told on the deal's activity log.
//! Nothing is written without a mapped field, a connected QuickBooks company, or the Pipedrive
//! tokens of the user who connected it (disconnect and uninstall stop the writing).

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::App;
use domain::figures::{WrittenFigures, changed_fields, deal_figures, field_values};
use domain::{ActivityEvent, CompanyProfile, DealId, Outcome};
use pipedrive_wire::model::DealUpdate;
use store::StoreError;
use web::auth::Tenant;
use web::error::ApiError;

/// How long one deal update may wait out Pipedrive's 429s.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// Deals written at once.
const CONCURRENCY: usize = 4;

/// What writing back did (for tests, benchmarks and logs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteBackReport {
    /// Deal updates sent to Pipedrive.
    pub updated: usize,
    /// Deals whose mapped values had not changed (nothing sent).
    pub unchanged: usize,
    /// Deal updates Pipedrive refused or that could not be made (told on the deal).
    pub failed: usize,
}

impl WriteBackReport {
    pub fn merge(&mut self, other: WriteBackReport) {
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.failed += other.failed;
    }
}

enum DealOutcome {
    Updated,
    Unchanged,
    Failed,
}

/// Whose Pipedrive token writes: the user who connected QuickBooks (as the paid note does).
fn writer(profile: &CompanyProfile) -> Option<Tenant> {
    profile.connected_realm()?;
    profile.quickbooks.as_ref().map(|q| Tenant {
        company_id: profile.company_id,
        user_id: q.connected_by,
    })
}

/// Writes the figures of `deals` (each once) to their mapped fields, where they changed.
pub async fn write_back(
    app: &App,
    profile: &CompanyProfile,
    deals: impl IntoIterator<Item = DealId>,
    now: DateTime<Utc>,
) -> WriteBackReport {
    let mut report = WriteBackReport::default();
    let Some(tenant) = writer(profile) else {
        return report;
    };
    if profile.settings.write_back.is_empty() {
        return report;
    }
    let deals: BTreeSet<DealId> = deals.into_iter().collect();
    let outcomes: Vec<DealOutcome> = futures::stream::iter(deals)
        .map(|deal| write_deal(app, profile, tenant, deal, now))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for outcome in outcomes {
        match outcome {
            DealOutcome::Updated => report.updated += 1,
            DealOutcome::Unchanged => report.unchanged += 1,
            DealOutcome::Failed => report.failed += 1,
        }
    }
    report
}

async fn write_deal(
    app: &App,
    profile: &CompanyProfile,
    tenant: Tenant,
    deal: DealId,
    now: DateTime<Utc>,
) -> DealOutcome {
    match claim_changes(app, profile, deal, now).await {
        Ok(None) => DealOutcome::Unchanged,
        Ok(Some((before, claimed, changes))) => {
            let update = DealUpdate {
                custom_fields: Some(changes),
                ..DealUpdate::default()
            };
            let sent = app
                .pipedrive_of(tenant)
                .patient(PATIENCE)
                .update_deal(deal.0, &update)
                .await;
            match sent {
                Ok(_) => DealOutcome::Updated,
                Err(error) => {
                    let error = ApiError::from(error);
                    give_back(app, before, claimed).await;
                    tell_failure(app, profile, deal, &error, now).await;
                    DealOutcome::Failed
                }
            }
        }
        Err(error) => {
            tracing::warn!(company_id = profile.company_id.0, deal_id = deal.0, %error,
                "the deal's invoice figures could not be prepared for writing");
            DealOutcome::Failed
        }
    }
}

type Claimed = (
    WrittenFigures,
    WrittenFigures,
    std::collections::BTreeMap<String, serde_json::Value>,
);

/// Computes the deal's values and, when some differ from what was written, stores them as
/// written (versioned): answers (before, stored, the changed fields), or `None` when nothing
/// changed.
async fn claim_changes(
    app: &App,
    profile: &CompanyProfile,
    deal: DealId,
    now: DateTime<Utc>,
) -> Result<Option<Claimed>, StoreError> {
    let company = profile.company_id;
    let links = app.records.all_deal_invoice_links(company, deal).await?;
    let figures = deal_figures(&links);
    let values = field_values(&profile.settings.write_back, &figures);
    for _ in 0..3 {
        let before = app
            .records
            .get_written_figures(company, deal)
            .await?
            .unwrap_or(WrittenFigures {
                company_id: company,
                deal_id: deal,
                values: Default::default(),
                written_at: None,
                version: 0,
            });
        let changes = changed_fields(&values, &before.values);
        if changes.is_empty() {
            return Ok(None);
        }
        let mut next = before.clone();
        next.values.extend(changes.clone());
        next.written_at = Some(now);
        match app.records.save_written_figures(&next).await {
            Ok(stored) => return Ok(Some((before, stored, changes))),
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(StoreError::Backend(format!(
        "the written figures of deal {deal} kept changing"
    )))
}

/// Puts the values written before back (Pipedrive did not take the new ones), unless another
/// writer stored newer ones meanwhile.
async fn give_back(app: &App, before: WrittenFigures, claimed: WrittenFigures) {
    let restored = WrittenFigures {
        version: claimed.version,
        ..before
    };
    if let Err(error) = app.records.save_written_figures(&restored).await {
        tracing::warn!(deal_id = claimed.deal_id.0, %error,
            "the written figures could not be restored after a refused update");
    }
}

async fn tell_failure(
    app: &App,
    profile: &CompanyProfile,
    deal: DealId,
    error: &ApiError,
    now: DateTime<Utc>,
) {
    tracing::warn!(company_id = profile.company_id.0, deal_id = deal.0, %error,
        "Pipedrive refused the deal's invoice figures");
    let event = ActivityEvent {
        company_id: profile.company_id,
        deal_id: deal,
        at: now,
        id: uuid::Uuid::new_v4().simple().to_string(),
        kind: "fields.failed".into(),
        outcome: Outcome::Failed,
        message: format!(
            "The deal's invoice fields could not be updated in Pipedrive: {error} Check the field mapping in the app settings."
        ),
        invoice_id: None,
        user_id: None,
        intuit_tid: None,
    };
    if let Err(e) = app.records.append_activity(&event).await {
        tracing::warn!(deal_id = deal.0, error = %e, "could not record the failed field update");
    }
}
