//! API Gateway HTTP API (v2) events, as Lambda hands them to a function (for tests that invoke a
//! router the way `lambda_http` does).

use serde_json::{Map, Value, json};

/// An event under construction: [`event`], then the parts a test needs, then [`Event::json`].
#[derive(Debug, Clone)]
pub struct Event {
    method: String,
    path: String,
    route: String,
    query: String,
    headers: Map<String, Value>,
    user_agent: String,
    extra: Map<String, Value>,
}

/// A `method path` event from a browser, through the API's default host over HTTPS.
pub fn event(method: &str, path: &str) -> Event {
    let mut headers = Map::new();
    headers.insert(
        "host".into(),
        json!("abc123.execute-api.eu-west-1.amazonaws.com"),
    );
    headers.insert("x-forwarded-proto".into(), json!("https"));
    Event {
        method: method.to_string(),
        path: path.to_string(),
        route: path.to_string(),
        query: String::new(),
        headers,
        user_agent: "Mozilla/5.0".into(),
        extra: Map::new(),
    }
}

impl Event {
    /// The route template (`/api/deals/{deal_id}/invoices`; default: the path).
    pub fn route(mut self, route: &str) -> Self {
        self.route = route.to_string();
        self
    }

    /// The raw query string.
    pub fn query(mut self, query: &str) -> Self {
        self.query = query.to_string();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_string(), json!(value));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn user_agent(mut self, agent: &str) -> Self {
        self.user_agent = agent.to_string();
        self
    }

    /// A text body (not base64-encoded).
    pub fn body(self, body: impl Into<String>) -> Self {
        self.field("body", json!(body.into()))
    }

    /// Any other top-level field of the event (`pathParameters`, `queryStringParameters`…).
    pub fn field(mut self, name: &str, value: Value) -> Self {
        self.extra.insert(name.to_string(), value);
        self
    }

    pub fn json(self) -> Value {
        let route_key = format!("{} {}", self.method, self.route);
        let mut event = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": self.path,
            "rawQueryString": self.query,
            "headers": self.headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abc123",
                "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
                "domainPrefix": "abc123",
                "http": {"method": self.method, "path": self.path, "protocol": "HTTP/1.1",
                         "sourceIp": "203.0.113.7", "userAgent": self.user_agent},
                "requestId": "JKJaXmPLvHcESHA=",
                "routeKey": route_key,
                "stage": "$default",
                "time": "27/Nov/2026:03:00:00 +0000",
                "timeEpoch": 1795748400000u64
            },
            "isBase64Encoded": false
        });
        if let Some(object) = event.as_object_mut() {
            object.extend(self.extra);
        }
        event
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.clone().json())
    }
}
