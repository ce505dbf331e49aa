//! A deal's QuickBooks estimates: the list with their status (Expired derived from the
//! expiration date, like Overdue), and the actions on one — send by e-mail, PDF, delete, and the
//! customer's answer recorded by the rep (Accepted / Rejected: a sparse update at the
//! `SyncToken`, once more after a stale one, through the same path as void and delete).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use shared::app::App;
use shared::app::sync::estimates::{apply_to_estimate_link, deleted_stub};
use shared::app::tokens::CallError;
use shared::clients::quickbooks::QuickBooksError;
use shared::domain::estimate_invoice::recorded_progress;
use shared::domain::estimates::{
    Answer, EstimateVerdict, answer_update, answer_verdict, delete_verdict, status_on,
};
use shared::domain::progress::Billed;
use shared::domain::{DealId, EstimateLink, EstimateStatus, InvoiceLink};
use shared::web::auth::Tenant;
use shared::web::error::{ApiError, Refusal};
use shared::web::http::{JsonBody, OptionalJsonBody, PathParams};
use shared::wire::quickbooks::model::Estimate;

use crate::actions::{Change, Changed, change_at_sync_token, failed, pdf_response, quickbooks_app};
use crate::input::{self, ConfirmBody, SendBody};
use crate::{Caller, Entry, is_not_found};

/// One estimate as the panel shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstimateView {
    pub id: String,
    pub doc_number: Option<String>,
    pub txn_date: NaiveDate,
    pub expiration_date: Option<NaiveDate>,
    pub status: EstimateStatus,
    pub currency: String,
    pub total: Decimal,
    /// The total in the reader's number format ("1,250.00 EUR").
    pub total_text: String,
    pub customer_name: Option<String>,
    pub email_sent: bool,
    pub accepted_by: Option<String>,
    /// The invoices made from it.
    pub invoice_ids: Vec<String>,
    /// The estimate in the QuickBooks web app.
    pub open_url: String,
    /// Once an invoice of the deal bills it (in full or a part): what the live ones bill of it,
    /// before tax added on top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoiced: Option<Decimal>,
    /// What those invoices measure against: its sales lines less its discounts, before tax
    /// added on top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<Decimal>,
    /// What is left to invoice of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<Decimal>,
}

/// `GET /api/deals/{deal_id}/estimates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstimateList {
    pub estimates: Vec<EstimateView>,
}

/// The answer of an action: the estimate as it is now and a sentence for the panel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstimateAnswer {
    pub estimate: EstimateView,
    pub message: String,
}

/// `POST …/answer`: the customer's answer, recorded by the rep.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// `accepted` or `rejected`.
    pub answer: String,
    /// Who accepted (written to QuickBooks' `AcceptedBy`), optional.
    #[serde(default)]
    pub accepted_by: Option<String>,
}

/// The estimate as the panel shows it, with what the deal's invoices bill of it (read now; a
/// failed read leaves the figures out: the action itself is done).
async fn view(app: &App, caller: &Caller, link: &EstimateLink) -> EstimateView {
    let invoices = app
        .records
        .all_deal_invoice_links(caller.company(), link.deal_id)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "could not read the deal's invoices for the estimate");
            Vec::new()
        });
    view_with(app, caller, link, &invoices)
}

/// The estimate as the panel shows it, given the deal's invoices.
fn view_with(
    app: &App,
    caller: &Caller,
    link: &EstimateLink,
    invoices: &[InvoiceLink],
) -> EstimateView {
    let billed: Vec<Billed> = invoices.iter().map(Billed::from).collect();
    let progress = recorded_progress(&link.estimate_id, &link.currency, &billed);
    EstimateView {
        id: link.estimate_id.clone(),
        doc_number: link.doc_number.clone(),
        txn_date: link.txn_date,
        expiration_date: link.expiration_date,
        status: status_on(link.status, link.expiration_date, caller.today),
        currency: link.currency.clone(),
        total: link.total,
        total_text: caller.format.money(link.total, &link.currency),
        customer_name: link.customer_name.clone(),
        email_sent: link.email_sent,
        accepted_by: link.accepted_by.clone(),
        invoice_ids: link.invoice_ids.clone(),
        open_url: quickbooks_app(app, &caller.profile).estimate_url(&link.estimate_id),
        invoiced: progress.as_ref().map(|p| p.invoiced),
        basis: progress.as_ref().map(|p| p.deal_value),
        left: progress.as_ref().map(|p| p.left),
    }
}

fn label(link: &EstimateLink) -> String {
    match link
        .doc_number
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        Some(doc) => format!("Estimate {doc}"),
        None => format!("Estimate (QuickBooks id {})", link.estimate_id),
    }
}

pub(crate) async fn list(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(deal_id): PathParams<u64>,
) -> Result<Json<EstimateList>, ApiError> {
    let caller = Caller::new(&app, tenant).await?;
    let deal = DealId(deal_id);
    let mut links = app
        .records
        .deal_estimate_links(caller.company(), deal)
        .await?;
    if links.is_empty() {
        // Nothing stored: another company's deal id must still be a 404.
        caller.confirm_deal(&app, deal).await?;
    }
    links.sort_by(|a, b| (b.txn_date, &b.created_at).cmp(&(a.txn_date, &a.created_at)));
    let invoices = if links.is_empty() {
        Vec::new()
    } else {
        app.records
            .all_deal_invoice_links(caller.company(), deal)
            .await?
    };
    Ok(Json(EstimateList {
        estimates: links
            .iter()
            .map(|l| view_with(&app, &caller, l, &invoices))
            .collect(),
    }))
}

/// This deal's link to the estimate (404 otherwise), in the realm connected now.
async fn link_for_action(
    app: &App,
    caller: &Caller,
    deal: DealId,
    raw_id: &str,
) -> Result<EstimateLink, ApiError> {
    let id = input::invoice_id(raw_id)?;
    let link = app
        .records
        .get_estimate_link(caller.company(), deal, &id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "This estimate is not linked to deal {deal}. Reload the deal's estimates."
            ))
        })?;
    if link.realm_id != caller.realm(app).await? {
        return Err(ApiError::refused(
            Refusal::OtherQuickBooksCompany,
            "This estimate belongs to another QuickBooks company than the one connected now, so it cannot be changed from Pipedrive.",
        ));
    }
    Ok(link)
}

async fn read_current(
    app: &App,
    caller: &Caller,
    id: &str,
) -> Result<Option<Estimate>, CallError<QuickBooksError>> {
    match app.quickbooks_of(&caller.profile).read_estimate(id).await {
        Ok(estimate) => Ok(Some(estimate)),
        Err(error) if is_not_found(&error) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The link brought up to date with what QuickBooks answered.
async fn applied(
    app: &App,
    caller: &Caller,
    link: &EstimateLink,
    estimate: &Estimate,
) -> Result<EstimateLink, ApiError> {
    Ok(apply_to_estimate_link(app, &caller.profile, link, estimate, caller.now).await?)
}

fn gone(link: &EstimateLink, doing: &str) -> ApiError {
    ApiError::not_found(format!(
        "{} was deleted in QuickBooks; {doing}.",
        label(link)
    ))
}

/// What an action on the estimate needs from QuickBooks (`kind` and `doing` name it in the
/// deal's log): the answer; or, when QuickBooks no longer has the estimate, the link marked
/// deleted and a 404 saying so (`then`: what that means for the action); or the failure, told
/// on the deal.
async fn answered<T>(
    app: &App,
    caller: &Caller,
    link: &EstimateLink,
    result: Result<T, CallError<QuickBooksError>>,
    (kind, doing, then): (&'static str, &str, &str),
) -> Result<T, ApiError> {
    let id = link.estimate_id.as_str();
    match result {
        Ok(answer) => Ok(answer),
        Err(e) if is_not_found(&e) => {
            applied(app, caller, link, &deleted_stub(id)).await?;
            Err(gone(link, then))
        }
        Err(e) => Err(failed(app, caller, link.deal_id, id, kind, doing, e).await),
    }
}

pub(crate) async fn send(
    State(app): State<App>,
    tenant: Tenant,
    PathParams((deal_id, raw_id)): PathParams<(u64, String)>,
    OptionalJsonBody(body): OptionalJsonBody<SendBody>,
) -> Result<Json<EstimateAnswer>, ApiError> {
    let caller = Caller::new(&app, tenant).await?;
    let deal = DealId(deal_id);
    let link = link_for_action(&app, &caller, deal, &raw_id).await?;
    let to = input::recipient(body.unwrap_or_default().to.as_deref())?;
    if link.status == EstimateStatus::Deleted {
        return Err(gone(&link, "it cannot be sent"));
    }
    let id = link.estimate_id.as_str();
    let result = app
        .quickbooks_of(&caller.profile)
        .send_estimate(id, to.as_deref())
        .await;
    let what = (
        "estimate.send_failed",
        "e-mailing the estimate",
        "it cannot be sent",
    );
    let sent = answered(&app, &caller, &link, result, what).await?;
    let recipient = to
        .or_else(|| {
            sent.sale
                .bill_email
                .as_ref()
                .and_then(|e| e.address.clone())
        })
        .unwrap_or_default();
    let message = format!(
        "{} was e-mailed by QuickBooks to {recipient}.",
        label(&link)
    );
    caller
        .record(
            &app,
            deal,
            Entry::ok("estimate.sent", Some(id), message.clone()),
        )
        .await;
    let link = applied(&app, &caller, &link, &sent).await?;
    Ok(Json(EstimateAnswer {
        estimate: view(&app, &caller, &link).await,
        message,
    }))
}

pub(crate) async fn pdf(
    State(app): State<App>,
    tenant: Tenant,
    PathParams((deal_id, raw_id)): PathParams<(u64, String)>,
) -> Result<Response, ApiError> {
    let caller = Caller::new(&app, tenant).await?;
    let deal = DealId(deal_id);
    let link = link_for_action(&app, &caller, deal, &raw_id).await?;
    let id = link.estimate_id.as_str();
    if link.status == EstimateStatus::Deleted {
        return Err(gone(&link, "there is no PDF to download"));
    }
    let result = app.quickbooks_of(&caller.profile).estimate_pdf(id).await;
    let what = (
        "estimate.pdf_failed",
        "preparing the PDF",
        "there is no PDF to download",
    );
    let bytes = answered(&app, &caller, &link, result, what).await?;
    let file_name = format!(
        "estimate-{}",
        input::pdf_file_name(link.doc_number.as_deref(), id)
    );
    let message = format!("{} was downloaded as a PDF ({file_name}).", label(&link));
    caller
        .record(
            &app,
            deal,
            Entry::ok("estimate.pdf_downloaded", Some(id), message),
        )
        .await;
    pdf_response(bytes, &file_name)
}

pub(crate) async fn delete(
    State(app): State<App>,
    tenant: Tenant,
    PathParams((deal_id, raw_id)): PathParams<(u64, String)>,
    OptionalJsonBody(body): OptionalJsonBody<ConfirmBody>,
) -> Result<Json<EstimateAnswer>, ApiError> {
    let caller = Caller::new(&app, tenant).await?;
    let deal = DealId(deal_id);
    let link = link_for_action(&app, &caller, deal, &raw_id).await?;
    body.unwrap_or_default().require(
        "Deleting removes the estimate from QuickBooks for good. Send {\"confirm\": true} to delete it.",
    )?;
    let id = link.estimate_id.as_str();
    let change = Change {
        deal,
        invoice_id: id,
        failed_kind: "estimate.delete_failed",
        doing: "deleting the estimate",
    };
    let quickbooks = app.quickbooks_of(&caller.profile);
    let changed = change_at_sync_token(
        &app,
        &caller,
        &change,
        || read_current(&app, &caller, id),
        delete_verdict,
        |sync_token| async move { quickbooks.delete_estimate(id, &sync_token).await },
    )
    .await?;
    let message = match changed {
        Changed::Done((), _) => format!("{} was deleted from QuickBooks.", label(&link)),
        Changed::Decided(EstimateVerdict::NoSyncToken, _) => return Err(no_sync_token()),
        Changed::Decided(..) => format!("{} was already deleted in QuickBooks.", label(&link)),
    };
    caller
        .record(
            &app,
            deal,
            Entry::ok("estimate.deleted", Some(id), message.clone()),
        )
        .await;
    let link = applied(&app, &caller, &link, &deleted_stub(id)).await?;
    Ok(Json(EstimateAnswer {
        estimate: view(&app, &caller, &link).await,
        message,
    }))
}

fn no_sync_token() -> ApiError {
    ApiError::internal("QuickBooks answered an estimate without a SyncToken")
}

fn parse_answer(body: &AnswerBody) -> Result<Answer, ApiError> {
    match body.answer.trim().to_ascii_lowercase().as_str() {
        "accepted" => Ok(Answer::Accepted),
        "rejected" => Ok(Answer::Rejected),
        _ => Err(ApiError::unprocessable(vec![
            shared::web::error::FieldError::new(
                "answer",
                "The answer is \"accepted\" or \"rejected\".",
            ),
        ])),
    }
}

pub(crate) async fn answer(
    State(app): State<App>,
    tenant: Tenant,
    PathParams((deal_id, raw_id)): PathParams<(u64, String)>,
    JsonBody(body): JsonBody<AnswerBody>,
) -> Result<Json<EstimateAnswer>, ApiError> {
    let wanted = parse_answer(&body)?;
    let accepted_by = body
        .accepted_by
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty());
    if accepted_by.is_some_and(|b| b.chars().count() > 100) {
        return Err(ApiError::bad_request(
            "Who accepted the estimate: at most 100 characters.",
        ));
    }
    let caller = Caller::new(&app, tenant).await?;
    let deal = DealId(deal_id);
    let link = link_for_action(&app, &caller, deal, &raw_id).await?;
    let id = link.estimate_id.as_str();
    let change = Change {
        deal,
        invoice_id: id,
        failed_kind: "estimate.answer_failed",
        doing: "recording the customer's answer",
    };
    let quickbooks = app.quickbooks_of(&caller.profile);
    let today = caller.today;
    let changed = change_at_sync_token(
        &app,
        &caller,
        &change,
        || read_current(&app, &caller, id),
        |current| answer_verdict(current, wanted, today),
        |sync_token| {
            let update = answer_update(id, &sync_token, wanted, accepted_by, today);
            async move { quickbooks.update_estimate(&update).await }
        },
    )
    .await?;
    let name = label(&link);
    let (current, message) = match changed {
        Changed::Done(updated, _) => {
            let message = format!("{name} was marked {} in QuickBooks.", wanted.word());
            caller
                .record(
                    &app,
                    deal,
                    Entry::ok("estimate.answered", Some(id), message.clone()),
                )
                .await;
            (updated, message)
        }
        Changed::Decided(EstimateVerdict::AlreadySo, Some(current)) => {
            (current, format!("{name} is already {}.", wanted.word()))
        }
        Changed::Decided(EstimateVerdict::Refused(why), current) => {
            let link = match current {
                Some(current) => applied(&app, &caller, &link, &current).await?,
                None => link.clone(),
            };
            return Err(ApiError::Refused {
                reason: Refusal::InvoiceState,
                detail: format!("{name} {why}."),
                current: serde_json::to_value(view(&app, &caller, &link).await).ok(),
            });
        }
        Changed::Decided(EstimateVerdict::NoSyncToken, _) => return Err(no_sync_token()),
        Changed::Decided(..) => {
            applied(&app, &caller, &link, &deleted_stub(id)).await?;
            return Err(gone(&link, "its answer cannot be recorded"));
        }
    };
    let link = applied(&app, &caller, &link, &current).await?;
    Ok(Json(EstimateAnswer {
        estimate: view(&app, &caller, &link).await,
        message,
    }))
}
