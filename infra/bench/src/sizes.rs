//! Binary sizes: each function as `sam build` produces it for arm64 (`cargo lambda build
//! --release --arm64`, the workspace's release profile: thin LTO, one codegen unit, abort on
//! panic, stripped), and the x86_64 release binaries, next to the hello-world baseline.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::coldstart::{FUNCTIONS, HELLO};
use crate::report::Table;
use crate::stats::{fmt_ratio, ratio};

/// The arm64 size target per function.
pub const TARGET_MIB: f64 = 9.0;

/// Where `cargo lambda build` leaves a binary: `target/lambda/<bin>/bootstrap`.
pub fn lambda_artifact(target_dir: &Path, bin: &str) -> PathBuf {
    target_dir.join("lambda").join(bin).join("bootstrap")
}

/// The `cargo lambda` command that builds every binary for arm64 (also what `sam build` runs per
/// function).
pub fn arm64_command(bins: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["lambda", "build", "--release", "--arm64"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for bin in bins {
        args.push("--bin".into());
        args.push(bin.to_string());
    }
    args
}

/// Builds the arm64 binaries with cargo-lambda (from `.venv/bin` or `PATH`), at the lowest
/// priority. Answers why not when it could not.
pub fn build_arm64(root: &Path, bins: &[&str]) -> Result<(), String> {
    let venv_bin = root.join(".venv/bin");
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let status = Command::new("nice")
        .arg("-n")
        .arg("19")
        .arg("cargo")
        .args(arm64_command(bins))
        .current_dir(root)
        .env("PATH", path)
        .status()
        .map_err(|e| format!("could not run cargo lambda: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "cargo lambda build --release --arm64 failed ({status})"
        ))
    }
}

fn size_mib(path: &Path) -> Option<f64> {
    std::fs::metadata(path)
        .ok()
        .map(|m| m.len() as f64 / (1024.0 * 1024.0))
}

/// The sizes table from what is on disk.
pub fn table(target_dir: &Path, arm64_note: Option<String>) -> Table {
    let mut t = Table::new(
        "sizes",
        "Binary sizes (release profile, stripped)",
        &[
            "binary",
            "arm64 MiB (sam build)",
            "arm64 ÷ hello",
            "x86_64 MiB",
            "x86_64 ÷ hello",
            "target ≤ 9 MiB arm64",
        ],
    );
    let hello_arm = size_mib(&lambda_artifact(target_dir, HELLO));
    let hello_x86 = size_mib(&target_dir.join("release").join(HELLO));
    let mut names = vec![HELLO];
    names.extend_from_slice(FUNCTIONS);
    for name in names {
        let arm = size_mib(&lambda_artifact(target_dir, name));
        let x86 = size_mib(&target_dir.join("release").join(name));
        let verdict = if name == HELLO {
            "baseline".to_string()
        } else {
            match arm.or(x86) {
                Some(s) if s <= TARGET_MIB => format!(
                    "met ({:.0} % of it{})",
                    s / TARGET_MIB * 100.0,
                    if arm.is_none() { ", x86_64 figure" } else { "" }
                ),
                Some(s) => format!(
                    "MISSED by {:.2} MiB{}",
                    s - TARGET_MIB,
                    if arm.is_none() {
                        " (x86_64 figure)"
                    } else {
                        ""
                    }
                ),
                None => "not built".into(),
            }
        };
        let fmt = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into());
        t.row(vec![
            name.to_string(),
            fmt(arm),
            fmt_ratio(arm.zip(hello_arm).and_then(|(a, b)| ratio(a, b))),
            fmt(x86),
            fmt_ratio(x86.zip(hello_x86).and_then(|(a, b)| ratio(a, b))),
            verdict,
        ]);
    }
    t.note(format!(
        "arm64: `cargo {}` (cargo-lambda cross-compiles with zig; `pip install cargo-lambda` brings both). x86_64: `cargo build --release`.",
        arm64_command(&["<bin>"]).join(" ")
    ));
    if let Some(note) = arm64_note {
        t.note(note);
    }
    t.note("What it means: the deployment package is downloaded and mapped at every cold start; smaller binaries start a little faster and every function stays far below Lambda's 50 MB zipped / 250 MB unzipped limits.");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arm64_command_names_every_binary() {
        let args = arm64_command(&["settings", "install"]);
        assert_eq!(
            args,
            [
                "lambda",
                "build",
                "--release",
                "--arm64",
                "--bin",
                "settings",
                "--bin",
                "install"
            ]
        );
        assert_eq!(
            lambda_artifact(Path::new("/t"), "settings"),
            PathBuf::from("/t/lambda/settings/bootstrap")
        );
    }

    #[test]
    fn missing_binaries_are_reported_as_not_built() {
        let dir =
            std::env::temp_dir().join(format!("bench-sizes-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("release")).unwrap();
        std::fs::write(dir.join("release").join(HELLO), vec![0u8; 1024 * 1024]).unwrap();
        std::fs::write(
            dir.join("release").join("settings"),
            vec![0u8; 3 * 1024 * 1024],
        )
        .unwrap();
        let t = table(&dir, None);
        assert_eq!(t.rows[0][3], "1.00");
        let settings = &t.rows[1];
        assert_eq!(settings[0], "settings");
        assert_eq!(settings[3], "3.00");
        assert_eq!(settings[4], "×3.00");
        assert!(settings[5].starts_with("met"), "{settings:?}");
        assert_eq!(t.rows[2][5], "not built");
        let _ = std::fs::remove_dir_all(dir);
    }
}
