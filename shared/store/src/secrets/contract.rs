//! The token-storage contract: one suite run against every [`SecretStore`] implementation.
//! Use [`token_contract_suite!`](crate::token_contract_suite) to generate the tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{Duration, Utc};

use super::{
    CompanySecrets, PipedriveTokens, QuickBooksTokens, SecretStore, SecretString, TokenError,
    TokenVault,
};
use domain::{CompanyId, UserId};

#[macro_export]
macro_rules! token_contract_suite {
    ($factory:expr) => {
        $crate::token_contract_suite!(@tests $factory;
            secret_round_trip_and_delete,
            vault_reads_and_writes_token_sets,
            vault_serves_reads_from_memory,
            vault_reads_a_missing_secret_once_for_concurrent_readers,
            vault_update_keeps_other_users_tokens,
            purge_leaves_other_companies
        );
    };
    (@tests $factory:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let backend: std::sync::Arc<dyn $crate::secrets::SecretStore> = $factory.await;
                $crate::secrets::contract::$name(backend, &$crate::contract::namespace()).await;
            }
        )*
    };
}

fn qbo(realm: &str, access: &str, refresh: &str) -> QuickBooksTokens {
    let now = Utc::now();
    QuickBooksTokens {
        realm_id: realm.into(),
        access_token: SecretString::new(access),
        access_expires_at: now + Duration::hours(1),
        refresh_token: SecretString::new(refresh),
        refresh_expires_at: Some(now + Duration::days(100)),
        updated_at: now,
    }
}

fn pd(access: &str) -> PipedriveTokens {
    let now = Utc::now();
    PipedriveTokens {
        access_token: SecretString::new(access),
        access_expires_at: now + Duration::hours(1),
        refresh_token: SecretString::new(format!("r-{access}")),
        api_domain: "https://acme.pipedrive.com".into(),
        scope: Some("base,deals:full".into()),
        updated_at: now,
    }
}

pub async fn secret_round_trip_and_delete(backend: Arc<dyn SecretStore>, ns: &str) {
    let name = format!("{ns}/company/1");
    assert_eq!(backend.get(&name).await.expect("get"), None);
    backend.put(&name, "{\"a\":1}").await.expect("create");
    backend.put(&name, "{\"a\":2}").await.expect("update");
    assert_eq!(
        backend.get(&name).await.expect("get").as_deref(),
        Some("{\"a\":2}")
    );
    assert_eq!(
        backend.list(&format!("{ns}/")).await.expect("list"),
        vec![name.clone()]
    );
    backend.delete(&name).await.expect("delete");
    assert_eq!(backend.get(&name).await.expect("get"), None);
    backend
        .delete(&name)
        .await
        .expect("deleting an absent secret is fine");
    // A deleted name can be created again at once (no recovery window in the way).
    backend.put(&name, "{}").await.expect("re-create");
    assert_eq!(
        backend.get(&name).await.expect("get").as_deref(),
        Some("{}")
    );
    backend.delete(&name).await.expect("delete");
}

pub async fn vault_reads_and_writes_token_sets(backend: Arc<dyn SecretStore>, ns: &str) {
    let vault = TokenVault::new(backend.clone(), ns);
    let company = CompanyId(7);
    assert_eq!(
        vault.read(company).await.expect("read"),
        CompanySecrets::default()
    );
    let mut secrets = CompanySecrets {
        quickbooks: Some(qbo("9341", "qa-1", "qr-1")),
        ..CompanySecrets::default()
    };
    secrets.pipedrive.insert(777, pd("pa-777"));
    vault.write(company, &secrets).await.expect("write");
    // Another instance (a new vault on the same backend) sees the same.
    let other = TokenVault::new(backend, ns);
    assert_eq!(other.read(company).await.expect("read"), secrets);
    assert_eq!(
        other
            .pipedrive(company, UserId(777))
            .await
            .expect("pd")
            .map(|t| t.api_domain),
        Some("https://acme.pipedrive.com".to_string())
    );
    assert_eq!(
        other
            .quickbooks(company)
            .await
            .expect("qbo")
            .map(|t| t.realm_id),
        Some("9341".to_string())
    );
    // Debug output never shows a token.
    let debug = format!("{secrets:?}");
    assert!(!debug.contains("qa-1") && !debug.contains("qr-1") && !debug.contains("pa-777"));
    vault.purge(company).await.expect("purge");
}

pub async fn vault_serves_reads_from_memory(backend: Arc<dyn SecretStore>, ns: &str) {
    let vault = TokenVault::new(backend.clone(), ns);
    let company = CompanyId(8);
    let mut secrets = CompanySecrets::default();
    secrets.pipedrive.insert(1, pd("first"));
    vault.write(company, &secrets).await.expect("write");
    // Changed behind the vault's back: a cached read still answers from memory…
    let mut changed = secrets.clone();
    changed.pipedrive.insert(1, pd("second"));
    backend
        .put(
            &vault.secret_name(company),
            &serde_json::to_string(&changed).expect("json"),
        )
        .await
        .expect("put");
    let cached = vault
        .pipedrive(company, UserId(1))
        .await
        .expect("read")
        .expect("present");
    assert_eq!(cached.access_token.expose(), "first");
    // …and a fresh read sees the change.
    let fresh = vault.read_fresh(company).await.expect("fresh");
    assert_eq!(fresh.pipedrive[&1].access_token.expose(), "second");
    vault.purge(company).await.expect("purge");
}

/// The backend under test, its reads counted; each read first yields to the scheduler a few
/// times, so that an in-memory backend answers no sooner than a remote one would let the other
/// readers run.
struct CountedReads {
    backend: Arc<dyn SecretStore>,
    reads: AtomicUsize,
}

#[async_trait]
impl SecretStore for CountedReads {
    async fn get(&self, name: &str) -> Result<Option<String>, TokenError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        self.backend.get(name).await
    }
    async fn put(&self, name: &str, value: &str) -> Result<(), TokenError> {
        self.backend.put(name, value).await
    }
    async fn delete(&self, name: &str) -> Result<(), TokenError> {
        self.backend.delete(name).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, TokenError> {
        self.backend.list(prefix).await
    }
}

/// The calls of one request run in parallel and each needs the company's secret: on an
/// instance that has not read it yet they cause one read of the backend, and all see it.
pub async fn vault_reads_a_missing_secret_once_for_concurrent_readers(
    backend: Arc<dyn SecretStore>,
    ns: &str,
) {
    let company = CompanyId(10);
    let mut secrets = CompanySecrets {
        quickbooks: Some(qbo("4620", "qa", "qr")),
        ..CompanySecrets::default()
    };
    secrets.pipedrive.insert(5, pd("pa-5"));
    TokenVault::new(backend.clone(), ns)
        .write(company, &secrets)
        .await
        .expect("write");

    let counted = Arc::new(CountedReads {
        backend: backend.clone(),
        reads: AtomicUsize::new(0),
    });
    let cold = TokenVault::new(counted.clone(), ns);
    let readers = (0..8).map(|_| cold.read(company));
    for read in futures::future::join_all(readers).await {
        assert_eq!(read.expect("read"), secrets);
    }
    assert_eq!(counted.reads.load(Ordering::SeqCst), 1, "one backend read");

    // Forgotten (another function changed it): the next readers read once more, together.
    cold.forget(company);
    let again = futures::future::join_all((0..3).map(|_| cold.read(company))).await;
    assert!(again.iter().all(|r| r.as_ref().ok() == Some(&secrets)));
    assert_eq!(counted.reads.load(Ordering::SeqCst), 2);

    // A read that fails is not remembered: a later reader tries again.
    let other = CompanyId(11);
    let failing = TokenVault::new(counted.clone(), ns);
    TokenVault::new(backend.clone(), ns)
        .write(other, &secrets)
        .await
        .expect("write");
    backend
        .put(&failing.secret_name(other), "not json")
        .await
        .expect("corrupt it");
    assert!(matches!(
        failing.read(other).await,
        Err(TokenError::Corrupt { .. })
    ));
    TokenVault::new(backend.clone(), ns)
        .write(other, &secrets)
        .await
        .expect("repair");
    assert_eq!(failing.read(other).await.expect("read"), secrets);
    TokenVault::new(backend.clone(), ns)
        .purge(other)
        .await
        .expect("purge");
    TokenVault::new(backend, ns)
        .purge(company)
        .await
        .expect("purge");
}

pub async fn vault_update_keeps_other_users_tokens(backend: Arc<dyn SecretStore>, ns: &str) {
    let a = TokenVault::new(backend.clone(), ns);
    let b = TokenVault::new(backend, ns);
    let company = CompanyId(9);
    a.update(company, |s| {
        s.pipedrive.insert(1, pd("u1"));
    })
    .await
    .expect("u1");
    // Instance b has a stale cache (empty) but update reads fresh, so u1 survives.
    let _ = b.read(company).await.expect("warm b's cache");
    b.update(company, |s| {
        s.pipedrive.insert(2, pd("u2"));
    })
    .await
    .expect("u2");
    let stored = a.read_fresh(company).await.expect("fresh");
    assert_eq!(stored.pipedrive.len(), 2);
    // Removing the last token set deletes the secret.
    a.update(company, |s| s.pipedrive.clear())
        .await
        .expect("clear");
    assert!(
        !a.list_company_secrets()
            .await
            .expect("list")
            .contains(&a.secret_name(company))
    );
}

pub async fn purge_leaves_other_companies(backend: Arc<dyn SecretStore>, ns: &str) {
    let vault = TokenVault::new(backend, ns);
    for c in [1, 2] {
        vault
            .update(CompanyId(c), |s| {
                s.quickbooks = Some(qbo("r", "a", "r"));
            })
            .await
            .expect("write");
    }
    vault.purge(CompanyId(1)).await.expect("purge");
    let names = vault.list_company_secrets().await.expect("list");
    assert_eq!(names, vec![vault.secret_name(CompanyId(2))]);
    vault.purge(CompanyId(2)).await.expect("purge");
}
