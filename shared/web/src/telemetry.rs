//! Logs: `tracing` as JSON lines (one object per event, with the request span's fields such as
//! `request_id`), filtered by `RUST_LOG` (default `info`).
//!
//! `RUST_LOG` takes `level` and `target=level` directives separated by commas (`info`,
//! `warn,shared=debug`): tracing-subscriber's `Targets` filter. Its regular-expression filter
//! (`EnvFilter`, span-field directives) is not linked: it brings a regex engine of ≈ 0.5 MiB into
//! every binary, and so into every cold start (BENCHMARKS.md).

use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the JSON subscriber once; later calls are no-ops.
pub fn init() {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .with_target(false)
                .with_filter(filter),
        )
        .try_init();
}

/// The filter `RUST_LOG` asks for; `info` when unset or not understood.
pub fn log_filter(value: Option<&str>) -> Targets {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_sets_the_default_and_per_target_levels() {
        let info = log_filter(None);
        assert!(info.would_enable("shared", &Level::INFO));
        assert!(!info.would_enable("shared", &Level::DEBUG));

        let mixed = log_filter(Some("warn,shared::sync=debug"));
        assert!(mixed.would_enable("shared::sync", &Level::DEBUG));
        assert!(!mixed.would_enable("shared::app", &Level::INFO));
        assert!(mixed.would_enable("hyper", &Level::WARN));

        let garbage = log_filter(Some("shared=[{field=1}]"));
        assert!(garbage.would_enable("anything", &Level::INFO));
        assert!(!garbage.would_enable("anything", &Level::DEBUG));
    }
}
