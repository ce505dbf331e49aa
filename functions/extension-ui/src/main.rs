//! Lambda entry point of the `extension-ui` function: read the configuration once, serve the
//! router.

use shared::config::Env;

// One thread: Lambda gives an instance one event at a time, and 256 MB buys a fraction of a
// vCPU; a single-threaded runtime starts faster and keeps less memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::web::telemetry::init();
    let config = extension_ui::PagesConfig::from_env(&Env::from_process()).await?;
    lambda_http::run(shared::web::http::finish(extension_ui::router(config))).await
}
