//! `POST /api/deals/{deal_id}/invoices`: creates the QuickBooks invoice exactly once.
//!
//! 1. The `Idempotency-Key` is recorded first ([`crate::idempotency`]).
//! 2. Checks that need no QuickBooks call: the customer link of the deal's party, currency,
//!    items, tax codes (the company setup comes from this instance's cache, filled by the draft).
//! 3. One QuickBooks call, with a `requestid` derived from the key: a retry after a crash gets the
//!    invoice QuickBooks created the first time.
//! 4. The invoice link (a conditional create: a retry finds it and goes on).
//! 5. The deal note and the activity event, concurrently (one parallel round trip).
//! 6. The answer is stored under the key.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::app::App;
use shared::app::sync::write_back::write_back;
use shared::app::tokens::CallError;
use shared::clients::quickbooks::QuickBooksError;
use shared::domain::draft::{self, CompanySetup, InvoiceForm, Totals};
use shared::domain::links::{link_from_invoice, name_customer, today_in};
use shared::domain::progress::BillingRecord;
use shared::domain::{
    ActivityEvent, CustomerLink, DealId, IdempotencyRecord, InvoiceLink, Outcome,
};
use shared::store::StoreError;
use shared::web::auth::Tenant;
use shared::web::error::{ApiError, FieldError};
use shared::web::http::{JsonBody, PathParams};
use shared::wire::quickbooks::model::Invoice;

use crate::context::{Caller, caller, company_setup, forget_setup, is_definitive, qb_error};
pub use crate::deal_note::NoteOutcome;
use crate::deal_note::{tell, told_before};
use crate::draft::DealPath;
use crate::idempotency::{
    Claim, attempt_of, body_hash, claim, complete, derived_request_id, forget, idempotency_key,
    release_for_retry,
};
use crate::{duplicates, parts};

/// The invoice as the panel shows it after creation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CreatedInvoice {
    pub id: String,
    pub doc_number: Option<String>,
    pub txn_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub currency: String,
    pub total: rust_decimal::Decimal,
    pub balance: rust_decimal::Decimal,
    pub status: shared::domain::InvoiceStatus,
    pub customer_id: String,
    pub customer_name: Option<String>,
}

/// The answer of the create route (replayed verbatim for the same key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Created {
    pub invoice: CreatedInvoice,
    pub link: InvoiceLink,
    /// The invoice in the QuickBooks web app.
    pub open_url: String,
    /// What the app computed before calling QuickBooks (equals QuickBooks' total).
    pub preview: Totals,
    pub note: NoteOutcome,
}

/// Why a create failed, and whether QuickBooks was asked.
pub struct Failure {
    pub error: ApiError,
    /// QuickBooks was called (its `requestid` for this attempt is spent or may have created).
    pub called_quickbooks: bool,
    /// QuickBooks answered a validation fault: nothing was created, use the next attempt.
    pub definitive: bool,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Failure {
            error,
            called_quickbooks: false,
            definitive: false,
        }
    }
}

pub async fn create(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(path): PathParams<DealPath>,
    headers: HeaderMap,
    JsonBody(form): JsonBody<InvoiceForm>,
) -> Result<Response, ApiError> {
    let caller = caller(&app, tenant).await?;
    let key = idempotency_key(&headers, true)?.unwrap_or_default();
    let hash = body_hash(&json!({"deal_id": path.deal_id, "form": form}));
    let record = match claim(&app.records, &app.clock, tenant.company_id, &key, &hash).await? {
        Claim::Replay(status, body) => return Ok((status, Json(body)).into_response()),
        Claim::Run(record) => record,
    };
    create_claimed(&app, &caller, path.deal_id, &form, &key, record).await
}

/// The create once its key is held (the create route's, or the one-click create of a prepared
/// invoice): the duplicate question, the create, the answer stored under the key.
pub async fn create_claimed(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    form: &InvoiceForm,
    key: &str,
    record: IdempotencyRecord,
) -> Result<Response, ApiError> {
    let attempt = attempt_of(&record);
    // One read of the deal's invoices: the duplicate question and the part's plan both use it.
    let asked = match deal_links(app, caller, deal_id).await {
        Ok(links) => duplicates::check(app, caller, form, &links, record.created_at)
            .await
            .unwrap_or_else(Some)
            .map(Err)
            .unwrap_or(Ok(links)),
        Err(error) => Err(error),
    };
    let links = match asked {
        Ok(links) => links,
        Err(answer) => {
            // Nothing was sent anywhere: the same key may come back with the rep's answer.
            if attempt == 0 {
                forget(&app.records, &record).await;
            } else {
                release_for_retry(&app.records, &app.clock, record, attempt).await;
            }
            return Err(answer);
        }
    };
    let held = Held::of(key, &record);
    match run_at(app, caller, deal_id, form, &held, &links).await {
        Ok(created) => {
            let body = serde_json::to_value(&created)
                .map_err(|e| ApiError::internal(format!("serialising the answer: {e}")))?;
            complete(&app.records, record, StatusCode::CREATED, &body).await;
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
        Err(failure) => {
            settle_failure(app, record, attempt, &failure).await;
            Err(failure.error)
        }
    }
}

/// Frees the key after a failed create: forgotten when nothing was sent anywhere, else kept for
/// a retry (on the next attempt's `requestid` when QuickBooks said for sure nothing was made).
pub async fn settle_failure(app: &App, record: IdempotencyRecord, attempt: u32, failure: &Failure) {
    if !failure.called_quickbooks && attempt == 0 {
        forget(&app.records, &record).await;
    } else {
        let next = if failure.definitive {
            attempt + 1
        } else {
            attempt
        };
        release_for_retry(&app.records, &app.clock, record, next).await;
    }
}

fn missing_customer(detail: &str) -> ApiError {
    ApiError::unprocessable(vec![FieldError::new("customer_id", detail)])
}

/// Before answering that the deal's customer is missing: a deal the caller's Pipedrive does not
/// have (another company's id, or deleted) is a 404 instead. Only on this error path, so the
/// create itself costs no Pipedrive read; Pipedrive failing here leaves the 422 standing.
async fn missing_customer_or_deal(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    detail: &str,
) -> ApiError {
    let read = app.pipedrive_of(caller.tenant).deal(deal_id).await;
    let gone = match read {
        Ok(deal) => deal.is_gone(),
        Err(CallError::Call(shared::clients::pipedrive::PipedriveError::NotFound(_))) => true,
        Err(_) => false,
    };
    if gone {
        ApiError::not_found(format!(
            "Pipedrive has no deal {deal_id} that you can see (it may have been deleted)."
        ))
    } else {
        missing_customer(detail)
    }
}

/// An `Idempotency-Key` held for a create: the key, which attempt this is, and when the key was
/// first claimed (a part of the deal counts only the invoices linked before it, so a retry plans
/// the same invoice again).
#[derive(Debug, Clone, Copy)]
pub struct Held<'a> {
    pub key: &'a str,
    pub attempt: u32,
    pub claimed_at: DateTime<Utc>,
}

impl<'a> Held<'a> {
    /// The key `key` as its stored `record` says it is held.
    pub fn of(key: &'a str, record: &IdempotencyRecord) -> Self {
        Held {
            key,
            attempt: attempt_of(record),
            claimed_at: record.created_at,
        }
    }
}

/// The deal's invoice links, read once per create (the duplicate question and the part's plan
/// are both decided on them).
pub async fn deal_links(
    app: &App,
    caller: &Caller,
    deal_id: u64,
) -> Result<Vec<InvoiceLink>, ApiError> {
    Ok(app
        .records
        .all_deal_invoice_links(caller.tenant.company_id, DealId(deal_id))
        .await?)
}

/// The create after the key is held (public for benchmarks and tests): the deal's links read,
/// the key taken as claimed now.
pub async fn run(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    form: &InvoiceForm,
    key: &str,
    attempt: u32,
) -> Result<Created, Failure> {
    let links = deal_links(app, caller, deal_id).await?;
    let held = Held {
        key,
        attempt,
        claimed_at: app.clock.now(),
    };
    run_at(app, caller, deal_id, form, &held, &links).await
}

/// [`run`] under a key `held` since its claim, with the deal's `links` already read.
pub async fn run_at(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    form: &InvoiceForm,
    held: &Held<'_>,
    links: &[InvoiceLink],
) -> Result<Created, Failure> {
    let (link, setup) = validated(app, caller, deal_id, form).await?;
    let planned = parts::planned(caller, form, &setup, links, held.claimed_at)?;
    let totals = checked_totals(caller, &planned.form, &setup)?;
    let invoice = draft::build_invoice(&planned.form, &setup);
    let request_id =
        derived_request_id(caller.tenant.company_id, "invoice", held.key, held.attempt);
    let mut created = create_in_quickbooks(app, caller, deal_id, &invoice, &request_id).await?;
    name_customer(&mut created, &link);
    finish(app, caller, deal_id, created, totals, planned.record)
        .await
        .map_err(|error| Failure {
            error,
            called_quickbooks: true,
            definitive: false,
        })
}

/// What a create checks and builds before QuickBooks is called, for the whole deal (an
/// estimate; an invoice plans its part first, [`run_at`]): the deal's customer link, the form
/// checked against the company's setup and QuickBooks' totals, and the document as QuickBooks
/// will receive it.
pub async fn prepared(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    form: &InvoiceForm,
) -> Result<(CustomerLink, Invoice, Totals), Failure> {
    let (link, setup) = validated(app, caller, deal_id, form).await?;
    let totals = checked_totals(caller, form, &setup)?;
    Ok((link, draft::build_invoice(form, &setup), totals))
}

/// The deal's customer link and the company's setup, once the form checks against them.
async fn validated(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    form: &InvoiceForm,
) -> Result<(CustomerLink, CompanySetup), Failure> {
    let (link, setup) = linked_customer(app, caller, deal_id, form).await?;
    let errors = draft::validate(form, &setup, link.currency.as_deref());
    if !errors.is_empty() {
        return Err(ApiError::unprocessable(errors).into());
    }
    Ok((link, setup))
}

/// The customer the deal's party is linked to in this realm (it must be the form's), and the
/// company's QuickBooks setup.
async fn linked_customer(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    form: &InvoiceForm,
) -> Result<(CustomerLink, CompanySetup), Failure> {
    let Some(party) = form.party else {
        return Err(missing_customer_or_deal(
            app,
            caller,
            deal_id,
            "The invoice has no customer: link the deal's organization (or person) to a QuickBooks customer first.",
        )
        .await
        .into());
    };
    let (link, setup) = futures::join!(
        app.records
            .get_customer_link(caller.tenant.company_id, party),
        company_setup(app, caller)
    );
    let setup = setup?;
    let Some(link) = link
        .map_err(ApiError::from)?
        .filter(|l| l.realm_id == caller.realm_id)
    else {
        return Err(missing_customer_or_deal(
            app,
            caller,
            deal_id,
            "The deal's organization (or person) is not linked to a QuickBooks customer yet. Link it to an existing customer, or create one.",
        )
        .await
        .into());
    };
    match form.customer_id.as_deref() {
        None => Err(missing_customer("Choose the QuickBooks customer for this invoice.").into()),
        Some(id) if id != link.customer_id => Err(missing_customer(&format!(
            "The deal is linked to the QuickBooks customer \"{}\", not to the one on this invoice. Link the deal to the customer you want first.",
            link.display_name
        ))
        .into()),
        Some(_) => Ok((link, setup)),
    }
}

/// The totals QuickBooks will compute; when the form showed a total, it must still be this one.
fn checked_totals(
    caller: &Caller,
    form: &InvoiceForm,
    setup: &CompanySetup,
) -> Result<Totals, ApiError> {
    let totals = draft::preview(form, setup);
    match form.expected_total {
        Some(expected) if expected != totals.total => {
            Err(ApiError::unprocessable(vec![FieldError::new(
                "expected_total",
                format!(
                    "The total is {}, not {} (QuickBooks' settings changed since the form was filled). Review the invoice and create it again.",
                    caller.number_format().money(totals.total, &form.currency),
                    caller.number_format().amount(expected)
                ),
            )]))
        }
        _ => Ok(totals),
    }
}

/// The one QuickBooks call; a refusal is recorded on the deal (and a definitive one makes the
/// company's settings be read again next time).
async fn create_in_quickbooks(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    invoice: &Invoice,
    request_id: &str,
) -> Result<Invoice, Failure> {
    match app
        .quickbooks_of(&caller.profile)
        .create_invoice(invoice, request_id)
        .await
    {
        Ok(invoice) => Ok(invoice),
        Err(error) => Err(refused(
            app,
            caller,
            deal_id,
            error,
            ("creating the invoice", "invoice.create_failed"),
        )
        .await),
    }
}

/// A create QuickBooks refused, or did not answer: told on the deal's activity as `what.1`
/// ("creating the invoice" is `what.0`, for the sentence). A definitive refusal (nothing was
/// made) makes the company's settings be read again next time: QuickBooks disagreed with what
/// was checked against them.
pub async fn refused(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    error: CallError<QuickBooksError>,
    what: (&str, &str),
) -> Failure {
    let definitive = is_definitive(&error);
    let tid = match &error {
        CallError::Call(e) => e.intuit_tid().map(str::to_string),
        CallError::Token(_) => None,
    };
    if definitive {
        forget_setup(app, &caller.realm_id);
    }
    let error = qb_error(error, what.0);
    record_failure(app, caller, deal_id, what.1, &error, tid).await;
    Failure {
        error,
        called_quickbooks: true,
        definitive,
    }
}

/// Link, note and activity for an invoice QuickBooks created (a retry lands here again with the
/// same invoice and finishes what is missing).
async fn finish(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    invoice: Invoice,
    totals: Totals,
    part: BillingRecord,
) -> Result<Created, ApiError> {
    let (link, open_url, note) = finish_linked(app, caller, deal_id, invoice, part).await?;
    Ok(Created {
        invoice: created_invoice(&link),
        open_url,
        preview: totals,
        note,
        link,
    })
}

/// The invoice as the panel shows it, from its link.
pub fn created_invoice(link: &InvoiceLink) -> CreatedInvoice {
    CreatedInvoice {
        id: link.invoice_id.clone(),
        doc_number: link.doc_number.clone(),
        txn_date: link.txn_date,
        due_date: link.due_date,
        currency: link.currency.clone(),
        total: link.total,
        balance: link.balance,
        status: link.status,
        customer_id: link.customer_id.clone(),
        customer_name: link.customer_name.clone(),
    }
}

/// What every created invoice gets (this create's, or an estimate's conversion,
/// [`crate::convert`]): the deal's link (a conditional create a retry finds), the note and the
/// activity event once, the deal's mapped fields written back; the link, its QuickBooks address
/// and the note's outcome.
pub async fn finish_linked(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    invoice: Invoice,
    part: BillingRecord,
) -> Result<(InvoiceLink, String, NoteOutcome), ApiError> {
    let (link, first_time) = store_link(app, caller, deal_id, &invoice, part).await?;
    let open_url = app.quickbooks.endpoints().invoice_url(&link.invoice_id);
    // On a retry the note and event may exist already: the event (written together with the
    // note) says so.
    let already_told = !first_time && told_before(app, caller, deal_id, &link).await?;
    let note = async {
        if already_told {
            NoteOutcome {
                posted: true,
                error: None,
            }
        } else {
            tell(app, caller, deal_id, &link, &open_url).await
        }
    };
    // The deal's mapped fields, in the same round as the note (a retry finds nothing changed and
    // writes nothing).
    let fields = write_back(app, &caller.profile, [DealId(deal_id)], app.clock.now());
    // The deal has its invoice now: an invoice a rule prepared for it is no longer offered.
    let prepared = clear_prepared(app, caller, DealId(deal_id));
    let (note, _, _) = futures::join!(note, fields, prepared);
    Ok((link, open_url, note))
}

/// Removes the invoice a rule prepared for the deal (whoever created the deal's invoice: the
/// one click in the panel, the modal, or a rule); a failure is logged, and the entry stays.
async fn clear_prepared(app: &App, caller: &Caller, deal: DealId) {
    let company = caller.tenant.company_id;
    let cleared = match app.records.get_prepared_invoice(company, deal).await {
        Ok(Some(prepared)) => app.records.delete_prepared_invoice(&prepared).await,
        Ok(None) => Ok(()),
        Err(error) => Err(error),
    };
    if let Err(error) = cleared {
        tracing::warn!(%error, deal_id = %deal, "could not clear the deal's prepared invoice");
    }
}

/// The deal's link to the created invoice, and whether this call wrote it (a retry finds it).
async fn store_link(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    invoice: &Invoice,
    part: BillingRecord,
) -> Result<(InvoiceLink, bool), ApiError> {
    let company = caller.tenant.company_id;
    let now = app.clock.now();
    let today = today_in(&caller.profile.time_zone, now);
    let fresh = InvoiceLink {
        billing: Some(part),
        ..link_from_invoice(
            company,
            DealId(deal_id),
            &caller.realm_id,
            invoice,
            today,
            now,
        )
        .map_err(|e| ApiError::internal(format!("QuickBooks' created invoice: {e}")))?
    };
    created_or_found(app.records.create_invoice_link(&fresh).await, || {
        app.records
            .get_invoice_link(company, DealId(deal_id), &fresh.invoice_id)
    })
    .await
}

/// The outcome of a create's conditional link write: the link and `true`, or — when a first
/// attempt wrote it already (a retry after a crash) — the stored link and `false`.
pub async fn created_or_found<L, F>(
    created: Result<L, StoreError>,
    find: impl FnOnce() -> F,
) -> Result<(L, bool), ApiError>
where
    F: std::future::Future<Output = Result<Option<L>, StoreError>>,
{
    match created {
        Ok(link) => Ok((link, true)),
        Err(StoreError::Conflict { .. }) => find()
            .await?
            .map(|link| (link, false))
            .ok_or_else(|| ApiError::internal("the link vanished during a retry")),
        Err(e) => Err(e.into()),
    }
}

/// Records in the deal's activity what QuickBooks refused and why.
async fn record_failure(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    kind: &str,
    error: &ApiError,
    intuit_tid: Option<String>,
) {
    let event = ActivityEvent {
        company_id: caller.tenant.company_id,
        deal_id: DealId(deal_id),
        at: app.clock.now(),
        id: uuid::Uuid::new_v4().to_string(),
        kind: kind.into(),
        outcome: Outcome::Failed,
        message: error.to_string(),
        invoice_id: None,
        user_id: Some(caller.tenant.user_id),
        intuit_tid,
    };
    if let Err(e) = app.records.append_activity(&event).await {
        tracing::warn!(error = %e, "could not record the failed create");
    }
}

/// A value (used by tests): the stored answer's body.
pub fn answer(created: &Created) -> Value {
    serde_json::to_value(created).unwrap_or(Value::Null)
}
