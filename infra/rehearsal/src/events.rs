//! The event sources the template declares, run as AWS runs them:
//! - a schedule (`AWS::Scheduler::Schedule`) delivers its target's `Input` verbatim;
//! - an SQS event source mapping polls its queue **with the function's role** (Lambda's poller
//!   does: that is why the role needs `sqs:ReceiveMessage`, `sqs:DeleteMessage`,
//!   `sqs:GetQueueAttributes`), hands batches of at most `BatchSize` records to the function,
//!   deletes what succeeded and — only with `ReportBatchItemFailures` — leaves the reported
//!   failures on the queue (without it, an answer that lists failures still counts as success and
//!   every message is deleted; an error answer leaves the whole batch). The queue's own redrive
//!   policy moves a message to its dead-letter queue after `maxReceiveCount` receives (moto
//!   implements it).
//!
//! One liberty with time: a failed message is visible again only after the queue's visibility
//! timeout (360 s here); the rehearsal does not wait for it — after a batch it makes the failed
//! messages visible at once (`ChangeMessageVisibility` 0, as the administrator, not as the
//! function), which is what the passing of the timeout does.

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use emulation::runtime_api::Answer;
use serde_json::{Value, json};

use crate::lambda::FunctionService;
use crate::record::Record;
use crate::wiring::{Queue, QueueMapping, Schedule};

/// An SQS client signed with `credentials`.
pub fn sqs_client(
    endpoint: &str,
    region: &str,
    credentials: &crate::deploy::Credentials,
) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&credentials.sdk_config(endpoint, region))
}

/// Delivers a schedule's event; answers the function's answer.
pub async fn tick(
    schedule: &Schedule,
    service: &FunctionService,
    record: &Record,
) -> Result<Value, String> {
    record.event(&format!("schedule {}", schedule.logical), 1);
    record.invocation(&schedule.function);
    match service.invoke(schedule.input.as_bytes()).await {
        Ok(Answer::Response(body)) => serde_json::from_slice(&body)
            .map_err(|e| format!("{}: answer not JSON: {e}", schedule.function)),
        Ok(Answer::Error(body)) => Err(format!(
            "{}: function error {}",
            schedule.function,
            String::from_utf8_lossy(&body)
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// What one drain of a queue did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drained {
    pub batches: usize,
    pub messages: usize,
    pub failed: usize,
}

/// The SQS event source of one mapping.
pub struct Poller<'a> {
    pub mapping: &'a QueueMapping,
    pub queue: &'a Queue,
    pub queue_url: String,
    pub region: String,
    /// Signed with the function's role: what Lambda's poller uses.
    pub as_function: aws_sdk_sqs::Client,
    /// Signed with the rehearsal's administrator: the clock.
    pub as_clock: aws_sdk_sqs::Client,
}

impl Poller<'_> {
    /// What Lambda checks when the mapping is created: the queue exists and its visibility
    /// timeout is at least the function's timeout (AWS refuses the mapping otherwise).
    pub async fn check_queue(&self, function_timeout_s: u64) -> Result<u64, String> {
        let attributes = self
            .as_function
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "{}: GetQueueAttributes: {}",
                    self.mapping.function,
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            })?;
        let visibility: u64 = attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::VisibilityTimeout))
            .and_then(|v| v.parse().ok())
            .ok_or("the queue has no VisibilityTimeout")?;
        if visibility != self.queue.visibility_timeout {
            return Err(format!(
                "queue visibility timeout {visibility} s, the template says {}",
                self.queue.visibility_timeout
            ));
        }
        if visibility < function_timeout_s {
            return Err(format!(
                "{}: the queue's visibility timeout ({visibility} s) is shorter than the function's timeout ({function_timeout_s} s); AWS refuses such a mapping",
                self.mapping.logical
            ));
        }
        Ok(visibility)
    }

    /// Receives and delivers batches until the queue has nothing visible; failed messages are
    /// made visible again for the next drain.
    pub async fn drain(
        &self,
        service: &FunctionService,
        record: &Record,
    ) -> Result<Drained, String> {
        let mut drained = Drained::default();
        let mut failed_handles = Vec::new();
        loop {
            let messages = self.receive().await?;
            if messages.is_empty() {
                break;
            }
            drained.batches += 1;
            drained.messages += messages.len();
            record.event("sqs batch", 1);
            record.event("sqs message", messages.len());
            record.invocation(&self.mapping.function);
            let event = self.event(&messages);
            let failed_ids = match service.invoke(event.to_string().as_bytes()).await {
                Ok(Answer::Response(body)) => self.failures_in(&body, &messages)?,
                Ok(Answer::Error(body)) => {
                    record.failure(format!(
                        "{}: SQS batch answered with a function error {}",
                        self.mapping.function,
                        String::from_utf8_lossy(&body)
                    ));
                    messages
                        .iter()
                        .filter_map(|m| m.message_id().map(str::to_string))
                        .collect()
                }
                Err(e) => return Err(e.to_string()),
            };
            for m in &messages {
                let handle = m.receipt_handle().unwrap_or_default().to_string();
                if failed_ids
                    .iter()
                    .any(|f| Some(f.as_str()) == m.message_id())
                {
                    drained.failed += 1;
                    failed_handles.push(handle);
                } else {
                    self.delete(handle).await?;
                }
            }
        }
        for handle in failed_handles {
            self.visible_again(handle).await?;
        }
        Ok(drained)
    }

    /// One receive, as the function's role: up to `BatchSize` messages.
    async fn receive(&self) -> Result<Vec<aws_sdk_sqs::types::Message>, String> {
        let received = self
            .as_function
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.mapping.batch_size.clamp(1, 10) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| self.sqs_error("ReceiveMessage", e))?;
        Ok(received.messages().to_vec())
    }

    /// A processed message leaves the queue (as the function's role).
    async fn delete(&self, handle: String) -> Result<(), String> {
        self.as_function
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(handle)
            .send()
            .await
            .map_err(|e| self.sqs_error("DeleteMessage", e))?;
        Ok(())
    }

    /// The clock: a failed message's visibility timeout has passed.
    async fn visible_again(&self, handle: String) -> Result<(), String> {
        self.as_clock
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| self.sqs_error("ChangeMessageVisibility (the clock)", e))?;
        Ok(())
    }

    fn sqs_error<E: std::error::Error + 'static>(&self, what: &str, e: E) -> String {
        format!(
            "{}: {what}: {}",
            self.mapping.function,
            aws_sdk_sqs::error::DisplayErrorContext(e)
        )
    }

    /// The ids to leave on the queue, from a successful answer.
    fn failures_in(
        &self,
        body: &[u8],
        messages: &[aws_sdk_sqs::types::Message],
    ) -> Result<Vec<String>, String> {
        let answer: Value = serde_json::from_slice(body)
            .map_err(|e| format!("{}: answer not JSON: {e}", self.mapping.function))?;
        if !self.mapping.report_batch_item_failures {
            // Lambda ignores the list: the batch succeeded.
            return Ok(Vec::new());
        }
        let mut ids = Vec::new();
        for failure in answer["batchItemFailures"].as_array().into_iter().flatten() {
            let id = failure["itemIdentifier"].as_str().unwrap_or_default();
            if !messages.iter().any(|m| m.message_id() == Some(id)) {
                // Lambda treats an unknown or empty identifier as a failure of the whole batch.
                return Ok(messages
                    .iter()
                    .filter_map(|m| m.message_id().map(str::to_string))
                    .collect());
            }
            ids.push(id.to_string());
        }
        Ok(ids)
    }

    /// The SQS event Lambda builds from received messages.
    fn event(&self, messages: &[aws_sdk_sqs::types::Message]) -> Value {
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_string(), json!(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body().unwrap_or_default(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue.arn,
                    "awsRegion": self.region
                })
            })
            .collect();
        json!({ "Records": records })
    }
}
