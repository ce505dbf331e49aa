//! `Idempotency-Key` handling: the key is recorded first (one conditional write); the same key
//! with the same body gets the stored answer (waiting a bounded time while the first request is
//! still running), the same key with another body is refused (422), and a key whose request is
//! still running past the wait is a 409. QuickBooks' own `requestid` is derived from the key and
//! an attempt number, so a retry after a crash replays the invoice QuickBooks already created,
//! while a retry after a definitive QuickBooks refusal (which QuickBooks would otherwise replay
//! too) uses the next attempt number.

use std::time::Duration as StdDuration;

use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::domain::{Clock, CompanyId, IdempotencyRecord, IdempotencyState};
use shared::store::StoreError;
use shared::store::records::{IdempotencyBegin, Records};
use shared::web::error::{ApiError, FieldError};

/// The request header.
pub const KEY_HEADER: &str = "idempotency-key";
/// How long a request holds its key before a retry may take over (longer than a create takes).
pub const LEASE: Duration = Duration::seconds(30);
/// How long a stored answer is replayed.
pub const RETENTION: Duration = Duration::hours(24);
/// How long a second request with the same key waits for the first one's answer.
pub const WAIT: StdDuration = StdDuration::from_secs(15);
const POLL: StdDuration = StdDuration::from_millis(50);

/// The `Idempotency-Key` header: 1–100 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap, required: bool) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get(KEY_HEADER) else {
        return if required {
            Err(ApiError::bad_request(
                "Send an Idempotency-Key header (a new UUID per invoice you create; the same one when you retry).",
            ))
        } else {
            Ok(None)
        };
    };
    let key = raw.to_str().unwrap_or("").trim();
    if key.is_empty() || key.len() > 100 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "The Idempotency-Key header must be 1 to 100 visible ASCII characters (a UUID is best).",
        ));
    }
    Ok(Some(key.to_string()))
}

/// sha256 of the canonical JSON (object keys sorted).
pub fn body_hash(value: &Value) -> String {
    hex::encode(Sha256::digest(
        serde_json::to_vec(value).unwrap_or_default(),
    ))
}

/// QuickBooks `requestid` for `key`: a UUID-shaped digest of the company, the kind of request,
/// the key and the attempt (36 characters: fits QuickBooks' 50, and batch's 36).
pub fn derived_request_id(company: CompanyId, scope: &str, key: &str, attempt: u32) -> String {
    let digest = Sha256::digest(format!("{company}\n{scope}\n{key}\n{attempt}").as_bytes());
    let h = hex::encode(&digest[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// What to do with a request.
#[derive(Debug)]
pub enum Claim {
    /// We hold the key: run the request.
    Run(IdempotencyRecord),
    /// The request ran before: answer this.
    Replay(StatusCode, Value),
}

fn fresh(company: CompanyId, key: &str, hash: &str, now: DateTime<Utc>) -> IdempotencyRecord {
    IdempotencyRecord {
        company_id: company,
        key: key.to_string(),
        request_hash: hash.to_string(),
        state: IdempotencyState::InProgress { until: now + LEASE },
        progress: json!({"attempt": 0}),
        created_at: now,
        expires_at: now + RETENTION,
        version: 0,
    }
}

fn mismatch() -> ApiError {
    ApiError::unprocessable(vec![FieldError::new(
        "Idempotency-Key",
        "This Idempotency-Key was already used for a different request. Use a new key for a new invoice.",
    )])
}

fn busy() -> ApiError {
    ApiError::refused(
        shared::web::error::Refusal::InProgress,
        "A request with this Idempotency-Key is still being processed. Try again in a moment.",
    )
}

/// The attempt number a held record is on.
pub fn attempt_of(record: &IdempotencyRecord) -> u32 {
    record
        .progress
        .get("attempt")
        .and_then(Value::as_u64)
        .and_then(|a| u32::try_from(a).ok())
        .unwrap_or(0)
}

/// Claims `key` for a request whose canonical body hashes to `hash`.
pub async fn claim(
    records: &Records,
    clock: &Clock,
    company: CompanyId,
    key: &str,
    hash: &str,
) -> Result<Claim, ApiError> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut known: Option<IdempotencyRecord> = None;
    loop {
        let now = clock.now();
        let existing = match known.take() {
            Some(record) => record,
            None => match records
                .begin_idempotent(&fresh(company, key, hash, now), now)
                .await?
            {
                IdempotencyBegin::Started(record) => return Ok(Claim::Run(record)),
                IdempotencyBegin::Existing(record) => record,
            },
        };
        if existing.request_hash != hash {
            return Err(mismatch());
        }
        match &existing.state {
            IdempotencyState::Complete { status, body } => {
                let status =
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return Ok(Claim::Replay(status, body.clone()));
            }
            IdempotencyState::InProgress { until } if *until <= now => {
                let mut taken = existing.clone();
                taken.state = IdempotencyState::InProgress { until: now + LEASE };
                match records.take_over_idempotency(&taken).await {
                    Ok(record) => return Ok(Claim::Run(record)),
                    Err(StoreError::Conflict { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            IdempotencyState::InProgress { .. } => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(busy());
                }
                tokio::time::sleep(POLL).await;
            }
        }
        // Look again (a read, not a write): it may have finished, been released or taken over.
        known = records.get_idempotency(company, key).await?;
    }
}

/// Stores the answer: every later request with the key gets it.
pub async fn complete(
    records: &Records,
    mut record: IdempotencyRecord,
    status: StatusCode,
    body: &Value,
) {
    record.state = IdempotencyState::Complete {
        status: status.as_u16(),
        body: body.clone(),
    };
    if let Err(error) = records.save_idempotency(&record).await {
        // The work is done and linked; a retry finds the link and answers the same.
        tracing::error!(%error, key = record.key.as_str(), "could not store the idempotent answer");
    }
}

/// The request failed: free the key for a retry at `attempt` (kept, so that QuickBooks'
/// `requestid` of an attempt whose outcome is unknown is reused).
pub async fn release_for_retry(
    records: &Records,
    clock: &Clock,
    mut record: IdempotencyRecord,
    attempt: u32,
) {
    record.state = IdempotencyState::InProgress {
        until: clock.now() - Duration::seconds(1),
    };
    record.progress = json!({"attempt": attempt});
    if let Err(error) = records.save_idempotency(&record).await {
        tracing::warn!(%error, key = record.key.as_str(), "could not release the idempotency key; it frees itself when its lease ends");
    }
}

/// The request failed before anything was sent anywhere: forget the key.
pub async fn forget(records: &Records, record: &IdempotencyRecord) {
    if let Err(error) = records.release_idempotency(record).await {
        tracing::warn!(%error, key = record.key.as_str(), "could not release the idempotency key; it frees itself when its lease ends");
    }
}
