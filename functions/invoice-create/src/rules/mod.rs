//! The rules pass of the `invoice-rules` binary (EventBridge Scheduler, every 15 minutes):
//! "when a deal in pipeline P reaches stage S / is won → prepare an invoice for review | create
//! the invoice | create and send it | create an estimate", applied without a person at the form.
//!
//! Per connected company with rules, one run:
//! 1. **One** Pipedrive deals-list call (all pages) for the deals updated since the company's
//!    rules watermark — no webhook, so no new Pipedrive scope; the latency is the schedule's.
//! 2. Each (deal, rule) the deal now calls for ([`shared::domain::rules::rules_for`]) is recorded
//!    once, conditionally: a deal edited again later matches again and finds its record, so a
//!    rule acts at most once per deal, ever (a record still waiting is looked at then, however
//!    many other runs wait).
//! 3. A newly matched run is acted on ([`act::act`]) with the deal as the list gave it (the
//!    same `GET /api/v2/deals` fields as the deal's own read, so the draft reads no deal again):
//!    a deal that is not ready gets "Ready to invoice — needs: …" in its activity and waits.
//!    A run still waiting from earlier runs is looked at again only when something it depends
//!    on changed since its last check ([`RuleRun::worth_checking`]): the deal (in this run's
//!    list, edited after the check), the company's customer or product links (a fix made in the
//!    panel, which Pipedrive does not see) or its settings ([`inputs_stamp`]), or a day passed.
//!    Unchanged, it costs no Pipedrive read.
//! 4. The watermark moves to the run's start (less a small overlap for Pipedrive's
//!    second-resolution times; what the overlap lists again finds its records).
//!
//! Whose tokens: the user who connected QuickBooks (as the field write-back and the paid note).

pub mod act;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use shared::app::App;
use shared::app::sync::write_back::writer;
use shared::domain::rules::{Rule, RuleRun, RuleRunState, RulesWatermark, inputs_stamp, rules_for};
use shared::domain::{CompanyId, CompanyProfile, DealId};
use shared::store::records::RuleRunClaim;
use shared::store::{PageRequest, StoreError};
use shared::web::error::ApiError;

use shared::wire::pipedrive::model::Deal;

use crate::context::caller;
use act::{Acted, Pass, act};

/// How far back each list reaches before the previous run's start.
pub const OVERLAP: Duration = Duration::minutes(5);
/// Most waiting runs of a company looked at again per run (oldest first).
pub const WAITING_PER_RUN: u32 = 100;
/// How long a Pipedrive call of the pass may wait out 429s.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);
/// Companies read per page of the connected list.
const COMPANY_PAGE: u32 = 100;

/// Why a company's pass stopped (its watermark stays: the next run lists the same deals).
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Access(#[from] ApiError),
    #[error("listing Pipedrive's updated deals failed: {0}")]
    Pipedrive(String),
}

/// What a run did (logged, and the function's answer; asserted by the flow tests and the
/// benchmark).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RulesReport {
    /// Companies whose rules were applied.
    pub companies: usize,
    pub deals_listed: usize,
    /// (deal, rule) runs that acted.
    pub done: usize,
    /// Runs told what they need.
    pub waiting: usize,
    /// Runs left for the next run (an upstream failed).
    pub retried: usize,
    /// Waiting runs left alone: nothing they depend on changed since their last check.
    pub unchanged: usize,
    pub failed_companies: usize,
}

impl RulesReport {
    fn count(&mut self, acted: &Acted) {
        match acted {
            Acted::Done(_) => self.done += 1,
            Acted::Waiting(_) => self.waiting += 1,
            Acted::Retry(_) => self.retried += 1,
        }
    }

    fn add(&mut self, other: RulesReport) {
        self.companies += other.companies;
        self.deals_listed += other.deals_listed;
        self.done += other.done;
        self.waiting += other.waiting;
        self.retried += other.retried;
        self.unchanged += other.unchanged;
        self.failed_companies += other.failed_companies;
    }
}

/// One scheduled run over every connected company (one company's failure is logged and the
/// others go on).
pub async fn run_scheduled(app: &App) -> Result<RulesReport, StoreError> {
    let mut report = RulesReport::default();
    let mut cursor: Option<String> = None;
    loop {
        let (companies, next) = app
            .records
            .connected_companies(PageRequest::after(COMPANY_PAGE, cursor.as_deref()))
            .await?;
        for company in companies {
            match run_company(app, company).await {
                Ok(done) => report.add(done),
                Err(error) => {
                    tracing::warn!(%error, company_id = %company, "the rules pass of a company failed");
                    report.failed_companies += 1;
                }
            }
        }
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    tracing::info!(?report, "rules pass done");
    Ok(report)
}

/// The company's rules pass (nothing, and no Pipedrive call, without rules or a connection).
pub async fn run_company(app: &App, company: CompanyId) -> Result<RulesReport, RulesError> {
    let Some(profile) = app.records.get_company(company).await? else {
        return Ok(RulesReport::default());
    };
    let rules = profile.settings.rules.clone();
    let Some(tenant) = writer(&profile).filter(|_| !rules.is_empty()) else {
        return Ok(RulesReport::default());
    };
    let caller = caller(app, tenant).await?;
    let started = app.clock.now();
    // Read before any check: a link changed during this run makes the next one look again.
    let (watermark, links) = futures::join!(
        app.records.get_rules_watermark(company),
        app.records.links_stamp(company)
    );
    let (watermark, links) = (watermark?, links?);
    let pass = Pass {
        app,
        caller: &caller,
        rules: &rules,
        inputs: inputs_stamp(profile.settings_version, links.as_deref()),
    };
    let since = watermark
        .as_ref()
        .map(|w| w.since)
        .or_else(|| first_rule_saved(&rules))
        .unwrap_or(started);
    let deals = app
        .pipedrive_of(tenant)
        .patient(PATIENCE)
        .deals_updated_since(since)
        .await
        .map_err(|e| RulesError::Pipedrive(e.to_string()))?;
    let mut report = RulesReport {
        companies: 1,
        deals_listed: deals.len(),
        ..RulesReport::default()
    };
    let mut handled = HashSet::new();
    for deal in &deals {
        for rule in rules_for(deal, &rules) {
            let matched = matched_run(&profile, DealId(deal.id), rule, started);
            let run = match app.records.claim_rule_run(&matched).await? {
                RuleRunClaim::Claimed(run) => run,
                // Waiting from an earlier run (however many others wait): looked at now if the
                // deal changed since its check.
                RuleRunClaim::Matched(Some(run)) if run.is_open() => {
                    handled.insert((run.rule_id.clone(), run.deal_id));
                    if_worth_checking(&pass, run, Some(deal), &mut report).await;
                    continue;
                }
                RuleRunClaim::Matched(_) => continue,
            };
            handled.insert((run.rule_id.clone(), run.deal_id));
            report.count(&act(&pass, run, Some(deal)).await);
        }
    }
    waiting_runs(&pass, &deals, &handled, &mut report).await?;
    let next = RulesWatermark {
        company_id: company,
        since: since.max(started - OVERLAP),
        version: watermark.map_or(0, |w| w.version),
    };
    app.records.save_rules_watermark(&next).await?;
    Ok(report)
}

/// The runs matched earlier and still waiting: each looked at again when something it depends
/// on changed since its last check (a fix since then makes it act now).
async fn waiting_runs(
    pass: &Pass<'_>,
    deals: &[Deal],
    handled: &HashSet<(String, DealId)>,
    report: &mut RulesReport,
) -> Result<(), RulesError> {
    let company = pass.caller.tenant.company_id;
    let listed: HashMap<DealId, &Deal> = deals.iter().map(|d| (DealId(d.id), d)).collect();
    for run in pass
        .app
        .records
        .waiting_rule_runs(company, WAITING_PER_RUN)
        .await?
    {
        if handled.contains(&(run.rule_id.clone(), run.deal_id)) {
            continue;
        }
        let deal = listed.get(&run.deal_id).copied();
        if_worth_checking(pass, run, deal, report).await;
    }
    Ok(())
}

/// Acts on a waiting run when something it depends on changed since its last check.
async fn if_worth_checking(
    pass: &Pass<'_>,
    run: RuleRun,
    listed: Option<&Deal>,
    report: &mut RulesReport,
) {
    if run.worth_checking(&pass.inputs, listed, pass.app.clock.now()) {
        report.count(&act(pass, run, listed).await);
    } else {
        report.unchanged += 1;
    }
}

/// Where a company's first list starts: its oldest rule (nothing before it can match).
fn first_rule_saved(rules: &[Rule]) -> Option<DateTime<Utc>> {
    rules.iter().filter_map(|r| r.created_at).min()
}

fn matched_run(profile: &CompanyProfile, deal: DealId, rule: &Rule, now: DateTime<Utc>) -> RuleRun {
    RuleRun {
        company_id: profile.company_id,
        deal_id: deal,
        rule_id: rule.id.clone(),
        action: rule.action,
        matched_at: now,
        state: RuleRunState::Waiting {
            needs: None,
            checked_at: None,
            inputs: None,
            deal_updated: None,
        },
        version: 0,
    }
}
