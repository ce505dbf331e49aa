//! The embedded store: all items in memory, optionally written to a JSON file after every change so
//! that a local restart keeps its state. Used by `cargo run -p local` and by tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::{Condition, Item, ItemStore, Page, PageRequest, StoreError};

type Key = (String, String);

#[derive(Debug, Default)]
pub struct EmbeddedStore {
    items: Mutex<BTreeMap<Key, Item>>,
    file: Option<PathBuf>,
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

fn now_epoch() -> i64 {
    chrono::Utc::now().timestamp()
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
            items: Mutex::new(items),
            file: Some(path),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Item>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
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
        let now = now_epoch();
        self.lock()
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
        let now = now_epoch();
        Ok(self
            .lock()
            .get(&(pk.to_string(), sk.to_string()))
            .filter(|i| !i.is_expired(now))
            .cloned())
    }

    async fn put(&self, mut item: Item, condition: Condition) -> Result<Item, StoreError> {
        let mut items = self.lock();
        let key = (item.pk.to_string(), item.sk.to_string());
        let existing = items.get(&key);
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
        items.insert(key, item.clone());
        self.persist(&items)?;
        Ok(item)
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        let mut items = self.lock();
        let key = (pk.to_string(), sk.to_string());
        let existing = items.get(&key);
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
        if items.remove(&key).is_some() {
            self.persist(&items)?;
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
        let now = now_epoch();
        let items = self.lock();
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
        let now = now_epoch();
        let items = self.lock();
        let mut matching: Vec<&Item> = items
            .values()
            .filter(|i| !i.is_expired(now))
            .filter(|i| {
                i.gsi1
                    .as_ref()
                    .is_some_and(|g| &*g.pk == gsi_pk && g.sk.starts_with(gsi_sk_prefix))
            })
            .collect();
        fn order(i: &Item) -> (&str, &str, &str) {
            let gsi_sk = i.gsi1.as_ref().map_or("", |g| &*g.sk);
            (gsi_sk, &*i.pk, &*i.sk)
        }
        matching.sort_by(|a, b| order(a).cmp(&order(b)));
        let limit = page.limit.max(1) as usize;
        let mut rest = matching.into_iter().filter(|i| match &after {
            None => true,
            Some(c) => order(i) > (c.gsi_sk.as_deref().unwrap_or(""), &*c.pk, &*c.sk),
        });
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
        let mut items = self.lock();
        let before = items.len();
        items.retain(|(ipk, _), _| ipk != pk);
        let removed = before - items.len();
        if removed > 0 {
            self.persist(&items)?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn persisted_store_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        {
            let store = EmbeddedStore::persisted(&path).unwrap();
            store
                .put(
                    Item::new("P", "S", serde_json::json!({"a": 1})),
                    Condition::Absent,
                )
                .await
                .unwrap();
        }
        let store = EmbeddedStore::persisted(&path).unwrap();
        let item = store.get("P", "S").await.unwrap().unwrap();
        assert_eq!(item.data["a"], 1);
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
