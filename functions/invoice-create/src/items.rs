//! QuickBooks items (products and services): search, and the stored link of a Pipedrive product
//! to one (reused by every later draft).

use axum::Json;
use axum::extract::State;

use serde::{Deserialize, Serialize};
use shared::app::App;
use shared::domain::ProductLink;
use shared::store::StoreError;
use shared::web::auth::Tenant;
use shared::web::error::{ApiError, FieldError};
use shared::web::http::{JsonBody, PathParams, QueryParams};
use shared::wire::quickbooks::query::Query;

use crate::context::{Caller, caller, qb_error};
use crate::customers::SearchParams;
use crate::views::{ItemSummary, search_term};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ItemList {
    pub items: Vec<ItemSummary>,
}

/// `GET /api/quickbooks/items?search=…`: active items whose name contains every word of the
/// term; the first items by name when it is empty ([`crate::search`]).
pub async fn search(
    State(app): State<App>,
    tenant: Tenant,
    QueryParams(params): QueryParams<SearchParams>,
) -> Result<Json<ItemList>, ApiError> {
    let caller = caller(&app, tenant).await?;
    let term = search_term(params.search.as_deref())?;
    let q = crate::search::items(&term);
    let found = app
        .quickbooks_of(&caller.profile)
        .query(&q)
        .await
        .map_err(|e| qb_error(e, "searching items"))?;
    let items = found
        .item
        .unwrap_or_default()
        .iter()
        .filter(|i| i.r#type.as_ref().is_none_or(|t| t.as_str() != "Category"))
        .filter_map(ItemSummary::of)
        .collect();
    Ok(Json(ItemList { items }))
}

#[derive(Debug, Deserialize)]
pub struct ProductPath {
    pub product_id: u64,
}

/// Body of `PUT /api/products/{product_id}/item-link`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemLinkRequest {
    pub item_id: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct LinkedItem {
    pub item: ItemSummary,
    pub link: ProductLink,
}

/// `PUT /api/products/{product_id}/item-link`: links the Pipedrive product to an active item.
pub async fn link(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(path): PathParams<ProductPath>,
    JsonBody(body): JsonBody<ItemLinkRequest>,
) -> Result<Json<LinkedItem>, ApiError> {
    let caller = caller(&app, tenant).await?;
    let item_id = body.item_id.trim().to_string();
    if item_id.is_empty() || item_id.len() > 40 {
        return Err(ApiError::unprocessable(vec![FieldError::new(
            "item_id",
            "Choose a QuickBooks product or service.",
        )]));
    }
    let q = Query::select("Item")
        .eq("Id", item_id.as_str())
        .max_results(1);
    // The product must be one of the caller's company's Pipedrive products (read with the
    // caller's own access, so another company's product ids are simply not found).
    let product = app.pipedrive_of(tenant).product(path.product_id);
    let (found, product) = futures::join!(app.quickbooks_of(&caller.profile).query(&q), product);
    product?;
    let found = found.map_err(|e| qb_error(e, "reading the item"))?;
    let item = found
        .item
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("QuickBooks has no such product or service."))?;
    if item.active == Some(false) {
        return Err(ApiError::unprocessable(vec![FieldError::new(
            "item_id",
            "That QuickBooks product or service is inactive. Make it active in QuickBooks, or choose another.",
        )]));
    }
    let summary = ItemSummary::of(&item)
        .ok_or_else(|| ApiError::internal("QuickBooks answered an item without an Id"))?;
    let link = save_product_link(&app, &caller, path.product_id, &summary).await?;
    Ok(Json(LinkedItem {
        item: summary,
        link,
    }))
}

/// Creates or moves the product's link to `item` (versioned; a concurrent change is a 409).
pub async fn save_product_link(
    app: &App,
    caller: &Caller,
    product_id: u64,
    item: &ItemSummary,
) -> Result<ProductLink, ApiError> {
    let company = caller.tenant.company_id;
    let existing = app.records.get_product_link(company, product_id).await?;
    let mut link = ProductLink {
        company_id: company,
        product_id,
        realm_id: caller.realm_id.clone(),
        item_id: item.id.clone(),
        item_name: item.name.clone(),
        linked_by: caller.tenant.user_id,
        linked_at: app.clock.now(),
        version: 0,
    };
    if let Some(old) = &existing {
        if old.item_id == link.item_id
            && old.realm_id == link.realm_id
            && old.item_name == link.item_name
        {
            return Ok(old.clone());
        }
        link.version = old.version;
    }
    match app.records.save_product_link(&link).await {
        Ok(saved) => Ok(saved),
        Err(StoreError::Conflict { .. }) => Err(ApiError::Conflict {
            detail: "Someone linked this product at the same time. Reload and try again.".into(),
            current: None,
        }),
        Err(e) => Err(e.into()),
    }
}
