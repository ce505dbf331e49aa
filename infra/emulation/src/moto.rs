//! moto's server for one run, started from `tests/world/moto_server.py` by the interpreter in
//! `MOTO_PYTHON` (else `.venv/bin/python` under the workspace root; `tests/run` installs it).
//! It prints its port and lives until its stdin closes, i.e. until [`Moto`] is dropped or this
//! process exits, however it exits.
//!
//! With [`MotoOptions::iam_audit`] the server is started with IAM enforcement prepared
//! (`tests/world/moto_iam_audit.py`): everything is open until [`Moto::enforce_iam`], then
//! every request must be signed by a known principal and is allowed only by its policies, and
//! each decision is appended to the audit file.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// How long moto may take to start (importing moto is slow on a cold cache).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// How to start the server.
#[derive(Debug, Clone, Default)]
pub struct MotoOptions {
    /// Prepare IAM enforcement and write every decision to this file (JSON lines).
    pub iam_audit: Option<PathBuf>,
    /// Where moto's stderr goes (discarded when unset).
    pub log: Option<PathBuf>,
}

/// A running moto server.
pub struct Moto {
    pub endpoint: String,
    child: tokio::process::Child,
}

impl Moto {
    /// A plain server (no IAM checks).
    pub async fn start(root: &Path) -> Result<Moto, String> {
        Moto::start_with(root, &MotoOptions::default()).await
    }

    pub async fn start_with(root: &Path, options: &MotoOptions) -> Result<Moto, String> {
        use tokio::io::AsyncBufReadExt;
        let python = std::env::var_os("MOTO_PYTHON")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".venv/bin/python"));
        let script = root.join("tests/world/moto_server.py");
        let mut command = tokio::process::Command::new(&python);
        command.arg(&script);
        if let Some(audit) = &options.iam_audit {
            command
                .arg("--iam-audit")
                .arg(audit)
                // The AWS managed policies SAM attaches (AWSLambdaBasicExecutionRole, …).
                .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true");
        }
        let stderr = match &options.log {
            Some(path) => Stdio::from(
                std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
            ),
            None => Stdio::null(),
        };
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                format!(
                    "could not start moto with {}: {e} (tests/run installs it into .venv)",
                    python.display()
                )
            })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| "moto's stdout was not captured".to_string())?;
        let mut line = String::new();
        let mut reader = tokio::io::BufReader::new(stdout);
        tokio::time::timeout(START_TIMEOUT, reader.read_line(&mut line))
            .await
            .map_err(|_| format!("moto printed no port within {START_TIMEOUT:?}"))?
            .map_err(|e| format!("reading moto's port: {e}"))?;
        let port: u16 = line
            .trim()
            .parse()
            .map_err(|_| format!("moto printed {:?} instead of its port", line.trim()))?;
        Ok(Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        })
    }

    /// From now on every request is authenticated and authorized (moto's
    /// `INITIAL_NO_AUTH_ACTION_COUNT` set to 0 through its control API).
    pub async fn enforce_iam(&self) -> Result<(), String> {
        let answer = shared::clients::outbound::plain_client()
            .post(format!("{}/moto-api/reset-auth", self.endpoint))
            .body("0")
            .send()
            .await
            .map_err(|e| format!("switching IAM enforcement on: {e}"))?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "switching IAM enforcement on: moto answered {}",
                answer.status()
            ))
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
