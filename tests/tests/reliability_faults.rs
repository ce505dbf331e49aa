//! The fault-injection run: a scripted scenario of 200 invoice creations and actions by several
//! users of two companies (on two QuickBooks realms) while the simulators inject 10 % 5xx, 5 %
//! timeouts, 5 % 429s on every QuickBooks and Pipedrive API and token endpoint, and access tokens
//! expire along the way. The client behaves like the panel: it retries a failed request with the
//! same `Idempotency-Key` while the answer says it may.
//!
//! Afterwards: every created invoice has exactly one link, every link points to an invoice that
//! exists in QuickBooks, QuickBooks holds no duplicate invoice or customer, every failed request
//! got a clear retryable problem (`retryable: true`, or 429 with `Retry-After`), and a final sync
//! (after changes made "in the QuickBooks UI") brings every link's status to the truth. The
//! counts are written to `target/reliability/faults.json`.
//!
//! The app's upstream timeout is shortened to 1 s for this run (deployed: 8 s) so the injected
//! timeouts — requests the simulator never answers — cost seconds, not minutes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use integration_tests::*;
use rust_decimal::Decimal;
use sandbox::harness::FaultSpec;
use serde_json::{Value, json};
use shared::domain::links::today_in;
use shared::domain::status::invoice_status;
use shared::domain::{CompanyId, InvoiceStatus};
use test_world::*;
use tokio::sync::Mutex;

/// Attempts a client makes per request before giving up.
const MAX_ATTEMPTS: usize = 25;
/// Deleted invoices per deal in the script. A refresh re-reads every deleted invoice of the deal
/// with a call of its own (`shared::app::sync::fetch_invoices` → `deleted_stub`), so under 20 %
/// faults a deal with many deleted invoices fails most refreshes (reported to the owners); the
/// script keeps deletions to what a real deal sees.
const MAX_DELETES_PER_DEAL: usize = 3;
/// Operations in the scripted scenario.
const OPERATIONS: usize = 200;

const FAULTS: FaultSpec = FaultSpec {
    error_rate: 0.10,
    timeout_rate: 0.05,
    drop_rate: 0.0,
    throttle_rate: 0.05,
    force_429: 0,
    force_500: 0,
};

#[derive(Default)]
struct Counters {
    requests: AtomicUsize,
    retries: AtomicUsize,
    failed_answers: AtomicUsize,
    gave_up: AtomicUsize,
    unclear: Mutex<Vec<String>>,
    by_status: Mutex<BTreeMap<u16, usize>>,
}

/// One user of one company, as the panel would act.
#[derive(Clone, Copy)]
struct Actor {
    company: u64,
    user: u64,
    deal: u64,
}

/// Sends a request until it succeeds or the answer is not retryable; every failed answer must be
/// a clear retryable problem. Returns the last answer.
async fn with_retries(
    w: &World,
    counters: &Counters,
    method: &str,
    path: &str,
    who: (u64, u64),
    body: Option<&Value>,
    key: Option<&str>,
) -> Answer {
    let mut last = None;
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            counters.retries.fetch_add(1, Ordering::SeqCst);
        }
        counters.requests.fetch_add(1, Ordering::SeqCst);
        let a = w.call(method, path, who, body, key).await;
        *counters.by_status.lock().await.entry(a.status).or_default() += 1;
        if a.status < 400 {
            return a;
        }
        counters.failed_answers.fetch_add(1, Ordering::SeqCst);
        let retryable = a.json["retryable"] == json!(true)
            || (a.status == 429 && a.retry_after.is_some())
            // Another attempt with this key is still running (a timed-out first attempt):
            // a 409 that says to try again, like the panel shows it.
            || (a.status == 409 && a.detail().contains("Try again"));
        let clear = a.is_problem() && a.detail().len() >= 10;
        if !(retryable && clear) {
            counters.unclear.lock().await.push(format!(
                "{method} {path} (attempt {attempt}): {} {} {}",
                a.status, a.content_type, a.text
            ));
            return a;
        }
        last = Some(a);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    counters.gave_up.fetch_add(1, Ordering::SeqCst);
    let last = last.expect("at least one attempt");
    println!(
        "gave up after {MAX_ATTEMPTS} attempts: {method} {path}: {} {}",
        last.status, last.text
    );
    last
}

/// Company A (GB realm, deal 2) and company B (US realm, deal 1) ready to invoice, with two
/// users each.
async fn world() -> World {
    let w = full_world()
        .serving(invoicing_router)
        .upstream_timeout(Duration::from_secs(1))
        .start()
        .await;
    w.connect(COMPANY_A, USER_A_ADMIN, GB_REALM).await;
    w.install(COMPANY_A, USER_A_MEMBER, false).await;
    w.connect(COMPANY_B, USER_B_ADMIN, US_REALM).await;
    w.install(COMPANY_B, USER_B_MEMBER, false).await;
    w.link_item((COMPANY_A, USER_A_ADMIN), 4, "3").await;
    w.link_item((COMPANY_A, USER_A_ADMIN), 1, "2").await;
    w.link_item((COMPANY_B, USER_B_ADMIN), 1, "4").await;
    w.link_item((COMPANY_B, USER_B_ADMIN), 2, "2").await;
    w
}

fn inject(w: &World) {
    for prefix in ["/v3/company/", "/oauth2/v1/tokens/bearer"] {
        w.quickbooks.harness().set_fault(prefix, FAULTS);
    }
    for prefix in ["/api/", "/v1/", "/oauth/token"] {
        w.pipedrive.harness().set_fault(prefix, FAULTS);
    }
    w.quickbooks.harness().seed_faults(0x5EED_0001);
    w.pipedrive.harness().seed_faults(0x5EED_0002);
}

fn faults_injected(w: &World) -> (usize, usize, usize) {
    // Requests the simulators answered with an injected fault: 5xx and 429 answers carry the
    // status; timeouts are logged with status 0.
    let mut errors = 0;
    let mut timeouts = 0;
    let mut throttles = 0;
    for r in w
        .quickbooks
        .harness()
        .requests()
        .into_iter()
        .chain(w.pipedrive.harness().requests())
    {
        match r.status {
            0 => timeouts += 1,
            429 => throttles += 1,
            s if s >= 500 => errors += 1,
            _ => {}
        }
    }
    (errors, timeouts, throttles)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_operations_under_faults_lose_nothing_and_duplicate_nothing() {
    let started = Instant::now();
    let w = world().await;
    let counters = Counters::default();
    let actors = [
        Actor {
            company: COMPANY_A,
            user: USER_A_ADMIN,
            deal: 2,
        },
        Actor {
            company: COMPANY_A,
            user: USER_A_MEMBER,
            deal: 2,
        },
        Actor {
            company: COMPANY_B,
            user: USER_B_ADMIN,
            deal: 1,
        },
        Actor {
            company: COMPANY_B,
            user: USER_B_MEMBER,
            deal: 1,
        },
    ];
    w.quickbooks.harness().clear_log();
    w.pipedrive.harness().clear_log();
    inject(&w);

    // Customers under faults: A links an existing one, B creates one (the key makes it once).
    let a = with_retries(
        &w,
        &counters,
        "PUT",
        "/api/deals/2/customer-link",
        (COMPANY_A, USER_A_ADMIN),
        Some(&json!({"customer_id": "1", "update_customer": false})),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let b = with_retries(
        &w,
        &counters,
        "POST",
        "/api/quickbooks/customers",
        (COMPANY_B, USER_B_ADMIN),
        Some(&json!({"deal_id": 1, "display_name": "Bolt Freight Co.", "email": "riley@bolt-freight.example"})),
        Some("fault-run-customer-b"),
    )
    .await;
    assert_eq!(b.status, 201, "{}", b.text);

    // The forms (drafts read under faults too).
    let mut forms = BTreeMap::new();
    for actor in [actors[0], actors[2]] {
        let d = with_retries(
            &w,
            &counters,
            "GET",
            &format!("/api/deals/{}/draft", actor.deal),
            (actor.company, actor.user),
            None,
            None,
        )
        .await;
        assert_eq!(d.status, 200, "{}", d.text);
        assert_eq!(d.json["problems"], json!([]), "{:#}", d.json);
        // Invoice after invoice of the same deal, knowingly: no "create another?" question.
        let mut form = d.json["form"].clone();
        form["confirm_duplicate"] = json!(true);
        forms.insert(actor.company, form);
    }

    // The script: per company, 100 operations — mostly creates, then actions on what was created.
    // Two companies run concurrently; within a company the users take turns.
    let created: Mutex<Vec<(u64, String, String)>> = Mutex::new(Vec::new()); // (company, key, id)
    let failed_ops = AtomicUsize::new(0);
    let ops_done = AtomicUsize::new(0);
    let run_company = |company: u64| {
        let w = &w;
        let counters = &counters;
        let created = &created;
        let failed_ops = &failed_ops;
        let ops_done = &ops_done;
        let form = forms[&company].clone();
        let mine: Vec<Actor> = actors
            .iter()
            .copied()
            .filter(|a| a.company == company)
            .collect();
        async move {
            let mut invoices: Vec<String> = Vec::new();
            let mut terminal: BTreeSet<String> = BTreeSet::new();
            let mut deletes = 0;
            for op in 0..OPERATIONS / 2 {
                let actor = mine[op % mine.len()];
                let who = (actor.company, actor.user);
                let deal = actor.deal;
                if op % 25 == 12 {
                    // Token expiries: ours (the vault) and Pipedrive's (server side).
                    w.expire_tokens(company).await;
                    w.pipedrive.expire_access_tokens(company, actor.user);
                }
                // 60 % creates; the rest cycles through the actions.
                let kind = if op % 5 < 3 || invoices.is_empty() {
                    "create"
                } else {
                    match ["send", "pdf", "refresh", "void", "delete", "list"][op % 6] {
                        "delete" if deletes >= MAX_DELETES_PER_DEAL => "list",
                        "delete" => {
                            deletes += 1;
                            "delete"
                        }
                        other => other,
                    }
                };
                let open: Vec<&String> =
                    invoices.iter().filter(|i| !terminal.contains(*i)).collect();
                let target = open.get(op % open.len().max(1)).map(|s| s.to_string());
                let answer = match (kind, target) {
                    ("create", _) => {
                        let key = format!("fault-run-{company}-{op}");
                        let a = with_retries(
                            w,
                            counters,
                            "POST",
                            &format!("/api/deals/{deal}/invoices"),
                            who,
                            Some(&form),
                            Some(&key),
                        )
                        .await;
                        if a.status == 201 {
                            let id = a.json["invoice"]["id"].as_str().unwrap().to_string();
                            invoices.push(id.clone());
                            created.lock().await.push((company, key, id));
                        }
                        a
                    }
                    ("send", Some(id)) => {
                        with_retries(
                            w,
                            counters,
                            "POST",
                            &format!("/api/deals/{deal}/invoices/{id}/send"),
                            who,
                            Some(&json!({"to": "billing@example.com"})),
                            None,
                        )
                        .await
                    }
                    ("pdf", Some(id)) => {
                        with_retries(
                            w,
                            counters,
                            "GET",
                            &format!("/api/deals/{deal}/invoices/{id}/pdf"),
                            who,
                            None,
                            None,
                        )
                        .await
                    }
                    ("void" | "delete", Some(id)) => {
                        terminal.insert(id.clone());
                        with_retries(
                            w,
                            counters,
                            "POST",
                            &format!("/api/deals/{deal}/invoices/{id}/{kind}"),
                            who,
                            Some(&json!({"confirm": true})),
                            None,
                        )
                        .await
                    }
                    ("refresh", _) => {
                        with_retries(
                            w,
                            counters,
                            "POST",
                            &format!("/api/deals/{deal}/invoices/refresh"),
                            who,
                            None,
                            None,
                        )
                        .await
                    }
                    _ => {
                        with_retries(
                            w,
                            counters,
                            "GET",
                            &format!("/api/deals/{deal}/invoices"),
                            who,
                            None,
                            None,
                        )
                        .await
                    }
                };
                ops_done.fetch_add(1, Ordering::SeqCst);
                if answer.status >= 400 {
                    failed_ops.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    };
    futures::join!(run_company(COMPANY_A), run_company(COMPANY_B));
    let (errors, timeouts, throttles) = faults_injected(&w);
    // Refreshes the expiries caused (each answered or faulted by the token endpoints).
    let token_calls = w
        .quickbooks
        .harness()
        .requests_matching(Some("POST"), "/oauth2/v1/tokens/bearer")
        .len()
        + w.pipedrive
            .harness()
            .requests_matching(Some("POST"), "/oauth/token")
            .len();
    w.quickbooks.harness().clear_faults();
    w.pipedrive.harness().clear_faults();
    let scenario_secs = started.elapsed().as_secs_f64();

    // --- Every failed answer was a clear retryable problem; every operation got through ---
    let unclear = counters.unclear.lock().await.clone();
    assert!(
        unclear.is_empty(),
        "answers that were neither a success nor a clear retryable problem:\n{}",
        unclear.join("\n")
    );
    assert_eq!(
        counters.gave_up.load(Ordering::SeqCst),
        0,
        "no request needed more than {MAX_ATTEMPTS} attempts"
    );
    assert_eq!(failed_ops.load(Ordering::SeqCst), 0);
    assert_eq!(ops_done.load(Ordering::SeqCst), OPERATIONS);
    assert!(token_calls > 0, "the expired tokens were refreshed");
    assert!(
        errors > 0 && timeouts > 0 && throttles > 0,
        "faults were injected: {errors} 5xx, {timeouts} timeouts, {throttles} 429s"
    );

    // --- Exactly one link per created invoice; every link points to an existing invoice ---
    let created = created.lock().await.clone();
    let ids: BTreeSet<(u64, String)> = created.iter().map(|(c, _, id)| (*c, id.clone())).collect();
    assert_eq!(
        ids.len(),
        created.len(),
        "every key created its own invoice (no two keys share one)"
    );
    for (company, realm) in [(COMPANY_A, GB_REALM), (COMPANY_B, US_REALM)] {
        let links: Vec<(String, Value)> = w
            .records(company)
            .await
            .into_iter()
            .filter(|(sk, _)| sk.contains("#INVOICE#"))
            .collect();
        let mut per_invoice: BTreeMap<String, usize> = BTreeMap::new();
        for (_, data) in &links {
            *per_invoice
                .entry(data["invoice_id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        let mine: BTreeSet<String> = created
            .iter()
            .filter(|(c, _, _)| *c == company)
            .map(|(_, _, id)| id.clone())
            .collect();
        for id in &mine {
            assert_eq!(
                per_invoice.get(id),
                Some(&1),
                "invoice {id} of {company} has exactly one link"
            );
        }
        assert_eq!(
            per_invoice.keys().cloned().collect::<BTreeSet<_>>(),
            mine,
            "no link without a created invoice"
        );
        let in_quickbooks: BTreeSet<String> = w
            .quickbooks
            .invoices(realm)
            .unwrap()
            .into_iter()
            .filter_map(|i| i.id)
            .chain(w.quickbooks.deleted_invoice_ids(realm).unwrap())
            .collect();
        for id in per_invoice.keys() {
            assert!(
                in_quickbooks.contains(id),
                "link to {id} points to an invoice QuickBooks has"
            );
        }
        // No duplicate invoices: QuickBooks holds exactly the invoices the keys created.
        assert_eq!(
            in_quickbooks, mine,
            "QuickBooks holds one invoice per key in {realm}"
        );
    }
    let bolt: Vec<_> = w
        .quickbooks
        .customers(US_REALM)
        .unwrap()
        .into_iter()
        .filter(|c| c.display_name.as_deref() == Some("Bolt Freight Co."))
        .collect();
    assert_eq!(
        bolt.len(),
        1,
        "the customer created under faults exists once"
    );
    for realm in [US_REALM, GB_REALM] {
        let names: Vec<String> = w
            .quickbooks
            .customers(realm)
            .unwrap()
            .into_iter()
            .filter_map(|c| c.display_name)
            .collect();
        let unique: BTreeSet<&String> = names.iter().collect();
        assert_eq!(
            unique.len(),
            names.len(),
            "no duplicate customer names in {realm}"
        );
    }

    // --- Changes "in the QuickBooks UI", then a final sync brings every status to the truth ---
    let mut changed = 0;
    for (company, realm) in [(COMPANY_A, GB_REALM), (COMPANY_B, US_REALM)] {
        let open: Vec<String> = w
            .quickbooks
            .invoices(realm)
            .unwrap()
            .into_iter()
            .filter(|i| {
                i.balance.unwrap_or(Decimal::ZERO) > Decimal::ZERO
                    && i.total_amt.unwrap_or(Decimal::ZERO) > Decimal::ZERO
            })
            .filter_map(|i| i.id)
            .collect();
        assert!(open.len() >= 4, "{company} has open invoices to change");
        w.quickbooks.record_payment(realm, &open[0], None).unwrap();
        let half = w
            .quickbooks
            .invoice(realm, &open[1])
            .unwrap()
            .balance
            .unwrap()
            / Decimal::TWO;
        w.quickbooks
            .record_payment(realm, &open[1], Some(half))
            .unwrap();
        w.quickbooks.void_invoice(realm, &open[2]).unwrap();
        w.quickbooks.delete_invoice(realm, &open[3]).unwrap();
        changed += 4;
    }
    w.quickbooks.advance_clock(60);
    for company in [COMPANY_A, COMPANY_B] {
        let outcome = status_sync::company::sync_company(
            &w.app,
            CompanyId(company),
            Utc::now() + chrono::Duration::seconds(60),
        )
        .await
        .unwrap();
        assert!(
            matches!(outcome, status_sync::company::CompanyOutcome::Synced(_)),
            "{company}: {outcome:?}"
        );
    }
    let mut checked = 0;
    for (company, realm) in [(COMPANY_A, GB_REALM), (COMPANY_B, US_REALM)] {
        let deleted: BTreeSet<String> = w
            .quickbooks
            .deleted_invoice_ids(realm)
            .unwrap()
            .into_iter()
            .collect();
        let profile = w.profile(company).await;
        let today = today_in(&profile.time_zone, Utc::now());
        for (sk, data) in w.records(company).await {
            if !sk.contains("#INVOICE#") {
                continue;
            }
            let id = data["invoice_id"].as_str().unwrap().to_string();
            let stored: InvoiceStatus = serde_json::from_value(data["status"].clone()).unwrap();
            let truth = if deleted.contains(&id) {
                InvoiceStatus::Deleted
            } else {
                let invoice = w.quickbooks.invoice(realm, &id).unwrap();
                let total: Option<Decimal> = serde_json::from_value(data["total"].clone()).ok();
                invoice_status(&invoice, total, today)
            };
            assert_eq!(stored, truth, "link {sk} of {company} after the final sync");
            checked += 1;
        }
    }

    let (requests, retries) = (
        counters.requests.load(Ordering::SeqCst),
        counters.retries.load(Ordering::SeqCst),
    );
    println!(
        "fault run: {OPERATIONS} operations, {requests} requests, {retries} retries, faults injected: {errors} 5xx + {timeouts} timeouts + {throttles} 429s, {} invoices created, {checked} links checked after the final sync, {:.1} s",
        created.len(),
        scenario_secs
    );
    write_counts(
        "faults",
        json!({
            "operations": OPERATIONS,
            "companies": 2,
            "users": actors.len(),
            "requests": requests,
            "retries": retries,
            "failed_answers": counters.failed_answers.load(Ordering::SeqCst),
            "answers_by_status": *counters.by_status.lock().await,
            "faults_injected": errors + timeouts + throttles,
            "faults": {"server_errors": errors, "timeouts": timeouts, "throttled": throttles},
            "token_expiries": 2 * (OPERATIONS / 2).div_ceil(25),
            "token_endpoint_calls": token_calls,
            "invoices_created": created.len(),
            "changed_in_quickbooks_ui": changed,
            "links_checked_after_sync": checked,
            "scenario_seconds": (scenario_secs * 10.0).round() / 10.0,
        }),
    );
}
