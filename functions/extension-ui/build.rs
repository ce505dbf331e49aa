//! Embeds the pinned `@pipedrive/app-extensions-sdk` (from npm, never a CDN) into the binary.
//!
//! `web/package.json` + `web/package-lock.json` pin the version; when `web/node_modules` lacks
//! the package, `npm ci` installs exactly the locked one. The SDK's UMD build is copied to
//! `$OUT_DIR/sdk.js` and included with `include_str!`, so the Lambda needs no files at run time.

use std::path::{Path, PathBuf};
use std::process::Command;

const PACKAGE: &str = "@pipedrive/app-extensions-sdk";

fn main() {
    // Release builds link the code a cold start runs first (`infra/hot-text`).
    hot_text::link(&["extension-ui"]);
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let web = manifest.join("web");
    let package_dir = web.join("node_modules").join(PACKAGE);
    let umd = package_dir.join("dist").join("index.umd.js");
    println!("cargo:rerun-if-changed=web/package.json");
    println!("cargo:rerun-if-changed=web/package-lock.json");
    println!("cargo:rerun-if-changed={}", umd.display());

    let pinned = locked_version(&web);
    if !umd.is_file() || installed_version(&package_dir).as_deref() != Some(pinned.as_str()) {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
            .current_dir(&web)
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "extension-ui needs npm to install {PACKAGE} (npm ci in {}): {e}",
                    web.display()
                )
            });
        assert!(
            status.success(),
            "npm ci in {} failed ({status})",
            web.display()
        );
    }
    let installed = installed_version(&package_dir);
    assert_eq!(
        installed.as_deref(),
        Some(pinned.as_str()),
        "{PACKAGE} in node_modules is not the locked version"
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let code = std::fs::read_to_string(&umd)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", umd.display()));
    assert!(
        code.contains("AppExtensionsSDK"),
        "{} does not define the AppExtensionsSDK global",
        umd.display()
    );
    std::fs::write(out.join("sdk.js"), code).expect("cannot write $OUT_DIR/sdk.js");
    std::fs::write(out.join("sdk-version.txt"), &pinned)
        .expect("cannot write $OUT_DIR/sdk-version.txt");
}

/// The version `package-lock.json` pins (`packages["node_modules/<PACKAGE>"].version`).
fn locked_version(web: &Path) -> String {
    let lock = std::fs::read_to_string(web.join("package-lock.json"))
        .expect("functions/extension-ui/web/package-lock.json is missing");
    let key = format!("\"node_modules/{PACKAGE}\"");
    let at = lock.find(&key).expect("the lock file does not pin the SDK");
    version_after(&lock[at..]).expect("the lock file's SDK entry has no version")
}

fn installed_version(package_dir: &Path) -> Option<String> {
    let manifest = std::fs::read_to_string(package_dir.join("package.json")).ok()?;
    // The top-level key (two-space indent, as npm writes it), not a nested `engines` entry.
    let at = manifest.find("\n  \"version\"")?;
    version_after(&manifest[at..])
}

/// The first `"version": "…"` value in `text`.
fn version_after(text: &str) -> Option<String> {
    let at = text.find("\"version\"")?;
    let rest = &text[at + "\"version\"".len()..];
    let start = rest.find('"')? + 1;
    let end = rest[start..].find('"')? + start;
    Some(rest[start..end].to_string())
}
