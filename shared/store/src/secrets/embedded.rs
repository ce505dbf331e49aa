//! Secrets kept in memory, optionally persisted to a file (local runs and tests). The file is
//! written with owner-only permissions and lives under the git-ignored `.local-state/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{SecretStore, TokenError};

#[derive(Debug, Default)]
pub struct EmbeddedSecrets {
    secrets: Mutex<BTreeMap<String, String>>,
    file: Option<PathBuf>,
}

impl EmbeddedSecrets {
    pub fn in_memory() -> Self {
        Self::default()
    }

    pub fn persisted(path: impl AsRef<Path>) -> Result<Self, TokenError> {
        let path = path.as_ref().to_path_buf();
        let secrets = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|_| TokenError::Corrupt {
                name: path.display().to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(TokenError::Backend(format!("{}: {e}", path.display()))),
        };
        Ok(EmbeddedSecrets {
            secrets: Mutex::new(secrets),
            file: Some(path),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.secrets.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn persist(&self, secrets: &BTreeMap<String, String>) -> Result<(), TokenError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let io = |e: std::io::Error| TokenError::Backend(format!("{}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let bytes = serde_json::to_vec(secrets).map_err(|e| TokenError::Backend(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        write_private(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[async_trait]
impl SecretStore for EmbeddedSecrets {
    async fn get(&self, name: &str) -> Result<Option<String>, TokenError> {
        Ok(self.lock().get(name).cloned())
    }

    async fn put(&self, name: &str, value: &str) -> Result<(), TokenError> {
        let mut secrets = self.lock();
        secrets.insert(name.to_string(), value.to_string());
        self.persist(&secrets)
    }

    async fn delete(&self, name: &str) -> Result<(), TokenError> {
        let mut secrets = self.lock();
        if secrets.remove(name).is_some() {
            self.persist(&secrets)?;
        }
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, TokenError> {
        Ok(self
            .lock()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }
}
