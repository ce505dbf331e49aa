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
mod deploy;
mod events;
mod front;
mod iam;
mod journey;
mod lambda;
mod mutation;
mod record;
mod run;
mod summary;
mod wiring;
mod world;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use mutation::Mutation;
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
fn defects() -> Vec<Mutation> {
    vec![
        Mutation::RemoveAction {
            function: "InstallFunction".into(),
            action: "dynamodb:PutItem".into(),
        },
        Mutation::RemoveEnv {
            function: "SettingsFunction".into(),
            var: "TABLE_NAME".into(),
        },
        Mutation::RemoveRoute {
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
        mutation: None,
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
    let mut proven = 0;
    for (i, defect) in defects().into_iter().enumerate() {
        let t = Instant::now();
        let outcome = run::rehearse(Options {
            root: root.clone(),
            artifacts: args.artifacts.clone(),
            cfn: cfn.clone(),
            mutation: Some(defect.clone()),
            out: out.join(format!("defect-{}", i + 1)),
        })
        .await;
        let all = outcome.failures.join("\n");
        let named = defect.expected().iter().all(|e| all.contains(e.as_str()));
        println!(
            "==> with {defect}: {} ({:.1} s){}",
            match (outcome.failures.is_empty(), named) {
                (true, _) => "the rehearsal PASSED — it cannot see this defect".to_string(),
                (false, true) => format!(
                    "failed as it must, naming it: {}",
                    outcome
                        .failures
                        .iter()
                        .find(|f| defect.expected().iter().all(|e| f.contains(e.as_str())))
                        .unwrap_or(&outcome.failures[0])
                ),
                (false, false) => format!("failed WITHOUT naming {:?}", defect.expected()),
            },
            t.elapsed().as_secs_f64(),
            if named {
                String::new()
            } else {
                format!("\n{all}")
            }
        );
        if !outcome.failures.is_empty() && named {
            proven += 1;
        }
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
