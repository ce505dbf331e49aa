//! Typed settings from environment variables, read and validated once per cold start. A missing or
//! malformed setting fails start-up with a message naming the variable.

use std::collections::HashMap;
use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// A view of the environment (the process's, or a map in tests).
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Self {
        Env {
            vars: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The same environment with `name` set to `value`.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// The value if set and not blank.
    pub fn optional(&self, name: &'static str) -> Option<String> {
        self.vars
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    /// Parses the value if set; `default` if not.
    pub fn parse_or<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            }),
        }
    }

    /// An absolute http(s) URL without a trailing slash.
    pub fn url_or(&self, name: &'static str, default: &str) -> Result<String, ConfigError> {
        let raw = self.optional(name).unwrap_or_else(|| default.to_string());
        let parsed = url::Url::parse(&raw).map_err(|e| ConfigError::Invalid {
            name,
            reason: format!("{e} (expected an absolute URL)"),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ConfigError::Invalid {
                name,
                reason: "expected an http or https URL".into(),
            });
        }
        Ok(raw.trim_end_matches('/').to_string())
    }
}

/// `FRAME_ANCESTORS`: the origins allowed to frame our pages (space-separated; default
/// Pipedrive's, `https://*.pipedrive.com`).
pub fn frame_ancestors(env: &Env) -> Vec<String> {
    env.optional("FRAME_ANCESTORS")
        .unwrap_or_else(|| "https://*.pipedrive.com".to_string())
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Where records and tokens live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// DynamoDB table + Secrets Manager (Lambda, or moto in tests).
    Aws {
        table_name: String,
        secret_prefix: String,
    },
    /// In memory, optionally persisted under a directory (the local server).
    Embedded { state_dir: Option<String> },
}

impl StorageConfig {
    /// `STORAGE=aws` (default on Lambda) needs `TABLE_NAME` and `TOKEN_SECRET_PREFIX`;
    /// `STORAGE=embedded` takes an optional `STATE_DIR`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let default = if env.optional("AWS_LAMBDA_FUNCTION_NAME").is_some() {
            "aws"
        } else {
            "embedded"
        };
        match env
            .optional("STORAGE")
            .unwrap_or_else(|| default.to_string())
            .as_str()
        {
            "aws" => Ok(StorageConfig::Aws {
                table_name: env.required("TABLE_NAME")?,
                secret_prefix: env.required("TOKEN_SECRET_PREFIX")?,
            }),
            "embedded" => Ok(StorageConfig::Embedded {
                state_dir: env.optional("STATE_DIR"),
            }),
            other => Err(ConfigError::Invalid {
                name: "STORAGE",
                reason: format!("`{other}` is not one of aws, embedded"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_settings_name_the_variable() {
        let env = Env::from_pairs([("STORAGE", "aws"), ("TABLE_NAME", "t")]);
        let err = StorageConfig::from_env(&env).unwrap_err();
        assert_eq!(err, ConfigError::Missing("TOKEN_SECRET_PREFIX"));
        assert!(err.to_string().contains("TOKEN_SECRET_PREFIX"));
    }

    #[test]
    fn malformed_settings_name_the_variable() {
        let env = Env::from_pairs([("STORAGE", "s3")]);
        let err = StorageConfig::from_env(&env).unwrap_err();
        assert!(err.to_string().contains("STORAGE"), "{err}");
        let env = Env::from_pairs([("PORT", "eighty")]);
        let err = env.parse_or("PORT", 8080u16).unwrap_err();
        assert!(err.to_string().contains("PORT"), "{err}");
        let env = Env::from_pairs([("BASE", "ftp://x")]);
        assert!(env.url_or("BASE", "http://a").is_err());
    }

    #[test]
    fn blank_is_the_same_as_unset() {
        let env = Env::from_pairs([("STORAGE", "  ")]);
        assert_eq!(
            StorageConfig::from_env(&env).unwrap(),
            StorageConfig::Embedded { state_dir: None }
        );
    }

    #[test]
    fn lambda_defaults_to_aws_storage() {
        let env = Env::from_pairs([
            ("AWS_LAMBDA_FUNCTION_NAME", "settings"),
            ("TABLE_NAME", "t"),
            ("TOKEN_SECRET_PREFIX", "app/dev"),
        ]);
        assert_eq!(
            StorageConfig::from_env(&env).unwrap(),
            StorageConfig::Aws {
                table_name: "t".into(),
                secret_prefix: "app/dev".into()
            }
        );
    }
}
