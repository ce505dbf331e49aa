//! QuickBooks faults as the simulator renders them: the documented `Fault` envelope (string
//! `code`, capitalised `Message`/`Detail`, lower-case `type`/`element`), the gateway's lower-case
//! 401 envelope, and the injected-fault bodies for the harness.

use axum::Json;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http::StatusCode;
use shared::wire::quickbooks::model::{
    Fault, FaultEnvelope, FaultError, GatewayFault, GatewayFaultEnvelope, GatewayFaultError,
};

use crate::harness::FaultResponses;

/// A documented API error. Each maps to one QuickBooks fault code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 610: unknown or deleted object, or an inactive reference.
    #[error("object not found: {0}")]
    NotFound(String),
    /// 5010: the SyncToken is not the current one.
    #[error("stale object")]
    Stale,
    /// 6240: DisplayName already used.
    #[error("duplicate name")]
    DuplicateName,
    /// 6140: DocNumber already used.
    #[error("duplicate document number {doc_number}")]
    DuplicateDocNumber { doc_number: String, txn_id: String },
    /// 2020: a required parameter is missing.
    #[error("required parameter missing: {0}")]
    RequiredParam(String),
    /// 2500: a reference points at nothing.
    #[error("invalid reference id: {0}")]
    InvalidReference(String),
    /// 2170: a value is not one of the allowed ones.
    #[error("invalid enumeration: {0}")]
    InvalidEnum(String),
    /// 6000: business validation.
    #[error("business validation: {0}")]
    Business(String),
    /// 4001: query parse or validation error (detail is the full text).
    #[error("invalid query: {0}")]
    Query(String),
    /// 500: unsupported operation.
    #[error("unsupported operation: {0}")]
    Unsupported(String),
    /// 2010: unparseable body or unknown property.
    #[error("invalid request: {0}")]
    BadRequest(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "610",
            ApiError::Stale => "5010",
            ApiError::DuplicateName => "6240",
            ApiError::DuplicateDocNumber { .. } => "6140",
            ApiError::RequiredParam(_) => "2020",
            ApiError::InvalidReference(_) => "2500",
            ApiError::InvalidEnum(_) => "2170",
            ApiError::Business(_) => "6000",
            ApiError::Query(_) => "4001",
            ApiError::Unsupported(_) => "500",
            ApiError::BadRequest(_) => "2010",
        }
    }

    fn message_and_detail(&self) -> (String, String) {
        match self {
            ApiError::NotFound(_) => (
                "Object Not Found".into(),
                "Object Not Found : Something you're trying to use has been made inactive. Check the fields with accounts, customers, items, vendors or employees.".into(),
            ),
            ApiError::Stale => (
                "Stale Object Error".into(),
                "Stale Object Error : You and root were working on this at the same time. root finished before you did, so your work was not saved.".into(),
            ),
            ApiError::DuplicateName => (
                "Duplicate Name Exists Error".into(),
                "The name supplied already exists. : Another customer, vendor or employee is already using this \nname. Please use a different name.".into(),
            ),
            ApiError::DuplicateDocNumber { doc_number, txn_id } => (
                "Duplicate Document Number Error".into(),
                format!(
                    "Duplicate Document Number Error : You must specify a different number. This number has already been used. DocNumber={doc_number} is assigned to TxnType=Invoice with TxnId={txn_id}"
                ),
            ),
            ApiError::RequiredParam(p) => (
                "Required param missing, need to supply the required value for the API".into(),
                format!("Required parameter {p} is missing in the request"),
            ),
            ApiError::InvalidReference(r) => {
                ("Invalid Reference Id".into(), format!("Invalid Reference Id : {r}"))
            }
            ApiError::InvalidEnum(e) => {
                ("Invalid Enumeration".into(), format!("Invalid Enumeration : {e}"))
            }
            ApiError::Business(d) => (
                "A business validation error has occurred while processing your request".into(),
                format!("Business Validation Error: {d}"),
            ),
            ApiError::Query(d) => ("Invalid query".into(), d.clone()),
            ApiError::Unsupported(d) => (
                "Unsupported Operation".into(),
                format!("Operation {d} is not supported."),
            ),
            ApiError::BadRequest(d) => (
                "Request has invalid or unsupported property".into(),
                format!("Property Name:{d} specified is unsupported or invalid"),
            ),
        }
    }

    /// The `Fault` object (as in an envelope or a batch item).
    pub fn fault(&self) -> Fault {
        let (message, detail) = self.message_and_detail();
        Fault {
            error: vec![FaultError {
                message,
                detail: Some(detail),
                code: self.code().to_string(),
                element: Some(String::new()),
            }],
            r#type: "ValidationFault".to_string(),
        }
    }

    /// HTTP status: every documented validation fault is a 400.
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    pub fn into_response_at(self, now: DateTime<Utc>) -> Response {
        fault_response(self.status(), self.fault(), now)
    }
}

/// `"2015-07-24T10:33:39.110-07:00"`-style envelope time.
pub fn envelope_time(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

/// A `{"Fault": …, "time": …}` answer.
pub fn fault_response(status: StatusCode, fault: Fault, now: DateTime<Utc>) -> Response {
    let body = FaultEnvelope {
        fault,
        time: Some(envelope_time(now)),
    };
    (status, Json(body)).into_response()
}

/// The gateway's lower-case 401 (`AuthenticationFailed`, code 3200).
pub fn gateway_unauthorized(detail: &str, now: DateTime<Utc>) -> Response {
    let body = GatewayFaultEnvelope {
        fault: GatewayFault {
            error: vec![GatewayFaultError {
                message: "message=AuthenticationFailed; errorCode=003200; statusCode=401".into(),
                detail: Some(detail.to_string()),
                code: "3200".into(),
                element: Some(String::new()),
            }],
            r#type: "AUTHENTICATION".into(),
        },
        time: Some(serde_json::Value::from(now.timestamp_millis())),
        ..GatewayFaultEnvelope::default()
    };
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// 403 when the token belongs to another company (`ApplicationAuthorizationFailed`, 3100).
pub fn forbidden_realm(now: DateTime<Utc>) -> Response {
    let fault = Fault {
        error: vec![FaultError {
            message: "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403"
                .into(),
            detail: Some(String::new()),
            code: "3100".into(),
            element: Some(String::new()),
        }],
        r#type: "SERVICE".into(),
    };
    fault_response(StatusCode::FORBIDDEN, fault, now)
}

/// The throttle fault (HTTP 429, code 3001, type SERVICE).
pub fn throttled(now: DateTime<Utc>) -> Response {
    let fault = Fault {
        error: vec![FaultError {
            message: "message=ThrottleExceeded; errorCode=003001; statusCode=429".into(),
            detail: Some("The request limit was reached.  Try again later".into()),
            code: "3001".into(),
            element: Some(String::new()),
        }],
        r#type: "SERVICE".into(),
    };
    fault_response(StatusCode::TOO_MANY_REQUESTS, fault, now)
}

/// A 500 system fault (code 10000).
pub fn system_fault(now: DateTime<Utc>) -> Response {
    let fault = Fault {
        error: vec![FaultError {
            message: "An application error has occurred while processing your request".into(),
            detail: Some("System Failure Error: An unexpected error occurred while accessing or saving your data. Please wait a few minutes and try again. If the problem persists, contact customer support.".into()),
            code: "10000".into(),
            element: Some(String::new()),
        }],
        r#type: "SystemFault".into(),
    };
    fault_response(StatusCode::INTERNAL_SERVER_ERROR, fault, now)
}

/// How injected harness faults look on the QuickBooks simulator.
#[derive(Debug, Default)]
pub struct QuickBooksFaults;

impl FaultResponses for QuickBooksFaults {
    fn server_error(&self) -> Response {
        system_fault(Utc::now())
    }

    fn throttled(&self) -> Response {
        throttled(Utc::now())
    }
}
