//! The `invoice-create` tests on the test world: the function's router served over HTTP, its
//! companies in Berlin.

pub use test_world::*;

/// A world serving the function's router.
pub fn world() -> WorldBuilder {
    World::builder()
        .serving(|app| shared::web::http::finish(invoice_create::router(app.clone())))
        .time_zone("Europe/Berlin")
}
