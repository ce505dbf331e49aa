//! Everything outside the stack that the product's life needs: the simulated Pipedrive and
//! QuickBooks (in this process, with their control APIs — "the QuickBooks UI", Pipedrive's
//! uninstall), a browser-like HTTP client that reaches the stack only through the front, and the
//! administrator's view of the emulated AWS (to fill the app secret as an operator does, and to
//! check what is left after an uninstall).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use sandbox::harness::RunningServer;
use sandbox::pipedrive::{PipedriveConfig, PipedriveSim};
use sandbox::quickbooks::{QuickBooksConfig, QuickBooksSim, ThrottleConfig, WebhookConfig};
use serde_json::{Value, json};

use crate::deploy::Credentials;

/// The app's credentials in this rehearsal (what an operator puts into the app secret).
pub struct AppKeys {
    pub pipedrive_client_id: String,
    pub pipedrive_client_secret: String,
    pub jwt_secret: String,
    pub quickbooks_client_id: String,
    pub quickbooks_client_secret: String,
    pub webhook_verifier: String,
}

impl AppKeys {
    pub fn random() -> Self {
        let r = || uuid::Uuid::new_v4().simple().to_string();
        AppKeys {
            pipedrive_client_id: format!("rehearsal-pd-{}", &r()[..8]),
            pipedrive_client_secret: r(),
            jwt_secret: r(),
            quickbooks_client_id: format!("rehearsal-qb-{}", &r()[..8]),
            quickbooks_client_secret: r(),
            webhook_verifier: r(),
        }
    }
}

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Vec<u8>,
    pub json: Value,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes)
            .chars()
            .take(400)
            .collect()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
}

pub struct World {
    /// The front's base URL (the API's `PublicBaseUrl` in this rehearsal).
    pub front: String,
    pub qb: QuickBooksSim,
    pub pd: PipedriveSim,
    pub keys: AppKeys,
    pub http: reqwest::Client,
    pub dynamo: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub qb_url: String,
    pub pd_url: String,
    _servers: Vec<RunningServer>,
}

impl World {
    /// Starts both simulators, registered for the app's URLs on the front.
    pub async fn start(
        front: &str,
        keys: AppKeys,
        moto: &str,
        region: &str,
        admin: &Credentials,
    ) -> Result<World, String> {
        let qb_config = QuickBooksConfig {
            client_id: keys.quickbooks_client_id.clone(),
            client_secret: keys.quickbooks_client_secret.clone(),
            redirect_uris: vec![format!("{front}/oauth/quickbooks/callback")],
            auto_approve: true,
            webhook: WebhookConfig {
                url: Some(format!("{front}/webhooks/quickbooks")),
                verifier_token: keys.webhook_verifier.clone(),
                // Sent when the rehearsal says so (flush_webhooks).
                batch_ms: 0,
                ..WebhookConfig::default()
            },
            throttle: ThrottleConfig {
                per_minute: 100_000,
                concurrent: 1_000,
            },
            ..QuickBooksConfig::default()
        };
        let addr = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
        let (qb, qb_server) = QuickBooksSim::start(qb_config, addr)
            .await
            .map_err(|e| format!("QuickBooks simulator: {e}"))?;
        let mut pd_config = PipedriveConfig::new(
            keys.pipedrive_client_id.clone(),
            &keys.pipedrive_client_secret,
            format!("{front}/oauth/pipedrive/callback"),
        );
        pd_config.jwt_secret = keys.jwt_secret.clone();
        let (pd, pd_server) = PipedriveSim::start(pd_config)
            .await
            .map_err(|e| format!("Pipedrive simulator: {e}"))?;
        pd.set_burst_limit(100_000);
        let config = admin.sdk_config(moto, region);
        Ok(World {
            front: front.to_string(),
            qb_url: qb_server.base_url(),
            pd_url: pd.base_url(),
            qb,
            pd,
            keys,
            http: shared::clients::outbound::client_builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .map_err(|e| e.to_string())?,
            dynamo: aws_sdk_dynamodb::Client::new(&config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            _servers: vec![qb_server, pd_server],
        })
    }

    /// Reads a JSON secret, changes it with `change`, writes it back (as the administrator).
    async fn update_secret(
        &self,
        secret_id: &str,
        change: impl FnOnce(&mut Value) -> Result<(), String>,
    ) -> Result<(), String> {
        use aws_sdk_secretsmanager::error::DisplayErrorContext;
        let current = self
            .secrets
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| format!("reading {secret_id}: {}", DisplayErrorContext(e)))?;
        let mut value: Value = serde_json::from_str(current.secret_string().unwrap_or("{}"))
            .map_err(|e| format!("{secret_id} is not JSON: {e}"))?;
        change(&mut value)?;
        self.secrets
            .put_secret_value()
            .secret_id(secret_id)
            .secret_string(value.to_string())
            .send()
            .await
            .map_err(|e| format!("writing {secret_id}: {}", DisplayErrorContext(e)))?;
        Ok(())
    }

    /// The operator's step after the first deploy (README, "Fill the app secret"): read the
    /// secret, keep its generated `state_signing_key`, add the app's credentials.
    pub async fn fill_app_secret(&self, secret_id: &str) -> Result<(), String> {
        let k = &self.keys;
        self.update_secret(secret_id, |value| {
            if value["state_signing_key"]
                .as_str()
                .is_none_or(str::is_empty)
            {
                return Err("the app secret has no generated state_signing_key".into());
            }
            for (key, v) in [
                ("pipedrive_client_id", &k.pipedrive_client_id),
                ("pipedrive_client_secret", &k.pipedrive_client_secret),
                ("pipedrive_jwt_secret", &k.jwt_secret),
                ("quickbooks_client_id", &k.quickbooks_client_id),
                ("quickbooks_client_secret", &k.quickbooks_client_secret),
                ("quickbooks_webhook_verifier", &k.webhook_verifier),
            ] {
                value[key] = json!(v);
            }
            Ok(())
        })
        .await
    }

    /// Marks every access token in a company's secret as expired (ten seconds ago).
    pub async fn expire_stored_tokens(&self, secret_id: &str) -> Result<(), String> {
        let past = json!((chrono::Utc::now() - chrono::Duration::seconds(10)).to_rfc3339());
        self.update_secret(secret_id, |value| {
            if value["quickbooks"].is_object() {
                value["quickbooks"]["access_expires_at"] = past.clone();
            }
            let pipedrive = value["pipedrive"].as_object_mut();
            for tokens in pipedrive.into_iter().flat_map(|m| m.values_mut()) {
                tokens["access_expires_at"] = past.clone();
            }
            Ok(())
        })
        .await
    }

    /// A token as Pipedrive's app-extensions SDK signs it for `user` of `company`.
    pub fn token(&self, company: u64, user: u64) -> Result<String, String> {
        self.pd
            .sign_jwt(company, user, 300)
            .map(|(token, _)| token)
            .map_err(|e| format!("signing a token: {e}"))
    }

    /// A request to the front (absolute URLs elsewhere are followed as a browser would).
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Answer, String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let url = if url.starts_with("http") {
            url.to_string()
        } else {
            format!("{}{url}", self.front)
        };
        let mut request = self.http.request(method.clone(), &url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?
            .to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            headers,
            bytes,
            json,
        })
    }

    /// `/api/*` as `user` of `company`.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        who: (u64, u64),
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Result<Answer, String> {
        let token = self.token(who.0, who.1)?;
        self.request(method, path, Some(&token), body, key).await
    }

    /// Every item of the table, as (pk, sk, the item rendered).
    pub async fn scan(&self, table: &str) -> Result<Vec<(String, String, String)>, String> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .dynamo
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "scanning the table: {}",
                        aws_sdk_dynamodb::error::DisplayErrorContext(e)
                    )
                })?;
            for item in page.items() {
                let s = |k: &str| {
                    item.get(k)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default()
                };
                out.push((s("pk"), s("sk"), format!("{item:?}")));
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Names of the secrets that exist (not scheduled for deletion) under `prefix`.
    pub async fn secret_names(&self, prefix: &str) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .secrets
                .list_secrets()
                .set_next_token(token.take())
                .max_results(100)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "listing secrets: {}",
                        aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                    )
                })?;
            names.extend(
                page.secret_list()
                    .iter()
                    .filter(|s| s.deleted_date().is_none())
                    .filter_map(|s| s.name().map(str::to_string))
                    .filter(|n| n.starts_with(prefix)),
            );
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(names)
    }

    /// Messages visible on a queue (`ApproximateNumberOfMessages`, which CloudWatch reports as
    /// `ApproximateNumberOfMessagesVisible`).
    pub async fn visible_messages(&self, queue_url: &str) -> Result<u64, String> {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "queue attributes: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            })?;
        Ok(attributes
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// The bodies of the messages on a queue (received and released at once).
    pub async fn peek(&self, queue_url: &str) -> Result<Vec<String>, String> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| format!("peeking: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        Ok(received
            .messages()
            .iter()
            .filter_map(|m| m.body().map(str::to_string))
            .collect())
    }
}
