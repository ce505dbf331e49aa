//! The deal's invoices (from the store, and refreshed from QuickBooks) and its activity log.

use std::collections::{BTreeSet, HashMap};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use shared::app::App;
use shared::app::sync::changes::{Logged, apply_for_company, apply_to_link};
use shared::app::sync::write_back::write_back;
use shared::app::sync::{IDS_PER_QUERY, fetch_invoices};
use shared::domain::links::refreshed_link;
use shared::domain::rules::PreparedInvoice;
use shared::domain::{DealId, InvoiceLink, InvoiceStatus};
use shared::store::records::Records;
use shared::web::auth::Tenant;
use shared::web::error::ApiError;
use shared::web::http::{PathParams, QueryParams, SizedJson};
use shared::wire::quickbooks::model::Invoice;

use crate::views::{
    ActivityLog, ActivityView, DEFAULT_LIST_PAGE, DealInvoices, InvoiceView, ListCursor, ListPage,
    MAX_LIST_PAGE, PreparedView, RefreshReport,
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
    let (caller, items, prepared) = futures::join!(
        Caller::new(&app, tenant),
        app.records
            .deal_invoice_items(tenant.company_id, DealId(deal_id)),
        first_page_prepared(&app, tenant, DealId(deal_id), page.after.is_none())
    );
    let caller = caller?;
    let items = items?;
    let prepared = prepared?;
    let views: Vec<InvoiceView<&str>> = Records::listed_invoices(&items)?
        .iter()
        .map(InvoiceView::from_listed)
        .collect();
    if views.is_empty() {
        caller.confirm_deal(&app, DealId(deal_id)).await?;
    }
    // About 370 bytes per invoice in the answer: written once into a buffer of that size.
    let size = 1024 + 400 * views.len().min(page.limit as usize);
    let mut answer = DealInvoices::listed(deal_id, &caller.profile, views, caller.today, &page);
    answer.prepared = prepared.map(|p| PreparedView::of(&p, &caller.profile));
    Ok(SizedJson(answer, size).into_response())
}

/// The invoice a rule prepared for the deal, read with the first page (in the same round as the
/// links; answered only once the caller's checks pass).
async fn first_page_prepared(
    app: &App,
    tenant: Tenant,
    deal: DealId,
    first_page: bool,
) -> Result<Option<PreparedInvoice>, ApiError> {
    if !first_page {
        return Ok(None);
    }
    Ok(app
        .records
        .get_prepared_invoice(tenant.company_id, deal)
        .await?)
}

pub(crate) async fn refresh(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(deal_id): PathParams<u64>,
) -> Result<Json<DealInvoices>, ApiError> {
    let deal = DealId(deal_id);
    // As in `list`: the links are read with the caller's checks, in one store round trip.
    let (caller, links, prepared) = futures::join!(
        Caller::new(&app, tenant),
        app.records.all_deal_invoice_links(tenant.company_id, deal),
        first_page_prepared(&app, tenant, deal, true)
    );
    let caller = caller?;
    let links = links?;
    let prepared = prepared?;
    if links.is_empty() {
        caller.confirm_deal(&app, deal).await?;
        let report = RefreshReport {
            checked: 0,
            changed: 0,
            queries: 0,
        };
        return Ok(refreshed(deal_id, &caller, &links, report, prepared));
    }
    let realm = caller.realm(&app).await?;
    let ids = refreshable_ids(&links, &realm);
    let invoices = match fetch_invoices(&app, &caller.profile, &ids).await {
        Ok(invoices) => invoices,
        Err(error) => {
            record_refresh_failure(&app, &caller, deal, ids.len(), &error).await;
            return Err(error);
        }
    };
    let changed = changed_invoices(&links, &realm, invoices, &caller);
    let Refreshed { updated, changes } =
        apply_changed(&app, &caller, deal, &links, &realm, &changed).await?;
    let current = merged(&links, &updated);
    if updated.is_empty() {
        // Nothing of this deal changed: its mapped deal fields are still brought to the current
        // figures if an earlier update was refused (nothing is sent when they hold them).
        write_back(&app, &caller.profile, [deal], caller.now).await;
    }
    if !updated.is_empty() {
        let message = refresh_message(ids.len(), updated.len(), &changes);
        caller
            .record(&app, deal, Entry::ok("invoices.refreshed", None, message))
            .await;
    }
    let report = RefreshReport {
        checked: ids.len(),
        changed: updated.len(),
        queries: ids.len().div_ceil(IDS_PER_QUERY),
    };
    Ok(refreshed(deal_id, &caller, &current, report, prepared))
}

/// The invoices of `links` worth asking QuickBooks about: links into another QuickBooks company
/// (before a realm change) cannot be read any more, and a deleted invoice never comes back.
fn refreshable_ids(links: &[InvoiceLink], realm: &str) -> BTreeSet<String> {
    links
        .iter()
        .filter(|l| l.realm_id == realm && l.status != shared::domain::InvoiceStatus::Deleted)
        .map(|l| l.invoice_id.clone())
        .collect()
}

async fn record_refresh_failure(
    app: &App,
    caller: &Caller,
    deal: DealId,
    asked: usize,
    error: &ApiError,
) {
    caller
        .record(
            app,
            deal,
            Entry::failed(
                "invoices.refresh_failed",
                None,
                format!(
                    "Refreshing {asked} invoices from QuickBooks failed: {}",
                    failure_sentence(error)
                ),
                match error {
                    ApiError::Upstream { intuit_tid, .. } => intuit_tid.clone(),
                    _ => None,
                },
            ),
        )
        .await;
}

/// Only what differs from this deal's links goes through the store: an unchanged invoice (the
/// usual case) costs no store call at all.
fn changed_invoices(
    links: &[InvoiceLink],
    realm: &str,
    invoices: Vec<Invoice>,
    caller: &Caller,
) -> Vec<Invoice> {
    let mine = deal_links_in(links, realm);
    invoices
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
        .collect()
}

fn deal_links_in<'a>(links: &'a [InvoiceLink], realm: &str) -> HashMap<&'a str, &'a InvoiceLink> {
    links
        .iter()
        .filter(|l| l.realm_id == realm)
        .map(|l| (l.invoice_id.as_str(), l))
        .collect()
}

/// This deal's links as written by the refresh (by invoice id), and the status changes its own
/// writes made (the ones its log line tells of).
struct Refreshed {
    updated: HashMap<String, InvoiceLink>,
    changes: Vec<String>,
}

/// Applies the changed invoices through the one update path (which records what each status
/// change means) and answers what this deal's links became.
async fn apply_changed(
    app: &App,
    caller: &Caller,
    deal: DealId,
    links: &[InvoiceLink],
    realm: &str,
    changed: &[Invoice],
) -> Result<Refreshed, ApiError> {
    // The refresh writes its own log line, listing the changes its writes made.
    let applied = apply_for_company(
        app,
        &caller.profile,
        realm,
        changed,
        Logged::ByCaller,
        caller.now,
    )
    .await?;
    let mut changes: Vec<String> = applied
        .status_changes
        .iter()
        .filter(|w| w.link.deal_id == deal)
        .map(|w| change_words(&w.link, w.from))
        .collect();
    let mut updated: HashMap<String, InvoiceLink> = applied
        .links
        .into_iter()
        .filter(|l| l.deal_id == deal)
        .map(|l| (l.invoice_id.clone(), l))
        .collect();
    // Links the index did not lead to (it may lag behind the table): applied directly.
    let mine = deal_links_in(links, realm);
    for invoice in changed {
        let Some(link) = invoice.id.as_deref().and_then(|id| mine.get(id)) else {
            continue;
        };
        if !updated.contains_key(&link.invoice_id) {
            let (fresh, from) = apply_to_link(
                app,
                &caller.profile,
                link,
                invoice,
                Logged::ByCaller,
                caller.now,
            )
            .await?;
            if let Some(from) = from {
                changes.push(change_words(&fresh, from));
            }
            updated.insert(fresh.invoice_id.clone(), fresh);
        }
    }
    Ok(Refreshed { updated, changes })
}

/// "Invoice 1001 Open → Paid".
fn change_words(link: &InvoiceLink, from: shared::domain::InvoiceStatus) -> String {
    format!(
        "{} {} → {}",
        invoice_label(link.doc_number.as_deref(), &link.invoice_id),
        status_name(from),
        status_name(link.status)
    )
}

/// The deal's links with the updated ones in place.
fn merged(links: &[InvoiceLink], updated: &HashMap<String, InvoiceLink>) -> Vec<InvoiceLink> {
    links
        .iter()
        .map(|old| updated.get(&old.invoice_id).unwrap_or(old).clone())
        .collect()
}

/// The activity line of a refresh that changed something.
fn refresh_message(checked: usize, changed: usize, changes: &[String]) -> String {
    let mut message = format!("Refreshed {checked} invoices from QuickBooks; {changed} changed.");
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
    message
}

/// The refresh's answer: the list's first page of the deal's (refreshed) links, with `report`.
fn refreshed(
    deal_id: u64,
    caller: &Caller,
    links: &[InvoiceLink],
    report: RefreshReport,
    prepared: Option<PreparedInvoice>,
) -> Json<DealInvoices> {
    let mut answer = DealInvoices::build(
        deal_id,
        &caller.profile,
        links,
        caller.today,
        &ListPage::first(),
    );
    answer.refresh = Some(report);
    answer.prepared = prepared.map(|p| PreparedView::of(&p, &caller.profile));
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
