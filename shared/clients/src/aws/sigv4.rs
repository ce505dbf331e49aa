//! AWS Signature Version 4 for one kind of call: a JSON `POST /` to an AWS service (the
//! `awsJson1_1` protocol of Secrets Manager, DynamoDB, SQS). It lets a function read the app
//! secret without linking the AWS SDK (the extension pages need nothing else of AWS).
//!
//! The algorithm is AWS's: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>.
//! The signed headers are `content-type`, `host`, `x-amz-date`, `x-amz-security-token` (with
//! temporary credentials, as Lambda's) and `x-amz-target`; the payload hash covers the body.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::AwsSettings;

/// The headers to send with the request: `x-amz-date`, `x-amz-security-token` when the
/// credentials are temporary, and `authorization`.
pub type SignedHeaders = Vec<(&'static str, String)>;

/// One JSON call to sign.
#[derive(Debug, Clone, Copy)]
pub struct JsonCall<'a> {
    /// The signing name of the service (`secretsmanager`).
    pub service: &'a str,
    /// The `Host` header the request is sent with (`secretsmanager.eu-west-1.amazonaws.com`, or
    /// `127.0.0.1:5000` for an emulator: with the port when it is not the scheme's default).
    pub host: &'a str,
    /// `X-Amz-Target` (`secretsmanager.GetSecretValue`).
    pub target: &'a str,
    /// `Content-Type` (`application/x-amz-json-1.1`).
    pub content_type: &'a str,
    pub body: &'a [u8],
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Signs `call` with `settings`' credentials and region at `now`.
pub fn sign(settings: &AwsSettings, call: JsonCall<'_>, now: DateTime<Utc>) -> SignedHeaders {
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    let token = settings.session_token.as_ref().map(|t| t.expose());
    // Canonical headers, sorted by name, lower-case, values trimmed.
    let mut headers: Vec<(&str, &str)> = vec![
        ("content-type", call.content_type.trim()),
        ("host", call.host.trim()),
        ("x-amz-date", &amz_date),
        ("x-amz-target", call.target.trim()),
    ];
    if let Some(token) = token {
        headers.push(("x-amz-security-token", token.trim()));
    }
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "POST\n/\n\n{canonical_headers}\n{signed_headers}\n{}",
        sha256_hex(call.body)
    );
    let scope = format!("{date}/{}/{}/aws4_request", settings.region, call.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let secret = format!("AWS4{}", settings.secret_access_key.expose());
    let key = hmac(secret.as_bytes(), date.as_bytes());
    let key = hmac(&key, settings.region.as_bytes());
    let key = hmac(&key, call.service.as_bytes());
    let key = hmac(&key, b"aws4_request");
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    let mut out: SignedHeaders = vec![("x-amz-date", amz_date.clone())];
    if let Some(token) = token {
        out.push(("x-amz-security-token", token.to_string()));
    }
    out.push((
        "authorization",
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            settings.access_key_id
        ),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    // Expected values computed with botocore's `SigV4Auth` (the signer of the AWS CLI and boto3)
    // for the same request, credentials and time.
    const BODY: &str = r#"{"SecretId":"pipedrive-qbo/dev/app"}"#;

    fn settings(token: Option<&str>) -> AwsSettings {
        AwsSettings {
            region: "eu-west-1".into(),
            endpoint_url: None,
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.map(Into::into),
        }
    }

    fn call() -> JsonCall<'static> {
        JsonCall {
            service: "secretsmanager",
            host: "secretsmanager.eu-west-1.amazonaws.com",
            target: "secretsmanager.GetSecretValue",
            content_type: "application/x-amz-json-1.1",
            body: BODY.as_bytes(),
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 5, 48, 29).unwrap()
    }

    #[test]
    fn signs_as_botocore_does() {
        let headers = sign(&settings(None), call(), at());
        assert_eq!(
            headers,
            vec![
                ("x-amz-date", "20261206T054829Z".to_string()),
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261206/eu-west-1/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=ff2b320eb85a3f44afea40bf3e07fc9de498328854c3c1cb3e23424f5bcd5a23".to_string()
                ),
            ]
        );
    }

    #[test]
    fn temporary_credentials_sign_and_send_their_token() {
        let headers = sign(&settings(Some("session-token-example")), call(), at());
        assert_eq!(
            headers,
            vec![
                ("x-amz-date", "20261206T054829Z".to_string()),
                ("x-amz-security-token", "session-token-example".to_string()),
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261206/eu-west-1/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=4455558318e776a34dd8f8fe76056af22d27f69201797751fad3dd6737009ab4".to_string()
                ),
            ]
        );
    }

    #[test]
    fn any_change_of_the_request_changes_the_signature() {
        let base = sign(&settings(None), call(), at());
        let mut other = call();
        other.body = br#"{"SecretId":"another"}"#;
        assert_ne!(sign(&settings(None), other, at()), base);
        let mut other_host = call();
        other_host.host = "127.0.0.1:5000";
        assert_ne!(sign(&settings(None), other_host, at()), base);
    }
}
