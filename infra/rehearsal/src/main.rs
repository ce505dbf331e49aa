//! `cargo run -p rehearsal -- [--artifacts DIR | --cargo-bins DIR] [--prove-failures]`
//!
//! The deploy rehearsal (README, "Deploy and operate"): the `sam build` artifacts
//! (`.aws-sam/build/<Function>/bootstrap`, x86_64 through the template's `Architecture`
//! parameter), wired only as template.yaml wires them (translated by the SAM CLI's translator),
//! run as Lambda runs them against moto with IAM enforced and the simulated Pipedrive and
//! QuickBooks, through the product's whole life. `--cargo-bins target/debug` runs cargo's
//! binaries instead (a quicker loop while developing). `--prove-failures` then shows the
//! rehearsal fails — naming the defect — when one action is missing from one function's policy,
//! one variable from one function's environment, one route from the template.
//! Exit status 0 only when everything held.

mod cfn;
mod defect;
mod deploy;
mod events;
mod front;
mod iam;
mod journey;
mod lambda;
mod record;
mod run;
mod summary;
mod wiring;
mod world;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use defect::Defect;
use run::{Artifacts, Options};

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map(PathBuf::from)
        .unwrap_or(manifest)
}

/// The defects `--prove-failures` plants, one per rehearsal.
fn defects() -> Vec<Defect> {
    vec![
        Defect::PolicyAction {
            function: "InstallFunction".into(),
            action: "dynamodb:PutItem".into(),
        },
        Defect::EnvVar {
            function: "SettingsFunction".into(),
            var: "TABLE_NAME".into(),
        },
        Defect::Route {
            method: "GET".into(),
            path: "/api/settings/fields".into(),
        },
    ]
}

struct Args {
    artifacts: Artifacts,
    prove: bool,
}

fn args(root: &std::path::Path) -> Result<Args, String> {
    let mut artifacts = Artifacts::SamBuild(root.join(".aws-sam/build"));
    let mut prove = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--artifacts" => {
                artifacts = Artifacts::SamBuild(it.next().ok_or("--artifacts DIR")?.into())
            }
            "--cargo-bins" => {
                artifacts = Artifacts::Cargo(it.next().ok_or("--cargo-bins DIR")?.into())
            }
            "--prove-failures" => prove = true,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: rehearsal [--artifacts DIR | --cargo-bins DIR] [--prove-failures]"
                ));
            }
        }
    }
    Ok(Args { artifacts, prove })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> ExitCode {
    let root = workspace_root();
    let args = match args(&root) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let cfn = match run::translate(&root, &root.join("template.yaml")) {
        Ok(cfn) => cfn,
        Err(e) => {
            eprintln!("rehearsal: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = root.join("target/rehearsal");
    let outcome = run::rehearse(Options {
        root: root.clone(),
        artifacts: args.artifacts.clone(),
        cfn: cfn.clone(),
        defect: None,
        out: out.join("current"),
    })
    .await;
    println!(
        "\n==> deploy rehearsal ({:.1} s)\n{}",
        started.elapsed().as_secs_f64(),
        summary::render(&outcome)
    );
    if !outcome.failures.is_empty() {
        return ExitCode::FAILURE;
    }
    if !args.prove {
        return ExitCode::SUCCESS;
    }
    prove(&root, &args.artifacts, &cfn, &out, started).await
}

/// The rehearsal's test of itself: each planted defect must fail it, naming the defect.
async fn prove(
    root: &std::path::Path,
    artifacts: &Artifacts,
    cfn: &serde_json::Value,
    out: &std::path::Path,
    started: Instant,
) -> ExitCode {
    let mut proven = 0;
    for (i, defect) in defects().into_iter().enumerate() {
        let t = Instant::now();
        let outcome = run::rehearse(Options {
            root: root.to_path_buf(),
            artifacts: artifacts.clone(),
            cfn: cfn.clone(),
            defect: Some(defect.clone()),
            out: out.join(format!("defect-{}", i + 1)),
        })
        .await;
        let expected = defect.expected();
        let naming = outcome
            .failures
            .iter()
            .find(|f| expected.iter().all(|e| f.contains(e.as_str())));
        let verdict = match (outcome.failures.is_empty(), naming) {
            (true, _) => "the rehearsal PASSED — it cannot see this defect".to_string(),
            (false, Some(f)) => {
                proven += 1;
                format!("failed as it must, naming it: {f}")
            }
            (false, None) => format!(
                "failed WITHOUT naming {expected:?}:\n  {}",
                outcome.failures.join("\n  ")
            ),
        };
        println!(
            "==> with {defect}: {verdict} ({:.1} s)",
            t.elapsed().as_secs_f64()
        );
    }
    println!(
        "==> {proven} of 3 planted defects caught and named ({:.1} s in all)",
        started.elapsed().as_secs_f64()
    );
    if proven == 3 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
