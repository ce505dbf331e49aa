//! Lambda entry point of the `extension-ui` function: build the state once, serve the router.

use shared::app::App;
use shared::config::Env;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let app = App::from_env(&Env::from_process()).await?;
    lambda_http::run(shared::http::finish(extension_ui::router(app))).await
}
