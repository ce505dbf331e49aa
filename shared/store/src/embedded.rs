//! The embedded store: all items in memory, optionally written to a JSON file after every change so
//! that a local restart keeps its state. Used by `cargo run -p local` and by tests.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::Clock;
use serde::{Deserialize, Serialize};

use super::{Condition, Item, ItemStore, Page, PageRequest, StoreError};

type Key = (String, String);

/// An entry of the secondary index, in its order: index key, index sort key, then the item's
/// own keys (as DynamoDB orders a GSI's items with equal keys).
type IndexEntry = (Arc<str>, Arc<str>, Arc<str>, Arc<str>);

/// The items, and the secondary index over those that have one: an index query is a range of
/// it, not a scan of every item (a scan made a million-link benchmark quadratic).
#[derive(Debug, Default)]
struct Tables {
    items: BTreeMap<Key, Item>,
    index: BTreeSet<IndexEntry>,
}

fn index_entry(item: &Item) -> Option<IndexEntry> {
    item.gsi1
        .as_ref()
        .map(|g| (g.pk.clone(), g.sk.clone(), item.pk.clone(), item.sk.clone()))
}

impl Tables {
    fn of(items: BTreeMap<Key, Item>) -> Tables {
        let index = items.values().filter_map(index_entry).collect();
        Tables { items, index }
    }

    /// Stores `item` under `key`, keeping the index in step with what it replaces.
    fn insert(&mut self, key: Key, item: Item) {
        let entry = index_entry(&item);
        if let Some(old) = self.items.insert(key, item) {
            self.unindex(&old);
        }
        if let Some(entry) = entry {
            self.index.insert(entry);
        }
    }

    fn remove(&mut self, key: &Key) -> Option<Item> {
        let old = self.items.remove(key)?;
        self.unindex(&old);
        Some(old)
    }

    fn unindex(&mut self, item: &Item) {
        if let Some(entry) = index_entry(item) {
            self.index.remove(&entry);
        }
    }
}

#[derive(Debug, Default)]
pub struct EmbeddedStore {
    tables: Mutex<Tables>,
    file: Option<PathBuf>,
    /// Now, for expiry (TTL).
    clock: Clock,
}

/// Where the last page stopped: enough to resume either a table or an index query.
#[derive(Serialize, Deserialize)]
struct Cursor {
    pk: String,
    sk: String,
    #[serde(default)]
    gsi_sk: Option<String>,
}

fn encode_cursor(cursor: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

fn decode_cursor(raw: &str) -> Result<Cursor, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| StoreError::BadCursor)?;
    serde_json::from_slice(&bytes).map_err(|_| StoreError::BadCursor)
}

impl EmbeddedStore {
    /// A store that lives only in memory.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// A store persisted to `path` (created if missing; loaded if present).
    pub fn persisted(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let items = match std::fs::read(&path) {
            Ok(bytes) => {
                let list: Vec<Item> = serde_json::from_slice(&bytes)
                    .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?;
                list.into_iter()
                    .map(|item| ((item.pk.to_string(), item.sk.to_string()), item))
                    .collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(StoreError::Backend(format!("{}: {e}", path.display()))),
        };
        Ok(EmbeddedStore {
            tables: Mutex::new(Tables::of(items)),
            file: Some(path),
            clock: Clock::system(),
        })
    }

    /// The same store reading now from `clock` (expiry).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn now_epoch(&self) -> i64 {
        self.clock.now().timestamp()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn persist(&self, items: &BTreeMap<Key, Item>) -> Result<(), StoreError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let list: Vec<&Item> = items.values().collect();
        let bytes =
            serde_json::to_vec_pretty(&list).map_err(|e| StoreError::Backend(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Backend(e.to_string()))?;
        }
        std::fs::write(&tmp, bytes).map_err(|e| StoreError::Backend(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| StoreError::Backend(e.to_string()))
    }

    /// Every live item (for tests and the local demo's inspection page).
    pub fn dump(&self) -> Vec<Item> {
        let now = self.now_epoch();
        self.lock()
            .items
            .values()
            .filter(|i| !i.is_expired(now))
            .cloned()
            .collect()
    }
}

fn conflict(pk: &str, sk: &str, existing: Option<&Item>) -> StoreError {
    StoreError::Conflict {
        pk: pk.to_string(),
        sk: sk.to_string(),
        existing: existing.cloned().map(Box::new),
    }
}

#[async_trait]
impl ItemStore for EmbeddedStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let now = self.now_epoch();
        Ok(self
            .lock()
            .items
            .get(&(pk.to_string(), sk.to_string()))
            .filter(|i| !i.is_expired(now))
            .cloned())
    }

    async fn put(&self, mut item: Item, condition: Condition) -> Result<Item, StoreError> {
        let mut tables = self.lock();
        let key = (item.pk.to_string(), item.sk.to_string());
        let existing = tables.items.get(&key);
        match condition {
            Condition::Always => {}
            Condition::Absent => {
                if existing.is_some() {
                    return Err(conflict(&item.pk, &item.sk, existing));
                }
            }
            Condition::AbsentOrExpired { now } => {
                if existing.is_some_and(|e| !e.is_expired(now)) {
                    return Err(conflict(&item.pk, &item.sk, existing));
                }
            }
            Condition::Version(expected) => match existing {
                Some(e) if e.version == expected => item.version = expected + 1,
                _ => return Err(conflict(&item.pk, &item.sk, existing)),
            },
        }
        tables.insert(key, item.clone());
        self.persist(&tables.items)?;
        Ok(item)
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        let mut tables = self.lock();
        let key = (pk.to_string(), sk.to_string());
        let existing = tables.items.get(&key);
        match condition {
            Condition::Always => {}
            Condition::Version(expected) => {
                if existing.is_none_or(|e| e.version != expected) {
                    return Err(conflict(pk, sk, existing));
                }
            }
            Condition::Absent | Condition::AbsentOrExpired { .. } => {
                return Err(StoreError::Backend(
                    "a delete can only be unconditional or versioned".into(),
                ));
            }
        }
        if tables.remove(&key).is_some() {
            self.persist(&tables.items)?;
        }
        Ok(())
    }

    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        page: PageRequest<'_>,
    ) -> Result<Page, StoreError> {
        let after = page.cursor.map(decode_cursor).transpose()?;
        let now = self.now_epoch();
        let tables = self.lock();
        let items = &tables.items;
        let limit = page.limit.max(1) as usize;
        let in_prefix = |(ipk, isk): &(String, String)| ipk == pk && isk.starts_with(sk_prefix);
        let past_cursor = |isk: &str| match &after {
            None => true,
            Some(c) if page.descending => isk < c.sk.as_str(),
            Some(c) => isk > c.sk.as_str(),
        };
        let start = (pk.to_string(), sk_prefix.to_string());
        let candidates: Box<dyn Iterator<Item = (&Key, &Item)>> = if page.descending {
            Box::new(
                items
                    .range(start..)
                    .take_while(|(k, _)| in_prefix(k))
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev(),
            )
        } else {
            Box::new(items.range(start..).take_while(|(k, _)| in_prefix(k)))
        };
        let mut out = Vec::new();
        let mut more = false;
        for ((_, isk), item) in candidates {
            if !past_cursor(isk) || item.is_expired(now) {
                continue;
            }
            if out.len() == limit {
                more = true;
                break;
            }
            out.push(item.clone());
        }
        let next = if more {
            out.last().map(|last| {
                encode_cursor(&Cursor {
                    pk: last.pk.to_string(),
                    sk: last.sk.to_string(),
                    gsi_sk: None,
                })
            })
        } else {
            None
        };
        Ok(Page { items: out, next })
    }

    async fn query_index(
        &self,
        gsi_pk: &str,
        gsi_sk_prefix: &str,
        page: PageRequest<'_>,
    ) -> Result<Page, StoreError> {
        let after = page.cursor.map(decode_cursor).transpose()?;
        let now = self.now_epoch();
        let tables = self.lock();
        let start: IndexEntry = (gsi_pk.into(), gsi_sk_prefix.into(), "".into(), "".into());
        let from = match &after {
            Some(c) => {
                let resume: IndexEntry = (
                    gsi_pk.into(),
                    c.gsi_sk.as_deref().unwrap_or("").into(),
                    c.pk.as_str().into(),
                    c.sk.as_str().into(),
                );
                if resume < start {
                    Bound::Included(start)
                } else {
                    Bound::Excluded(resume)
                }
            }
            None => Bound::Included(start),
        };
        let limit = page.limit.max(1) as usize;
        let mut rest = tables
            .index
            .range((from, Bound::Unbounded))
            .take_while(|(ipk, isk, _, _)| &**ipk == gsi_pk && isk.starts_with(gsi_sk_prefix))
            .filter_map(|(_, _, pk, sk)| tables.items.get(&(pk.to_string(), sk.to_string())))
            .filter(|i| !i.is_expired(now));
        let out: Vec<Item> = rest.by_ref().take(limit).cloned().collect();
        let next = if rest.next().is_some() {
            out.last().map(|last| {
                encode_cursor(&Cursor {
                    pk: last.pk.to_string(),
                    sk: last.sk.to_string(),
                    gsi_sk: last.gsi1.as_ref().map(|g| g.sk.to_string()),
                })
            })
        } else {
            None
        };
        Ok(Page { items: out, next })
    }

    async fn delete_partition(&self, pk: &str) -> Result<usize, StoreError> {
        let mut tables = self.lock();
        let keys: Vec<Key> = tables
            .items
            .range((pk.to_string(), String::new())..)
            .take_while(|((ipk, _), _)| ipk == pk)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &keys {
            tables.remove(key);
        }
        if !keys.is_empty() {
            self.persist(&tables.items)?;
        }
        Ok(keys.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `(pk, sk)` an index query of `gsi_pk`/`prefix` answers, page after page of `limit`.
    async fn index_keys(
        store: &EmbeddedStore,
        gsi_pk: &str,
        prefix: &str,
        limit: u32,
    ) -> Vec<String> {
        let mut keys = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = store
                .query_index(gsi_pk, prefix, PageRequest::after(limit, cursor.as_deref()))
                .await
                .unwrap();
            keys.extend(page.items.iter().map(|i| format!("{}/{}", i.pk, i.sk)));
            match page.next {
                Some(next) => cursor = Some(next),
                None => return keys,
            }
        }
    }

    /// The index is kept in step with every write: a replaced item leaves its old index key, a
    /// deleted one (or its whole partition) leaves the index, an expired one is not answered,
    /// and pages walk the index in its order (index sort key, then the item's keys).
    #[tokio::test]
    async fn the_index_follows_every_write() {
        let store = EmbeddedStore::in_memory();
        let put = |pk: &str, sk: &str, gsi_sk: &str| {
            Item::new(pk, sk, serde_json::json!({})).with_index("REALM#1", gsi_sk)
        };
        for (pk, sk, gsi_sk) in [
            ("C#2", "L#1", "INVOICE#7#a"),
            ("C#1", "L#2", "INVOICE#7#b"),
            ("C#1", "L#1", "INVOICE#7#b"),
            ("C#3", "L#1", "INVOICE#70#a"),
            ("C#1", "L#3", "INVOICE#8#a"),
        ] {
            store
                .put(put(pk, sk, gsi_sk), Condition::Always)
                .await
                .unwrap();
        }
        store
            .put(
                Item::new("C#9", "X", serde_json::json!({})).with_index("REALM#2", "INVOICE#7#a"),
                Condition::Always,
            )
            .await
            .unwrap();
        for limit in [1, 2, 10] {
            assert_eq!(
                index_keys(&store, "REALM#1", "INVOICE#7#", limit).await,
                ["C#2/L#1", "C#1/L#1", "C#1/L#2"],
                "pages of {limit}"
            );
        }
        // Moved to another index key: found there only.
        store
            .put(put("C#1", "L#2", "INVOICE#8#b"), Condition::Always)
            .await
            .unwrap();
        assert_eq!(
            index_keys(&store, "REALM#1", "INVOICE#7#", 2).await,
            ["C#2/L#1", "C#1/L#1"]
        );
        assert_eq!(
            index_keys(&store, "REALM#1", "INVOICE#8#", 2).await,
            ["C#1/L#3", "C#1/L#2"]
        );
        // Replaced without an index key: gone from the index.
        store
            .put(
                Item::new("C#2", "L#1", serde_json::json!({})),
                Condition::Always,
            )
            .await
            .unwrap();
        assert_eq!(
            index_keys(&store, "REALM#1", "INVOICE#7#", 2).await,
            ["C#1/L#1"]
        );
        // Expired: not answered.
        let mut expired = put("C#4", "L#1", "INVOICE#7#c");
        expired.ttl = Some(1);
        store.put(expired, Condition::Always).await.unwrap();
        assert_eq!(
            index_keys(&store, "REALM#1", "INVOICE#7#", 2).await,
            ["C#1/L#1"]
        );
        // Deleted, then a whole partition deleted.
        store.delete("C#1", "L#1", Condition::Always).await.unwrap();
        assert!(
            index_keys(&store, "REALM#1", "INVOICE#7#", 2)
                .await
                .is_empty()
        );
        assert_eq!(store.delete_partition("C#1").await.unwrap(), 2);
        assert!(
            index_keys(&store, "REALM#1", "INVOICE#8#", 2)
                .await
                .is_empty()
        );
        assert_eq!(
            index_keys(&store, "REALM#1", "INVOICE#70#", 2).await,
            ["C#3/L#1"]
        );
        assert_eq!(
            index_keys(&store, "REALM#2", "INVOICE#", 2).await,
            ["C#9/X"]
        );
    }

    #[tokio::test]
    async fn persisted_store_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        {
            let store = EmbeddedStore::persisted(&path).unwrap();
            store
                .put(
                    Item::new("P", "S", serde_json::json!({"a": 1})).with_index("G", "K#1"),
                    Condition::Absent,
                )
                .await
                .unwrap();
        }
        let store = EmbeddedStore::persisted(&path).unwrap();
        let item = store.get("P", "S").await.unwrap().unwrap();
        assert_eq!(item.data["a"], 1);
        // The index is rebuilt from the file.
        assert_eq!(index_keys(&store, "G", "K#", 10).await, ["P/S"]);
    }

    #[test]
    fn a_corrupt_state_file_is_reported_not_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            EmbeddedStore::persisted(&path),
            Err(StoreError::Corrupt(_))
        ));
    }
}
