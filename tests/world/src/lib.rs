//! The one test world every test of the workspace builds on (a dev-dependency only: no
//! production binary links it, and it depends on no function, so every function can use it).
//!
//! A connected company in three lines:
//!
//! ```text
//! let w = World::builder()
//!     .serving(|app| shared::web::http::finish(invoice_actions::router(app.clone())))
//!     .start()
//!     .await;
//! w.connect(COMPANY_A, USER_A_ADMIN, US_REALM).members(&[USER_A_MEMBER]).await;
//! let answer = w.call("GET", "/api/deals/1/invoices", (COMPANY_A, USER_A_ADMIN), None, None).await;
//! ```
//!
//! - [`World`]: both simulators started and wired, an [`shared::app::App`] on embedded or
//!   moto-backed storage ([`WorldBuilder::moto`]) reading the movable clock, the function's
//!   router served on a local port; companies connected ([`World::connect`]), users installed,
//!   invoices created in QuickBooks and linked to deals; calls signed as Pipedrive signs them.
//! - [`TestClock`]: the movable clock ([`World::advance`] moves the simulators' with it).
//! - [`tokens`]: the test app's credentials and signed Pipedrive tokens.
//! - [`app`]: bare test apps (no simulators) and another "Lambda instance" on the same storage.
//! - [`seed`]: the records and tokens of a connected company, written once.
//! - [`moto`]: the moto server (DynamoDB, Secrets Manager) shared by a test binary.
//! - [`apigw`]: API Gateway v2 events, for invoking a router as Lambda does.
//! - [`oneshot`]: one request straight into a router; a QuickBooks webhook delivery.
//! - [`oauth`]: the install and connect flows through the simulators' consent pages.

pub mod answer;
pub mod apigw;
pub mod app;
pub mod clock;
mod connect;
mod estimates;
mod invoices;
pub mod moto;
pub mod oauth;
pub mod oneshot;
pub mod seed;
pub mod store;
pub mod tokens;
mod world;

pub use answer::{Answer, Caller, Who, answer, dec_of};
pub use app::{embedded_app, embedded_app_with};
pub use clock::TestClock;
pub use connect::Connect;
pub use oauth::{location, param, urlencode, with_param};
pub use oneshot::{Reply, deliver_webhook, oneshot};
pub use sandbox::pipedrive::seed::{
    COMPANY_A, COMPANY_B, USER_A_ADMIN, USER_A_MEMBER, USER_A_MEMBER_2, USER_B_ADMIN, USER_B_MEMBER,
};
pub use sandbox::quickbooks::{GB_REALM, US_REALM};
pub use seed::seed_install;
pub use store::CountingStore;
pub use tokens::{
    TEST_JWT_SECRET, jwt, sign_token, sign_token_at, sign_token_with, tenant, test_credentials,
    webhook_verifier,
};
pub use world::{World, WorldBuilder};
