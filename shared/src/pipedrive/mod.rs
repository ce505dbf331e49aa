//! Pipedrive: the wire types both the app and the simulator use ([`model`]).

pub mod client;
pub mod model;
