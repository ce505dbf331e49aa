//! The cold-start baseline: a hello-world `lambda_runtime` function, built with the workspace's
//! release profile and run like every function (one thread: `current_thread`, as each
//! function's main.rs), so `bench coldstart` can report ours as ratios of it.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn hello(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({ "statusCode": 200, "body": "hello", "requestId": event.context.request_id }))
}

// As every function: Lambda gives an instance one event at a time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(hello)).await
}
