//! `cargo run -p local`: every route on 127.0.0.1 (port from `PORT`, default 8080).

use std::net::{Ipv4Addr, SocketAddr};

use shared::config::Env;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::web::telemetry::init();
    let env = Env::from_process();
    let port: u16 = env.parse_or("PORT", 8080)?;
    let server = local::start(&env, SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    println!("Pipedrive ↔ QuickBooks app running at {}", server.url());
    println!("  health: {}/healthz", server.url());
    if let Some(sims) = &server.simulators {
        println!("  simulated Pipedrive:  {}", sims.pipedrive_url);
        println!("  simulated QuickBooks: {}", sims.quickbooks_url);
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
