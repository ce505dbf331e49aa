//! The Secrets Manager implementation of [`super::SecretStore`].
//!
//! Secret values never appear in errors or logs: messages carry the operation, the secret's name
//! and the service's error code and message only.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::create_secret::CreateSecretError;
use aws_sdk_secretsmanager::operation::delete_secret::DeleteSecretError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueError;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};

use super::{SecretStore, TokenError};

/// How many times a write is retried while a just-deleted secret of the same name finishes
/// being deleted (force deletion is asynchronous on AWS).
const PUT_ATTEMPTS: u32 = 8;

/// What one write attempt achieved.
enum PutOutcome {
    Stored,
    /// Lost a creation race: write over the winner at once.
    RetryNow,
    /// The name is being deleted: try again after a pause.
    RetryLater,
}

/// [`super::SecretStore`] on AWS Secrets Manager: one secret per name, its value a string.
#[derive(Debug, Clone)]
pub struct SecretsManagerStore {
    client: Client,
}

impl SecretsManagerStore {
    pub fn new(client: Client) -> Self {
        SecretsManagerStore { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// True when the secret exists but is scheduled for deletion.
    async fn scheduled_for_deletion(&self, name: &str) -> Result<bool, TokenError> {
        match self.client.describe_secret().secret_id(name).send().await {
            Ok(described) => Ok(described.deleted_date().is_some()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(sdk_error("DescribeSecret", name, &err)),
        }
    }

    /// One attempt at a write.
    async fn try_put(&self, name: &str, value: &str) -> Result<PutOutcome, TokenError> {
        let updated = self
            .client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .send()
            .await;
        let err = match updated {
            Ok(_) => return Ok(PutOutcome::Stored),
            Err(err) => err,
        };
        match err.as_service_error() {
            Some(PutSecretValueError::ResourceNotFoundException(_)) => {}
            Some(PutSecretValueError::InvalidRequestException(_)) => {
                // Most likely scheduled for deletion: bring it back, then write again.
                if self.scheduled_for_deletion(name).await? {
                    if let Err(restore) = self.client.restore_secret().secret_id(name).send().await
                    {
                        // A force deletion in progress cannot be restored: wait for it to end.
                        tracing::debug!(
                            secret = name,
                            error = %sdk_error("RestoreSecret", name, &restore),
                            "secret is being deleted; retrying the write"
                        );
                    }
                    return Ok(PutOutcome::RetryLater);
                }
                return Err(sdk_error("PutSecretValue", name, &err));
            }
            _ => return Err(sdk_error("PutSecretValue", name, &err)),
        }
        let created = self
            .client
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await;
        match created {
            Ok(_) => Ok(PutOutcome::Stored),
            Err(err) => match err.as_service_error() {
                // Someone created it at the same time: store our value over theirs.
                Some(CreateSecretError::ResourceExistsException(_)) => Ok(PutOutcome::RetryNow),
                // A secret of this name is still being deleted.
                Some(CreateSecretError::InvalidRequestException(_)) => {
                    if self.scheduled_for_deletion(name).await? {
                        Ok(PutOutcome::RetryLater)
                    } else {
                        Err(sdk_error("CreateSecret", name, &err))
                    }
                }
                _ => Err(sdk_error("CreateSecret", name, &err)),
            },
        }
    }
}

/// A readable message for an SDK error (never the secret's value).
fn sdk_error<E, R>(operation: &str, name: &str, err: &SdkError<E, R>) -> TokenError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!(
                "Secrets Manager {operation} {name}: {}: {}",
                e.code().unwrap_or("unknown error"),
                e.message().unwrap_or("no message")
            )
        }
        other => format!(
            "Secrets Manager {operation} {name}: {}",
            DisplayErrorContext(other)
        ),
    };
    TokenError::Backend(message)
}

/// The longest start of `prefix` that ListSecrets accepts as a filter value (the service allows
/// only some characters, and a leading `!` negates). The result is filtered again locally.
fn filter_value(prefix: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || " :_@/+=.-!".contains(c);
    let value: String = prefix
        .chars()
        .take_while(|c| allowed(*c))
        .take(512)
        .collect();
    (!value.is_empty() && !value.starts_with('!')).then_some(value)
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn get(&self, name: &str) -> Result<Option<String>, TokenError> {
        match self.client.get_secret_value().secret_id(name).send().await {
            Ok(output) => match output.secret_string() {
                Some(value) => Ok(Some(value.to_string())),
                None => Err(TokenError::Corrupt {
                    name: name.to_string(),
                }),
            },
            Err(err) => match err.as_service_error() {
                Some(GetSecretValueError::ResourceNotFoundException(_)) => Ok(None),
                // A secret scheduled for deletion cannot be read: it is gone for us.
                Some(GetSecretValueError::InvalidRequestException(_))
                    if self.scheduled_for_deletion(name).await? =>
                {
                    Ok(None)
                }
                _ => Err(sdk_error("GetSecretValue", name, &err)),
            },
        }
    }

    async fn put(&self, name: &str, value: &str) -> Result<(), TokenError> {
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=PUT_ATTEMPTS {
            match self.try_put(name, value).await? {
                PutOutcome::Stored => return Ok(()),
                PutOutcome::RetryNow => {}
                PutOutcome::RetryLater if attempt < PUT_ATTEMPTS => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(3));
                }
                PutOutcome::RetryLater => {}
            }
        }
        Err(TokenError::Backend(format!(
            "Secrets Manager put {name}: the secret could not be written after {PUT_ATTEMPTS} attempts (being deleted or created concurrently)"
        )))
    }

    async fn delete(&self, name: &str) -> Result<(), TokenError> {
        match self
            .client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(DeleteSecretError::ResourceNotFoundException(_)) => Ok(()),
                _ => Err(sdk_error("DeleteSecret", name, &err)),
            },
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, TokenError> {
        let filter = filter_value(prefix).map(|value| {
            Filter::builder()
                .key(FilterNameStringType::Name)
                .values(value)
                .build()
        });
        let mut names = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_secrets()
                .set_filters(filter.clone().map(|f| vec![f]))
                .include_planned_deletion(false)
                .max_results(100)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| sdk_error("ListSecrets", prefix, &e))?;
            names.extend(
                page.secret_list()
                    .iter()
                    .filter(|entry| entry.deleted_date().is_none())
                    .filter_map(|entry| entry.name())
                    .filter(|name| name.starts_with(prefix))
                    .map(str::to_string),
            );
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => break,
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_are_valid_prefixes() {
        assert_eq!(
            filter_value("app/prod/company/").as_deref(),
            Some("app/prod/company/")
        );
        assert_eq!(filter_value("a/b#c").as_deref(), Some("a/b"));
        assert_eq!(filter_value(""), None);
        assert_eq!(filter_value("!x"), None);
        assert_eq!(filter_value(&"a".repeat(600)).map(|v| v.len()), Some(512));
    }
}
