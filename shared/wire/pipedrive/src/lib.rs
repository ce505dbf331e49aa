//! Pipedrive as it is on the wire: the API v1/v2 entities and answers the app reads and the
//! simulator serves ([`model`]). No I/O.

pub mod model;
