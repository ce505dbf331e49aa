//! OAuth token sets: the QuickBooks connection of each company and the Pipedrive tokens of each
//! installed user.
//!
//! ## Layout and cost
//! One secret per Pipedrive company, named `{prefix}/company/{company_id}`, holding a JSON
//! [`CompanySecrets`] document: the company's QuickBooks tokens and the Pipedrive tokens of every
//! user who installed the app. One secret per company (not per token) keeps the price at
//! $0.40 a company-month plus calls: reads are served from memory ([`TokenVault`] caches per
//! instance), writes happen only when a token set changes (a refresh, about once an hour per active
//! connection: ~720 + ~720 × active users writes a month, ≈ $0.004 per 1,000 users). At 10,000
//! companies that is about $4,000 + ~$40 of calls a month, ≈ $0.41 a company-month, under the
//! $0.50 target. The shared write ceiling of Secrets Manager (50 writes/s per region for all
//! secrets) allows 180,000 refreshes an hour, i.e. ~90,000 active connections with hourly
//! refreshes; past that, refreshes must be spread or sharded by region (see the README).
//!
//! Writes to one company's secret are read-modify-write: callers serialise them with the
//! company's `tokens` lease (see [`crate::records::Records::acquire_lease`]) so that two
//! instances refreshing different tokens of one company never lose each other's update.
//!
//! Two implementations of [`SecretStore`]: [`embedded::EmbeddedSecrets`] and
//! [`secrets_manager::SecretsManagerStore`].

pub mod embedded;
#[cfg(feature = "aws")]
pub mod secrets_manager;

#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use domain::{CompanyId, SecretString, UserId};

/// A company's QuickBooks tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickBooksTokens {
    pub realm_id: String,
    pub access_token: SecretString,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: SecretString,
    #[serde(default)]
    pub refresh_expires_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// One user's Pipedrive tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipedriveTokens {
    pub access_token: SecretString,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: SecretString,
    /// Base URL for this user's API calls, refreshed from every token response.
    pub api_domain: String,
    #[serde(default)]
    pub scope: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// Everything secret about one company (the content of its secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanySecrets {
    #[serde(default)]
    pub quickbooks: Option<QuickBooksTokens>,
    /// Keyed by Pipedrive user id.
    #[serde(default)]
    pub pipedrive: BTreeMap<u64, PipedriveTokens>,
}

impl CompanySecrets {
    pub fn is_empty(&self) -> bool {
        self.quickbooks.is_none() && self.pipedrive.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("secret {name} is not in the expected shape")]
    Corrupt { name: String },
    #[error("secret backend failed: {0}")]
    Backend(String),
}

/// Named secret strings; see the module documentation.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The current value, or `None` if there is no such secret.
    async fn get(&self, name: &str) -> Result<Option<String>, TokenError>;
    /// Creates the secret or stores a new current value.
    async fn put(&self, name: &str, value: &str) -> Result<(), TokenError>;
    /// Deletes the secret at once (no recovery window); absent is not an error.
    async fn delete(&self, name: &str) -> Result<(), TokenError>;
    /// Names of the secrets that start with `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, TokenError>;
}

/// Typed, cached access to company secrets.
pub struct TokenVault {
    backend: Arc<dyn SecretStore>,
    prefix: String,
    cache: Mutex<HashMap<CompanyId, CompanySecrets>>,
    /// One turn per company for reading a secret that is not cached yet: the calls a request
    /// makes in parallel (a draft's five) need the same secret at the same moment on a cold
    /// instance; the first reads it, the others wait and take it from the cache.
    first_reads: Mutex<HashMap<CompanyId, Arc<tokio::sync::Mutex<()>>>>,
}

impl fmt::Debug for TokenVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVault")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl TokenVault {
    /// `prefix` names this deployment's secrets, e.g. `pipedrive-qbo/prod`.
    pub fn new(backend: Arc<dyn SecretStore>, prefix: impl Into<String>) -> Self {
        TokenVault {
            backend,
            prefix: prefix.into().trim_end_matches('/').to_string(),
            cache: Mutex::new(HashMap::new()),
            first_reads: Mutex::new(HashMap::new()),
        }
    }

    pub fn secret_name(&self, company: CompanyId) -> String {
        format!("{}/company/{}", self.prefix, company)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<CompanyId, CompanySecrets>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cached(&self, company: CompanyId) -> Option<CompanySecrets> {
        self.cache().get(&company).cloned()
    }

    /// The company's secrets, from memory when this instance has read them before. Readers
    /// that miss the cache together cause one backend read, not one each.
    pub async fn read(&self, company: CompanyId) -> Result<CompanySecrets, TokenError> {
        if let Some(hit) = self.cached(company) {
            return Ok(hit);
        }
        let turn = {
            let mut first_reads = self.first_reads.lock().unwrap_or_else(|p| p.into_inner());
            first_reads.entry(company).or_default().clone()
        };
        let _turn = turn.lock().await;
        if let Some(hit) = self.cached(company) {
            return Ok(hit);
        }
        let read = self.read_fresh(company).await;
        // The cache answers whoever comes next; a failed read leaves the turn to the next
        // waiter, who tries again.
        if read.is_ok() {
            self.first_reads
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&company);
        }
        read
    }

    /// The company's secrets as stored now (bypassing and refreshing the cache). Use after taking
    /// the company's `tokens` lease, before a refresh.
    pub async fn read_fresh(&self, company: CompanyId) -> Result<CompanySecrets, TokenError> {
        let name = self.secret_name(company);
        let secrets = match self.backend.get(&name).await? {
            Some(raw) => serde_json::from_str(&raw).map_err(|_| TokenError::Corrupt { name })?,
            None => CompanySecrets::default(),
        };
        self.cache().insert(company, secrets.clone());
        Ok(secrets)
    }

    /// Stores the company's secrets (the whole document); deletes the secret when it is empty.
    /// Callers hold the company's `tokens` lease.
    pub async fn write(
        &self,
        company: CompanyId,
        secrets: &CompanySecrets,
    ) -> Result<(), TokenError> {
        let name = self.secret_name(company);
        if secrets.is_empty() {
            self.backend.delete(&name).await?;
        } else {
            let raw = serde_json::to_string(secrets)
                .map_err(|e| TokenError::Backend(format!("serialise: {e}")))?;
            self.backend.put(&name, &raw).await?;
        }
        self.cache().insert(company, secrets.clone());
        Ok(())
    }

    /// Reads fresh, applies `change`, writes back if anything changed. Callers hold the lease.
    pub async fn update(
        &self,
        company: CompanyId,
        change: impl FnOnce(&mut CompanySecrets),
    ) -> Result<CompanySecrets, TokenError> {
        let before = self.read_fresh(company).await?;
        let mut after = before.clone();
        change(&mut after);
        if after != before {
            self.write(company, &after).await?;
        }
        Ok(after)
    }

    pub async fn quickbooks(
        &self,
        company: CompanyId,
    ) -> Result<Option<QuickBooksTokens>, TokenError> {
        Ok(self.read(company).await?.quickbooks)
    }

    pub async fn pipedrive(
        &self,
        company: CompanyId,
        user: UserId,
    ) -> Result<Option<PipedriveTokens>, TokenError> {
        Ok(self.read(company).await?.pipedrive.get(&user.0).cloned())
    }

    /// Deletes every secret of the company.
    pub async fn purge(&self, company: CompanyId) -> Result<(), TokenError> {
        self.backend.delete(&self.secret_name(company)).await?;
        self.cache().remove(&company);
        Ok(())
    }

    /// Names of every company secret of this deployment (for the data-lifecycle checks).
    pub async fn list_company_secrets(&self) -> Result<Vec<String>, TokenError> {
        self.backend
            .list(&format!("{}/company/", self.prefix))
            .await
    }

    /// Forgets what this instance cached about a company.
    pub fn forget(&self, company: CompanyId) {
        self.cache().remove(&company);
    }
}
