//! The app's own credentials ([`AppCredentials`]): one secret in AWS (`APP_SECRET_ID`, a JSON
//! document), environment variables locally. Read once per cold start.
//!
//! On AWS the secret is read with one SigV4-signed `GetSecretValue` call ([`crate::aws::sigv4`])
//! instead of the SDK's client, so that a function that needs nothing else of AWS (the extension
//! pages) links no AWS SDK; functions that do use the SDK send both through the same HTTPS client
//! ([`crate::aws::AwsAccess`]), so the connection opened here is the one their token reads reuse.

use config::{ConfigError, Env};
use domain::SecretString;
use serde::Deserialize;

use crate::aws::AwsAccess;
use crate::aws::sigv4::{self, JsonCall};

/// The app's own credentials.
#[derive(Clone, Deserialize)]
pub struct AppCredentials {
    pub pipedrive_client_id: String,
    pub pipedrive_client_secret: SecretString,
    /// The custom UI extensions' JWT secret; Pipedrive signs with the client secret when unset.
    #[serde(default)]
    pub pipedrive_jwt_secret: Option<SecretString>,
    pub quickbooks_client_id: String,
    pub quickbooks_client_secret: SecretString,
    pub quickbooks_webhook_verifier: SecretString,
    /// Signs OAuth `state` values (any long random string).
    pub state_signing_key: SecretString,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCredentials")
            .field("pipedrive_client_id", &self.pipedrive_client_id)
            .field("quickbooks_client_id", &self.quickbooks_client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppSecretError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the app secret {name} could not be read: {reason}")]
    Read { name: String, reason: String },
}

impl AppCredentials {
    /// From environment variables of the same names, upper-cased.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(AppCredentials {
            pipedrive_client_id: env.required("PIPEDRIVE_CLIENT_ID")?,
            pipedrive_client_secret: env.required("PIPEDRIVE_CLIENT_SECRET")?.into(),
            pipedrive_jwt_secret: env.optional("PIPEDRIVE_JWT_SECRET").map(Into::into),
            quickbooks_client_id: env.required("QUICKBOOKS_CLIENT_ID")?,
            quickbooks_client_secret: env.required("QUICKBOOKS_CLIENT_SECRET")?.into(),
            quickbooks_webhook_verifier: env.required("QUICKBOOKS_WEBHOOK_VERIFIER")?.into(),
            state_signing_key: env.required("STATE_SIGNING_KEY")?.into(),
        })
    }

    /// The secret that verifies Pipedrive's iframe and SDK tokens: the custom UI extensions'
    /// JWT secret, else the client secret (which Pipedrive signs with when none is set).
    pub fn jwt_secret(&self) -> &SecretString {
        self.pipedrive_jwt_secret
            .as_ref()
            .unwrap_or(&self.pipedrive_client_secret)
    }

    /// The secret named by `APP_SECRET_ID` when set (through `aws`, or an AWS client made from
    /// the environment), else the variables of [`Self::from_env`].
    pub async fn load(env: &Env, aws: Option<&AwsAccess>) -> Result<Self, AppSecretError> {
        let Some(name) = env.optional("APP_SECRET_ID") else {
            return Ok(Self::from_env(env)?);
        };
        let owned;
        let aws = match aws {
            Some(aws) => aws,
            None => {
                owned = AwsAccess::from_env(env)?;
                &owned
            }
        };
        read(aws, &name).await
    }
}

#[derive(Deserialize)]
struct GetSecretValueAnswer {
    #[serde(rename = "SecretString")]
    secret_string: Option<String>,
}

#[derive(Deserialize)]
struct AwsErrorAnswer {
    #[serde(rename = "__type", default)]
    kind: String,
    #[serde(rename = "Message", alias = "message", default)]
    message: String,
}

/// One `GetSecretValue` of `name`, parsed as [`AppCredentials`].
async fn read(aws: &AwsAccess, name: &str) -> Result<AppCredentials, AppSecretError> {
    let failed = |reason: String| AppSecretError::Read {
        name: name.to_string(),
        reason,
    };
    let endpoint = aws.settings.endpoint("secretsmanager");
    let url =
        url::Url::parse(&endpoint).map_err(|e| failed(format!("endpoint {endpoint}: {e}")))?;
    let host = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => return Err(failed(format!("endpoint {endpoint} has no host"))),
    };
    let body = serde_json::json!({ "SecretId": name }).to_string();
    let call = JsonCall {
        service: "secretsmanager",
        host: &host,
        target: "secretsmanager.GetSecretValue",
        content_type: "application/x-amz-json-1.1",
        body: body.as_bytes(),
    };
    let mut request = aws
        .http
        .post(url)
        .header("content-type", call.content_type)
        .header("x-amz-target", call.target);
    for (header, value) in sigv4::sign(&aws.settings, call, aws.clock.now()) {
        request = request.header(header, value);
    }
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|e| failed(format!("Secrets Manager did not answer: {e}")))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| failed(format!("the answer was cut off: {e}")))?;
    if !status.is_success() {
        let error: AwsErrorAnswer = serde_json::from_slice(&bytes).unwrap_or(AwsErrorAnswer {
            kind: String::new(),
            message: String::new(),
        });
        let kind = error.kind.rsplit('#').next().unwrap_or("").to_string();
        return Err(failed(format!(
            "Secrets Manager answered {status}: {kind} {}",
            error.message
        )));
    }
    let answer: GetSecretValueAnswer = serde_json::from_slice(&bytes)
        .map_err(|_| failed("Secrets Manager's answer is not the expected JSON".into()))?;
    let raw = answer
        .secret_string
        .ok_or_else(|| failed("the secret has no string value".into()))?;
    parse(&raw).map_err(failed)
}

/// The secret's JSON, naming a missing field but never echoing the content (serde may quote
/// values).
fn parse(raw: &str) -> Result<AppCredentials, String> {
    serde_json::from_str(raw).map_err(|e| {
        let message = e.to_string();
        let what = if message.starts_with("missing field") {
            message
                .split(" at line")
                .next()
                .unwrap_or("missing field")
                .to_string()
        } else {
            "not JSON of the expected shape".to_string()
        };
        format!("{what} (line {}, column {})", e.line(), e.column())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{AwsSettings, AwsTlsRoots};
    use std::sync::{Arc, Mutex};

    const SECRET: &str = r#"{"pipedrive_client_id":"pd","pipedrive_client_secret":"pd-secret","quickbooks_client_id":"qb","quickbooks_client_secret":"qb-secret","quickbooks_webhook_verifier":"v","state_signing_key":"k"}"#;

    /// A Secrets Manager on loopback: records each request's headers and body, answers `answer`.
    async fn secrets_manager(
        status: u16,
        answer: String,
    ) -> (String, Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>>) {
        let seen: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>> = Arc::default();
        let log = seen.clone();
        let router = axum::Router::new().route(
            "/",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let log = log.clone();
                let answer = answer.clone();
                async move {
                    log.lock().unwrap().push((headers, body));
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/x-amz-json-1.1")],
                        answer,
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (url, seen)
    }

    fn aws(endpoint: &str) -> AwsAccess {
        AwsAccess::new(
            AwsSettings::emulator(endpoint),
            AwsTlsRoots::AmazonTrustServices,
        )
    }

    #[tokio::test]
    async fn the_app_secret_is_read_with_one_signed_call() {
        let answer = serde_json::json!({"Name": "app", "SecretString": SECRET}).to_string();
        let (endpoint, seen) = secrets_manager(200, answer).await;
        let env = Env::from_pairs([("APP_SECRET_ID", "stack/app")]);
        let credentials = AppCredentials::load(&env, Some(&aws(&endpoint)))
            .await
            .unwrap();
        assert_eq!(credentials.pipedrive_client_id, "pd");
        assert_eq!(credentials.jwt_secret().expose(), "pd-secret");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (headers, body) = &seen[0];
        assert_eq!(body, r#"{"SecretId":"stack/app"}"#);
        assert_eq!(headers["x-amz-target"], "secretsmanager.GetSecretValue");
        let authorization = headers["authorization"].to_str().unwrap();
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=test/")
                && authorization.contains("/us-east-1/secretsmanager/aws4_request"),
            "{authorization}"
        );
        // The signed host is the one the request was sent to.
        let sent_host = headers["host"].to_str().unwrap();
        assert!(endpoint.ends_with(sent_host), "{endpoint} vs {sent_host}");
    }

    #[tokio::test]
    async fn a_refused_or_malformed_secret_names_the_reason_but_not_the_content() {
        let denied = r#"{"__type":"com.amazonaws#AccessDeniedException","Message":"not allowed"}"#;
        let (endpoint, _) = secrets_manager(400, denied.into()).await;
        let env = Env::from_pairs([("APP_SECRET_ID", "stack/app")]);
        let error = AppCredentials::load(&env, Some(&aws(&endpoint)))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("stack/app") && error.contains("AccessDeniedException"),
            "{error}"
        );

        let partial =
            serde_json::json!({"SecretString": r#"{"pipedrive_client_id":"very-secret-value"}"#})
                .to_string();
        let (endpoint, _) = secrets_manager(200, partial).await;
        let error = AppCredentials::load(&env, Some(&aws(&endpoint)))
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing field"), "{error}");
        assert!(!error.contains("very-secret-value"), "{error}");
    }

    #[tokio::test]
    async fn without_an_app_secret_the_variables_are_read() {
        let env = Env::from_pairs([
            ("PIPEDRIVE_CLIENT_ID", "pd"),
            ("PIPEDRIVE_CLIENT_SECRET", "pd-secret"),
            ("PIPEDRIVE_JWT_SECRET", "jwt"),
            ("QUICKBOOKS_CLIENT_ID", "qb"),
            ("QUICKBOOKS_CLIENT_SECRET", "qb-secret"),
            ("QUICKBOOKS_WEBHOOK_VERIFIER", "v"),
            ("STATE_SIGNING_KEY", "k"),
        ]);
        let credentials = AppCredentials::load(&env, None).await.unwrap();
        assert_eq!(credentials.jwt_secret().expose(), "jwt");
        let missing = AppCredentials::load(&Env::default(), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(missing.contains("PIPEDRIVE_CLIENT_ID"), "{missing}");
    }
}
