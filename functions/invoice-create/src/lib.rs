//! The `invoice-create` function: the create form of a deal and the invoice, created once; and
//! the `invoice-rules` binary ([`rules`]): the company's invoicing rules, applied every 15
//! minutes by the scheduler with the same draft and create.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/deals/{deal_id}/draft` | the pre-filled form: customer block and suggestions, lines with item suggestions, tax, currency, dates, totals, what the company's QuickBooks needs, what still blocks creation |
//! | `POST /api/deals/{deal_id}/invoices` | creates the invoice (`Idempotency-Key` header required), links it to the deal, notes it on the deal |
//! | `POST /api/deals/{deal_id}/estimates` | creates a QuickBooks estimate from the same draft (`Idempotency-Key` required), expiring after the company's `estimate_expiry_days` (30), links and notes it ([`estimate`]) |
//! | `POST /api/deals/{deal_id}/estimates/{estimate_id}/invoice` | the invoice made from the deal's accepted estimate (`Idempotency-Key` required), in full (no body: its lines, customer, currency, tax and memo; the rest once parts bill some of it) or a part of it (optional body `{"part", "confirm_over_invoice"}` as the create form's, [`convert_part`]); only the invoice that finishes the estimate has a `LinkedTxn` to it (QuickBooks closes it); linked and noted like any created invoice ([`convert`]) |
//! | `PUT /api/deals/{deal_id}/customer-link` | links the deal's organisation (or person) to a QuickBooks customer; optionally pushes address, email and tax id to it |
//! | `GET /api/quickbooks/customers?search=` | QuickBooks customers (active and inactive, marked) whose name contains every word of the term (or whose email it is); the most recent ones when empty |
//! | `POST /api/quickbooks/customers` | creates a customer from the deal's customer block and links it (a name clash is a 409 offering the existing customer) |
//! | `GET /api/quickbooks/items?search=` | active QuickBooks items whose name contains every word of the term; the first ones when empty |
//! | `PUT /api/products/{product_id}/item-link` | links a Pipedrive product to a QuickBooks item (reused by every later draft) |
//! | `GET /api/products/{product_id}/new-item` | the "create the item" form pre-filled from the Pipedrive product, with the company's income accounts ([`item_create`]) |
//! | `POST /api/products/{product_id}/item` | creates the QuickBooks item from that form and links the product to it |
//! | `GET /api/quickbooks/exchange-rate?from&to&date` | QuickBooks' exchange rate between two currencies on a date, for converting the deal's prices ([`rates`]) |
//! | `POST /api/bulk/readiness`, `POST /api/bulk/batches`, `GET /api/bulk/batches/{batch_id}`, `POST /api/bulk/batches/{batch_id}/run` | bulk invoicing from the deals list ([`bulk`]) |
//! | `POST /api/deals/{deal_id}/prepared-invoice` | creates the invoice a rule prepared for the deal, in one click (`Idempotency-Key` = the preparation's key) ([`prepared`]) |
//!
//! Every route takes the verified Pipedrive JWT (`Authorization: Bearer …`): the company and user
//! come only from it; the caller must have installed the app and be allowed to invoice by the
//! company's access policy, and the company must have QuickBooks connected.
//!
//! Templates: QuickBooks' public API documents no field that selects the invoice template, so
//! the form says so (`template_note`) and offers what the API allows instead: customer memo,
//! private note, the sales-form custom fields, and the invoice number when custom transaction
//! numbers are on.

pub mod bulk;
pub mod context;
pub mod convert;
pub mod convert_part;
pub mod create;
pub mod customer_choice;
pub mod customers;
pub mod deal_note;
pub mod draft;
pub mod duplicates;
pub mod estimate;
pub mod idempotency;
pub mod item_create;
pub mod items;
pub mod parts;
pub mod prepared;
pub mod rates;
pub mod rules;
pub mod search;
pub mod unattended;
pub mod views;

use axum::Router;
use axum::routing::{get, post, put};
use shared::app::App;
use shared::web::http::Route;

/// Every route this function serves (checked against template.yaml and the OpenAPI description).
pub const ROUTES: &[Route] = &[
    Route::new("GET", "/api/deals/{deal_id}/draft"),
    Route::new("POST", "/api/deals/{deal_id}/invoices"),
    Route::new("POST", "/api/deals/{deal_id}/estimates"),
    Route::new(
        "POST",
        "/api/deals/{deal_id}/estimates/{estimate_id}/invoice",
    ),
    Route::new("PUT", "/api/deals/{deal_id}/customer-link"),
    Route::new("GET", "/api/quickbooks/customers"),
    Route::new("POST", "/api/quickbooks/customers"),
    Route::new("GET", "/api/quickbooks/items"),
    Route::new("PUT", "/api/products/{product_id}/item-link"),
    Route::new("GET", "/api/products/{product_id}/new-item"),
    Route::new("POST", "/api/products/{product_id}/item"),
    Route::new("GET", "/api/quickbooks/exchange-rate"),
    Route::new("POST", "/api/bulk/readiness"),
    Route::new("POST", "/api/bulk/batches"),
    Route::new("GET", "/api/bulk/batches/{batch_id}"),
    Route::new("POST", "/api/bulk/batches/{batch_id}/run"),
    Route::new("POST", "/api/deals/{deal_id}/prepared-invoice"),
];

/// The routes of this function (the Lambda binary and the local server both mount this).
pub fn router(app: App) -> Router {
    Router::new()
        .route("/api/deals/{deal_id}/draft", get(draft::draft))
        .route("/api/deals/{deal_id}/invoices", post(create::create))
        .route("/api/deals/{deal_id}/estimates", post(estimate::create))
        .route(
            "/api/deals/{deal_id}/estimates/{estimate_id}/invoice",
            post(convert::convert),
        )
        .route("/api/deals/{deal_id}/customer-link", put(customers::link))
        .route(
            "/api/quickbooks/customers",
            get(customers::search).post(customers::create),
        )
        .route("/api/quickbooks/items", get(items::search))
        .route("/api/products/{product_id}/item-link", put(items::link))
        .route(
            "/api/products/{product_id}/new-item",
            get(item_create::new_item_form),
        )
        .route("/api/products/{product_id}/item", post(item_create::create))
        .route("/api/quickbooks/exchange-rate", get(rates::exchange_rate))
        .route("/api/bulk/readiness", post(bulk::readiness))
        .route("/api/bulk/batches", post(bulk::create_batch))
        .route("/api/bulk/batches/{batch_id}", get(bulk::read_batch))
        .route("/api/bulk/batches/{batch_id}/run", post(bulk::run_batch))
        .route(
            "/api/deals/{deal_id}/prepared-invoice",
            post(prepared::create_prepared),
        )
        .with_state(app)
}
