//! Simulator configuration: the OAuth client it accepts, webhook delivery, throttling and the
//! companies (realms) to seed.

use serde::{Deserialize, Serialize};

/// Which webhook payload format to send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// `{"eventNotifications":[…]}`.
    #[default]
    Legacy,
    /// A JSON array of CloudEvents.
    CloudEvents,
}

/// Where and how change notifications are delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookConfig {
    /// Endpoint to POST to; `None` queues events without sending them.
    pub url: Option<String>,
    /// Key of the `intuit-signature` HMAC.
    pub verifier_token: String,
    pub format: WebhookFormat,
    /// Flush interval of the background sender in milliseconds; 0 sends only on
    /// `/_sim/webhooks/flush` (or [`super::QuickBooksSim::flush_webhooks`]).
    pub batch_ms: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: None,
            verifier_token: "sim-verifier-token".into(),
            format: WebhookFormat::Legacy,
            batch_ms: 0,
        }
    }
}

/// Per-realm limits (QuickBooks: 500 requests/minute and 10 concurrent requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottleConfig {
    pub per_minute: u32,
    pub concurrent: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            per_minute: 500,
            concurrent: 10,
        }
    }
}

/// The company locale the seed data follows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Country {
    /// US sales tax: `TAX`/`NON` line codes and a transaction-level tax code.
    #[default]
    US,
    /// UK VAT: a real tax code on every line and `GlobalTaxCalculation` required.
    GB,
}

/// A company to create at start (or via `POST /_sim/realms`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RealmSeed {
    pub realm_id: String,
    pub company_name: String,
    pub country: Country,
    /// `Preferences.CurrencyPrefs.MultiCurrencyEnabled`.
    pub multi_currency: bool,
    /// `Preferences.SalesFormsPrefs.CustomTxnNumbers`.
    pub custom_txn_numbers: bool,
    /// Online payments on: `include=invoiceLink` returns a link when the invoice has a BillEmail.
    pub online_payments: bool,
}

impl Default for RealmSeed {
    fn default() -> Self {
        RealmSeed::us(US_REALM)
    }
}

/// Realm id of the default US company (multi-currency on).
pub const US_REALM: &str = "9341453050420001";
/// Realm id of the default GB company (multi-currency off, custom transaction numbers on).
pub const GB_REALM: &str = "9341453050420002";

impl RealmSeed {
    /// A US company with multi-currency on (home USD; EUR, GBP and CAD enabled).
    pub fn us(realm_id: &str) -> Self {
        RealmSeed {
            realm_id: realm_id.into(),
            company_name: "Sandbox Landscaping Inc.".into(),
            country: Country::US,
            multi_currency: true,
            custom_txn_numbers: false,
            online_payments: true,
        }
    }

    /// A UK company with multi-currency off and custom transaction numbers on.
    pub fn gb(realm_id: &str) -> Self {
        RealmSeed {
            realm_id: realm_id.into(),
            company_name: "Sandbox Trading Ltd".into(),
            country: Country::GB,
            multi_currency: false,
            custom_txn_numbers: true,
            online_payments: false,
        }
    }
}

/// Everything the simulator needs to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QuickBooksConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Redirect URIs the app registered; `/connect/oauth2` refuses any other.
    pub redirect_uris: Vec<String>,
    /// true: `/connect/oauth2` redirects straight back with a code (tests); false: it shows a
    /// consent page with a "Connect" button (demo). `?sim_auto=1|0` overrides per request.
    pub auto_approve: bool,
    pub webhook: WebhookConfig,
    pub throttle: ThrottleConfig,
    pub realms: Vec<RealmSeed>,
}

impl Default for QuickBooksConfig {
    fn default() -> Self {
        QuickBooksConfig {
            client_id: "sim-client-id".into(),
            client_secret: "sim-client-secret".into(),
            redirect_uris: vec!["http://localhost:3000/oauth/quickbooks/callback".into()],
            auto_approve: true,
            webhook: WebhookConfig::default(),
            throttle: ThrottleConfig::default(),
            realms: vec![RealmSeed::us(US_REALM), RealmSeed::gb(GB_REALM)],
        }
    }
}
