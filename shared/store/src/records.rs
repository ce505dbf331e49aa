//! The app's records on top of any [`ItemStore`]: key layout, conditional creates, versioned
//! updates and queries, written once for every backend.
//!
//! | record | pk | sk | index (gsi1) |
//! |---|---|---|---|
//! | company profile | `COMPANY#{cid}` | `PROFILE` | `CONNECTED` / `COMPANY#{cid}` while connected |
//! | user install | `COMPANY#{cid}` | `USER#{uid}` | |
//! | invoice link | `COMPANY#{cid}` | `DEAL#{did}#INVOICE#{iid}` | `REALM#{realm}` / `INVOICE#{iid}#COMPANY#{cid}#DEAL#{did}` |
//! | customer link | `COMPANY#{cid}` | `ORG#{oid}` or `PERSON#{pid}` | |
//! | product link | `COMPANY#{cid}` | `PRODUCT#{pid}` | |
//! | deal parties (a hint) | `COMPANY#{cid}` | `DEALPARTIES#{did}` | (TTL, 30 days) |
//! | idempotency | `COMPANY#{cid}` | `IDEMPOTENCY#{key}` | (TTL) |
//! | activity | `COMPANY#{cid}` | `DEAL#{did}#EVENT#{time}#{id}` | (TTL, 400 days) |
//! | lease | `COMPANY#{cid}` | `LEASE#{name}` | (TTL = lease expiry) |
//! | webhook delivery | `WEBHOOK#{sha256 of the body}` | `DELIVERY` | (TTL, 7 days; no company data) |

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Condition, Item, ItemStore, PageRequest, StoreError};
use domain::{
    ActivityEvent, CompanyId, CompanyProfile, CustomerLink, DealId, DealParties, IdempotencyRecord,
    InvoiceLink, ListedInvoice, Party, ProductLink, UserId, UserInstall,
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
    CustomerLink,
    ProductLink,
    IdempotencyRecord
);

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

    // ----- invoice links -----

    fn invoice_item(link: &InvoiceLink) -> Result<Item, StoreError> {
        Ok(Item::new(
            company_pk(link.company_id),
            invoice_sk(link.deal_id, &link.invoice_id),
            to_data(link)?,
        )
        .with_index(
            format!("REALM#{}", link.realm_id),
            format!(
                "INVOICE#{}#COMPANY#{}#DEAL#{}",
                link.invoice_id, link.company_id, link.deal_id
            ),
        ))
    }

    /// Links an invoice to a deal; a [`StoreError::Conflict`] if that link exists.
    pub async fn create_invoice_link(&self, link: &InvoiceLink) -> Result<InvoiceLink, StoreError> {
        let stored = self
            .store
            .put(Self::invoice_item(link)?, Condition::Absent)
            .await?;
        let mut out = link.clone();
        out.version = stored.version;
        Ok(out)
    }

    /// Updates a link if nobody changed it since it was read (`link.version`).
    pub async fn save_invoice_link(&self, link: &InvoiceLink) -> Result<InvoiceLink, StoreError> {
        let stored = self
            .store
            .put(Self::invoice_item(link)?, Condition::Version(link.version))
            .await?;
        let mut out = link.clone();
        out.version = stored.version;
        Ok(out)
    }

    pub async fn get_invoice_link(
        &self,
        company: CompanyId,
        deal: DealId,
        invoice_id: &str,
    ) -> Result<Option<InvoiceLink>, StoreError> {
        self.store
            .get(&company_pk(company), &invoice_sk(deal, invoice_id))
            .await?
            .map(|i| versioned_from(&i))
            .transpose()
    }

    /// One page of a deal's invoice links.
    pub async fn deal_invoice_links(
        &self,
        company: CompanyId,
        deal: DealId,
        page: PageRequest<'_>,
    ) -> Result<(Vec<InvoiceLink>, Option<String>), StoreError> {
        let page = self
            .store
            .query(&company_pk(company), &format!("DEAL#{deal}#INVOICE#"), page)
            .await?;
        let links = page
            .items
            .iter()
            .map(versioned_from)
            .collect::<Result<_, _>>()?;
        Ok((links, page.next))
    }

    /// Every invoice link of a deal (all pages).
    pub async fn all_deal_invoice_links(
        &self,
        company: CompanyId,
        deal: DealId,
    ) -> Result<Vec<InvoiceLink>, StoreError> {
        self.deal_invoice_items(company, deal)
            .await?
            .iter()
            .map(versioned_from)
            .collect()
    }

    /// The stored items of the deal's invoice links, for [`Records::listed_invoices`].
    pub async fn deal_invoice_items(
        &self,
        company: CompanyId,
        deal: DealId,
    ) -> Result<Vec<Item>, StoreError> {
        self.all_pages(&company_pk(company), &format!("DEAL#{deal}#INVOICE#"))
            .await
    }

    /// Invoice-link items (from [`Records::deal_invoice_items`]) as the deal's invoice list
    /// shows them: [`ListedInvoice`]s borrowed from the items.
    pub fn listed_invoices(items: &[Item]) -> Result<Vec<ListedInvoice<'_>>, StoreError> {
        items.iter().map(from_item::<ListedInvoice>).collect()
    }

    /// Every link (any company, any deal) to QuickBooks invoice `invoice_id` of `realm`.
    pub async fn find_invoice_links(
        &self,
        realm: &str,
        invoice_id: &str,
    ) -> Result<Vec<InvoiceLink>, StoreError> {
        let gsi_pk = format!("REALM#{realm}");
        let prefix = format!("INVOICE#{invoice_id}#");
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .store
                .query_index(&gsi_pk, &prefix, PageRequest::after(100, cursor.as_deref()))
                .await?;
            for item in &page.items {
                // The index is eventually consistent: confirm against the table.
                if let Some(fresh) = self.store.get(&item.pk, &item.sk).await? {
                    out.push(versioned_from(&fresh)?);
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// One page of every invoice link of a realm (for the scheduled sync's overdue pass).
    pub async fn realm_invoice_links(
        &self,
        realm: &str,
        page: PageRequest<'_>,
    ) -> Result<(Vec<InvoiceLink>, Option<String>), StoreError> {
        let page = self
            .store
            .query_index(&format!("REALM#{realm}"), "INVOICE#", page)
            .await?;
        let links = page
            .items
            .iter()
            .map(versioned_from)
            .collect::<Result<_, _>>()?;
        Ok((links, page.next))
    }

    pub async fn delete_invoice_link(
        &self,
        company: CompanyId,
        deal: DealId,
        invoice_id: &str,
    ) -> Result<(), StoreError> {
        self.store
            .delete(
                &company_pk(company),
                &invoice_sk(deal, invoice_id),
                Condition::Always,
            )
            .await
    }

    // ----- customer and product links -----

    /// Saves a customer link: a create when `link.version` is 0, else a versioned update.
    pub async fn save_customer_link(
        &self,
        link: &CustomerLink,
    ) -> Result<CustomerLink, StoreError> {
        let item = Item::new(
            company_pk(link.company_id),
            party_sk(link.party),
            to_data(link)?,
        );
        let condition = match link.version {
            0 => Condition::Absent,
            v => Condition::Version(v),
        };
        let stored = self.store.put(item, condition).await?;
        let mut out = link.clone();
        out.version = stored.version;
        Ok(out)
    }

    pub async fn get_customer_link(
        &self,
        company: CompanyId,
        party: Party,
    ) -> Result<Option<CustomerLink>, StoreError> {
        self.store
            .get(&company_pk(company), &party_sk(party))
            .await?
            .map(|i| versioned_from(&i))
            .transpose()
    }

    pub async fn delete_customer_link(
        &self,
        company: CompanyId,
        party: Party,
    ) -> Result<(), StoreError> {
        self.store
            .delete(&company_pk(company), &party_sk(party), Condition::Always)
            .await
    }

    /// Saves a product link: a create when `link.version` is 0, else a versioned update.
    pub async fn save_product_link(&self, link: &ProductLink) -> Result<ProductLink, StoreError> {
        let item = Item::new(
            company_pk(link.company_id),
            format!("PRODUCT#{}", link.product_id),
            to_data(link)?,
        );
        let condition = match link.version {
            0 => Condition::Absent,
            v => Condition::Version(v),
        };
        let stored = self.store.put(item, condition).await?;
        let mut out = link.clone();
        out.version = stored.version;
        Ok(out)
    }

    pub async fn get_product_link(
        &self,
        company: CompanyId,
        product_id: u64,
    ) -> Result<Option<ProductLink>, StoreError> {
        self.store
            .get(&company_pk(company), &format!("PRODUCT#{product_id}"))
            .await?
            .map(|i| versioned_from(&i))
            .transpose()
    }

    // ----- deal parties (a hint for the create form) -----

    /// The deal's organisation and person ids as last read from Pipedrive, if remembered.
    pub async fn get_deal_parties(
        &self,
        company: CompanyId,
        deal: DealId,
    ) -> Result<Option<DealParties>, StoreError> {
        self.store
            .get(&company_pk(company), &format!("DEALPARTIES#{deal}"))
            .await?
            .map(|i| from_item(&i))
            .transpose()
    }

    /// [`Self::save_deal_parties`] as a best effort: a failed write only costs the next create
    /// form a round trip, so it is logged, never an error.
    pub async fn remember_deal_parties(
        &self,
        company: CompanyId,
        deal: DealId,
        parties: DealParties,
        now: DateTime<Utc>,
    ) {
        if let Err(error) = self.save_deal_parties(company, deal, parties, now).await {
            tracing::warn!(%error, deal_id = deal.0, "the deal's parties could not be remembered");
        }
    }

    /// Forgets the deal's remembered parties (benchmarks and tests of the first open).
    pub async fn forget_deal_parties(
        &self,
        company: CompanyId,
        deal: DealId,
    ) -> Result<(), StoreError> {
        self.store
            .delete(
                &company_pk(company),
                &format!("DEALPARTIES#{deal}"),
                Condition::Always,
            )
            .await
    }

    /// Remembers the deal's organisation and person ids (last writer wins: it is a hint that is
    /// always checked against the deal).
    pub async fn save_deal_parties(
        &self,
        company: CompanyId,
        deal: DealId,
        parties: DealParties,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let item = Item::new(
            company_pk(company),
            format!("DEALPARTIES#{deal}"),
            to_data(&parties)?,
        )
        .with_ttl((now + Duration::days(DEAL_PARTIES_RETENTION_DAYS)).timestamp());
        self.store.put(item, Condition::Always).await.map(|_| ())
    }

    // ----- idempotency -----

    fn idempotency_item(record: &IdempotencyRecord) -> Result<Item, StoreError> {
        Ok(Item::new(
            company_pk(record.company_id),
            format!("IDEMPOTENCY#{}", record.key),
            to_data(record)?,
        )
        .with_ttl(record.expires_at.timestamp()))
    }

    /// Claims an idempotency key: one conditional write. If the key is taken (and not expired)
    /// the existing record comes back instead.
    pub async fn begin_idempotent(
        &self,
        record: &IdempotencyRecord,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyBegin, StoreError> {
        let item = Self::idempotency_item(record)?;
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
            Ok(stored) => {
                let mut out = record.clone();
                out.version = stored.version;
                Ok(IdempotencyBegin::Started(out))
            }
            Err(StoreError::Conflict {
                existing: Some(existing),
                ..
            }) => Ok(IdempotencyBegin::Existing(versioned_from(&existing)?)),
            Err(StoreError::Conflict { existing: None, .. }) => {
                // The backend did not return the item: read it.
                match self.get_idempotency(record.company_id, &record.key).await? {
                    Some(existing) => Ok(IdempotencyBegin::Existing(existing)),
                    None => Err(StoreError::Backend(
                        "idempotency record vanished during a conflict".into(),
                    )),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Takes over a stale in-progress record (versioned: only one retry wins).
    pub async fn take_over_idempotency(
        &self,
        record: &IdempotencyRecord,
    ) -> Result<IdempotencyRecord, StoreError> {
        self.save_idempotency(record).await
    }

    pub async fn get_idempotency(
        &self,
        company: CompanyId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.store
            .get(&company_pk(company), &format!("IDEMPOTENCY#{key}"))
            .await?
            .map(|i| versioned_from(&i))
            .transpose()
    }

    /// Saves progress or completion of a held key (versioned).
    pub async fn save_idempotency(
        &self,
        record: &IdempotencyRecord,
    ) -> Result<IdempotencyRecord, StoreError> {
        let stored = self
            .store
            .put(
                Self::idempotency_item(record)?,
                Condition::Version(record.version),
            )
            .await?;
        let mut out = record.clone();
        out.version = stored.version;
        Ok(out)
    }

    /// Forgets a key whose request failed before doing anything, so a retry starts afresh.
    pub async fn release_idempotency(&self, record: &IdempotencyRecord) -> Result<(), StoreError> {
        self.store
            .delete(
                &company_pk(record.company_id),
                &format!("IDEMPOTENCY#{}", record.key),
                Condition::Version(record.version),
            )
            .await
    }

    // ----- activity -----

    pub async fn append_activity(&self, event: &ActivityEvent) -> Result<(), StoreError> {
        let sk = format!(
            "DEAL#{}#EVENT#{}#{}",
            event.deal_id,
            event.at.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
            event.id
        );
        let item = Item::new(company_pk(event.company_id), sk, to_data(event)?)
            .with_ttl((event.at + Duration::days(ACTIVITY_RETENTION_DAYS)).timestamp());
        self.store.put(item, Condition::Absent).await?;
        Ok(())
    }

    /// A deal's activity, newest first.
    pub async fn deal_activity(
        &self,
        company: CompanyId,
        deal: DealId,
        limit: u32,
    ) -> Result<Vec<ActivityEvent>, StoreError> {
        let page = self
            .store
            .query(
                &company_pk(company),
                &format!("DEAL#{deal}#EVENT#"),
                PageRequest {
                    limit,
                    cursor: None,
                    descending: true,
                },
            )
            .await?;
        page.items.iter().map(from_item).collect()
    }

    // ----- leases -----

    /// Tries to take the lease `name` of `company` for `ttl`; `None` if someone else holds it.
    pub async fn acquire_lease(
        &self,
        company: CompanyId,
        name: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError> {
        let token = uuid::Uuid::new_v4().as_u64_pair().0 | 1;
        let expires_at = now + ttl;
        let mut item = Item::new(
            company_pk(company),
            format!("LEASE#{name}"),
            serde_json::json!({ "expires_at": expires_at }),
        )
        .with_ttl(expires_at.timestamp());
        item.version = token;
        let taken = self.create_unless_live(item, now).await?;
        Ok(taken.then(|| Lease {
            company,
            name: name.to_string(),
            token,
            expires_at,
        }))
    }

    /// Releases a lease we hold; a no-op if it expired and someone else took it.
    pub async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        match self
            .store
            .delete(
                &company_pk(lease.company),
                &format!("LEASE#{}", lease.name),
                Condition::Version(lease.token),
            )
            .await
        {
            Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    // ----- webhook deliveries -----

    /// Remembers a webhook delivery by the digest of its body; `false` if it was received before
    /// (and is still remembered): a replay.
    pub async fn record_webhook_delivery(
        &self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let expires_at = now + Duration::days(WEBHOOK_DELIVERY_RETENTION_DAYS);
        let item = Item::new(
            format!("WEBHOOK#{digest}"),
            "DELIVERY",
            serde_json::json!({ "received_at": now }),
        )
        .with_ttl(expires_at.timestamp());
        self.create_unless_live(item, now).await
    }

    /// Forgets a delivery whose processing failed, so that Intuit's redelivery is accepted.
    pub async fn forget_webhook_delivery(&self, digest: &str) -> Result<(), StoreError> {
        self.store
            .delete(&format!("WEBHOOK#{digest}"), "DELIVERY", Condition::Always)
            .await
    }

    // ----- lifecycle -----

    /// Deletes every record of a company; returns how many items were deleted.
    pub async fn purge_company(&self, company: CompanyId) -> Result<usize, StoreError> {
        self.store.delete_partition(&company_pk(company)).await
    }
}
