//! The app's records on top of any [`ItemStore`]: key layout, conditional creates, versioned
//! updates and queries, written once for every backend.
//!
//! | record | pk | sk | index (gsi1) |
//! |---|---|---|---|
//! | company profile | `COMPANY#{cid}` | `PROFILE` | `CONNECTED` / `COMPANY#{cid}` while connected |
//! | user install | `COMPANY#{cid}` | `USER#{uid}` | |
//! | invoice link | `COMPANY#{cid}` | `DEAL#{did}#INVOICE#{iid}` | `REALM#{realm}` / `INVOICE#{iid}#COMPANY#{cid}#DEAL#{did}` |
//! | estimate link | `COMPANY#{cid}` | `DEAL#{did}#ESTIMATE#{eid}` | `REALM#{realm}` / `ESTIMATE#{eid}#COMPANY#{cid}#DEAL#{did}` |
//! | customer link | `COMPANY#{cid}` | `ORG#{oid}` or `PERSON#{pid}` | |
//! | product link | `COMPANY#{cid}` | `PRODUCT#{pid}` | |
//! | deal parties (a hint) | `COMPANY#{cid}` | `DEALPARTIES#{did}` | (TTL, 30 days) |
//! | idempotency | `COMPANY#{cid}` | `IDEMPOTENCY#{key}` | (TTL) |
//! | activity | `COMPANY#{cid}` | `DEAL#{did}#EVENT#{time}#{id}` | (TTL, 400 days) |
//! | lease | `COMPANY#{cid}` | `LEASE#{name}` | (TTL = lease expiry) |
//! | rule run (a deal matched by a rule; created once) | `COMPANY#{cid}` | `RULE#{rule}#DEAL#{did}` | `RULES#OPEN#{cid}` / `OPEN#{matched at}#RULE#{rule}#DEAL#{did}` while waiting |
//! | rules watermark | `COMPANY#{cid}` | `RULES#WATERMARK` | |
//! | links stamp (replaced by every customer or product link change) | `COMPANY#{cid}` | `RULES#LINKS` | |
//! | prepared invoice | `COMPANY#{cid}` | `DEAL#{did}#PREPARED` | |
//! | deal fields last written | `COMPANY#{cid}` | `DEAL#{did}#FIGURES` | |
//! | bulk batch (the deals and each one's outcome) | `COMPANY#{cid}` | `BULK#{batch id}` | (TTL, 7 days) |
//! | webhook delivery | `WEBHOOK#{sha256 of the body}` | `DELIVERY` | (TTL, 7 days; no company data) |

mod activity;
mod estimates;
mod exactly_once;
mod links;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Condition, Item, ItemStore, PageRequest, StoreError};
use domain::{
    ActivityEvent, CompanyId, CompanyProfile, CustomerLink, DealId, DealParties, EstimateLink,
    IdempotencyRecord, InvoiceLink, ListedInvoice, Party, ProductLink, UserId, UserInstall,
};

/// How long a received QuickBooks webhook delivery is remembered (to refuse replays).
pub const WEBHOOK_DELIVERY_RETENTION_DAYS: i64 = 7;

/// How long a deal's remembered organisation and person ids are kept.
pub const DEAL_PARTIES_RETENTION_DAYS: i64 = 30;

/// How long activity events are kept.
pub const ACTIVITY_RETENTION_DAYS: i64 = 400;

pub fn company_pk(company: CompanyId) -> String {
    format!("COMPANY#{company}")
}

fn invoice_sk(deal: DealId, invoice_id: &str) -> String {
    format!("DEAL#{deal}#INVOICE#{invoice_id}")
}

fn party_sk(party: Party) -> String {
    match party {
        Party::Organization(id) => format!("ORG#{id}"),
        Party::Person(id) => format!("PERSON#{id}"),
    }
}

fn to_data<T: Serialize>(record: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(record).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_item<'a, T: Deserialize<'a>>(item: &'a Item) -> Result<T, StoreError> {
    // Deserialised from the borrowed value: no copy of the item per record (and a record type
    // with borrowed fields, `ListedInvoice`, borrows its strings from it).
    T::deserialize(item.data.as_ref())
        .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", item.pk, item.sk)))
}

/// Records that carry the stored version.
trait Versioned {
    fn set_version(&mut self, version: u64);
}

macro_rules! versioned {
    ($($t:ty),*) => {$(
        impl Versioned for $t {
            fn set_version(&mut self, version: u64) {
                self.version = version;
            }
        }
    )*};
}
versioned!(
    CompanyProfile,
    UserInstall,
    InvoiceLink,
    EstimateLink,
    CustomerLink,
    ProductLink,
    IdempotencyRecord
);

mod automation;
pub use automation::RuleRunClaim;

fn versioned_from<T: DeserializeOwned + Versioned>(item: &Item) -> Result<T, StoreError> {
    let mut record: T = from_item(item)?;
    record.set_version(item.version);
    Ok(record)
}

/// The outcome of starting an idempotent request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// We hold the key now (new, or taken over from an expired attempt).
    Started(IdempotencyRecord),
    /// Someone used the key before: here is what they left.
    Existing(IdempotencyRecord),
}

/// A held lease; release it when done. Its token fences out a holder whose lease expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub company: CompanyId,
    pub name: String,
    pub token: u64,
    pub expires_at: DateTime<Utc>,
}

/// Typed access to the app's records.
#[derive(Clone)]
pub struct Records {
    store: Arc<dyn ItemStore>,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Records")
    }
}

impl Records {
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Records { store }
    }

    pub fn store(&self) -> &Arc<dyn ItemStore> {
        &self.store
    }

    async fn all_pages(&self, pk: &str, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .store
                .query(pk, prefix, PageRequest::after(500, cursor.as_deref()))
                .await?;
            out.extend(page.items);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// Creates `item` unless an unexpired item has its key: `false` if one has (someone holds it).
    async fn create_unless_live(&self, item: Item, now: DateTime<Utc>) -> Result<bool, StoreError> {
        match self
            .store
            .put(
                item,
                Condition::AbsentOrExpired {
                    now: now.timestamp(),
                },
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    // ----- company profile -----

    fn company_item(profile: &CompanyProfile) -> Result<Item, StoreError> {
        let mut item = Item::new(company_pk(profile.company_id), "PROFILE", to_data(profile)?);
        if profile.connected_realm().is_some() {
            item = item.with_index("CONNECTED", company_pk(profile.company_id));
        }
        Ok(item)
    }

    pub async fn get_company(
        &self,
        company: CompanyId,
    ) -> Result<Option<CompanyProfile>, StoreError> {
        self.store
            .get(&company_pk(company), "PROFILE")
            .await?
            .map(|i| versioned_from(&i))
            .transpose()
    }

    /// Reads an item that does not exist, for the connection it opens (`WARM_UP=store`). A
    /// failure is logged and otherwise ignored: the first real read tries again.
    pub async fn warm_up(&self) {
        if let Err(error) = self.store.get("WARM-UP", "WARM-UP").await {
            tracing::warn!(%error, "the store warm-up read failed");
        }
    }

    /// Creates the profile; a [`StoreError::Conflict`] if it exists.
    pub async fn create_company(
        &self,
        profile: &CompanyProfile,
    ) -> Result<CompanyProfile, StoreError> {
        let stored = self
            .store
            .put(Self::company_item(profile)?, Condition::Absent)
            .await?;
        let mut out = profile.clone();
        out.version = stored.version;
        Ok(out)
    }

    /// Saves the profile if nobody changed it since it was read (`profile.version`).
    pub async fn save_company(
        &self,
        profile: &CompanyProfile,
    ) -> Result<CompanyProfile, StoreError> {
        let stored = self
            .store
            .put(
                Self::company_item(profile)?,
                Condition::Version(profile.version),
            )
            .await?;
        let mut out = profile.clone();
        out.version = stored.version;
        Ok(out)
    }

    /// Companies with an active QuickBooks connection (for the scheduled sync), a page at a time.
    pub async fn connected_companies(
        &self,
        page: PageRequest<'_>,
    ) -> Result<(Vec<CompanyId>, Option<String>), StoreError> {
        let page = self
            .store
            .query_index("CONNECTED", "COMPANY#", page)
            .await?;
        let ids = page
            .items
            .iter()
            .map(|i| from_item::<CompanyProfile>(i).map(|p| p.company_id))
            .collect::<Result<_, _>>()?;
        Ok((ids, page.next))
    }

    // ----- user installs -----

    pub async fn put_user_install(&self, install: &UserInstall) -> Result<UserInstall, StoreError> {
        let item = Item::new(
            company_pk(install.company_id),
            format!("USER#{}", install.user_id),
            to_data(install)?,
        );
        let stored = self.store.put(item, Condition::Always).await?;
        let mut out = install.clone();
        out.version = stored.version;
        Ok(out)
    }

    pub async fn get_user_install(
        &self,
        company: CompanyId,
        user: UserId,
    ) -> Result<Option<UserInstall>, StoreError> {
        self.store
            .get(&company_pk(company), &format!("USER#{user}"))
            .await?
            .map(|i| versioned_from(&i))
            .transpose()
    }

    pub async fn list_user_installs(
        &self,
        company: CompanyId,
    ) -> Result<Vec<UserInstall>, StoreError> {
        self.all_pages(&company_pk(company), "USER#")
            .await?
            .iter()
            .map(versioned_from)
            .collect()
    }

    pub async fn delete_user_install(
        &self,
        company: CompanyId,
        user: UserId,
    ) -> Result<(), StoreError> {
        self.store
            .delete(
                &company_pk(company),
                &format!("USER#{user}"),
                Condition::Always,
            )
            .await
    }

    // ----- lifecycle -----

    /// Deletes every record of a company; returns how many items were deleted.
    pub async fn purge_company(&self, company: CompanyId) -> Result<usize, StoreError> {
        self.store.delete_partition(&company_pk(company)).await
    }
}
