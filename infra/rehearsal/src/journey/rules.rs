//! The invoicing rules through their schedule: an admin saves a rule ("when a deal is won →
//! prepare an invoice for review"), the deal is won in Pipedrive, and the `invoice-rules`
//! function, started from its build artifact, gets the schedule's own event: it prepares the
//! invoice once; the next tick finds nothing new.

use serde_json::json;
use shared::wire::pipedrive::model::{DealStatus, DealUpdate};

use super::*;
use crate::events;
use crate::wiring::Schedule;

/// The template's schedule that invokes `function` (by logical id).
pub(super) fn schedule_of<'a>(ctx: &'a Ctx<'_>, function: &str) -> Result<&'a Schedule, String> {
    ctx.wiring
        .schedules
        .iter()
        .find(|s| s.function == function)
        .ok_or_else(|| format!("the template has no schedule for {function}"))
}

async fn tick(ctx: &Ctx<'_>) -> Result<serde_json::Value, String> {
    let schedule = schedule_of(ctx, "InvoiceRulesFunction")?;
    let service = ctx
        .services
        .get(&schedule.function)
        .ok_or("no service for the rules schedule")?;
    events::tick(schedule, service, ctx.record).await
}

pub(super) async fn rules(ctx: &Ctx<'_>) -> Result<(), String> {
    let current = call(ctx, "GET", "/api/settings", A_ADMIN, None, 200).await?;
    let mut doc = json!({"version": current.json["version"], "settings": current.json["settings"]});
    doc["settings"]["rules"] = json!([{"trigger": {"kind": "won"}, "action": "prepare"}]);
    let saved = call(ctx, "PUT", "/api/settings", A_ADMIN, Some(&doc), 200).await?;
    if saved.json["settings"]["rules"][0]["id"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        return Err(format!(
            "the saved rule is {}",
            saved.json["settings"]["rules"]
        ));
    }
    // The Pipedrive clock runs with the functions' (real time): the win comes after the save.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let won = DealUpdate {
        status: Some(DealStatus::Won),
        ..DealUpdate::default()
    };
    ctx.world
        .pd
        .edit_deal(COMPANY_A, DEAL_A, &won)
        .map_err(|e| e.to_string())?;
    // The tokens stored for the company are past their expiry: the function refreshes them under
    // the company's lease, as any run an hour after the last one does.
    an_hour_passes(ctx).await?;
    let first = tick(ctx).await?;
    if first["done"] != 1 || first["failed_companies"] != 0 {
        return Err(format!(
            "the first tick answered {first} (expected the won deal's invoice prepared: done 1)"
        ));
    }
    let prepared = format!("DEAL#{DEAL_A}#PREPARED");
    let items = ctx.world.scan(&ctx.table).await?;
    if !items.iter().any(|(_, sk, _)| *sk == prepared) {
        return Err("no prepared invoice in the table after the rule acted".into());
    }
    let second = tick(ctx).await?;
    if second["done"] != 0 || second["deals_listed"].as_u64().is_none() {
        return Err(format!(
            "the second tick answered {second} (expected nothing new: a rule acts once per deal)"
        ));
    }
    prepared_in_the_panel(ctx).await
}

/// The panel's list offers the preparation with its key; a click carrying another key (a
/// preparation the panel showed before a newer one) is refused and creates nothing. (The
/// modal's create that follows clears the preparation: `create_twice` checks it.)
async fn prepared_in_the_panel(ctx: &Ctx<'_>) -> Result<(), String> {
    let list = super::invoices::deal_list(ctx).await?;
    if list.json["prepared"]["key"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        return Err(format!(
            "the deal's list offers no preparation: {}",
            list.text()
        ));
    }
    let stale = ctx
        .world
        .api(
            "POST",
            &format!("/api/deals/{DEAL_A}/prepared-invoice"),
            A_ADMIN,
            None,
            Some("prepared:an-older-one"),
        )
        .await?;
    expect("POST …/prepared-invoice with an older key", &stale, 409)
}

/// No preparation is left for `deal` (once its invoice exists).
pub(super) async fn no_preparation_left(ctx: &Ctx<'_>, deal: u64) -> Result<(), String> {
    let prepared = format!("DEAL#{deal}#PREPARED");
    let items = ctx.world.scan(&ctx.table).await?;
    if items.iter().any(|(_, sk, _)| *sk == prepared) {
        return Err(format!(
            "the deal's invoice exists but {prepared} is still kept"
        ));
    }
    Ok(())
}
