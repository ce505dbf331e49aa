//! The storage contract: one suite, written once, run against every [`ItemStore`]
//! implementation (see `tests/tests/store_contract.rs`). Each check takes a fresh store and a
//! namespace so that runs against a shared backend do not collide.
//!
//! Use [`store_contract_suite!`](crate::store_contract_suite) to generate one `#[tokio::test]` per
//! check for a store factory.

use std::sync::Arc;

use chrono::{Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::json;

use super::records::{IdempotencyBegin, Records};
use super::{Condition, Item, ItemStore, PageRequest, StoreError};
use domain::{
    CompanyId, CompanyProfile, ConnectionState, DealId, IdempotencyRecord, IdempotencyState,
    InvoiceLink, InvoiceStatus, QuickBooksConnection, QuickBooksEnvironment, UserId,
};

/// Generates one test per contract check. `$factory` is an async expression (awaited inside
/// each test) that yields an `Arc<dyn ItemStore>`.
#[macro_export]
macro_rules! store_contract_suite {
    ($factory:expr) => {
        $crate::store_contract_suite!(@tests $factory;
            conditional_create_race_has_one_winner,
            stale_version_update_is_refused,
            get_put_delete_round_trip,
            invoice_link_found_by_realm_and_invoice_id,
            deal_links_paginate_past_one_page,
            the_deal_list_reads_what_the_links_hold,
            ttl_is_set_and_expired_items_read_as_absent,
            idempotency_key_claimed_once,
            leases_exclude_each_other,
            activity_lists_newest_first,
            purge_removes_one_company_only,
            connected_companies_are_indexed,
            bad_cursor_is_rejected,
            rule_runs_are_claimed_once_and_listed_while_waiting,
            watermark_prepared_and_written_figures_round_trip,
            bulk_batches_are_created_once_and_saved_by_version,
            links_stamp_changes_with_every_link_change
        );
    };
    (@tests $factory:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let store: std::sync::Arc<dyn $crate::ItemStore> = $factory.await;
                $crate::contract::$name(store, &$crate::contract::namespace()).await;
            }
        )*
    };
}

mod automation;
pub use automation::*;

/// A unique namespace for one check's keys.
pub fn namespace() -> String {
    format!("t{}", uuid::Uuid::new_v4().simple())
}

fn company(ns: &str, n: u64) -> CompanyId {
    // Company ids derived from the namespace keep parallel runs apart on a shared backend.
    let hash = ns.bytes().fold(1469598103934665603u64, |h, b| {
        (h ^ b as u64).wrapping_mul(1099511628211)
    });
    CompanyId((hash % 1_000_000_000) * 10 + n)
}

fn link(company: CompanyId, deal: u64, invoice: &str, realm: &str) -> InvoiceLink {
    let now = Utc::now();
    InvoiceLink {
        company_id: company,
        deal_id: DealId(deal),
        realm_id: realm.to_string(),
        invoice_id: invoice.to_string(),
        doc_number: Some(format!("D{invoice}")),
        currency: "EUR".into(),
        total: Decimal::new(125_000, 2),
        balance: Decimal::new(125_000, 2),
        txn_date: NaiveDate::from_ymd_opt(2026, 3, 13).unwrap_or_default(),
        due_date: NaiveDate::from_ymd_opt(2026, 3, 20),
        status: InvoiceStatus::Open,
        customer_id: "58".into(),
        customer_name: Some("Acme".into()),
        email_sent: false,
        sync_token: Some("0".into()),
        qbo_updated_at: None,
        last_payment_date: None,
        billing: None,
        created_at: now,
        updated_at: now,
        version: 0,
    }
}

pub async fn conditional_create_race_has_one_winner(store: Arc<dyn ItemStore>, ns: &str) {
    let pk = format!("{ns}#RACE");
    let mut tasks = Vec::new();
    for n in 0..16 {
        let store = store.clone();
        let pk = pk.clone();
        tasks.push(tokio::spawn(async move {
            store
                .put(
                    Item::new(pk, "ONE", json!({ "writer": n })),
                    Condition::Absent,
                )
                .await
        }));
    }
    let mut wins = 0;
    let mut conflicts = 0;
    for task in tasks {
        match task.await.expect("task panicked") {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict { existing, .. }) => {
                conflicts += 1;
                if let Some(existing) = existing {
                    assert_eq!(&*existing.sk, "ONE");
                }
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(wins, 1, "exactly one create wins");
    assert_eq!(conflicts, 15, "every other create gets a typed conflict");
}

pub async fn stale_version_update_is_refused(store: Arc<dyn ItemStore>, ns: &str) {
    let pk = format!("{ns}#VER");
    let created = store
        .put(Item::new(&pk, "X", json!({"n": 1})), Condition::Absent)
        .await
        .expect("create");
    assert_eq!(created.version, 1);
    let updated = store
        .put(Item::new(&pk, "X", json!({"n": 2})), Condition::Version(1))
        .await
        .expect("update at the current version");
    assert_eq!(updated.version, 2);
    let stale = store
        .put(Item::new(&pk, "X", json!({"n": 3})), Condition::Version(1))
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { .. })),
        "stale update refused: {stale:?}"
    );
    let now = store.get(&pk, "X").await.expect("get").expect("present");
    assert_eq!(now.data["n"], 2);
    assert_eq!(now.version, 2);
    // A versioned update of an item that does not exist is a conflict too.
    let missing = store
        .put(Item::new(&pk, "NOPE", json!({})), Condition::Version(1))
        .await;
    assert!(matches!(missing, Err(StoreError::Conflict { .. })));
    // And the typed layer: two saves from the same read → one wins.
    let records = Records::new(store.clone());
    let profile = records
        .create_company(&CompanyProfile::new(company(ns, 1), Utc::now()))
        .await
        .expect("create profile");
    let mut a = profile.clone();
    a.time_zone = "Europe/Oslo".into();
    let mut b = profile.clone();
    b.time_zone = "America/New_York".into();
    records.save_company(&a).await.expect("first save wins");
    let second = records.save_company(&b).await;
    assert!(matches!(second, Err(StoreError::Conflict { .. })));
    let stored = records
        .get_company(company(ns, 1))
        .await
        .expect("get")
        .expect("present");
    assert_eq!(stored.time_zone, "Europe/Oslo");
}

pub async fn get_put_delete_round_trip(store: Arc<dyn ItemStore>, ns: &str) {
    let pk = format!("{ns}#RT");
    let data = json!({"text": "O'Brien \\ 50% — ünïcødé", "nested": {"list": [1, 2.5, "x"], "none": null}, "big": "12345678901234567890.12"});
    store
        .put(
            Item::new(&pk, "A", data.clone()).with_index(format!("{ns}#G"), "S"),
            Condition::Always,
        )
        .await
        .expect("put");
    let got = store.get(&pk, "A").await.expect("get").expect("present");
    assert_eq!(*got.data, data);
    assert_eq!(
        got.gsi1.as_ref().map(|g| &*g.pk),
        Some(format!("{ns}#G").as_str())
    );
    assert!(store.get(&pk, "B").await.expect("get").is_none());
    store
        .delete(&pk, "A", Condition::Always)
        .await
        .expect("delete");
    assert!(store.get(&pk, "A").await.expect("get").is_none());
    // Deleting what is not there is fine; a versioned delete of it is a conflict.
    store
        .delete(&pk, "A", Condition::Always)
        .await
        .expect("idempotent delete");
    assert!(store.delete(&pk, "A", Condition::Version(3)).await.is_err());
}

pub async fn invoice_link_found_by_realm_and_invoice_id(store: Arc<dyn ItemStore>, ns: &str) {
    let records = Records::new(store);
    let realm = format!("{ns}-realm");
    let c1 = company(ns, 1);
    let c2 = company(ns, 2);
    records
        .create_invoice_link(&link(c1, 42, "130", &realm))
        .await
        .expect("link 1");
    records
        .create_invoice_link(&link(c1, 43, "130", &realm))
        .await
        .expect("same invoice, other deal");
    records
        .create_invoice_link(&link(c2, 42, "1301", &realm))
        .await
        .expect("prefix sibling");
    records
        .create_invoice_link(&link(c2, 42, "130", &format!("{realm}-other")))
        .await
        .expect("other realm");
    let dup = records
        .create_invoice_link(&link(c1, 42, "130", &realm))
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict { .. })),
        "no duplicate link"
    );

    let found = records
        .find_invoice_links(&realm, "130")
        .await
        .expect("find");
    let mut deals: Vec<u64> = found.iter().map(|l| l.deal_id.0).collect();
    deals.sort();
    assert_eq!(deals, vec![42, 43]);
    assert!(
        found
            .iter()
            .all(|l| l.company_id == c1 && l.invoice_id == "130")
    );
    assert!(found.iter().all(|l| l.version == 1));
    assert!(
        records
            .find_invoice_links(&realm, "13")
            .await
            .expect("find")
            .is_empty()
    );
}

pub async fn deal_links_paginate_past_one_page(store: Arc<dyn ItemStore>, ns: &str) {
    let records = Records::new(store.clone());
    let c = company(ns, 1);
    let realm = format!("{ns}-realm");
    for i in 0..25 {
        records
            .create_invoice_link(&link(c, 7, &format!("{}", 1000 + i), &realm))
            .await
            .expect("create");
    }
    // A neighbouring deal whose id shares a prefix must not leak in.
    records
        .create_invoice_link(&link(c, 70, "9", &realm))
        .await
        .expect("create");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let (links, next) = records
            .deal_invoice_links(c, DealId(7), PageRequest::after(10, cursor.as_deref()))
            .await
            .expect("page");
        assert!(links.len() <= 10);
        pages += 1;
        seen.extend(links.into_iter().map(|l| l.invoice_id));
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert!(pages >= 3, "25 links in pages of 10 take at least 3 pages");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 25, "every link once, none twice");
    assert_eq!(
        records
            .all_deal_invoice_links(c, DealId(7))
            .await
            .expect("all")
            .len(),
        25
    );
    // The index pages too.
    let mut by_realm = 0;
    let mut cursor: Option<String> = None;
    loop {
        let (links, next) = records
            .realm_invoice_links(&realm, PageRequest::after(7, cursor.as_deref()))
            .await
            .expect("realm page");
        by_realm += links.len();
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(by_realm, 26);
}

/// The list's borrowed read ([`Records::deal_invoice_items`], [`Records::listed_invoices`]) gives, field for field, what the
/// full links hold — including absent optional fields and a link written before `email_sent`
/// existed — over more than one page.
pub async fn the_deal_list_reads_what_the_links_hold(store: Arc<dyn ItemStore>, ns: &str) {
    let records = Records::new(store.clone());
    let c = company(ns, 9);
    let items_of = |deal| records.deal_invoice_items(c, DealId(deal));
    let realm = format!("{ns}-realm");
    for n in 0..503 {
        let mut l = link(c, 9, &format!("{n}"), &realm);
        if n % 3 == 0 {
            l.doc_number = None;
            l.due_date = None;
            l.customer_name = Some(format!("Kunde \"{n}\" — Ölwerk & Söhne"));
        }
        if n % 4 == 0 {
            l.status = InvoiceStatus::PartiallyPaid;
            l.balance = Decimal::new(-1, 2) + Decimal::new(n, 1);
            l.email_sent = true;
        }
        records.create_invoice_link(&l).await.expect("create");
    }
    let mut all = records
        .all_deal_invoice_links(c, DealId(9))
        .await
        .expect("all");
    let items = items_of(9).await.expect("items");
    let listed = Records::listed_invoices(&items)
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r.invoice_id.to_string(),
                        r.doc_number.map(str::to_string),
                        r.currency.to_string(),
                        r.total,
                        r.balance,
                        r.txn_date,
                        r.due_date,
                        r.status,
                        r.customer_id.to_string(),
                        r.customer_name.map(str::to_string),
                        r.email_sent,
                        r.updated_at,
                    )
                })
                .collect::<Vec<_>>()
        })
        .expect("list");
    assert_eq!(all.len(), 503);
    assert_eq!(listed.len(), 503);
    let expected: Vec<_> = all
        .drain(..)
        .map(|l| {
            (
                l.invoice_id,
                l.doc_number,
                l.currency,
                l.total,
                l.balance,
                l.txn_date,
                l.due_date,
                l.status,
                l.customer_id,
                l.customer_name,
                l.email_sent,
                l.updated_at,
            )
        })
        .collect();
    assert_eq!(listed, expected);
    assert!(listed.iter().any(|row| row.1.is_none() && row.6.is_none()));

    // A link stored without `email_sent` (written before the field existed) lists as not sent.
    records
        .create_invoice_link(&link(c, 10, "old", &realm))
        .await
        .expect("create old");
    let old_key = store
        .query(
            &super::records::company_pk(c),
            "DEAL#10#INVOICE#",
            PageRequest::after(5, None),
        )
        .await
        .expect("query")
        .items
        .into_iter()
        .next()
        .expect("the old link");
    // Rewrites the old link as stored, without `fields`.
    let rewrite_without = |fields: &'static [&'static str]| {
        let store = store.clone();
        let (pk, sk) = (old_key.pk.clone(), old_key.sk.clone());
        let records = records.clone();
        async move {
            let stored = records
                .get_invoice_link(c, DealId(10), "old")
                .await
                .expect("get")
                .expect("the old link");
            let mut value = serde_json::to_value(&stored).expect("json");
            if let Some(map) = value.as_object_mut() {
                for field in fields {
                    map.remove(*field);
                }
            }
            store
                .put(Item::new(pk, sk, value), Condition::Version(stored.version))
                .await
                .expect("rewrite without the fields");
        }
    };
    rewrite_without(&["email_sent", "doc_number"]).await;
    let items = items_of(10).await.expect("items");
    let rows = Records::listed_invoices(&items)
        .map(|rows| {
            rows.iter()
                .map(|r| (r.email_sent, r.doc_number.is_none()))
                .collect::<Vec<_>>()
        })
        .expect("list old");
    assert_eq!(rows, [(false, true)]);

    // A link missing a field the list needs is a corrupt record, named.
    rewrite_without(&["currency"]).await;
    let items = items_of(10).await.expect("items");
    match Records::listed_invoices(&items).map(|rows| rows.len()) {
        Err(StoreError::Corrupt(detail)) => assert!(detail.contains("currency"), "{detail}"),
        other => panic!("expected a corrupt record, got {other:?}"),
    }
}

pub async fn ttl_is_set_and_expired_items_read_as_absent(store: Arc<dyn ItemStore>, ns: &str) {
    let records = Records::new(store.clone());
    let c = company(ns, 1);
    let now = Utc::now();
    let record = IdempotencyRecord {
        company_id: c,
        key: "k1".into(),
        request_hash: "h".into(),
        state: IdempotencyState::InProgress {
            until: now + Duration::seconds(30),
        },
        progress: json!({}),
        created_at: now,
        expires_at: now + Duration::hours(24),
        version: 0,
    };
    records.begin_idempotent(&record, now).await.expect("begin");
    let raw = store
        .get(&super::records::company_pk(c), "IDEMPOTENCY#k1")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(
        raw.ttl,
        Some((now + Duration::hours(24)).timestamp()),
        "TTL attribute set"
    );
    // An item whose TTL has passed reads as absent and may be replaced.
    let pk = format!("{ns}#TTL");
    let past = now.timestamp() - 10;
    store
        .put(
            Item::new(&pk, "OLD", json!({})).with_ttl(past),
            Condition::Always,
        )
        .await
        .expect("put expired");
    assert!(store.get(&pk, "OLD").await.expect("get").is_none());
    assert!(
        store
            .query(&pk, "", PageRequest::default())
            .await
            .expect("q")
            .items
            .is_empty()
    );
    store
        .put(
            Item::new(&pk, "OLD", json!({"fresh": true})),
            Condition::AbsentOrExpired {
                now: now.timestamp(),
            },
        )
        .await
        .expect("expired item may be replaced");
    let live = store
        .put(
            Item::new(&pk, "OLD", json!({})),
            Condition::AbsentOrExpired {
                now: now.timestamp(),
            },
        )
        .await;
    assert!(matches!(live, Err(StoreError::Conflict { .. })));
}

pub async fn idempotency_key_claimed_once(store: Arc<dyn ItemStore>, ns: &str) {
    let records = Records::new(store);
    let c = company(ns, 1);
    let now = Utc::now();
    let record = IdempotencyRecord {
        company_id: c,
        key: "same".into(),
        request_hash: "h1".into(),
        state: IdempotencyState::InProgress {
            until: now + Duration::seconds(30),
        },
        progress: json!({}),
        created_at: now,
        expires_at: now + Duration::hours(24),
        version: 0,
    };
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let records = records.clone();
        let record = record.clone();
        tasks.push(tokio::spawn(async move {
            records.begin_idempotent(&record, now).await
        }));
    }
    let mut started = Vec::new();
    let mut existing = 0;
    for t in tasks {
        match t.await.expect("join").expect("begin") {
            IdempotencyBegin::Started(r) => started.push(r),
            IdempotencyBegin::Existing(r) => {
                assert_eq!(r.request_hash, "h1");
                existing += 1;
            }
        }
    }
    assert_eq!(started.len(), 1);
    assert_eq!(existing, 9);
    let mut done = started.remove(0);
    done.state = IdempotencyState::Complete {
        status: 201,
        body: json!({"invoice_id": "130"}),
    };
    let done = records.save_idempotency(&done).await.expect("complete");
    match records.begin_idempotent(&record, now).await.expect("again") {
        IdempotencyBegin::Existing(r) => assert_eq!(r.state, done.state),
        IdempotencyBegin::Started(_) => panic!("a completed key is not started again"),
    }
}

pub async fn leases_exclude_each_other(store: Arc<dyn ItemStore>, ns: &str) {
    let records = Records::new(store);
    let c = company(ns, 1);
    let now = Utc::now();
    let first = records
        .acquire_lease(c, "tokens", Duration::seconds(30), now)
        .await
        .expect("acquire")
        .expect("free lease is taken");
    assert!(
        records
            .acquire_lease(c, "tokens", Duration::seconds(30), now)
            .await
            .expect("acquire")
            .is_none(),
        "a held lease is not taken twice"
    );
    // After expiry another holder may take it, and the old holder's release does not free it.
    let later = now + Duration::seconds(31);
    let second = records
        .acquire_lease(c, "tokens", Duration::seconds(30), later)
        .await
        .expect("acquire")
        .expect("expired lease is taken over");
    records
        .release_lease(&first)
        .await
        .expect("stale release is a no-op");
    assert!(
        records
            .acquire_lease(c, "tokens", Duration::seconds(30), later)
            .await
            .expect("acquire")
            .is_none()
    );
    records.release_lease(&second).await.expect("release");
    assert!(
        records
            .acquire_lease(c, "tokens", Duration::seconds(30), later)
            .await
            .expect("acquire")
            .is_some()
    );
}

pub async fn activity_lists_newest_first(store: Arc<dyn ItemStore>, ns: &str) {
    let records = Records::new(store);
    let c = company(ns, 1);
    let base = Utc::now();
    for i in 0..5 {
        records
            .append_activity(&domain::ActivityEvent {
                company_id: c,
                deal_id: DealId(9),
                at: base + Duration::seconds(i),
                id: format!("e{i}"),
                kind: "invoice.created".into(),
                outcome: domain::Outcome::Succeeded,
                message: format!("event {i}"),
                invoice_id: None,
                user_id: Some(UserId(1)),
                intuit_tid: None,
            })
            .await
            .expect("append");
    }
    let events = records.deal_activity(c, DealId(9), 3).await.expect("list");
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, vec!["e4", "e3", "e2"]);
}

pub async fn purge_removes_one_company_only(store: Arc<dyn ItemStore>, ns: &str) {
    let records = Records::new(store);
    let a = company(ns, 1);
    let b = company(ns, 2);
    let realm = format!("{ns}-realm");
    for c in [a, b] {
        records
            .create_company(&CompanyProfile::new(c, Utc::now()))
            .await
            .expect("profile");
        records
            .create_invoice_link(&link(c, 1, "5", &realm))
            .await
            .expect("link");
    }
    let removed = records.purge_company(a).await.expect("purge");
    assert_eq!(removed, 2);
    assert!(records.get_company(a).await.expect("get").is_none());
    assert!(records.get_company(b).await.expect("get").is_some());
    let left = records.find_invoice_links(&realm, "5").await.expect("find");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].company_id, b);
}

pub async fn connected_companies_are_indexed(store: Arc<dyn ItemStore>, ns: &str) {
    let records = Records::new(store);
    let a = company(ns, 1);
    let mut profile = records
        .create_company(&CompanyProfile::new(a, Utc::now()))
        .await
        .expect("create");
    let listed = |records: Records| async move {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (ids, next) = records
                .connected_companies(PageRequest::after(1000, cursor.as_deref()))
                .await
                .expect("list");
            all.extend(ids);
            match next {
                Some(n) => cursor = Some(n),
                None => return all,
            }
        }
    };
    assert!(!listed(records.clone()).await.contains(&a));
    profile.quickbooks = Some(QuickBooksConnection {
        realm_id: "r".into(),
        environment: QuickBooksEnvironment::Sandbox,
        state: ConnectionState::Connected,
        connected_by: UserId(1),
        connected_at: Utc::now(),
        reason: None,
    });
    let mut profile = records.save_company(&profile).await.expect("save");
    assert!(listed(records.clone()).await.contains(&a));
    if let Some(q) = profile.quickbooks.as_mut() {
        q.state = ConnectionState::Disconnected;
    }
    records.save_company(&profile).await.expect("save");
    assert!(!listed(records.clone()).await.contains(&a));
}

pub async fn bad_cursor_is_rejected(store: Arc<dyn ItemStore>, ns: &str) {
    let result = store
        .query(
            &format!("{ns}#X"),
            "",
            PageRequest::after(10, Some("not-a-cursor!")),
        )
        .await;
    assert!(matches!(result, Err(StoreError::BadCursor)), "{result:?}");
}
