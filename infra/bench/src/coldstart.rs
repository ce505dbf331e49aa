//! Cold starts: every function's release binary started against the loopback Runtime API
//! ([`emulation::runtime_api`]) the way Lambda starts it, next to `bench-hello` (a hello-world
//! `lambda_runtime` binary on a current-thread runtime, as every function's main.rs, built with
//! the same profile), several rounds, medians reported.
//!
//! Before the first round each binary is dropped from the page cache (unless
//! `--keep-page-cache`), so that all of them are loaded alike, as on a new instance. Per round and binary: spawn (clock starts) → first
//! `invocation/next` (init) → the first event (first invocation) → `WARM` more events (warm
//! p50/p99 over every round) → `VmHWM` of the process (peak RSS) → kill. The functions run with
//! `STORAGE=aws` against a moto server (DynamoDB, Secrets Manager, SQS over plain HTTP on
//! loopback) and the simulators, credentials from environment variables (no `APP_SECRET_ID`:
//! init makes no network call). The baseline is a package of its own (`infra/bench/hello`),
//! built by the same cargo invocation and started the same way.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use sandbox::harness::RunningServer;
use sandbox::pipedrive::PipedriveSim;
use sandbox::pipedrive::seed::{COMPANY_B, USER_B_ADMIN};
use sandbox::quickbooks::{QuickBooksSim, US_REALM};
use serde_json::{Value, json};
use sha2::Sha256;
use shared::app::{App, Deployment};
use shared::store::dynamo::{DynamoStore, create_table};
use shared::store::secrets::secrets_manager::SecretsManagerStore;

use crate::report::Table;
use crate::stats::{Summary, fmt_opt, fmt_ratio, median, ratio};
use crate::world;
use emulation::moto::Moto;
use emulation::runtime_api::{Answer, RuntimeApi};

/// The baseline binary.
pub const HELLO: &str = "bench-hello";
/// The stack's floor: what every request of the product does before the app's own decisions
/// (JSON logs, one axum route behind lambda_http, the JWT, one DynamoDB and one Secrets Manager
/// read through the AWS SDK, one upstream call; `infra/bench/floor`). Not a target: it shows how
/// much of a function's peak RSS the libraries take before our code.
pub const FLOOR: &str = "bench-floor";
/// Every function binary (as template.yaml names them).
pub const FUNCTIONS: &[&str] = &[
    "settings",
    "install",
    "invoice-create",
    "invoice-actions",
    "extension-ui",
    "quickbooks-webhook",
    "status-sync",
    "invoice-rules",
];
const TABLE: &str = "bench-table";
const PREFIX: &str = "bench";
const MEMORY_MB: &str = "256";
/// The allocator's settings `template.yaml` gives every function (its `GLIBC_TUNABLES`), so the
/// binaries here run with them too — the baseline included.
pub const GLIBC_TUNABLES: &str = "glibc.malloc.tcache_count=0";
const INIT_TIMEOUT: Duration = Duration::from_secs(20);

/// One cold start of one binary.
#[derive(Debug, Clone)]
pub struct Run {
    pub init_ms: f64,
    pub first_ms: f64,
    pub warm_ms: Vec<f64>,
    pub rss_kib: Option<u64>,
    /// What the first invocation answered (HTTP status, or `ok` / `error` for plain events).
    pub answer: String,
}

/// Options of `bench coldstart`.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub rounds: usize,
    pub warm: usize,
    /// Each binary dropped from the page cache before the first round ([`drop_page_cache`]).
    pub drop_page_cache: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rounds: 10,
            warm: 100,
            drop_page_cache: true,
        }
    }
}

/// Everything the functions talk to during a cold-start run.
pub struct ColdWorld {
    pub moto: Moto,
    /// Added to every function's environment (not the baseline's).
    pub extra_env: Vec<(String, String)>,
    pub queue_url: String,
    pub qb: QuickBooksSim,
    pub pd: PipedriveSim,
    qb_url: String,
    pd_url: String,
    _servers: Vec<RunningServer>,
}

impl ColdWorld {
    pub async fn start(root: &Path) -> Result<ColdWorld, String> {
        let moto = Moto::start(root).await?;
        let sdk = shared::clients::aws::sdk::sdk_config(
            &shared::clients::aws::AwsAccess::emulator(&moto.endpoint),
        );
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        create_table(&dynamo, TABLE)
            .await
            .map_err(|e| format!("creating the table in moto: {e}"))?;
        let queue_url = aws_sdk_sqs::Client::new(&sdk)
            .create_queue()
            .queue_name("bench-sync")
            .send()
            .await
            .map_err(|e| format!("creating the queue in moto: {e}"))?
            .queue_url()
            .map(str::to_string)
            .ok_or_else(|| "moto answered no queue URL".to_string())?;
        let world::Simulators {
            qb,
            qb_server,
            pd,
            pd_server,
        } = world::simulators().await?;
        let world = ColdWorld {
            extra_env: Vec::new(),
            queue_url,
            qb_url: qb_server.base_url(),
            pd_url: pd_server.base_url(),
            qb,
            pd,
            moto,
            _servers: vec![qb_server, pd_server],
        };
        // The company the events act as: connected to the US realm, its admin installed.
        let app = App::new(
            Arc::new(DynamoStore::new(dynamo, TABLE)),
            Arc::new(SecretsManagerStore::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
            )),
            PREFIX,
            world::credentials(),
            Deployment::simulated("http://127.0.0.1:9", &world.qb_url, &world.pd_url),
        );
        world::connect(&app, &world.qb, COMPANY_B, USER_B_ADMIN, US_REALM, None)
            .await
            .map_err(|e| e.to_string())?;
        world::install(&app, &world.pd, COMPANY_B, USER_B_ADMIN)
            .await
            .map_err(|e| e.to_string())?;
        Ok(world)
    }

    /// The environment Lambda gives `function` (plus the app's configuration).
    pub fn env(&self, function: &str, runtime_api: &str) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("AWS_LAMBDA_RUNTIME_API", runtime_api),
            ("AWS_LAMBDA_FUNCTION_NAME", function),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_MB),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]bench"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_SESSION_TOKEN", "testing"),
            ("AWS_ENDPOINT_URL", &self.moto.endpoint),
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ("STORAGE", "aws"),
            ("TABLE_NAME", TABLE),
            ("TOKEN_SECRET_PREFIX", PREFIX),
            ("PUBLIC_BASE_URL", "https://bench.example.com"),
            ("QUICKBOOKS_BASE_URL", &self.qb_url),
            ("PIPEDRIVE_OAUTH_BASE_URL", &self.pd_url),
            ("SYNC_QUEUE_URL", &self.queue_url),
            ("GLIBC_TUNABLES", GLIBC_TUNABLES),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.extend(
            world::credential_env()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        if function != HELLO {
            env.extend(self.extra_env.iter().cloned());
        }
        env
    }
}

/// An API Gateway HTTP API (v2) event, as API Gateway sends it to the function.
pub fn apigw_event(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Value {
    let mut header_map = serde_json::Map::new();
    header_map.insert("accept".into(), json!("application/json"));
    header_map.insert(
        "host".into(),
        json!("abc123.execute-api.us-east-1.amazonaws.com"),
    );
    header_map.insert("x-forwarded-proto".into(), json!("https"));
    for (k, v) in headers {
        header_map.insert(k.to_string(), json!(v));
    }
    let now = chrono::Utc::now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": header_map,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "bench"
            },
            "requestId": uuid::Uuid::new_v4().simple().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis()
        },
        "isBase64Encoded": false
    });
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    event
}

/// The event each binary gets: a cheap, real route of each function.
pub fn event_for(function: &str) -> Result<(String, Value), String> {
    let token = world::sign_token(COMPANY_B, USER_B_ADMIN).map_err(|e| e.to_string())?;
    let bearer = format!("Bearer {token}");
    let auth = [("authorization", bearer.as_str())];
    Ok(match function {
        FLOOR => (
            "GET /floor (JWT, one item, one secret, one upstream call)".into(),
            apigw_event("GET", "/floor", "", &auth, None),
        ),
        "settings" => (
            "GET /api/settings".into(),
            apigw_event("GET", "/api/settings", "", &auth, None),
        ),
        "install" => (
            "GET /api/connection".into(),
            apigw_event("GET", "/api/connection", "", &auth, None),
        ),
        "invoice-create" => (
            "GET /api/deals/1/draft".into(),
            apigw_event("GET", "/api/deals/1/draft", "", &auth, None),
        ),
        "invoice-actions" => (
            "GET /api/deals/1/invoices".into(),
            apigw_event("GET", "/api/deals/1/invoices", "", &auth, None),
        ),
        "extension-ui" => {
            let query = format!(
                "resource=deal&view=details&selectedIds=1&companyId={COMPANY_B}&userId={USER_B_ADMIN}&token={token}"
            );
            (
                "GET /ui/panel".into(),
                apigw_event("GET", "/ui/panel", &query, &[], None),
            )
        }
        "quickbooks-webhook" => {
            let body = json!({"eventNotifications": [{
                "realmId": US_REALM,
                "dataChangeEvent": {"entities": [{
                    "name": "Customer", "id": "1", "operation": "Update",
                    "lastUpdated": chrono::Utc::now().to_rfc3339()
                }]}
            }]})
            .to_string();
            let mut mac = Hmac::<Sha256>::new_from_slice(world::WEBHOOK_VERIFIER.as_bytes())
                .map_err(|e| e.to_string())?;
            mac.update(body.as_bytes());
            let signature =
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            (
                "POST /webhooks/quickbooks (signed, 1 change)".into(),
                apigw_event(
                    "POST",
                    "/webhooks/quickbooks",
                    "",
                    &[
                        ("intuit-signature", signature.as_str()),
                        ("content-type", "application/json"),
                    ],
                    Some(&body),
                ),
            )
        }
        "status-sync" | "invoice-rules" => (
            "EventBridge schedule tick".into(),
            json!({
                "version": "0",
                "id": uuid::Uuid::new_v4().to_string(),
                "detail-type": "Scheduled Event",
                "source": "aws.scheduler",
                "account": "123456789012",
                "time": chrono::Utc::now().to_rfc3339(),
                "region": "us-east-1",
                "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/bench"],
                "detail": {}
            }),
        ),
        _ => ("hello event".into(), json!({"hello": "world"})),
    })
}

/// What an answer says, in a word: the HTTP status for API Gateway answers.
pub fn describe_answer(answer: &Answer) -> String {
    match answer {
        Answer::Error(body) => format!(
            "error: {}",
            String::from_utf8_lossy(body)
                .chars()
                .take(120)
                .collect::<String>()
        ),
        Answer::Response(body) => match serde_json::from_slice::<Value>(body) {
            Ok(v) => match v.get("statusCode").and_then(Value::as_u64) {
                Some(code) => code.to_string(),
                None => "ok".into(),
            },
            Err(_) => "ok".into(),
        },
    }
}

/// Peak resident set size (`VmHWM`, KiB) of a process.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_hwm(&status)
}

/// `VmHWM:    4412 kB` → 4412.
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// One cold start of `binary` with `env`: init, first invocation, `warm` more, peak RSS.
pub async fn cold_start(
    binary: &Path,
    function: &str,
    env: impl Fn(&str) -> Vec<(String, String)>,
    event: &dyn Fn() -> Result<Vec<u8>, String>,
    warm: usize,
    log: &Path,
) -> Result<Run, String> {
    let api = RuntimeApi::start(function)
        .await
        .map_err(|e| format!("runtime API: {e}"))?;
    let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let log_err = log_file
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let mut command = tokio::process::Command::new(binary);
    command
        .env_clear()
        .envs(env(&api.host()))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file))
        .stderr(Stdio::from(log_err))
        .kill_on_drop(true);
    let spawned = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let pid = child.id();
    let outcome = async {
        let ready = tokio::select! {
            ready = api.wait_ready(INIT_TIMEOUT) => ready?,
            status = child.wait() => {
                return Err(format!("{function} exited during init ({}), see {}", status.map(|s| s.to_string()).unwrap_or_default(), log.display()));
            }
        };
        let init_ms = crate::stats::ms(ready.saturating_duration_since(spawned));
        let (first, answer) = api.invoke(&event()?).await?;
        let mut warm_ms = Vec::with_capacity(warm);
        for _ in 0..warm {
            let (took, _) = api.invoke(&event()?).await?;
            warm_ms.push(crate::stats::ms(took));
        }
        Ok(Run {
            init_ms,
            first_ms: crate::stats::ms(first),
            warm_ms,
            rss_kib: pid.and_then(peak_rss_kib),
            answer: describe_answer(&answer),
        })
    }
    .await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    outcome
}

/// Drops `binary`'s pages from the page cache (written back first), so that its first start reads
/// it as a new Lambda instance does (page faults and read-around on a cold cache) and every
/// binary of a run is loaded alike. A binary the linker or `cp` has just written is cached in
/// the shape the writes gave it, and the same file then maps more of itself at each fault: the
/// functions measured up to 0.3 MiB more peak RSS right after a copy than dropped first, the
/// hello world the same (BENCHMARKS.md).
pub fn drop_page_cache(binary: &Path) -> Result<(), String> {
    let file = std::fs::File::open(binary).map_err(|e| format!("{}: {e}", binary.display()))?;
    file.sync_data()
        .map_err(|e| format!("writing {} back: {e}", binary.display()))?;
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)
        .map_err(|e| format!("dropping {} from the page cache: {e}", binary.display()))
}

/// Every binary's runs.
pub type Runs = BTreeMap<String, Vec<Run>>;

/// `rounds` cold starts of every binary, interleaved (hello, then each function, per round) so
/// that noise hits all of them alike; with `drop_page_cache`, each binary read from a cold page
/// cache at its first start.
pub async fn measure(
    bin_dir: &Path,
    world: &ColdWorld,
    binaries: &[&str],
    options: Options,
    log_dir: &Path,
) -> Result<Runs, String> {
    std::fs::create_dir_all(log_dir).map_err(|e| format!("{}: {e}", log_dir.display()))?;
    if options.drop_page_cache {
        for binary in binaries {
            drop_page_cache(&bin_dir.join(binary))?;
        }
    }
    let mut runs: Runs = BTreeMap::new();
    for round in 0..options.rounds {
        for binary in binaries {
            // A fresh event each time: a webhook delivered twice is refused as a replay.
            let event = || event_for(binary).map(|(_, event)| event.to_string().into_bytes());
            let run = cold_start(
                &bin_dir.join(binary),
                binary,
                |api| world.env(binary, api),
                &event,
                options.warm,
                &log_dir.join(format!("{binary}.log")),
            )
            .await
            .map_err(|e| format!("{binary}, round {round}: {e}"))?;
            runs.entry(binary.to_string()).or_default().push(run);
        }
        eprintln!("coldstart: round {}/{} done", round + 1, options.rounds);
    }
    Ok(runs)
}

/// Medians of one binary's runs.
#[derive(Debug, Clone, Copy)]
pub struct Medians {
    pub init_ms: f64,
    pub first_ms: f64,
    pub warm: Option<Summary>,
    pub rss_mib: Option<f64>,
}

pub fn medians(runs: &[Run]) -> Option<Medians> {
    let init: Vec<f64> = runs.iter().map(|r| r.init_ms).collect();
    let first: Vec<f64> = runs.iter().map(|r| r.first_ms).collect();
    let warm: Vec<f64> = runs
        .iter()
        .flat_map(|r| r.warm_ms.iter().copied())
        .collect();
    let rss: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.rss_kib)
        .map(|k| k as f64 / 1024.0)
        .collect();
    Some(Medians {
        init_ms: median(&init)?,
        first_ms: median(&first)?,
        warm: Summary::of(&warm),
        rss_mib: median(&rss),
    })
}

/// The targets column: the baseline, the floor (no target), or each target met or missed.
fn verdict(name: &str, init_delta: Option<f64>, rss_ratio: Option<f64>) -> String {
    let word = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "?",
    };
    match name {
        HELLO => "baseline".to_string(),
        FLOOR => "the stack alone (no target)".to_string(),
        _ => format!(
            "init {} · RSS {}",
            word(init_delta.map(|d| d <= 5.0)),
            word(rss_ratio.map(|r| r <= 2.5))
        ),
    }
}

/// The cold-start table: each function next to the same run's hello world.
pub fn table(runs: &Runs, options: Options, label: &str) -> Table {
    let mut t = Table::new(
        "coldstart",
        &format!(
            "Cold start{label} — medians of {} cold starts per binary; warm p50/p99 over {} invocations",
            options.rounds,
            options.rounds * options.warm
        ),
        &[
            "binary",
            "event (first answer)",
            "init ms",
            "init − hello",
            "first inv. ms",
            "warm p50 ms",
            "warm p99 ms",
            "peak RSS MiB",
            "RSS ÷ hello",
            "targets",
        ],
    );
    let hello = runs.get(HELLO).and_then(|r| medians(r));
    let mut order: Vec<&String> = runs.keys().collect();
    order.sort_by_key(|k| {
        (
            k.as_str() != HELLO,
            k.as_str() != FLOOR,
            FUNCTIONS.iter().position(|f| f == k),
        )
    });
    for name in order {
        let Some(m) = medians(&runs[name]) else {
            continue;
        };
        let answer = runs[name]
            .first()
            .map(|r| r.answer.clone())
            .unwrap_or_default();
        let event = event_for(name).map(|(d, _)| d).unwrap_or_default();
        let (delta, rss_ratio) = match hello {
            Some(h) => (
                Some(m.init_ms - h.init_ms),
                m.rss_mib.zip(h.rss_mib).and_then(|(a, b)| ratio(a, b)),
            ),
            None => (None, None),
        };
        let verdict = verdict(name, delta, rss_ratio);
        t.row(vec![
            name.clone(),
            format!("{event} ({answer})"),
            format!("{:.1}", m.init_ms),
            match delta {
                Some(d) => format!("{d:+.1} ms"),
                None => "–".into(),
            },
            format!("{:.2}", m.first_ms),
            fmt_opt(m.warm.map(|w| w.p50), 2),
            fmt_opt(m.warm.map(|w| w.p99), 2),
            fmt_opt(m.rss_mib, 1),
            fmt_ratio(rss_ratio),
            verdict,
        ]);
    }
    t.note("Targets: init ≤ hello-world init + 5 ms; peak RSS ≤ 2.5 × hello-world (same run).");
    t.note("init = exec → first `GET …/invocation/next`; first inv. = event handed over → response posted (includes opening the connections to the store and the simulators); warm = the same for the next events.");
    t.note("The store is moto (DynamoDB/Secrets Manager/SQS emulated in Python, plain HTTP on loopback): warm figures of store-reading routes are mostly moto's own time; on Lambda the first invocation also pays the TLS handshakes.");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_comes_from_vm_hwm() {
        let status =
            "Name:\tsettings\nVmPeak:\t  20000 kB\nVmHWM:\t    4412 kB\nVmRSS:\t    4000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(4412));
        assert_eq!(parse_vm_hwm("Name: x\n"), None);
        // Our own process has one.
        assert!(peak_rss_kib(std::process::id()).is_some_and(|k| k > 0));
    }

    #[test]
    fn the_binaries_run_with_the_allocator_settings_the_template_deploys() {
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"),
        )
        .unwrap();
        let deployed: Vec<&str> = template
            .lines()
            .filter_map(|l| l.trim().strip_prefix("GLIBC_TUNABLES:"))
            .map(str::trim)
            .collect();
        assert_eq!(
            deployed,
            [GLIBC_TUNABLES],
            "one setting, for every function"
        );
    }

    #[test]
    fn api_gateway_events_parse_as_lambda_http_requests() {
        for function in FUNCTIONS.iter().chain([&FLOOR]) {
            let (_, event) = event_for(function).unwrap();
            if matches!(*function, "status-sync" | "invoice-rules") {
                assert_eq!(event["detail-type"], "Scheduled Event");
                continue;
            }
            assert_eq!(event["version"], "2.0", "{function}");
            let path = event["rawPath"].as_str().unwrap();
            assert!(path.starts_with('/'), "{function}: {path}");
        }
        let (_, webhook) = event_for("quickbooks-webhook").unwrap();
        assert!(
            webhook["headers"]["intuit-signature"]
                .as_str()
                .unwrap()
                .len()
                > 40
        );
        assert_eq!(webhook["requestContext"]["http"]["method"], "POST");
    }

    #[test]
    fn answers_are_described_by_their_status() {
        let api = Answer::Response(br#"{"statusCode":200,"body":"{}"}"#.to_vec());
        assert_eq!(describe_answer(&api), "200");
        assert_eq!(describe_answer(&Answer::Response(b"{}".to_vec())), "ok");
        assert!(describe_answer(&Answer::Error(b"boom".to_vec())).starts_with("error: boom"));
    }

    fn run(init: f64, rss: u64) -> Run {
        Run {
            init_ms: init,
            first_ms: init * 2.0,
            warm_ms: vec![1.0, 2.0],
            rss_kib: Some(rss),
            answer: "200".into(),
        }
    }

    #[test]
    fn the_table_compares_with_the_same_runs_hello_world() {
        let mut runs = Runs::new();
        runs.insert(
            HELLO.into(),
            vec![run(3.0, 4096), run(4.0, 4096), run(5.0, 4096)],
        );
        runs.insert(
            "settings".into(),
            vec![run(7.0, 8192), run(8.0, 8192), run(30.0, 8192)],
        );
        runs.insert("install".into(), vec![run(20.0, 12288)]);
        let t = table(
            &runs,
            Options {
                rounds: 3,
                warm: 2,
                ..Options::default()
            },
            "",
        );
        assert_eq!(t.rows[0][0], HELLO);
        assert_eq!(t.rows[1][0], "settings");
        assert_eq!(t.rows[1][3], "+4.0 ms");
        assert_eq!(t.rows[1][8], "×2.00");
        assert_eq!(t.rows[1][9], "init met · RSS met");
        assert_eq!(t.rows[2][0], "install");
        assert_eq!(t.rows[2][9], "init MISSED · RSS MISSED");
    }
}
