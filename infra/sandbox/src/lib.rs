//! Simulated Pipedrive and QuickBooks Online: real HTTP servers built from the public API
//! documentation, for the integration tests, the offline demo behind `cargo run -p local`, and
//! fault injection. Start either in-process on `127.0.0.1:0` from a test.

pub mod harness;
pub mod pipedrive;
pub mod quickbooks;
