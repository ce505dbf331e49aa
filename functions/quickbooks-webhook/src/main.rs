//! Lambda entry point of the `quickbooks-webhook` function: build the state once, serve the
//! router; work that does not fit the 3-second answer goes to the sync queue (`SYNC_QUEUE_URL`).

use std::sync::Arc;

use shared::app::App;
use shared::app::sync::jobs::sqs::SqsQueue;
use shared::config::Env;

// One thread: Lambda gives an instance one event at a time, and 256 MB buys a fraction of a
// vCPU; a single-threaded runtime starts faster and keeps less memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::web::telemetry::init();
    let env = Env::from_process();
    let queue_url = env.required("SYNC_QUEUE_URL")?;
    let app = App::from_env(&env).await?;
    let sdk = app.aws_sdk_config(&env)?;
    let queue = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), queue_url));
    lambda_http::run(shared::web::http::finish(quickbooks_webhook::router_with(
        app,
        queue,
        quickbooks_webhook::WORK_BUDGET,
    )))
    .await
}
