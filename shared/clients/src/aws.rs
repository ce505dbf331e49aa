//! Reaching AWS: where and as whom ([`AwsSettings`], from Lambda's variables), which roots its
//! endpoints are trusted by ([`AwsTlsRoots`]), one signed call without the SDK ([`sigv4`], the
//! app secret's read), and — with the `aws` feature — the SDK's configuration sending through the
//! same HTTPS stack ([`sdk`]).
//!
//! AWS service endpoints present certificates of Amazon Trust Services, so the AWS client trusts
//! its roots only — Amazon Root CA 1–4 and the Starfield Services G2 root that cross-signs them
//! (`tls/amazon-trust-services.pem`, public certificates) — 5 certificates to parse instead of
//! ≈ 150. `AWS_TLS_ROOTS=system` trusts the system's store instead, for an endpoint behind
//! another CA (a proxy).

#[cfg(feature = "aws")]
pub mod lazy_libm;
#[cfg(feature = "aws")]
pub mod sdk;
pub mod sigv4;

use domain::{Clock, SecretString};
use rustls::pki_types::pem::PemObject;

use crate::outbound::{client_with, tls_config};

/// The roots the AWS SDK trusts (see the module documentation).
const AMAZON_TRUST_SERVICES_PEM: &[u8] = include_bytes!("../tls/amazon-trust-services.pem");

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
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub session_token: Option<SecretString>,
}

impl std::fmt::Debug for AwsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither the key id nor the secrets are printed.
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
    pub fn from_env(env: &config::Env) -> Result<Self, config::ConfigError> {
        let region = env
            .optional("AWS_REGION")
            .or_else(|| env.optional("AWS_DEFAULT_REGION"))
            .ok_or(config::ConfigError::Missing("AWS_REGION"))?;
        Ok(AwsSettings {
            region,
            endpoint_url: env.optional("AWS_ENDPOINT_URL"),
            access_key_id: env.required("AWS_ACCESS_KEY_ID")?,
            secret_access_key: env.required("AWS_SECRET_ACCESS_KEY")?.into(),
            session_token: env.optional("AWS_SESSION_TOKEN").map(Into::into),
        })
    }

    /// Static keys, for an emulator (tests, benchmarks).
    pub fn emulator(endpoint_url: impl Into<String>) -> Self {
        AwsSettings {
            region: "us-east-1".to_string(),
            endpoint_url: Some(endpoint_url.into()),
            access_key_id: "test".to_string(),
            secret_access_key: "test".into(),
            session_token: None,
        }
    }

    /// The endpoint of `service` (`secretsmanager`, `dynamodb`, …): `AWS_ENDPOINT_URL` when set
    /// (an emulator), else the service's regional endpoint.
    pub fn endpoint(&self, service: &str) -> String {
        match &self.endpoint_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("https://{service}.{}.amazonaws.com", self.region),
        }
    }
}

/// Everything a call to AWS needs, built once per instance: the settings and the one HTTPS
/// client (trusting Amazon's roots) that the app secret's read and the SDK's clients share, so a
/// connection opened by one is reused by the other.
#[derive(Debug, Clone)]
pub struct AwsAccess {
    pub settings: AwsSettings,
    pub http: reqwest::Client,
    /// Now, for request signatures.
    pub clock: Clock,
}

impl AwsAccess {
    pub fn new(settings: AwsSettings, roots: AwsTlsRoots) -> Self {
        AwsAccess {
            settings,
            http: aws_http_client(roots),
            clock: Clock::system(),
        }
    }

    /// An emulator's endpoint with static keys (tests, benchmarks).
    pub fn emulator(endpoint_url: impl Into<String>) -> Self {
        AwsAccess::new(
            AwsSettings::emulator(endpoint_url),
            AwsTlsRoots::AmazonTrustServices,
        )
    }

    /// [`AwsSettings::from_env`] and `AWS_TLS_ROOTS`.
    pub fn from_env(env: &config::Env) -> Result<Self, config::ConfigError> {
        let roots = AwsTlsRoots::from_setting(env.optional("AWS_TLS_ROOTS").as_deref()).map_err(
            |reason| config::ConfigError::Invalid {
                name: "AWS_TLS_ROOTS",
                reason,
            },
        )?;
        Ok(AwsAccess::new(AwsSettings::from_env(env)?, roots))
    }
}

/// The client AWS calls go through, trusting `roots` (see the module documentation).
pub fn aws_http_client(roots: AwsTlsRoots) -> reqwest::Client {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn aws_settings_come_from_lambdas_variables_and_name_what_is_missing() {
        use config::{ConfigError, Env};
        let full = Env::from_pairs([
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret-key"),
            ("AWS_SESSION_TOKEN", "session-token"),
        ]);
        let settings = AwsSettings::from_env(&full).expect("complete");
        assert_eq!(settings.region, "eu-west-1");
        assert_eq!(settings.endpoint_url, None);
        assert_eq!(settings.access_key_id, "AKIDEXAMPLE");
        assert_eq!(
            settings.session_token.as_ref().map(SecretString::expose),
            Some("session-token")
        );
        let shown = format!("{settings:?}");
        assert!(!shown.contains("very-secret-key") && !shown.contains("session-token"));
        assert_eq!(
            settings.endpoint("secretsmanager"),
            "https://secretsmanager.eu-west-1.amazonaws.com"
        );

        let fallback = Env::from_pairs([
            ("AWS_DEFAULT_REGION", "us-west-2"),
            ("AWS_ACCESS_KEY_ID", "a"),
            ("AWS_SECRET_ACCESS_KEY", "b"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]);
        let settings = AwsSettings::from_env(&fallback).expect("default region");
        assert_eq!(settings.region, "us-west-2");
        assert!(settings.session_token.is_none());
        assert_eq!(settings.endpoint("dynamodb"), "http://127.0.0.1:5000");

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
