//! HTTP plumbing shared by every function: JSON body extractors (required and optional) with a
//! size limit and problem+json rejections, path-parameter parsing with clear errors, the
//! fallbacks, and the request-id middleware. Handlers are axum routers; the Lambda binaries run
//! them with `lambda_http`, and the local server mounts the very same routers.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// One route a function serves, as API Gateway and the OpenAPI description name it (axum, API
/// Gateway and OpenAPI all write path parameters as `{name}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
}

impl Route {
    pub const fn new(method: &'static str, path: &'static str) -> Self {
        Route { method, path }
    }
}

/// Largest request body any route accepts.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A JSON request body: `Content-Type: application/json` required, at most
/// [`MAX_BODY_BYTES`], parsed into `T`. Every failure is a problem+json 4xx.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

fn is_json(content_type: Option<&HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.len() > 5
            && essence.to_ascii_lowercase().starts_with("application/")
            && essence.to_ascii_lowercase().ends_with("+json"))
}

/// A JSON answer written into a buffer of about `capacity` bytes. axum's `Json` starts from
/// 128 bytes and doubles: a 100 KB answer (a deal's 250 invoices) is copied ten times and its
/// last buffers are fresh `mmap`s, page-faulted in at every request (BENCHMARKS.md).
#[derive(Debug, Clone)]
pub struct SizedJson<T>(pub T, pub usize);

impl<T: serde::Serialize> IntoResponse for SizedJson<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(self.1);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => (
                [(
                    axum::http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(error) => {
                ApiError::internal(format!("writing the answer: {error}")).into_response()
            }
        }
    }
}

/// Parses JSON bytes, turning serde errors into the right 4xx.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::Unprocessable {
                detail: format!("The request body does not have the expected fields: {e}"),
                errors: Vec::new(),
            },
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request(format!("The request body is not valid JSON: {e}"))
            }
        }
    })
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(not_json());
        }
        let bytes = read_body(req.into_body()).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

fn not_json() -> ApiError {
    ApiError::UnsupportedMediaType(
        "Send the request body as JSON with `Content-Type: application/json`.".into(),
    )
}

/// Reads a whole request body of at most [`MAX_BODY_BYTES`] (413 problem+json beyond).
pub async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::PayloadTooLarge(format!(
                "The request body is larger than {} KiB.",
                MAX_BODY_BYTES / 1024
            ))
        })
}

/// A JSON request body that may be left out: no body, or only whitespace, is `None`; any other
/// body is held to [`JsonBody`]'s rules (its content type, its size limit, its 4xx answers).
/// The body is read before its content type is checked, since only its bytes tell whether it is
/// empty: an oversized body answers 413 whatever its type.
#[derive(Debug, Clone)]
pub struct OptionalJsonBody<T>(pub Option<T>);

/// The decision behind [`OptionalJsonBody`], on the body already read.
fn optional_json<T: DeserializeOwned>(
    content_type: Option<&HeaderValue>,
    bytes: &[u8],
) -> Result<Option<T>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if !is_json(content_type) {
        return Err(not_json());
    }
    parse_json(bytes).map(Some)
}

impl<S, T> FromRequest<S> for OptionalJsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = read_body(body).await?;
        optional_json(parts.headers.get(header::CONTENT_TYPE), &bytes).map(OptionalJsonBody)
    }
}

/// Path parameters parsed into `T`, answering 400 (problem+json) when they do not parse.
#[derive(Debug, Clone)]
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParams(value)),
            Err(rejection) => Err(ApiError::bad_request(format!(
                "The URL is not valid: {}",
                rejection.body_text()
            ))),
        }
    }
}

/// Query parameters parsed into `T`, answering 400 (problem+json) when they do not parse.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(QueryParams)
            .map_err(|e| ApiError::bad_request(format!("The query string is not valid: {e}")))
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("There is no such route.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("This route does not accept that method.".into())
}

/// The id of the request: API Gateway's when there is one, else the caller's `x-request-id`,
/// else a new one. Stored as an extension and echoed in `x-request-id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

async fn request_id_layer(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("apigw-requestid")
        .or_else(|| request.headers().get("x-request-id"))
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let mut response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    span.in_scope(|| {
        tracing::info!(status = response.status().as_u16(), "answered");
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Finishes a function's router: problem+json fallbacks for unknown routes and methods, and the
/// request-id span around every request. Apply once, to the whole router.
pub fn finish(router: Router) -> Router {
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(request_id_layer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        let ok = |v: &'static str| is_json(Some(&HeaderValue::from_static(v)));
        assert!(ok("application/json"));
        assert!(ok("application/json; charset=utf-8"));
        assert!(ok("Application/JSON"));
        assert!(ok("application/merge-patch+json"));
        assert!(!ok("text/plain"));
        assert!(!ok("application/x-www-form-urlencoded"));
        assert!(!is_json(None));
    }

    #[test]
    fn malformed_json_is_400_and_wrong_shape_is_422() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            a: u32,
        }
        assert_eq!(
            parse_json::<T>(b"{").unwrap_err().status(),
            axum::http::StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse_json::<T>(br#"{"a":"x"}"#).unwrap_err().status(),
            axum::http::StatusCode::UNPROCESSABLE_ENTITY
        );
        let deep = "[".repeat(10_000);
        assert_eq!(
            parse_json::<serde_json::Value>(deep.as_bytes())
                .unwrap_err()
                .status(),
            axum::http::StatusCode::BAD_REQUEST
        );
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Flags {
        #[serde(default)]
        replace: bool,
    }

    async fn optional_body(
        content_type: Option<&'static str>,
        body: Body,
    ) -> Result<Option<Flags>, ApiError> {
        let mut request = Request::builder().method("POST").uri("/x");
        if let Some(value) = content_type {
            request = request.header(header::CONTENT_TYPE, value);
        }
        let request = request.body(body).unwrap();
        OptionalJsonBody::<Flags>::from_request(request, &())
            .await
            .map(|OptionalJsonBody(value)| value)
    }

    #[test]
    fn an_absent_empty_or_blank_body_is_none_whatever_its_type() {
        let json = HeaderValue::from_static("application/json");
        let text = HeaderValue::from_static("text/plain");
        for (content_type, bytes) in [
            (None, &b""[..]),
            (Some(&json), b""),
            (Some(&text), b" \r\n\t"),
            (None, b"\n"),
        ] {
            assert_eq!(optional_json::<Flags>(content_type, bytes).unwrap(), None);
        }
    }

    #[test]
    fn a_present_body_follows_the_json_body_rules() {
        let ok = |v: &'static str, body: &[u8]| {
            optional_json::<Flags>(Some(&HeaderValue::from_static(v)), body)
        };
        assert_eq!(
            ok("application/json; charset=utf-8", br#"{"replace":true}"#).unwrap(),
            Some(Flags { replace: true })
        );
        assert_eq!(
            ok("application/merge-patch+json", b"{}").unwrap(),
            Some(Flags { replace: false })
        );
        let status = |r: Result<Option<Flags>, ApiError>| r.unwrap_err().status();
        use axum::http::StatusCode;
        assert_eq!(
            status(ok("text/plain", b"replace")),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            status(optional_json::<Flags>(None, b"{}")),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            status(ok("application/json", b"{")),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(ok("application/json", br#"{"other":1}"#)),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[tokio::test]
    async fn the_extractor_reads_the_body_and_limits_its_size() {
        assert_eq!(optional_body(None, Body::empty()).await.unwrap(), None);
        assert_eq!(
            optional_body(Some("application/json"), Body::from(r#"{"replace":true}"#))
                .await
                .unwrap(),
            Some(Flags { replace: true })
        );
        let wrong = optional_body(Some("text/plain"), Body::from("replace")).await;
        assert_eq!(
            wrong.unwrap_err().status(),
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        let huge = Body::from(vec![b' '; MAX_BODY_BYTES + 1]);
        assert_eq!(
            optional_body(Some("application/json"), huge)
                .await
                .unwrap_err()
                .status(),
            axum::http::StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
