//! The records the app keeps (see the data table in the README). Pure data; the store decides
//! where they live.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{CompanyId, DealId, Settings, UserId};

/// Which QuickBooks environment a connection lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuickBooksEnvironment {
    Sandbox,
    Production,
}

/// The state of a company's QuickBooks connection, as the UI shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    Connected,
    /// QuickBooks refused the refresh token (revoked or expired): a human must reconnect.
    NeedsReconnect,
    Disconnected,
}

/// [`ConnectionState`] as the API writes it, and `not_connected` for a company that never
/// connected.
pub mod state_or_not_connected {
    use super::ConnectionState;
    use serde::de::IntoDeserializer;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    const NOT_CONNECTED: &str = "not_connected";

    pub fn serialize<S: Serializer>(
        state: &Option<ConnectionState>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match state {
            Some(state) => state.serialize(serializer),
            None => serializer.serialize_str(NOT_CONNECTED),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<ConnectionState>, D::Error> {
        let written = String::deserialize(deserializer)?;
        if written == NOT_CONNECTED {
            return Ok(None);
        }
        let state: serde::de::value::StrDeserializer<'_, D::Error> =
            written.as_str().into_deserializer();
        ConnectionState::deserialize(state).map(Some)
    }
}

/// The company's one QuickBooks connection (tokens live in the token vault, not here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickBooksConnection {
    pub realm_id: String,
    pub environment: QuickBooksEnvironment,
    pub state: ConnectionState,
    pub connected_by: UserId,
    pub connected_at: DateTime<Utc>,
    /// Why the state last changed (shown to users for `needs_reconnect`).
    #[serde(default)]
    pub reason: Option<String>,
}

/// One Pipedrive company that installed the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyProfile {
    pub company_id: CompanyId,
    #[serde(default)]
    pub settings: Settings,
    /// Incremented by every settings save (and only by those), so that a settings page is not
    /// refused because something else of the company changed meanwhile.
    #[serde(default = "first_settings_version")]
    pub settings_version: u64,
    #[serde(default)]
    pub quickbooks: Option<QuickBooksConnection>,
    /// The realm the company's invoice links point at; set by the first connection and kept after a
    /// disconnect so that a different QuickBooks company is never mixed in silently.
    #[serde(default)]
    pub linked_realm_id: Option<String>,
    /// IANA time zone used for issue dates and overdue transitions.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Start of the next CDC window for the scheduled sync.
    #[serde(default)]
    pub sync_watermark: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Stored version, for optimistic locking (filled in by the store).
    #[serde(skip)]
    pub version: u64,
}

fn first_settings_version() -> u64 {
    1
}

fn default_time_zone() -> String {
    "UTC".to_string()
}

impl CompanyProfile {
    pub fn new(company_id: CompanyId, now: DateTime<Utc>) -> Self {
        CompanyProfile {
            company_id,
            settings: Settings::default(),
            settings_version: first_settings_version(),
            quickbooks: None,
            linked_realm_id: None,
            time_zone: default_time_zone(),
            sync_watermark: None,
            created_at: now,
            version: 0,
        }
    }

    /// The realm of an active (connected) QuickBooks connection.
    pub fn connected_realm(&self) -> Option<&str> {
        self.quickbooks
            .as_ref()
            .filter(|q| q.state == ConnectionState::Connected)
            .map(|q| q.realm_id.as_str())
    }
}

/// One user's installation of the app (Pipedrive installs are per user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInstall {
    pub company_id: CompanyId,
    pub user_id: UserId,
    pub scopes: Vec<String>,
    pub api_domain: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub is_admin: bool,
    pub installed_at: DateTime<Utc>,
    /// The user's Pipedrive locale (`users/me` → `locale`), which formats the money they read.
    #[serde(default)]
    pub locale: Option<UserLocale>,
    #[serde(skip)]
    pub version: u64,
}

/// A user's Pipedrive locale and when it was read from `users/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserLocale {
    /// As Pipedrive writes it: `de_DE`, `et_EE`.
    pub locale: String,
    #[serde(deserialize_with = "stored_time::required")]
    pub read_at: DateTime<Utc>,
}

/// An invoice's status as reps see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Open,
    Overdue,
    PartiallyPaid,
    Paid,
    Voided,
    Deleted,
}

/// A QuickBooks invoice linked to a deal, with what the panel shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLink {
    pub company_id: CompanyId,
    pub deal_id: DealId,
    pub realm_id: String,
    pub invoice_id: String,
    #[serde(default)]
    pub doc_number: Option<String>,
    pub currency: String,
    pub total: Decimal,
    pub balance: Decimal,
    pub txn_date: NaiveDate,
    #[serde(default)]
    pub due_date: Option<NaiveDate>,
    pub status: InvoiceStatus,
    pub customer_id: String,
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default)]
    pub email_sent: bool,
    /// QuickBooks `SyncToken` last seen.
    #[serde(default)]
    pub sync_token: Option<String>,
    /// QuickBooks `MetaData.LastUpdatedTime` last seen: newer data wins, older is ignored.
    #[serde(default, deserialize_with = "stored_time::optional")]
    pub qbo_updated_at: Option<DateTime<Utc>>,
    /// The day a payment was last recorded on the invoice: the QuickBooks date of the update
    /// that lowered its balance (see `links::refreshed_link`).
    #[serde(default)]
    pub last_payment_date: Option<NaiveDate>,
    /// The part of the deal the invoice bills, when the app created it ([`crate::progress`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<crate::progress::BillingRecord>,
    #[serde(deserialize_with = "stored_time::required")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "stored_time::required")]
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: u64,
}

/// An estimate's status as reps see it: QuickBooks' `TxnStatus`, plus Expired (a Pending
/// estimate past its expiration date, derived like Overdue) and Deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EstimateStatus {
    Pending,
    Accepted,
    Rejected,
    /// Converted into an invoice (QuickBooks closed it).
    Closed,
    Expired,
    Deleted,
}

/// A QuickBooks estimate linked to a deal, with what the panel shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstimateLink {
    pub company_id: CompanyId,
    pub deal_id: DealId,
    pub realm_id: String,
    pub estimate_id: String,
    #[serde(default)]
    pub doc_number: Option<String>,
    pub currency: String,
    pub total: Decimal,
    pub txn_date: NaiveDate,
    #[serde(default)]
    pub expiration_date: Option<NaiveDate>,
    pub status: EstimateStatus,
    pub customer_id: String,
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default)]
    pub email_sent: bool,
    #[serde(default)]
    pub accepted_by: Option<String>,
    /// The invoices made from it (QuickBooks' `LinkedTxn`).
    #[serde(default)]
    pub invoice_ids: Vec<String>,
    /// The QuickBooks `requestid` of the invoice the app is making from it (recorded before
    /// QuickBooks is called: a later request sends it again and gets the same invoice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_request_id: Option<String>,
    /// The invoice the app made from it (linked on the deal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converted_invoice_id: Option<String>,
    /// QuickBooks `SyncToken` last seen.
    #[serde(default)]
    pub sync_token: Option<String>,
    /// QuickBooks `MetaData.LastUpdatedTime` last seen: newer data wins, older is ignored.
    #[serde(default, deserialize_with = "stored_time::optional")]
    pub qbo_updated_at: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "stored_time::required")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "stored_time::required")]
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: u64,
}

/// What the deal's invoice list shows of an [`InvoiceLink`], read straight from the stored item:
/// the strings borrowed from it, the fields the list does not show (realm, sync token, the
/// other times) skipped unread. The list reads every link of a deal at each panel load, and
/// reading whole links — every string copied, three times parsed — was most of its own time
/// (BENCHMARKS.md). The same field names and defaults as [`InvoiceLink`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListedInvoice<'a> {
    pub invoice_id: &'a str,
    #[serde(default, borrow)]
    pub doc_number: Option<&'a str>,
    pub currency: &'a str,
    pub total: Decimal,
    pub balance: Decimal,
    #[serde(deserialize_with = "stored_date::required")]
    pub txn_date: NaiveDate,
    #[serde(default, deserialize_with = "stored_date::optional")]
    pub due_date: Option<NaiveDate>,
    pub status: InvoiceStatus,
    pub customer_id: &'a str,
    #[serde(default, borrow)]
    pub customer_name: Option<&'a str>,
    #[serde(default)]
    pub email_sent: bool,
    #[serde(default)]
    pub billing: Option<crate::progress::BillingRecord>,
    #[serde(deserialize_with = "stored_time::required")]
    pub updated_at: DateTime<Utc>,
}

/// The decimal number written with ASCII digits only at `range` of `text` (`None` if any byte
/// there is not a digit, or the range is outside it): the fields of stored dates and times.
fn ascii_number(text: &[u8], range: std::ops::Range<usize>) -> Option<u32> {
    text.get(range)?.iter().try_fold(0u32, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// Reading the dates we stored (`YYYY-MM-DD`, as chrono writes them) without chrono's general
/// parser (a sixth of reading a deal's list); anything else still goes through chrono's
/// `FromStr`, so every value it accepted is accepted.
mod stored_date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer};

    pub(super) fn parse(text: &str) -> Result<NaiveDate, chrono::ParseError> {
        let b = text.as_bytes();
        let digits = |range| super::ascii_number(b, range);
        if b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10))
            && let Some(date) = NaiveDate::from_ymd_opt(y as i32, m, d)
        {
            return Ok(date);
        }
        text.parse::<NaiveDate>()
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        match <Option<std::borrow::Cow<'de, str>>>::deserialize(d)? {
            Some(text) => parse(&text).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn stored_dates_read_as_chrono_reads_them() {
            let mut texts: Vec<String> = [
                "2026-11-27",
                "2024-02-29",
                "2023-02-29",
                "0000-01-01",
                "9999-12-31",
                "2026-13-01",
                "2026-00-10",
                "2026-1-01",
                "+12026-01-01",
                "2026-11-27 ",
                " 2026-11-27",
                "2026/11/27",
                "20261127",
                "",
                "2026-11-2x",
                "-0001-01-01",
            ]
            .iter()
            .map(|t| t.to_string())
            .collect();
            texts.extend(
                (0..1500)
                    .map(|n| format!("{:04}-{:02}-{:02}", 1990 + n % 50, 1 + n % 13, 1 + n % 32)),
            );
            for text in texts {
                assert_eq!(
                    parse(&text).ok(),
                    text.parse::<NaiveDate>().ok(),
                    "{text:?}"
                );
            }
        }
    }
}

/// Reading the times we stored (RFC 3339, as chrono writes them) with chrono's RFC 3339 parser;
/// chrono's `Deserialize` goes through its general, relaxed parser, which was a fifth of the
/// deal list's time for 250 invoice links (BENCHMARKS.md). Anything else still goes through the
/// relaxed parser, so every value chrono accepted before is accepted.
mod stored_time {
    use chrono::{DateTime, FixedOffset, Utc};
    use serde::{Deserialize, Deserializer};

    /// `YYYY-MM-DDTHH:MM:SS[.f…]Z` — what chrono's `to_rfc3339` writes for a UTC time — read
    /// field by field (the list reads one per invoice); `None` for anything else.
    fn utc_rfc3339(text: &str) -> Option<DateTime<Utc>> {
        let b = text.as_bytes();
        let number = |range| super::ascii_number(b, range);
        let punctuated = b.len() >= 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && b[b.len() - 1] == b'Z';
        if !punctuated {
            return None;
        }
        let nanos = match &b[19..b.len() - 1] {
            [] => 0,
            [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
                number(20..20 + fraction.len())? * 10u32.pow(9 - fraction.len() as u32)
            }
            _ => return None,
        };
        let date =
            chrono::NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?;
        let second = number(17..19)?;
        if second > 59 {
            return None; // a leap second is left to chrono
        }
        let time =
            chrono::NaiveTime::from_hms_nano_opt(number(11..13)?, number(14..16)?, second, nanos)?;
        Some(date.and_time(time).and_utc())
    }

    fn parse<E: serde::de::Error>(text: &str) -> Result<DateTime<Utc>, E> {
        if let Some(time) = utc_rfc3339(text) {
            return Ok(time);
        }
        DateTime::parse_from_rfc3339(text)
            .or_else(|_| text.parse::<DateTime<FixedOffset>>())
            .map(|t| t.with_timezone(&Utc))
            .map_err(E::custom)
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse(&text)
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match <Option<std::borrow::Cow<'de, str>>>::deserialize(d)? {
            Some(text) => parse(&text).map(Some),
            None => Ok(None),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn stored_times_read_as_chrono_reads_them() {
            for text in [
                "2026-11-27T09:33:33.123456789Z",
                "2026-11-27T09:33:33Z",
                "2026-11-27T01:33:33-08:00",
                "2026-11-27 09:33:33Z",
                "2026-11-27T09:33:33.5+00:00",
            ] {
                let ours: DateTime<Utc> = parse::<serde_json::Error>(text).expect("accepted");
                let chrono: DateTime<Utc> =
                    serde_json::from_value(serde_json::Value::String(text.into())).unwrap();
                assert_eq!(ours, chrono, "{text}");
            }
            assert!(parse::<serde_json::Error>("27/11/2026").is_err());
        }

        /// The UTC fast path reads what chrono writes, and for every other text either agrees
        /// with chrono's RFC 3339 parser or steps aside.
        #[test]
        fn the_utc_fast_path_agrees_with_chrono() {
            use chrono::{SecondsFormat, TimeZone};
            let chrono_reads = |text: &str| {
                DateTime::parse_from_rfc3339(text)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            };
            let mut written = Vec::new();
            for n in 0..2000u32 {
                let time = Utc
                    .with_ymd_and_hms(
                        1970 + (n % 60) as i32,
                        1 + n % 12,
                        1 + n % 28,
                        n % 24,
                        (n * 7) % 60,
                        (n * 13) % 60,
                    )
                    .single()
                    .expect("valid")
                    + chrono::Duration::nanoseconds(i64::from(n) * 987_654_321 % 1_000_000_000);
                for format in [
                    SecondsFormat::Secs,
                    SecondsFormat::Millis,
                    SecondsFormat::Micros,
                    SecondsFormat::Nanos,
                    SecondsFormat::AutoSi,
                ] {
                    written.push(time.to_rfc3339_opts(format, true));
                }
            }
            for text in &written {
                assert_eq!(utc_rfc3339(text), chrono_reads(text), "{text}");
                assert!(utc_rfc3339(text).is_some(), "{text} takes the fast path");
            }
            let odd = [
                "2026-11-27T09:33:33.1Z",
                "2026-11-27T09:33:33.12345678Z",
                "2026-11-27T09:33:33.1234567891Z",
                "2026-11-27T09:33:33.Z",
                "2026-11-27T09:33:60Z",
                "2016-12-31T23:59:60Z",
                "2026-11-27T24:00:00Z",
                "2026-11-27T23:60:00Z",
                "2026-02-30T10:00:00Z",
                "2026-13-01T10:00:00Z",
                "2026-11-27t09:33:33z",
                "2026-11-27 09:33:33Z",
                "2026-11-27T09:33:33+00:00",
                "2026-11-27T09:33:33",
                "2026-11-27T09:33Z",
                "2026-11-27T0a:33:33Z",
                "+2026-11-27T09:33:33Z",
                "2026-11-27T09:33:33.+5Z",
                "2026-11-27T09:33:33.-5Z",
                "",
                "Z",
            ];
            for text in odd {
                if let Some(fast) = utc_rfc3339(text) {
                    assert_eq!(Some(fast), chrono_reads(text), "{text}");
                }
                assert_eq!(
                    parse::<serde_json::Error>(text).ok(),
                    serde_json::from_value::<DateTime<Utc>>(serde_json::Value::String(text.into()))
                        .ok(),
                    "{text}"
                );
            }
        }
    }
}

/// The Pipedrive party a QuickBooks customer is linked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Party {
    Organization(u64),
    Person(u64),
}

/// A deal's organisation and person ids as last read from Pipedrive: lets the create form read
/// them in the same round as the deal itself (verified against the deal when it arrives).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealParties {
    pub org_id: Option<u64>,
    pub person_id: Option<u64>,
}

/// A Pipedrive organisation or person linked to a QuickBooks customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerLink {
    pub company_id: CompanyId,
    pub party: Party,
    pub realm_id: String,
    pub customer_id: String,
    pub display_name: String,
    #[serde(default)]
    pub currency: Option<String>,
    pub linked_by: UserId,
    pub linked_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: u64,
}

/// A Pipedrive product linked to a QuickBooks item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductLink {
    pub company_id: CompanyId,
    pub product_id: u64,
    pub realm_id: String,
    pub item_id: String,
    pub item_name: String,
    pub linked_by: UserId,
    pub linked_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: u64,
}

/// The state of an idempotent request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum IdempotencyState {
    /// Someone is working on it until `until`; after that a retry may take over.
    InProgress { until: DateTime<Utc> },
    /// Finished: replay this answer.
    Complete {
        status: u16,
        body: serde_json::Value,
    },
}

/// What we remember of an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub company_id: CompanyId,
    pub key: String,
    /// sha256 of the canonical request, so that the same key with another body is refused.
    pub request_hash: String,
    pub state: IdempotencyState,
    /// Work done so far (e.g. the QuickBooks invoice id once created), so a retry can finish.
    #[serde(default)]
    pub progress: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// When the record may be forgotten.
    pub expires_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: u64,
}

/// How an activity ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
}

/// One line of a deal's activity log: what was sent to QuickBooks, what came back, what failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityEvent {
    pub company_id: CompanyId,
    pub deal_id: DealId,
    pub at: DateTime<Utc>,
    pub id: String,
    /// Short machine name, e.g. `invoice.created`, `invoice.voided`, `status.changed`.
    pub kind: String,
    pub outcome: Outcome,
    /// Human sentence shown in the panel.
    pub message: String,
    #[serde(default)]
    pub invoice_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<UserId>,
    /// QuickBooks `intuit_tid` of the call, for support.
    #[serde(default)]
    pub intuit_tid: Option<String>,
}
