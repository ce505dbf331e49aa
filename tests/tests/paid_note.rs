//! A status change means the same whoever notices it first (issue 20, "side effects of a status
//! change"): when an invoice becomes Paid in QuickBooks, the deal gets its note on Paid exactly
//! once and one log line for the change — whether the webhook, the scheduled sync, the panel's
//! refresh or an action's answer sees it first, and when several of them race.

use integration_tests::{payment_webhook, scheduled_sync};
use rust_decimal_macros::dec;
use serde_json::json;
use shared::domain::{ActivityEvent, InvoiceLink, InvoiceStatus};
use test_world::{COMPANY_A, US_REALM, USER_A_ADMIN, World};

const DEAL: u64 = 1;

/// How Paid may first be noticed.
#[derive(Debug, Clone, Copy)]
enum Path {
    Webhook,
    Sync,
    Refresh,
    /// A void refused because the invoice is paid: the action's answer reads it.
    RefusedVoid,
}

const PATHS: [Path; 4] = [Path::Webhook, Path::Sync, Path::Refresh, Path::RefusedVoid];

/// A world serving invoice-actions, with company A connected, the note on Paid wanted, and one
/// invoice on the deal paid in full in QuickBooks (nobody has noticed yet).
async fn paid_unnoticed() -> (World, InvoiceLink, String) {
    let w = World::builder()
        .serving(|app| shared::web::http::finish(invoice_actions::router(app.clone())))
        .start()
        .await;
    w.connect(COMPANY_A, USER_A_ADMIN, US_REALM).await;
    let mut profile = w.profile(COMPANY_A).await;
    profile.settings.note_on_paid = true;
    w.app.records.save_company(&profile).await.unwrap();
    let (invoice, link) = w
        .invoice_on_deal(COMPANY_A, DEAL, US_REALM, dec!(120))
        .await;
    let id = invoice.id.clone().unwrap();
    let payment = w.quickbooks.record_payment(US_REALM, &id, None).unwrap();
    (w, link, payment.id.unwrap())
}

async fn notice(w: &World, link: &InvoiceLink, payment: &str, path: Path, nonce: u32) {
    let who = (COMPANY_A, USER_A_ADMIN);
    match path {
        Path::Webhook => payment_webhook(w, US_REALM, payment, nonce).await,
        Path::Sync => scheduled_sync(w).await,
        Path::Refresh => {
            let answer = w
                .call(
                    "POST",
                    &format!("/api/deals/{DEAL}/invoices/refresh"),
                    who,
                    None,
                    None,
                )
                .await;
            assert_eq!(answer.status, 200, "{}", answer.text);
        }
        Path::RefusedVoid => {
            let answer = w
                .call(
                    "POST",
                    &format!("/api/deals/{DEAL}/invoices/{}/void", link.invoice_id),
                    who,
                    Some(&json!({"confirm": true})),
                    None,
                )
                .await;
            assert_eq!(answer.status, 409, "{}", answer.text);
        }
    }
}

fn kinds(log: &[ActivityEvent], kind: &str) -> usize {
    log.iter().filter(|e| e.kind == kind).count()
}

/// The deal's log tells of the change once: a `status.changed` line, or the refresh's own line
/// naming the change.
fn change_lines(log: &[ActivityEvent]) -> usize {
    kinds(log, "status.changed")
        + log
            .iter()
            .filter(|e| e.kind == "invoices.refreshed" && e.message.contains("→ Paid"))
            .count()
}

#[tokio::test]
async fn the_note_on_paid_is_added_once_whichever_path_sees_paid_first() {
    for first in PATHS {
        let (w, link, payment) = paid_unnoticed().await;
        notice(&w, &link, &payment, first, 1).await;
        assert_eq!(
            w.link_of(&link).await.status,
            InvoiceStatus::Paid,
            "{first:?} saw Paid"
        );
        assert_eq!(w.pipedrive.notes().len(), 1, "{first:?} added the note");
        // Every other path sees it afterwards: nothing more.
        for (n, then) in PATHS.into_iter().enumerate() {
            notice(&w, &link, &payment, then, 10 + n as u32).await;
        }
        let notes = w.pipedrive.notes();
        assert_eq!(notes.len(), 1, "{first:?} first: {notes:?}");
        assert!(notes[0].note.content.contains("was paid"), "{notes:?}");
        let log = w.activity(COMPANY_A, DEAL).await;
        assert_eq!(kinds(&log, "note.added"), 1, "{first:?} first: {log:#?}");
        assert_eq!(change_lines(&log), 1, "{first:?} first: {log:#?}");
    }
}

#[tokio::test]
async fn paths_that_race_add_the_note_once() {
    for round in 0..5u32 {
        let (w, link, payment) = paid_unnoticed().await;
        futures::join!(
            notice(&w, &link, &payment, Path::Webhook, round),
            notice(&w, &link, &payment, Path::Sync, round),
            notice(&w, &link, &payment, Path::Refresh, round),
            notice(&w, &link, &payment, Path::RefusedVoid, round),
            notice(&w, &link, &payment, Path::Webhook, 30 + round),
            notice(&w, &link, &payment, Path::Refresh, round),
        );
        assert_eq!(w.link_of(&link).await.status, InvoiceStatus::Paid);
        let notes = w.pipedrive.notes();
        assert_eq!(notes.len(), 1, "round {round}: {notes:?}");
        let log = w.activity(COMPANY_A, DEAL).await;
        assert_eq!(kinds(&log, "note.added"), 1, "round {round}: {log:#?}");
        assert_eq!(change_lines(&log), 1, "round {round}: {log:#?}");
    }
}
