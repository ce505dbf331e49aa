//! What the unit tests of every file here share: a fixed "now", a state signer, a connection.

use chrono::{DateTime, TimeZone, Utc};
use shared::domain::{
    ConnectionState, QuickBooksConnection, QuickBooksEnvironment, SecretString, UserId,
};
use shared::web::auth::state::StateSigner;

pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 30, 0).unwrap()
}

pub(crate) fn signer() -> StateSigner {
    StateSigner::new(&SecretString::new("state-key-for-unit-tests".to_string()))
}

/// A sandbox connection to realm `9130` in `state`, made by user `by` at [`now`].
pub(crate) fn connection(state: ConnectionState, by: u64) -> QuickBooksConnection {
    QuickBooksConnection {
        realm_id: "9130".into(),
        environment: QuickBooksEnvironment::Sandbox,
        state,
        connected_by: UserId(by),
        connected_at: now(),
        reason: None,
    }
}
