//! Lambda entry point of the `invoice-rules` function: the EventBridge Scheduler's tick applies
//! every connected company's invoicing rules ([`invoice_create::rules::run_scheduled`]). The
//! state is built once per instance.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::app::App;
use shared::config::Env;

// One thread: Lambda gives an instance one event at a time, and 256 MB buys a fraction of a
// vCPU; a single-threaded runtime starts faster and keeps less memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::web::telemetry::init();
    let app = App::from_env(&Env::from_process()).await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |_tick: LambdaEvent<Value>| async move {
        let report = invoice_create::rules::run_scheduled(app).await?;
        Ok::<_, lambda_runtime::Error>(serde_json::to_value(report)?)
    }))
    .await
}
