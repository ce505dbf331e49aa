//! Request latency through the local server (`local::start`, the very routers the Lambda binaries
//! run, embedded store) against the simulators with 0 ms and 50 ms of injected upstream latency.
//! At 50 ms, a route's median divided by 50 ms is the number of sequential upstream round trips
//! it makes (plus its own time): the figure the targets are written in.
//!
//! Baseline of the same run: `GET /healthz` of the same server (no store, no upstream).

use std::net::SocketAddr;
use std::time::Instant;

use rust_decimal::Decimal;
use sandbox::harness::RunningServer;
use sandbox::pipedrive::PipedriveSim;
use sandbox::pipedrive::seed::{COMPANY_B, USER_B_ADMIN};
use sandbox::quickbooks::{QuickBooksSim, US_REALM};
use serde_json::{Value, json};
use shared::app::App;
use shared::config::Env;
use shared::domain::links::{link_from_invoice, today_in};
use shared::domain::{CompanyId, DealId};
use shared::wire::quickbooks::model::{Invoice, Line, Ref};

use crate::report::Table;
use crate::stats::{Summary, fmt_opt, fmt_ratio, median, ratio};
use crate::world;

/// Invoices linked to the deal that `list` and `refresh` read.
pub const REFRESH_INVOICES: usize = 250;
/// The largest page of the deal's list (`?limit=`).
const LARGEST_PAGE: usize = invoice_actions::views::MAX_LIST_PAGE as usize;
/// The deal with the [`REFRESH_INVOICES`] links (company B's deal 2).
const LIST_DEAL: u64 = 2;
/// The deal drafts and creates use (company B's deal 1, customer and items linked).
const CREATE_DEAL: u64 = 1;

/// Options of `bench latency`.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Samples per route at 0 ms (list gets 10× as many: its p99 is a target).
    pub samples: usize,
    /// Samples per route at 50 ms.
    pub samples_rtt: usize,
    pub rtt_ms: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            samples: 50,
            samples_rtt: 15,
            rtt_ms: 50,
        }
    }
}

/// The local server, the simulators it talks to, and a client.
pub struct Bench {
    pub base: String,
    /// Where the invoice-actions routes are served (the local server once it mounts them).
    pub actions_base: String,
    pub app: App,
    pub qb: QuickBooksSim,
    pub pd: PipedriveSim,
    client: reqwest::Client,
    draft_form: Value,
    _local: local::LocalServer,
    _servers: Vec<RunningServer>,
    _actions: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub ms: f64,
    pub status: u16,
    /// QuickBooks + Pipedrive API requests it caused.
    pub upstream: usize,
}

impl Bench {
    pub async fn start() -> Result<Bench, String> {
        let world::Simulators {
            qb,
            qb_server,
            pd,
            pd_server,
        } = world::simulators().await?;
        let mut pairs = world::credential_env();
        let qb_url = qb_server.base_url();
        let pd_url = pd_server.base_url();
        pairs.extend([
            ("STORAGE", "embedded"),
            ("SIMULATORS", "off"),
            ("QUICKBOOKS_BASE_URL", qb_url.as_str()),
            ("PIPEDRIVE_OAUTH_BASE_URL", pd_url.as_str()),
        ]);
        let env = Env::from_pairs(pairs);
        let server = local::start(&env, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| format!("local server: {e}"))?;
        let app = server.app.clone();
        let base = server.url();
        let served_locally = local::FUNCTIONS
            .iter()
            .any(|(name, _)| *name == "invoice-actions");
        let (actions_base, actions_task) = if served_locally {
            (base.clone(), None)
        } else {
            // Not mounted by the local server yet: the same router on its own port, same app.
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("invoice-actions listener: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            let router = shared::web::http::finish(invoice_actions::router(app.clone()));
            let task = tokio::spawn(async move {
                let _ = axum::serve(listener, router).await;
            });
            (format!("http://{addr}"), Some(task))
        };
        let mut bench = Bench {
            base,
            actions_base,
            app,
            qb,
            pd,
            client: shared::clients::outbound::plain_client(),
            draft_form: Value::Null,
            _local: server,
            _servers: vec![qb_server, pd_server],
            _actions: actions_task,
        };
        bench.seed().await?;
        Ok(bench)
    }

    /// Company B on the US realm, deal 1's customer and products linked (as a rep would), and
    /// [`REFRESH_INVOICES`] QuickBooks invoices linked to deal 2.
    async fn seed(&mut self) -> Result<(), String> {
        world::connect(&self.app, &self.qb, COMPANY_B, USER_B_ADMIN, US_REALM, None)
            .await
            .map_err(|e| e.to_string())?;
        world::install(&self.app, &self.pd, COMPANY_B, USER_B_ADMIN)
            .await
            .map_err(|e| e.to_string())?;
        let customer_id = self.link_customer_and_products().await?;
        self.keep_draft_form().await?;
        self.link_invoices_to_list_deal(&customer_id).await
    }

    /// Deal 1's customer created in QuickBooks and its two products linked to items: its id.
    async fn link_customer_and_products(&self) -> Result<String, String> {
        let customer = self
            .call(
                "POST",
                "/api/quickbooks/customers",
                Some(json!({"deal_id": CREATE_DEAL, "display_name": "Bolt Freight Co.", "email": "riley@bolt-freight.example"})),
                Some("bench-customer"),
            )
            .await?;
        let customer_id = customer["customer"]["id"]
            .as_str()
            .ok_or_else(|| format!("creating the customer answered {customer}"))?
            .to_string();
        for (product, item) in [(1, "4"), (2, "2")] {
            self.call(
                "PUT",
                &format!("/api/products/{product}/item-link"),
                Some(json!({"item_id": item})),
                None,
            )
            .await?;
        }
        Ok(customer_id)
    }

    /// Deal 1's draft form, which every measured create submits: confirmed as not a duplicate
    /// (from the second create on, the deal has an open invoice with the same customer, currency
    /// and total, which a create answers with 409 `possible-duplicate` until the rep confirms).
    async fn keep_draft_form(&mut self) -> Result<(), String> {
        let draft = self
            .call(
                "GET",
                &format!("/api/deals/{CREATE_DEAL}/draft"),
                None,
                None,
            )
            .await?;
        self.draft_form = draft["form"].clone();
        if !self.draft_form.is_object() {
            return Err(format!("the draft has no form: {draft}"));
        }
        self.draft_form["confirm_duplicate"] = json!(true);
        Ok(())
    }

    /// [`REFRESH_INVOICES`] invoices of `customer_id` created in QuickBooks and linked to deal 2.
    async fn link_invoices_to_list_deal(&self, customer_id: &str) -> Result<(), String> {
        let token = shared::domain::SecretString::new(
            self.qb
                .issue_tokens(US_REALM)
                .map_err(|e| e.to_string())?
                .access_token,
        );
        let now = chrono::Utc::now();
        for n in 0..REFRESH_INVOICES {
            let invoice = Invoice {
                customer_ref: Some(Ref::new(customer_id.to_string())),
                currency_ref: Some(Ref::new("USD")),
                line: Some(vec![Line::sales_item(
                    Ref::new("2"),
                    Decimal::ONE,
                    Decimal::from(100 + n as i64),
                )]),
                ..Invoice::default()
            };
            let created = self
                .app
                .quickbooks
                .create_invoice(
                    US_REALM,
                    &token,
                    &invoice,
                    &uuid::Uuid::new_v4().to_string(),
                )
                .await
                .map_err(|e| format!("seeding invoice {n}: {e}"))?;
            let link = link_from_invoice(
                CompanyId(COMPANY_B),
                DealId(LIST_DEAL),
                US_REALM,
                &created,
                today_in("UTC", now),
                now,
            )
            .map_err(|e| e.to_string())?;
            self.app
                .records
                .create_invoice_link(&link)
                .await
                .map_err(|e| format!("seeding link {n}: {e}"))?;
        }
        Ok(())
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Result<Value, String> {
        let (sample, body) = self.request(&self.base, method, path, body, key).await?;
        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        match sample.status {
            status if status < 300 => Ok(value),
            status => Err(format!("{method} {path} answered {status}: {value}")),
        }
    }

    /// One timed request (as company B's admin, a fresh token): the sample and the answer's body.
    pub async fn request(
        &self,
        base: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Result<(Sample, bytes::Bytes), String> {
        let token = world::sign_token(COMPANY_B, USER_B_ADMIN).map_err(|e| e.to_string())?;
        let method: reqwest::Method = method.parse().map_err(|e| format!("{e}"))?;
        let mut request = self
            .client
            .request(method, format!("{base}{path}"))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        self.qb.harness().clear_log();
        self.pd.harness().clear_log();
        let started = Instant::now();
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        let ms = crate::stats::ms(started.elapsed());
        let upstream = self.qb.harness().requests().len() + self.pd.harness().requests().len();
        Ok((
            Sample {
                ms,
                status,
                upstream,
            },
            bytes,
        ))
    }

    fn set_latency(&self, ms: u64) {
        self.qb.harness().set_latency_ms(ms);
        self.pd.harness().set_latency_ms(ms);
    }

    /// `n` samples of one route.
    async fn samples(&self, route: Route, n: usize) -> Result<Vec<Sample>, String> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let (sample, body) = self.sample(route).await?;
            check_answer(route, &sample, &body)?;
            out.push(sample);
        }
        Ok(out)
    }

    /// One timed request of `route` (for a deal never seen, its parties forgotten first).
    async fn sample(&self, route: Route) -> Result<(Sample, bytes::Bytes), String> {
        match route {
            Route::Healthz => {
                self.request(&self.base, "GET", "/healthz", None, None)
                    .await
            }
            Route::DraftUnseen | Route::Draft => {
                if route == Route::DraftUnseen {
                    // Forget the deal's parties: the draft of a deal opened for the first time.
                    self.app
                        .records
                        .forget_deal_parties(CompanyId(COMPANY_B), DealId(CREATE_DEAL))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                self.request(
                    &self.base,
                    "GET",
                    &format!("/api/deals/{CREATE_DEAL}/draft"),
                    None,
                    None,
                )
                .await
            }
            Route::Create => {
                let key = uuid::Uuid::new_v4().to_string();
                self.request(
                    &self.base,
                    "POST",
                    &format!("/api/deals/{CREATE_DEAL}/invoices"),
                    Some(self.draft_form.clone()),
                    Some(&key),
                )
                .await
            }
            Route::List | Route::ListLargestPage => {
                let query = if route == Route::List {
                    String::new()
                } else {
                    format!("?limit={LARGEST_PAGE}")
                };
                self.request(
                    &self.actions_base,
                    "GET",
                    &format!("/api/deals/{LIST_DEAL}/invoices{query}"),
                    None,
                    None,
                )
                .await
            }
            Route::Refresh => {
                self.request(
                    &self.actions_base,
                    "POST",
                    &format!("/api/deals/{LIST_DEAL}/invoices/refresh"),
                    None,
                    None,
                )
                .await
            }
        }
    }
}

/// A measured answer is a success, and a list page holds the invoices it should.
fn check_answer(route: Route, sample: &Sample, body: &[u8]) -> Result<(), String> {
    if sample.status >= 300 {
        return Err(format!(
            "{} answered {}: {}",
            route.label(),
            sample.status,
            String::from_utf8_lossy(body)
        ));
    }
    if let Some(page) = route.page() {
        // Counted without building the answer as a `Value` (hundreds of maps allocated
        // and freed between two measured requests churned the allocator).
        #[derive(serde::Deserialize)]
        struct Listed {
            invoices: Vec<serde::de::IgnoredAny>,
            invoice_count: usize,
        }
        let listed = serde_json::from_slice::<Listed>(body)
            .map(|l| (l.invoices.len(), l.invoice_count))
            .unwrap_or_default();
        if listed != (page, REFRESH_INVOICES) {
            return Err(format!(
                "list answered {} of {} invoices, expected {page} of {REFRESH_INVOICES}",
                listed.0, listed.1
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Healthz,
    /// The draft of a deal whose parties are not remembered yet (first open, no panel load).
    DraftUnseen,
    Draft,
    Create,
    /// The panel's request: the list's first page.
    List,
    /// The largest page the list answers (`?limit=100`): no target, for comparison.
    ListLargestPage,
    Refresh,
}

impl Route {
    pub const ALL: [Route; 7] = [
        Route::Healthz,
        Route::DraftUnseen,
        Route::Draft,
        Route::Create,
        Route::List,
        Route::ListLargestPage,
        Route::Refresh,
    ];

    /// Invoices on the list's page the route asks for.
    fn page(self) -> Option<usize> {
        match self {
            Route::List => Some(invoice_actions::views::DEFAULT_LIST_PAGE as usize),
            Route::ListLargestPage => Some(LARGEST_PAGE),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Route::Healthz => "GET /healthz (baseline)",
            Route::DraftUnseen => "draft, deal never seen: GET /api/deals/{id}/draft",
            Route::Draft => "draft: GET /api/deals/{id}/draft",
            Route::Create => "create: POST /api/deals/{id}/invoices",
            Route::List => "list: GET /api/deals/{id}/invoices (first page: 25 of 250 links)",
            Route::ListLargestPage => "list, largest page: …/invoices?limit=100 (100 of 250)",
            Route::Refresh => "refresh: POST …/invoices/refresh (250 invoices)",
        }
    }

    /// The target at 50 ms, in round trips (list: p99 at 0 ms, in ms).
    pub fn target(self) -> Option<Target> {
        match self {
            Route::Healthz | Route::DraftUnseen | Route::ListLargestPage => None,
            Route::Draft => Some(Target::Rtt(1.3)),
            Route::Create => Some(Target::Rtt(2.3)),
            Route::List => Some(Target::P99Ms(2.0)),
            Route::Refresh => Some(Target::Rtt(1.3)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    Rtt(f64),
    P99Ms(f64),
}

/// Every route's samples at 0 ms and at the injected RTT.
#[derive(Debug, Clone)]
pub struct Measured {
    pub route: Route,
    pub zero: Vec<Sample>,
    pub rtt: Vec<Sample>,
}

/// [`measure`] on a thread of its own with a single-threaded Tokio runtime: the local server, the
/// simulators and the client take turns on one thread, as a Lambda function's handler runs (one
/// event at a time on a current-thread runtime, like every `main.rs` here). On a multi-threaded
/// runtime each request was handed between worker threads (the client's task woke the server's
/// on the other core and back), and on a loaded two-core machine a parked thread's wake-up waits
/// for a core: the tail measured that, not the routes.
pub async fn measure_on_one_thread(options: Options) -> Result<Vec<Measured>, String> {
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the latency runtime: {e}"))?
            .block_on(measure(options))
    })
    .await
    .map_err(|e| format!("the latency thread failed: {e}"))?
}

async fn measure(options: Options) -> Result<Vec<Measured>, String> {
    let bench = Bench::start().await?;
    let mut out = Vec::new();
    for route in Route::ALL {
        bench.set_latency(0);
        // A few unmeasured requests first (connections, caches), like a warm Lambda instance.
        bench.samples(route, 3).await?;
        let zero_n = if matches!(route, Route::List | Route::ListLargestPage | Route::Healthz) {
            options.samples * 10
        } else {
            options.samples
        };
        let zero = bench.samples(route, zero_n).await?;
        bench.set_latency(options.rtt_ms);
        let rtt = bench.samples(route, options.samples_rtt).await?;
        bench.set_latency(0);
        eprintln!("latency: {} done", route.label());
        out.push(Measured { route, zero, rtt });
    }
    Ok(out)
}

/// `ms / rtt` — how many injected round trips a request took.
pub fn in_rtt(ms: f64, rtt_ms: u64) -> Option<f64> {
    ratio(ms, rtt_ms as f64)
}

pub fn table(measured: &[Measured], options: Options, note: Option<String>) -> Table {
    let rtt = options.rtt_ms;
    let mut t = Table::new(
        "latency",
        &format!(
            "Request latency through the local server (0 ms and {rtt} ms injected upstream latency)"
        ),
        &[
            "route",
            "0 ms: p50 ms",
            "0 ms: p99 ms",
            "p50 ÷ healthz",
            "upstream calls",
            &format!("{rtt} ms: p50 ms"),
            "in RTTs",
            "target",
        ],
    );
    let healthz = measured
        .iter()
        .find(|m| m.route == Route::Healthz)
        .and_then(|m| Summary::of(&m.zero.iter().map(|s| s.ms).collect::<Vec<_>>()));
    for m in measured {
        let zero = Summary::of(&m.zero.iter().map(|s| s.ms).collect::<Vec<_>>());
        let slow = median(&m.rtt.iter().map(|s| s.ms).collect::<Vec<_>>());
        let rtts = slow.and_then(|s| in_rtt(s, rtt));
        let upstream = median(&m.zero.iter().map(|s| s.upstream as f64).collect::<Vec<_>>());
        let verdict = match m.route.target() {
            None if m.route == Route::DraftUnseen => {
                "none (first open; the panel's list remembers the parties)".to_string()
            }
            None if m.route == Route::ListLargestPage => {
                "none (the panel asks for the first page)".to_string()
            }
            None => "baseline".to_string(),
            Some(Target::Rtt(limit)) => match rtts {
                Some(r) if r <= limit => format!("≤ {limit} RTT: met"),
                Some(r) => format!("≤ {limit} RTT: MISSED by {:.2} RTT", r - limit),
                None => "?".into(),
            },
            Some(Target::P99Ms(limit)) => match zero {
                Some(z) if z.p99 <= limit => format!("p99 ≤ {limit} ms: met"),
                Some(z) => format!("p99 ≤ {limit} ms: MISSED by {:.2} ms", z.p99 - limit),
                None => "?".into(),
            },
        };
        t.row(vec![
            m.route.label().to_string(),
            fmt_opt(zero.map(|z| z.p50), 2),
            fmt_opt(zero.map(|z| z.p99), 2),
            fmt_ratio(zero.zip(healthz).and_then(|(z, h)| ratio(z.p50, h.p50))),
            fmt_opt(upstream, 0),
            fmt_opt(slow, 1),
            fmt_opt(rtts, 2),
            verdict,
        ]);
    }
    t.note(format!(
        "Samples: {} per route at 0 ms ({} for the lists and healthz), {} at {rtt} ms, after 3 unmeasured warm-up requests. Times are client-side (loopback HTTP, keep-alive), embedded store; the server, the simulators and the client share one thread (a current-thread runtime, as each Lambda function runs).",
        options.samples,
        options.samples * 10,
        options.samples_rtt
    ));
    t.note(format!("`in RTTs` = median at {rtt} ms ÷ {rtt} ms: the number of sequential upstream round trips plus the route's own time. `upstream calls` = QuickBooks + Pipedrive requests per call (in parallel where the code allows)."));
    if let Some(note) = note {
        t.note(note);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: f64) -> Sample {
        Sample {
            ms,
            status: 200,
            upstream: 1,
        }
    }

    #[test]
    fn round_trips_are_multiples_of_the_injected_latency() {
        assert_eq!(in_rtt(115.0, 50), Some(2.3));
        assert_eq!(in_rtt(1.0, 0), None);
    }

    #[test]
    fn verdicts_name_the_miss() {
        let measured = vec![
            Measured {
                route: Route::Healthz,
                zero: vec![sample(0.2); 10],
                rtt: vec![sample(0.2); 3],
            },
            Measured {
                route: Route::Draft,
                zero: vec![sample(2.0); 10],
                rtt: vec![sample(110.0); 3],
            },
            Measured {
                route: Route::Create,
                zero: vec![sample(3.0); 10],
                rtt: vec![sample(100.0); 3],
            },
            Measured {
                route: Route::List,
                zero: vec![sample(1.0); 10],
                rtt: vec![sample(1.0); 3],
            },
        ];
        let t = table(&measured, Options::default(), None);
        assert_eq!(t.rows[0][7], "baseline");
        assert_eq!(t.rows[1][3], "×10.00");
        assert_eq!(t.rows[1][6], "2.20");
        assert_eq!(t.rows[1][7], "≤ 1.3 RTT: MISSED by 0.90 RTT");
        assert_eq!(t.rows[2][7], "≤ 2.3 RTT: met");
        assert_eq!(t.rows[3][7], "p99 ≤ 2 ms: met");
    }
}
