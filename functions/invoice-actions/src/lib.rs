//! The `invoice-actions` function: everything a rep does with a deal's invoices after creating
//! them, from the deal's panel.
//!
//! Every route takes the Pipedrive SDK token (`Authorization: Bearer`); the company and user come
//! only from it. Each route checks the install ([`require_install`]) and the company's access
//! policy ([`may_invoice`]); an invoice that is not linked to the caller's company's deal is a
//! 404, whoever's it is. `{invoice_id}` is QuickBooks' `Invoice.Id`.
//!
//! | route | request → answer |
//! |---|---|
//! | `GET /api/deals/{deal_id}/invoices?cursor&limit` | → `200` [`DealInvoices`]: the deal's links from the store (no QuickBooks call), each re-evaluated for today in the company's time zone (open + past due = overdue), newest first, `limit` ≤ 100 per page (default 25; `cursor` from `next_cursor`), with the per-currency summary (outstanding, overdue, paid) and `invoice_count` of every page, and the connection state |
//! | `POST /api/deals/{deal_id}/invoices/refresh` | → `200` [`DealInvoices`] (the first page) with `refresh` counts: the current state of every invoice of the deal from QuickBooks, one `Id IN (…)` query per 1000 invoices ([`shared::sync`]) |
//! | `POST /api/deals/{deal_id}/invoices/{invoice_id}/void` | `{"confirm": true}` (required, else 422) → `200` [`ActionAnswer`]; refused (409) on a paid or partially paid invoice, a deleted one, or one of another QuickBooks company; voiding a void invoice answers 200 |
//! | `POST /api/deals/{deal_id}/invoices/{invoice_id}/delete` | `{"confirm": true}` (required) → `200` [`ActionAnswer`] (the link stays, status `deleted`); refused (409) while payments are applied; deleting a deleted invoice answers 200 |
//! | `POST /api/deals/{deal_id}/invoices/{invoice_id}/send` | optional `{"to": "email"}` (validated, 422) → `200` [`ActionAnswer`] (`sent: true`); without `to` QuickBooks uses the invoice's billing e-mail (none → 422); void or deleted → 409 |
//! | `GET /api/deals/{deal_id}/invoices/{invoice_id}/pdf` | → `200 application/pdf`, `Content-Disposition: attachment; filename="Invoice-<DocNumber>.pdf"` (base64 through API Gateway); deleted → 404 problem |
//! | `GET /api/deals/{deal_id}/invoices/{invoice_id}/open` | → `200 {"url"}`: the invoice in the QuickBooks web app (sandbox or production, per the connection); deleted → 404 |
//! | `GET /api/deals/{deal_id}/customer-invoices?from&to&cursor&limit` | → `200` [`CustomerInvoices`]: the invoices of the QuickBooks customer linked to the deal's organization (else person) with `from ≤ TxnDate ≤ to` (default: the last 365 days), newest first, `limit` ≤ 100 per page (default 25), each marked `linked` to this deal; `cursor` from `next_cursor` |
//! | `PUT /api/deals/{deal_id}/invoice-links/{invoice_id}` | → `201` [`ActionAnswer`] (linked) or `200` (already linked); the invoice must belong to the deal's linked customer (409), exist (404); a conditional create, never a duplicate |
//! | `DELETE /api/deals/{deal_id}/invoice-links/{invoice_id}` | → `200` [`ActionAnswer`]: the link is removed, the invoice stays in QuickBooks |
//! | `DELETE /api/deals/{deal_id}/customer-link` | → `200` [`CustomerUnlinked`]: the deal's organization and person are no longer linked to a QuickBooks customer (404 when neither was) |
//! | `GET /api/deals/{deal_id}/activity?limit` | → `200` [`ActivityLog`], newest first, `limit` ≤ 200 (default 50) |
//! | `GET /api/deals/{deal_id}/estimates` | → `200` [`estimates::EstimateList`]: the deal's estimates from the store, newest first, each with its status for today (pending + past expiration = expired) |
//! | `POST /api/deals/{deal_id}/estimates/{estimate_id}/send` | optional `{"to"}` → `200` [`estimates::EstimateAnswer`]: e-mailed by QuickBooks |
//! | `GET /api/deals/{deal_id}/estimates/{estimate_id}/pdf` | → `200 application/pdf` (attachment); deleted → 404 |
//! | `POST /api/deals/{deal_id}/estimates/{estimate_id}/delete` | `{"confirm": true}` (required) → `200` [`estimates::EstimateAnswer`] (status `deleted`) |
//! | `POST /api/deals/{deal_id}/estimates/{estimate_id}/answer` | `{"answer": "accepted"\|"rejected", "accepted_by"?}` → `200` [`estimates::EstimateAnswer`]: a sparse update at the `SyncToken` (once more after a stale one); a closed (converted) estimate → 409 |
//!
//! Actions (void, delete, send) re-read the invoice first and decide on its current state, use
//! its current `SyncToken` (a stale one — QuickBooks fault 5010 — is re-read and retried once, with
//! a new `requestid`), bring every link to the invoice up to date through
//! [`shared::domain::links::refreshed_link`] and write an activity event with what QuickBooks
//! answered (and its `intuit_tid` on failures). A request refused before anything is sent to
//! QuickBooks changes nothing, not even the activity log.

mod actions;
mod customer;
pub mod estimates;
mod input;
mod listing;
pub mod views;

use axum::Router;
use axum::routing::{delete, get, post, put};
use chrono::{DateTime, NaiveDate, Utc};

use shared::app::App;
use shared::app::access::{may_invoice, require_install};
use shared::app::sync::changes::{Logged, apply_for_company, apply_to_link};
use shared::app::tokens::{CallError, quickbooks_api_error};
use shared::clients::quickbooks::{QuickBooksError, fault_message};
use shared::domain::links::today_in;
use shared::domain::{ActivityEvent, CompanyId, CompanyProfile, DealId, InvoiceLink, Outcome};
use shared::web::auth::Tenant;
use shared::web::error::ApiError;
use shared::web::http::Route;
use shared::wire::quickbooks::model::Invoice;

pub use input::{pdf_file_name, validate_email};
pub use views::*;

/// Every route this function serves (checked against template.yaml and the OpenAPI description).
pub const ROUTES: &[Route] = &[
    Route::new("GET", "/api/deals/{deal_id}/invoices"),
    Route::new("POST", "/api/deals/{deal_id}/invoices/refresh"),
    Route::new("POST", "/api/deals/{deal_id}/invoices/{invoice_id}/void"),
    Route::new("POST", "/api/deals/{deal_id}/invoices/{invoice_id}/delete"),
    Route::new("POST", "/api/deals/{deal_id}/invoices/{invoice_id}/send"),
    Route::new("GET", "/api/deals/{deal_id}/invoices/{invoice_id}/pdf"),
    Route::new("GET", "/api/deals/{deal_id}/invoices/{invoice_id}/open"),
    Route::new("GET", "/api/deals/{deal_id}/customer-invoices"),
    Route::new("PUT", "/api/deals/{deal_id}/invoice-links/{invoice_id}"),
    Route::new("DELETE", "/api/deals/{deal_id}/invoice-links/{invoice_id}"),
    Route::new("DELETE", "/api/deals/{deal_id}/customer-link"),
    Route::new("GET", "/api/deals/{deal_id}/activity"),
    Route::new("GET", "/api/deals/{deal_id}/estimates"),
    Route::new("POST", "/api/deals/{deal_id}/estimates/{estimate_id}/send"),
    Route::new("GET", "/api/deals/{deal_id}/estimates/{estimate_id}/pdf"),
    Route::new(
        "POST",
        "/api/deals/{deal_id}/estimates/{estimate_id}/delete",
    ),
    Route::new(
        "POST",
        "/api/deals/{deal_id}/estimates/{estimate_id}/answer",
    ),
];

/// The routes of this function (the Lambda binary and the local server both mount this).
pub fn router(app: App) -> Router {
    Router::new()
        .route("/api/deals/{deal_id}/invoices", get(listing::list))
        .route(
            "/api/deals/{deal_id}/invoices/refresh",
            post(listing::refresh),
        )
        .route(
            "/api/deals/{deal_id}/invoices/{invoice_id}/void",
            post(actions::void),
        )
        .route(
            "/api/deals/{deal_id}/invoices/{invoice_id}/delete",
            post(actions::delete),
        )
        .route(
            "/api/deals/{deal_id}/invoices/{invoice_id}/send",
            post(actions::send),
        )
        .route(
            "/api/deals/{deal_id}/invoices/{invoice_id}/pdf",
            get(actions::pdf),
        )
        .route(
            "/api/deals/{deal_id}/invoices/{invoice_id}/open",
            get(actions::open),
        )
        .route(
            "/api/deals/{deal_id}/customer-invoices",
            get(customer::invoices),
        )
        .route(
            "/api/deals/{deal_id}/invoice-links/{invoice_id}",
            put(customer::link).delete(customer::unlink),
        )
        .route(
            "/api/deals/{deal_id}/customer-link",
            delete(customer::disconnect),
        )
        .route("/api/deals/{deal_id}/activity", get(listing::activity))
        .route("/api/deals/{deal_id}/estimates", get(estimates::list))
        .route(
            "/api/deals/{deal_id}/estimates/{estimate_id}/send",
            post(estimates::send),
        )
        .route(
            "/api/deals/{deal_id}/estimates/{estimate_id}/pdf",
            get(estimates::pdf),
        )
        .route(
            "/api/deals/{deal_id}/estimates/{estimate_id}/delete",
            post(estimates::delete),
        )
        .route(
            "/api/deals/{deal_id}/estimates/{estimate_id}/answer",
            post(estimates::answer),
        )
        .with_state(app)
}

/// The verified caller with what every route needs: the company profile (install and access
/// policy checked), and the time (the token manager's clock) and local date.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub tenant: Tenant,
    pub profile: CompanyProfile,
    pub now: DateTime<Utc>,
    pub today: NaiveDate,
    /// How the caller's amounts are written (their Pipedrive locale).
    pub format: shared::domain::money::NumberFormat,
}

impl Caller {
    pub async fn new(app: &App, tenant: Tenant) -> Result<Caller, ApiError> {
        let (profile, install) = require_install(&app.records, tenant).await?;
        may_invoice(&profile, tenant)?;
        let now = app.tokens.now();
        let today = today_in(&profile.time_zone, now);
        Ok(Caller {
            tenant,
            profile,
            now,
            today,
            format: shared::domain::money::NumberFormat::for_locale(
                install.locale.as_ref().map(|l| l.locale.as_str()),
            ),
        })
    }

    pub fn company(&self) -> CompanyId {
        self.tenant.company_id
    }

    /// For a deal with nothing of ours stored: checks that the caller's Pipedrive has it, so that
    /// an id of another company's deal is a 404 and not an empty answer. Pipedrive being
    /// unavailable is not the caller's fault: the (empty) answer from the store stands then.
    /// The deal's parties are remembered on the way, so that the create form (the panel's next
    /// step on a deal without invoices) reads them in its first round.
    pub async fn confirm_deal(&self, app: &App, deal: DealId) -> Result<(), ApiError> {
        let (found, remembered) = futures::join!(
            customer::deal_party_ids(app, self, deal),
            app.records.get_deal_parties(self.company(), deal)
        );
        match found {
            Ok(parties) => {
                // Written only when it changed (a panel view of an unchanged deal writes nothing).
                if remembered.ok().flatten() != Some(parties) {
                    app.records
                        .remember_deal_parties(self.company(), deal, parties, self.now)
                        .await;
                }
                Ok(())
            }
            Err(missing @ ApiError::NotFound(_)) => Err(missing),
            Err(error) => {
                tracing::warn!(%error, deal_id = deal.0, "the deal could not be confirmed in Pipedrive");
                Ok(())
            }
        }
    }

    /// The realm of the active QuickBooks connection, or the problem the connection state means
    /// (not connected, needs reconnecting — the token manager's answers).
    pub async fn realm(&self, app: &App) -> Result<String, ApiError> {
        if let Some(realm) = self.profile.connected_realm() {
            return Ok(realm.to_string());
        }
        match app.tokens.quickbooks_for(&self.profile).await {
            Err(failure) => Err(failure.into()),
            Ok(_) => Err(ApiError::internal(
                "a token was issued for a company without an active connection",
            )),
        }
    }

    /// This deal's link to the invoice, or 404 (another company's invoice, another deal's, or
    /// none at all: the same answer).
    pub async fn link(
        &self,
        app: &App,
        deal: DealId,
        invoice_id: &str,
    ) -> Result<InvoiceLink, ApiError> {
        app.records
            .get_invoice_link(self.company(), deal, invoice_id)
            .await?
            .ok_or_else(|| not_linked(deal))
    }

    /// [`Self::link`] for an action that talks to QuickBooks: also the realm, which must be the
    /// one the link points at.
    pub async fn link_for_action(
        &self,
        app: &App,
        deal: DealId,
        invoice_id: &str,
    ) -> Result<(InvoiceLink, String), ApiError> {
        let link = self.link(app, deal, invoice_id).await?;
        let realm = self.realm(app).await?;
        if link.realm_id != realm {
            return Err(ApiError::refused(
                shared::web::error::Refusal::OtherQuickBooksCompany,
                "This invoice belongs to another QuickBooks company than the one connected now, so it cannot be changed from Pipedrive. Open it in that QuickBooks company instead.",
            ));
        }
        Ok((link, realm))
    }

    /// Appends a line to the deal's activity log. A failed write is logged, never fatal: the
    /// action it describes already happened.
    pub async fn record(&self, app: &App, deal: DealId, entry: Entry<'_>) {
        let event = ActivityEvent {
            company_id: self.company(),
            deal_id: deal,
            at: self.now,
            id: uuid::Uuid::new_v4().simple().to_string(),
            kind: entry.kind.to_string(),
            outcome: entry.outcome,
            message: entry.message,
            invoice_id: entry.invoice_id.map(str::to_string),
            user_id: Some(self.tenant.user_id),
            intuit_tid: entry.intuit_tid,
        };
        if let Err(error) = app.records.append_activity(&event).await {
            tracing::error!(
                company_id = self.company().0,
                deal_id = deal.0,
                kind = entry.kind,
                %error,
                "could not write the activity event"
            );
        }
    }

    /// Brings the links to `invoice` up to date (every deal of the company that links it) through
    /// the one update path, which records what a status change means ([`Logged`]: who writes its log line), and returns this deal's link as it is now.
    pub async fn apply(
        &self,
        app: &App,
        link: &InvoiceLink,
        invoice: &Invoice,
        logged: Logged,
    ) -> Result<InvoiceLink, ApiError> {
        let applied = apply_for_company(
            app,
            &self.profile,
            &link.realm_id,
            std::slice::from_ref(invoice),
            logged,
            self.now,
        )
        .await?;
        if let Some(mine) = applied
            .links
            .into_iter()
            .find(|l| l.deal_id == link.deal_id)
        {
            return Ok(mine);
        }
        // Not reached through the index (it may lag behind the table), or nothing changed.
        let (now, _) = apply_to_link(app, &self.profile, link, invoice, logged, self.now).await?;
        Ok(now)
    }
}

/// One activity line to write.
pub(crate) struct Entry<'a> {
    pub kind: &'static str,
    pub outcome: Outcome,
    pub message: String,
    pub invoice_id: Option<&'a str>,
    pub intuit_tid: Option<String>,
}

impl<'a> Entry<'a> {
    pub fn ok(kind: &'static str, invoice_id: Option<&'a str>, message: String) -> Self {
        Entry {
            kind,
            outcome: Outcome::Succeeded,
            message,
            invoice_id,
            intuit_tid: None,
        }
    }

    pub fn failed(
        kind: &'static str,
        invoice_id: Option<&'a str>,
        message: String,
        intuit_tid: Option<String>,
    ) -> Self {
        Entry {
            kind,
            outcome: Outcome::Failed,
            message,
            invoice_id,
            intuit_tid,
        }
    }
}

pub(crate) fn not_linked(deal: DealId) -> ApiError {
    ApiError::not_found(format!(
        "This invoice is not linked to deal {deal}. Reload the deal's invoices."
    ))
}

/// How a QuickBooks invoice is named in messages: its number, else its id.
pub(crate) fn invoice_label(doc_number: Option<&str>, invoice_id: &str) -> String {
    match doc_number.map(str::trim).filter(|d| !d.is_empty()) {
        Some(doc) => format!("Invoice {doc}"),
        None => format!("Invoice (QuickBooks id {invoice_id})"),
    }
}

/// True when QuickBooks answered 610 "Object Not Found" (deleted, or never existed).
pub(crate) fn is_not_found(error: &CallError<QuickBooksError>) -> bool {
    matches!(error, CallError::Call(QuickBooksError::Fault { fault, .. }) if fault.has_code("610"))
}

/// True when QuickBooks answered 5010 "Stale Object Error" (the SyncToken is not current).
pub(crate) fn is_stale(error: &CallError<QuickBooksError>) -> bool {
    matches!(error, CallError::Call(QuickBooksError::Fault { fault, .. }) if fault.has_code("5010"))
}

pub(crate) fn intuit_tid(error: &CallError<QuickBooksError>) -> Option<String> {
    match error {
        CallError::Call(e) => e.intuit_tid().map(str::to_string),
        CallError::Token(_) => None,
    }
}

/// A failed QuickBooks call as an answer. `doing` completes "QuickBooks … while/refused …",
/// e.g. "voiding the invoice". QuickBooks' own refusals (validation and business faults) are 409
/// with its message; throttling 429; outages 502 (retryable); connection problems as the token
/// manager answers them.
pub(crate) fn quickbooks_problem(error: CallError<QuickBooksError>, doing: &str) -> ApiError {
    match error {
        CallError::Token(failure) => failure.into(),
        CallError::Call(QuickBooksError::Fault { status, fault, .. }) if status < 500 => {
            ApiError::refused(
                shared::web::error::Refusal::QuickBooksRefused,
                format!("QuickBooks refused {doing}: {}", fault_message(&fault)),
            )
        }
        CallError::Call(other) => quickbooks_api_error(other, doing),
    }
}

/// The sentence an activity line carries for a failure (internal details stay in the logs).
pub(crate) fn failure_sentence(error: &ApiError) -> String {
    match error {
        ApiError::Internal(_) => "an error on our side".to_string(),
        other => other.to_string(),
    }
}
