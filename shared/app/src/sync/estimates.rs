//! Estimate links in step with QuickBooks, by the same paths as invoice links: the scheduled
//! sync's CDC answer (the same one call: `Invoice,Payment,Estimate`), the webhook's targeted
//! re-read, an action's answer. Every write goes through [`update_link`]; a write that changed
//! the status is settled here once ([`settle`]: the deal's activity event).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::App;
use crate::sync::changes::{Failure, Logged, SyncError, classify};
use crate::sync::{IDS_PER_QUERY, Written, update_link};
use clients::quickbooks::QuickBooksError;
use domain::estimates::{estimate_label, refreshed_estimate_link, status_words};
use domain::links::today_in;
use domain::{ActivityEvent, CompanyId, CompanyProfile, EstimateLink, Outcome};
use quickbooks_wire::model::{EntityStatus, Estimate, Invoice};
use quickbooks_wire::query::Query;
use store::StoreError;
use web::error::ApiError;

/// What applying estimates did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EstimatesApplied {
    /// Links written because something changed.
    pub written: Vec<Written<EstimateLink>>,
    pub unchanged: usize,
}

impl EstimatesApplied {
    pub fn merge(&mut self, other: EstimatesApplied) {
        self.written.extend(other.written);
        self.unchanged += other.unchanged;
    }
}

/// THE place where an estimate's status change becomes what it means: the deal's activity
/// event, once per transition (only the write that replaced the old status gets here with one).
pub async fn settle(
    app: &App,
    written: &Written<EstimateLink>,
    logged: Logged,
    now: DateTime<Utc>,
) {
    if !written.is_transition() || logged == Logged::ByCaller {
        return;
    }
    let link = &written.link;
    let mut label = estimate_label(link);
    if let Some(first) = label.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let message = format!(
        "{label} is now {} in QuickBooks (was {}).",
        status_words(link.status),
        status_words(written.from)
    );
    let event = estimate_event(
        link,
        "estimate.status_changed",
        Outcome::Succeeded,
        message,
        now,
        None,
    );
    if let Err(error) = app.records.append_activity(&event).await {
        tracing::warn!(%error, "could not record the estimate's status change");
    }
}

/// An activity event about an estimate (its id in the event's document id).
pub fn estimate_event(
    link: &EstimateLink,
    kind: &str,
    outcome: Outcome,
    message: String,
    now: DateTime<Utc>,
    user: Option<domain::UserId>,
) -> ActivityEvent {
    ActivityEvent {
        company_id: link.company_id,
        deal_id: link.deal_id,
        at: now,
        id: uuid::Uuid::new_v4().to_string(),
        kind: kind.into(),
        outcome,
        message,
        invoice_id: Some(link.estimate_id.clone()),
        user_id: user,
        intuit_tid: None,
    }
}

/// Applies `estimates` of `realm` (full reads, CDC entries, `Deleted` stubs) to the company's
/// links to them, and settles each write.
pub async fn apply_estimates(
    app: &App,
    profile: &CompanyProfile,
    realm: &str,
    estimates: &[Estimate],
    now: DateTime<Utc>,
) -> Result<EstimatesApplied, StoreError> {
    let today = today_in(&profile.time_zone, now);
    let mut applied = EstimatesApplied::default();
    for estimate in estimates {
        let Some(id) = estimate.id() else { continue };
        for link in app.records.find_estimate_links(realm, id).await? {
            if link.company_id != profile.company_id {
                continue;
            }
            let refreshed =
                |current: &EstimateLink| refreshed_estimate_link(current, estimate, today, now);
            match update_link(&app.records, link, refreshed).await? {
                Some(written) => {
                    settle(app, &written, Logged::Here, now).await;
                    applied.written.push(written);
                }
                None => applied.unchanged += 1,
            }
        }
    }
    Ok(applied)
}

/// Applies `estimate` (an action's answer) to one deal's link and settles the write (the caller
/// logs its own action). Answers the link as it is now.
pub async fn apply_to_estimate_link(
    app: &App,
    profile: &CompanyProfile,
    link: &EstimateLink,
    estimate: &Estimate,
    now: DateTime<Utc>,
) -> Result<EstimateLink, StoreError> {
    let today = today_in(&profile.time_zone, now);
    let refreshed = |current: &EstimateLink| refreshed_estimate_link(current, estimate, today, now);
    let Some(current) = app
        .records
        .get_estimate_link(link.company_id, link.deal_id, &link.estimate_id)
        .await?
    else {
        return Ok(refreshed(link).unwrap_or_else(|| link.clone()));
    };
    match update_link(&app.records, current.clone(), refreshed).await? {
        Some(written) => {
            settle(app, &written, Logged::ByCaller, now).await;
            Ok(written.link)
        }
        None => Ok(current),
    }
}

/// Reads the given estimates in one `Id IN (…)` query per [`IDS_PER_QUERY`] ids; one the query
/// does not return is read alone, and a 610 makes it a `Deleted` stub.
pub async fn fetch_estimates(
    app: &App,
    profile: &CompanyProfile,
    ids: &BTreeSet<String>,
) -> Result<Vec<Estimate>, ApiError> {
    let mut found: HashMap<String, Estimate> = HashMap::with_capacity(ids.len());
    let all: Vec<&str> = ids.iter().map(String::as_str).collect();
    for chunk in all.chunks(IDS_PER_QUERY) {
        let query = Query::select("Estimate")
            .is_in("Id", chunk.iter().copied())
            .max_results(IDS_PER_QUERY as u32);
        let response = app.quickbooks_of(profile).query(&query).await?;
        for estimate in response.estimate.unwrap_or_default() {
            if let Some(id) = estimate.id() {
                found.insert(id.to_string(), estimate);
            }
        }
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match found.remove(id) {
            Some(estimate) => out.push(estimate),
            None => out.push(read_or_deleted(app, profile, id).await?),
        }
    }
    Ok(out)
}

async fn read_or_deleted(
    app: &App,
    profile: &CompanyProfile,
    id: &str,
) -> Result<Estimate, ApiError> {
    match app.quickbooks_of(profile).read_estimate(id).await {
        Ok(estimate) => Ok(estimate),
        Err(crate::tokens::CallError::Call(QuickBooksError::Fault { fault, .. }))
            if fault.has_code("610") =>
        {
            Ok(deleted_stub(id))
        }
        Err(other) => Err(other.into()),
    }
}

/// The `{"Id": …, "status": "Deleted"}` stub of a deleted estimate.
pub fn deleted_stub(id: &str) -> Estimate {
    Estimate {
        sale: Invoice {
            id: Some(id.to_string()),
            status: Some(EntityStatus::Deleted),
            ..Invoice::default()
        },
        ..Estimate::default()
    }
}

/// What a targeted estimate update (a webhook) did.
#[derive(Debug, Default)]
pub struct EstimateChanges {
    pub changed: usize,
    pub skipped: usize,
    pub failures: Vec<(CompanyId, SyncError)>,
}

/// Re-reads the estimates of `realm` a webhook named, for every company that links one, and
/// updates the links. An estimate nobody links costs nothing.
pub async fn apply_estimate_changes(
    app: &App,
    realm: &str,
    ids: &BTreeSet<String>,
    now: DateTime<Utc>,
) -> Result<EstimateChanges, SyncError> {
    let mut by_company: BTreeMap<CompanyId, BTreeSet<String>> = BTreeMap::new();
    for id in ids {
        for link in app.records.find_estimate_links(realm, id).await? {
            by_company
                .entry(link.company_id)
                .or_default()
                .insert(link.estimate_id);
        }
    }
    let mut outcome = EstimateChanges::default();
    for (company, ids) in by_company {
        let profile = match app.records.get_company(company).await? {
            Some(p) if p.connected_realm() == Some(realm) => p,
            _ => {
                outcome.skipped += 1;
                continue;
            }
        };
        let estimates = match fetch_estimates(app, &profile, &ids).await {
            Ok(estimates) => estimates,
            Err(error) => {
                match classify(error) {
                    Failure::Skip(_) => outcome.skipped += 1,
                    Failure::Error(error) => outcome.failures.push((company, error)),
                }
                continue;
            }
        };
        match apply_estimates(app, &profile, realm, &estimates, now).await {
            Ok(applied) => outcome.changed += applied.written.len(),
            Err(error) => outcome.failures.push((company, error.into())),
        }
    }
    Ok(outcome)
}
