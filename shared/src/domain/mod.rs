//! Pure domain logic and the records the app keeps. No I/O here.

pub mod conversion;
pub mod draft;
pub mod links;
pub mod mapping;
pub mod money;
pub mod records;
pub mod settings;
pub mod status;
pub mod tax_suggestion;

pub use records::*;
pub use settings::*;

use serde::{Deserialize, Serialize};
use std::fmt;

/// A Pipedrive company id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CompanyId(pub u64);

/// A Pipedrive user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub u64);

/// A Pipedrive deal id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DealId(pub u64);

impl fmt::Display for CompanyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl fmt::Display for DealId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Who is calling, as proven by a verified Pipedrive JWT. Every `/api/*` route is scoped by this,
/// never by a query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tenant {
    pub company_id: CompanyId,
    pub user_id: UserId,
}
