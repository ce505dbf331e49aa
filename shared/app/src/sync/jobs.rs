//! The sync queue: what a job is, the [`JobQueue`] trait, the SQS implementation used on Lambda and
//! an in-process implementation with SQS semantics (receive count, redelivery of failed
//! messages, dead-letter after [`MAX_RECEIVES`]) used by tests and the local server.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde::{Deserialize, Serialize};

use domain::CompanyId;

/// Receives before a message goes to the dead-letter queue (the template's `maxReceiveCount`).
pub const MAX_RECEIVES: u32 = 5;

/// Largest SQS `SendMessageBatch`.
pub const SQS_BATCH: usize = 10;

/// One unit of work for the worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// The scheduled sync of one company: one CDC call since its watermark, then the overdue pass.
    Company { company_id: CompanyId },
    /// Targeted changes a webhook could not finish in time: re-read these invoices and payments
    /// of `realm_id` and update the links that point at them.
    Changes {
        realm_id: String,
        #[serde(default)]
        invoice_ids: Vec<String>,
        #[serde(default)]
        payment_ids: Vec<String>,
    },
    /// Estimates a webhook named that it could not finish in time: re-read them and update the
    /// links that point at them.
    Estimates {
        realm_id: String,
        estimate_ids: Vec<String>,
    },
}

impl Job {
    pub fn to_body(&self) -> Result<String, QueueError> {
        serde_json::to_string(self).map_err(|e| QueueError::Encode(e.to_string()))
    }

    pub fn from_body(body: &str) -> Result<Job, QueueError> {
        serde_json::from_str(body).map_err(|e| QueueError::Decode(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("a job could not be encoded: {0}")]
    Encode(String),
    #[error("a message is not a job: {0}")]
    Decode(String),
    #[error("the queue refused the message: {0}")]
    Send(String),
}

#[cfg(feature = "sqs")]
pub mod sqs;

/// Where jobs go.
#[async_trait]
pub trait JobQueue: Send + Sync + std::fmt::Debug {
    /// Sends the jobs (all or an error; a partial send is retried whole, jobs are idempotent).
    async fn send(&self, jobs: &[Job]) -> Result<(), QueueError>;
}

/// One message held by the [`InProcessQueue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: String,
    pub body: String,
    /// How often it was handed out so far.
    pub receives: u32,
}

#[derive(Debug, Default)]
struct Inner {
    visible: VecDeque<QueuedMessage>,
    in_flight: Vec<QueuedMessage>,
    dead: Vec<QueuedMessage>,
    sent: u64,
}

/// A queue in memory with the SQS behaviour the worker relies on: a received message is invisible
/// until it is deleted (success) or released (failure: visible again, `receives` counts up); after
/// [`MAX_RECEIVES`] receives a failed message moves to the dead letters.
#[derive(Debug, Default, Clone)]
pub struct InProcessQueue {
    inner: Arc<Mutex<Inner>>,
}

impl InProcessQueue {
    pub fn new() -> Self {
        InProcessQueue::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Receives up to `max` visible messages as an SQS event (what Lambda's event source would
    /// hand the worker), marking them in flight.
    pub fn receive(&self, max: usize) -> SqsEvent {
        let mut inner = self.lock();
        let mut event = SqsEvent::default();
        while event.records.len() < max {
            let Some(mut message) = inner.visible.pop_front() else {
                break;
            };
            message.receives += 1;
            let mut record = SqsMessage::default();
            record.message_id = Some(message.id.clone());
            record.receipt_handle = Some(format!("{}#{}", message.id, message.receives));
            record.body = Some(message.body.clone());
            record.event_source = Some("aws:sqs".into());
            record.attributes.insert(
                "ApproximateReceiveCount".into(),
                message.receives.to_string(),
            );
            event.records.push(record);
            inner.in_flight.push(message);
        }
        event
    }

    /// Settles a received batch: `failed` ids become visible again (or dead after
    /// [`MAX_RECEIVES`]), every other in-flight message of the batch is deleted.
    pub fn settle(&self, event: &SqsEvent, failed: &[String]) {
        let mut inner = self.lock();
        for record in &event.records {
            let Some(id) = record.message_id.as_deref() else {
                continue;
            };
            let Some(pos) = inner.in_flight.iter().position(|m| m.id == id) else {
                continue;
            };
            let message = inner.in_flight.remove(pos);
            if failed.iter().any(|f| f == id) {
                if message.receives >= MAX_RECEIVES {
                    inner.dead.push(message);
                } else {
                    inner.visible.push_back(message);
                }
            }
        }
    }

    /// Messages waiting (visible) now.
    pub fn visible_len(&self) -> usize {
        self.lock().visible.len()
    }

    /// Messages visible or in flight.
    pub fn len(&self) -> usize {
        let inner = self.lock();
        inner.visible.len() + inner.in_flight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The visible messages' jobs (undecodable bodies are skipped).
    pub fn pending_jobs(&self) -> Vec<Job> {
        self.lock()
            .visible
            .iter()
            .filter_map(|m| Job::from_body(&m.body).ok())
            .collect()
    }

    /// Messages that failed [`MAX_RECEIVES`] times (the DLQ).
    pub fn dead_letters(&self) -> Vec<QueuedMessage> {
        self.lock().dead.clone()
    }

    /// How many messages were ever sent.
    pub fn sent_count(&self) -> u64 {
        self.lock().sent
    }
}

#[async_trait]
impl JobQueue for InProcessQueue {
    async fn send(&self, jobs: &[Job]) -> Result<(), QueueError> {
        let bodies = jobs
            .iter()
            .map(Job::to_body)
            .collect::<Result<Vec<_>, _>>()?;
        let mut inner = self.lock();
        for body in bodies {
            inner.sent += 1;
            let id = format!("msg-{}", uuid::Uuid::new_v4().simple());
            inner.visible.push_back(QueuedMessage {
                id,
                body,
                receives: 0,
            });
        }
        Ok(())
    }
}

/// The queue of this process for the local server (its webhook route and `POST /_local/sync`
/// share it).
pub fn local_queue() -> &'static InProcessQueue {
    static QUEUE: OnceLock<InProcessQueue> = OnceLock::new();
    QUEUE.get_or_init(InProcessQueue::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failed_messages_come_back_and_die_after_max_receives() {
        let queue = InProcessQueue::new();
        let job = Job::Company {
            company_id: CompanyId(7),
        };
        queue.send(std::slice::from_ref(&job)).await.unwrap();
        for round in 1..=MAX_RECEIVES {
            let event = queue.receive(10);
            assert_eq!(event.records.len(), 1, "round {round}");
            let record = &event.records[0];
            assert_eq!(
                record.attributes["ApproximateReceiveCount"],
                round.to_string()
            );
            assert_eq!(
                Job::from_body(record.body.as_deref().unwrap()).unwrap(),
                job
            );
            assert_eq!(queue.receive(10).records.len(), 0, "in flight is invisible");
            queue.settle(&event, &[record.message_id.clone().unwrap()]);
        }
        assert!(queue.is_empty());
        assert_eq!(queue.dead_letters().len(), 1);
    }

    #[tokio::test]
    async fn settled_messages_are_deleted() {
        let queue = InProcessQueue::new();
        let jobs: Vec<Job> = (1..=3)
            .map(|c| Job::Company {
                company_id: CompanyId(c),
            })
            .collect();
        queue.send(&jobs).await.unwrap();
        let event = queue.receive(2);
        assert_eq!(event.records.len(), 2);
        queue.settle(&event, &[]);
        assert_eq!(queue.len(), 1);
        assert!(queue.dead_letters().is_empty());
    }

    #[test]
    fn job_bodies_round_trip() {
        let job = Job::Changes {
            realm_id: "9341".into(),
            invoice_ids: vec!["130".into()],
            payment_ids: vec![],
        };
        let body = job.to_body().unwrap();
        assert!(body.contains(r#""kind":"changes""#), "{body}");
        assert_eq!(Job::from_body(&body).unwrap(), job);
        assert!(Job::from_body("{}").is_err());
    }
}
