//! The HTTP API in front of the functions, as API Gateway runs a SAM `HttpApi`: a request is
//! matched against the template's routes (no route: 404 `{"message":"Not Found"}`), the route's
//! function must allow `apigateway.amazonaws.com` to invoke it for that route's execute-api ARN
//! (its `AWS::Lambda::Permission`), the request becomes a payload format 2.0 event (binary bodies
//! base64-encoded), and the function's answer becomes the HTTP response (`isBase64Encoded`
//! bodies decoded, `cookies` as `Set-Cookie`). A function error (an init failure or the
//! function's timeout included) is a 500, no answer within the 30 s integration timeout a 503 —
//! API Gateway's own answers — and each is a rehearsal failure.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use emulation::runtime_api::Answer;
use serde_json::{Value, json};

use crate::lambda::Services;
use crate::record::Record;
use crate::wiring::{Permission, Route, Wiring};

/// API Gateway's payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;
/// How long an HTTP API waits for its Lambda integration (its maximum): then it answers 503,
/// whatever the function's own timeout.
const INTEGRATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub struct Front {
    pub wiring: Wiring,
    pub services: Services,
    pub record: Arc<Record>,
    pub region: String,
    pub account: String,
}

/// Matches `path` against a route's path template; answers the path parameters.
pub fn match_path(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    let wanted: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let given: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    for (i, part) in wanted.iter().enumerate() {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if let Some(greedy) = name.strip_suffix('+') {
                let rest = given.get(i..).filter(|r| !r.is_empty())?;
                params.insert(greedy.to_string(), rest.join("/"));
                return Some(params);
            }
            let value = given.get(i).filter(|v| !v.is_empty())?;
            params.insert(name.to_string(), (*value).to_string());
        } else if given.get(i) != Some(part) {
            return None;
        }
    }
    (wanted.len() == given.len()).then_some(params)
}

/// The route a request takes: an exact method before `ANY`, a literal path before a template.
pub fn find_route<'a>(
    routes: &'a [Route],
    method: &str,
    path: &str,
) -> Option<(&'a Route, BTreeMap<String, String>)> {
    let mut found: Vec<(&Route, BTreeMap<String, String>)> = routes
        .iter()
        .filter(|r| r.method == method || r.method == "ANY")
        .filter_map(|r| match_path(&r.path, path).map(|p| (r, p)))
        .collect();
    found.sort_by_key(|(r, p)| (r.method == "ANY", p.len()));
    found.into_iter().next()
}

/// `*` and `?` wildcards, as IAM and Lambda permissions use them.
pub fn glob(pattern: &str, value: &str) -> bool {
    fn go(p: &[u8], v: &[u8]) -> bool {
        match (p.first(), v.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], v) || (!v.is_empty() && go(p, &v[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &v[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &v[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), value.as_bytes())
}

/// Whether a permission lets API Gateway invoke `function` for `source_arn`.
pub fn invoke_allowed(permissions: &[Permission], function: &str, source_arn: &str) -> bool {
    permissions.iter().any(|p| {
        p.function == function
            && p.principal == "apigateway.amazonaws.com"
            && p.source_arn
                .as_deref()
                .is_none_or(|pattern| glob(pattern, source_arn))
    })
}

fn textual(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.is_empty()
        || ct.starts_with("text/")
        || ["json", "xml", "javascript", "x-www-form-urlencoded"]
            .iter()
            .any(|t| ct.contains(t))
}

/// API Gateway's `headers` (lower-case, repeated ones joined by commas, its own
/// `x-forwarded-*` added) and `cookies` (split out of the `Cookie` header).
fn headers_and_cookies(request: &HeaderMap) -> (serde_json::Map<String, Value>, Vec<String>) {
    let mut headers = serde_json::Map::new();
    let mut cookies = Vec::new();
    for (name, value) in request {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(value.split("; ").map(str::to_string));
            continue;
        }
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => existing.push_str(&format!(",{value}")),
            _ => {
                headers.insert(name.as_str().to_string(), Value::String(value));
            }
        }
    }
    headers.insert("x-forwarded-proto".into(), json!("http"));
    headers.insert("x-forwarded-for".into(), json!("127.0.0.1"));
    (headers, cookies)
}

/// `queryStringParameters`: decoded, repeated names joined by commas.
fn query_parameters(query: &str) -> serde_json::Map<String, Value> {
    let mut params = serde_json::Map::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match params.get_mut(k.as_ref()) {
            Some(Value::String(existing)) => existing.push_str(&format!(",{v}")),
            _ => {
                params.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
    }
    params
}

/// The payload format 2.0 event of a request.
pub fn event(
    route: &Route,
    params: &BTreeMap<String, String>,
    request: &http::request::Parts,
    body: &[u8],
    api_id: &str,
    account: &str,
) -> Value {
    let (headers, cookies) = headers_and_cookies(&request.headers);
    let query = request.uri.query().unwrap_or("");
    let query_params = query_parameters(query);
    let now = chrono::Utc::now();
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.key(),
        "rawPath": request.uri.path(),
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": account,
            "apiId": api_id,
            "domainName": request.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or(""),
            "domainPrefix": api_id,
            "http": {
                "method": request.method.as_str(),
                "path": request.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": request.headers.get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or("")
            },
            "requestId": uuid::Uuid::new_v4().simple().to_string(),
            "routeKey": route.key(),
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis()
        },
        "isBase64Encoded": false
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query_params.is_empty() {
        event["queryStringParameters"] = Value::Object(query_params);
    }
    if !params.is_empty() {
        event["pathParameters"] = json!(params);
    }
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) if textual(content_type) => event["body"] = json!(text),
            _ => {
                event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

/// The HTTP response of a function's payload 2.0 answer.
pub fn response(answer: &[u8]) -> Result<Response, String> {
    let value: Value = serde_json::from_slice(answer).map_err(|e| format!("not JSON: {e}"))?;
    let Some(status) = value.get("statusCode").and_then(Value::as_u64) else {
        // API Gateway's inference: any other JSON is a 200 with that JSON as the body.
        return Ok((
            StatusCode::OK,
            [("content-type", "application/json")],
            value.to_string(),
        )
            .into_response());
    };
    let mut headers = HeaderMap::new();
    for (name, v) in value["headers"].as_object().into_iter().flatten() {
        let (Ok(name), Some(v)) = (HeaderName::from_bytes(name.as_bytes()), v.as_str()) else {
            return Err(format!("bad header {name}"));
        };
        headers.insert(name, HeaderValue::from_str(v).map_err(|e| e.to_string())?);
    }
    for cookie in value["cookies"].as_array().into_iter().flatten() {
        let cookie =
            HeaderValue::from_str(cookie.as_str().unwrap_or("")).map_err(|e| e.to_string())?;
        headers.append("set-cookie", cookie);
    }
    let body = value["body"].as_str().unwrap_or("");
    let bytes = if value["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("isBase64Encoded body: {e}"))?
    } else {
        body.as_bytes().to_vec()
    };
    let status =
        StatusCode::from_u16(u16::try_from(status).unwrap_or(500)).map_err(|e| e.to_string())?;
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

fn gateway_answer(status: StatusCode, message: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({"message": message}).to_string(),
    )
        .into_response()
}

/// The front's one handler.
pub async fn handle(State(front): State<Arc<Front>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return gateway_answer(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
    };
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let Some((route, params)) = find_route(&front.wiring.routes, &method, &path) else {
        front.record.unrouted(&format!("{method} {path}"));
        return gateway_answer(StatusCode::NOT_FOUND, "Not Found");
    };
    front.record.route(&route.key());
    let source_arn = format!(
        "arn:aws:execute-api:{}:{}:{}/$default/{method}{path}",
        front.region, front.account, front.wiring.api_id
    );
    if !invoke_allowed(&front.wiring.permissions, &route.function, &source_arn) {
        front.record.failure(format!(
            "{}: no AWS::Lambda::Permission lets API Gateway invoke {} for {source_arn}",
            route.key(),
            route.function
        ));
        return gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    }
    let Some(service) = front.services.get(&route.function) else {
        front.record.failure(format!(
            "{}: function {} is not running",
            route.key(),
            route.function
        ));
        return gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let event = event(
        route,
        &params,
        &parts,
        &body,
        &front.wiring.api_id,
        &front.account,
    );
    front.record.invocation(&route.function);
    let payload = event.to_string();
    let invocation = tokio::time::timeout(INTEGRATION_TIMEOUT, service.invoke(payload.as_bytes()));
    let Ok(answer) = invocation.await else {
        front.record.failure(format!(
            "{}: {} did not answer within API Gateway's {} s integration timeout",
            route.key(),
            route.function,
            INTEGRATION_TIMEOUT.as_secs()
        ));
        return gateway_answer(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    };
    match answer {
        Ok(Answer::Response(bytes)) => response(&bytes).unwrap_or_else(|why| {
            front.record.failure(format!(
                "{} ({}): malformed answer: {why}",
                route.key(),
                route.function
            ));
            gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }),
        Ok(Answer::Error(bytes)) => {
            front.record.failure(format!(
                "{} ({}): function error {}",
                route.key(),
                route.function,
                String::from_utf8_lossy(&bytes)
            ));
            gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
        // Init failures and function timeouts are function errors to API Gateway.
        Err(why) => {
            front.record.failure(format!("{}: {why}", route.key()));
            gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> Route {
        Route {
            method: method.into(),
            path: path.into(),
            function: "F".into(),
            payload_format: "2.0".into(),
        }
    }

    #[test]
    fn paths_match_templates_and_literals_win() {
        let routes = vec![
            route("GET", "/api/deals/{deal_id}/invoices/{invoice_id}/pdf"),
            route("GET", "/api/settings"),
            route("GET", "/api/{name}"),
            route("ANY", "/static/{proxy+}"),
        ];
        let (r, p) = find_route(&routes, "GET", "/api/deals/7/invoices/12/pdf").unwrap();
        assert_eq!(r.path, "/api/deals/{deal_id}/invoices/{invoice_id}/pdf");
        assert_eq!(p["deal_id"], "7");
        assert_eq!(p["invoice_id"], "12");
        assert_eq!(
            find_route(&routes, "GET", "/api/settings").unwrap().0.path,
            "/api/settings"
        );
        assert_eq!(
            find_route(&routes, "GET", "/api/other").unwrap().1["name"],
            "other"
        );
        assert!(find_route(&routes, "POST", "/api/settings").is_none());
        assert!(find_route(&routes, "GET", "/api/deals/7/invoices//pdf").is_none());
        let (_, p) = find_route(&routes, "DELETE", "/static/a/b.css").unwrap();
        assert_eq!(p["proxy"], "a/b.css");
    }

    #[test]
    fn permissions_are_globbed() {
        let permissions = vec![Permission {
            function: "F".into(),
            principal: "apigateway.amazonaws.com".into(),
            source_arn: Some("arn:aws:execute-api:us-east-1:1:abc/*/GET/api/deals/*/pdf".into()),
        }];
        assert!(invoke_allowed(
            &permissions,
            "F",
            "arn:aws:execute-api:us-east-1:1:abc/$default/GET/api/deals/7/pdf"
        ));
        assert!(!invoke_allowed(
            &permissions,
            "F",
            "arn:aws:execute-api:us-east-1:1:abc/$default/POST/api/deals/7/pdf"
        ));
        assert!(!invoke_allowed(
            &permissions,
            "G",
            "arn:aws:execute-api:us-east-1:1:abc/$default/GET/api/deals/7/pdf"
        ));
        assert!(glob("a?c*", "abcdef"));
        assert!(!glob("a?c", "ac"));
    }

    #[test]
    fn binary_bodies_travel_base64_both_ways() {
        let request = http::Request::builder()
            .method("POST")
            .uri("/api/x?a=1&a=2&b=%20")
            .header("content-type", "application/octet-stream")
            .header("cookie", "a=1; b=2")
            .body(())
            .unwrap();
        let (parts, _) = request.into_parts();
        let e = event(
            &route("POST", "/api/x"),
            &BTreeMap::new(),
            &parts,
            &[0xff, 0x00],
            "abc",
            "1",
        );
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "/wA=");
        assert_eq!(e["queryStringParameters"]["a"], "1,2");
        assert_eq!(e["queryStringParameters"]["b"], " ");
        assert_eq!(e["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(e["routeKey"], "POST /api/x");
        let answer = json!({"statusCode": 200, "headers": {"content-type": "application/pdf"}, "body": "JVBERg==", "isBase64Encoded": true, "cookies": ["c=3"]});
        let r = response(answer.to_string().as_bytes()).unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["set-cookie"], "c=3");
        let plain = response(br#"{"enqueued":1}"#).unwrap();
        assert_eq!(plain.status(), 200);
        assert!(response(b"not json").is_err());
    }
}
