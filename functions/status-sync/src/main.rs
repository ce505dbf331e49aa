//! Lambda entry point of the `status-sync` function. One binary for both triggers:
//! an SQS event (`Records[].eventSource == "aws:sqs"`) runs the worker and answers
//! `batchItemFailures`; anything else is the EventBridge Scheduler's tick and enqueues one job per
//! connected company on `SYNC_QUEUE_URL`.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use shared::app::App;
use shared::config::Env;
use status_sync::queue::SqsQueue;
use status_sync::worker::{handle_batch, schedule};

fn is_sqs(event: &Value) -> bool {
    event
        .get("Records")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str)
        == Some("aws:sqs")
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let env = Env::from_process();
    let queue_url = env.required("SYNC_QUEUE_URL")?;
    let app = App::from_env(&env).await?;
    let sdk = aws_config::load_from_env().await;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), queue_url);
    let app = &app;
    let queue = &queue;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let payload = event.payload;
        if is_sqs(&payload) {
            let batch: SqsEvent = serde_json::from_value(payload)?;
            let response = handle_batch(app, &batch, chrono::Utc::now()).await;
            Ok::<Value, lambda_runtime::Error>(serde_json::to_value(response)?)
        } else {
            let enqueued = schedule(app, queue).await?;
            Ok(json!({ "enqueued": enqueued }))
        }
    }))
    .await
}
