//! QuickBooks Online as it is on the wire: the Accounting API's entities and answers
//! ([`model`]), the query language with its escaping ([`query`]) and the webhook payloads with
//! their signature ([`webhook`]). Shared by the app and the simulator; no I/O.

pub mod model;
pub mod query;
pub mod webhook;
