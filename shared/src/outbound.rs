//! The one HTTPS stack every outbound call uses — reqwest on rustls with ring, built once per
//! instance: QuickBooks and Pipedrive through [`http_client`], the AWS SDK (DynamoDB, Secrets
//! Manager, SQS) through [`sdk_http::ReqwestSdkClient`] on a client of its own.
//!
//! Trust roots are compiled in, so a cold start reads no certificate file: by default reqwest
//! (`rustls-platform-verifier`) and the SDK (`rustls-native-certs`) scan the system's certificate
//! directory (≈ 290 files) and parse every certificate, each on its own — about 7 ms apiece of
//! init measured here (`cargo run -p bench --release -- coldstart`).
//! - QuickBooks and Pipedrive: Mozilla's root set from `webpki-roots` (already-parsed trust
//!   anchors: no parsing at all). New roots arrive with a dependency update.
//! - AWS (DynamoDB, Secrets Manager, SQS): AWS service endpoints present certificates of Amazon
//!   Trust Services, so the SDK's client trusts its roots only — Amazon Root CA 1–4 and the
//!   Starfield Services G2 root that cross-signs them (`tls/amazon-trust-services.pem`, public
//!   certificates) — 5 certificates to parse instead of ≈ 150. `AWS_TLS_ROOTS=system` trusts the
//!   system's store instead, for an endpoint behind another CA (a proxy).

pub mod sdk_http;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;

/// Timeout for one call to QuickBooks or Pipedrive. API Gateway gives up after 30 s and our
/// functions after 10–29 s, so a slow upstream must fail fast enough to answer the user.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(8);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Builds the shared client for QuickBooks and Pipedrive (Mozilla's roots).
pub fn http_client() -> reqwest::Client {
    client_with(TLS.clone())
}

/// A reqwest builder on this app's TLS configuration (ring, Mozilla's roots), for clients with
/// other settings than [`http_client`]'s: the simulators, tests, the bench. reqwest is built
/// without a crypto provider of its own, so `reqwest::Client::new()` cannot start.
pub fn client_builder() -> reqwest::ClientBuilder {
    builder_over(TLS.clone())
}

/// [`client_builder`] with reqwest's other defaults.
pub fn plain_client() -> reqwest::Client {
    client_builder().build().unwrap_or_default()
}

fn builder_over(tls: Option<rustls::ClientConfig>) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    match tls {
        Some(config) => builder.tls_backend_preconfigured(config),
        None => {
            // reqwest's own configuration takes the process's provider: make it ring.
            let _ = rustls::crypto::ring::default_provider().install_default();
            builder
        }
    }
}

/// A client with our timeouts, user agent and redirect policy over `tls`. Falls back to
/// reqwest's defaults if the tuned build fails (it only fails when the TLS backend cannot
/// initialise, which the default build would hit too).
fn client_with(tls: Option<rustls::ClientConfig>) -> reqwest::Client {
    builder_over(tls)
        .timeout(UPSTREAM_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("pipedrive-quickbooks/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// ring, safe protocol versions, `roots`. `None` only if the crypto provider cannot be set up
/// (logged; reqwest's own default configuration is used then).
fn tls_config(roots: rustls::RootCertStore) -> Option<rustls::ClientConfig> {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| tracing::error!(error = %e, "the TLS configuration could not be built"))
        .ok()
}

/// The rustls configuration of [`http_client`]: Mozilla's roots compiled in.
static TLS: LazyLock<Option<rustls::ClientConfig>> = LazyLock::new(|| {
    tls_config(rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
});

/// The roots the AWS SDK trusts (see the module documentation).
const AMAZON_TRUST_SERVICES_PEM: &[u8] = include_bytes!("tls/amazon-trust-services.pem");

/// Which roots the AWS SDK's HTTPS client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsTlsRoots {
    /// Amazon Trust Services' roots, compiled in (the default).
    AmazonTrustServices,
    /// The system's certificate store (`rustls-native-certs`, read once at start-up).
    System,
}

impl AwsTlsRoots {
    /// From `AWS_TLS_ROOTS` (`amazon`, the default, or `system`).
    pub fn from_setting(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("") | Some("amazon") => Ok(AwsTlsRoots::AmazonTrustServices),
            Some("system") => Ok(AwsTlsRoots::System),
            Some(other) => Err(format!("`{other}` is neither `amazon` nor `system`")),
        }
    }
}

/// Where the AWS SDK clients connect and as whom: what Lambda puts in every function's
/// environment (`AWS_REGION`, the execution role's `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
/// `AWS_SESSION_TOKEN`), plus `AWS_ENDPOINT_URL` for an emulator (moto).
///
/// Built by hand rather than with `aws-config`'s default chain: on Lambda the chain always ends
/// at the environment, and linking it (profile files, SSO, STS web identity, ECS, IMDS) costs
/// ≈ 0.9 MiB of every binary and of every cold start's resident memory (BENCHMARKS.md).
#[derive(Clone)]
pub struct AwsSettings {
    pub region: String,
    pub endpoint_url: Option<String>,
    pub credentials: aws_credential_types::Credentials,
}

impl std::fmt::Debug for AwsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `Credentials`' own Debug redacts the secret; the key id is not printed either.
        f.debug_struct("AwsSettings")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .finish_non_exhaustive()
    }
}

impl AwsSettings {
    /// From the environment: `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (optional), `AWS_ENDPOINT_URL` (optional).
    /// A missing one fails start-up naming it.
    pub fn from_env(env: &crate::config::Env) -> Result<Self, crate::config::ConfigError> {
        let region = env
            .optional("AWS_REGION")
            .or_else(|| env.optional("AWS_DEFAULT_REGION"))
            .ok_or(crate::config::ConfigError::Missing("AWS_REGION"))?;
        Ok(AwsSettings {
            region,
            endpoint_url: env.optional("AWS_ENDPOINT_URL"),
            credentials: aws_credential_types::Credentials::new(
                env.required("AWS_ACCESS_KEY_ID")?,
                env.required("AWS_SECRET_ACCESS_KEY")?,
                env.optional("AWS_SESSION_TOKEN"),
                None,
                "environment",
            ),
        })
    }

    /// Static keys, for an emulator (tests, benchmarks).
    pub fn emulator(endpoint_url: impl Into<String>) -> Self {
        AwsSettings {
            region: "us-east-1".to_string(),
            endpoint_url: Some(endpoint_url.into()),
            credentials: aws_credential_types::Credentials::new(
                "test", "test", None, None, "emulator",
            ),
        }
    }

    /// The SDK configuration, sending through a reqwest client that trusts `roots`. Retries,
    /// timeouts, the identity cache, sleep and time are the SDK's defaults for the latest
    /// behaviour version (the same as `aws-config` would set).
    pub fn sdk_config(self, roots: AwsTlsRoots) -> aws_types::SdkConfig {
        let mut builder = aws_types::SdkConfig::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new(self.region))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(self.credentials),
            );
        builder.set_endpoint_url(self.endpoint_url);
        builder.set_http_client(Some(aws_types::sdk_config::SharedHttpClient::new(
            sdk_http::ReqwestSdkClient::new(aws_http_client(roots)),
        )));
        builder.build()
    }
}

/// The client the AWS SDK sends through, trusting `roots` (see the module documentation).
fn aws_http_client(roots: AwsTlsRoots) -> reqwest::Client {
    let mut store = rustls::RootCertStore::empty();
    let (added, ignored) = match roots {
        AwsTlsRoots::AmazonTrustServices => store.add_parsable_certificates(
            rustls::pki_types::CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_PEM)
                .filter_map(Result::ok),
        ),
        AwsTlsRoots::System => {
            let found = rustls_native_certs::load_native_certs();
            if !found.errors.is_empty() {
                tracing::warn!(
                    errors = found.errors.len(),
                    "some system certificates could not be read"
                );
            }
            store.add_parsable_certificates(found.certs)
        }
    };
    if ignored > 0 || added == 0 {
        tracing::warn!(added, ignored, ?roots, "AWS trust roots");
    }
    client_with(tls_config(store))
}

/// The `intuit_tid` (or Pipedrive request id) of an answer, for logs and support.
pub fn header_string(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Seconds from a `Retry-After` header, if present and numeric.
pub fn retry_after(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn aws_settings_come_from_lambdas_variables_and_name_what_is_missing() {
        use crate::config::{ConfigError, Env};
        let full = Env::from_pairs([
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret-key"),
            ("AWS_SESSION_TOKEN", "session-token"),
        ]);
        let settings = AwsSettings::from_env(&full).expect("complete");
        assert_eq!(settings.region, "eu-west-1");
        assert_eq!(settings.endpoint_url, None);
        assert_eq!(settings.credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(settings.credentials.session_token(), Some("session-token"));
        let shown = format!("{settings:?}");
        assert!(!shown.contains("very-secret-key") && !shown.contains("session-token"));
        let config = settings.sdk_config(AwsTlsRoots::AmazonTrustServices);
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(config.credentials_provider().is_some());
        assert!(config.http_client().is_some());

        let fallback = Env::from_pairs([
            ("AWS_DEFAULT_REGION", "us-west-2"),
            ("AWS_ACCESS_KEY_ID", "a"),
            ("AWS_SECRET_ACCESS_KEY", "b"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]);
        let settings = AwsSettings::from_env(&fallback).expect("default region");
        assert_eq!(settings.region, "us-west-2");
        assert_eq!(settings.credentials.session_token(), None);
        let config = settings.sdk_config(AwsTlsRoots::System);
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));

        let no_region =
            Env::from_pairs([("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")]);
        assert_eq!(
            AwsSettings::from_env(&no_region).unwrap_err(),
            ConfigError::Missing("AWS_REGION")
        );
        let no_secret = Env::from_pairs([("AWS_REGION", "eu-west-1"), ("AWS_ACCESS_KEY_ID", "a")]);
        assert_eq!(
            AwsSettings::from_env(&no_secret).unwrap_err(),
            ConfigError::Missing("AWS_SECRET_ACCESS_KEY")
        );
    }

    #[test]
    fn the_amazon_roots_parse_as_five_trust_anchors() {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_PEM)
                .collect::<Result<_, _>>()
                .expect("valid PEM");
        assert_eq!(certs.len(), 5);
        let mut roots = rustls::RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(certs);
        assert_eq!((added, ignored), (5, 0));
    }

    #[test]
    fn reqwest_gets_the_compiled_in_roots() {
        let config = TLS.as_ref().expect("the TLS configuration builds");
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        assert!(config.crypto_provider().cipher_suites.len() > 3);
        let _client = http_client();
    }

    #[test]
    fn aws_tls_roots_setting() {
        assert_eq!(
            AwsTlsRoots::from_setting(None),
            Ok(AwsTlsRoots::AmazonTrustServices)
        );
        assert_eq!(
            AwsTlsRoots::from_setting(Some("amazon")),
            Ok(AwsTlsRoots::AmazonTrustServices)
        );
        assert_eq!(
            AwsTlsRoots::from_setting(Some("system")),
            Ok(AwsTlsRoots::System)
        );
        assert!(AwsTlsRoots::from_setting(Some("none")).is_err());
    }
}
