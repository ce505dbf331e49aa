//! The AWS Lambda Runtime API (`2018-06-01`) on loopback: what the Lambda service offers a
//! custom runtime, enough to run our binaries the way Lambda does (the benchmarks time them, the
//! deploy rehearsal runs the `sam build` artifacts through it).
//!
//! | route | what |
//! |---|---|
//! | `GET /2018-06-01/runtime/invocation/next` | long poll: answers the next event with `Lambda-Runtime-Aws-Request-Id`, `-Deadline-Ms`, `-Invoked-Function-Arn`, `-Trace-Id`; the first call marks the end of init |
//! | `POST /2018-06-01/runtime/invocation/{id}/response` | the function's answer to event `id` |
//! | `POST /2018-06-01/runtime/invocation/{id}/error` | the function's error for event `id` |
//! | `POST /2018-06-01/runtime/init/error` | init failed |

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, oneshot, watch};

pub const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";
pub const RESPONSE_PATH: &str = "/2018-06-01/runtime/invocation/{id}/response";
pub const ERROR_PATH: &str = "/2018-06-01/runtime/invocation/{id}/error";
pub const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";

/// How long an invocation may take by default before the harness gives up on it.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Who the function instance is, as Lambda tells it: its name, its ARN and its timeout (the
/// deadline of every event, and how long [`RuntimeApi::invoke`] waits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionIdentity {
    pub name: String,
    pub arn: String,
    pub timeout: Duration,
}

impl FunctionIdentity {
    /// `name` in account 123456789012, us-east-1, with the default timeout.
    pub fn named(name: &str) -> Self {
        FunctionIdentity {
            name: name.to_string(),
            arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
            timeout: INVOKE_TIMEOUT,
        }
    }
}

/// What the function answered to one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Response(Vec<u8>),
    Error(Vec<u8>),
}

/// One event handed to the runtime.
#[derive(Debug)]
struct Pending {
    request_id: String,
    payload: Vec<u8>,
}

#[derive(Debug)]
struct Shared {
    function: FunctionIdentity,
    started: Instant,
    /// Set at the first `invocation/next` (init done) or at `init/error`.
    ready: watch::Sender<Option<Result<Instant, String>>>,
    events: Mutex<mpsc::Receiver<Pending>>,
    answers: std::sync::Mutex<HashMap<String, oneshot::Sender<(Instant, Answer)>>>,
}

/// A Runtime API server for one function instance.
#[derive(Debug)]
pub struct RuntimeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    sender: mpsc::Sender<Pending>,
    ready: watch::Receiver<Option<Result<Instant, String>>>,
    sequence: AtomicU64,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The headers Lambda sends with an event.
pub fn invocation_headers(
    request_id: &str,
    function_arn: &str,
    deadline_epoch_ms: u64,
) -> Vec<(&'static str, String)> {
    vec![
        ("lambda-runtime-aws-request-id", request_id.to_string()),
        ("lambda-runtime-deadline-ms", deadline_epoch_ms.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            function_arn.to_string(),
        ),
        (
            "lambda-runtime-trace-id",
            format!(
                "Root=1-{:08x}-{};Parent={};Sampled=0",
                chrono::Utc::now().timestamp(),
                &uuid::Uuid::new_v4().simple().to_string()[..24],
                &uuid::Uuid::new_v4().simple().to_string()[..16]
            ),
        ),
        ("content-type", "application/json".to_string()),
    ]
}

impl RuntimeApi {
    /// Serves the API on a free loopback port (the caller starts the init clock when it spawns
    /// the process; [`RuntimeApi::wait_ready`] answers when the first `invocation/next` came).
    pub async fn start(function_name: &str) -> std::io::Result<RuntimeApi> {
        RuntimeApi::start_for(FunctionIdentity::named(function_name)).await
    }

    /// [`RuntimeApi::start`] for a function with its own ARN and timeout.
    pub async fn start_for(function: FunctionIdentity) -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let addr = listener.local_addr()?;
        let (sender, receiver) = mpsc::channel(16);
        let (ready_tx, ready) = watch::channel(None);
        let shared = Arc::new(Shared {
            function,
            started: Instant::now(),
            ready: ready_tx,
            events: Mutex::new(receiver),
            answers: std::sync::Mutex::new(HashMap::new()),
        });
        let router = router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(RuntimeApi {
            addr,
            shared,
            sender,
            ready,
            sequence: AtomicU64::new(0),
            task,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Waits for the first `invocation/next` (init done): answers when it came, or the init
    /// error the function reported.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<Instant, String> {
        let mut ready = self.ready.clone();
        let waited = tokio::time::timeout(timeout, async {
            loop {
                if let Some(state) = ready.borrow_and_update().clone() {
                    return state;
                }
                if ready.changed().await.is_err() {
                    return Err("the runtime API stopped".to_string());
                }
            }
        })
        .await;
        waited.unwrap_or_else(|_| Err(format!("no invocation/next within {timeout:?}")))
    }

    /// Hands `payload` to the function and waits for its answer (at most the function's
    /// timeout); the duration runs from the hand-over to the arrival of the answer.
    pub async fn invoke(&self, payload: &[u8]) -> Result<(Duration, Answer), String> {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let request_id = format!(
            "{:08x}-{:04x}-{n}",
            self.shared.started.elapsed().as_micros(),
            std::process::id() & 0xffff
        );
        let timeout = self.shared.function.timeout;
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.answers).insert(request_id.clone(), tx);
        let sent = Instant::now();
        self.sender
            .send(Pending {
                request_id: request_id.clone(),
                payload: payload.to_vec(),
            })
            .await
            .map_err(|_| "the runtime API stopped".to_string())?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok((at, answer))) => Ok((at.saturating_duration_since(sent), answer)),
            Ok(Err(_)) => Err("the invocation was dropped".into()),
            Err(_) => {
                lock(&self.shared.answers).remove(&request_id);
                Err(format!(
                    "no answer within {timeout:?} (the function's timeout)"
                ))
            }
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(NEXT_PATH, get(next))
        .route(RESPONSE_PATH, post(response))
        .route(ERROR_PATH, post(error))
        .route(INIT_ERROR_PATH, post(init_error))
        .with_state(shared)
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let now = Instant::now();
    shared.ready.send_if_modified(|state| {
        if state.is_none() {
            *state = Some(Ok(now));
            true
        } else {
            false
        }
    });
    let pending = shared.events.lock().await.recv().await;
    let Some(pending) = pending else {
        return (StatusCode::GONE, "the harness stopped").into_response();
    };
    let timeout = chrono::Duration::from_std(shared.function.timeout)
        .unwrap_or_else(|_| chrono::Duration::seconds(30));
    let deadline = (chrono::Utc::now() + timeout).timestamp_millis();
    let mut headers = HeaderMap::new();
    for (name, value) in invocation_headers(
        &pending.request_id,
        &shared.function.arn,
        u64::try_from(deadline).unwrap_or_default(),
    ) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    (StatusCode::OK, headers, pending.payload).into_response()
}

fn settle(shared: &Shared, id: &str, answer: Answer) -> Response {
    let at = Instant::now();
    match lock(&shared.answers).remove(id) {
        Some(tx) => {
            let _ = tx.send((at, answer));
            (StatusCode::ACCEPTED, Json(json!({"status": "OK"}))).into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({"errorMessage": format!("unknown request id {id}"), "errorType": "InvalidRequestID"})),
        )
            .into_response(),
    }
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    settle(&shared, &id, Answer::Response(body.to_vec()))
}

async fn error(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    settle(&shared, &id, Answer::Error(body.to_vec()))
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let message = String::from_utf8_lossy(&body).into_owned();
    shared.ready.send_if_modified(|state| {
        if state.is_none() {
            *state = Some(Err(format!("init error: {message}")));
            true
        } else {
            false
        }
    });
    (StatusCode::ACCEPTED, Json(json!({"status": "OK"}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime client doing what `lambda_runtime` does: next, then response (or error).
    async fn serve_one(base: String, fail: bool) -> HeaderMap {
        let client = shared::clients::outbound::plain_client();
        let event = client
            .get(format!("{base}{NEXT_PATH}"))
            .send()
            .await
            .unwrap();
        let headers = event.headers().clone();
        let id = headers["lambda-runtime-aws-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let body = event.bytes().await.unwrap();
        let kind = if fail { "error" } else { "response" };
        let answer = client
            .post(format!("{base}/2018-06-01/runtime/invocation/{id}/{kind}"))
            .body(format!("echo:{}", String::from_utf8_lossy(&body)))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202);
        headers
    }

    #[tokio::test]
    async fn events_go_out_with_lambdas_headers_and_answers_come_back() {
        let api = RuntimeApi::start("fn-a").await.unwrap();
        let base = format!("http://{}", api.host());
        let runtime = tokio::spawn(serve_one(base.clone(), false));
        let ready = api.wait_ready(Duration::from_secs(5)).await;
        assert!(ready.is_ok(), "{ready:?}");
        let (_, answer) = api.invoke(b"{\"a\":1}").await.unwrap();
        assert_eq!(answer, Answer::Response(b"echo:{\"a\":1}".to_vec()));
        let headers = runtime.await.unwrap();
        let deadline: i64 = headers["lambda-runtime-deadline-ms"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(deadline > chrono::Utc::now().timestamp_millis());
        assert!(
            headers["lambda-runtime-invoked-function-arn"]
                .to_str()
                .unwrap()
                .ends_with(":function:fn-a")
        );
        assert!(
            headers["lambda-runtime-trace-id"]
                .to_str()
                .unwrap()
                .starts_with("Root=1-")
        );

        // An error answer is told apart from a response.
        let runtime = tokio::spawn(serve_one(base.clone(), true));
        let (_, answer) = api.invoke(b"x").await.unwrap();
        assert_eq!(answer, Answer::Error(b"echo:x".to_vec()));
        runtime.await.unwrap();

        // An answer to an event never sent is refused.
        let stray = shared::clients::outbound::plain_client()
            .post(format!(
                "{base}/2018-06-01/runtime/invocation/nope/response"
            ))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(stray.status(), 400);
    }

    #[tokio::test]
    async fn init_errors_are_reported() {
        let api = RuntimeApi::start("fn-b").await.unwrap();
        let answer = shared::clients::outbound::plain_client()
            .post(format!("http://{}{INIT_ERROR_PATH}", api.host()))
            .body("{\"errorMessage\":\"TABLE_NAME missing\"}")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202);
        let ready = api.wait_ready(Duration::from_secs(5)).await;
        assert!(ready.unwrap_err().contains("TABLE_NAME missing"));
    }

    #[tokio::test]
    async fn an_event_unanswered_within_the_functions_timeout_is_an_error() {
        let api = RuntimeApi::start_for(FunctionIdentity {
            timeout: Duration::from_millis(100),
            ..FunctionIdentity::named("fn-d")
        })
        .await
        .unwrap();
        let err = api.invoke(b"{}").await.unwrap_err();
        assert!(err.contains("the function's timeout"), "{err}");
    }

    #[tokio::test]
    async fn a_runtime_that_never_asks_is_a_timeout() {
        let api = RuntimeApi::start("fn-c").await.unwrap();
        let ready = api.wait_ready(Duration::from_millis(50)).await;
        assert!(ready.unwrap_err().contains("no invocation/next"));
    }

    #[test]
    fn the_four_headers_lambda_sends() {
        let headers = invocation_headers(
            "id-1",
            "arn:aws:lambda:us-east-1:123456789012:function:settings",
            42,
        );
        let names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
        for name in [
            "lambda-runtime-aws-request-id",
            "lambda-runtime-deadline-ms",
            "lambda-runtime-invoked-function-arn",
            "lambda-runtime-trace-id",
        ] {
            assert!(names.contains(&name), "{name}");
        }
        assert_eq!(headers[0].1, "id-1");
        assert_eq!(headers[1].1, "42");
        assert!(headers[2].1.ends_with(":function:settings"));
    }
}
