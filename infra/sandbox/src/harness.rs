//! What both simulators share: a request log, a controllable clock, fault knobs (latency, 5xx,
//! timeouts, dropped connections, forced 429s) applied as a middleware, and a way to serve a router
//! on `127.0.0.1:0` from a test.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Locks a mutex, recovering the data if a panicking thread poisoned it (a simulator must keep
/// serving after one bad request).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One request as the simulator received it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoggedRequest {
    pub seq: u64,
    pub method: String,
    /// Path without the query string.
    pub path: String,
    pub query: Option<String>,
    /// Lower-cased header names; `authorization` values are kept so tests can assert auth schemes.
    pub headers: Vec<(String, String)>,
    /// Body as UTF-8 (lossy).
    pub body: String,
    /// Status the simulator answered with (0 when the connection was dropped or timed out).
    pub status: u16,
    pub at: DateTime<Utc>,
}

/// What to do to requests matching a route prefix.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FaultSpec {
    /// Fraction of requests (0.0–1.0) answered with a 500-class error.
    pub error_rate: f64,
    /// Fraction of requests that never answer (the client's timeout fires).
    pub timeout_rate: f64,
    /// Fraction of requests whose connection is dropped without an answer.
    pub drop_rate: f64,
    /// Fraction of requests answered with 429.
    pub throttle_rate: f64,
    /// The next N matching requests are answered with 429 (counts down).
    pub force_429: u32,
    /// The next N matching requests are answered with 500 (counts down).
    pub force_500: u32,
}

/// Knobs a test or the control API can turn.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Knobs {
    /// Added to every request on the API (not the control API).
    pub latency_ms: u64,
    /// Faults keyed by path prefix (e.g. `/v3/company/` or `/oauth2/v1/tokens/bearer`).
    /// The longest matching prefix wins.
    pub faults: HashMap<String, FaultSpec>,
}

/// The part every simulator embeds: knobs, log, clock and a deterministic random source for faults.
#[derive(Debug)]
pub struct Harness {
    knobs: Mutex<Knobs>,
    log: Mutex<Vec<LoggedRequest>>,
    seq: AtomicU64,
    clock_offset_secs: Mutex<i64>,
    rng: Mutex<u64>,
    /// Path prefix of the control API; requests under it are not faulted, delayed or logged.
    control_prefix: &'static str,
}

impl Harness {
    pub fn new(control_prefix: &'static str) -> Arc<Self> {
        Arc::new(Harness {
            knobs: Mutex::new(Knobs::default()),
            log: Mutex::new(Vec::new()),
            seq: AtomicU64::new(0),
            clock_offset_secs: Mutex::new(0),
            rng: Mutex::new(0x9E37_79B9_7F4A_7C15),
            control_prefix,
        })
    }

    /// The simulator's notion of "now": real time plus whatever the clock was advanced by.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(*lock(&self.clock_offset_secs))
    }

    pub fn advance_clock(&self, secs: i64) {
        *lock(&self.clock_offset_secs) += secs;
    }

    pub fn knobs(&self) -> Knobs {
        lock(&self.knobs).clone()
    }

    pub fn set_knobs(&self, knobs: Knobs) {
        *lock(&self.knobs) = knobs;
    }

    pub fn set_latency_ms(&self, ms: u64) {
        lock(&self.knobs).latency_ms = ms;
    }

    pub fn set_fault(&self, prefix: impl Into<String>, spec: FaultSpec) {
        lock(&self.knobs).faults.insert(prefix.into(), spec);
    }

    pub fn clear_faults(&self) {
        lock(&self.knobs).faults.clear();
    }

    /// Seeds the fault generator so a run with the same seed injects the same faults.
    pub fn seed_faults(&self, seed: u64) {
        *lock(&self.rng) = seed | 1;
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.log).clone()
    }

    /// Requests whose path starts with `prefix` (and, if given, with this method).
    pub fn requests_matching(&self, method: Option<&str>, prefix: &str) -> Vec<LoggedRequest> {
        lock(&self.log)
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .filter(|r| method.is_none_or(|m| r.method.eq_ignore_ascii_case(m)))
            .cloned()
            .collect()
    }

    pub fn clear_log(&self) {
        lock(&self.log).clear();
    }

    fn next_random(&self) -> f64 {
        // xorshift64*: deterministic, good enough for fault injection.
        let mut state = lock(&self.rng);
        let mut x = *state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (v >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Decides the fault for a request path, counting down forced faults.
    fn decide(&self, path: &str) -> Fault {
        let mut knobs = lock(&self.knobs);
        let Some(spec) = knobs
            .faults
            .iter_mut()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, spec)| spec)
        else {
            return Fault::None;
        };
        if spec.force_429 > 0 {
            spec.force_429 -= 1;
            return Fault::Throttle;
        }
        if spec.force_500 > 0 {
            spec.force_500 -= 1;
            return Fault::ServerError;
        }
        let spec = spec.clone();
        drop(knobs);
        let r = self.next_random();
        let mut edge = spec.error_rate;
        if r < edge {
            return Fault::ServerError;
        }
        edge += spec.timeout_rate;
        if r < edge {
            return Fault::Timeout;
        }
        edge += spec.drop_rate;
        if r < edge {
            return Fault::Drop;
        }
        edge += spec.throttle_rate;
        if r < edge {
            return Fault::Throttle;
        }
        Fault::None
    }

    fn record(&self, mut entry: LoggedRequest) {
        entry.seq = self.seq.fetch_add(1, Ordering::SeqCst);
        lock(&self.log).push(entry);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    ServerError,
    Timeout,
    Drop,
    Throttle,
}

/// How a simulator renders injected faults in its own API's error format.
pub trait FaultResponses: Send + Sync + 'static {
    fn server_error(&self) -> Response;
    fn throttled(&self) -> Response;
}

/// Largest body the simulators accept (they are test servers, not a public API).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// Middleware: logs each request, then applies latency and faults (not to the control API).
pub async fn fault_layer<F: FaultResponses>(
    State((harness, responses)): State<(Arc<Harness>, Arc<F>)>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match http_body_util::BodyExt::collect(http_body_util::Limited::new(body, MAX_BODY))
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return (http::StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
        }
    };
    let path = parts.uri.path().to_string();
    if path.starts_with(harness.control_prefix) {
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    }
    let mut entry = LoggedRequest {
        seq: 0,
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        status: 0,
        at: harness.now(),
    };
    let latency = harness.knobs().latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let response = match harness.decide(&path) {
        Fault::None => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Fault::ServerError => responses.server_error(),
        Fault::Throttle => responses.throttled(),
        Fault::Timeout => {
            harness.record(entry);
            // Longer than any client timeout the app uses; the client gives up first.
            tokio::time::sleep(Duration::from_secs(120)).await;
            return (http::StatusCode::GATEWAY_TIMEOUT, "timed out").into_response();
        }
        Fault::Drop => {
            harness.record(entry);
            // Abort the connection: hyper closes it when the handler panics is not acceptable,
            // so answer with a body stream that errors immediately, which resets the connection.
            let stream = futures::stream::once(async {
                Err::<bytes::Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "dropped by fault injection",
                ))
            });
            return Response::builder()
                .status(200)
                .header("content-length", "1024")
                .body(Body::from_stream(stream))
                .unwrap_or_else(|_| Response::new(Body::empty()));
        }
    };
    entry.status = response.status().as_u16();
    harness.record(entry);
    response
}

/// A simulator served on a local port; aborting the task stops it.
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    pub task: JoinHandle<()>,
}

impl RunningServer {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `router` on `addr` (use `127.0.0.1:0` for a free port).
pub async fn serve(router: Router, addr: SocketAddr) -> std::io::Result<RunningServer> {
    serve_listener(router, TcpListener::bind(addr).await?)
}

/// [`serve`] on a listener bound earlier: for a server whose router needs its own URL before it
/// is built. Binding once and keeping the listener leaves no window in which another process or
/// test could take the port (reserving a port, letting it go and binding it again did).
pub fn serve_listener(router: Router, listener: TcpListener) -> std::io::Result<RunningServer> {
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "simulator stopped");
        }
    });
    Ok(RunningServer { addr, task })
}

/// Control-API body for setting knobs.
#[derive(Debug, Deserialize)]
pub struct AdvanceClock {
    pub seconds: i64,
}
