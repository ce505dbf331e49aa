//! Request authentication: the Pipedrive iframe JWT that scopes every `/api/*` route, and the
//! signed OAuth `state` of the install and connect flows.

pub mod jwt;
pub mod jwt_crypto;
pub mod state;

pub use jwt::{JwtError, JwtKeys, Tenant, verify_pipedrive_jwt};
