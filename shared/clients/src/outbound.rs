//! The one HTTPS stack every outbound call uses — reqwest on rustls with ring, built once per
//! instance: QuickBooks and Pipedrive through [`http_client`], AWS (the app secret's reader, and
//! the SDK's DynamoDB, Secrets Manager and SQS clients) through [`crate::aws`] on a client of its
//! own.
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

use std::sync::{Arc, LazyLock};
use std::time::Duration;

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
pub(crate) fn client_with(tls: Option<rustls::ClientConfig>) -> reqwest::Client {
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
pub(crate) fn tls_config(roots: rustls::RootCertStore) -> Option<rustls::ClientConfig> {
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

    #[test]
    fn reqwest_gets_the_compiled_in_roots() {
        let config = TLS.as_ref().expect("the TLS configuration builds");
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        assert!(config.crypto_provider().cipher_suites.len() > 3);
        let _client = http_client();
    }
}
