//! Actions on one invoice of the deal: void, delete, send, PDF, open in QuickBooks.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;

use shared::app::App;
use shared::domain::status::invoice_status;
use shared::domain::{DealId, InvoiceLink, InvoiceStatus, Tenant};
use shared::error::{ApiError, FieldError};
use shared::http::PathParams;
use shared::quickbooks::client::{QuickBooksEndpoints, QuickBooksError};
use shared::quickbooks::model::{EntityStatus, Invoice};
use shared::tokens::manager::CallError;

use crate::input::{self, ConfirmBody, OptionalJson, SendBody};
use crate::views::{ActionAnswer, InvoiceView, OpenAnswer};
use crate::{
    Caller, Entry, failure_sentence, intuit_tid, invoice_label, is_not_found, is_stale,
    quickbooks_problem,
};

type QbResult<T> = Result<T, CallError<QuickBooksError>>;

/// What QuickBooks holds for an invoice right now.
enum Current {
    Found(Box<Invoice>),
    /// QuickBooks answered 610: deleted (or never there).
    Gone,
}

/// The `{"status":"Deleted"}` stub QuickBooks answers deletes with, for an id.
fn deleted_stub(invoice_id: &str) -> Invoice {
    Invoice {
        id: Some(invoice_id.to_string()),
        status: Some(EntityStatus::Deleted),
        ..Invoice::default()
    }
}

async fn read_current(app: &App, caller: &Caller, invoice_id: &str) -> QbResult<Current> {
    let client = app.quickbooks.clone();
    let result = app
        .tokens
        .with_quickbooks_for(&caller.profile, |access| {
            let client = client.clone();
            let id = invoice_id.to_string();
            async move {
                client
                    .read_invoice(&access.realm_id, &access.token, &id)
                    .await
            }
        })
        .await;
    match result {
        Ok(invoice) => Ok(Current::Found(Box::new(invoice))),
        Err(error) if is_not_found(&error) => Ok(Current::Gone),
        Err(error) => Err(error),
    }
}

/// The total we knew before, for telling a voided invoice from a legitimate 0-total one.
fn known_total(link: &InvoiceLink) -> Option<Decimal> {
    (!link.total.is_zero()).then_some(link.total)
}

/// Payments are applied to the invoice (QuickBooks lists them in `LinkedTxn`).
fn has_payments(invoice: &Invoice) -> bool {
    invoice
        .linked_txn
        .as_ref()
        .is_some_and(|txns| txns.iter().any(|t| t.txn_type == "Payment"))
}

fn answer(caller: &Caller, link: &InvoiceLink, message: String) -> Json<ActionAnswer> {
    Json(ActionAnswer {
        invoice: InvoiceView::from_link(link, caller.today),
        message,
    })
}

fn conflict(detail: String, caller: &Caller, link: &InvoiceLink) -> ApiError {
    ApiError::Refused {
        reason: shared::error::Refusal::InvoiceState,
        detail,
        current: serde_json::to_value(InvoiceView::from_link(link, caller.today)).ok(),
    }
}

/// Records a QuickBooks failure in the deal's log and turns it into the answer.
async fn failed(
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

pub(crate) async fn void(
    State(app): State<App>,
    tenant: Tenant,
    PathParams((deal_id, raw_id)): PathParams<(u64, String)>,
    OptionalJson(body): OptionalJson<ConfirmBody>,
) -> Result<Json<ActionAnswer>, ApiError> {
    let invoice_id = input::invoice_id(&raw_id)?;
    let caller = Caller::new(&app, tenant).await?;
    let deal = DealId(deal_id);
    let (link, _) = caller.link_for_action(&app, deal, &invoice_id).await?;
    body.require(
        "Voiding cannot be undone: QuickBooks keeps the invoice with every amount set to zero. Send {\"confirm\": true} to void it.",
    )?;
    let label = invoice_label(link.doc_number.as_deref(), &invoice_id);
    if link.status == InvoiceStatus::Deleted {
        return Err(conflict(
            format!("{label} was deleted in QuickBooks; there is nothing to void."),
            &caller,
            &link,
        ));
    }
    const DOING: &str = "voiding the invoice";
    let mut current = match read_current(&app, &caller, &invoice_id).await {
        Ok(current) => current,
        Err(e) => {
            return Err(failed(
                &app,
                &caller,
                deal,
                &invoice_id,
                "invoice.void_failed",
                DOING,
                e,
            )
            .await);
        }
    };
    let mut retried_stale = false;
    loop {
        let invoice = match current {
            Current::Gone => {
                let link = caller
                    .apply(&app, &link, &deleted_stub(&invoice_id))
                    .await?;
                return Err(conflict(
                    format!("{label} was deleted in QuickBooks; there is nothing to void."),
                    &caller,
                    &link,
                ));
            }
            Current::Found(invoice) => invoice,
        };
        match invoice_status(&invoice, known_total(&link), caller.today) {
            InvoiceStatus::Voided => {
                let link = caller.apply(&app, &link, &invoice).await?;
                return Ok(answer(&caller, &link, format!("{label} is already void.")));
            }
            InvoiceStatus::Paid | InvoiceStatus::PartiallyPaid => {
                let link = caller.apply(&app, &link, &invoice).await?;
                let total = invoice.total_amt.unwrap_or(link.total);
                let balance = invoice.balance.unwrap_or(link.balance);
                return Err(conflict(
                    format!(
                        "{label} cannot be voided: {} of {} has been paid. Remove the payment in QuickBooks first (or issue a credit memo there).",
                        caller.format.money(total - balance, &link.currency),
                        caller.format.money(total, &link.currency)
                    ),
                    &caller,
                    &link,
                ));
            }
            _ if has_payments(&invoice) => {
                let link = caller.apply(&app, &link, &invoice).await?;
                return Err(conflict(
                    format!(
                        "{label} cannot be voided while payments are applied to it. Remove the payments in QuickBooks first."
                    ),
                    &caller,
                    &link,
                ));
            }
            _ => {}
        }
        let Some(sync_token) = invoice.sync_token.clone() else {
            return Err(ApiError::internal(
                "QuickBooks answered an invoice without a SyncToken",
            ));
        };
        let client = app.quickbooks.clone();
        let result = app
            .tokens
            .with_quickbooks_for(&caller.profile, |access| {
                let client = client.clone();
                let id = invoice_id.clone();
                let token = sync_token.clone();
                async move {
                    let request_id = uuid::Uuid::new_v4().to_string();
                    client
                        .void_invoice(&access.realm_id, &access.token, &id, &token, &request_id)
                        .await
                }
            })
            .await;
        match result {
            Ok(voided) => {
                // The log first: QuickBooks changed, whatever happens to the link write.
                let was = invoice.total_amt.unwrap_or(link.total);
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
                let link = caller.apply(&app, &link, &voided).await?;
                return Ok(answer(&caller, &link, message));
            }
            Err(e) if is_stale(&e) && !retried_stale => {
                // Someone changed it meanwhile: look again, decide again, retry once.
                retried_stale = true;
                current = match read_current(&app, &caller, &invoice_id).await {
                    Ok(current) => current,
                    Err(e) => {
                        return Err(failed(
                            &app,
                            &caller,
                            deal,
                            &invoice_id,
                            "invoice.void_failed",
                            DOING,
                            e,
                        )
                        .await);
                    }
                };
            }
            Err(e) if is_not_found(&e) => current = Current::Gone,
            Err(e) => {
                return Err(failed(
                    &app,
                    &caller,
                    deal,
                    &invoice_id,
                    "invoice.void_failed",
                    DOING,
                    e,
                )
                .await);
            }
        }
    }
}

pub(crate) async fn delete(
    State(app): State<App>,
    tenant: Tenant,
    PathParams((deal_id, raw_id)): PathParams<(u64, String)>,
    OptionalJson(body): OptionalJson<ConfirmBody>,
) -> Result<Json<ActionAnswer>, ApiError> {
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
    const DOING: &str = "deleting the invoice";
    let mut current = match read_current(&app, &caller, &invoice_id).await {
        Ok(current) => current,
        Err(e) => {
            return Err(failed(
                &app,
                &caller,
                deal,
                &invoice_id,
                "invoice.delete_failed",
                DOING,
                e,
            )
            .await);
        }
    };
    let mut retried_stale = false;
    loop {
        let invoice = match current {
            Current::Gone => {
                let link = caller
                    .apply(&app, &link, &deleted_stub(&invoice_id))
                    .await?;
                return Ok(answer(
                    &caller,
                    &link,
                    format!("{label} was already deleted in QuickBooks."),
                ));
            }
            Current::Found(invoice) => invoice,
        };
        let status = invoice_status(&invoice, known_total(&link), caller.today);
        let paid = matches!(status, InvoiceStatus::Paid | InvoiceStatus::PartiallyPaid)
            && !invoice.total_amt.unwrap_or_default().is_zero();
        if has_payments(&invoice) || paid {
            let link = caller.apply(&app, &link, &invoice).await?;
            return Err(conflict(
                format!(
                    "{label} cannot be deleted while payments are applied to it. Remove the payments in QuickBooks first."
                ),
                &caller,
                &link,
            ));
        }
        let Some(sync_token) = invoice.sync_token.clone() else {
            return Err(ApiError::internal(
                "QuickBooks answered an invoice without a SyncToken",
            ));
        };
        let client = app.quickbooks.clone();
        let result = app
            .tokens
            .with_quickbooks_for(&caller.profile, |access| {
                let client = client.clone();
                let id = invoice_id.clone();
                let token = sync_token.clone();
                async move {
                    let request_id = uuid::Uuid::new_v4().to_string();
                    client
                        .delete_invoice(&access.realm_id, &access.token, &id, &token, &request_id)
                        .await
                }
            })
            .await;
        match result {
            Ok(()) => {
                let message = format!("{label} was deleted from QuickBooks.");
                caller
                    .record(
                        &app,
                        deal,
                        Entry::ok("invoice.deleted", Some(&invoice_id), message.clone()),
                    )
                    .await;
                let link = caller
                    .apply(&app, &link, &deleted_stub(&invoice_id))
                    .await?;
                return Ok(answer(&caller, &link, message));
            }
            Err(e) if is_stale(&e) && !retried_stale => {
                retried_stale = true;
                current = match read_current(&app, &caller, &invoice_id).await {
                    Ok(current) => current,
                    Err(e) => {
                        return Err(failed(
                            &app,
                            &caller,
                            deal,
                            &invoice_id,
                            "invoice.delete_failed",
                            DOING,
                            e,
                        )
                        .await);
                    }
                };
            }
            // Deleted meanwhile (QuickBooks answers 610 for a deleted invoice).
            Err(e) if is_not_found(&e) => current = Current::Gone,
            Err(e) => {
                return Err(failed(
                    &app,
                    &caller,
                    deal,
                    &invoice_id,
                    "invoice.delete_failed",
                    DOING,
                    e,
                )
                .await);
            }
        }
    }
}

pub(crate) async fn send(
    State(app): State<App>,
    tenant: Tenant,
    PathParams((deal_id, raw_id)): PathParams<(u64, String)>,
    OptionalJson(body): OptionalJson<SendBody>,
) -> Result<Json<ActionAnswer>, ApiError> {
    let invoice_id = input::invoice_id(&raw_id)?;
    let caller = Caller::new(&app, tenant).await?;
    let deal = DealId(deal_id);
    let (link, _) = caller.link_for_action(&app, deal, &invoice_id).await?;
    let to = match body.to.as_deref() {
        None => None,
        Some(raw) => match input::validate_email(raw) {
            Ok(address) => Some(address),
            Err(reason) => {
                let sentence = format!("The recipient is not a valid e-mail address: it {reason}.");
                return Err(ApiError::Unprocessable {
                    detail: sentence.clone(),
                    errors: vec![FieldError::new("to", sentence)],
                });
            }
        },
    };
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
    let invoice = match read_current(&app, &caller, &invoice_id).await {
        Ok(Current::Found(invoice)) => invoice,
        Ok(Current::Gone) => {
            let link = caller
                .apply(&app, &link, &deleted_stub(&invoice_id))
                .await?;
            return Err(gone(&link));
        }
        Err(e) => {
            return Err(failed(
                &app,
                &caller,
                deal,
                &invoice_id,
                "invoice.send_failed",
                DOING,
                e,
            )
            .await);
        }
    };
    if invoice_status(&invoice, known_total(&link), caller.today) == InvoiceStatus::Voided {
        let link = caller.apply(&app, &link, &invoice).await?;
        return Err(conflict(
            format!("{label} is void; a void invoice is not sent to the customer."),
            &caller,
            &link,
        ));
    }
    let bill_email = invoice
        .bill_email
        .as_ref()
        .and_then(|e| e.address.as_deref())
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string);
    if to.is_none() && bill_email.is_none() {
        return Err(ApiError::Unprocessable {
            detail: format!(
                "{label} has no billing e-mail in QuickBooks. Enter the address to send it to."
            ),
            errors: vec![FieldError::new(
                "to",
                "This invoice has no billing e-mail in QuickBooks: enter the address to send it to.",
            )],
        });
    }
    let client = app.quickbooks.clone();
    let result = app
        .tokens
        .with_quickbooks_for(&caller.profile, |access| {
            let client = client.clone();
            let id = invoice_id.clone();
            let to = to.clone();
            async move {
                client
                    .send_invoice(&access.realm_id, &access.token, &id, to.as_deref())
                    .await
            }
        })
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
            let link = caller.apply(&app, &link, &sent).await?;
            Ok(answer(&caller, &link, message))
        }
        Err(e) if is_not_found(&e) => {
            let link = caller
                .apply(&app, &link, &deleted_stub(&invoice_id))
                .await?;
            Err(gone(&link))
        }
        Err(e) => Err(failed(
            &app,
            &caller,
            deal,
            &invoice_id,
            "invoice.send_failed",
            DOING,
            e,
        )
        .await),
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
    let client = app.quickbooks.clone();
    let result = app
        .tokens
        .with_quickbooks_for(&caller.profile, |access| {
            let client = client.clone();
            let id = invoice_id.clone();
            async move {
                client
                    .invoice_pdf(&access.realm_id, &access.token, &id)
                    .await
            }
        })
        .await;
    let bytes = match result {
        Ok(bytes) => bytes,
        Err(e) if is_not_found(&e) => {
            caller
                .apply(&app, &link, &deleted_stub(&invoice_id))
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
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .map_err(|_| ApiError::internal("the PDF file name is not a valid header value"))?;
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
    let deployed = &app.deployment.quickbooks;
    if *deployed == QuickBooksEndpoints::intuit(app.deployment.quickbooks_environment) {
        let environment = profile
            .quickbooks
            .as_ref()
            .map(|q| q.environment)
            .unwrap_or(app.deployment.quickbooks_environment);
        QuickBooksEndpoints::intuit(environment).invoice_url(invoice_id)
    } else {
        deployed.invoice_url(invoice_id)
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
    use shared::domain::{
        CompanyId, CompanyProfile, ConnectionState, QuickBooksConnection, QuickBooksEnvironment,
        UserId,
    };
    use shared::pipedrive::client::PipedriveEndpoints;
    use shared::testing::{embedded_app, embedded_app_with};

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
