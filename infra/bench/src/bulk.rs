//! Bulk invoicing from the deals list: a batch of 25 and of 100 ready deals at 50 ms injected
//! latency on both simulators, run as the page runs it — `run_page` (the run route's core) again
//! until nothing is pending.
//!
//! One company (the Pipedrive simulator's company A, its admin connected to a US QuickBooks
//! company) whose organisation 4 is linked to a QuickBooks customer and product 6 to an item;
//! `deals` deals of that organisation with one line of that product each (each a different
//! quantity). Measured: wall time of the whole batch and of its longest run request (each must
//! stay under API Gateway's 30 s), run requests, upstream calls (QuickBooks, Pipedrive) and the
//! peak of QuickBooks requests in flight for the company (the simulator counts them; Intuit
//! allows 10).

use std::time::{Duration, Instant};

use invoice_create::bulk::run::run_page;
use invoice_create::context::{Caller, caller};
use invoice_create::customers::save_link;
use invoice_create::items::save_product_link;
use invoice_create::views::{CustomerSummary, ItemSummary};
use sandbox::pipedrive::seed::{COMPANY_A, USER_A_ADMIN};
use serde_json::json;
use shared::domain::bulk::{BulkBatch, DealOutcome};
use shared::domain::{CompanyId, DealId, Party, UserId};
use shared::web::auth::Tenant;
use shared::wire::pipedrive::model::{Deal, DealProduct};
use shared::wire::quickbooks::model::Customer;

use crate::report::Table;
use crate::world;
use crate::writeback::{Scene, start};

/// Deal ids of the scenario (clear of the simulator's seeded deals).
const FIRST_DEAL: u64 = 300_000;
const ORG: u64 = 4;
const PRODUCT: u64 = 6;
const LATENCY_MS: u64 = 50;

#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub deals: usize,
    pub invoiced: usize,
    pub wall: Duration,
    pub longest_request: Duration,
    pub run_requests: usize,
    pub quickbooks_calls: usize,
    pub pipedrive_calls: usize,
    pub peak_in_flight: u32,
}

fn deal(id: u64) -> Result<Deal, String> {
    serde_json::from_value(json!({
        "id": id, "title": format!("Bulk deal {id}"), "currency": "USD", "org_id": ORG,
        "person_id": null, "pipeline_id": 1, "stage_id": 1, "status": "won",
        "add_time": "2026-01-05T09:00:00Z", "update_time": "2026-01-05T09:00:00Z", "value": 100
    }))
    .map_err(|e| format!("a deal: {e}"))
}

fn line(id: u64, quantity: u64) -> Result<DealProduct, String> {
    serde_json::from_value(json!({
        "id": id, "product_id": PRODUCT, "name": "Sticker pack", "quantity": quantity,
        "item_price": 12, "tax": 0, "tax_method": "none", "is_enabled": true, "order_nr": 1
    }))
    .map_err(|e| format!("a deal line: {e}"))
}

/// Company A connected, its organisation and product linked, `deals` ready deals.
async fn seed(s: &Scene, deals: usize) -> Result<Caller, String> {
    s.connect_company_a(None).await?;
    let tenant = Tenant {
        company_id: CompanyId(COMPANY_A),
        user_id: UserId(USER_A_ADMIN),
    };
    let caller = caller(&s.app, tenant).await.map_err(|e| e.to_string())?;
    let customer: Customer = serde_json::from_value(json!({"DisplayName": "Brooklyn Bakers LLC"}))
        .map_err(|e| e.to_string())?;
    let customer =
        s.qb.create_customer(&s.realm, &customer)
            .map_err(|e| e.to_string())?;
    let customer = CustomerSummary::of(&customer).ok_or("the customer has no id")?;
    save_link(&s.app, &caller, Party::Organization(ORG), &customer)
        .await
        .map_err(|e| e.to_string())?;
    let items = s.qb.items(&s.realm).map_err(|e| e.to_string())?;
    let item = items
        .iter()
        .filter(|i| i.active != Some(false))
        .find_map(ItemSummary::of)
        .ok_or("the QuickBooks company has no item")?;
    save_product_link(&s.app, &caller, PRODUCT, &item)
        .await
        .map_err(|e| e.to_string())?;
    for d in 0..deals as u64 {
        let id = FIRST_DEAL + d;
        s.pd.upsert_deal(COMPANY_A, deal(id)?)
            .map_err(|e| e.to_string())?;
        s.pd.add_deal_product(COMPANY_A, id, line(id * 10, d + 1)?)
            .map_err(|e| e.to_string())?;
    }
    Ok(caller)
}

/// One batch of `deals` ready deals, run to the end.
pub async fn scenario(deals: usize) -> Result<Figures, String> {
    let s = start().await?;
    let caller = seed(&s, deals).await?;
    let ids: Vec<DealId> = (0..deals as u64).map(|d| DealId(FIRST_DEAL + d)).collect();
    let fresh = BulkBatch::new(
        CompanyId(COMPANY_A),
        uuid::Uuid::new_v4().to_string(),
        UserId(USER_A_ADMIN),
        &ids,
        chrono::Utc::now(),
    );
    let mut batch = s
        .app
        .records
        .create_bulk_batch(&fresh)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|_| "the batch id was taken".to_string())?;
    s.qb.harness().set_latency_ms(LATENCY_MS);
    s.pd.harness().set_latency_ms(LATENCY_MS);
    s.qb.harness().clear_log();
    s.pd.harness().clear_log();
    s.qb.reset_peak_in_flight();
    let started = Instant::now();
    let mut longest = Duration::ZERO;
    let mut run_requests = 0;
    while batch.progress().pending > 0 && run_requests < 50 {
        let request = Instant::now();
        batch = run_page(&s.app, &caller, batch, false)
            .await
            .map_err(|e| e.to_string())?;
        longest = longest.max(request.elapsed());
        run_requests += 1;
    }
    let wall = started.elapsed();
    let invoiced = batch
        .deals
        .iter()
        .filter(|d| matches!(d.outcome, DealOutcome::Created { .. }))
        .count();
    if invoiced != deals {
        return Err(format!(
            "{invoiced} of {deals} deals invoiced: {:?}",
            batch
                .deals
                .iter()
                .find(|d| !matches!(d.outcome, DealOutcome::Created { .. }))
        ));
    }
    Ok(Figures {
        deals,
        invoiced,
        wall,
        longest_request: longest,
        run_requests,
        quickbooks_calls: s.qb.harness().requests().len(),
        pipedrive_calls: s.pd.harness().requests().len(),
        peak_in_flight: s.qb.peak_in_flight(&s.realm),
    })
}

/// The grid: 25 and 100 deals.
pub async fn measure() -> Result<Vec<Figures>, String> {
    world::grid("bulk", "deals", &[25, 100], scenario).await
}

pub fn table(figures: &[Figures]) -> Table {
    let mut t = Table::new(
        "bulk",
        "Bulk invoicing: a batch of ready deals at 50 ms injected upstream latency",
        &[
            "deals",
            "invoiced",
            "wall time s",
            "longest run request s",
            "run requests",
            "QuickBooks calls",
            "Pipedrive calls",
            "calls ÷ deal",
            "peak QuickBooks in flight (company)",
        ],
    );
    for f in figures {
        t.row(vec![
            f.deals.to_string(),
            f.invoiced.to_string(),
            format!("{:.2}", f.wall.as_secs_f64()),
            format!("{:.2}", f.longest_request.as_secs_f64()),
            f.run_requests.to_string(),
            f.quickbooks_calls.to_string(),
            f.pipedrive_calls.to_string(),
            format!(
                "{:.2}",
                (f.quickbooks_calls + f.pipedrive_calls) as f64 / f.deals as f64
            ),
            f.peak_in_flight.to_string(),
        ]);
    }
    t.note("Target: peak QuickBooks requests in flight per company ≤ 10 (the realm gate); every run request well under API Gateway's 30 s (a page is at most 25 deals, 10 at a time, none started after 20 s); each deal invoiced once. 50 ms added to every simulator request; the run's core (`run_page`) called in process as the run route calls it.");
    t
}
