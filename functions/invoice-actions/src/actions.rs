//! Actions on one invoice of the deal: void, delete, send, PDF, open in QuickBooks.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use shared::app::App;
use shared::app::sync::changes::Logged;
use shared::app::tokens::CallError;
use shared::clients::quickbooks::{QuickBooksEndpoints, QuickBooksError};
use shared::domain::actions::{
    AtSyncToken, DeleteVerdict, SendVerdict, VoidVerdict, billing_email, delete_verdict,
    send_verdict, void_verdict,
};
use shared::domain::{DealId, InvoiceLink, InvoiceStatus};
use shared::web::auth::Tenant;
use shared::web::error::{ApiError, FieldError};
use shared::web::http::{OptionalJsonBody, PathParams};
use shared::wire::quickbooks::model::{EntityStatus, Invoice};

use crate::input::{self, ConfirmBody, SendBody};
use crate::views::{ActionAnswer, InvoiceView, OpenAnswer};
use crate::{
    Caller, Entry, failure_sentence, intuit_tid, invoice_label, is_not_found, is_stale,
    quickbooks_problem,
};

type QbResult<T> = Result<T, CallError<QuickBooksError>>;

/// The `{"status":"Deleted"}` stub QuickBooks answers deletes with, for an id.
fn deleted_stub(invoice_id: &str) -> Invoice {
    Invoice {
        id: Some(invoice_id.to_string()),
        status: Some(EntityStatus::Deleted),
        ..Invoice::default()
    }
}

/// What QuickBooks holds for the invoice now: `None` when it answers 610 (deleted, or never
/// there).
async fn read_current(app: &App, caller: &Caller, invoice_id: &str) -> QbResult<Option<Invoice>> {
    match app
        .quickbooks_of(&caller.profile)
        .read_invoice(invoice_id)
        .await
    {
        Ok(invoice) => Ok(Some(invoice)),
        Err(error) if is_not_found(&error) => Ok(None),
        Err(error) => Err(error),
    }
}

fn answer(caller: &Caller, link: &InvoiceLink, message: String) -> Json<ActionAnswer> {
    Json(ActionAnswer {
        invoice: InvoiceView::from_link(link, caller.today),
        message,
    })
}

fn conflict(detail: String, caller: &Caller, link: &InvoiceLink) -> ApiError {
    ApiError::Refused {
        reason: shared::web::error::Refusal::InvoiceState,
        detail,
        current: serde_json::to_value(InvoiceView::from_link(link, caller.today)).ok(),
    }
}

/// Records a QuickBooks failure in the deal's log and turns it into the answer.
pub(crate) async fn failed(
    app: &App,
    caller: &Caller,
    deal: DealId,
    invoice_id: &str,
    kind: &'static str,
    doing: &str,
    error: CallError<QuickBooksError>,
) -> ApiError {
    let tid = intuit_tid(&error);
    let problem = quickbooks_problem(error, doing);
    caller
        .record(
            app,
            deal,
            Entry::failed(
                kind,
                Some(invoice_id),
                format!("Failed {doing}: {}", failure_sentence(&problem)),
                tid,
            ),
        )
        .await;
    problem
}

/// One change of a document (invoice, estimate) in QuickBooks at its `SyncToken` (void,
/// delete, an estimate's answer).
pub(crate) struct Change<'a> {
    pub deal: DealId,
    pub invoice_id: &'a str,
    /// The activity kind of a failure (`invoice.void_failed`).
    pub failed_kind: &'static str,
    /// Completes "Failed …" and "QuickBooks refused …" (`voiding the invoice`).
    pub doing: &'static str,
}

/// How [`change_at_sync_token`] ended.
pub(crate) enum Changed<V, T, D = Invoice> {
    /// The verdict was not to call QuickBooks: here it is, with what it was decided on.
    Decided(V, Option<D>),
    /// QuickBooks made the change: its answer, and the document as it was before.
    Done(T, D),
}

/// Read → decide → call, once more after a stale `SyncToken` (someone changed the document
/// meanwhile: look again, decide again). `read` answers what QuickBooks holds (`None`: 610);
/// `decide` is one of the domain's pure verdicts on it; `call` makes the change at the
/// verdict's `SyncToken`. A 610 from the call means it was deleted meanwhile: decided again on
/// `None`. Failures of the reads and the call are recorded in the deal's log and answered.
pub(crate) async fn change_at_sync_token<V, T, D, ReadFut, Fut>(
    app: &App,
    caller: &Caller,
    change: &Change<'_>,
    read: impl Fn() -> ReadFut,
    decide: impl Fn(Option<&D>) -> V,
    call: impl Fn(String) -> Fut,
) -> Result<Changed<V, T, D>, ApiError>
where
    V: AtSyncToken,
    ReadFut: std::future::Future<Output = QbResult<Option<D>>>,
    Fut: std::future::Future<Output = QbResult<T>>,
{
    let fail = |error| {
        failed(
            app,
            caller,
            change.deal,
            change.invoice_id,
            change.failed_kind,
            change.doing,
            error,
        )
    };
    let mut current = match read().await {
        Ok(current) => current,
        Err(error) => return Err(fail(error).await),
    };
    let mut retried_stale = false;
    loop {
        let verdict = decide(current.as_ref());
        let Some(sync_token) = verdict.sync_token().map(str::to_string) else {
            return Ok(Changed::Decided(verdict, current));
        };
        // A verdict to change comes only with an invoice to change.
        let Some(invoice) = current.take() else {
            return Ok(Changed::Decided(verdict, None));
        };
        match call(sync_token).await {
            Ok(result) => return Ok(Changed::Done(result, invoice)),
            Err(error) if is_stale(&error) && !retried_stale => {
                retried_stale = true;
                current = match read().await {
                    Ok(current) => current,
                    Err(error) => return Err(fail(error).await),
                };
            }
            Err(error) if is_not_found(&error) => current = None,
            Err(error) => return Err(fail(error).await),
        }
    }
}

pub(crate) async fn void(
    State(app): State<App>,
    tenant: Tenant,
    PathParams((deal_id, raw_id)): PathParams<(u64, String)>,
    OptionalJsonBody(body): OptionalJsonBody<ConfirmBody>,
) -> Result<Json<ActionAnswer>, ApiError> {
    let body = body.unwrap_or_default();
    let invoice_id = input::invoice_id(&raw_id)?;
    let caller = Caller::new(&app, tenant).await?;
    let deal = DealId(deal_id);
    let (link, _) = caller.link_for_action(&app, deal, &invoice_id).await?;
    body.require(
        "Voiding cannot be undone: QuickBooks keeps the invoice with every amount set to zero. Send {\"confirm\": true} to void it.",
    )?;
    let label = invoice_label(link.doc_number.as_deref(), &invoice_id);
    if link.status == InvoiceStatus::Deleted {
        return not_voided(&caller, &link, &label, VoidVerdict::Deleted);
    }
    let change = Change {
        deal,
        invoice_id: &invoice_id,
        failed_kind: "invoice.void_failed",
        doing: "voiding the invoice",
    };
    let quickbooks = app.quickbooks_of(&caller.profile);
    let changed = change_at_sync_token(
        &app,
        &caller,
        &change,
        || read_current(&app, &caller, &invoice_id),
        |current| void_verdict(current, &link, caller.today),
        |sync_token| {
            let invoice_id = invoice_id.as_str();
            async move { quickbooks.void_invoice(invoice_id, &sync_token).await }
        },
    )
    .await?;
    match changed {
        Changed::Done(voided, before) => {
            // The log first: QuickBooks changed, whatever happens to the link write.
            let was = before.total_amt.unwrap_or(link.total);
            let message = format!(
                "{label} was voided in QuickBooks (its total was {}).",
                caller.format.money(was, &link.currency)
            );
            caller
                .record(
                    &app,
                    deal,
                    Entry::ok("invoice.voided", Some(&invoice_id), message.clone()),
                )
                .await;
            let link = caller.apply(&app, &link, &voided, Logged::ByCaller).await?;
            Ok(answer(&caller, &link, message))
        }
        Changed::Decided(VoidVerdict::NoSyncToken, _) => Err(no_sync_token()),
        Changed::Decided(verdict, current) => {
            let current = current.unwrap_or_else(|| deleted_stub(&invoice_id));
            let link = caller.apply(&app, &link, &current, Logged::Here).await?;
            not_voided(&caller, &link, &label, verdict)
        }
    }
}

fn no_sync_token() -> ApiError {
    ApiError::internal("QuickBooks answered an invoice without a SyncToken")
}

/// The answer to a void QuickBooks was not asked for, with the link as it is now.
fn not_voided(
    caller: &Caller,
    link: &InvoiceLink,
    label: &str,
    verdict: VoidVerdict,
) -> Result<Json<ActionAnswer>, ApiError> {
    match verdict {
        VoidVerdict::AlreadyVoid => Ok(answer(caller, link, format!("{label} is already void."))),
        VoidVerdict::Paid { paid, total } => Err(conflict(
            format!(
                "{label} cannot be voided: {} of {} has been paid. Remove the payment in QuickBooks first (or issue a credit memo there).",
                caller.format.money(paid, &link.currency),
                caller.format.money(total, &link.currency)
            ),
            caller,
            link,
        )),
        VoidVerdict::PaymentsApplied => Err(conflict(
            format!(
                "{label} cannot be voided while payments are applied to it. Remove the payments in QuickBooks first."
            ),
            caller,
            link,
        )),
        VoidVerdict::Deleted | VoidVerdict::Void { .. } | VoidVerdict::NoSyncToken => {
            Err(conflict(
                format!("{label} was deleted in QuickBooks; there is nothing to void."),
                caller,
                link,
            ))
        }
    }
}

pub(crate) async fn delete(
    State(app): State<App>,
    tenant: Tenant,
    PathParams((deal_id, raw_id)): PathParams<(u64, String)>,
    OptionalJsonBody(body): OptionalJsonBody<ConfirmBody>,
) -> Result<Json<ActionAnswer>, ApiError> {
    let body = body.unwrap_or_default();
    let invoice_id = input::invoice_id(&raw_id)?;
    let caller = Caller::new(&app, tenant).await?;
    let deal = DealId(deal_id);
    let (link, _) = caller.link_for_action(&app, deal, &invoice_id).await?;
    body.require(
        "Deleting removes the invoice from QuickBooks for good. Send {\"confirm\": true} to delete it.",
    )?;
    let label = invoice_label(link.doc_number.as_deref(), &invoice_id);
    if link.status == InvoiceStatus::Deleted {
        return Ok(answer(
            &caller,
            &link,
            format!("{label} is already deleted."),
        ));
    }
    let change = Change {
        deal,
        invoice_id: &invoice_id,
        failed_kind: "invoice.delete_failed",
        doing: "deleting the invoice",
    };
    let quickbooks = app.quickbooks_of(&caller.profile);
    let changed = change_at_sync_token(
        &app,
        &caller,
        &change,
        || read_current(&app, &caller, &invoice_id),
        |current| delete_verdict(current, &link, caller.today),
        |sync_token| {
            let invoice_id = invoice_id.as_str();
            async move { quickbooks.delete_invoice(invoice_id, &sync_token).await }
        },
    )
    .await?;
    match changed {
        Changed::Done((), _) => {
            let message = format!("{label} was deleted from QuickBooks.");
            caller
                .record(
                    &app,
                    deal,
                    Entry::ok("invoice.deleted", Some(&invoice_id), message.clone()),
                )
                .await;
            let link = caller
                .apply(&app, &link, &deleted_stub(&invoice_id), Logged::ByCaller)
                .await?;
            Ok(answer(&caller, &link, message))
        }
        Changed::Decided(DeleteVerdict::NoSyncToken, _) => Err(no_sync_token()),
        Changed::Decided(verdict, current) => {
            let current = current.unwrap_or_else(|| deleted_stub(&invoice_id));
            let link = caller.apply(&app, &link, &current, Logged::Here).await?;
            match verdict {
                DeleteVerdict::PaymentsApplied => Err(conflict(
                    format!(
                        "{label} cannot be deleted while payments are applied to it. Remove the payments in QuickBooks first."
                    ),
                    &caller,
                    &link,
                )),
                _ => Ok(answer(
                    &caller,
                    &link,
                    format!("{label} was already deleted in QuickBooks."),
                )),
            }
        }
    }
}

pub(crate) async fn send(
    State(app): State<App>,
    tenant: Tenant,
    PathParams((deal_id, raw_id)): PathParams<(u64, String)>,
    OptionalJsonBody(body): OptionalJsonBody<SendBody>,
) -> Result<Json<ActionAnswer>, ApiError> {
    let body = body.unwrap_or_default();
    let invoice_id = input::invoice_id(&raw_id)?;
    let caller = Caller::new(&app, tenant).await?;
    let deal = DealId(deal_id);
    let (link, _) = caller.link_for_action(&app, deal, &invoice_id).await?;
    let to = input::recipient(body.to.as_deref())?;
    let label = invoice_label(link.doc_number.as_deref(), &invoice_id);
    let gone = |link: &InvoiceLink| {
        conflict(
            format!("{label} was deleted in QuickBooks, so it cannot be sent."),
            &caller,
            link,
        )
    };
    if link.status == InvoiceStatus::Deleted {
        return Err(gone(&link));
    }
    const DOING: &str = "e-mailing the invoice";
    let send_failed = |e| {
        failed(
            &app,
            &caller,
            deal,
            &invoice_id,
            "invoice.send_failed",
            DOING,
            e,
        )
    };
    let current = match read_current(&app, &caller, &invoice_id).await {
        Ok(current) => current,
        Err(e) => return Err(send_failed(e).await),
    };
    let bill_email = current.as_ref().and_then(billing_email);
    let verdict = send_verdict(current.as_ref(), &link, to.as_deref(), caller.today);
    if verdict != (SendVerdict::Send { to: to.clone() }) {
        return Err(not_sent(&app, &caller, &link, &label, verdict, current).await);
    }
    let result = app
        .quickbooks_of(&caller.profile)
        .send_invoice(&invoice_id, to.as_deref())
        .await;
    match result {
        Ok(sent) => {
            let recipient = to
                .or_else(|| sent.bill_email.as_ref().and_then(|e| e.address.clone()))
                .or(bill_email)
                .unwrap_or_default();
            let message = format!("{label} was e-mailed by QuickBooks to {recipient}.");
            caller
                .record(
                    &app,
                    deal,
                    Entry::ok("invoice.sent", Some(&invoice_id), message.clone()),
                )
                .await;
            let link = caller.apply(&app, &link, &sent, Logged::Here).await?;
            Ok(answer(&caller, &link, message))
        }
        Err(e) if is_not_found(&e) => {
            let link = caller
                .apply(&app, &link, &deleted_stub(&invoice_id), Logged::Here)
                .await?;
            Err(gone(&link))
        }
        Err(e) => Err(send_failed(e).await),
    }
}

/// Why the invoice was not sent, with its link brought up to date first.
async fn not_sent(
    app: &App,
    caller: &Caller,
    link: &InvoiceLink,
    label: &str,
    verdict: SendVerdict,
    current: Option<Invoice>,
) -> ApiError {
    let current = current.unwrap_or_else(|| deleted_stub(&link.invoice_id));
    let updated = match verdict {
        SendVerdict::Deleted | SendVerdict::Voided => {
            caller.apply(app, link, &current, Logged::Here).await
        }
        SendVerdict::NeedsAddress | SendVerdict::Send { .. } => Ok(link.clone()),
    };
    let link = match updated {
        Ok(link) => link,
        Err(error) => return error,
    };
    match verdict {
        SendVerdict::Voided => conflict(
            format!("{label} is void; a void invoice is not sent to the customer."),
            caller,
            &link,
        ),
        SendVerdict::NeedsAddress | SendVerdict::Send { .. } => ApiError::Unprocessable {
            detail: format!(
                "{label} has no billing e-mail in QuickBooks. Enter the address to send it to."
            ),
            errors: vec![FieldError::new(
                "to",
                "This invoice has no billing e-mail in QuickBooks: enter the address to send it to.",
            )],
        },
        SendVerdict::Deleted => conflict(
            format!("{label} was deleted in QuickBooks, so it cannot be sent."),
            caller,
            &link,
        ),
    }
}

pub(crate) async fn pdf(
    State(app): State<App>,
    tenant: Tenant,
    PathParams((deal_id, raw_id)): PathParams<(u64, String)>,
) -> Result<Response, ApiError> {
    let invoice_id = input::invoice_id(&raw_id)?;
    let caller = Caller::new(&app, tenant).await?;
    let deal = DealId(deal_id);
    let (link, _) = caller.link_for_action(&app, deal, &invoice_id).await?;
    let label = invoice_label(link.doc_number.as_deref(), &invoice_id);
    let gone = || {
        ApiError::not_found(format!(
            "{label} was deleted in QuickBooks; there is no PDF to download."
        ))
    };
    if link.status == InvoiceStatus::Deleted {
        return Err(gone());
    }
    let result = app
        .quickbooks_of(&caller.profile)
        .invoice_pdf(&invoice_id)
        .await;
    let bytes = match result {
        Ok(bytes) => bytes,
        Err(e) if is_not_found(&e) => {
            caller
                .apply(&app, &link, &deleted_stub(&invoice_id), Logged::Here)
                .await?;
            return Err(gone());
        }
        Err(e) => {
            return Err(failed(
                &app,
                &caller,
                deal,
                &invoice_id,
                "invoice.pdf_failed",
                "preparing the PDF",
                e,
            )
            .await);
        }
    };
    let file_name = input::pdf_file_name(link.doc_number.as_deref(), &invoice_id);
    caller
        .record(
            &app,
            deal,
            Entry::ok(
                "invoice.pdf_downloaded",
                Some(&invoice_id),
                format!("{label} was downloaded as a PDF ({file_name})."),
            ),
        )
        .await;
    pdf_response(bytes, &file_name)
}

/// A PDF download: the bytes, as an attachment named `file_name`, never cached or sniffed.
pub(crate) fn pdf_response(
    bytes: axum::body::Bytes,
    file_name: &str,
) -> Result<Response, ApiError> {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .map_err(|_| ApiError::internal("the PDF file name is not a valid header value"))?;
    let mut response = (StatusCode::OK, Body::from(bytes)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// The invoice's page in the QuickBooks web app: Intuit's sandbox or production app per the
/// company's connection (a simulated deployment links to its simulator).
pub fn quickbooks_invoice_url(
    app: &App,
    profile: &shared::domain::CompanyProfile,
    invoice_id: &str,
) -> String {
    quickbooks_app(app, profile).invoice_url(invoice_id)
}

/// The QuickBooks web app a company's documents open in: Intuit's sandbox or production app per
/// the company's connection (a simulated deployment: its simulator).
pub fn quickbooks_app(app: &App, profile: &shared::domain::CompanyProfile) -> QuickBooksEndpoints {
    let deployed = &app.deployment.quickbooks;
    if *deployed == QuickBooksEndpoints::intuit(app.deployment.quickbooks_environment) {
        let environment = profile
            .quickbooks
            .as_ref()
            .map(|q| q.environment)
            .unwrap_or(app.deployment.quickbooks_environment);
        QuickBooksEndpoints::intuit(environment)
    } else {
        deployed.clone()
    }
}

pub(crate) async fn open(
    State(app): State<App>,
    tenant: Tenant,
    PathParams((deal_id, raw_id)): PathParams<(u64, String)>,
) -> Result<Json<OpenAnswer>, ApiError> {
    let invoice_id = input::invoice_id(&raw_id)?;
    let caller = Caller::new(&app, tenant).await?;
    let deal = DealId(deal_id);
    let link = caller.link(&app, deal, &invoice_id).await?;
    let label = invoice_label(link.doc_number.as_deref(), &invoice_id);
    if link.status == InvoiceStatus::Deleted {
        return Err(ApiError::not_found(format!(
            "{label} was deleted in QuickBooks; there is nothing to open."
        )));
    }
    let url = quickbooks_invoice_url(&app, &caller.profile, &invoice_id);
    caller
        .record(
            &app,
            deal,
            Entry::ok(
                "invoice.opened",
                Some(&invoice_id),
                format!("{label} was opened in QuickBooks."),
            ),
        )
        .await;
    Ok(Json(OpenAnswer { url }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use shared::app::Deployment;
    use shared::clients::pipedrive::PipedriveEndpoints;
    use shared::domain::actions::has_payments;
    use shared::domain::{
        CompanyId, CompanyProfile, ConnectionState, QuickBooksConnection, QuickBooksEnvironment,
        UserId,
    };
    use test_world::{embedded_app, embedded_app_with};

    fn profile(environment: QuickBooksEnvironment) -> CompanyProfile {
        let mut profile = CompanyProfile::new(CompanyId(1), Utc::now());
        profile.quickbooks = Some(QuickBooksConnection {
            realm_id: "9341".into(),
            environment,
            state: ConnectionState::Connected,
            connected_by: UserId(2),
            connected_at: Utc::now(),
            reason: None,
        });
        profile
    }

    #[test]
    fn deep_links_follow_the_connections_environment() {
        let app = embedded_app_with(Deployment {
            public_base_url: "https://api.example".into(),
            quickbooks_environment: QuickBooksEnvironment::Sandbox,
            quickbooks: QuickBooksEndpoints::intuit(QuickBooksEnvironment::Sandbox),
            pipedrive: PipedriveEndpoints::pipedrive(),
            frame_ancestors: vec![],
        });
        assert_eq!(
            quickbooks_invoice_url(&app, &profile(QuickBooksEnvironment::Production), "130"),
            "https://app.qbo.intuit.com/app/invoice?txnId=130"
        );
        assert_eq!(
            quickbooks_invoice_url(&app, &profile(QuickBooksEnvironment::Sandbox), "130"),
            "https://app.sandbox.qbo.intuit.com/app/invoice?txnId=130"
        );
        let simulated = embedded_app();
        assert!(
            quickbooks_invoice_url(&simulated, &profile(QuickBooksEnvironment::Sandbox), "7")
                .starts_with("http://127.0.0.1:9/app")
        );
    }

    #[test]
    fn payments_are_seen_in_linked_transactions() {
        let invoice: Invoice = serde_json::from_value(serde_json::json!({
            "Id": "1", "TotalAmt": 10, "Balance": 10,
            "LinkedTxn": [{"TxnId": "5", "TxnType": "Payment"}]
        }))
        .unwrap();
        assert!(has_payments(&invoice));
        assert!(!has_payments(&Invoice::default()));
    }
}
