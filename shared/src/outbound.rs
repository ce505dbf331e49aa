//! The one HTTPS client every outbound call uses (rustls with aws-lc, the same stack as the AWS
//! SDK), built once per instance, and the AWS SDK's HTTPS client.
//!
//! Trust roots are compiled in, so a cold start reads no certificate file: by default both
//! reqwest (`rustls-platform-verifier`) and the SDK (`rustls-native-certs`) scan the system's
//! certificate directory (≈ 290 files) and parse every certificate, each on its own — about
//! 7 ms apiece of init measured here (`cargo run -p bench --release -- coldstart`).
//! - QuickBooks and Pipedrive: Mozilla's root set from `webpki-roots` (already-parsed trust
//!   anchors: no parsing at all). New roots arrive with a dependency update.
//! - AWS (DynamoDB, Secrets Manager, SQS): AWS service endpoints present certificates of Amazon
//!   Trust Services, so the SDK trusts its roots only — Amazon Root CA 1–4 and the Starfield
//!   Services G2 root that cross-signs them (`tls/amazon-trust-services.pem`, public
//!   certificates) — 5 certificates to parse instead of ≈ 150. `AWS_TLS_ROOTS=system` restores
//!   the SDK's default (the system's roots), for an endpoint behind another CA (a proxy).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// Timeout for one call to QuickBooks or Pipedrive. API Gateway gives up after 30 s and our
/// functions after 10–29 s, so a slow upstream must fail fast enough to answer the user.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(8);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Builds the shared client. Falls back to reqwest's defaults if the tuned build fails (it only
/// fails when the TLS backend cannot initialise, which the default build would hit too).
pub fn http_client() -> reqwest::Client {
    let builder = reqwest::Client::builder();
    let builder = match TLS.as_ref() {
        Some(config) => builder.tls_backend_preconfigured(config.clone()),
        None => builder,
    };
    builder
        .timeout(UPSTREAM_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("pipedrive-quickbooks/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// The rustls configuration of [`http_client`]: aws-lc, safe protocol versions, Mozilla's roots
/// compiled in. `None` only if the crypto provider cannot be set up (then reqwest's own default
/// configuration is used).
static TLS: LazyLock<Option<rustls::ClientConfig>> = LazyLock::new(|| {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|b| b.with_root_certificates(roots).with_no_client_auth())
    .map_err(|e| tracing::error!(error = %e, "the TLS configuration could not be built"))
    .ok()
});

/// The roots the AWS SDK trusts (see the module documentation).
const AMAZON_TRUST_SERVICES_PEM: &[u8] = include_bytes!("tls/amazon-trust-services.pem");

/// Which roots the AWS SDK's HTTPS client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsTlsRoots {
    /// Amazon Trust Services' roots, compiled in (the default).
    AmazonTrustServices,
    /// The SDK's default: the system's certificate store.
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

/// The AWS SDK configuration (region, credentials from the environment) with the HTTPS client
/// that trusts `roots`.
pub async fn aws_sdk_config(roots: AwsTlsRoots) -> aws_config::SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    let loader = match roots {
        AwsTlsRoots::System => loader,
        AwsTlsRoots::AmazonTrustServices => {
            use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
            let trust = TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(AMAZON_TRUST_SERVICES_PEM);
            match TlsContext::builder().with_trust_store(trust).build() {
                Ok(context) => loader.http_client(
                    aws_smithy_http_client::Builder::new()
                        .tls_provider(tls::Provider::Rustls(
                            tls::rustls_provider::CryptoMode::AwsLc,
                        ))
                        .tls_context(context)
                        .build_https(),
                ),
                Err(error) => {
                    tracing::error!(%error, "the AWS TLS context could not be built: using the SDK's default");
                    loader
                }
            }
        }
    };
    loader.load().await
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
