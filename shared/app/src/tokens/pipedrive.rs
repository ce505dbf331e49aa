//! Pipedrive tokens: each installed user's access token, refreshed once across instances; the
//! user's `api_domain` follows every token answer.

use std::future::Future;

use clients::pipedrive::PipedriveError;
use domain::SecretString;
use store::StoreError;
use store::secrets::{CompanySecrets, PipedriveTokens};
use web::auth::Tenant;

use super::*;

impl TokenManager {
    /// The user's Pipedrive access token, refreshed when needed.
    pub async fn pipedrive(&self, tenant: Tenant) -> Result<PipedriveAccess, TokenFailure> {
        self.pipedrive_token(tenant, None).await
    }

    /// Runs a Pipedrive call; on `Unauthorized` refreshes once and retries once.
    pub async fn with_pipedrive<T, F, Fut>(
        &self,
        tenant: Tenant,
        mut call: F,
    ) -> Result<T, CallError<PipedriveError>>
    where
        F: FnMut(PipedriveAccess) -> Fut,
        Fut: Future<Output = Result<T, PipedriveError>>,
    {
        let access = self.pipedrive_token(tenant, None).await?;
        let failed = access.token.clone();
        match call(access).await {
            Err(PipedriveError::Unauthorized) => {
                tracing::info!(
                    company_id = tenant.company_id.0,
                    user_id = tenant.user_id.0,
                    "Pipedrive refused the access token; refreshing once"
                );
                let access = self.pipedrive_token(tenant, Some(&failed)).await?;
                call(access).await.map_err(CallError::Call)
            }
            other => other.map_err(CallError::Call),
        }
    }

    pub(super) async fn pipedrive_token(
        &self,
        tenant: Tenant,
        failed: Option<&SecretString>,
    ) -> Result<PipedriveAccess, TokenFailure> {
        let company = tenant.company_id;
        let target = Target::Pipedrive(tenant.user_id);
        let cached = self.vault.read(company).await?;
        if self.usable(&cached, target, failed)
            && let Some(t) = cached.pipedrive.get(&tenant.user_id.0)
        {
            return Ok(pipedrive_access(t));
        }
        let lock = self.company_lock(company);
        let _guard = lock.lock().await;
        let cached = self.vault.read(company).await?;
        if self.usable(&cached, target, failed)
            && let Some(t) = cached.pipedrive.get(&tenant.user_id.0)
        {
            return Ok(pipedrive_access(t));
        }
        let fresh = self.vault.read_fresh(company).await?;
        match fresh.pipedrive.get(&tenant.user_id.0) {
            None => return Err(TokenFailure::PipedriveNotInstalled),
            Some(t) if self.usable(&fresh, target, failed) => return Ok(pipedrive_access(t)),
            Some(_) => {}
        }
        let (lease, secrets) = match self.lease_or_wait(company, target, failed).await? {
            LeaseOutcome::Ready(secrets) => {
                return secrets
                    .pipedrive
                    .get(&tenant.user_id.0)
                    .map(pipedrive_access)
                    .ok_or(TokenFailure::PipedriveNotInstalled);
            }
            LeaseOutcome::Held(lease, secrets) => (lease, secrets),
        };
        let result = self.refresh_pipedrive_held(tenant, secrets, failed).await;
        self.release(&lease).await;
        result.map(|t| pipedrive_access(&t))
    }

    pub(super) async fn refresh_pipedrive_held(
        &self,
        tenant: Tenant,
        secrets: CompanySecrets,
        failed: Option<&SecretString>,
    ) -> Result<PipedriveTokens, TokenFailure> {
        let company = tenant.company_id;
        let user = tenant.user_id;
        let Some(mut current) = secrets.pipedrive.get(&user.0).cloned() else {
            return Err(TokenFailure::PipedriveNotInstalled);
        };
        if self.usable(&secrets, Target::Pipedrive(user), failed) {
            return Ok(current);
        }
        for _ in 0..3 {
            match self
                .pipedrive
                .refresh(&self.pipedrive_credentials, &current.refresh_token)
                .await
            {
                Ok(answer) => {
                    let tokens = grants::pipedrive_refreshed(&current, &answer, self.now());
                    self.persist(company, |s| {
                        s.pipedrive.insert(user.0, tokens.clone());
                    })
                    .await?;
                    tracing::info!(
                        company_id = company.0,
                        user_id = user.0,
                        "Pipedrive tokens refreshed"
                    );
                    if tokens.api_domain != current.api_domain {
                        self.update_install_domain(tenant, &tokens.api_domain).await;
                    }
                    return Ok(tokens);
                }
                Err(PipedriveError::InvalidGrant(_)) => {
                    let stored = self.vault.read_fresh(company).await?;
                    match stored.pipedrive.get(&user.0).cloned() {
                        Some(t) if t.refresh_token != current.refresh_token => {
                            if self.is_usable(t.access_expires_at, &t.access_token, failed) {
                                return Ok(t);
                            }
                            current = t;
                        }
                        Some(_) => {
                            return Err(self.pipedrive_grant_dead(tenant, &current).await);
                        }
                        None => return Err(TokenFailure::PipedriveNotInstalled),
                    }
                }
                Err(other) => return Err(TokenFailure::Pipedrive(other)),
            }
        }
        Err(TokenFailure::Busy)
    }

    /// The refresh token we used is still the stored one and Pipedrive refused it: the user
    /// must reinstall. Removes the dead tokens (if no one replaced them meanwhile).
    async fn pipedrive_grant_dead(&self, tenant: Tenant, dead: &PipedriveTokens) -> TokenFailure {
        let (company, user) = (tenant.company_id, tenant.user_id);
        tracing::warn!(
            company_id = company.0,
            user_id = user.0,
            "Pipedrive refused the user's refresh token; reinstall required"
        );
        let dead = dead.refresh_token.clone();
        if let Err(error) = self
            .persist(company, |s| {
                if s.pipedrive
                    .get(&user.0)
                    .is_some_and(|t| t.refresh_token == dead)
                {
                    s.pipedrive.remove(&user.0);
                }
            })
            .await
        {
            tracing::error!(company_id = company.0, %error, "could not remove dead Pipedrive tokens");
        }
        TokenFailure::PipedriveReinstallRequired
    }

    /// Keeps the install record's `api_domain` in step with the token answers (best effort).
    pub(super) async fn update_install_domain(&self, tenant: Tenant, api_domain: &str) {
        let result = async {
            if let Some(mut install) = self
                .records
                .get_user_install(tenant.company_id, tenant.user_id)
                .await?
                && install.api_domain != api_domain
            {
                install.api_domain = api_domain.to_string();
                self.records.put_user_install(&install).await?;
            }
            Ok::<_, StoreError>(())
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(company_id = tenant.company_id.0, %error, "could not update the install's api_domain");
        }
    }
}
