//! The world's item store: the backend the test chose, with its writes counted (invoice links
//! and others, per company) and, on demand, failed (a crash between two writes).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use shared::store::{Condition, Item, ItemStore, Page, PageRequest, StoreError};

pub struct CountingStore {
    inner: Arc<dyn ItemStore>,
    link_puts: AtomicUsize,
    other_puts: AtomicUsize,
    link_puts_by_pk: Mutex<HashMap<String, usize>>,
    /// Writes of items whose sort key contains the text fail while the count lasts.
    failing: Mutex<Option<(String, usize)>>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ItemStore>) -> Self {
        CountingStore {
            inner,
            link_puts: AtomicUsize::new(0),
            other_puts: AtomicUsize::new(0),
            link_puts_by_pk: Mutex::new(HashMap::new()),
            failing: Mutex::new(None),
        }
    }

    /// Invoice-link writes since the last reset.
    pub fn link_puts(&self) -> usize {
        self.link_puts.load(Ordering::SeqCst)
    }

    /// Invoice-link writes of one company since the last reset.
    pub fn link_puts_of(&self, company: u64) -> usize {
        let by_pk = self.link_puts_by_pk.lock().unwrap();
        by_pk
            .get(&format!("COMPANY#{company}"))
            .copied()
            .unwrap_or(0)
    }

    /// Other writes (profiles, activity events, leases) since the last reset.
    pub fn other_puts(&self) -> usize {
        self.other_puts.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.link_puts.store(0, Ordering::SeqCst);
        self.other_puts.store(0, Ordering::SeqCst);
        self.link_puts_by_pk.lock().unwrap().clear();
    }

    /// Fails the next `times` writes of items whose sort key contains `needle` (an injected
    /// crash, e.g. between the QuickBooks call and the link write).
    pub fn fail_writes(&self, needle: &str, times: usize) {
        *self.failing.lock().unwrap() = Some((needle.to_string(), times));
    }

    fn injected_failure(&self, sk: &str) -> bool {
        let mut failing = self.failing.lock().unwrap();
        match failing.as_mut() {
            Some((needle, left)) if *left > 0 && sk.contains(needle.as_str()) => {
                *left -= 1;
                true
            }
            _ => false,
        }
    }

    fn count(&self, item: &Item) {
        if item.sk.contains("#INVOICE#") {
            self.link_puts.fetch_add(1, Ordering::SeqCst);
            *self
                .link_puts_by_pk
                .lock()
                .unwrap()
                .entry(item.pk.to_string())
                .or_default() += 1;
        } else {
            self.other_puts.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl ItemStore for CountingStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<Item, StoreError> {
        if self.injected_failure(&item.sk) {
            return Err(StoreError::Backend("injected crash".into()));
        }
        self.count(&item);
        self.inner.put(item, condition).await
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.inner.delete(pk, sk, condition).await
    }

    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        page: PageRequest<'_>,
    ) -> Result<Page, StoreError> {
        self.inner.query(pk, sk_prefix, page).await
    }

    async fn query_index(
        &self,
        gsi_pk: &str,
        gsi_sk_prefix: &str,
        page: PageRequest<'_>,
    ) -> Result<Page, StoreError> {
        self.inner.query_index(gsi_pk, gsi_sk_prefix, page).await
    }

    async fn delete_partition(&self, pk: &str) -> Result<usize, StoreError> {
        self.inner.delete_partition(pk).await
    }
}
