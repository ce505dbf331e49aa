//! QuickBooks Online: wire types, query builder and webhook handling shared by the app and the
//! simulator.

pub mod client;
pub mod model;
pub mod query;
pub mod reference;
pub mod webhook;
