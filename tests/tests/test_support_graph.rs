//! Where the test support sits in the crate graph (`cargo metadata`): every crate's tests build on
//! `test-world`, which depends on no function; functions take it as a dev-dependency only (no
//! production binary links it), and no function dev-depends on another function or on the
//! integration tests (no dev-dependency cycle).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const TEST_WORLD: &str = "test-world";
const INTEGRATION_TESTS: &str = "integration-tests";

fn metadata() -> Value {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace)
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON")
}

/// A workspace package: its name, whether it is a function, its dependencies as (name, kind).
type Package = (String, bool, Vec<(String, String)>);

fn packages() -> Vec<Package> {
    let metadata = metadata();
    let packages = metadata["packages"].as_array().expect("packages").clone();
    packages
        .iter()
        .map(|p| {
            let manifest = p["manifest_path"].as_str().unwrap_or_default();
            let function = Path::new(manifest)
                .parent()
                .and_then(Path::parent)
                .is_some_and(|dir| dir.ends_with("functions"));
            let dependencies = p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| {
                    let name = d["name"].as_str().unwrap_or_default().to_string();
                    (name, d["kind"].as_str().unwrap_or("normal").to_string())
                })
                .collect();
            let name = p["name"].as_str().unwrap_or_default().to_string();
            (name, function, dependencies)
        })
        .collect()
}

fn functions(packages: &[Package]) -> BTreeSet<String> {
    let functions: BTreeSet<String> = packages
        .iter()
        .filter(|(_, function, _)| *function)
        .map(|(name, _, _)| name.clone())
        .collect();
    assert!(functions.len() >= 7, "the functions: {functions:?}");
    functions
}

#[test]
fn the_test_world_depends_on_no_function() {
    let packages = packages();
    let functions = functions(&packages);
    let (_, _, dependencies) = packages
        .iter()
        .find(|(name, _, _)| name == TEST_WORLD)
        .expect("the test-world package");
    for (dependency, kind) in dependencies {
        assert!(
            !functions.contains(dependency) && dependency != INTEGRATION_TESTS,
            "test-world depends on {dependency} ({kind})"
        );
    }
}

#[test]
fn functions_take_the_test_world_as_a_dev_dependency_and_no_other_function() {
    let packages = packages();
    let functions = functions(&packages);
    for (name, _, dependencies) in packages.iter().filter(|(n, _, _)| functions.contains(n)) {
        assert!(
            dependencies.contains(&(TEST_WORLD.to_string(), "dev".to_string())),
            "{name}'s tests build on test-world"
        );
        for (dependency, kind) in dependencies {
            assert!(
                !(dependency == TEST_WORLD && kind != "dev"),
                "{name} links test-world ({kind})"
            );
            assert!(
                !functions.contains(dependency) && dependency != INTEGRATION_TESTS,
                "{name} depends on {dependency} ({kind})"
            );
        }
    }
}
