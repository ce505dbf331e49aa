//! The `install` tests on the test world: the function's router served over HTTP (Pipedrive's
//! uninstall callback and both OAuth callbacks need a real URL).

use std::sync::Arc;

use shared::store::ItemStore;
use shared::store::secrets::SecretStore;
pub use test_world::*;

/// A world serving the install router on the given store and secrets.
pub async fn world_on(store: Arc<dyn ItemStore>, secrets: Arc<dyn SecretStore>) -> World {
    World::builder()
        .store(store)
        .secrets(secrets)
        .serving(|app| shared::web::http::finish(install::router(app.clone())))
        .start()
        .await
}
