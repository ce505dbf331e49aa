//! The two entry points of the `status-sync` Lambda and the in-process driver.
//!
//! - [`schedule`]: EventBridge Scheduler fired; page through the connected companies
//!   ([`Records::connected_companies`](shared::store::records::Records::connected_companies)) and
//!   enqueue one [`Job::Company`] each.
//! - [`handle_batch`]: an SQS batch; run each job (a few at a time) and answer the failed
//!   message ids as `batchItemFailures`, so only those come back (after the visibility timeout,
//!   ≥ 60 s: that is the back-off for throttling, the job never spins) and, after
//!   [`MAX_RECEIVES`](shared::app::sync::jobs::MAX_RECEIVES) receives, go to the dead-letter queue.
//! - [`drain_once`]: the "SQS-shaped driver" for tests and the local server: hands the messages
//!   of an [`InProcessQueue`] to [`handle_batch`] in SQS events and settles them the way Lambda's
//!   event source does (delete the successes, release the failures).

use std::collections::BTreeSet;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;

use shared::app::App;
use shared::store::{PageRequest, StoreError};

use crate::company::{CompanyOutcome, sync_company};
use shared::app::sync::changes::SyncError;
use shared::app::sync::estimates::apply_estimate_changes;
use shared::app::sync::jobs::{InProcessQueue, Job, JobQueue, QueueError};
use shared::app::sync::targeted::apply_changes;

/// Jobs of one batch run at the same time (each is one company: at most one QuickBooks call in
/// flight per company, far below QuickBooks' 10 concurrent requests per realm).
pub const BATCH_CONCURRENCY: usize = 4;

/// Companies read per page while scheduling.
pub const SCHEDULE_PAGE: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Enqueues one job per connected company; answers how many.
pub async fn schedule(app: &App, queue: &dyn JobQueue) -> Result<usize, ScheduleError> {
    let mut cursor: Option<String> = None;
    let mut count = 0;
    loop {
        let (companies, next) = app
            .records
            .connected_companies(PageRequest::after(SCHEDULE_PAGE, cursor.as_deref()))
            .await?;
        let jobs: Vec<Job> = companies
            .into_iter()
            .map(|company_id| Job::Company { company_id })
            .collect();
        queue.send(&jobs).await?;
        count += jobs.len();
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    tracing::info!(jobs = count, "status sync scheduled");
    Ok(count)
}

/// What one job did (for logs and tests).
#[derive(Debug)]
pub enum JobReport {
    Company(CompanyOutcome),
    Changes {
        links_written: usize,
        companies: usize,
    },
}

/// Runs one job at `now`.
pub async fn run_job(app: &App, job: &Job, now: DateTime<Utc>) -> Result<JobReport, SyncError> {
    match job {
        Job::Company { company_id } => Ok(JobReport::Company(
            sync_company(app, *company_id, now).await?,
        )),
        Job::Changes {
            realm_id,
            invoice_ids,
            payment_ids,
        } => {
            let invoices: BTreeSet<String> = invoice_ids.iter().cloned().collect();
            let payments: BTreeSet<String> = payment_ids.iter().cloned().collect();
            let mut outcome = apply_changes(app, realm_id, &invoices, &payments, now).await?;
            if let Some((_, error)) = outcome.failures.pop() {
                return Err(error);
            }
            Ok(JobReport::Changes {
                links_written: outcome.applied.changed,
                companies: outcome.companies,
            })
        }
        Job::Estimates {
            realm_id,
            estimate_ids,
        } => {
            let ids: BTreeSet<String> = estimate_ids.iter().cloned().collect();
            let mut outcome = apply_estimate_changes(app, realm_id, &ids, now).await?;
            if let Some((_, error)) = outcome.failures.pop() {
                return Err(error);
            }
            Ok(JobReport::Changes {
                links_written: outcome.changed,
                companies: 0,
            })
        }
    }
}

/// Handles one SQS batch at `now`; the answer lists the messages to retry.
pub async fn handle_batch(app: &App, event: &SqsEvent, now: DateTime<Utc>) -> SqsBatchResponse {
    let runs: Vec<_> = event
        .records
        .iter()
        .map(|record| run_record(app, record, now))
        .collect();
    let results: Vec<Option<String>> = futures::stream::iter(runs)
        .buffer_unordered(BATCH_CONCURRENCY)
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    for id in results.into_iter().flatten() {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

/// Runs one message's job; answers its id when it failed.
async fn run_record(app: &App, record: &SqsMessage, now: DateTime<Utc>) -> Option<String> {
    let id = record.message_id.clone().unwrap_or_default();
    let receives = record
        .attributes
        .get("ApproximateReceiveCount")
        .cloned()
        .unwrap_or_default();
    let job = match Job::from_body(record.body.as_deref().unwrap_or("")) {
        Ok(job) => job,
        Err(error) => {
            tracing::error!(message_id = %id, %error, "not a sync job; it will go to the DLQ");
            return Some(id);
        }
    };
    match run_job(app, &job, now).await {
        Ok(report) => {
            tracing::info!(message_id = %id, ?report, "sync job done");
            None
        }
        Err(error) => {
            tracing::warn!(message_id = %id, receives = %receives, ?job, %error, "sync job failed; it will be retried");
            Some(id)
        }
    }
}

/// Why a Lambda invocation failed (the scheduler retries it).
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the SQS event could not be read: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
}

/// Whether a Lambda event is an SQS batch (`Records[].eventSource == "aws:sqs"`).
pub fn is_sqs_event(event: &serde_json::Value) -> bool {
    event
        .get("Records")
        .and_then(serde_json::Value::as_array)
        .and_then(|r| r.first())
        .and_then(|r| r.get("eventSource"))
        .and_then(serde_json::Value::as_str)
        == Some("aws:sqs")
}

/// The Lambda handler of both triggers: an SQS batch runs the worker and answers
/// `{"batchItemFailures": [...]}`; anything else (the EventBridge Scheduler's input) schedules
/// and answers `{"enqueued": n}`.
pub async fn handle_event(
    app: &App,
    queue: &dyn JobQueue,
    event: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, EventError> {
    if is_sqs_event(&event) {
        let batch: SqsEvent = serde_json::from_value(event)?;
        let response = handle_batch(app, &batch, now).await;
        Ok(serde_json::to_value(response)?)
    } else {
        let enqueued = schedule(app, queue).await?;
        Ok(serde_json::json!({ "enqueued": enqueued }))
    }
}

/// What [`drain_once`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DrainReport {
    /// Messages handed to the worker.
    pub processed: usize,
    /// Of those, how many failed (visible again, or dead).
    pub failed: usize,
    /// SQS batches delivered.
    pub batches: usize,
}

/// Delivers every message visible now, once, in SQS batches of `batch_size`, to
/// [`handle_batch`], and settles each batch like Lambda's SQS event source: successes deleted,
/// `batchItemFailures` released (visible again for the next drain, or dead after the last
/// receive).
pub async fn drain_once(
    app: &App,
    queue: &InProcessQueue,
    batch_size: usize,
    now: DateTime<Utc>,
) -> DrainReport {
    let mut report = DrainReport::default();
    let mut remaining = queue.visible_len();
    while remaining > 0 {
        let event = queue.receive(batch_size.clamp(1, 10).min(remaining));
        if event.records.is_empty() {
            break;
        }
        remaining -= event.records.len();
        let response = handle_batch(app, &event, now).await;
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        report.batches += 1;
        report.processed += event.records.len();
        report.failed += failed.len();
        queue.settle(&event, &failed);
    }
    report
}
