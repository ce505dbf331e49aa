//! The deal's invoices (from the store, and refreshed from QuickBooks) and its activity log.

use std::collections::{BTreeSet, HashMap};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use shared::app::App;
use shared::app::sync::{IDS_PER_QUERY, apply_invoices, fetch_invoices};
use shared::domain::links::refreshed_link;
use shared::domain::{DealId, InvoiceLink, InvoiceStatus};
use shared::store::records::Records;
use shared::web::auth::Tenant;
use shared::web::error::ApiError;
use shared::web::http::{PathParams, QueryParams, SizedJson};
use shared::wire::quickbooks::model::Invoice;

use crate::views::{
    ActivityLog, ActivityView, DEFAULT_LIST_PAGE, DealInvoices, InvoiceView, ListCursor, ListPage,
    MAX_LIST_PAGE, RefreshReport,
};
use crate::{Caller, Entry, failure_sentence, input, invoice_label};

/// Most events one activity page returns.
pub const MAX_ACTIVITY: u32 = 200;
const DEFAULT_ACTIVITY: u32 = 50;

/// How many status changes a refresh's activity line spells out.
const CHANGES_IN_MESSAGE: usize = 10;

/// `?limit=&cursor=` of the deal's list.
#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

impl ListQuery {
    fn page(&self) -> Result<ListPage, ApiError> {
        let limit = input::page_limit(self.limit.as_deref(), DEFAULT_LIST_PAGE, MAX_LIST_PAGE)?;
        let after = match self.cursor.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(ListCursor::parse(v).ok_or_else(|| {
                ApiError::bad_request(
                    "The page cursor is not valid: send back the `next_cursor` of the previous page.",
                )
            })?),
        };
        Ok(ListPage { limit, after })
    }
}

pub(crate) async fn list(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(deal_id): PathParams<u64>,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Response, ApiError> {
    let page = query.page()?;
    // The links are read with the caller's checks (the company comes from the verified token;
    // nothing is answered unless the checks pass): one store round trip instead of two. What
    // the list shows is read straight from the stored links (text borrowed from them, statuses
    // as stored), evaluated for the company's today once the checks have passed, and written
    // out before the links are let go.
    let (caller, items) = futures::join!(
        Caller::new(&app, tenant),
        app.records
            .deal_invoice_items(tenant.company_id, DealId(deal_id))
    );
    let caller = caller?;
    let items = items?;
    let views: Vec<InvoiceView<&str>> = Records::listed_invoices(&items)?
        .iter()
        .map(InvoiceView::from_listed)
        .collect();
    if views.is_empty() {
        caller.confirm_deal(&app, DealId(deal_id)).await?;
    }
    // About 370 bytes per invoice in the answer: written once into a buffer of that size.
    let size = 1024 + 400 * views.len().min(page.limit as usize);
    Ok(SizedJson(
        DealInvoices::listed(deal_id, &caller.profile, views, caller.today, &page),
        size,
    )
    .into_response())
}

pub(crate) async fn refresh(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(deal_id): PathParams<u64>,
) -> Result<Json<DealInvoices>, ApiError> {
    let deal = DealId(deal_id);
    // As in `list`: the links are read with the caller's checks, in one store round trip.
    let (caller, links) = futures::join!(
        Caller::new(&app, tenant),
        app.records.all_deal_invoice_links(tenant.company_id, deal)
    );
    let caller = caller?;
    let links = links?;
    if links.is_empty() {
        caller.confirm_deal(&app, deal).await?;
        let report = RefreshReport {
            checked: 0,
            changed: 0,
            queries: 0,
        };
        return Ok(refreshed(deal_id, &caller, &links, report));
    }
    let realm = caller.realm(&app).await?;
    // Links into another QuickBooks company (before a realm change) cannot be read any more, and
    // a deleted invoice never comes back: neither is asked for again.
    let ids: BTreeSet<String> = links
        .iter()
        .filter(|l| l.realm_id == realm && l.status != shared::domain::InvoiceStatus::Deleted)
        .map(|l| l.invoice_id.clone())
        .collect();
    let invoices = match fetch_invoices(&app, &caller.profile, &ids).await {
        Ok(invoices) => invoices,
        Err(error) => {
            caller
                .record(
                    &app,
                    deal,
                    Entry::failed(
                        "invoices.refresh_failed",
                        None,
                        format!(
                            "Refreshing {} invoices from QuickBooks failed: {}",
                            ids.len(),
                            failure_sentence(&error)
                        ),
                        match &error {
                            ApiError::Upstream { intuit_tid, .. } => intuit_tid.clone(),
                            _ => None,
                        },
                    ),
                )
                .await;
            return Err(error);
        }
    };
    // Only what differs from this deal's links goes through the store: an unchanged invoice
    // (the usual case) costs no store call at all.
    let mine: HashMap<&str, &InvoiceLink> = links
        .iter()
        .filter(|l| l.realm_id == realm)
        .map(|l| (l.invoice_id.as_str(), l))
        .collect();
    let changed: Vec<Invoice> = invoices
        .into_iter()
        .filter(|invoice| {
            invoice
                .id
                .as_deref()
                .and_then(|id| mine.get(id))
                .is_some_and(|link| {
                    refreshed_link(link, invoice, caller.today, caller.now).is_some()
                })
        })
        .collect();
    let outcome = apply_invoices(
        &app.records,
        caller.company(),
        &realm,
        &changed,
        caller.today,
        caller.now,
    )
    .await?;
    let mut updated: HashMap<String, InvoiceLink> = outcome
        .changed
        .into_iter()
        .filter(|l| l.deal_id == deal)
        .map(|l| (l.invoice_id.clone(), l))
        .collect();
    // Links the index did not lead to (it may lag behind the table): applied directly.
    for invoice in &changed {
        let Some(link) = invoice.id.as_deref().and_then(|id| mine.get(id)) else {
            continue;
        };
        if !updated.contains_key(&link.invoice_id) {
            let fresh = caller.apply_direct(&app, link, invoice).await?;
            updated.insert(fresh.invoice_id.clone(), fresh);
        }
    }
    let mut changes: Vec<String> = Vec::new();
    let current: Vec<InvoiceLink> = links
        .iter()
        .map(|old| match updated.get(&old.invoice_id) {
            Some(new) => {
                if new.status != old.status {
                    changes.push(format!(
                        "{} {} → {}",
                        invoice_label(new.doc_number.as_deref(), &new.invoice_id),
                        status_name(old.status),
                        status_name(new.status)
                    ));
                }
                new.clone()
            }
            None => old.clone(),
        })
        .collect();
    if !updated.is_empty() {
        let mut message = format!(
            "Refreshed {} invoices from QuickBooks; {} changed.",
            ids.len(),
            updated.len()
        );
        if !changes.is_empty() {
            let shown: Vec<&str> = changes
                .iter()
                .take(CHANGES_IN_MESSAGE)
                .map(String::as_str)
                .collect();
            message.push(' ');
            message.push_str(&shown.join("; "));
            if changes.len() > CHANGES_IN_MESSAGE {
                message.push_str(&format!(
                    "; and {} more",
                    changes.len() - CHANGES_IN_MESSAGE
                ));
            }
            message.push('.');
        }
        caller
            .record(&app, deal, Entry::ok("invoices.refreshed", None, message))
            .await;
    }
    let report = RefreshReport {
        checked: ids.len(),
        changed: updated.len(),
        queries: ids.len().div_ceil(IDS_PER_QUERY),
    };
    Ok(refreshed(deal_id, &caller, &current, report))
}

/// The refresh's answer: the list's first page of the deal's (refreshed) links, with `report`.
fn refreshed(
    deal_id: u64,
    caller: &Caller,
    links: &[InvoiceLink],
    report: RefreshReport,
) -> Json<DealInvoices> {
    let mut answer = DealInvoices::build(
        deal_id,
        &caller.profile,
        links,
        caller.today,
        &ListPage::first(),
    );
    answer.refresh = Some(report);
    Json(answer)
}

/// The status as the panel names it.
pub(crate) fn status_name(status: InvoiceStatus) -> &'static str {
    match status {
        InvoiceStatus::Open => "Open",
        InvoiceStatus::Overdue => "Overdue",
        InvoiceStatus::PartiallyPaid => "Partially paid",
        InvoiceStatus::Paid => "Paid",
        InvoiceStatus::Voided => "Voided",
        InvoiceStatus::Deleted => "Deleted",
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ActivityQuery {
    #[serde(default)]
    limit: Option<u32>,
}

pub(crate) async fn activity(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(deal_id): PathParams<u64>,
    QueryParams(query): QueryParams<ActivityQuery>,
) -> Result<Json<ActivityLog>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_ACTIVITY);
    if limit == 0 || limit > MAX_ACTIVITY {
        return Err(ApiError::bad_request(format!(
            "`limit` must be between 1 and {MAX_ACTIVITY}."
        )));
    }
    let caller = Caller::new(&app, tenant).await?;
    let events = app
        .records
        .deal_activity(caller.company(), DealId(deal_id), limit)
        .await?;
    if events.is_empty() {
        caller.confirm_deal(&app, DealId(deal_id)).await?;
    }
    Ok(Json(ActivityLog {
        deal_id,
        events: events.into_iter().map(ActivityView::from).collect(),
    }))
}
