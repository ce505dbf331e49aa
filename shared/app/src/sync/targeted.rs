//! Targeted updates: some invoices and payments of one realm changed (a webhook said so); re-read
//! only those and update the links that point at them, for every company that links them.
//!
//! - Invoices: the links are found through the realm index (`REALM#{realm}` / `INVOICE#{id}#…`);
//!   an invoice nobody links costs nothing. Each company's linked ids are read with one
//!   `Id IN (…)` query ([`crate::sync::fetch_invoices`]; a missing one is confirmed deleted).
//! - Payments: read with one `select * from Payment where Id in (…)` query using the token of a
//!   company connected to the realm (one that links one of the invoices, else the first company
//!   found in the realm's links — a realm nobody links is ignored without any call); the
//!   invoices a payment applies to (`Line[].LinkedTxn` with `TxnType` Invoice) are then treated
//!   as changed invoices. A deleted payment is no longer readable; QuickBooks reports the
//!   invoices it applied to as updated, so their own events refresh them.
//! - Safe twice and out of order: [`domain::links::refreshed_link`] ignores data older
//!   than what a link reflects and writes nothing when nothing changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::App;
use crate::sync::{IDS_PER_QUERY, fetch_invoices};
use domain::{CompanyId, CompanyProfile};
use quickbooks_wire::model::Payment;
use quickbooks_wire::query::Query;
use store::PageRequest;

use crate::sync::changes::{Applied, Failure, Logged, SyncError, apply_for_company, classify};

/// What a targeted update did.
#[derive(Debug, Default)]
pub struct ChangesOutcome {
    pub applied: Applied,
    /// Companies that link the changed invoices.
    pub companies: usize,
    /// Companies skipped because their connection needs a human (not connected, reconnect).
    pub skipped: usize,
    /// Companies whose update failed (the caller retries the whole change set: it is idempotent).
    pub failures: Vec<(CompanyId, SyncError)>,
}

impl ChangesOutcome {
    /// Whether everything was applied (nothing to retry).
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Re-reads the given invoices and payments of `realm` and updates every link to them.
/// Errors before any company could be handled (the payment read, the store) come back as `Err`;
/// per-company failures are listed in the outcome.
pub async fn apply_changes(
    app: &App,
    realm: &str,
    invoice_ids: &BTreeSet<String>,
    payment_ids: &BTreeSet<String>,
    now: DateTime<Utc>,
) -> Result<ChangesOutcome, SyncError> {
    let mut outcome = ChangesOutcome::default();
    let mut profiles: HashMap<CompanyId, Option<CompanyProfile>> = HashMap::new();
    let mut by_company: BTreeMap<CompanyId, BTreeSet<String>> = BTreeMap::new();
    add_links(app, realm, invoice_ids.iter(), &mut by_company).await?;

    if !payment_ids.is_empty() {
        let reader = match reader_for(app, realm, &by_company, &mut profiles).await? {
            Some(profile) => profile,
            None => {
                tracing::info!(
                    realm_id = realm,
                    "payment events for a realm no connected company links; ignored"
                );
                return finish(app, realm, by_company, profiles, outcome, now).await;
            }
        };
        match read_payments(app, &reader, payment_ids).await {
            Ok(payments) => {
                let named: BTreeSet<String> = payments
                    .iter()
                    .filter_map(|p| p.line.as_ref())
                    .flatten()
                    .flat_map(|l| l.linked_txn.iter())
                    .filter(|t| t.txn_type.eq_ignore_ascii_case("Invoice"))
                    .map(|t| t.txn_id.clone())
                    .collect();
                add_links(app, realm, named.iter(), &mut by_company).await?;
            }
            Err(Failure::Skip(reason)) => {
                tracing::info!(realm_id = realm, %reason, "payments not read");
                outcome.skipped += 1;
            }
            Err(Failure::Error(error)) => return Err(error),
        }
    }
    finish(app, realm, by_company, profiles, outcome, now).await
}

async fn finish(
    app: &App,
    realm: &str,
    by_company: BTreeMap<CompanyId, BTreeSet<String>>,
    mut profiles: HashMap<CompanyId, Option<CompanyProfile>>,
    mut outcome: ChangesOutcome,
    now: DateTime<Utc>,
) -> Result<ChangesOutcome, SyncError> {
    for (company, ids) in by_company {
        outcome.companies += 1;
        let Some(profile) = profile_of(app, company, &mut profiles).await? else {
            outcome.skipped += 1;
            continue;
        };
        if profile.connected_realm() != Some(realm) {
            outcome.skipped += 1;
            continue;
        }
        let invoices = match fetch_invoices(app, &profile, &ids).await {
            Ok(invoices) => invoices,
            Err(error) => {
                match classify(error) {
                    Failure::Skip(_) => outcome.skipped += 1,
                    Failure::Error(error) => outcome.failures.push((company, error)),
                }
                continue;
            }
        };
        match apply_for_company(app, &profile, realm, &invoices, Logged::Here, now).await {
            Ok(applied) => outcome.applied.merge(applied),
            Err(error) => outcome.failures.push((company, error.into())),
        }
    }
    Ok(outcome)
}

/// Adds every company's links to `ids` of `realm`.
async fn add_links<'a>(
    app: &App,
    realm: &str,
    ids: impl Iterator<Item = &'a String>,
    by_company: &mut BTreeMap<CompanyId, BTreeSet<String>>,
) -> Result<(), SyncError> {
    for id in ids {
        for link in app.records.find_invoice_links(realm, id).await? {
            by_company
                .entry(link.company_id)
                .or_default()
                .insert(link.invoice_id);
        }
    }
    Ok(())
}

async fn profile_of(
    app: &App,
    company: CompanyId,
    cache: &mut HashMap<CompanyId, Option<CompanyProfile>>,
) -> Result<Option<CompanyProfile>, SyncError> {
    if let Some(known) = cache.get(&company) {
        return Ok(known.clone());
    }
    let profile = app.records.get_company(company).await?;
    cache.insert(company, profile.clone());
    Ok(profile)
}

/// A company connected to `realm` whose token can read the realm's payments: one of
/// `candidates`, else the first found among the realm's links.
async fn reader_for(
    app: &App,
    realm: &str,
    candidates: &BTreeMap<CompanyId, BTreeSet<String>>,
    cache: &mut HashMap<CompanyId, Option<CompanyProfile>>,
) -> Result<Option<CompanyProfile>, SyncError> {
    for company in candidates.keys() {
        if let Some(profile) = profile_of(app, *company, cache).await?
            && profile.connected_realm() == Some(realm)
        {
            return Ok(Some(profile));
        }
    }
    let mut cursor: Option<String> = None;
    loop {
        let (links, next) = app
            .records
            .realm_invoice_links(realm, PageRequest::after(100, cursor.as_deref()))
            .await?;
        let companies: BTreeSet<CompanyId> = links.iter().map(|l| l.company_id).collect();
        for company in companies {
            if cache.contains_key(&company) {
                continue;
            }
            if let Some(profile) = profile_of(app, company, cache).await?
                && profile.connected_realm() == Some(realm)
            {
                return Ok(Some(profile));
            }
        }
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(None),
        }
    }
}

/// Reads payments by id (one query per thousand ids).
async fn read_payments(
    app: &App,
    profile: &CompanyProfile,
    ids: &BTreeSet<String>,
) -> Result<Vec<Payment>, Failure> {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let query = Query::select("Payment")
            .is_in("Id", chunk.iter().copied())
            .max_results(IDS_PER_QUERY as u32);
        let response = app
            .quickbooks_of(profile)
            .query(&query)
            .await
            .map_err(|e| classify(e.into()))?;
        out.extend(response.payment.unwrap_or_default());
    }
    Ok(out)
}
