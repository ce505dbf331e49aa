//! The contract of what invoicing without a modal keeps: rule runs created once and listed
//! while they wait, the rules watermark, prepared invoices and the deal fields last written.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, Utc};
use rust_decimal::Decimal;
use serde_json::json;

use super::company;
use crate::records::{Records, RuleRunClaim};
use crate::{ItemStore, StoreError};
use domain::DealId;
use domain::figures::WrittenFigures;
use domain::rules::{PreparedInvoice, RuleAction, RuleRun, RuleRunState, RulesWatermark};

fn run(ns: &str, rule: &str, deal: u64, minutes: i64) -> RuleRun {
    RuleRun {
        company_id: company(ns, 1),
        deal_id: DealId(deal),
        rule_id: rule.into(),
        action: RuleAction::Create,
        matched_at: Utc::now() + Duration::minutes(minutes),
        state: RuleRunState::Waiting {
            needs: None,
            checked_at: None,
            inputs: None,
            deal_updated: None,
        },
        version: 0,
    }
}

pub async fn rule_runs_are_claimed_once_and_listed_while_waiting(
    store: Arc<dyn ItemStore>,
    ns: &str,
) {
    let records = Records::new(store);
    let first = run(ns, "r1", 7, 0);
    let claims = futures::future::join_all((0..8).map(|_| records.claim_rule_run(&first))).await;
    let won: Vec<RuleRun> = claims
        .into_iter()
        .filter_map(|c| c.unwrap().claimed())
        .collect();
    assert_eq!(
        won.len(),
        1,
        "one claim of (deal, rule) wins, however many race"
    );
    let second = records
        .claim_rule_run(&run(ns, "r2", 7, 1))
        .await
        .unwrap()
        .claimed()
        .unwrap();
    records
        .claim_rule_run(&run(ns, "r1", 8, -1))
        .await
        .unwrap()
        .claimed()
        .unwrap();
    let waiting = records.waiting_rule_runs(company(ns, 1), 10).await.unwrap();
    let order: Vec<(u64, &str)> = waiting
        .iter()
        .map(|r| (r.deal_id.0, r.rule_id.as_str()))
        .collect();
    assert_eq!(
        order,
        vec![(8, "r1"), (7, "r1"), (7, "r2")],
        "oldest match first"
    );
    assert!(
        records
            .waiting_rule_runs(company(ns, 2), 10)
            .await
            .unwrap()
            .is_empty()
    );

    let mut done = won[0].clone();
    done.state = RuleRunState::Done {
        at: Utc::now(),
        invoice_id: Some("130".into()),
        estimate_id: None,
        message: "created".into(),
    };
    let saved = records.save_rule_run(&done).await.unwrap();
    assert!(matches!(
        records.save_rule_run(&done).await,
        Err(StoreError::Conflict { .. })
    ));
    let waiting = records.waiting_rule_runs(company(ns, 1), 10).await.unwrap();
    assert_eq!(waiting.len(), 2, "a done run leaves the waiting list");
    assert_eq!(
        records.claim_rule_run(&first).await.unwrap(),
        RuleRunClaim::Matched(Some(saved.clone())),
        "never again: the run as stored instead"
    );
    assert_eq!(
        records
            .get_rule_run(company(ns, 1), "r1", DealId(7))
            .await
            .unwrap(),
        Some(saved)
    );
    let of_deal = records
        .deal_waiting_rule_runs(company(ns, 1), DealId(7), &["r1".into(), "r2".into()])
        .await
        .unwrap();
    assert_eq!(of_deal, vec![second]);
}

pub async fn watermark_prepared_and_written_figures_round_trip(
    store: Arc<dyn ItemStore>,
    ns: &str,
) {
    let records = Records::new(store);
    let c = company(ns, 1);
    assert_eq!(records.get_rules_watermark(c).await.unwrap(), None);
    let mark = RulesWatermark {
        company_id: c,
        since: Utc::now(),
        version: 0,
    };
    let saved = records.save_rules_watermark(&mark).await.unwrap();
    assert!(
        records.save_rules_watermark(&mark).await.is_err(),
        "created once"
    );
    let moved = RulesWatermark {
        since: mark.since + Duration::minutes(15),
        ..saved.clone()
    };
    let moved = records.save_rules_watermark(&moved).await.unwrap();
    assert!(records.save_rules_watermark(&saved).await.is_err(), "stale");
    assert_eq!(records.get_rules_watermark(c).await.unwrap(), Some(moved));

    let prepared = PreparedInvoice {
        company_id: c,
        deal_id: DealId(3),
        rule_id: "r1".into(),
        total: Decimal::new(125050, 2),
        currency: "EUR".into(),
        customer_name: Some("Müller".into()),
        prepared_at: Utc::now(),
        version: 0,
    };
    let kept = records.put_prepared_invoice(&prepared).await.unwrap();
    assert_eq!(
        records.get_prepared_invoice(c, DealId(3)).await.unwrap(),
        Some(kept.clone())
    );
    let newer = records.put_prepared_invoice(&prepared).await.unwrap();
    assert!(
        records.delete_prepared_invoice(&kept).await.is_err(),
        "a newer preparation stays"
    );
    records.delete_prepared_invoice(&newer).await.unwrap();
    assert_eq!(
        records.get_prepared_invoice(c, DealId(3)).await.unwrap(),
        None
    );

    let written = WrittenFigures {
        company_id: c,
        deal_id: DealId(3),
        values: BTreeMap::from([("k".to_string(), json!({"value": 1.5, "currency": "EUR"}))]),
        written_at: Some(Utc::now()),
        version: 0,
    };
    let first = records.save_written_figures(&written).await.unwrap();
    assert!(matches!(
        records.save_written_figures(&written).await,
        Err(StoreError::Conflict { .. })
    ));
    let read = records
        .get_written_figures(c, DealId(3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, first);
    assert_eq!(
        read.values["k"]["value"],
        json!(1.5),
        "numbers survive the store"
    );
}

pub async fn bulk_batches_are_created_once_and_saved_by_version(
    store: Arc<dyn ItemStore>,
    ns: &str,
) {
    use domain::UserId;
    use domain::bulk::{BulkBatch, DealOutcome};
    let records = Records::new(store);
    let id = uuid::Uuid::new_v4().to_string();
    let fresh = BulkBatch::new(
        company(ns, 1),
        id.clone(),
        UserId(5),
        &[DealId(1), DealId(2)],
        Utc::now(),
    );
    let claims = futures::future::join_all((0..6).map(|_| records.create_bulk_batch(&fresh))).await;
    let won: Vec<BulkBatch> = claims.into_iter().filter_map(|c| c.unwrap().ok()).collect();
    assert_eq!(won.len(), 1, "one create wins");
    let again = records.create_bulk_batch(&fresh).await.unwrap();
    assert_eq!(again.unwrap_err().deals, fresh.deals, "the existing batch");

    let mut page = won[0].clone();
    page.merge(&[(
        DealId(1),
        DealOutcome::NotInvoiced {
            sentence: "x".into(),
        },
    )]);
    let saved = records.save_bulk_batch(&page).await.unwrap();
    assert!(matches!(
        records.save_bulk_batch(&page).await,
        Err(StoreError::Conflict { .. })
    ));
    let read = records
        .get_bulk_batch(company(ns, 1), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((read.deals, read.version), (saved.deals, saved.version));
    assert!(
        records
            .get_bulk_batch(company(ns, 2), &id)
            .await
            .unwrap()
            .is_none(),
        "another company's batch is not found"
    );
}

pub async fn links_stamp_changes_with_every_link_change(store: Arc<dyn ItemStore>, ns: &str) {
    let records = Records::new(store);
    let c = company(ns, 1);
    assert_eq!(records.links_stamp(c).await.unwrap(), None);
    let link = domain::ProductLink {
        company_id: c,
        product_id: 4,
        realm_id: "r".into(),
        item_id: "3".into(),
        item_name: "Training".into(),
        linked_by: domain::UserId(1),
        linked_at: Utc::now(),
        version: 0,
    };
    let saved = records.save_product_link(&link).await.unwrap();
    let first = records.links_stamp(c).await.unwrap().expect("stamped");
    records.save_product_link(&saved).await.unwrap();
    let second = records.links_stamp(c).await.unwrap().expect("stamped");
    assert_ne!(first, second, "an update is a change");
    records
        .delete_customer_link(c, domain::Party::Organization(1))
        .await
        .unwrap();
    let third = records.links_stamp(c).await.unwrap().expect("stamped");
    assert_ne!(second, third, "an unlink is a change");
    assert_eq!(
        records.links_stamp(company(ns, 2)).await.unwrap(),
        None,
        "per company"
    );
}
