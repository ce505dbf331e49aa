//! The `invoice-rules` pass against both simulators (embedded store): a rule on "won" creates the
//! deal's invoice once although the deal is edited again and the run repeats; a deal won while
//! not ready is told what it needs and invoiced at a later run after the fix; each run makes one
//! Pipedrive deals-list call per company. A rule "won → create an estimate" does the same with
//! the deal's estimate.

mod support;

use chrono::Duration;
use invoice_create::rules::{RulesReport, run_scheduled};
use pretty_assertions::assert_eq;
use shared::domain::rules::{Rule, RuleAction, RuleRun, RuleRunState, Trigger};
use shared::domain::{CompanyId, DealId, Settings};
use shared::wire::pipedrive::model::{DealStatus, DealUpdate};
use support::*;

const B: (u64, u64) = (COMPANY_B, USER_B_ADMIN);

/// Company B on the US realm with one rule on won deals, saved a minute ago.
async fn world_with_rule(action: RuleAction) -> World {
    world_with_trigger(Trigger::Won { pipeline_id: None }, action).await
}

async fn world_with_trigger(trigger: Trigger, action: RuleAction) -> World {
    let w = world().start().await;
    let rule = Rule {
        id: "rule-1".into(),
        trigger,
        action,
        created_at: Some(w.now() - Duration::seconds(60)),
    };
    let settings = Settings {
        rules: vec![rule],
        ..Settings::default()
    };
    w.connect(COMPANY_B, USER_B_ADMIN, US_REALM)
        .settings(settings)
        .await;
    w
}

/// Deal 1's customer created in QuickBooks and linked, its products linked to items.
async fn fix_deal_1(w: &World) {
    w.ready_bolt_deal_1().await;
}

/// A few seconds after the rule was saved the deal is won; a minute passes.
fn win_deal_1(w: &World) {
    w.advance(5);
    win(w, 1);
    w.advance(60);
}

fn win(w: &World, deal: u64) {
    w.pipedrive
        .edit_deal(
            COMPANY_B,
            deal,
            &DealUpdate {
                status: Some(DealStatus::Won),
                ..DealUpdate::default()
            },
        )
        .unwrap();
}

fn retitle(w: &World, deal: u64, title: &str) {
    w.pipedrive
        .edit_deal(
            COMPANY_B,
            deal,
            &DealUpdate {
                title: Some(title.into()),
                ..DealUpdate::default()
            },
        )
        .unwrap();
}

/// Runs the pass and answers its report and the Pipedrive deals-list calls it made.
async fn run(w: &World) -> (RulesReport, usize) {
    w.pipedrive.harness().clear_log();
    let report = run_scheduled(&w.app).await.unwrap();
    let lists = w
        .pipedrive
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v2/deals")
        .count();
    (report, lists)
}

/// Runs the pass: (runs done, runs waiting, deals-list calls).
async fn run_counts(w: &World) -> (usize, usize, usize) {
    let (report, lists) = run(w).await;
    assert_eq!(report.failed_companies, 0, "{report:?}");
    (report.done, report.waiting, lists)
}

#[tokio::test]
async fn a_won_deal_gets_its_invoice_once_although_it_is_edited_again_and_the_run_repeats() {
    let w = world_with_rule(RuleAction::Create).await;
    fix_deal_1(&w).await;

    let (report, lists) = run(&w).await;
    assert_eq!(
        (report.companies, report.done, lists),
        (1, 0, 1),
        "{report:?}"
    );
    assert!(w.invoice_posts(US_REALM).is_empty());

    win_deal_1(&w);
    assert_eq!(run_counts(&w).await, (1, 0, 1));
    assert_eq!(w.invoice_posts(US_REALM).len(), 1);
    let run_record = w
        .app
        .records
        .get_rule_run(
            shared::domain::CompanyId(COMPANY_B),
            "rule-1",
            shared::domain::DealId(1),
        )
        .await
        .unwrap()
        .unwrap();
    let RuleRunState::Done { invoice_id, .. } = &run_record.state else {
        panic!("not done: {run_record:?}");
    };
    let invoice_id = invoice_id.clone().unwrap();
    assert!(w.stored_link(COMPANY_B, 1, &invoice_id).await.is_some());
    let activity = w.activity(COMPANY_B, 1).await;
    assert!(activity.iter().any(|e| e.kind == "invoice.created"));

    // Edited again (still won), listed again, the run repeats: no second invoice.
    w.advance(60);
    retitle(&w, 1, "Fleet rollout (renamed)");
    w.advance(60);
    for _ in 0..2 {
        assert_eq!(run_counts(&w).await, (0, 0, 1));
        w.advance(900);
    }
    assert_eq!(w.invoice_posts(US_REALM).len(), 1);
}

#[tokio::test]
async fn a_deal_won_while_not_ready_is_told_what_it_needs_then_invoiced_after_the_fix() {
    let w = world_with_rule(RuleAction::Create).await;
    win_deal_1(&w);

    assert_eq!(run_counts(&w).await, (0, 1, 1));
    assert!(w.invoice_posts(US_REALM).is_empty());
    let needs: Vec<_> = w
        .activity(COMPANY_B, 1)
        .await
        .into_iter()
        .filter(|e| e.kind == "rule.waiting")
        .collect();
    assert_eq!(needs.len(), 1, "{needs:?}");
    let sentence = &needs[0].message;
    assert!(
        sentence.starts_with("Ready to invoice — needs: a QuickBooks customer for"),
        "{sentence}"
    );
    assert!(sentence.contains("a QuickBooks item for"), "{sentence}");

    // Nothing fixed: the next run leaves it alone (nothing it depends on changed), tells
    // nothing new, creates nothing.
    w.advance(900);
    assert_eq!(run_counts(&w).await, (0, 0, 1));
    let told = w.activity(COMPANY_B, 1).await;
    assert_eq!(told.iter().filter(|e| e.kind == "rule.waiting").count(), 1);

    // Fixed in the app (nothing changes in Pipedrive): the next run creates the invoice.
    fix_deal_1(&w).await;
    w.advance(900);
    assert_eq!(run_counts(&w).await, (1, 0, 1));
    assert_eq!(w.invoice_posts(US_REALM).len(), 1);
    w.advance(900);
    let (report, _) = run(&w).await;
    assert_eq!((report.done, report.waiting), (0, 0), "{report:?}");
    assert_eq!(w.invoice_posts(US_REALM).len(), 1);
}

/// Every Pipedrive request of one run (path), and the run's report.
async fn run_requests(w: &World) -> (RulesReport, Vec<String>) {
    w.pipedrive.harness().clear_log();
    let report = run_scheduled(&w.app).await.unwrap();
    assert_eq!(report.failed_companies, 0, "{report:?}");
    let paths = w
        .pipedrive
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    (report, paths)
}

#[tokio::test]
async fn a_waiting_deal_costs_no_pipedrive_read_until_something_it_depends_on_changes() {
    let w = world_with_rule(RuleAction::Create).await;
    win_deal_1(&w);
    let (report, paths) = run_requests(&w).await;
    assert_eq!(report.waiting, 1, "{report:?}");
    assert!(
        !paths.iter().any(|p| p == "/api/v2/deals/1"),
        "the listed deal is not read again: {paths:?}"
    );

    // Nothing changed: the list is the run's only Pipedrive call.
    for _ in 0..2 {
        w.advance(900);
        let (report, paths) = run_requests(&w).await;
        assert_eq!((report.waiting, report.unchanged), (0, 1), "{report:?}");
        assert_eq!(paths, vec!["/api/v2/deals".to_string()]);
    }

    // The deal edited in Pipedrive: listed, looked at again (still not ready, told nothing new).
    retitle(&w, 1, "Fleet rollout (phase 1)");
    w.advance(60);
    let (report, paths) = run_requests(&w).await;
    assert_eq!((report.waiting, report.unchanged), (1, 0), "{report:?}");
    assert!(paths.len() > 1, "its draft was read: {paths:?}");
    let told = w.activity(COMPANY_B, 1).await;
    assert_eq!(told.iter().filter(|e| e.kind == "rule.waiting").count(), 1);

    // A link made in the app (Pipedrive sees nothing): looked at again, and invoiced.
    w.advance(900);
    assert_eq!(run_requests(&w).await.0.unchanged, 1);
    fix_deal_1(&w).await;
    w.advance(900);
    let (report, _) = run_requests(&w).await;
    assert_eq!((report.done, report.unchanged), (1, 0), "{report:?}");
    assert_eq!(w.invoice_posts(US_REALM).len(), 1);

    // A day without a check: looked at again whatever changed (what the app cannot see).
    let w = world_with_rule(RuleAction::Create).await;
    win_deal_1(&w);
    assert_eq!(run_requests(&w).await.0.waiting, 1);
    w.advance(24 * 3600);
    assert_eq!(run_requests(&w).await.0.waiting, 1);
}

#[tokio::test]
async fn a_waiting_deal_edited_in_pipedrive_is_looked_at_although_a_hundred_older_runs_wait() {
    let w = world_with_rule(RuleAction::Create).await;
    w.link_item(B, 1, "4").await;
    w.link_item(B, 2, "2").await;
    win_deal_1(&w);
    assert_eq!(run_counts(&w).await, (0, 1, 1), "no customer yet");
    // A hundred older runs wait, checked now with nothing changed since: the oldest first in
    // the waiting index, ahead of deal 1's.
    let company = shared::domain::CompanyId(COMPANY_B);
    let profile = w.app.records.get_company(company).await.unwrap().unwrap();
    let links = w.app.records.links_stamp(company).await.unwrap();
    let inputs = shared::domain::rules::inputs_stamp(profile.settings_version, links.as_deref());
    for deal in 900..1000 {
        let older = shared::domain::rules::RuleRun {
            company_id: company,
            deal_id: shared::domain::DealId(deal),
            rule_id: "rule-1".into(),
            action: RuleAction::Create,
            matched_at: w.now() - Duration::hours(2),
            state: RuleRunState::Waiting {
                needs: Some("Ready to invoice — needs: a customer".into()),
                checked_at: Some(w.now()),
                inputs: Some(inputs.clone()),
                deal_updated: None,
            },
            version: 0,
        };
        assert!(
            w.app
                .records
                .claim_rule_run(&older)
                .await
                .unwrap()
                .claimed()
                .is_some()
        );
    }
    // The customer made in QuickBooks (the app sees nothing), then the deal edited in Pipedrive:
    // the next run finds deal 1 in its list and invoices it.
    let customer = shared::wire::quickbooks::model::Customer {
        display_name: Some("Bolt Freight Co.".into()),
        ..Default::default()
    };
    w.quickbooks.create_customer(US_REALM, &customer).unwrap();
    w.advance(60);
    retitle(&w, 1, "Fleet rollout (signed)");
    w.advance(60);
    let (report, _) = run(&w).await;
    assert_eq!((report.done, report.unchanged), (1, 100), "{report:?}");
    assert_eq!(w.invoice_posts(US_REALM).len(), 1);
}

#[tokio::test]
async fn a_waiting_deal_reopened_before_the_fix_is_not_invoiced_until_it_is_won_again() {
    let w = world_with_rule(RuleAction::Create).await;
    win_deal_1(&w);
    assert_eq!(run_counts(&w).await, (0, 1, 1));

    // Reopened in Pipedrive, then fixed in the app: the waiting run does not invoice it.
    w.pipedrive
        .edit_deal(
            COMPANY_B,
            1,
            &DealUpdate {
                status: Some(DealStatus::Open),
                ..DealUpdate::default()
            },
        )
        .unwrap();
    fix_deal_1(&w).await;
    w.advance(900);
    assert_eq!(run_counts(&w).await, (0, 1, 1));
    assert!(
        w.invoice_posts(US_REALM).is_empty(),
        "a reopened deal is not invoiced"
    );
    let told: Vec<_> = w
        .activity(COMPANY_B, 1)
        .await
        .into_iter()
        .filter(|e| e.kind == "rule.waiting")
        .map(|e| e.message)
        .collect();
    assert!(
        told.iter()
            .any(|m| m.starts_with("The deal is no longer won")),
        "{told:?}"
    );

    // Won again: the same run acts, once.
    w.advance(5);
    win(&w, 1);
    w.advance(60);
    assert_eq!(run_counts(&w).await, (1, 0, 1));
    assert_eq!(w.invoice_posts(US_REALM).len(), 1);
    w.advance(900);
    let (report, _) = run(&w).await;
    assert_eq!((report.done, report.waiting), (0, 0), "{report:?}");
    assert_eq!(w.invoice_posts(US_REALM).len(), 1);
}

#[tokio::test]
async fn a_company_without_rules_costs_no_pipedrive_call() {
    let w = world().start().await;
    w.connect(COMPANY_B, USER_B_ADMIN, US_REALM).await;
    let (report, lists) = run(&w).await;
    assert_eq!((report, lists), (RulesReport::default(), 0));
}

#[tokio::test]
async fn a_prepare_rule_keeps_the_invoice_for_review_and_a_send_rule_has_quickbooks_send_it() {
    let w = world_with_rule(RuleAction::Prepare).await;
    fix_deal_1(&w).await;
    win_deal_1(&w);
    let (report, _) = run(&w).await;
    assert_eq!(report.done, 1, "{report:?}");
    assert!(
        w.invoice_posts(US_REALM).is_empty(),
        "prepared, not created"
    );
    let prepared = w
        .app
        .records
        .get_prepared_invoice(
            shared::domain::CompanyId(COMPANY_B),
            shared::domain::DealId(1),
        )
        .await
        .unwrap()
        .unwrap();
    let draft = w.draft(B, 1).await;
    assert_eq!(
        serde_json::to_value(prepared.total).unwrap(),
        draft["totals"]["total"]
    );
    assert!(
        w.activity(COMPANY_B, 1)
            .await
            .iter()
            .any(|e| e.kind == "rule.prepared")
    );

    let w = world_with_rule(RuleAction::CreateAndSend).await;
    fix_deal_1(&w).await;
    win_deal_1(&w);
    let (report, _) = run(&w).await;
    assert_eq!(report.done, 1, "{report:?}");
    assert_eq!(w.invoice_posts(US_REALM).len(), 1);
    let sends = w
        .api_calls(US_REALM)
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/send"))
        .count();
    assert_eq!(sends, 1);
}

#[tokio::test]
async fn a_create_that_failed_upstream_is_retried_at_the_next_run_under_the_same_request_id() {
    let w = world_with_rule(RuleAction::Create).await;
    fix_deal_1(&w).await;
    win_deal_1(&w);
    w.quickbooks.harness().set_fault(
        format!("/v3/company/{US_REALM}/invoice"),
        sandbox::harness::FaultSpec {
            force_500: 10,
            ..sandbox::harness::FaultSpec::default()
        },
    );
    let (report, _) = run(&w).await;
    assert_eq!((report.done, report.retried), (0, 1), "{report:?}");
    w.quickbooks.harness().clear_faults();
    w.advance(900);
    let (report, _) = run(&w).await;
    assert_eq!((report.done, report.retried), (1, 0), "{report:?}");
    let posts = w.invoice_posts(US_REALM);
    let request_ids: std::collections::BTreeSet<_> = posts
        .iter()
        .map(|r| {
            r.query
                .as_deref()
                .unwrap_or("")
                .split('&')
                .find(|p| p.starts_with("requestid="))
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(posts.len() >= 2, "the failed attempt and the retry");
    assert_eq!(
        request_ids.len(),
        1,
        "one requestid for (deal, rule): {request_ids:?}"
    );
    let created = posts.iter().filter(|r| r.status == 200).count();
    assert_eq!(created, 1);
}

#[tokio::test]
async fn a_stage_rule_acts_when_the_deal_reaches_the_stage_and_not_before() {
    // Company B's pipeline 1 "Fleet sales": 1 Lead in, 2 Demo, 3 Contract sent.
    let contract_sent = Trigger::Stage {
        pipeline_id: 1,
        stage_id: 3,
    };
    let w = world_with_trigger(contract_sent, RuleAction::Create).await;
    fix_deal_1(&w).await;
    let move_to = |stage: u64| {
        w.pipedrive
            .edit_deal(
                COMPANY_B,
                1,
                &DealUpdate {
                    stage_id: Some(stage),
                    ..DealUpdate::default()
                },
            )
            .unwrap();
    };
    w.advance(5);
    move_to(2);
    w.advance(60);
    assert_eq!(
        run_counts(&w).await,
        (0, 0, 1),
        "the demo stage is not the rule's"
    );
    move_to(3);
    w.advance(60);
    assert_eq!(run_counts(&w).await, (1, 0, 1));
    assert_eq!(w.invoice_posts(US_REALM).len(), 1);
}

/// The record of (deal, "rule-1").
async fn rule_run(w: &World, deal: u64) -> RuleRun {
    w.app
        .records
        .get_rule_run(CompanyId(COMPANY_B), "rule-1", DealId(deal))
        .await
        .unwrap()
        .unwrap()
}

/// Company B's estimates in QuickBooks, and the estimate links of its deal 1 in the store.
async fn estimates_of_deal_1(w: &World) -> (Vec<String>, Vec<String>) {
    let in_quickbooks = w
        .quickbooks
        .estimates(US_REALM)
        .unwrap()
        .into_iter()
        .filter_map(|e| e.sale.id)
        .collect();
    let linked = w
        .app
        .records
        .deal_estimate_links(CompanyId(COMPANY_B), DealId(1))
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.estimate_id)
        .collect();
    (in_quickbooks, linked)
}

/// The requests QuickBooks received to create estimates.
fn estimate_posts(w: &World) -> Vec<sandbox::harness::LoggedRequest> {
    w.quickbooks
        .harness()
        .requests_matching(Some("POST"), &format!("/v3/company/{US_REALM}/estimate"))
        .into_iter()
        .filter(|r| r.path.ends_with("/estimate"))
        .collect()
}

#[tokio::test]
async fn an_estimate_rule_creates_the_won_deals_estimate_once_although_it_is_edited_again_and_the_run_repeats()
 {
    let w = world_with_rule(RuleAction::CreateEstimate).await;
    fix_deal_1(&w).await;
    win_deal_1(&w);

    assert_eq!(run_counts(&w).await, (1, 0, 1));
    let (in_quickbooks, linked) = estimates_of_deal_1(&w).await;
    assert_eq!(in_quickbooks.len(), 1, "{in_quickbooks:?}");
    assert_eq!(linked, in_quickbooks, "the estimate's link is stored");
    assert_eq!(estimate_posts(&w).len(), 1);
    assert!(
        w.invoice_posts(US_REALM).is_empty(),
        "an estimate, no invoice"
    );
    let estimate_id = linked[0].clone();
    let done = rule_run(&w, 1).await;
    let RuleRunState::Done {
        invoice_id,
        estimate_id: recorded,
        message,
        ..
    } = &done.state
    else {
        panic!("not done: {done:?}");
    };
    assert_eq!(
        (invoice_id, recorded.as_deref(), message.as_str()),
        (&None, Some(estimate_id.as_str()), "create an estimate")
    );
    let activity = w.activity(COMPANY_B, 1).await;
    assert_eq!(
        activity
            .iter()
            .filter(|e| e.kind == "estimate.created")
            .count(),
        1,
        "{activity:#?}"
    );

    // Edited again (still won), listed again, the run repeats: no second estimate.
    w.advance(60);
    retitle(&w, 1, "Fleet rollout (renamed)");
    w.advance(60);
    for _ in 0..2 {
        assert_eq!(run_counts(&w).await, (0, 0, 1));
        w.advance(900);
    }
    assert_eq!(
        estimates_of_deal_1(&w).await,
        (vec![estimate_id.clone()], vec![estimate_id.clone()])
    );

    // The run's record lost its "done" (a crash after QuickBooks answered): the next run acts
    // again under the same (deal, rule) key and finds the same estimate, asking QuickBooks
    // nothing.
    let mut lost = rule_run(&w, 1).await;
    lost.state = RuleRunState::Waiting {
        needs: None,
        checked_at: None,
        inputs: None,
        deal_updated: None,
    };
    w.app.records.save_rule_run(&lost).await.unwrap();
    w.quickbooks.harness().clear_log();
    assert_eq!(run_counts(&w).await, (1, 0, 1));
    assert_eq!(estimate_posts(&w).len(), 0, "replayed, not created again");
    assert_eq!(
        estimates_of_deal_1(&w).await,
        (vec![estimate_id.clone()], vec![estimate_id.clone()])
    );
    let again = rule_run(&w, 1).await;
    assert!(
        matches!(&again.state, RuleRunState::Done { estimate_id: Some(id), .. } if *id == estimate_id),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_deal_won_while_not_ready_for_its_estimate_is_told_what_it_needs_then_gets_it_after_the_fix()
 {
    let w = world_with_rule(RuleAction::CreateEstimate).await;
    win_deal_1(&w);

    assert_eq!(run_counts(&w).await, (0, 1, 1));
    assert_eq!(estimates_of_deal_1(&w).await, (vec![], vec![]));
    let needs: Vec<_> = w
        .activity(COMPANY_B, 1)
        .await
        .into_iter()
        .filter(|e| e.kind == "rule.waiting")
        .collect();
    assert_eq!(needs.len(), 1, "{needs:?}");
    let sentence = &needs[0].message;
    assert!(
        sentence.starts_with("Ready to invoice — needs: a QuickBooks customer for"),
        "{sentence}"
    );
    assert!(sentence.contains("a QuickBooks item for"), "{sentence}");

    // Fixed in the app (nothing changes in Pipedrive): the next run creates the estimate, once.
    fix_deal_1(&w).await;
    w.advance(900);
    assert_eq!(run_counts(&w).await, (1, 0, 1));
    w.advance(900);
    assert_eq!(run_counts(&w).await, (0, 0, 1));
    let (in_quickbooks, linked) = estimates_of_deal_1(&w).await;
    assert_eq!(in_quickbooks.len(), 1, "{in_quickbooks:?}");
    assert_eq!(linked, in_quickbooks);
    assert!(w.invoice_posts(US_REALM).is_empty());
    let told = w.activity(COMPANY_B, 1).await;
    assert_eq!(told.iter().filter(|e| e.kind == "rule.waiting").count(), 1);
}

#[tokio::test]
async fn an_estimate_that_failed_upstream_is_retried_at_the_next_run_under_the_same_request_id() {
    let w = world_with_rule(RuleAction::CreateEstimate).await;
    fix_deal_1(&w).await;
    win_deal_1(&w);
    w.quickbooks.harness().set_fault(
        format!("/v3/company/{US_REALM}/estimate"),
        sandbox::harness::FaultSpec {
            force_500: 10,
            ..sandbox::harness::FaultSpec::default()
        },
    );
    let (report, _) = run(&w).await;
    assert_eq!((report.done, report.retried), (0, 1), "{report:?}");
    assert_eq!(estimates_of_deal_1(&w).await, (vec![], vec![]));
    w.quickbooks.harness().clear_faults();
    w.advance(900);
    let (report, _) = run(&w).await;
    assert_eq!((report.done, report.retried), (1, 0), "{report:?}");
    let posts = estimate_posts(&w);
    let request_ids: std::collections::BTreeSet<_> = posts
        .iter()
        .filter_map(|r| {
            r.query
                .as_deref()?
                .split('&')
                .find(|p| p.starts_with("requestid="))
                .map(str::to_string)
        })
        .collect();
    assert!(posts.len() >= 2, "the failed attempt and the retry");
    assert_eq!(
        request_ids.len(),
        1,
        "one requestid for (deal, rule): {request_ids:?}"
    );
    assert_eq!(posts.iter().filter(|r| r.status == 200).count(), 1);
    let (in_quickbooks, linked) = estimates_of_deal_1(&w).await;
    assert_eq!(in_quickbooks.len(), 1, "{in_quickbooks:?}");
    assert_eq!(linked, in_quickbooks);
}
