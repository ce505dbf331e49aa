//! The SQS implementation of [`JobQueue`] (Lambda): `SendMessageBatch` in groups of ten.

use async_trait::async_trait;

use super::{Job, JobQueue, QueueError, SQS_BATCH};

/// SQS: `SendMessageBatch` in groups of ten.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn send(&self, jobs: &[Job]) -> Result<(), QueueError> {
        for chunk in jobs.chunks(SQS_BATCH) {
            let mut request = self.client.send_message_batch().queue_url(&self.queue_url);
            for (i, job) in chunk.iter().enumerate() {
                let entry = aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .message_body(job.to_body()?)
                    .build()
                    .map_err(|e| QueueError::Send(e.to_string()))?;
                request = request.entries(entry);
            }
            let output = request.send().await.map_err(|e| {
                QueueError::Send(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
            })?;
            if let Some(failed) = output.failed().first() {
                return Err(QueueError::Send(format!(
                    "{} of {} messages refused (first: {} {})",
                    output.failed().len(),
                    chunk.len(),
                    failed.code(),
                    failed.message().unwrap_or("")
                )));
            }
        }
        Ok(())
    }
}
