//! A QuickBooks item made from a Pipedrive product, for a line that has no item to link:
//!
//! - `GET /api/products/{product_id}/new-item` → what the form pre-fills ([`NewItemForm`]): the
//!   product's name, SKU (`code`), price in the company's home currency, taxable (US, when the
//!   product carries a tax), and the company's active income accounts to choose from.
//! - `POST /api/products/{product_id}/item` ([`NewItem`]) → `201` [`LinkedItem`]: the item is
//!   created in QuickBooks (with a `requestid` derived from the product and the body: a double
//!   click creates one item) and the product is linked to it, as a link to an existing item
//!   would. A name QuickBooks already uses is a 409 `name-taken` offering that item.
//!
//! The product is read with the caller's Pipedrive token, so another company's product id is a
//! 404 like any unknown one.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::app::App;
use shared::app::tokens::CallError;
use shared::clients::quickbooks::QuickBooksError;
use shared::web::error::{ApiError, FieldError, Refusal};
use shared::web::http::{JsonBody, PathParams};
use shared::wire::pipedrive::model::Product;
use shared::wire::quickbooks::model::{Account, Item, ItemType, Ref};
use shared::wire::quickbooks::query::Query;

use shared::web::auth::Tenant;

use crate::context::{Caller, caller, company_setup, qb_error};
use crate::idempotency::{body_hash, derived_request_id};
use crate::items::{LinkedItem, ProductPath, save_product_link};
use crate::views::ItemSummary;

/// An income account to choose from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IncomeAccount {
    pub id: String,
    pub name: String,
}

/// What the "create the item" form shows, pre-filled from the product.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NewItemForm {
    pub product_id: u64,
    pub name: String,
    pub sku: Option<String>,
    /// In the home currency (`null` when the product has no price in it).
    pub unit_price: Option<Decimal>,
    pub currency: String,
    pub taxable: bool,
    /// US companies mark items taxable; elsewhere the line's tax code decides.
    pub us: bool,
    pub income_accounts: Vec<IncomeAccount>,
    /// The account pre-selected (a service-fee income account, else the first).
    pub income_account_id: Option<String>,
}

/// Body of `POST /api/products/{product_id}/item`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    pub name: String,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub unit_price: Option<Decimal>,
    pub income_account_id: String,
    #[serde(default)]
    pub taxable: bool,
    /// `Service` (default) or `NonInventory`.
    #[serde(default)]
    pub kind: Option<String>,
}

/// A product name as an item name: QuickBooks refuses colons, tabs and line breaks (a colon
/// separates a sub-item's parent) and more than 100 characters.
pub fn item_name(product_name: &str) -> String {
    product_name
        .replace(':', " -")
        .replace(['\t', '\n', '\r'], " ")
        .trim()
        .chars()
        .take(100)
        .collect()
}

/// The problems of a new item, each naming its field.
pub fn validate(body: &NewItem) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name = body.name.trim();
    if name.is_empty() {
        errors.push(FieldError::new("name", "Give the item a name."));
    } else if name.chars().count() > 100 || name.contains([':', '\t', '\n', '\r']) {
        errors.push(FieldError::new(
            "name",
            "QuickBooks accepts item names of at most 100 characters, without a colon, tab or line break.",
        ));
    }
    if body.sku.as_deref().is_some_and(|s| s.chars().count() > 100) {
        errors.push(FieldError::new(
            "sku",
            "The SKU can have at most 100 characters.",
        ));
    }
    if body.unit_price.is_some_and(|p| p < Decimal::ZERO) {
        errors.push(FieldError::new(
            "unit_price",
            "The price cannot be negative.",
        ));
    }
    let account = body.income_account_id.trim();
    if account.is_empty() || account.len() > 40 {
        errors.push(FieldError::new(
            "income_account_id",
            "Choose the income account the item's sales go to.",
        ));
    }
    if !matches!(
        body.kind.as_deref(),
        None | Some("Service" | "NonInventory")
    ) {
        errors.push(FieldError::new(
            "kind",
            "An item made here is a service or a non-inventory product.",
        ));
    }
    errors
}

fn income_accounts(accounts: Vec<Account>) -> (Vec<IncomeAccount>, Option<String>) {
    let preferred = accounts
        .iter()
        .find(|a| a.account_sub_type.as_deref() == Some("ServiceFeeIncome"))
        .or(accounts.first())
        .and_then(|a| a.id.clone());
    let list = accounts
        .into_iter()
        .filter(|a| a.active != Some(false))
        .filter_map(|a| {
            Some(IncomeAccount {
                id: a.id?,
                name: a.fully_qualified_name.or(a.name).unwrap_or_default(),
            })
        })
        .collect();
    (list, preferred)
}

async fn read_product(app: &App, tenant: Tenant, product_id: u64) -> Result<Product, ApiError> {
    Ok(app.pipedrive_of(tenant).product(product_id).await?)
}

/// `GET /api/products/{product_id}/new-item`.
pub async fn new_item_form(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(path): PathParams<ProductPath>,
) -> Result<Json<NewItemForm>, ApiError> {
    let caller = caller(&app, tenant).await?;
    let accounts_q = Query::select("Account")
        .eq("AccountType", "Income")
        .order_by("Name", false)
        .max_results(1000);
    let (product, setup, accounts) = futures::join!(
        read_product(&app, tenant, path.product_id),
        company_setup(&app, &caller),
        app.quickbooks_of(&caller.profile).query(&accounts_q)
    );
    let (product, setup) = (product?, setup?);
    let accounts = accounts
        .map_err(|e| qb_error(e, "reading the income accounts"))?
        .account
        .unwrap_or_default();
    let (income_accounts, income_account_id) = income_accounts(accounts);
    let unit_price = product
        .prices
        .iter()
        .find(|p| p.currency.as_deref() == Some(setup.home_currency.as_str()))
        .and_then(|p| p.price);
    Ok(Json(NewItemForm {
        product_id: product.id,
        name: item_name(&product.name),
        sku: product.code.clone().filter(|c| !c.trim().is_empty()),
        unit_price,
        currency: setup.home_currency.clone(),
        taxable: setup.us && product.tax.is_some_and(|t| t > Decimal::ZERO),
        us: setup.us,
        income_accounts,
        income_account_id,
    }))
}

/// `POST /api/products/{product_id}/item`.
pub async fn create(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(path): PathParams<ProductPath>,
    JsonBody(body): JsonBody<NewItem>,
) -> Result<(StatusCode, Json<LinkedItem>), ApiError> {
    let caller = caller(&app, tenant).await?;
    let errors = validate(&body);
    if !errors.is_empty() {
        return Err(ApiError::unprocessable(errors));
    }
    let (product, setup) = futures::join!(
        read_product(&app, tenant, path.product_id),
        company_setup(&app, &caller)
    );
    product?;
    let setup = setup?;
    let name = body.name.trim().to_string();
    let item = Item {
        name: Some(name.clone()),
        sku: body.sku.clone().filter(|s| !s.trim().is_empty()),
        unit_price: Some(body.unit_price.unwrap_or_default()),
        r#type: Some(ItemType::parse(body.kind.as_deref().unwrap_or("Service"))),
        income_account_ref: Some(Ref::new(body.income_account_id.trim())),
        taxable: setup.us.then_some(body.taxable),
        ..Item::default()
    };
    let key = body_hash(&json!({"product_id": path.product_id, "item": item}));
    let request_id = derived_request_id(caller.tenant.company_id, "item", &key, 0);
    let created = app
        .quickbooks_of(&caller.profile)
        .create_item(&item, &request_id)
        .await;
    let created = match created {
        Ok(item) => item,
        Err(CallError::Call(QuickBooksError::Fault { fault, .. })) if fault.has_code("6240") => {
            return Err(name_taken(&app, &caller, &name).await);
        }
        Err(e) => return Err(qb_error(e, "creating the item")),
    };
    let summary = ItemSummary::of(&created)
        .ok_or_else(|| ApiError::internal("QuickBooks answered an item without an Id"))?;
    let link = save_product_link(&app, &caller, path.product_id, &summary).await?;
    Ok((
        StatusCode::CREATED,
        Json(LinkedItem {
            item: summary,
            link,
        }),
    ))
}

/// The 409 for an item name QuickBooks already has, with that item when it is active.
async fn name_taken(app: &App, caller: &Caller, name: &str) -> ApiError {
    // QuickBooks compares item names without regard to case: look the words up and pick the
    // name that differs only in case.
    let q = crate::search::words(name)
        .into_iter()
        .fold(Query::select("Item"), |q, w| q.contains("Name", w))
        .is_in_bools("Active", &[true, false])
        .max_results(100);
    let existing = app
        .quickbooks_of(&caller.profile)
        .query(&q)
        .await
        .ok()
        .and_then(|r| r.item)
        .and_then(|items| {
            items.into_iter().find(|i| {
                i.name
                    .as_deref()
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case(name))
            })
        })
        .and_then(|i| ItemSummary::of(&i));
    ApiError::Refused {
        reason: Refusal::NameTaken,
        detail: match &existing {
            Some(i) if i.active => format!(
                "QuickBooks already has an item named \"{}\". Link the line to it, or give the new item another name.",
                i.name
            ),
            _ => format!(
                "The name \"{name}\" is already used by a QuickBooks item (possibly an inactive one). Give the new item another name."
            ),
        },
        current: Some(json!({"item": existing})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn body(name: &str) -> NewItem {
        NewItem {
            name: name.into(),
            sku: Some("CONS-HR".into()),
            unit_price: Some(dec!(120)),
            income_account_id: "1".into(),
            taxable: true,
            kind: None,
        }
    }

    #[test]
    fn product_names_become_item_names_quickbooks_accepts() {
        assert_eq!(item_name(" Consulting: hour\t"), "Consulting - hour");
        assert_eq!(item_name(&"x".repeat(150)).len(), 100);
    }

    #[test]
    fn a_new_item_names_each_problem() {
        assert!(validate(&body("Consulting hour")).is_empty());
        let fields = |b: &NewItem| validate(b).into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert_eq!(fields(&body(" ")), ["name"]);
        assert_eq!(fields(&body("a:b")), ["name"]);
        let mut b = body("ok");
        b.unit_price = Some(dec!(-1));
        b.income_account_id = " ".into();
        b.kind = Some("Group".into());
        assert_eq!(fields(&b), ["unit_price", "income_account_id", "kind"]);
    }
}
