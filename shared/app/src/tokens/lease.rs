//! The company's `tokens` lease: one writer of its secret at a time, across instances.

use std::future::Future;
use std::time::{Duration as StdDuration, Instant};

use domain::{CompanyId, SecretString};
use store::records::Lease;
use store::secrets::CompanySecrets;

use super::*;

impl TokenManager {
    /// Takes the company's `tokens` lease, or waits for whoever holds it to make `target` usable.
    pub(super) async fn lease_or_wait(
        &self,
        company: CompanyId,
        target: Target,
        failed: Option<&SecretString>,
    ) -> Result<LeaseOutcome, TokenFailure> {
        let started = Instant::now();
        let mut pause = self.options.poll_initial;
        loop {
            if let Some(lease) = self
                .records
                .acquire_lease(company, TOKENS_LEASE, self.options.lease_ttl, self.now())
                .await?
            {
                return match self.vault.read_fresh(company).await {
                    Ok(secrets) => Ok(LeaseOutcome::Held(lease, secrets)),
                    Err(error) => {
                        self.release(&lease).await;
                        Err(error.into())
                    }
                };
            }
            let secrets = self.vault.read_fresh(company).await?;
            if self.usable(&secrets, target, failed) {
                return Ok(LeaseOutcome::Ready(secrets));
            }
            if started.elapsed() >= self.options.wait_budget {
                tracing::warn!(
                    company_id = company.0,
                    "gave up waiting for another instance's token refresh"
                );
                return Err(TokenFailure::Busy);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.options.poll_max);
        }
    }

    /// Takes the lease, waiting (≤ `wait`) while someone else holds it.
    pub(super) async fn acquire(
        &self,
        company: CompanyId,
        wait: StdDuration,
    ) -> Result<Lease, TokenFailure> {
        let started = Instant::now();
        let mut pause = self.options.poll_initial;
        loop {
            if let Some(lease) = self
                .records
                .acquire_lease(company, TOKENS_LEASE, self.options.lease_ttl, self.now())
                .await?
            {
                return Ok(lease);
            }
            if started.elapsed() >= wait {
                return Err(TokenFailure::Busy);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.options.poll_max);
        }
    }

    pub(super) async fn release(&self, lease: &Lease) {
        if let Err(error) = self.records.release_lease(lease).await {
            // It expires by itself; the next refresher waits at most the lease's TTL.
            tracing::warn!(company_id = lease.company.0, %error, "could not release the tokens lease");
        }
    }

    /// Writes a change to the company secret (the lease is held by the caller). A failed write
    /// is retried: after a refresh the provider may already have rotated the refresh token.
    pub(super) async fn persist(
        &self,
        company: CompanyId,
        change: impl Fn(&mut CompanySecrets),
    ) -> Result<CompanySecrets, TokenFailure> {
        let mut last = None;
        for attempt in 0..3u32 {
            match self.vault.update(company, &change).await {
                Ok(secrets) => return Ok(secrets),
                Err(error) => {
                    tracing::error!(company_id = company.0, attempt, %error, "could not store the company's tokens");
                    last = Some(error);
                    tokio::time::sleep(StdDuration::from_millis(100 * u64::from(attempt + 1)))
                        .await;
                }
            }
        }
        Err(last.map_or(TokenFailure::Busy, TokenFailure::Vault))
    }

    /// Applies `change` to the company's secret under the company's `tokens` lease (and the
    /// in-process lock), waiting up to the wait budget for the lease. Returns the stored secret.
    /// Every writer of company secrets outside this module (install, connect, disconnect,
    /// uninstall) uses this.
    pub async fn update_secrets(
        &self,
        company: CompanyId,
        change: impl FnOnce(&mut CompanySecrets),
    ) -> Result<CompanySecrets, TokenFailure> {
        self.with_lease(company, |vault| async move {
            vault
                .update(company, change)
                .await
                .map_err(TokenFailure::from)
        })
        .await
    }

    /// Runs `work` while holding the company's `tokens` lease (and the in-process lock),
    /// waiting up to the wait budget for the lease.
    pub async fn with_lease<T, F, Fut>(
        &self,
        company: CompanyId,
        work: F,
    ) -> Result<T, TokenFailure>
    where
        F: FnOnce(Arc<TokenVault>) -> Fut,
        Fut: Future<Output = Result<T, TokenFailure>>,
    {
        self.with_lease_waiting(company, self.options.wait_budget, work)
            .await
    }

    /// [`Self::with_lease`] with another wait (e.g. the uninstall callback, which Pipedrive
    /// never retries, waits out a whole lease rather than give up).
    pub async fn with_lease_waiting<T, F, Fut>(
        &self,
        company: CompanyId,
        wait: StdDuration,
        work: F,
    ) -> Result<T, TokenFailure>
    where
        F: FnOnce(Arc<TokenVault>) -> Fut,
        Fut: Future<Output = Result<T, TokenFailure>>,
    {
        let lock = self.company_lock(company);
        let _guard = lock.lock().await;
        let lease = self.acquire(company, wait).await?;
        let result = work(self.vault.clone()).await;
        self.release(&lease).await;
        result
    }
}
