//! Lambda entry point of the `settings` function: build the state once, serve the router.

use shared::app::App;
use shared::config::Env;

// One thread: Lambda gives an instance one event at a time, and 256 MB buys a fraction of a
// vCPU; a single-threaded runtime starts faster and keeps less memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::web::telemetry::init();
    let app = App::from_env(&Env::from_process()).await?;
    lambda_http::run(shared::web::http::finish(settings::router(app))).await
}
