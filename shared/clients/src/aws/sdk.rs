//! The AWS SDK's configuration ([`sdk_config`]) and its HTTP client on top of reqwest, the HTTP
//! stack every other outbound call uses.
//!
//! The SDK's own client (`aws-smithy-http-client`) is a second hyper client with HTTP/2 (`h2`
//! alone was ≈ 280 KiB of code), its own rustls set-up and its own connection pool. DynamoDB,
//! Secrets Manager and SQS answer this app over HTTP/1.1, so that second stack was code and
//! resident memory in every function doing what reqwest already does (BENCHMARKS.md: with rustls
//! on ring, ≈ 1.3 MiB of every binary). [`ReqwestSdkClient`] hands the SDK's signed requests to a
//! reqwest client instead; retries, timeouts, signing and endpoint resolution stay the SDK's.

use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;

use super::AwsAccess;
#[cfg(test)]
use super::{AwsSettings, AwsTlsRoots};

/// The SDK configuration for `aws`, sending through its HTTPS client.
/// Retries, timeouts, the identity cache, sleep and time are the SDK's defaults for the latest
/// behaviour version (the same as `aws-config` would set).
///
/// Built by hand rather than with `aws-config`'s default chain: on Lambda the chain always ends
/// at the environment, and linking it (profile files, SSO, STS web identity, ECS, IMDS) costs
/// ≈ 0.9 MiB of every binary and of every cold start's resident memory (BENCHMARKS.md).
pub fn sdk_config(aws: &AwsAccess) -> aws_types::SdkConfig {
    let settings = aws.settings.clone();
    let credentials = aws_credential_types::Credentials::new(
        settings.access_key_id,
        settings.secret_access_key.expose(),
        settings
            .session_token
            .as_ref()
            .map(|t| t.expose().to_string()),
        None,
        "environment",
    );
    let mut builder = aws_types::SdkConfig::builder()
        .behavior_version(
            aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest(),
        )
        .region(aws_types::region::Region::new(settings.region))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        );
    builder.set_endpoint_url(settings.endpoint_url);
    builder.set_http_client(Some(aws_types::sdk_config::SharedHttpClient::new(
        ReqwestSdkClient::new(aws.http.clone()),
    )));
    builder.build()
}

/// An [`HttpClient`] for the AWS SDK that sends through `reqwest`.
#[derive(Debug, Clone)]
pub struct ReqwestSdkClient {
    http: reqwest::Client,
}

impl ReqwestSdkClient {
    pub fn new(http: reqwest::Client) -> Self {
        ReqwestSdkClient { http }
    }
}

impl HttpClient for ReqwestSdkClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(ReqwestConnector {
            http: self.http.clone(),
            read_timeout: settings.read_timeout(),
        })
    }
}

/// Made for each call the SDK sends (a handle on the client: every connector shares its
/// connection pool, so there is nothing to cache). The connect timeout is the client's own; the
/// SDK's read timeout, when one is configured, bounds the whole exchange (reqwest's per-request
/// timeout), otherwise the client's does.
#[derive(Debug)]
struct ReqwestConnector {
    http: reqwest::Client,
    read_timeout: Option<Duration>,
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::new(send(self.http.clone(), request, self.read_timeout))
    }
}

async fn send(
    http: reqwest::Client,
    request: HttpRequest,
    timeout: Option<Duration>,
) -> Result<HttpResponse, ConnectorError> {
    let request = request
        .try_into_http1x()
        .map_err(|error| ConnectorError::user(error.into()))?;
    let (parts, body) = request.into_parts();
    // The SDK operations this app calls all have in-memory bodies (JSON documents).
    let body = body.bytes().map(Bytes::copy_from_slice).ok_or_else(|| {
        ConnectorError::user(
            "the AWS request has a streaming body, which this client does not send".into(),
        )
    })?;
    let mut outgoing = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body);
    if let Some(timeout) = timeout {
        outgoing = outgoing.timeout(timeout);
    }
    let mut response = outgoing.send().await.map_err(connector_error)?;
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let body = response.bytes().await.map_err(connector_error)?;
    let mut answer = http::Response::new(SdkBody::from(body));
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    HttpResponse::try_from(answer).map_err(|error| ConnectorError::other(error.into(), None))
}

/// How the SDK's retry strategy sees a failed exchange: timeouts and I/O failures (refused,
/// reset, cut off mid-answer) are transient and retried; anything else is not.
fn connector_error(error: reqwest::Error) -> ConnectorError {
    if error.is_timeout() {
        ConnectorError::timeout(error.into())
    } else if error.is_connect() || error.is_request() || error.is_body() {
        ConnectorError::io(error.into())
    } else {
        ConnectorError::other(error.into(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::retry::RetryConfig;
    use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
    use aws_smithy_runtime_api::client::result::SdkError;
    use axum::http::HeaderMap;
    use std::sync::{Arc, Mutex};

    /// A DynamoDB client sending through `ReqwestSdkClient` to `endpoint`, one attempt.
    fn dynamodb(endpoint: &str, timeouts: TimeoutConfig) -> aws_sdk_dynamodb::Client {
        let sdk = sdk_config(&AwsAccess::new(
            AwsSettings::emulator(endpoint),
            AwsTlsRoots::AmazonTrustServices,
        ));
        let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(timeouts)
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn the_sdk_sends_its_signed_request_and_reads_the_answer_through_reqwest() {
        let seen: Arc<Mutex<Vec<(HeaderMap, String)>>> = Arc::default();
        let record = seen.clone();
        let router = axum::Router::new().route(
            "/",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let record = record.clone();
                async move {
                    if let Ok(mut seen) = record.lock() {
                        seen.push((headers, body));
                    }
                    (
                        [
                            ("content-type", "application/x-amz-json-1.0"),
                            ("x-amzn-requestid", "req-1"),
                        ],
                        r#"{"TableNames":["links","tokens"]}"#,
                    )
                }
            }),
        );
        let endpoint = serve(router).await;
        let answer = dynamodb(&endpoint, TimeoutConfig::builder().build())
            .list_tables()
            .limit(5)
            .send()
            .await
            .expect("list tables");
        assert_eq!(answer.table_names(), ["links", "tokens"]);

        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen.len(), 1);
        let (headers, body) = &seen[0];
        assert_eq!(
            headers.get("x-amz-target").and_then(|v| v.to_str().ok()),
            Some("DynamoDB_20120810.ListTables")
        );
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(authorization.starts_with("AWS4-HMAC-SHA256 Credential=test/"));
        assert_eq!(body, r#"{"Limit":5}"#);
    }

    #[tokio::test]
    async fn an_error_answer_reaches_the_sdk_as_a_service_error() {
        let router = axum::Router::new().route(
            "/",
            axum::routing::post(|| async {
                (
                    axum::http::StatusCode::BAD_REQUEST,
                    [("content-type", "application/x-amz-json-1.0")],
                    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"no such table"}"#,
                )
            }),
        );
        let endpoint = serve(router).await;
        let error = dynamodb(&endpoint, TimeoutConfig::builder().build())
            .describe_table()
            .table_name("missing")
            .send()
            .await
            .expect_err("a 400");
        let service = error.into_service_error();
        assert!(service.is_resource_not_found_exception(), "{service:?}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_failure_the_sdk_may_retry() {
        // A port that was just free: nothing listens on it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let error = dynamodb(
            &format!("http://{address}"),
            TimeoutConfig::builder().build(),
        )
        .list_tables()
        .send()
        .await
        .expect_err("refused");
        match error {
            SdkError::DispatchFailure(failure) => assert!(failure.is_io(), "{failure:?}"),
            other => panic!("expected a dispatch failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_sdks_read_timeout_bounds_the_exchange() {
        // Accepts the connection and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        let timeouts = TimeoutConfig::builder()
            .read_timeout(Duration::from_millis(300))
            .build();
        let error = dynamodb(&format!("http://{address}"), timeouts)
            .list_tables()
            .send()
            .await
            .expect_err("no answer");
        match error {
            SdkError::DispatchFailure(failure) => {
                assert!(failure.is_timeout(), "{failure:?}")
            }
            other => panic!("expected a dispatch failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_streaming_body_is_refused_as_the_callers_error() {
        let connector = ReqwestConnector {
            http: crate::outbound::plain_client(),
            read_timeout: None,
        };
        let mut request = HttpRequest::new(SdkBody::taken());
        request.set_uri("http://127.0.0.1:9/").expect("a valid uri");
        let error = connector.call(request).await.expect_err("refused");
        assert!(error.is_user(), "{error:?}");
    }

    #[test]
    fn the_configuration_carries_the_settings() {
        let mut settings = AwsSettings::emulator("http://127.0.0.1:5000");
        settings.region = "eu-west-1".into();
        let config = sdk_config(&AwsAccess::new(settings, AwsTlsRoots::AmazonTrustServices));
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(config.credentials_provider().is_some());
        assert!(config.http_client().is_some());
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
    }
}
