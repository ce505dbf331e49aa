//! Lambda entry point of the `status-sync` function. One binary for both triggers
//! ([`status_sync::worker::handle_event`]): an SQS event runs the worker and answers
//! `batchItemFailures`; anything else is the EventBridge Scheduler's tick and enqueues one job per
//! connected company on `SYNC_QUEUE_URL`.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::app::App;
use shared::app::sync::jobs::sqs::SqsQueue;
use shared::config::Env;
use status_sync::worker::handle_event;

// One thread: Lambda gives an instance one event at a time, and 256 MB buys a fraction of a
// vCPU; a single-threaded runtime starts faster and keeps less memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::web::telemetry::init();
    let env = Env::from_process();
    let queue_url = env.required("SYNC_QUEUE_URL")?;
    let app = App::from_env(&env).await?;
    let sdk = app.aws_sdk_config(&env)?;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), queue_url);
    let app = &app;
    let queue = &queue;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle_event(app, queue, event.payload, app.clock.now())
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
