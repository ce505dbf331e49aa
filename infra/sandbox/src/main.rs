//! `cargo run -p sandbox`: serves both simulators on local ports, for trying the app's flows by
//! hand or pointing another client at them. Configuration (all optional):
//!
//! | variable | default |
//! |---|---|
//! | `PIPEDRIVE_SIM_PORT` / `QUICKBOOKS_SIM_PORT` | 8081 / 8082 |
//! | `PIPEDRIVE_CLIENT_ID` / `PIPEDRIVE_CLIENT_SECRET` | `local-pipedrive-app` / `local-pipedrive-secret` |
//! | `QUICKBOOKS_CLIENT_ID` / `QUICKBOOKS_CLIENT_SECRET` | `local-quickbooks-app` / `local-quickbooks-secret` |
//! | `APP_BASE_URL` (the app the OAuth flows return to) | `http://127.0.0.1:8080` |

use std::net::{Ipv4Addr, SocketAddr};

use sandbox::pipedrive::{PipedriveConfig, PipedriveSim};
use sandbox::quickbooks::{QuickBooksConfig, QuickBooksSim};

fn var(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn port(name: &str, default: u16) -> Result<u16, String> {
    var(name, &default.to_string())
        .parse()
        .map_err(|e| format!("{name} is not a port number: {e}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let app = var("APP_BASE_URL", "http://127.0.0.1:8080");
    let mut pipedrive = PipedriveConfig::new(
        var("PIPEDRIVE_CLIENT_ID", "local-pipedrive-app"),
        var("PIPEDRIVE_CLIENT_SECRET", "local-pipedrive-secret"),
        format!("{app}/oauth/pipedrive/callback"),
    );
    pipedrive.addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port("PIPEDRIVE_SIM_PORT", 8081)?));
    let quickbooks = QuickBooksConfig {
        client_id: var("QUICKBOOKS_CLIENT_ID", "local-quickbooks-app"),
        client_secret: var("QUICKBOOKS_CLIENT_SECRET", "local-quickbooks-secret"),
        redirect_uris: vec![format!("{app}/oauth/quickbooks/callback")],
        ..QuickBooksConfig::default()
    };
    let (_pd, pd_server) = PipedriveSim::start(pipedrive).await?;
    let qb_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port("QUICKBOOKS_SIM_PORT", 8082)?));
    let (_qb, qb_server) = QuickBooksSim::start(quickbooks, qb_addr).await?;
    println!(
        "Pipedrive simulator:  {}  (control API under /_sim/)",
        pd_server.base_url()
    );
    println!(
        "QuickBooks simulator: {}  (control API under /_sim/)",
        qb_server.base_url()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
