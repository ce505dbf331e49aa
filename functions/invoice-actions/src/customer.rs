//! The deal's QuickBooks customer: all of its invoices in a time frame, linking and unlinking
//! any of them to the deal, and disconnecting the deal's organization/person from the customer.
//!
//! The deal's organization and person come from Pipedrive (with the caller's own token, so only
//! a deal the caller can see); the customer is the one linked to the organization, else the one
//! linked to the person.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{Days, NaiveDate};
use serde::Deserialize;

use shared::app::App;
use shared::app::sync::write_back::write_back;
use shared::app::tokens::CallError;
use shared::clients::pipedrive::PipedriveError;
use shared::domain::links::{link_from_invoice, name_customer};
use shared::domain::{CustomerLink, DealId, DealParties, InvoiceLink, Party};
use shared::store::StoreError;
use shared::web::auth::Tenant;
use shared::web::error::ApiError;
use shared::web::http::{PathParams, QueryParams};
use shared::wire::quickbooks::model::Invoice;
use shared::wire::quickbooks::query::Query;

use crate::input;
use crate::views::{
    ActionAnswer, CustomerInvoiceView, CustomerInvoices, CustomerUnlinked, InvoiceView,
    LinkedCustomerView,
};
use crate::{
    Caller, Entry, failure_sentence, intuit_tid, invoice_label, is_not_found, quickbooks_problem,
};

/// Largest page of customer invoices.
pub const MAX_PAGE: u32 = 100;
const DEFAULT_PAGE: u32 = 25;
/// How far back the list goes when no `from` is given.
const DEFAULT_DAYS: u64 = 365;
/// Largest start position a cursor may carry.
const MAX_START: u32 = 1_000_000;

/// The deal's organization (first) and person, as Pipedrive has them for the caller.
async fn deal_parties(app: &App, caller: &Caller, deal: DealId) -> Result<Vec<Party>, ApiError> {
    let parties = deal_party_ids(app, caller, deal).await?;
    Ok(parties
        .org_id
        .map(Party::Organization)
        .into_iter()
        .chain(parties.person_id.map(Party::Person))
        .collect())
}

/// The deal's organization and person ids, read from Pipedrive with the caller's access (a deal
/// the caller's company does not have, or a deleted one, is a 404).
pub(crate) async fn deal_party_ids(
    app: &App,
    caller: &Caller,
    deal: DealId,
) -> Result<DealParties, ApiError> {
    let result = app.pipedrive_of(caller.tenant).deal(deal.0).await;
    let missing = || {
        ApiError::not_found(format!(
            "Pipedrive has no deal {deal} that you can see (it may have been deleted)."
        ))
    };
    match result {
        Ok(found) if !found.is_gone() => Ok(DealParties {
            org_id: found.org_id,
            person_id: found.person_id,
        }),
        Ok(_) => Err(missing()),
        Err(CallError::Call(PipedriveError::NotFound(_))) => Err(missing()),
        Err(other) => Err(other.into()),
    }
}

fn party_view(link: &CustomerLink) -> LinkedCustomerView {
    let (party, party_id) = match link.party {
        Party::Organization(id) => ("organization", id),
        Party::Person(id) => ("person", id),
    };
    LinkedCustomerView {
        party: party.into(),
        party_id,
        customer_id: link.customer_id.clone(),
        display_name: link.display_name.clone(),
        currency: link.currency.clone(),
    }
}

/// The customer the deal's organization (else person) is linked to in `realm`.
async fn linked_customer(
    app: &App,
    caller: &Caller,
    parties: &[Party],
    realm: &str,
) -> Result<Option<CustomerLink>, ApiError> {
    for party in parties {
        if let Some(link) = app
            .records
            .get_customer_link(caller.company(), *party)
            .await?
            && link.realm_id == realm
        {
            return Ok(Some(link));
        }
    }
    Ok(None)
}

#[derive(Debug, Deserialize)]
pub(crate) struct CustomerInvoicesQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

fn date_param(name: &str, value: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "`{name}` must be a date written YYYY-MM-DD (for example 2026-03-01)."
                ))
            }),
    }
}

/// The checked query: dates, 1-based start position, page size.
fn page_params(
    query: &CustomerInvoicesQuery,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate, u32, u32), ApiError> {
    let to = date_param("to", query.to.as_deref())?.unwrap_or(today);
    let from = match date_param("from", query.from.as_deref())? {
        Some(from) => from,
        None => to.checked_sub_days(Days::new(DEFAULT_DAYS)).unwrap_or(to),
    };
    if from > to {
        return Err(ApiError::bad_request(
            "`from` must not be after `to`.".to_string(),
        ));
    }
    let limit = input::page_limit(query.limit.as_deref(), DEFAULT_PAGE, MAX_PAGE)?;
    let start = match query.cursor.as_deref().map(str::trim) {
        None | Some("") => 1,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_START).contains(&n) => n,
            _ => return Err(ApiError::bad_request("The page cursor is not valid.")),
        },
    };
    Ok((from, to, start, limit))
}

pub(crate) async fn invoices(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(deal_id): PathParams<u64>,
    QueryParams(query): QueryParams<CustomerInvoicesQuery>,
) -> Result<Json<CustomerInvoices>, ApiError> {
    let caller = Caller::new(&app, tenant).await?;
    let (from, to, start, limit) = page_params(&query, caller.today)?;
    let deal = DealId(deal_id);
    let realm = caller.realm(&app).await?;
    let parties = deal_parties(&app, &caller, deal).await?;
    let Some(customer) = linked_customer(&app, &caller, &parties, &realm).await? else {
        return Ok(Json(CustomerInvoices {
            deal_id,
            customer: None,
            from,
            to,
            invoices: Vec::new(),
            next_cursor: None,
        }));
    };
    // One row more than the page tells whether there is a next page.
    let query = Query::select("Invoice")
        .eq("CustomerRef", customer.customer_id.as_str())
        .ge("TxnDate", from)
        .le("TxnDate", to)
        .order_by("TxnDate", true)
        .start_position(start)
        .max_results(limit + 1);
    let response = app
        .quickbooks_of(&caller.profile)
        .query(&query)
        .await
        .map_err(|e| quickbooks_problem(e, "listing the customer's invoices"))?;
    let linked: HashSet<String> = app
        .records
        .all_deal_invoice_links(caller.company(), deal)
        .await?
        .into_iter()
        .map(|l| l.invoice_id)
        .collect();
    let mut rows = response.invoice.unwrap_or_default();
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let invoices = rows
        .iter()
        .filter_map(|invoice| {
            let id = invoice.id.clone()?;
            let is_linked = linked.contains(&id);
            Some(CustomerInvoiceView::of(
                invoice,
                id,
                is_linked,
                caller.today,
            ))
        })
        .collect();
    Ok(Json(CustomerInvoices {
        deal_id,
        customer: Some(party_view(&customer)),
        from,
        to,
        invoices,
        next_cursor: more.then(|| (start + limit).to_string()),
    }))
}

fn already_linked(caller: &Caller, link: &InvoiceLink) -> (StatusCode, Json<ActionAnswer>) {
    let label = invoice_label(link.doc_number.as_deref(), &link.invoice_id);
    (
        StatusCode::OK,
        Json(ActionAnswer {
            invoice: InvoiceView::from_link(link, caller.today),
            message: format!("{label} is already linked to this deal."),
        }),
    )
}

pub(crate) async fn link(
    State(app): State<App>,
    tenant: Tenant,
    PathParams((deal_id, raw_id)): PathParams<(u64, String)>,
) -> Result<(StatusCode, Json<ActionAnswer>), ApiError> {
    let invoice_id = input::invoice_id(&raw_id)?;
    let caller = Caller::new(&app, tenant).await?;
    let deal = DealId(deal_id);
    if let Some(existing) = app
        .records
        .get_invoice_link(caller.company(), deal, &invoice_id)
        .await?
    {
        return Ok(already_linked(&caller, &existing));
    }
    let realm = caller.realm(&app).await?;
    let parties = deal_parties(&app, &caller, deal).await?;
    let customer = linked_customer(&app, &caller, &parties, &realm)
        .await?
        .ok_or_else(|| {
            ApiError::refused(
                shared::web::error::Refusal::CustomerNotLinked,
                "The deal's organization and person are not linked to a QuickBooks customer yet. Link the customer first (in the invoice form), then link its invoices.",
            )
        })?;
    let mut invoice = read_to_link(&app, &caller, deal, &invoice_id).await?;
    if let Some(refusal) = billed_elsewhere(&invoice, &customer) {
        return Err(refusal);
    }
    name_customer(&mut invoice, &customer);
    let new_link = link_from_invoice(
        caller.company(),
        deal,
        &realm,
        &invoice,
        caller.today,
        caller.now,
    )
    .map_err(ApiError::internal)?;
    store_link(&app, &caller, new_link).await
}

/// The invoice to link, as QuickBooks holds it (a failure is recorded in the deal's log).
async fn read_to_link(
    app: &App,
    caller: &Caller,
    deal: DealId,
    invoice_id: &str,
) -> Result<Invoice, ApiError> {
    match app
        .quickbooks_of(&caller.profile)
        .read_invoice(invoice_id)
        .await
    {
        Ok(invoice) => Ok(invoice),
        Err(e) if is_not_found(&e) => Err(ApiError::not_found(format!(
            "QuickBooks has no invoice with id {invoice_id} (it may have been deleted)."
        ))),
        Err(e) => {
            let tid = intuit_tid(&e);
            let problem = quickbooks_problem(e, "reading the invoice to link");
            caller
                .record(
                    app,
                    deal,
                    Entry::failed(
                        "invoice.link_failed",
                        Some(invoice_id),
                        format!("Linking an invoice failed: {}", failure_sentence(&problem)),
                        tid,
                    ),
                )
                .await;
            Err(problem)
        }
    }
}

/// Only the linked customer's invoices are linked to the deal: the refusal for another's.
fn billed_elsewhere(invoice: &Invoice, customer: &CustomerLink) -> Option<ApiError> {
    let owner = invoice.customer_ref.as_ref();
    if owner.map(|r| r.value.as_str()) == Some(customer.customer_id.as_str()) {
        return None;
    }
    let label = invoice_label(
        invoice.doc_number.as_deref(),
        invoice.id.as_deref().unwrap_or_default(),
    );
    let owner_name = owner
        .and_then(|r| r.name.clone())
        .or_else(|| owner.map(|r| format!("id {}", r.value)))
        .unwrap_or_else(|| "none".into());
    Some(ApiError::Refused {
        reason: shared::web::error::Refusal::OtherCustomer,
        detail: format!(
            "{label} is billed to another QuickBooks customer ({owner_name}) than the one linked to this deal ({}).",
            customer.display_name
        ),
        current: None,
    })
}

/// Stores the new link (one, even when two requests link it at the same moment) and logs it.
async fn store_link(
    app: &App,
    caller: &Caller,
    new_link: InvoiceLink,
) -> Result<(StatusCode, Json<ActionAnswer>), ApiError> {
    let (deal, invoice_id) = (new_link.deal_id, new_link.invoice_id.clone());
    match app.records.create_invoice_link(&new_link).await {
        Ok(saved) => {
            write_back(app, &caller.profile, [deal], caller.now).await;
            let label = invoice_label(saved.doc_number.as_deref(), &invoice_id);
            let message = format!("{label} is now linked to this deal.");
            caller
                .record(
                    app,
                    deal,
                    Entry::ok("invoice.linked", Some(&invoice_id), message.clone()),
                )
                .await;
            Ok((
                StatusCode::CREATED,
                Json(ActionAnswer {
                    invoice: InvoiceView::from_link(&saved, caller.today),
                    message,
                }),
            ))
        }
        // Someone linked it at the same moment: one link, theirs.
        Err(StoreError::Conflict { .. }) => {
            match app
                .records
                .get_invoice_link(caller.company(), deal, &invoice_id)
                .await?
            {
                Some(existing) => Ok(already_linked(caller, &existing)),
                None => Err(ApiError::Conflict {
                    detail: "The link changed while it was being created; try again.".into(),
                    current: None,
                }),
            }
        }
        Err(other) => Err(other.into()),
    }
}

pub(crate) async fn unlink(
    State(app): State<App>,
    tenant: Tenant,
    PathParams((deal_id, raw_id)): PathParams<(u64, String)>,
) -> Result<Json<ActionAnswer>, ApiError> {
    let invoice_id = input::invoice_id(&raw_id)?;
    let caller = Caller::new(&app, tenant).await?;
    let deal = DealId(deal_id);
    let link = caller.link(&app, deal, &invoice_id).await?;
    app.records
        .delete_invoice_link(caller.company(), deal, &invoice_id)
        .await?;
    write_back(&app, &caller.profile, [deal], caller.now).await;
    let label = invoice_label(link.doc_number.as_deref(), &invoice_id);
    let message = format!("{label} was unlinked from this deal; it stays in QuickBooks.");
    caller
        .record(
            &app,
            deal,
            Entry::ok("invoice.unlinked", Some(&invoice_id), message.clone()),
        )
        .await;
    Ok(Json(ActionAnswer {
        invoice: InvoiceView::from_link(&link, caller.today),
        message,
    }))
}

pub(crate) async fn disconnect(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(deal_id): PathParams<u64>,
) -> Result<Json<CustomerUnlinked>, ApiError> {
    let caller = Caller::new(&app, tenant).await?;
    let deal = DealId(deal_id);
    let parties = deal_parties(&app, &caller, deal).await?;
    let mut removed = Vec::new();
    for party in parties {
        if let Some(link) = app
            .records
            .get_customer_link(caller.company(), party)
            .await?
        {
            app.records
                .delete_customer_link(caller.company(), party)
                .await?;
            removed.push(party_view(&link));
        }
    }
    if removed.is_empty() {
        return Err(ApiError::not_found(
            "Neither the deal's organization nor its person is linked to a QuickBooks customer.",
        ));
    }
    let names: Vec<String> = removed
        .iter()
        .map(|r| {
            format!(
                "the {} (id {}) from QuickBooks customer {}",
                r.party, r.party_id, r.display_name
            )
        })
        .collect();
    let message = format!(
        "Disconnected {}. Its invoices stay in QuickBooks and on the deal.",
        names.join(" and ")
    );
    caller
        .record(
            &app,
            deal,
            Entry::ok("customer.unlinked", None, message.clone()),
        )
        .await;
    Ok(Json(CustomerUnlinked { removed, message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(
        from: Option<&str>,
        to: Option<&str>,
        cursor: Option<&str>,
        limit: Option<&str>,
    ) -> CustomerInvoicesQuery {
        CustomerInvoicesQuery {
            from: from.map(str::to_string),
            to: to.map(str::to_string),
            cursor: cursor.map(str::to_string),
            limit: limit.map(str::to_string),
        }
    }

    #[test]
    fn page_parameters() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 21).unwrap();
        let (from, to, start, limit) = page_params(&q(None, None, None, None), today).unwrap();
        assert_eq!(
            (from, to, start, limit),
            (NaiveDate::from_ymd_opt(2025, 3, 21).unwrap(), today, 1, 25)
        );
        let (from, to, start, limit) = page_params(
            &q(
                Some("2026-01-01"),
                Some("2026-02-01"),
                Some("26"),
                Some("100"),
            ),
            today,
        )
        .unwrap();
        assert_eq!(from, NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
        assert_eq!(to, NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
        assert_eq!((start, limit), (26, 100));
        for bad in [
            q(Some("2026-13-01"), None, None, None),
            q(Some("yesterday"), None, None, None),
            q(Some("2026-03-02"), Some("2026-03-01"), None, None),
            q(None, None, None, Some("101")),
            q(None, None, None, Some("0")),
            q(None, None, None, Some("99999999999")),
            q(None, None, Some("0"), None),
            q(None, None, Some("abc"), None),
            q(None, None, Some("1000001"), None),
        ] {
            assert_eq!(
                page_params(&bad, today).unwrap_err().status(),
                400,
                "{bad:?}"
            );
        }
    }
}
