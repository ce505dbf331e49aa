//! The storage contract (`shared::store::contract`) against every `ItemStore` implementation.

use std::sync::Arc;

use shared::store::ItemStore;
use shared::store::embedded::EmbeddedStore;

mod embedded {
    use super::*;

    shared::store::store_contract_suite!(async {
        Arc::new(EmbeddedStore::in_memory()) as Arc<dyn ItemStore>
    });
}

mod embedded_persisted {
    use super::*;

    async fn store() -> Arc<dyn ItemStore> {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("store-contract")
            .join(format!("{}.json", uuid::Uuid::new_v4().simple()));
        match EmbeddedStore::persisted(&path) {
            Ok(store) => Arc::new(store),
            Err(e) => panic!("opening {}: {e}", path.display()),
        }
    }

    shared::store::store_contract_suite!(store());
}

mod dynamodb {
    shared::store::store_contract_suite!(test_world::moto::dynamo_store());
}

/// Checks beyond the shared contract, mostly around what DynamoDB makes hard (expired items left
/// in place by TTL lag, pagination, batch deletes, number precision), run against the embedded
/// store as the reference and against DynamoDB (moto).
mod extra {
    use std::sync::Arc;

    use serde_json::json;
    use shared::store::{Condition, Item, ItemStore, Page, PageRequest, StoreError};

    fn ns() -> String {
        format!("x{}", uuid::Uuid::new_v4().simple())
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    /// Every page of a table (`index == false`) or index query, checking page sizes.
    async fn pages(
        store: &dyn ItemStore,
        index: bool,
        pk: &str,
        prefix: &str,
        limit: u32,
        descending: bool,
    ) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let request = PageRequest {
                limit,
                cursor: cursor.as_deref(),
                descending,
            };
            let Page { items, next } = if index {
                store.query_index(pk, prefix, request).await
            } else {
                store.query(pk, prefix, request).await
            }
            .expect("query");
            assert!(items.len() <= limit as usize);
            if next.is_some() {
                assert_eq!(items.len(), limit as usize, "only the last page is short");
            }
            out.push(items.into_iter().map(|i| i.sk.to_string()).collect());
            match next {
                Some(n) => cursor = Some(n),
                None => return out,
            }
            assert!(out.len() < 100, "pagination does not end");
        }
    }

    pub async fn expired_items_do_not_shorten_pages(store: Arc<dyn ItemStore>) {
        let pk = format!("{}#P", ns());
        let gsi = format!("{pk}#G");
        let expired = [1, 2, 3, 5, 8, 9];
        for i in 0..12 {
            let mut item = Item::new(&pk, format!("A{i:02}"), json!({ "i": i }))
                .with_index(&gsi, format!("I{i:02}"));
            item.ttl = Some(if expired.contains(&i) {
                now() - 5
            } else {
                now() + 3600
            });
            store.put(item, Condition::Always).await.expect("put");
        }
        // Not in the prefix.
        store
            .put(Item::new(&pk, "B00", json!({})), Condition::Always)
            .await
            .expect("put");
        let live: Vec<String> = (0..12)
            .filter(|i| !expired.contains(i))
            .map(|i| format!("A{i:02}"))
            .collect();

        let asc = pages(&*store, false, &pk, "A", 2, false).await;
        assert_eq!(asc.len(), 3);
        assert_eq!(asc.concat(), live);
        let mut reversed = live.clone();
        reversed.reverse();
        let desc = pages(&*store, false, &pk, "A", 4, true).await;
        assert_eq!(desc.len(), 2);
        assert_eq!(desc.concat(), reversed);
        // Exactly one full page: no cursor.
        assert_eq!(pages(&*store, false, &pk, "A", 6, false).await.len(), 1);
        assert_eq!(
            pages(&*store, false, &pk, "", 1000, false)
                .await
                .concat()
                .len(),
            7
        );

        let by_index = pages(&*store, true, &gsi, "I", 4, false).await;
        assert_eq!(by_index.len(), 2);
        assert_eq!(by_index.concat(), live);
        assert_eq!(
            pages(&*store, true, &gsi, "", 1, false).await.concat(),
            live
        );
    }

    pub async fn conflicts_carry_the_stored_item(store: Arc<dyn ItemStore>) {
        let pk = format!("{}#C", ns());
        store
            .put(Item::new(&pk, "X", json!({"n": 1})), Condition::Absent)
            .await
            .expect("create");
        store
            .put(Item::new(&pk, "X", json!({"n": 2})), Condition::Version(1))
            .await
            .expect("update");
        for condition in [Condition::Absent, Condition::Version(1)] {
            match store
                .put(Item::new(&pk, "X", json!({"n": 3})), condition)
                .await
            {
                Err(StoreError::Conflict {
                    existing: Some(existing),
                    ..
                }) => {
                    assert_eq!(*existing.data, json!({"n": 2}));
                    assert_eq!(existing.version, 2);
                }
                other => panic!("expected a conflict with the item, got {other:?}"),
            }
        }
        match store.delete(&pk, "X", Condition::Version(1)).await {
            Err(StoreError::Conflict {
                existing: Some(existing),
                ..
            }) => assert_eq!(existing.version, 2),
            other => panic!("expected a conflict with the item, got {other:?}"),
        }
        assert!(matches!(
            store.delete(&pk, "X", Condition::Absent).await,
            Err(StoreError::Backend(_))
        ));
        store
            .delete(&pk, "X", Condition::Version(2))
            .await
            .expect("delete");
        assert!(store.get(&pk, "X").await.expect("get").is_none());
    }

    pub async fn large_versions_and_ttls_keep_their_precision(store: Arc<dyn ItemStore>) {
        let pk = format!("{}#V", ns());
        let token = u64::MAX - 2;
        let mut item = Item::new(&pk, "LEASE", json!({})).with_ttl(now() + 30);
        item.version = token;
        store.put(item, Condition::Absent).await.expect("put");
        let got = store
            .get(&pk, "LEASE")
            .await
            .expect("get")
            .expect("present");
        assert_eq!(got.version, token);
        assert!(
            store
                .delete(&pk, "LEASE", Condition::Version(token - 1))
                .await
                .is_err(),
            "a neighbouring token does not match"
        );
        let updated = store
            .put(
                Item::new(&pk, "LEASE", json!({})),
                Condition::Version(token),
            )
            .await
            .expect("versioned update");
        assert_eq!(updated.version, token + 1);
        store
            .delete(&pk, "LEASE", Condition::Version(token + 1))
            .await
            .expect("delete");
    }

    pub async fn partitions_are_deleted_past_one_batch(store: Arc<dyn ItemStore>) {
        let base = ns();
        let pk = format!("{base}#BIG");
        let other = format!("{base}#BIGGER");
        for i in 0..60 {
            let mut item = Item::new(&pk, format!("S{i:03}"), json!({ "i": i }));
            if i % 10 == 0 {
                item.ttl = Some(now() - 1); // expired but not yet removed: deleted too
            }
            store.put(item, Condition::Always).await.expect("put");
        }
        store
            .put(Item::new(&other, "S000", json!({})), Condition::Always)
            .await
            .expect("put");
        assert_eq!(store.delete_partition(&pk).await.expect("purge"), 60);
        assert!(
            store
                .query(&pk, "", PageRequest::default())
                .await
                .expect("q")
                .items
                .is_empty()
        );
        assert_eq!(store.delete_partition(&pk).await.expect("purge"), 0);
        assert!(store.get(&other, "S000").await.expect("get").is_some());
    }

    macro_rules! extra_suite {
        ($factory:expr) => {
            extra_suite!(@tests $factory;
                expired_items_do_not_shorten_pages,
                conflicts_carry_the_stored_item,
                large_versions_and_ttls_keep_their_precision,
                partitions_are_deleted_past_one_batch
            );
        };
        (@tests $factory:expr; $($name:ident),*) => {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::extra::$name($factory.await).await;
                }
            )*
        };
    }

    mod embedded {
        use std::sync::Arc;

        use shared::store::ItemStore;
        use shared::store::embedded::EmbeddedStore;

        extra_suite!(async { Arc::new(EmbeddedStore::in_memory()) as Arc<dyn ItemStore> });
    }

    mod dynamodb {
        use aws_sdk_dynamodb::types::AttributeValue;
        use serde_json::json;
        use shared::store::{Condition, Item, ItemStore, PageRequest, StoreError};

        extra_suite!(test_world::moto::dynamo_store());

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn attributes_follow_the_table_layout() {
            let store = test_world::moto::new_dynamo_store().await;
            let data = json!({"amount": 12345678901234567890.5, "text": "x"});
            store
                .put(
                    Item::new("P", "S", data.clone())
                        .with_index("G", "GS")
                        .with_ttl(4_000_000_000),
                    Condition::Always,
                )
                .await
                .expect("put");
            let raw = store
                .client()
                .get_item()
                .table_name(store.table())
                .key("pk", AttributeValue::S("P".into()))
                .key("sk", AttributeValue::S("S".into()))
                .send()
                .await
                .expect("get_item");
            let item = raw.item().expect("stored");
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).cloned();
            assert_eq!(text("gsi1pk").as_deref(), Some("G"));
            assert_eq!(text("gsi1sk").as_deref(), Some("GS"));
            assert_eq!(number("version").as_deref(), Some("1"));
            assert_eq!(number("ttl").as_deref(), Some("4000000000"));
            let stored: serde_json::Value =
                serde_json::from_str(&text("data").expect("data is a string")).expect("json");
            assert_eq!(stored, data);
            let ttl = store
                .client()
                .describe_time_to_live()
                .table_name(store.table())
                .send()
                .await
                .expect("describe ttl");
            assert_eq!(
                ttl.time_to_live_description()
                    .and_then(|d| d.attribute_name()),
                Some("ttl")
            );
            // Creating the table again is accepted (a local server restarting).
            shared::store::dynamo::create_table(store.client(), store.table())
                .await
                .expect("idempotent create");
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn cursors_of_another_query_are_rejected() {
            let store = test_world::moto::dynamo_store().await;
            for i in 0..3 {
                store
                    .put(
                        Item::new("P", format!("A{i}"), json!({})).with_index("G", format!("I{i}")),
                        Condition::Always,
                    )
                    .await
                    .expect("put");
            }
            let page = store
                .query("P", "A", PageRequest::first(1))
                .await
                .expect("page");
            let cursor = page.next.expect("more pages");
            for result in [
                store
                    .query("Q", "A", PageRequest::after(1, Some(&cursor)))
                    .await,
                store
                    .query("P", "B", PageRequest::after(1, Some(&cursor)))
                    .await,
                store
                    .query_index("G", "I", PageRequest::after(1, Some(&cursor)))
                    .await,
            ] {
                assert!(matches!(result, Err(StoreError::BadCursor)), "{result:?}");
            }
            let page = store
                .query_index("G", "I", PageRequest::first(1))
                .await
                .expect("page");
            let cursor = page.next.expect("more pages");
            let result = store
                .query_index("H", "I", PageRequest::after(1, Some(&cursor)))
                .await;
            assert!(matches!(result, Err(StoreError::BadCursor)), "{result:?}");
            let second = store
                .query_index("G", "I", PageRequest::after(1, Some(&cursor)))
                .await
                .expect("second page");
            assert_eq!(&*second.items[0].sk, "A1");
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn backend_errors_are_typed_and_readable() {
            let client = test_world::moto::dynamo_client().await;
            let store = shared::store::dynamo::DynamoStore::new(client, "no-such-table");
            match store.get("P", "S").await {
                Err(StoreError::Backend(message)) => {
                    assert!(message.contains("GetItem"), "{message}");
                    assert!(message.contains("ResourceNotFoundException"), "{message}");
                }
                other => panic!("expected a backend error, got {other:?}"),
            }
            let _ = ItemStore::delete_partition(&store, "P")
                .await
                .expect_err("no table");
        }
    }
}
