//! A moto server (DynamoDB and Secrets Manager emulation) shared by every test of one test binary,
//! started lazily on first use, and helpers that point the AWS SDK at it.
//!
//! The server is `tests/world/moto_server.py`, run by the interpreter named in `MOTO_PYTHON`, else
//! `.venv/bin/python` at the workspace root, else `python3`. It prints its port, then lives until
//! its stdin reaches end-of-file: this process holds the other end of that pipe for its whole
//! life, so the server goes away when the test binary exits, even if it crashes.
//!
//! Install moto once: `python3 -m venv .venv && .venv/bin/pip install "moto[server]"`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use shared::store::ItemStore;
use shared::store::dynamo::{DynamoStore, create_table};
use shared::store::secrets::SecretStore;
use shared::store::secrets::secrets_manager::SecretsManagerStore;
use tokio::sync::OnceCell;

const INSTALL_HINT: &str = "Install moto: `python3 -m venv .venv && .venv/bin/pip install \"moto[server]\"` \
     at the workspace root, or set MOTO_PYTHON to a Python interpreter that has moto[server].";

/// How long moto may take to start (importing moto is slow on a cold cache).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The running server. Never dropped: it lives in a static for the whole test process.
#[derive(Debug)]
pub struct MotoServer {
    port: u16,
    /// Holds the server's stdin pipe open; the server stops when it closes.
    _child: Child,
    /// Kept open so that anything the server prints does not hit a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl MotoServer {
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

static SERVER: OnceCell<MotoServer> = OnceCell::const_new();

/// The shared server, started on first call. Panics (with install instructions) when moto
/// cannot be started: tests that need it must not skip silently.
pub async fn server() -> &'static MotoServer {
    SERVER
        .get_or_init(|| async {
            match tokio::task::spawn_blocking(start).await {
                Ok(Ok(server)) => server,
                Ok(Err(message)) => panic!("{message}"),
                Err(join) => panic!("starting the moto server failed: {join}"),
            }
        })
        .await
}

/// This crate is `tests/world` in the workspace.
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map(PathBuf::from)
        .unwrap_or(manifest)
}

fn python() -> PathBuf {
    if let Some(explicit) = std::env::var_os("MOTO_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(explicit);
    }
    let venv = workspace_root().join(".venv");
    for candidate in [
        venv.join("bin").join("python"),
        venv.join("Scripts").join("python.exe"),
    ] {
        if candidate.exists() {
            return candidate;
        }
    }
    PathBuf::from("python3")
}

fn start() -> Result<MotoServer, String> {
    let python = python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("moto_server.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "could not run {} to start the moto server: {e}. {INSTALL_HINT}",
                python.display()
            )
        })?;
    let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("the moto server's output pipes were not created".into());
    };

    // Read the port line on a thread so that a hung interpreter cannot hang the tests.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let read = stdout.read_line(&mut line).map(|_| line);
        let _ = tx.send((read, stdout));
    });
    let failure = |child: &mut Child, stderr: &mut dyn Read, what: String| {
        let _ = child.kill();
        let _ = child.wait();
        let mut output = String::new();
        let _ = stderr.read_to_string(&mut output);
        format!(
            "the moto server did not start ({what}) using {}.\n--- its stderr ---\n{}\n---\n{INSTALL_HINT}",
            python.display(),
            output.trim_end()
        )
    };
    let (line, stdout) = match rx.recv_timeout(START_TIMEOUT) {
        Ok((Ok(line), stdout)) => (line, stdout),
        Ok((Err(e), _)) => {
            return Err(failure(
                &mut child,
                &mut stderr,
                format!("reading its port: {e}"),
            ));
        }
        Err(_) => {
            return Err(failure(
                &mut child,
                &mut stderr,
                format!("no port within {} s", START_TIMEOUT.as_secs()),
            ));
        }
    };
    let port = match line.trim().parse::<u16>() {
        Ok(port) if port != 0 => port,
        _ => {
            let what = if line.is_empty() {
                "it exited before printing its port".to_string()
            } else {
                format!("it printed {:?} instead of a port", line.trim())
            };
            return Err(failure(&mut child, &mut stderr, what));
        }
    };

    // From now on, pass moto's warnings and errors through to our stderr (not captured by the
    // test harness, which is what we want for a shared server's diagnostics).
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        loop {
            match stderr.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = std::io::stderr().write_all(&buffer[..n]);
                }
            }
        }
    });

    Ok(MotoServer {
        port,
        _child: child,
        _stdout: stdout,
    })
}

/// SDK configuration for the shared moto server: its endpoint, region us-east-1 and static test
/// credentials. Build clients per test (a client keeps connections on the runtime that made
/// them, and every `#[tokio::test]` has its own runtime).
pub async fn sdk_config() -> aws_types::SdkConfig {
    let endpoint = server().await.endpoint();
    shared::clients::aws::sdk::sdk_config(&shared::clients::aws::AwsAccess::emulator(endpoint))
}

pub async fn dynamo_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config().await)
}

pub async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&sdk_config().await)
}

/// A [`DynamoStore`] on a new, uniquely named table (`t-<uuid>`) of the shared moto server.
pub async fn new_dynamo_store() -> DynamoStore {
    let client = dynamo_client().await;
    let table = format!("t-{}", uuid::Uuid::new_v4().simple());
    if let Err(e) = create_table(&client, &table).await {
        panic!("creating table {table} in moto failed: {e}");
    }
    DynamoStore::new(client, table)
}

/// [`new_dynamo_store`] as a trait object.
pub async fn dynamo_store() -> Arc<dyn ItemStore> {
    Arc::new(new_dynamo_store().await)
}

/// A [`SecretsManagerStore`] on the shared moto server (tests keep apart by name prefix).
pub async fn secrets_store() -> Arc<dyn SecretStore> {
    Arc::new(SecretsManagerStore::new(secrets_client().await))
}
