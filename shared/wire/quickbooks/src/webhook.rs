//! QuickBooks webhooks: the legacy `eventNotifications` payload, the CloudEvents array payload,
//! a parser that accepts either, and the `intuit-signature` HMAC.
//!
//! Signature: `intuit-signature` = base64(HMAC-SHA256(key = verifier token, msg = raw body)).
//! Always verify against the raw bytes, never a re-serialised body.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, FixedOffset};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "intuit-signature";

/// Why a webhook body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook body is not a legacy or CloudEvents payload: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// Legacy: `{"eventNotifications":[…]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyPayload {
    pub event_notifications: Vec<EventNotification>,
}

/// One realm's events in the legacy format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventNotification {
    pub realm_id: String,
    pub data_change_event: DataChangeEvent,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataChangeEvent {
    #[serde(default)]
    pub entities: Vec<LegacyEntity>,
}

/// `{"name":"Customer","id":"1","operation":"Create","lastUpdated":"2015-10-05T14:42:19-0700"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyEntity {
    pub name: String,
    pub id: String,
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    /// Merge events: the id that was merged away (UNVERIFIED in Intuit docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_id: Option<String>,
}

/// One CloudEvents element (the body is a JSON array of these).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: String,
    #[serde(default)]
    pub source: String,
    /// `qbo.<entity lowercase>.<past-tense verb>.v1`, e.g. `qbo.invoice.created.v1`.
    #[serde(rename = "type")]
    pub r#type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacontenttype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The entity id.
    pub intuitentityid: String,
    /// The realm id.
    pub intuitaccountid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// What changed, normalised from either format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Merge,
    Void,
    Emailed,
    Other(String),
}

impl Operation {
    /// Parses the legacy spelling (`Create`) or a CloudEvents verb (`created`).
    pub fn parse(s: &str) -> Operation {
        match s.to_ascii_lowercase().as_str() {
            "create" | "created" => Operation::Create,
            "update" | "updated" => Operation::Update,
            "delete" | "deleted" => Operation::Delete,
            "merge" | "merged" => Operation::Merge,
            "void" | "voided" => Operation::Void,
            "emailed" | "email" => Operation::Emailed,
            _ => Operation::Other(s.to_string()),
        }
    }

    /// The legacy spelling.
    pub fn legacy_name(&self) -> &str {
        match self {
            Operation::Create => "Create",
            Operation::Update => "Update",
            Operation::Delete => "Delete",
            Operation::Merge => "Merge",
            Operation::Void => "Void",
            Operation::Emailed => "Emailed",
            Operation::Other(s) => s,
        }
    }

    /// The CloudEvents verb (`created`, `updated`, …).
    pub fn cloud_event_verb(&self) -> String {
        match self {
            Operation::Create => "created".into(),
            Operation::Update => "updated".into(),
            Operation::Delete => "deleted".into(),
            Operation::Merge => "merged".into(),
            Operation::Void => "voided".into(),
            Operation::Emailed => "emailed".into(),
            Operation::Other(s) => s.to_ascii_lowercase(),
        }
    }
}

/// One change, whatever the payload format.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityChange {
    pub realm_id: String,
    /// Entity name as the API spells it (`Invoice`, `Payment`, `Customer`); CloudEvents names are
    /// lower-case in the type and are capitalised here.
    pub entity: String,
    pub entity_id: String,
    pub operation: Operation,
    /// When the change happened, if the payload says and the timestamp parses.
    pub last_updated: Option<DateTime<FixedOffset>>,
}

/// Parses webhook timestamps: RFC 3339 (`…Z`, `…-07:00`) and the legacy `…-0700` form.
pub fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .or_else(|| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z").ok())
        .or_else(|| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
}

/// Capitalises the first letter of a lower-case CloudEvents entity name (`invoice` → `Invoice`;
/// multi-word names such as `salesreceipt` stay lower-case after the first letter).
fn entity_from_cloud_type(entity: &str) -> String {
    match entity {
        "invoice" => "Invoice".into(),
        "payment" => "Payment".into(),
        "customer" => "Customer".into(),
        "item" => "Item".into(),
        "salesreceipt" => "SalesReceipt".into(),
        "creditmemo" => "CreditMemo".into(),
        "companycurrency" => "CompanyCurrency".into(),
        other => {
            let mut chars = other.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        }
    }
}

/// Splits `qbo.invoice.created.v1` into (entity, operation).
fn split_cloud_type(t: &str) -> (String, Operation) {
    let parts: Vec<&str> = t.split('.').collect();
    match parts.as_slice() {
        [_, entity, verb, ..] => (entity_from_cloud_type(entity), Operation::parse(verb)),
        [_, entity] => (
            entity_from_cloud_type(entity),
            Operation::Other(String::new()),
        ),
        _ => (t.to_string(), Operation::Other(String::new())),
    }
}

/// Either payload format.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookPayload {
    Legacy(LegacyPayload),
    CloudEvents(Vec<CloudEvent>),
}

impl WebhookPayload {
    /// Detects the format (a JSON array is CloudEvents, an object is legacy) and parses it.
    pub fn parse(raw_body: &[u8]) -> Result<WebhookPayload, WebhookError> {
        let first = raw_body.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'[') {
            Ok(WebhookPayload::CloudEvents(serde_json::from_slice(
                raw_body,
            )?))
        } else {
            Ok(WebhookPayload::Legacy(serde_json::from_slice(raw_body)?))
        }
    }

    /// The flat list of changes.
    pub fn changes(&self) -> Vec<EntityChange> {
        match self {
            WebhookPayload::Legacy(p) => p
                .event_notifications
                .iter()
                .flat_map(|n| {
                    n.data_change_event.entities.iter().map(|e| EntityChange {
                        realm_id: n.realm_id.clone(),
                        entity: e.name.clone(),
                        entity_id: e.id.clone(),
                        operation: Operation::parse(&e.operation),
                        last_updated: e.last_updated.as_deref().and_then(parse_timestamp),
                    })
                })
                .collect(),
            WebhookPayload::CloudEvents(events) => events
                .iter()
                .map(|e| {
                    let (entity, operation) = split_cloud_type(&e.r#type);
                    EntityChange {
                        realm_id: e.intuitaccountid.clone(),
                        entity,
                        entity_id: e.intuitentityid.clone(),
                        operation,
                        last_updated: e.time.as_deref().and_then(parse_timestamp),
                    }
                })
                .collect(),
        }
    }
}

/// Parses either format and flattens it.
pub fn parse_changes(raw_body: &[u8]) -> Result<Vec<EntityChange>, WebhookError> {
    Ok(WebhookPayload::parse(raw_body)?.changes())
}

fn mac(verifier_token: &str, raw_body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(verifier_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC-SHA256 takes keys of any length"));
    mac.update(raw_body);
    mac
}

/// The `intuit-signature` value for a body.
pub fn sign(verifier_token: &str, raw_body: &[u8]) -> String {
    BASE64.encode(mac(verifier_token, raw_body).finalize().into_bytes())
}

/// Checks an `intuit-signature` header against the raw body (constant-time on the digests).
pub fn verify(verifier_token: &str, raw_body: &[u8], signature_header: &str) -> bool {
    let Ok(given) = BASE64.decode(signature_header.trim()) else {
        return false;
    };
    let expected = mac(verifier_token, raw_body).finalize().into_bytes();
    given.len() == expected.len() && bool::from(given.as_slice().ct_eq(expected.as_slice()))
}

/// What identifies one delivery: the hex SHA-256 of its raw body. Intuit signs the body only
/// (no timestamp, no nonce), so a captured delivery stays validly signed forever; remembering
/// this digest is how a replay is told from a new delivery.
pub fn delivery_digest(raw_body: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(Sha256::digest(raw_body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_digest_depends_on_every_byte() {
        let a = delivery_digest(b"{\"eventNotifications\":[]}");
        assert_eq!(a.len(), 64);
        assert_eq!(a, delivery_digest(b"{\"eventNotifications\":[]}"));
        assert_ne!(a, delivery_digest(b"{\"eventNotifications\":[] }"));
    }

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../../../tests/fixtures/quickbooks/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn intuit_test_vector_verifies() {
        let v: Value =
            serde_json::from_str(&fixture("webhook-signature-test-vector.json")).unwrap();
        let token = v["verifier_token"].as_str().unwrap();
        let body = v["raw_body"].as_str().unwrap().as_bytes();
        let header = v["intuit_signature_header"].as_str().unwrap();
        assert_eq!(sign(token, body), header);
        assert!(verify(token, body, header));
        assert!(!verify(
            token,
            body,
            v["wrong_signature_example"].as_str().unwrap()
        ));
        assert!(!verify("other-token", body, header));
        let mut tampered = body.to_vec();
        tampered.push(b' ');
        assert!(!verify(token, &tampered, header));
    }

    #[test]
    fn parses_legacy_payload() {
        let changes = parse_changes(fixture("webhook-legacy-payload.json").as_bytes()).unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].realm_id, "1185883450");
        assert_eq!(changes[0].entity, "Customer");
        assert_eq!(changes[0].operation, Operation::Create);
        assert_eq!(
            changes[0].last_updated.unwrap().to_rfc3339(),
            "2015-10-05T14:42:19-07:00"
        );
        assert_eq!(changes[1].entity, "Vendor");
    }

    #[test]
    fn parses_cloudevents_payloads() {
        let changes =
            parse_changes(fixture("webhook-cloudevents-payload.json").as_bytes()).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].realm_id, "310687");
        assert_eq!(changes[0].entity, "Account");
        assert_eq!(changes[0].entity_id, "1234");
        assert_eq!(changes[0].operation, Operation::Create);
        assert!(changes[0].last_updated.is_some());
        let changes =
            parse_changes(fixture("webhook-cloudevents-payload-dotnet-sdk-test.json").as_bytes())
                .unwrap();
        assert_eq!(changes[0].entity, "Class");
        let changes = parse_changes(
            br#"[{"specversion":"1.0","id":"x","source":"s","type":"qbo.invoice.voided.v1","intuitentityid":"9","intuitaccountid":"1"}]"#,
        )
        .unwrap();
        assert_eq!(changes[0].entity, "Invoice");
        assert_eq!(changes[0].operation, Operation::Void);
        assert!(parse_changes(b"not json").is_err());
    }
}
