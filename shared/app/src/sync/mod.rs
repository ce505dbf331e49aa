//! Bringing invoice links up to date from QuickBooks, shared by the panel's refresh, the webhook
//! and the scheduled sync: read many invoices in one query, apply them to the links that point at
//! them, write only what changed.
//!
//! - [`changes`]: what a status change does besides the link write (the deal's note on Paid, the
//!   activity event), applied once per transition whoever noticed it.
//! - [`targeted`]: re-reading only what a webhook named.
//! - [`jobs`]: the sync's job queue (SQS on Lambda with the `sqs` feature, in memory locally).
//! - [`write_back`]: the deal's invoice figures in the deal fields the admin mapped, once per
//!   changed deal per event.

pub mod changes;
pub mod estimates;
pub mod jobs;
pub mod targeted;
pub mod write_back;

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};

use crate::App;
use clients::quickbooks::QuickBooksError;
use domain::links::refreshed_link;
use domain::{CompanyId, CompanyProfile, EstimateLink, EstimateStatus, InvoiceLink, InvoiceStatus};
use quickbooks_wire::model::{EntityStatus, Invoice, Ref};
use quickbooks_wire::query::Query;
use store::StoreError;
use store::records::Records;
use web::error::ApiError;

/// Ids per `Id IN (…)` query: one query reads up to this many invoices.
pub const IDS_PER_QUERY: usize = 1000;

/// A link written, with the status the write replaced: the transition it made, if any. Only the
/// one write that replaced a version makes its transition: a path that loses a race to another
/// re-reads the link and finds the status already changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written<L: StoredLink = InvoiceLink> {
    pub link: L,
    pub from: L::Status,
}

impl<L: StoredLink> Written<L> {
    /// The write changed the status.
    pub fn is_transition(&self) -> bool {
        self.from != self.link.status()
    }
}

/// A record that links a deal to a QuickBooks document and follows its status (invoice links,
/// estimate links): what [`update_link`] needs to write it versioned and read it again.
pub trait StoredLink: Clone + Send + Sync + Sized {
    type Status: Copy + PartialEq + Eq + std::fmt::Debug + Send + Sync;
    fn status(&self) -> Self::Status;
    /// "invoice link 130", for errors.
    fn describe(&self) -> String;
    /// A versioned write (a conflict when someone changed it since it was read).
    fn save(&self, records: &Records) -> impl Future<Output = Result<Self, StoreError>> + Send;
    /// The link as stored now (`None`: removed).
    fn reread(
        &self,
        records: &Records,
    ) -> impl Future<Output = Result<Option<Self>, StoreError>> + Send;
}

impl StoredLink for InvoiceLink {
    type Status = InvoiceStatus;
    fn status(&self) -> InvoiceStatus {
        self.status
    }
    fn describe(&self) -> String {
        format!("invoice link {}", self.invoice_id)
    }
    fn save(&self, records: &Records) -> impl Future<Output = Result<Self, StoreError>> + Send {
        records.save_invoice_link(self)
    }
    fn reread(
        &self,
        records: &Records,
    ) -> impl Future<Output = Result<Option<Self>, StoreError>> + Send {
        records.get_invoice_link(self.company_id, self.deal_id, &self.invoice_id)
    }
}

impl StoredLink for EstimateLink {
    type Status = EstimateStatus;
    fn status(&self) -> EstimateStatus {
        self.status
    }
    fn describe(&self) -> String {
        format!("estimate link {}", self.estimate_id)
    }
    fn save(&self, records: &Records) -> impl Future<Output = Result<Self, StoreError>> + Send {
        records.save_estimate_link(self)
    }
    fn reread(
        &self,
        records: &Records,
    ) -> impl Future<Output = Result<Option<Self>, StoreError>> + Send {
        records.get_estimate_link(self.company_id, self.deal_id, &self.estimate_id)
    }
}

/// What applying QuickBooks' invoices did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Links written because something changed.
    pub written: Vec<Written>,
    /// Links that already reflected QuickBooks (or were newer).
    pub unchanged: usize,
}

impl SyncOutcome {
    pub fn merge(&mut self, other: SyncOutcome) {
        self.written.extend(other.written);
        self.unchanged += other.unchanged;
    }
}

/// Applies `invoices` (full reads, CDC entries or `Deleted` stubs) of `realm` to every link of
/// `company` that points at one of them. Writes are versioned; a link changed meanwhile by
/// another writer is re-read and the invoice applied again (the newest QuickBooks state wins).
/// This writes links only: [`changes::apply_for_company`] also records what each status change
/// means, and is what every path uses.
pub async fn apply_invoices(
    records: &Records,
    company: CompanyId,
    realm: &str,
    invoices: &[Invoice],
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<SyncOutcome, StoreError> {
    let mut outcome = SyncOutcome::default();
    for invoice in invoices {
        let Some(id) = invoice.id.as_deref() else {
            continue;
        };
        for link in records.find_invoice_links(realm, id).await? {
            if link.company_id != company {
                continue;
            }
            let refreshed = |current: &InvoiceLink| refreshed_link(current, invoice, today, now);
            match update_link(records, link, refreshed).await? {
                Some(written) => outcome.written.push(written),
                None => outcome.unchanged += 1,
            }
        }
    }
    Ok(outcome)
}

/// The one write of a link (an invoice's or an estimate's): `next` decides the new version from
/// the current one (`None`: nothing to write); when another writer changed the link meanwhile it
/// is read again and decided again. Answers what was written and the status it replaced, or
/// `None` when nothing was (nothing changed, or the link was removed meanwhile).
pub async fn update_link<L: StoredLink>(
    records: &Records,
    mut link: L,
    next: impl Fn(&L) -> Option<L>,
) -> Result<Option<Written<L>>, StoreError> {
    for _ in 0..3 {
        let Some(version) = next(&link) else {
            return Ok(None);
        };
        match version.save(records).await {
            Ok(saved) => {
                return Ok(Some(Written {
                    link: saved,
                    from: link.status(),
                }));
            }
            Err(StoreError::Conflict { .. }) => match link.reread(records).await? {
                Some(fresh) => link = fresh,
                // Unlinked meanwhile: nothing to update.
                None => return Ok(None),
            },
            Err(other) => return Err(other),
        }
    }
    Err(StoreError::Backend(format!(
        "{} kept changing while being updated",
        link.describe()
    )))
}

/// Reads the given invoices from QuickBooks in as few calls as possible: one `Id IN (…)` query per
/// [`IDS_PER_QUERY`] ids. Invoices the query does not return were deleted (QuickBooks answers
/// 610 for them); they come back as `Deleted` stubs so links can say so.
pub async fn fetch_invoices(
    app: &App,
    profile: &CompanyProfile,
    ids: &BTreeSet<String>,
) -> Result<Vec<Invoice>, ApiError> {
    // Sized once: an invoice is large, and growing the map moved every one of them again.
    let mut found: HashMap<String, Invoice> = HashMap::with_capacity(ids.len());
    let ids: Vec<&String> = ids.iter().collect();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let query = Query::select("Invoice")
            .is_in("Id", chunk.iter().map(|s| s.as_str()))
            .max_results(IDS_PER_QUERY as u32);
        let response = app.quickbooks_of(profile).query(&query).await?;
        for invoice in response.invoice.unwrap_or_default() {
            if let Some(id) = invoice.id.clone() {
                found.insert(id, invoice);
            }
        }
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match found.remove(id.as_str()) {
            Some(invoice) => out.push(invoice),
            None => out.push(deleted_stub(app, profile, id).await?),
        }
    }
    Ok(out)
}

/// Confirms that an invoice the query did not return is gone (a read answers 610) and returns a
/// `Deleted` stub; if the read finds it after all, returns it.
async fn deleted_stub(app: &App, profile: &CompanyProfile, id: &str) -> Result<Invoice, ApiError> {
    let read = app.quickbooks_of(profile).read_invoice(id).await;
    match read {
        Ok(invoice) => Ok(invoice),
        Err(crate::tokens::CallError::Call(QuickBooksError::Fault { fault, .. }))
            if fault.has_code("610") =>
        {
            Ok(Invoice {
                id: Some(id.to_string()),
                status: Some(EntityStatus::Deleted),
                customer_ref: None::<Ref>,
                ..Invoice::default()
            })
        }
        Err(other) => Err(other.into()),
    }
}
