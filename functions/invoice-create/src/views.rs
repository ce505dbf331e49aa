//! Shapes of QuickBooks records (and of the Pipedrive deal) as the create form shows them.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::wire::pipedrive::model::Deal;
use shared::wire::quickbooks::model::{Customer, Item};

/// A QuickBooks customer in a list or suggestion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerSummary {
    pub id: String,
    pub display_name: String,
    pub currency: Option<String>,
    pub email: Option<String>,
    pub active: bool,
}

impl CustomerSummary {
    pub fn of(c: &Customer) -> Option<Self> {
        Some(CustomerSummary {
            id: c.id.clone()?,
            display_name: c.display_name.clone().unwrap_or_default(),
            currency: c.currency_ref.as_ref().map(|r| r.value.clone()),
            email: c
                .primary_email_addr
                .as_ref()
                .and_then(|e| e.address.clone()),
            active: c.active.unwrap_or(true),
        })
    }
}

/// A QuickBooks item in a list or suggestion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemSummary {
    pub id: String,
    pub name: String,
    pub kind: Option<String>,
    pub unit_price: Option<Decimal>,
    pub sku: Option<String>,
    pub taxable: Option<bool>,
    pub active: bool,
}

impl ItemSummary {
    pub fn of(i: &Item) -> Option<Self> {
        Some(ItemSummary {
            id: i.id.clone()?,
            name: i
                .fully_qualified_name
                .clone()
                .or_else(|| i.name.clone())
                .unwrap_or_default(),
            kind: i.r#type.as_ref().map(|t| t.as_str().to_string()),
            unit_price: i.unit_price,
            sku: i.sku.clone(),
            taxable: i.taxable,
            active: i.active.unwrap_or(true),
        })
    }
}

/// Trims a search term and checks its length (empty: the first results).
pub fn search_term(raw: Option<&str>) -> Result<String, shared::web::error::ApiError> {
    let term = raw.unwrap_or("").trim();
    if term.chars().count() > 100 {
        return Err(shared::web::error::ApiError::unprocessable(vec![
            shared::web::error::FieldError::new("search", "Search with at most 100 characters."),
        ]));
    }
    Ok(term.to_string())
}

/// The deal as the form shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DealView {
    pub id: u64,
    pub title: String,
    pub currency: Option<String>,
    pub value: Option<rust_decimal::Decimal>,
    pub org_id: Option<u64>,
    pub person_id: Option<u64>,
}

impl DealView {
    pub fn of(deal: &Deal) -> DealView {
        DealView {
            id: deal.id,
            title: deal.title.clone(),
            currency: deal.currency.clone(),
            value: deal.value,
            org_id: deal.org_id,
            person_id: deal.person_id,
        }
    }
}
