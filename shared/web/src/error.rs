//! Errors as API answers: every failure a caller can see is an `application/problem+json` document
//! (RFC 9457) with a stable `type` per kind, a `title`, the HTTP `status` and a human `detail`.
//! Internal details (backend messages, upstream bodies) are logged, never returned.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

pub use domain::FieldError;

/// Every error a route can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The resource changed since the caller read it; `current` is what it is now.
    #[error("{detail}")]
    Conflict {
        detail: String,
        current: Option<Value>,
    },
    /// Refused because of how things are (not a concurrent change): each [`Refusal`] has its own
    /// `type` and title; `current` is what the caller may choose instead (the existing customer,
    /// the invoice as it is).
    #[error("{detail}")]
    Refused {
        reason: Refusal,
        detail: String,
        current: Option<Value>,
    },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{detail}")]
    Unprocessable {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// QuickBooks needs a human to reconnect the company.
    #[error("{detail}")]
    ReconnectRequired {
        detail: String,
        reconnect_url: String,
    },
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    /// An upstream API (QuickBooks, Pipedrive) failed in a way the caller may retry.
    #[error("{detail}")]
    Upstream {
        detail: String,
        retryable: bool,
        intuit_tid: Option<String>,
    },
    /// Anything else: logged in full, answered as a generic 500.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a request is refused (409) when nothing changed concurrently: one problem `type` and title
/// per kind, so the page can say what happened and offer what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The company has no QuickBooks connection.
    NotConnected,
    /// QuickBooks is connected already (by someone else).
    AlreadyConnected,
    /// QuickBooks has a customer, vendor or employee with that name.
    NameTaken,
    /// The invoice's state does not allow it (void a paid invoice, send a voided one).
    InvoiceState,
    /// The invoice belongs to another QuickBooks company than the connected one.
    OtherQuickBooksCompany,
    /// The deal's organization or person is not linked to a QuickBooks customer.
    CustomerNotLinked,
    /// The invoice is billed to another customer than the deal's.
    OtherCustomer,
    /// The same request is still being processed.
    InProgress,
    /// QuickBooks refused the operation (its own business rule).
    QuickBooksRefused,
    /// The deal already has an open invoice like this one (the caller may confirm).
    PossibleDuplicate,
    /// The part of the deal bills more than what is left to invoice (the caller may confirm).
    OverInvoice,
    /// The estimate's state does not allow it (invoice a pending or closed estimate).
    EstimateState,
}

impl Refusal {
    pub fn kind(self) -> &'static str {
        match self {
            Refusal::NotConnected => "quickbooks-not-connected",
            Refusal::AlreadyConnected => "already-connected",
            Refusal::NameTaken => "name-taken",
            Refusal::InvoiceState => "invoice-state",
            Refusal::OtherQuickBooksCompany => "other-quickbooks-company",
            Refusal::CustomerNotLinked => "customer-not-linked",
            Refusal::OtherCustomer => "other-customer",
            Refusal::InProgress => "in-progress",
            Refusal::QuickBooksRefused => "quickbooks-refused",
            Refusal::PossibleDuplicate => "possible-duplicate",
            Refusal::OverInvoice => "over-invoice",
            Refusal::EstimateState => "estimate-state",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Refusal::NotConnected => "QuickBooks is not connected",
            Refusal::AlreadyConnected => "QuickBooks is already connected",
            Refusal::NameTaken => "Name already used in QuickBooks",
            Refusal::InvoiceState => "Not possible for this invoice",
            Refusal::OtherQuickBooksCompany => "Invoice of another QuickBooks company",
            Refusal::CustomerNotLinked => "Customer not linked yet",
            Refusal::OtherCustomer => "Billed to another customer",
            Refusal::InProgress => "Still in progress",
            Refusal::QuickBooksRefused => "QuickBooks refused",
            Refusal::PossibleDuplicate => "Possible duplicate invoice",
            Refusal::OverInvoice => "More than what is left to invoice",
            Refusal::EstimateState => "Not possible for this estimate",
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reconnect_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retryable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    intuit_tid: Option<&'a str>,
}

/// Prefix of every problem `type`.
pub const PROBLEM_TYPE_BASE: &str = "urn:pipedrive-quickbooks:problem:";

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::BadRequest(detail.into())
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::NotFound(detail.into())
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        ApiError::Internal(detail.to_string())
    }

    /// A refusal of `reason` with nothing to offer.
    pub fn refused(reason: Refusal, detail: impl Into<String>) -> Self {
        ApiError::Refused {
            reason,
            detail: detail.into(),
            current: None,
        }
    }

    pub fn unprocessable(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        ApiError::Unprocessable { detail, errors }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } | ApiError::Refused { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::ReconnectRequired { .. } => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine name of the kind (the last part of `type`).
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::MethodNotAllowed(_) => "method-not-allowed",
            ApiError::Conflict { .. } => "conflict",
            ApiError::Refused { reason, .. } => reason.kind(),
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::Unprocessable { .. } => "validation-failed",
            ApiError::ReconnectRequired { .. } => "quickbooks-reconnect-required",
            ApiError::TooManyRequests { .. } => "rate-limited",
            ApiError::Upstream { .. } => "upstream-failed",
            ApiError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "Bad request",
            ApiError::Unauthorized(_) => "Not signed in",
            ApiError::Forbidden(_) => "Not allowed",
            ApiError::NotFound(_) => "Not found",
            ApiError::MethodNotAllowed(_) => "Method not allowed",
            ApiError::Conflict { .. } => "Changed by someone else",
            ApiError::Refused { reason, .. } => reason.title(),
            ApiError::PayloadTooLarge(_) => "Request too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported content type",
            ApiError::Unprocessable { .. } => "Invalid input",
            ApiError::ReconnectRequired { .. } => "QuickBooks needs reconnecting",
            ApiError::TooManyRequests { .. } => "Too many requests",
            ApiError::Upstream { .. } => "QuickBooks or Pipedrive did not answer as expected",
            ApiError::Internal(_) => "Something went wrong on our side",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            ApiError::Internal(inner) => {
                tracing::error!(error = %inner, "internal error");
                "The request could not be completed. Please try again; if it keeps failing, contact support.".to_string()
            }
            other => {
                if status.is_server_error() {
                    tracing::warn!(error = %other, kind = other.kind(), "request failed");
                }
                other.to_string()
            }
        };
        let problem = Problem {
            kind: format!("{PROBLEM_TYPE_BASE}{}", self.kind()),
            title: self.title(),
            status: status.as_u16(),
            detail,
            errors: match &self {
                ApiError::Unprocessable { errors, .. } => Some(errors),
                _ => None,
            },
            current: match &self {
                ApiError::Conflict { current, .. } | ApiError::Refused { current, .. } => {
                    current.as_ref()
                }
                _ => None,
            },
            reconnect_url: match &self {
                ApiError::ReconnectRequired { reconnect_url, .. } => Some(reconnect_url),
                _ => None,
            },
            retryable: match &self {
                ApiError::Upstream { retryable, .. } => Some(*retryable),
                ApiError::TooManyRequests { .. } => Some(true),
                _ => None,
            },
            intuit_tid: match &self {
                ApiError::Upstream { intuit_tid, .. } => intuit_tid.as_deref(),
                _ => None,
            },
        };
        let mut response = (status, Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::TooManyRequests {
            retry_after_secs, ..
        } = &self
            && let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

#[cfg(feature = "store")]
impl From<store::StoreError> for ApiError {
    fn from(error: store::StoreError) -> Self {
        match error {
            store::StoreError::BadCursor => ApiError::bad_request("The page cursor is not valid."),
            store::StoreError::Conflict { .. } => ApiError::Conflict {
                detail: "The record was changed by another request; reload and try again.".into(),
                current: None,
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[cfg(feature = "store")]
impl From<store::secrets::TokenError> for ApiError {
    fn from(error: store::secrets::TokenError) -> Self {
        ApiError::Internal(error.to_string())
    }
}
