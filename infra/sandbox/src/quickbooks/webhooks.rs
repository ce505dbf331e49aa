//! Webhook delivery: queued changes are sent in one signed POST per flush, in the legacy
//! `eventNotifications` format (one notification per realm) or as a CloudEvents array.
//! A failed delivery (transport error or non-2xx) is re-queued, up to three attempts per event.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use shared::wire::quickbooks::webhook::{
    CloudEvent, DataChangeEvent, EventNotification, LegacyEntity, LegacyPayload, SIGNATURE_HEADER,
    sign,
};

use super::config::WebhookFormat;
use super::{Inner, PendingEvent};
use crate::harness::lock;

/// Attempts per event before it is dropped.
pub const MAX_ATTEMPTS: u32 = 3;

/// One POST the simulator made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub at: DateTime<Utc>,
    pub url: String,
    pub format: WebhookFormat,
    /// The exact bytes sent (UTF-8 JSON).
    pub body: String,
    /// The `intuit-signature` header sent.
    pub signature: String,
    /// HTTP status of the receiver's answer (None on a transport error).
    pub status: Option<u16>,
    pub error: Option<String>,
    pub events: usize,
}

fn legacy_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The legacy body: one `eventNotification` per realm, in first-seen order.
pub fn legacy_body(events: &[PendingEvent]) -> String {
    let mut notifications: Vec<EventNotification> = Vec::new();
    for e in events {
        let entity = LegacyEntity {
            name: e.entity.to_string(),
            id: e.id.clone(),
            operation: e.operation.legacy_name().to_string(),
            last_updated: Some(legacy_time(e.at)),
            deleted_id: None,
        };
        match notifications.iter_mut().find(|n| n.realm_id == e.realm_id) {
            Some(n) => n.data_change_event.entities.push(entity),
            None => notifications.push(EventNotification {
                realm_id: e.realm_id.clone(),
                data_change_event: DataChangeEvent {
                    entities: vec![entity],
                },
            }),
        }
    }
    serde_json::to_string(&LegacyPayload {
        event_notifications: notifications,
    })
    .unwrap_or_default()
}

/// The CloudEvents body: one event per change.
pub fn cloud_events_body(events: &[PendingEvent]) -> String {
    let list: Vec<CloudEvent> = events
        .iter()
        .map(|e| CloudEvent {
            specversion: "1.0".into(),
            id: uuid::Uuid::new_v4().to_string(),
            source: "intuit.sandbox-simulator".into(),
            r#type: format!(
                "qbo.{}.{}.v1",
                e.entity.to_ascii_lowercase(),
                e.operation.cloud_event_verb()
            ),
            datacontenttype: Some("application/json".into()),
            time: Some(e.at.to_rfc3339_opts(SecondsFormat::Nanos, true)),
            intuitentityid: e.id.clone(),
            intuitaccountid: e.realm_id.clone(),
            data: Some(serde_json::json!({})),
        })
        .collect();
    serde_json::to_string(&list).unwrap_or_default()
}

/// Sends everything queued in one POST (nothing when the queue is empty or no URL is set).
pub async fn flush(inner: &Arc<Inner>) -> Vec<WebhookDelivery> {
    let _one_at_a_time = inner.flush_lock.lock().await;
    let (events, config) = {
        let mut st = lock(&inner.state);
        if st.webhook.url.is_none() || st.pending.is_empty() {
            return Vec::new();
        }
        (std::mem::take(&mut st.pending), st.webhook.clone())
    };
    let Some(url) = config.url.clone() else {
        return Vec::new();
    };
    let body = match config.format {
        WebhookFormat::Legacy => legacy_body(&events),
        WebhookFormat::CloudEvents => cloud_events_body(&events),
    };
    let signature = sign(&config.verifier_token, body.as_bytes());
    let result = inner
        .http
        .post(&url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, &signature)
        .body(body.clone())
        .send()
        .await;
    let (status, error) = match result {
        Ok(r) => (Some(r.status().as_u16()), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let delivered = status.is_some_and(|s| (200..300).contains(&s));
    let delivery = WebhookDelivery {
        at: inner.now(),
        url,
        format: config.format,
        body,
        signature,
        status,
        error,
        events: events.len(),
    };
    let mut st = lock(&inner.state);
    if !delivered {
        let retry: Vec<PendingEvent> = events
            .into_iter()
            .map(|mut e| {
                e.attempts += 1;
                e
            })
            .filter(|e| e.attempts < MAX_ATTEMPTS)
            .collect();
        let later = std::mem::take(&mut st.pending);
        st.pending = retry.into_iter().chain(later).collect();
    }
    st.deliveries.push(delivery.clone());
    vec![delivery]
}
