//! The company's invoice settings: which Pipedrive field fills each part of a new invoice, the
//! due-date rule, who may invoice. Defaults exist before an admin saves anything, so invoicing works
//! right after connecting QuickBooks.

use serde::{Deserialize, Serialize};

use super::figures::WriteBack;
use super::rules::Rule;

/// Which Pipedrive record a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldEntity {
    Deal,
    Organization,
    Person,
}

/// A Pipedrive field: a standard key (`name`, `address`, `emails`) or a custom field's
/// 40-character hash key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRef {
    pub entity: FieldEntity,
    pub key: String,
}

impl FieldRef {
    pub fn new(entity: FieldEntity, key: &str) -> Self {
        FieldRef {
            entity,
            key: key.to_string(),
        }
    }
}

/// Which Pipedrive field fills each part of the invoice's customer block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    /// Recipient name ("To").
    pub to: FieldRef,
    /// Billing address (an address field; its components are used).
    pub address: Option<FieldRef>,
    /// Recipient email.
    pub email: Option<FieldRef>,
    /// Customer tax id, when the company keeps one in a custom field.
    pub tax_id: Option<FieldRef>,
}

impl Default for FieldMapping {
    fn default() -> Self {
        FieldMapping {
            to: FieldRef::new(FieldEntity::Organization, "name"),
            address: Some(FieldRef::new(FieldEntity::Organization, "address")),
            email: Some(FieldRef::new(FieldEntity::Person, "emails")),
            tax_id: None,
        }
    }
}

/// How the due date of a new invoice is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DueDateRule {
    /// N days after the issue date (0–365): 13 March + 7 → 20 March.
    DaysAfterIssue { days: u16 },
    /// Leave the due date to the QuickBooks customer's payment terms.
    CustomerTerms,
}

impl Default for DueDateRule {
    fn default() -> Self {
        DueDateRule::DaysAfterIssue { days: 14 }
    }
}

/// Who may see and create invoices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessPolicy {
    /// Only the user who connected QuickBooks (the incumbent's behaviour).
    ConnectedUserOnly,
    /// Every user of the company who installed the app (our default).
    #[default]
    AllInstalledUsers,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub mapping: FieldMapping,
    pub due_date: DueDateRule,
    pub access: AccessPolicy,
    /// Push address, email and tax id to the linked QuickBooks customer when they differ.
    pub update_customer: bool,
    /// Add a note to the deal when one of its invoices becomes paid.
    pub note_on_paid: bool,
    /// What happens on its own when a deal is won or reaches a stage (the scheduled run).
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Which deal custom fields carry the deal's invoice figures.
    #[serde(default)]
    pub write_back: WriteBack,
    /// Days from an estimate's date to its expiration date (unset: [`DEFAULT_ESTIMATE_DAYS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_expiry_days: Option<u16>,
}

/// An estimate expires this many days after its date unless the company says otherwise.
pub const DEFAULT_ESTIMATE_DAYS: u16 = 30;

impl Settings {
    /// Days from an estimate's date to its expiration date.
    pub fn estimate_days(&self) -> u16 {
        self.estimate_expiry_days.unwrap_or(DEFAULT_ESTIMATE_DAYS)
    }
}
