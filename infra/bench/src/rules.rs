//! The cost of the invoicing rules (`invoice-rules`): Pipedrive calls per company per scheduled
//! run, at 0, 10 and 1,000 deals updated since the last run.
//!
//! One company (the Pipedrive simulator's company A, its admin connected QuickBooks) with one
//! rule, "when a deal is won → prepare an invoice", saved an hour ago. `updated` deals are won
//! since then; they have no organization or person, so each is told what it needs ("Ready to
//! invoice — needs: …") and its run waits — the most reads a deal costs (its draft is built in
//! full). Measured per run, from the simulator's request log: the deals-list calls (the issue's
//! "one list call per company per run, all pages") and every Pipedrive call. A second run right
//! after shows the waiting runs re-checked (at most 100 a run) and nothing acting twice.

use chrono::{Duration, SecondsFormat, Utc};
use invoice_create::rules::run_scheduled;
use sandbox::pipedrive::seed::COMPANY_A;
use serde_json::json;
use shared::domain::CompanyId;
use shared::domain::rules::{Rule, RuleAction, Trigger};
use shared::wire::pipedrive::model::Deal;

use crate::report::Table;
use crate::world;
use crate::writeback::{Scene, start};

/// Deal ids of the scenario (clear of the simulator's seeded deals).
const FIRST_DEAL: u64 = 200_000;

/// One run's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFigures {
    pub list_calls: usize,
    pub pipedrive_calls: usize,
    pub acted: usize,
    pub waiting: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub updated: usize,
    pub first: RunFigures,
    pub second: RunFigures,
}

fn won_deal(id: u64, won: &str) -> Result<Deal, String> {
    serde_json::from_value(json!({
        "id": id, "title": format!("Deal {id}"), "currency": "USD", "org_id": null,
        "person_id": null, "pipeline_id": 1, "stage_id": 1, "status": "won", "won_time": won,
        "add_time": "2026-01-05T09:00:00Z", "update_time": won, "stage_change_time": won,
        "value": 100
    }))
    .map_err(|e| format!("a deal: {e}"))
}

/// Company A connected with its rule saved an hour ago, and `updated` deals won since.
async fn seed(s: &Scene, updated: usize) -> Result<(), String> {
    s.connect_company_a(None).await?;
    let now = Utc::now();
    let mut profile = s
        .app
        .records
        .get_company(CompanyId(COMPANY_A))
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no company profile".to_string())?;
    profile.settings.rules = vec![Rule {
        id: "rule-won".into(),
        trigger: Trigger::Won { pipeline_id: None },
        action: RuleAction::Prepare,
        created_at: Some(now - Duration::hours(1)),
    }];
    s.app
        .records
        .save_company(&profile)
        .await
        .map_err(|e| e.to_string())?;
    let won = (now - Duration::minutes(30)).to_rfc3339_opts(SecondsFormat::Secs, true);
    for d in 0..updated as u64 {
        s.pd.upsert_deal(COMPANY_A, won_deal(FIRST_DEAL + d, &won)?)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn one_run(s: &Scene) -> Result<RunFigures, String> {
    s.pd.harness().clear_log();
    let report = run_scheduled(&s.app).await.map_err(|e| e.to_string())?;
    if report.failed_companies > 0 || report.retried > 0 {
        return Err(format!("the rules pass failed: {report:?}"));
    }
    let requests = s.pd.requests();
    Ok(RunFigures {
        list_calls: requests
            .iter()
            .filter(|r| r.method == "GET" && r.path == "/api/v2/deals")
            .count(),
        pipedrive_calls: requests.len(),
        acted: report.done,
        waiting: report.waiting,
    })
}

/// One scenario: `updated` deals won since the last run.
pub async fn scenario(updated: usize) -> Result<Figures, String> {
    let s = start().await?;
    seed(&s, updated).await?;
    let first = one_run(&s).await?;
    let second = one_run(&s).await?;
    Ok(Figures {
        updated,
        first,
        second,
    })
}

/// The grid of the issue: 0, 10 and 1,000 updated deals.
pub async fn measure() -> Result<Vec<Figures>, String> {
    world::grid("rules", "updated deals", &[0, 10, 1000], scenario).await
}

pub fn table(figures: &[Figures]) -> Table {
    let mut t = Table::new(
        "rules",
        "Invoicing rules: Pipedrive calls per company per scheduled run",
        &[
            "updated deals",
            "deals-list calls",
            "Pipedrive calls",
            "calls ÷ updated deal",
            "waiting (told what they need)",
            "2nd run: list calls",
            "2nd run: Pipedrive calls",
            "2nd run: acted again",
        ],
    );
    for f in figures {
        let per_deal = if f.updated == 0 {
            "—".to_string()
        } else {
            format!(
                "{:.2}",
                (f.first.pipedrive_calls - f.first.list_calls) as f64 / f.updated as f64
            )
        };
        t.row(vec![
            f.updated.to_string(),
            f.first.list_calls.to_string(),
            f.first.pipedrive_calls.to_string(),
            per_deal,
            f.first.waiting.to_string(),
            f.second.list_calls.to_string(),
            f.second.pipedrive_calls.to_string(),
            f.second.acted.to_string(),
        ]);
    }
    t.note("Target: one deals-list request per company per run (the list is paged: a page is a request of that one list, 500 deals a page); the reads a deal costs (its draft) only for deals a rule matches. The rule prepares invoices; the deals have no organization or person, so every run waits with what it needs — the full draft is read for each. The second run re-checks waiting runs (at most 100 a run) and acts on none twice. Counted from the Pipedrive simulator's request log; counts, not times: the same in a debug build.");
    t
}
