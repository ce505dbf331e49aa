//! What the create form reads or adds besides invoices and customers: the chart of accounts (the
//! income accounts an item points at), item creation, and QuickBooks' exchange rates.
//!
//! - `POST /item` creates a `Service`, `NonInventory` or `Inventory` item: `Name` is required
//!   (≤ 100 characters, no colon, tab or line break) and unique among items (6240, as QuickBooks
//!   answers a duplicate name); `IncomeAccountRef` is required and must be an active income
//!   account (2500 otherwise); `Group` and `Category` items cannot be created this way (QuickBooks
//!   does not support Group creation through the API; categories carry no price).
//! - `GET /exchangerate?sourcecurrencycode=EUR&asofdate=YYYY-MM-DD` answers the company's rate:
//!   home-currency units for one unit of the source currency, `AsOfDate` the requested date (today
//!   when none). Only multi-currency companies have rates (a 6000 business fault otherwise); the
//!   home currency is 1; a currency outside the company's list is 610.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use shared::wire::quickbooks::model::{Account, ExchangeRate, Item, ItemType, Ref};
use shared::wire::quickbooks::webhook::Operation;

use super::error::ApiError;
use super::ops::Change;
use super::store::{Realm, meta};

/// The chart of accounts every seeded company starts with: (id, name, type, sub type).
const ACCOUNTS: &[(&str, &str, &str, &str)] = &[
    ("1", "Services", "Income", "ServiceFeeIncome"),
    (
        "2",
        "Sales of Product Income",
        "Income",
        "SalesOfProductIncome",
    ),
    ("3", "Landscaping Services", "Income", "ServiceFeeIncome"),
    ("4", "Checking", "Bank", "Checking"),
    (
        "5",
        "Cost of Goods Sold",
        "Cost of Goods Sold",
        "SuppliesMaterialsCogs",
    ),
    ("6", "Old Income (inactive)", "Income", "OtherPrimaryIncome"),
];

/// The seeded chart of accounts (the last income account inactive).
pub fn seed_accounts(now: DateTime<Utc>) -> Vec<Account> {
    ACCOUNTS
        .iter()
        .map(|(id, name, kind, sub)| Account {
            id: Some((*id).into()),
            sync_token: Some("0".into()),
            domain: Some("QBO".into()),
            meta_data: Some(meta(now)),
            name: Some((*name).into()),
            fully_qualified_name: Some((*name).into()),
            active: Some(!name.contains("inactive")),
            account_type: Some((*kind).into()),
            account_sub_type: Some((*sub).into()),
            classification: Some(
                if *kind == "Income" {
                    "Revenue"
                } else if *kind == "Bank" {
                    "Asset"
                } else {
                    "Expense"
                }
                .into(),
            ),
            currency_ref: None,
        })
        .collect()
}

fn valid_item_name(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= 100 && !name.contains([':', '\t', '\n', '\r'])
}

impl Realm {
    /// `POST /item` without an Id.
    pub fn create_item(
        &mut self,
        input: &Item,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Result<Item, ApiError> {
        let name = input.name.as_deref().map(str::trim).unwrap_or_default();
        if name.is_empty() {
            return Err(ApiError::RequiredParam("Name".into()));
        }
        if !valid_item_name(name) {
            return Err(ApiError::Business(format!(
                "The item name \"{name}\" must have at most 100 characters and no colon, tab or newline"
            )));
        }
        if self.items.values().any(|i| {
            i.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        }) {
            return Err(ApiError::DuplicateName);
        }
        let kind = input.r#type.clone().unwrap_or(ItemType::Service);
        if !matches!(
            kind,
            ItemType::Service | ItemType::NonInventory | ItemType::Inventory
        ) {
            return Err(ApiError::Business(format!(
                "Items of type {} cannot be created with this request",
                kind.as_str()
            )));
        }
        let account = input
            .income_account_ref
            .as_ref()
            .ok_or_else(|| ApiError::RequiredParam("IncomeAccountRef".into()))?;
        let income = self.accounts.iter().find(|a| {
            a.id.as_deref() == Some(account.value.as_str())
                && a.account_type.as_deref() == Some("Income")
                && a.active != Some(false)
        });
        let Some(income_name) = income.map(|a| a.name.clone()) else {
            return Err(ApiError::InvalidReference(format!(
                "IncomeAccountRef {}",
                account.value
            )));
        };
        if input.unit_price.is_some_and(|p| p < Decimal::ZERO) {
            return Err(ApiError::Business("UnitPrice cannot be negative".into()));
        }
        let id = self.next_id("Item");
        let item = Item {
            id: Some(id.to_string()),
            sync_token: Some("0".into()),
            domain: Some("QBO".into()),
            sparse: Some(false),
            meta_data: Some(meta(now)),
            name: Some(name.to_string()),
            fully_qualified_name: Some(name.to_string()),
            sku: input.sku.clone().filter(|s| !s.trim().is_empty()),
            description: input.description.clone(),
            active: Some(true),
            r#type: Some(kind.clone()),
            unit_price: Some(input.unit_price.unwrap_or_default()),
            taxable: Some(input.taxable.unwrap_or(false)),
            sales_tax_included: Some(false),
            sales_tax_code_ref: input.sales_tax_code_ref.clone(),
            income_account_ref: Some(Ref {
                value: account.value.clone(),
                name: income_name,
            }),
            track_qty_on_hand: Some(kind == ItemType::Inventory),
            qty_on_hand: (kind == ItemType::Inventory).then_some(Decimal::ZERO),
        };
        self.items.insert(id, item.clone());
        events.push(("Item", id.to_string(), Operation::Create));
        Ok(item)
    }

    /// `GET /exchangerate`: the rate of `source` into the home currency on `as_of` (or `today`).
    pub fn exchange_rate_for(
        &self,
        source: &str,
        as_of: Option<NaiveDate>,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<ExchangeRate, ApiError> {
        if !self.multi_currency() {
            return Err(ApiError::Business(
                "Multicurrency is not enabled for this company: it has no exchange rates".into(),
            ));
        }
        let home = self.home_currency();
        let rate = if source == home {
            Decimal::ONE
        } else if self.currency_enabled(source) {
            self.exchange_rates
                .get(source)
                .copied()
                .ok_or_else(|| ApiError::NotFound(format!("ExchangeRate {source}")))?
        } else {
            return Err(ApiError::NotFound(format!("ExchangeRate {source}")));
        };
        Ok(ExchangeRate {
            sync_token: Some("0".into()),
            domain: Some("QBO".into()),
            source_currency_code: Some(source.to_string()),
            target_currency_code: Some(home),
            rate: Some(rate),
            as_of_date: Some(as_of.unwrap_or(today)),
            meta_data: Some(meta(now)),
        })
    }
}
