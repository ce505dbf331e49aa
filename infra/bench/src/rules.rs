//! The cost of the invoicing rules (`invoice-rules`): Pipedrive calls per company per scheduled
//! run, at 0, 10 and 1,000 deals updated since the last run.
//!
//! One company (the Pipedrive simulator's company A, its admin connected QuickBooks) with one
//! rule, "when a deal is won → prepare an invoice", saved an hour ago. `updated` deals are won
//! since then; they have no organization or person, so each is told what it needs ("Ready to
//! invoice — needs: …") and its run waits — the most reads a deal costs (its draft is built in
//! full, less the deal itself, which the list gave). Measured per run, from the simulator's
//! request log: the deals-list calls (the issue's "one list call per company per run, all
//! pages") and every Pipedrive call. A second run right after, with nothing changed, shows the
//! waiting runs left alone (no read) and nothing acting twice; a third, after a product link was
//! saved (what a fix in the panel does), the waiting runs looked at again (at most 100 a run).

use chrono::{Duration, SecondsFormat, Utc};
use invoice_create::rules::run_scheduled;
use sandbox::pipedrive::seed::{COMPANY_A, USER_A_ADMIN};
use serde_json::json;
use shared::domain::rules::{Rule, RuleAction, Trigger};
use shared::domain::{CompanyId, ProductLink, UserId};
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
    /// Waiting runs left alone (nothing they depend on changed).
    pub unchanged: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub updated: usize,
    pub first: RunFigures,
    pub second: RunFigures,
    /// After a product link of the company was saved.
    pub third: RunFigures,
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

/// A product of company A linked to an item (what a rep's fix in the panel writes).
async fn link_a_product(s: &Scene) -> Result<(), String> {
    let link = ProductLink {
        company_id: CompanyId(COMPANY_A),
        product_id: 1,
        realm_id: s.realm.clone(),
        item_id: "1".into(),
        item_name: "Services".into(),
        linked_by: UserId(USER_A_ADMIN),
        linked_at: Utc::now(),
        version: 0,
    };
    s.app
        .records
        .save_product_link(&link)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
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
        unchanged: report.unchanged,
    })
}

/// One scenario: `updated` deals won since the last run.
pub async fn scenario(updated: usize) -> Result<Figures, String> {
    let s = start().await?;
    seed(&s, updated).await?;
    let first = one_run(&s).await?;
    let second = one_run(&s).await?;
    link_a_product(&s).await?;
    let third = one_run(&s).await?;
    Ok(Figures {
        updated,
        first,
        second,
        third,
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
            "2nd run, nothing changed: Pipedrive calls",
            "2nd run: waiting left alone",
            "2nd run: acted again",
            "3rd run, after a link change: Pipedrive calls",
            "3rd run: waiting looked at",
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
            f.second.pipedrive_calls.to_string(),
            f.second.unchanged.to_string(),
            f.second.acted.to_string(),
            f.third.pipedrive_calls.to_string(),
            f.third.waiting.to_string(),
        ]);
    }
    t.note("Target: one deals-list request per company per run (the list is paged: a page is a request of that one list, 500 deals a page); the reads a deal costs (its draft, less the deal the list gave) only for deals a rule matches. The rule prepares invoices; the deals have no organization or person, so every run waits with what it needs — the full draft is read for each. A waiting run is looked at again only when its deal (in the list, edited since), the company's links or its settings changed, or a day passed: the second run, nothing changed, costs the list alone; the third, after a product link was saved, looks at the waiting runs again (at most 100 a run). Counted from the Pipedrive simulator's request log; counts, not times: the same in a debug build.");
    t
}
