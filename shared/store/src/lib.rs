//! Storage: one small key/value interface ([`ItemStore`]) with two implementations — embedded
//! ([`embedded::EmbeddedStore`], in memory, optionally persisted to a file) and DynamoDB
//! ([`dynamo::DynamoStore`]) — and, on top of it, the typed records of the app ([`records`]),
//! written once for both.
//!
//! The layout follows one DynamoDB table: every item has a partition key `pk`, a sort key `sk`,
//! an optional secondary-index key pair (`gsi1pk`, `gsi1sk`), a `version` for optimistic locking,
//! an optional `ttl` (epoch seconds) for transient items, and its data as a JSON document.

#[cfg(feature = "aws")]
pub mod dynamo;
pub mod embedded;
pub mod records;
pub mod secrets;

#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// One stored item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Keys are shared, not copied, like the record: a query of 250 links copied and freed
    /// 1,000 key strings.
    pub pk: Arc<str>,
    pub sk: Arc<str>,
    /// Secondary-index key pair, when the item is reachable through the index.
    pub gsi1: Option<IndexKey>,
    /// Incremented by every versioned update; 1 after creation. For a lease it is the owner's
    /// fencing token.
    pub version: u64,
    /// Expiry in epoch seconds: DynamoDB's TTL attribute. Readers treat an expired item as absent
    /// (TTL deletion lags by up to 48 hours).
    pub ttl: Option<i64>,
    /// The record itself. Shared, not copied: a store answer hands out the same value (the
    /// embedded store's query of 250 links was half copying and freeing them).
    pub data: Arc<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexKey {
    pub pk: Arc<str>,
    pub sk: Arc<str>,
}

impl Item {
    pub fn new(pk: impl AsRef<str>, sk: impl AsRef<str>, data: Value) -> Self {
        Item {
            pk: Arc::from(pk.as_ref()),
            sk: Arc::from(sk.as_ref()),
            gsi1: None,
            version: 1,
            ttl: None,
            data: Arc::new(data),
        }
    }

    pub fn with_index(mut self, pk: impl AsRef<str>, sk: impl AsRef<str>) -> Self {
        self.gsi1 = Some(IndexKey {
            pk: Arc::from(pk.as_ref()),
            sk: Arc::from(sk.as_ref()),
        });
        self
    }

    pub fn with_ttl(mut self, epoch_seconds: i64) -> Self {
        self.ttl = Some(epoch_seconds);
        self
    }

    /// True when the item's TTL has passed at `now` (epoch seconds).
    pub fn is_expired(&self, now: i64) -> bool {
        self.ttl.is_some_and(|ttl| ttl <= now)
    }
}

/// When a write may happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Unconditional (an upsert).
    Always,
    /// Only if no item has this key (a conditional create).
    Absent,
    /// Only if no item has this key or the existing one's TTL has passed at `now`.
    AbsentOrExpired { now: i64 },
    /// Only if the existing item has this version (optimistic locking).
    Version(u64),
}

/// A page of results and the cursor for the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// Opaque; pass it back to get the next page. `None` on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<'a> {
    pub limit: u32,
    pub cursor: Option<&'a str>,
    /// Newest (highest sort key) first. Only for table queries, not index queries.
    pub descending: bool,
}

impl Default for PageRequest<'_> {
    fn default() -> Self {
        PageRequest {
            limit: 100,
            cursor: None,
            descending: false,
        }
    }
}

impl<'a> PageRequest<'a> {
    pub fn first(limit: u32) -> Self {
        PageRequest {
            limit,
            ..Default::default()
        }
    }

    pub fn after(limit: u32, cursor: Option<&'a str>) -> Self {
        PageRequest {
            limit,
            cursor,
            descending: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write's condition failed: the key exists (create), the version moved (update), or
    /// the item is gone. `existing` is the item as it is now, when there is one.
    #[error("conflict on {pk}/{sk}")]
    Conflict {
        pk: String,
        sk: String,
        existing: Option<Box<Item>>,
    },
    #[error("invalid pagination cursor")]
    BadCursor,
    #[error("stored data is not in the expected shape: {0}")]
    Corrupt(String),
    #[error("storage backend failed: {0}")]
    Backend(String),
}

impl StoreError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

/// The storage interface every backend implements; see the module documentation.
///
/// Queries return items in ascending sort-key order and skip expired items.
#[async_trait]
pub trait ItemStore: Send + Sync {
    /// Reads one item (strongly consistent). Expired items read as absent.
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError>;

    /// Writes `item` if `condition` holds. With [`Condition::Version`] the stored version becomes
    /// `expected + 1` whatever `item.version` says; otherwise it is `item.version`. Returns the
    /// item as stored.
    async fn put(&self, item: Item, condition: Condition) -> Result<Item, StoreError>;

    /// Deletes one item if `condition` holds ([`Condition::Always`] or [`Condition::Version`]).
    /// Deleting an absent item unconditionally is not an error.
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError>;

    /// Items of partition `pk` whose sort key starts with `sk_prefix`, in sort-key order
    /// (descending if the page request says so).
    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        page: PageRequest<'_>,
    ) -> Result<Page, StoreError>;

    /// Items whose secondary-index partition is `gsi_pk` and index sort key starts with
    /// `gsi_sk_prefix`, ordered by index sort key. Eventually consistent on DynamoDB.
    async fn query_index(
        &self,
        gsi_pk: &str,
        gsi_sk_prefix: &str,
        page: PageRequest<'_>,
    ) -> Result<Page, StoreError>;

    /// Deletes every item of partition `pk`; returns how many were deleted.
    async fn delete_partition(&self, pk: &str) -> Result<usize, StoreError>;
}
