//! The Lambda service, per function: instances are processes of the function's `bootstrap`
//! started as Lambda starts them (empty environment plus Lambda's variables, the template's
//! variables and the role's session credentials; one Runtime API per instance), one event at a
//! time each; a busy function gets another instance (a cold start), an instance whose event
//! timed out is killed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use emulation::runtime_api::{Answer, FunctionIdentity, RuntimeApi};

use crate::deploy::Credentials;
use crate::wiring::Function;

/// Lambda's limit for init (the runtime's first `invocation/next`).
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the rehearsal points what the template cannot name: the emulated AWS endpoint and the
/// simulated QuickBooks and Pipedrive. Nothing else is added to a function's environment
/// beyond what Lambda itself sets.
#[derive(Debug, Clone)]
pub struct Edge {
    pub vars: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    #[error("{function}: the template sets {var}, which the rehearsal points at its emulator")]
    Shadowed { function: String, var: String },
    #[error("{function}: {what}")]
    Failed { function: String, what: String },
}

struct Instance {
    api: RuntimeApi,
    child: tokio::process::Child,
}

/// One function's instances.
pub struct FunctionService {
    pub function: Function,
    binary: PathBuf,
    env: Vec<(String, String)>,
    idle: Mutex<Vec<Instance>>,
    log_dir: PathBuf,
    started: Mutex<usize>,
}

/// What one invocation answered.
pub type Invocation = Result<Answer, LambdaError>;

impl FunctionService {
    pub fn new(
        function: Function,
        binary: PathBuf,
        credentials: &Credentials,
        region: &str,
        edge: &Edge,
        log_dir: &Path,
    ) -> Result<Self, LambdaError> {
        for (var, _) in &edge.vars {
            if function.env.contains_key(var) {
                return Err(LambdaError::Shadowed {
                    function: function.logical.clone(),
                    var: var.clone(),
                });
            }
        }
        let env = lambda_environment(&function, credentials, region, edge);
        Ok(FunctionService {
            function,
            binary,
            env,
            idle: Mutex::new(Vec::new()),
            log_dir: log_dir.to_path_buf(),
            started: Mutex::new(0),
        })
    }

    /// How many instances were started (cold starts).
    pub fn cold_starts(&self) -> usize {
        *lock(&self.started)
    }

    fn failed(&self, what: impl Into<String>) -> LambdaError {
        LambdaError::Failed {
            function: self.function.logical.clone(),
            what: what.into(),
        }
    }

    async fn start_instance(&self) -> Result<Instance, LambdaError> {
        let n = {
            let mut started = lock(&self.started);
            *started += 1;
            *started
        };
        let api = RuntimeApi::start_for(FunctionIdentity {
            name: self.function.name.clone(),
            arn: self.function.arn.clone(),
            timeout: self.function.timeout,
        })
        .await
        .map_err(|e| self.failed(format!("runtime API: {e}")))?;
        let log = self
            .log_dir
            .join(format!("{}-{n}.log", self.function.logical));
        let out = std::fs::File::create(&log)
            .map_err(|e| self.failed(format!("{}: {e}", log.display())))?;
        let err = out.try_clone().map_err(|e| self.failed(e.to_string()))?;
        let mut child = tokio::process::Command::new(&self.binary)
            .env_clear()
            .envs(self.env.iter().cloned())
            .env("AWS_LAMBDA_RUNTIME_API", api.host())
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("rehearsal/[$LATEST]{n}"),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| self.failed(format!("starting {}: {e}", self.binary.display())))?;
        let ready = tokio::select! {
            ready = api.wait_ready(INIT_TIMEOUT) => ready,
            status = child.wait() => Err(format!(
                "exited during init ({})",
                status.map(|s| s.to_string()).unwrap_or_default()
            )),
        };
        match ready {
            Ok(_) => Ok(Instance { api, child }),
            Err(why) => {
                let _ = child.start_kill();
                let tail = log_tail(&log);
                Err(self.failed(format!(
                    "init failed: {why}; its log ({}): {tail}",
                    log.display()
                )))
            }
        }
    }

    /// Hands `payload` to an idle instance (or a new one) and waits for the answer.
    pub async fn invoke(&self, payload: &[u8]) -> Invocation {
        let idle = lock(&self.idle).pop();
        let mut instance = match idle {
            Some(instance) => instance,
            None => self.start_instance().await?,
        };
        match instance.api.invoke(payload).await {
            Ok((_, answer)) => {
                lock(&self.idle).push(instance);
                Ok(answer)
            }
            Err(why) => {
                // Lambda ends an instance whose invocation timed out or broke.
                let _ = instance.child.start_kill();
                Err(self.failed(why))
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// The environment Lambda gives an instance (without `AWS_LAMBDA_RUNTIME_API`, which is per
/// instance): its reserved variables, the role's credentials, the template's variables, and the
/// rehearsal's edge.
pub fn lambda_environment(
    function: &Function,
    credentials: &Credentials,
    region: &str,
    edge: &Edge,
) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = function.env.clone();
    let reserved = [
        ("AWS_LAMBDA_FUNCTION_NAME", function.name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            function.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", function.name),
        ),
        ("AWS_REGION", region.to_string()),
        ("AWS_DEFAULT_REGION", region.to_string()),
        (
            "AWS_EXECUTION_ENV",
            format!("AWS_Lambda_{}", function.runtime),
        ),
        ("_HANDLER", function.handler.clone()),
        ("LAMBDA_TASK_ROOT", "/var/task".to_string()),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime".to_string()),
        ("TZ", ":UTC".to_string()),
        ("LANG", "en_US.UTF-8".to_string()),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".to_string()),
        ("AWS_ACCESS_KEY_ID", credentials.access_key_id.clone()),
        (
            "AWS_SECRET_ACCESS_KEY",
            credentials.secret_access_key.clone(),
        ),
    ];
    for (k, v) in reserved {
        env.insert(k.to_string(), v);
    }
    if let Some(token) = &credentials.session_token {
        env.insert("AWS_SESSION_TOKEN".into(), token.clone());
    }
    for (k, v) in &edge.vars {
        env.insert(k.clone(), v.clone());
    }
    env.into_iter().collect()
}

/// Every function's service, by logical id.
pub type Services = BTreeMap<String, Arc<FunctionService>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn function() -> Function {
        Function {
            logical: "SettingsFunction".into(),
            binary: "settings".into(),
            name: "st-SettingsFunction-X".into(),
            arn: "arn:aws:lambda:us-east-1:123456789012:function:st-SettingsFunction-X".into(),
            env: [("TABLE_NAME".to_string(), "st-Table-Y".to_string())].into(),
            memory_mb: 256,
            timeout: Duration::from_secs(10),
            architectures: vec!["x86_64".into()],
            runtime: "provided.al2023".into(),
            handler: "bootstrap".into(),
            role: "SettingsFunctionRole".into(),
        }
    }

    fn credentials() -> Credentials {
        Credentials {
            access_key_id: "ASIA".into(),
            secret_access_key: "s".into(),
            session_token: Some("t".into()),
        }
    }

    #[test]
    fn the_environment_is_lambdas_plus_the_templates_plus_the_edge() {
        let edge = Edge {
            vars: vec![("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:1".into())],
        };
        let env: BTreeMap<_, _> =
            lambda_environment(&function(), &credentials(), "us-east-1", &edge)
                .into_iter()
                .collect();
        assert_eq!(env["TABLE_NAME"], "st-Table-Y");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
        assert_eq!(env["AWS_SESSION_TOKEN"], "t");
        assert_eq!(env["AWS_ENDPOINT_URL"], "http://127.0.0.1:1");
        assert!(!env.contains_key("STORAGE"), "only what the template sets");
    }

    #[test]
    fn the_edge_never_overrides_a_template_value() {
        let edge = Edge {
            vars: vec![("TABLE_NAME".into(), "other".into())],
        };
        let err = FunctionService::new(
            function(),
            PathBuf::from("/bin/true"),
            &credentials(),
            "us-east-1",
            &edge,
            Path::new("/tmp"),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("TABLE_NAME"), "{err}");
    }
}
