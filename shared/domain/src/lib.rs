//! The pure domain: drafts from deals, invoice statuses, field mapping, due dates, money,
//! settings and the records the app keeps. No I/O here, no async runtime, no HTTP, no AWS; what
//! it knows of QuickBooks and Pipedrive are their wire models.

pub mod actions;
pub mod bulk;
pub mod clock;
pub mod conversion;
pub mod draft;
pub mod estimate_invoice;
pub mod estimates;
pub mod figures;
pub mod links;
pub mod mapping;
pub mod money;
pub mod progress;
pub mod readiness;
pub mod records;
pub mod rules;
pub mod secret;
pub mod settings;
pub mod status;
pub mod tax_suggestion;
pub mod validation;

pub use clock::Clock;
pub use records::*;
pub use secret::SecretString;
pub use settings::*;
pub use validation::FieldError;

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
