//! Signed, expiring OAuth `state` values.
//!
//! A state is `base64url(payload) "." base64url(HMAC-SHA256(key, "oauth-state.v1." payload))`
//! where the payload is a small JSON document: the purpose (Pipedrive install or QuickBooks
//! connect), the company and user it was issued to, a random nonce, the expiry (epoch seconds,
//! [`STATE_TTL_SECS`] after issue) and the connect options the user confirmed (`replace`,
//! `confirm_new_realm`). The key is [`crate::app::AppCredentials::state_signing_key`].
//!
//! Verification recomputes the MAC and compares it in constant time (`subtle`) before it looks
//! at the payload; a tampered, truncated, expired or wrong-purpose state is a typed
//! [`StateError`]. Nothing is stored server-side: the state proves who started the flow, and the
//! provider refuses a replayed authorization code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use domain::SecretString;
use domain::{CompanyId, UserId};

/// How long a state stays valid (the user has this long to finish the consent page).
pub const STATE_TTL_SECS: i64 = 10 * 60;

/// Domain separation for the MAC (a state can never be confused with another signed value).
const MAC_CONTEXT: &[u8] = b"oauth-state.v1.";

/// Largest state we try to verify (anything longer is not ours).
const MAX_STATE_LEN: usize = 2048;

/// Which flow a state belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatePurpose {
    #[serde(rename = "pipedrive-install")]
    PipedriveInstall,
    #[serde(rename = "quickbooks-connect")]
    QuickBooksConnect,
}

/// What a state carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthState {
    #[serde(rename = "p")]
    pub purpose: StatePurpose,
    /// The company the flow was started for (`None` for an install started before we know it).
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<CompanyId>,
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(rename = "n")]
    pub nonce: String,
    /// Expiry, epoch seconds.
    #[serde(rename = "x")]
    pub expires_at: i64,
    /// QuickBooks connect: the caller (a Pipedrive admin) asked to replace an active connection.
    #[serde(rename = "r", default, skip_serializing_if = "std::ops::Not::not")]
    pub replace: bool,
    /// QuickBooks connect: the caller confirmed that the company may move to another QuickBooks
    /// company than the one its invoice links point at.
    #[serde(rename = "m", default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm_new_realm: bool,
}

impl OAuthState {
    /// A new state for `purpose`, valid for [`STATE_TTL_SECS`] from `now`.
    pub fn new(
        purpose: StatePurpose,
        company_id: Option<CompanyId>,
        user_id: Option<UserId>,
        now: DateTime<Utc>,
    ) -> Self {
        OAuthState {
            purpose,
            company_id,
            user_id,
            nonce: uuid::Uuid::new_v4().simple().to_string(),
            expires_at: now.timestamp() + STATE_TTL_SECS,
            replace: false,
            confirm_new_realm: false,
        }
    }

    /// A QuickBooks-connect state bound to a company and user.
    pub fn quickbooks_connect(company_id: CompanyId, user_id: UserId, now: DateTime<Utc>) -> Self {
        Self::new(
            StatePurpose::QuickBooksConnect,
            Some(company_id),
            Some(user_id),
            now,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the state is missing")]
    Missing,
    #[error("the state is malformed")]
    Malformed,
    #[error("the state's signature is not valid")]
    BadSignature,
    #[error("the state has expired")]
    Expired,
    #[error("the state belongs to another flow")]
    WrongPurpose,
}

/// Signs and verifies states with the app's state-signing key.
#[derive(Clone)]
pub struct StateSigner {
    key: SecretString,
}

impl std::fmt::Debug for StateSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateSigner(***)")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl StateSigner {
    pub fn new(key: &SecretString) -> Self {
        StateSigner { key: key.clone() }
    }

    fn mac(&self, payload: &str) -> [u8; 32] {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = match HmacSha256::new_from_slice(self.key.expose().as_bytes()) {
            Ok(mac) => mac,
            Err(_) => unreachable_hmac(),
        };
        mac.update(MAC_CONTEXT);
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The signed, URL-safe state string.
    pub fn sign(&self, state: &OAuthState) -> String {
        // Serialising a struct of strings, numbers and booleans cannot fail.
        let json = serde_json::to_vec(state).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(json);
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&payload));
        format!("{payload}.{signature}")
    }

    /// Verifies a state: signature first (constant time), then shape, expiry and purpose.
    pub fn verify(
        &self,
        raw: &str,
        purpose: StatePurpose,
        now: DateTime<Utc>,
    ) -> Result<OAuthState, StateError> {
        if raw.is_empty() {
            return Err(StateError::Missing);
        }
        if raw.len() > MAX_STATE_LEN {
            return Err(StateError::Malformed);
        }
        let (payload, signature) = raw.split_once('.').ok_or(StateError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| StateError::Malformed)?;
        let expected = self.mac(payload);
        if signature.len() != expected.len() || !bool::from(signature.ct_eq(&expected)) {
            return Err(StateError::BadSignature);
        }
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| StateError::Malformed)?;
        let state: OAuthState = serde_json::from_slice(&json).map_err(|_| StateError::Malformed)?;
        if now.timestamp() >= state.expires_at {
            return Err(StateError::Expired);
        }
        if state.purpose != purpose {
            return Err(StateError::WrongPurpose);
        }
        Ok(state)
    }
}

#[cold]
fn unreachable_hmac() -> ! {
    // `Hmac::new_from_slice` only fails for fixed-key-size MACs, never for HMAC.
    panic!("HMAC-SHA256 refused a key")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn signer() -> StateSigner {
        StateSigner::new(&SecretString::new("state-key-for-tests"))
    }

    fn connect_state() -> OAuthState {
        OAuthState::quickbooks_connect(CompanyId(1001), UserId(101), Utc::now())
    }

    #[test]
    fn a_signed_state_verifies_and_round_trips() {
        let mut state = connect_state();
        state.confirm_new_realm = true;
        let raw = signer().sign(&state);
        assert!(
            raw.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{raw}"
        );
        let back = signer()
            .verify(&raw, StatePurpose::QuickBooksConnect, Utc::now())
            .unwrap();
        assert_eq!(back, state);
        assert!(back.confirm_new_realm);
        assert!(!back.replace);
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(connect_state().nonce, connect_state().nonce);
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let raw = signer().sign(&connect_state());
        let (payload, signature) = raw.split_once('.').unwrap();
        let mut json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        json["c"] = serde_json::json!(2002);
        let forged = format!("{}.{signature}", URL_SAFE_NO_PAD.encode(json.to_string()));
        assert_eq!(
            signer().verify(&forged, StatePurpose::QuickBooksConnect, Utc::now()),
            Err(StateError::BadSignature)
        );
    }

    #[test]
    fn a_tampered_signature_is_refused() {
        let raw = signer().sign(&connect_state());
        let mut bytes = raw.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let raw = String::from_utf8(bytes).unwrap();
        assert_eq!(
            signer().verify(&raw, StatePurpose::QuickBooksConnect, Utc::now()),
            Err(StateError::BadSignature)
        );
    }

    #[test]
    fn another_key_is_refused() {
        let raw = StateSigner::new(&SecretString::new("another-key")).sign(&connect_state());
        assert_eq!(
            signer().verify(&raw, StatePurpose::QuickBooksConnect, Utc::now()),
            Err(StateError::BadSignature)
        );
    }

    #[test]
    fn an_expired_state_is_refused() {
        let raw = signer().sign(&connect_state());
        let later = Utc::now() + Duration::seconds(STATE_TTL_SECS + 1);
        assert_eq!(
            signer().verify(&raw, StatePurpose::QuickBooksConnect, later),
            Err(StateError::Expired)
        );
        let almost = Utc::now() + Duration::seconds(STATE_TTL_SECS - 30);
        assert!(
            signer()
                .verify(&raw, StatePurpose::QuickBooksConnect, almost)
                .is_ok()
        );
    }

    #[test]
    fn the_wrong_purpose_is_refused() {
        let raw = signer().sign(&connect_state());
        assert_eq!(
            signer().verify(&raw, StatePurpose::PipedriveInstall, Utc::now()),
            Err(StateError::WrongPurpose)
        );
    }

    #[test]
    fn garbage_is_malformed_or_unsigned_never_a_panic() {
        for raw in [
            "",
            ".",
            "abc",
            "abc.",
            ".abc",
            "a.b.c",
            "!!!.???",
            "eyJ9.AAAA",
        ] {
            assert!(
                signer()
                    .verify(raw, StatePurpose::QuickBooksConnect, Utc::now())
                    .is_err(),
                "{raw}"
            );
        }
        assert_eq!(
            signer().verify("", StatePurpose::QuickBooksConnect, Utc::now()),
            Err(StateError::Missing)
        );
        let huge = "a".repeat(MAX_STATE_LEN + 1);
        assert_eq!(
            signer().verify(&huge, StatePurpose::QuickBooksConnect, Utc::now()),
            Err(StateError::Malformed)
        );
    }

    #[test]
    fn a_validly_signed_non_state_payload_is_malformed() {
        let payload = URL_SAFE_NO_PAD.encode(b"{\"hello\":1}");
        let signature = URL_SAFE_NO_PAD.encode(signer().mac(&payload));
        assert_eq!(
            signer().verify(
                &format!("{payload}.{signature}"),
                StatePurpose::QuickBooksConnect,
                Utc::now()
            ),
            Err(StateError::Malformed)
        );
    }
}
