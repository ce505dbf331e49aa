//! Test apps: the [`App`] a function builds, on test credentials, with a test clock.

use std::sync::Arc;
use std::time::Duration;

use shared::app::{App, Deployment};
use shared::clients::pipedrive::PipedriveClient;
use shared::clients::quickbooks::QuickBooksClient;
use shared::domain::Clock;
use shared::store::ItemStore;
use shared::store::embedded::EmbeddedStore;
use shared::store::secrets::SecretStore;
use shared::store::secrets::embedded::EmbeddedSecrets;

use crate::tokens::test_credentials;

/// An app on fresh in-memory backends (upstreams at unroutable addresses).
pub fn embedded_app() -> App {
    embedded_app_with(Deployment::simulated(
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
    ))
}

/// An app on fresh in-memory backends talking to the given upstreams.
pub fn embedded_app_with(deployment: Deployment) -> App {
    App::new(
        Arc::new(EmbeddedStore::in_memory()),
        Arc::new(EmbeddedSecrets::in_memory()),
        "test",
        test_credentials(),
        deployment,
    )
}

/// How an app of a world is built.
pub struct AppOptions {
    pub secret_prefix: String,
    pub deployment: Deployment,
    /// Now, for the app and its token manager alike.
    pub clock: Clock,
    /// Timeout of the calls to QuickBooks and Pipedrive (`None`: the deployed one).
    pub upstream_timeout: Option<Duration>,
}

/// An app on the given store and secrets (another "Lambda instance" when they are another
/// app's), reading `options.clock`, its token manager too.
pub fn app_on(
    store: Arc<dyn ItemStore>,
    secrets: Arc<dyn SecretStore>,
    options: AppOptions,
) -> App {
    let mut app = App::new(
        store,
        secrets,
        &options.secret_prefix,
        test_credentials(),
        options.deployment,
    );
    if let Some(timeout) = options.upstream_timeout {
        let http = shared::clients::outbound::client_builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        app.quickbooks =
            QuickBooksClient::with_http(http.clone(), app.deployment.quickbooks.clone());
        app.pipedrive = PipedriveClient::with_http(http, app.deployment.pipedrive.clone());
    }
    app.with_clock(options.clock)
}
