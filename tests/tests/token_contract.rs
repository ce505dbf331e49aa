//! The token-storage contract (`shared::store::secrets::contract`) against every `SecretStore`
//! implementation.

use std::sync::Arc;

use shared::store::secrets::SecretStore;
use shared::store::secrets::embedded::EmbeddedSecrets;

mod embedded {
    use super::*;

    shared::store::token_contract_suite!(async {
        Arc::new(EmbeddedSecrets::in_memory()) as Arc<dyn SecretStore>
    });
}

mod embedded_persisted {
    use super::*;

    async fn store() -> Arc<dyn SecretStore> {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("token-contract")
            .join(format!("{}.json", uuid::Uuid::new_v4().simple()));
        match EmbeddedSecrets::persisted(&path) {
            Ok(store) => Arc::new(store),
            Err(e) => panic!("opening {}: {e}", path.display()),
        }
    }

    shared::store::token_contract_suite!(store());
}

mod secrets_manager {
    shared::store::token_contract_suite!(test_world::moto::secrets_store());
}

/// Secrets Manager specifics beyond the shared contract (against moto).
mod secrets_manager_extra {
    use std::sync::Arc;

    use shared::store::secrets::SecretStore;
    use shared::store::secrets::secrets_manager::SecretsManagerStore;

    fn ns() -> String {
        format!("x{}", uuid::Uuid::new_v4().simple())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_first_writes_all_succeed() {
        let store = test_world::moto::secrets_store().await;
        let name = format!("{}/company/1", ns());
        let mut tasks = Vec::new();
        for n in 0..8 {
            let store = store.clone();
            let name = name.clone();
            tasks.push(tokio::spawn(async move {
                store.put(&name, &format!("{{\"n\":{n}}}")).await
            }));
        }
        for task in tasks {
            task.await.expect("join").expect("put");
        }
        let value = store.get(&name).await.expect("get").expect("present");
        assert!(value.starts_with("{\"n\":"), "one writer's value wins");
        store.delete(&name).await.expect("delete");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn list_pages_and_keeps_only_the_prefix() {
        let store = test_world::moto::secrets_store().await;
        let base = ns();
        let mut expected = Vec::new();
        for i in 0..105 {
            let name = format!("{base}/company/{i:03}");
            store.put(&name, "{}").await.expect("put");
            expected.push(name);
        }
        // Shares the filter's word but not the prefix.
        store
            .put(&format!("{base}/companyx"), "{}")
            .await
            .expect("put");
        let listed = store.list(&format!("{base}/company/")).await.expect("list");
        assert_eq!(listed, expected);
        for name in expected.iter().chain([&format!("{base}/companyx")]) {
            store.delete(name).await.expect("delete");
        }
        assert!(
            store
                .list(&format!("{base}/"))
                .await
                .expect("list")
                .is_empty()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn secrets_scheduled_for_deletion_read_as_absent() {
        let client = test_world::moto::secrets_client().await;
        let store: Arc<dyn SecretStore> = Arc::new(SecretsManagerStore::new(client.clone()));
        let name = format!("{}/company/1", ns());
        store.put(&name, "{\"old\":true}").await.expect("put");
        // Deleted elsewhere with a recovery window (e.g. from the console).
        client
            .delete_secret()
            .secret_id(&name)
            .recovery_window_in_days(7)
            .send()
            .await
            .expect("schedule deletion");
        assert_eq!(store.get(&name).await.expect("get"), None);
        assert!(store.list(&name).await.expect("list").is_empty());
        // Our delete removes it for good, and the name can be used again.
        // (Writing over a scheduled secret is not checked here: moto accepts PutSecretValue on
        // it, where AWS refuses with InvalidRequestException, which the store answers with
        // RestoreSecret.)
        store.delete(&name).await.expect("force delete");
        store.put(&name, "{\"new\":true}").await.expect("re-create");
        assert_eq!(
            store.get(&name).await.expect("get").as_deref(),
            Some("{\"new\":true}")
        );
        store.delete(&name).await.expect("delete");
        assert_eq!(store.get(&name).await.expect("get"), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn errors_are_readable_and_do_not_reveal_secret_values() {
        let config = test_world::moto::sdk_config().await;
        let unreachable = aws_sdk_secretsmanager::config::Builder::from(&config)
            .endpoint_url("http://127.0.0.1:1")
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .build();
        let store =
            SecretsManagerStore::new(aws_sdk_secretsmanager::Client::from_conf(unreachable));
        let error = store
            .put("app/company/1", "super-secret-value")
            .await
            .expect_err("nothing listens there");
        let message = format!("{error} {error:?}");
        assert!(message.contains("app/company/1"), "{message}");
        assert!(!message.contains("super-secret-value"), "{message}");
    }
}
