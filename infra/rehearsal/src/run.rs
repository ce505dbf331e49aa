//! One rehearsal: translate the template, give every resource its physical id, create what the
//! functions use in moto (IAM enforced from then on), start the front, the functions and their
//! event sources, play the product's life, then account for every IAM decision.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use emulation::moto::{Moto, MotoOptions};
use serde_json::Value;

use crate::cfn::{Place, Resolver, Template};
use crate::defect::Defect;
use crate::deploy::{self, Setup};
use crate::events::{self, Poller};
use crate::front::{self, Front};
use crate::iam;
use crate::journey::{self, Ctx};
use crate::lambda::{Edge, FunctionService, Services};
use crate::record::{Inner, Record};
use crate::wiring::Wiring;
use crate::world::{AppKeys, World};

pub const STACK: &str = "rehearsal";
pub const REGION: &str = "us-east-1";
/// moto's default account.
pub const ACCOUNT: &str = "123456789012";
/// The architecture the rehearsal builds and runs (this machine's).
pub const ARCHITECTURE: &str = "x86_64";

/// Which binaries run.
#[derive(Debug, Clone)]
pub enum Artifacts {
    /// `sam build`'s output: `<dir>/<Logical>/bootstrap`.
    SamBuild(PathBuf),
    /// Cargo binaries by name (a development loop on `target/debug`).
    Cargo(PathBuf),
}

impl Artifacts {
    fn binary(&self, logical: &str, binary: &str) -> PathBuf {
        match self {
            Artifacts::SamBuild(dir) => dir.join(logical).join("bootstrap"),
            Artifacts::Cargo(dir) => dir.join(binary),
        }
    }
}

pub struct Options {
    pub root: PathBuf,
    pub artifacts: Artifacts,
    /// The translated template (see [`translate`]).
    pub cfn: Value,
    pub defect: Option<Defect>,
    /// Where logs and the IAM audit go.
    pub out: PathBuf,
}

/// What one rehearsal did.
pub struct Outcome {
    pub wiring: Option<Wiring>,
    pub record: Inner,
    pub cold_starts: BTreeMap<String, usize>,
    pub accounting: iam::Accounting,
    pub failures: Vec<String>,
}

/// The SAM CLI's translation of `template` (`infra/rehearsal/translate.py`).
pub fn translate(root: &Path, template: &Path) -> Result<Value, String> {
    let python = std::env::var_os("MOTO_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    let output = std::process::Command::new(&python)
        .arg(root.join("infra/rehearsal/translate.py"))
        .arg(template)
        .arg(format!("Architecture={ARCHITECTURE}"))
        .output()
        .map_err(|e| {
            format!(
                "running {} (tests/run installs aws-sam-cli into .venv): {e}",
                python.display()
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "the SAM translation failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("the translation is not JSON: {e}"))
}

/// ELF `e_machine` of a binary: 0x3E x86-64, 0xB7 aarch64.
fn elf_machine(path: &Path) -> Result<u16, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.get(..4) != Some(b"\x7fELF") || bytes.len() < 20 {
        return Err(format!("{} is not an ELF executable", path.display()));
    }
    Ok(u16::from_le_bytes([bytes[18], bytes[19]]))
}

fn check_artifacts(wiring: &Wiring, artifacts: &Artifacts) -> Result<(), String> {
    for f in &wiring.functions {
        if f.architectures != [ARCHITECTURE] {
            return Err(format!(
                "{} is built for {:?}; the rehearsal runs {ARCHITECTURE}",
                f.logical, f.architectures
            ));
        }
        let path = artifacts.binary(&f.logical, &f.binary);
        if elf_machine(&path)? != 0x3E {
            return Err(format!("{} is not an x86-64 executable", path.display()));
        }
    }
    Ok(())
}

/// Runs one rehearsal; never panics, every problem is in `failures`.
pub async fn rehearse(options: Options) -> Outcome {
    let record = Arc::new(Record::default());
    let mut outcome = Outcome {
        wiring: None,
        record: Inner::default(),
        cold_starts: BTreeMap::new(),
        accounting: iam::Accounting::default(),
        failures: Vec::new(),
    };
    if let Err(e) = stage(&options, &record, &mut outcome).await {
        outcome.failures.push(e);
    }
    outcome.record = record.snapshot();
    let mut failures = outcome.record.failures.clone();
    failures.append(&mut outcome.failures);
    outcome.failures = failures;
    outcome
}

/// The translated template with the run's defect and parameters, every resource named.
fn resolve(options: &Options, front_url: &str) -> Result<(Template, Resolver), String> {
    let mut cfn = options.cfn.clone();
    if let Some(defect) = &options.defect {
        defect.apply(&mut cfn)?;
    }
    let template = Template::new(cfn);
    let overrides: BTreeMap<String, String> = [
        ("Architecture".to_string(), ARCHITECTURE.to_string()),
        // A custom domain, in the template's own terms: OAuth redirects and links use it.
        ("PublicBaseUrl".to_string(), front_url.to_string()),
    ]
    .into();
    let parameters = template.parameters(&overrides).map_err(|e| e.to_string())?;
    let place = Place {
        stack_name: STACK.into(),
        region: REGION.into(),
        account: ACCOUNT.into(),
    };
    let mut resolver = Resolver::new(&template, place, parameters);
    deploy::name_resources(&template, &mut resolver, front_url);
    Ok((template, resolver))
}

/// One process pool per function, each with its role's credentials and the edge.
fn services(
    wiring: &Wiring,
    options: &Options,
    deployed: &deploy::Deployed,
    edge: &Edge,
    logs: &Path,
) -> Result<Services, String> {
    let mut services: Services = BTreeMap::new();
    for f in &wiring.functions {
        let credentials = deployed
            .role_credentials
            .get(&f.role)
            .ok_or_else(|| format!("no credentials for {}", f.role))?;
        let binary = options.artifacts.binary(&f.logical, &f.binary);
        let service = FunctionService::new(f.clone(), binary, credentials, REGION, edge, logs)
            .map_err(|e| e.to_string())?;
        services.insert(f.logical.clone(), Arc::new(service));
    }
    Ok(services)
}

/// Least privilege both ways and coverage, from the IAM audit (after a journey that passed:
/// unused grants say nothing about a journey cut short).
fn account(
    options: &Options,
    wiring: &Wiring,
    deployed: &deploy::Deployed,
    audit: &Path,
    journey_passed: bool,
    record: &Record,
    outcome: &mut Outcome,
) -> Result<(), String> {
    let decisions = iam::read_decisions(audit)?;
    for denial in iam::denials(wiring, &decisions) {
        record.failure(denial);
    }
    if journey_passed {
        let reviewed =
            iam::read_reviewed(&options.root.join("infra/rehearsal/unused-grants.json"))?;
        let managed = deployed.managed_policies.clone().into_iter().collect();
        outcome.accounting = iam::account(wiring, &managed, &decisions, &reviewed);
        for f in &outcome.accounting.failures {
            record.failure(f.clone());
        }
        coverage(wiring, &record.snapshot(), &outcome.cold_starts, record);
    }
    Ok(())
}

async fn stage(
    options: &Options,
    record: &Arc<Record>,
    outcome: &mut Outcome,
) -> Result<(), String> {
    std::fs::create_dir_all(&options.out).map_err(|e| format!("{}: {e}", options.out.display()))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let front_url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let (template, mut resolver) = resolve(options, &front_url)?;
    let audit = options.out.join("iam-audit.jsonl");
    let _ = std::fs::remove_file(&audit);
    let moto_options = MotoOptions {
        iam_audit: Some(audit.clone()),
        log: Some(options.out.join("moto.log")),
    };
    let moto = Moto::start_with(&options.root, &moto_options).await?;
    let setup = Setup::new(&moto.endpoint, REGION);
    let deployed = deploy::deploy(&template, &mut resolver, &setup)
        .await
        .map_err(|e| e.to_string())?;
    moto.enforce_iam().await?;
    let wiring = Wiring::derive(&template, &resolver).map_err(|e| e.to_string())?;
    outcome.wiring = Some(wiring.clone());
    check_artifacts(&wiring, &options.artifacts)?;

    let (world, edge) = start_world(&wiring, &moto.endpoint, &deployed, &front_url).await?;
    let logs = options.out.join("functions");
    std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    let services = services(&wiring, options, &deployed, &edge, &logs)?;
    let front = Arc::new(Front {
        wiring: wiring.clone(),
        services: services.clone(),
        record: record.clone(),
        region: REGION.into(),
        account: ACCOUNT.into(),
    });
    let router = axum::Router::new()
        .fallback(front::handle)
        .with_state(front);
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let stack = Stack {
        wiring: &wiring,
        resolver: &resolver,
        deployed: &deployed,
        endpoint: &moto.endpoint,
    };
    let result = play(&stack, &world, &services, record).await;
    server.abort();
    outcome.cold_starts = services
        .iter()
        .map(|(k, s)| (k.clone(), s.cold_starts()))
        .collect();
    if let Err(e) = &result {
        record.failure(format!("{e} (function logs: {})", logs.display()));
    }
    account(
        options,
        &wiring,
        &deployed,
        &audit,
        result.is_ok(),
        record,
        outcome,
    )
}

/// The simulators and the app's secret, and what each function process is pointed at besides
/// its template environment (the emulator, the simulators).
async fn start_world(
    wiring: &Wiring,
    moto_endpoint: &str,
    deployed: &deploy::Deployed,
    front_url: &str,
) -> Result<(World, Edge), String> {
    let keys = AppKeys::random();
    let world = World::start(front_url, keys, moto_endpoint, REGION, &deployed.admin).await?;
    let app_secret = wiring
        .functions
        .iter()
        .find_map(|f| f.env.get("APP_SECRET_ID"))
        .ok_or("no function has APP_SECRET_ID")?;
    world.fill_app_secret(app_secret).await?;
    let edge = Edge {
        vars: vec![
            ("AWS_ENDPOINT_URL".into(), moto_endpoint.to_string()),
            ("QUICKBOOKS_BASE_URL".into(), world.qb_url.clone()),
            ("PIPEDRIVE_OAUTH_BASE_URL".into(), world.pd_url.clone()),
        ],
    };
    Ok((world, edge))
}

/// What the journey needs of the deployed stack.
struct Stack<'a> {
    wiring: &'a Wiring,
    resolver: &'a Resolver,
    deployed: &'a deploy::Deployed,
    endpoint: &'a str,
}

async fn play(
    stack: &Stack<'_>,
    world: &World,
    services: &Services,
    record: &Record,
) -> Result<(), String> {
    let Stack {
        wiring,
        resolver,
        deployed,
        endpoint,
    } = *stack;
    let url_of = |logical: &str| {
        resolver
            .string(&serde_json::json!({"Ref": logical}))
            .map_err(|e| e.to_string())
    };
    let mut pollers = Vec::new();
    for mapping in &wiring.mappings {
        let function = wiring
            .function(&mapping.function)
            .ok_or("mapping to an unknown function")?;
        let queue = wiring
            .queue(&mapping.queue)
            .ok_or("mapping from an unknown queue")?;
        let credentials = deployed
            .role_credentials
            .get(&function.role)
            .ok_or("no role credentials")?;
        let poller = Poller {
            mapping,
            queue,
            queue_url: url_of(&queue.logical)?,
            region: REGION.into(),
            as_function: events::sqs_client(endpoint, REGION, credentials),
            as_clock: events::sqs_client(endpoint, REGION, &deployed.admin),
        };
        poller.check_queue(function.timeout.as_secs()).await?;
        pollers.push(poller);
    }
    let table = wiring
        .functions
        .iter()
        .find_map(|f| f.env.get("TABLE_NAME"))
        .cloned()
        .ok_or("no function has TABLE_NAME")?;
    let secret_prefix = wiring
        .functions
        .iter()
        .find_map(|f| f.env.get("TOKEN_SECRET_PREFIX"))
        .cloned()
        .ok_or("no function has TOKEN_SECRET_PREFIX")?;
    let queue_urls = wiring
        .queues
        .iter()
        .map(|q| Ok((q.logical.clone(), url_of(&q.logical)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let ctx = Ctx {
        world,
        wiring,
        services,
        record,
        table,
        secret_prefix,
        pollers,
        queue_urls,
    };
    journey::run(&ctx).await
}

/// Everything the template wires was exercised: every route hit, every function started,
/// every schedule and queue mapping delivered.
fn coverage(wiring: &Wiring, seen: &Inner, cold_starts: &BTreeMap<String, usize>, record: &Record) {
    for route in &wiring.routes {
        if !seen.routes.contains_key(&route.key()) {
            record.failure(format!(
                "route {} ({}) is in the template but the rehearsal never took it",
                route.key(),
                route.function
            ));
        }
    }
    for f in &wiring.functions {
        if cold_starts.get(&f.logical).copied().unwrap_or(0) == 0 {
            record.failure(format!("{} never ran", f.logical));
        }
    }
    for s in &wiring.schedules {
        if !seen.events.contains_key(&format!("schedule {}", s.logical)) {
            record.failure(format!("schedule {} never delivered", s.logical));
        }
    }
    if !wiring.mappings.is_empty() && !seen.events.contains_key("sqs batch") {
        record.failure("no SQS batch was delivered".to_string());
    }
    for request in &seen.unrouted {
        record.failure(format!(
            "{request}: no route of the template matches (API Gateway answered 404)"
        ));
    }
}
