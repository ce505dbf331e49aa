//! The one HTTPS client every outbound call uses (rustls with aws-lc, the same stack as the AWS
//! SDK), built once per instance.

use std::time::Duration;

/// Timeout for one call to QuickBooks or Pipedrive. API Gateway gives up after 30 s and our
/// functions after 10–29 s, so a slow upstream must fail fast enough to answer the user.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(8);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Builds the shared client. Falls back to reqwest's defaults if the tuned build fails (it only
/// fails when the TLS backend cannot initialise, which the default build would hit too).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(UPSTREAM_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("pipedrive-quickbooks/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
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
