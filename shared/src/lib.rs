//! The common crate every function depends on. It is built from the internal crates under
//! `shared/`, whose dependencies run one way (Cargo refuses a cycle):
//!
//! ```text
//! app ──▶ web ──▶ store? ─┐
//!  │  ──▶ clients ────────┼──▶ domain ──▶ wire (quickbooks, pipedrive)
//!  │  ──▶ store ──────────┘      config
//! ```
//!
//! - [`config`]: typed settings from the environment.
//! - [`domain`]: pure logic and the records we keep (no I/O, no async runtime, no HTTP, no AWS).
//! - [`wire`]: the QuickBooks and Pipedrive API models (also used by the simulators).
//! - [`store`] (feature `app`): the item store, the typed records on it and the token secrets,
//!   each with an embedded and an AWS adapter.
//! - [`clients`] (feature `clients`): the outbound HTTPS stack and the API clients.
//! - [`web`] (feature `web`): problem+json, extractors, the Pipedrive JWT, request ids, logs.
//! - [`app`] (feature `app`): the state every API function builds once, the token manager and
//!   the company handles, access checks, the status sync.
//!
//! A function enables only what it uses: the extension pages take `web` + `clients`, and so
//! link neither the AWS SDK nor the store.

pub use config;
pub use domain;

/// The API models of both upstreams.
pub mod wire {
    pub use pipedrive_wire as pipedrive;
    pub use quickbooks_wire as quickbooks;
}

#[cfg(feature = "app")]
pub use app;
#[cfg(feature = "clients")]
pub use clients;
#[cfg(feature = "app")]
pub use store;
#[cfg(feature = "web")]
pub use web;
