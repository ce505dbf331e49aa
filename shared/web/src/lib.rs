//! The HTTP side every function shares: problem+json errors ([`error`]), extractors, body limits,
//! fallbacks and request ids ([`http`]), the Pipedrive iframe JWT and the signed OAuth state
//! ([`auth`]), JSON logs ([`telemetry`]).

pub mod auth;
pub mod error;
pub mod http;
pub mod telemetry;
