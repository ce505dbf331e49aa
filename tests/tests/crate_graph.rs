//! The crate graph, as the README's "Crates" table describes it and as Cargo builds it:
//! - each internal crate of `shared/` depends on exactly the workspace crates the table lists
//!   (`cargo metadata`);
//! - the domain links no async runtime, HTTP stack or AWS SDK (`cargo tree`, normal edges);
//! - no production binary links the simulators, the local server or the test world;
//! - the extension pages link neither the AWS SDK nor the store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

fn cargo(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every package `package` links into its build (normal dependencies, its own features only).
fn linked(package: &str) -> BTreeSet<String> {
    cargo(&[
        "tree",
        "--offline",
        "-p",
        package,
        "-e",
        "normal",
        "--prefix",
        "none",
        "--format",
        "{p}",
    ])
    .lines()
    .filter_map(|line| line.split_whitespace().next())
    .map(str::to_string)
    .collect()
}

/// The workspace's packages: name → (manifest folder relative to the root, workspace crates it
/// depends on with any kind but dev).
/// `cargo metadata` of the workspace's own packages.
fn metadata() -> Value {
    serde_json::from_str(&cargo(&[
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
        "--offline",
    ]))
    .expect("cargo metadata's JSON")
}

fn workspace_packages() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let metadata = metadata();
    let root = workspace().canonicalize().expect("the root");
    let packages = metadata["packages"].as_array().expect("packages");
    let names: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    packages
        .iter()
        .map(|p| {
            let name = p["name"].as_str().unwrap_or_default().to_string();
            let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap_or_default());
            let folder = manifest
                .parent()
                .and_then(|d| d.strip_prefix(&root).ok())
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            let deps = p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .filter_map(|d| d["name"].as_str().map(str::to_string))
                .filter(|d| names.contains(d))
                .collect();
            (name, (folder, deps))
        })
        .collect()
}

/// The README's "Crates" table: crate → (folder, the workspace crates it depends on).
fn readme_table() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("the README");
    let section = readme
        .split("### Crates")
        .nth(1)
        .expect("the README has a Crates section");
    let mut rows = BTreeMap::new();
    let mut all: BTreeSet<String> = BTreeSet::new();
    for line in section.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(name), Some(folder), Some(deps)) = (cells.get(1), cells.get(2), cells.get(4))
        else {
            continue;
        };
        let name = name.trim_matches('`');
        if name == "crate" || name.starts_with("---") {
            continue;
        }
        let deps: BTreeSet<String> = if *deps == "all of the above" {
            all.clone()
        } else {
            deps.split(',')
                .map(|d| d.trim())
                .filter(|d| d.starts_with('`'))
                .map(|d| d.split('`').nth(1).unwrap_or_default().to_string())
                .collect()
        };
        all.insert(name.to_string());
        rows.insert(
            name.to_string(),
            (folder.trim_matches('`').to_string(), deps),
        );
    }
    rows
}

#[test]
fn the_shared_crates_depend_on_what_the_readme_says() {
    let table = readme_table();
    let packages = workspace_packages();
    assert!(table.len() >= 9, "the README's table: {table:?}");
    for (name, (folder, deps)) in &table {
        let (actual_folder, actual) = packages
            .get(name)
            .unwrap_or_else(|| panic!("the README names {name}, which is not a workspace crate"));
        assert_eq!(actual_folder, folder, "{name}'s folder");
        assert_eq!(actual, deps, "{name}'s dependencies on workspace crates");
    }
    let under_shared: BTreeSet<&String> = packages
        .iter()
        .filter(|(_, (folder, _))| folder.starts_with("shared"))
        .map(|(name, _)| name)
        .collect();
    let documented: BTreeSet<&String> = table.keys().collect();
    assert_eq!(
        under_shared, documented,
        "every crate under shared/ is in the table"
    );
}

#[test]
fn the_domain_links_no_runtime_http_or_aws() {
    let linked = linked("domain");
    assert!(linked.contains("quickbooks-wire"), "{linked:?}");
    let forbidden: Vec<&String> = linked
        .iter()
        .filter(|p| {
            matches!(p.as_str(), "tokio" | "reqwest" | "hyper" | "axum" | "http")
                || p.starts_with("aws-")
                || p.starts_with("aws_")
        })
        .collect();
    assert!(forbidden.is_empty(), "the domain links {forbidden:?}");
}

#[test]
fn production_binaries_link_no_simulator_local_server_or_test_world() {
    let packages = workspace_packages();
    let functions: Vec<&String> = packages
        .iter()
        .filter(|(_, (folder, _))| folder.starts_with("functions/"))
        .map(|(name, _)| name)
        .collect();
    assert!(functions.len() >= 7, "{functions:?}");
    for function in functions {
        let linked = linked(function);
        for other in [
            "sandbox",
            "local",
            "test-world",
            "integration-tests",
            "bench",
        ] {
            assert!(!linked.contains(other), "{function} links {other}");
        }
        let others: Vec<&String> = packages
            .iter()
            .filter(|(name, (folder, _))| {
                folder.starts_with("functions/") && *name != function && linked.contains(*name)
            })
            .map(|(name, _)| name)
            .collect();
        assert!(others.is_empty(), "{function} links {others:?}");
    }
}

#[test]
fn the_extension_pages_link_no_aws_sdk_and_no_store() {
    let linked = linked("extension-ui");
    assert!(
        linked.contains("clients") && linked.contains("web"),
        "{linked:?}"
    );
    let forbidden: Vec<&String> = linked
        .iter()
        .filter(|p| {
            p.starts_with("aws-sdk-")
                || p.starts_with("aws-smithy-")
                || matches!(
                    p.as_str(),
                    "aws-types" | "aws-credential-types" | "store" | "app"
                )
        })
        .collect();
    assert!(forbidden.is_empty(), "extension-ui links {forbidden:?}");
    // The API functions do link the SDK (the check above would see it).
    assert!(linked_has_sdk("settings"));
}

fn linked_has_sdk(package: &str) -> bool {
    linked(package).iter().any(|p| p.starts_with("aws-sdk-"))
}

/// Every Lambda binary (and the benchmark's baseline and floor, built like them) is linked with
/// the hot-text script in release builds: its package build-depends on `hot-text` and its build
/// script names exactly its binaries (`infra/hot-text`, BENCHMARKS.md).
#[test]
fn every_lambda_binary_links_the_code_a_cold_start_runs_first() {
    let metadata = metadata();
    let root = workspace().canonicalize().expect("the root");
    let mut checked = 0;
    for package in metadata["packages"].as_array().expect("packages") {
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        let folder = manifest.parent().expect("a folder").to_path_buf();
        let relative = folder.strip_prefix(&root).expect("inside the workspace");
        let lambda = relative.starts_with("functions")
            || relative == Path::new("infra/bench/hello")
            || relative == Path::new("infra/bench/floor");
        if !lambda {
            continue;
        }
        let name = package["name"].as_str().unwrap_or_default();
        let bins: BTreeSet<String> = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"))
            })
            .filter_map(|t| t["name"].as_str().map(str::to_string))
            .collect();
        assert!(!bins.is_empty(), "{name} has binaries");
        let build_dep = package["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["name"] == "hot-text" && d["kind"].as_str() == Some("build"));
        assert!(build_dep, "{name} build-depends on hot-text");
        let script = std::fs::read_to_string(folder.join("build.rs"))
            .unwrap_or_else(|e| panic!("{name}'s build.rs: {e}"));
        let call = script
            .split("hot_text::link(&[")
            .nth(1)
            .and_then(|rest| rest.split("])").next())
            .unwrap_or_else(|| panic!("{name}'s build.rs calls hot_text::link"));
        let named: BTreeSet<String> = call
            .split(',')
            .map(|b| b.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
            .collect();
        assert_eq!(named, bins, "{name}'s build.rs names its binaries");
        checked += 1;
    }
    assert!(
        checked >= 9,
        "the seven functions, the baseline and the floor: {checked}"
    );
}
