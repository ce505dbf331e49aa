//! The common crate: everything two functions need.
//!
//! - [`domain`]: pure logic and the records we keep (no I/O).
//! - [`store`]: the storage interface with its embedded and DynamoDB implementations.
//! - [`tokens`]: OAuth token sets with their embedded and Secrets Manager implementations.
//! - [`auth`]: Pipedrive iframe JWTs and other request authentication.
//! - [`http`]: problem+json errors, body limits, JSON extraction.
//! - [`pipedrive`], [`quickbooks`]: API clients and the wire types both the app and the
//!   simulators use.

pub mod access;
pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod outbound;
pub mod pipedrive;
pub mod quickbooks;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod tokens;

#[cfg(any(test, feature = "contract-tests"))]
pub mod testing;
