//! Write-back: the deal's invoice figures (worst-of status, invoiced, paid, outstanding, last
//! number, last payment day) in the Pipedrive deal fields the admin mapped, kept current by the
//! create, the payments QuickBooks tells of, void and delete — one deal update per changed deal
//! per event, only the values that changed, nothing for unmapped fields, and nothing once the
//! company is disconnected.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sandbox::harness::FaultSpec;
use serde_json::{Value, json};
use shared::domain::{CompanyId, DealId, InvoiceLink};
use test_world::{COMPANY_A, GB_REALM, World};

use crate::support::*;
use integration_tests::{payment_webhook, scheduled_sync};

const DEAL: u64 = 2;

fn amount(value: Option<&Value>) -> Option<Decimal> {
    let value = value?;
    let number = value.get("value").unwrap_or(value);
    Some(number.to_string().parse().unwrap())
}

/// What the simulated Pipedrive holds in the mapped fields of deal 2.
#[derive(Debug, PartialEq)]
struct Held {
    status: Option<String>,
    invoiced: Option<Decimal>,
    paid: Option<Decimal>,
    outstanding: Option<Decimal>,
    number: Option<String>,
    payment_date: Option<String>,
}

fn held(w: &World, f: &Fields) -> Held {
    let fields = deal_fields(w, DEAL);
    // The enum field's options were given ids 1.. in the order Open, Overdue, Partially paid, Paid.
    let status = fields.get(&f.status).map(|id| {
        let labels = ["Open", "Overdue", "Partially paid", "Paid"];
        labels[id.as_u64().unwrap() as usize - 1].to_string()
    });
    Held {
        status,
        invoiced: amount(fields.get(&f.invoiced)),
        paid: amount(fields.get(&f.paid)),
        outstanding: amount(fields.get(&f.outstanding)),
        number: fields
            .get(&f.number)
            .map(|v| v.as_str().unwrap().to_string()),
        payment_date: fields
            .get(&f.payment_date)
            .map(|v| v.as_str().unwrap().to_string()),
    }
}

/// Creates an invoice on deal 2 from its ready draft (a second one is confirmed as wanted): its
/// id, number and total in QuickBooks.
async fn create(w: &World, key: &str) -> (String, String, Decimal) {
    let mut form = w.ready_draft(A, DEAL).await["form"].clone();
    form["confirm_duplicate"] = json!(true);
    let path = format!("/api/deals/{DEAL}/invoices");
    let created = w.call("POST", &path, A, Some(&form), Some(key)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["invoice"]["id"].as_str().unwrap().to_string();
    let invoice = w.qb_invoice(GB_REALM, &id);
    (id, invoice.doc_number.unwrap(), invoice.total_amt.unwrap())
}

async fn act(w: &World, action: &str, invoice: &str) {
    let path = format!("/api/deals/{DEAL}/invoices/{invoice}/{action}");
    let answer = w
        .call("POST", &path, A, Some(&json!({"confirm": true})), None)
        .await;
    assert_eq!(answer.status, 200, "{action}: {}", answer.text);
}

async fn links(w: &World) -> Vec<InvoiceLink> {
    w.app
        .records
        .all_deal_invoice_links(CompanyId(COMPANY_A), DealId(DEAL))
        .await
        .unwrap()
}

/// The updates since `from`: each for deal 2, each with the changed mapped fields only.
fn updates(w: &World, from: usize) -> Vec<Value> {
    updates_since(w, from)
        .into_iter()
        .map(|(deal, body)| {
            assert_eq!(deal, DEAL, "{body}");
            let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
            assert_eq!(keys, vec!["custom_fields"], "{body}");
            body["custom_fields"].clone()
        })
        .collect()
}

fn keys(update: &Value) -> Vec<String> {
    let mut keys: Vec<String> = update.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

fn sorted(keys: &[&String]) -> Vec<String> {
    let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    keys.sort();
    keys
}

#[tokio::test]
// Long function: one journey, each event followed by what Pipedrive holds and received.
async fn mapped_deal_fields_follow_create_payments_void_and_delete() {
    let w = world().await;
    // Deal 2 ready to invoice: its organization and products linked.
    w.link_customer(A, DEAL, "1").await;
    w.link_item(A, 4, "3").await;
    w.link_item(A, 1, "2").await;
    let f = map_fields(&w).await;

    // Create: every mapped figure but the payment day (none yet).
    let seen = w.pipedrive.deal_updates().len();
    let (x, x_number, total) = create(&w, "write-back-x").await;
    let sent = updates(&w, seen);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        keys(&sent[0]),
        sorted(&[&f.status, &f.invoiced, &f.paid, &f.outstanding, &f.number])
    );
    let mut expected = Held {
        status: Some("Open".into()),
        invoiced: Some(total),
        paid: Some(dec!(0)),
        outstanding: Some(total),
        number: Some(x_number.clone()),
        payment_date: None,
    };
    assert_eq!(held(&w, &f), expected);
    assert_eq!(
        deal_fields(&w, DEAL).get(&f.invoiced).unwrap()["currency"],
        json!("GBP"),
        "a monetary field gets the invoice's currency"
    );

    // A second invoice: the amounts and the number change, the status does not.
    let seen = w.pipedrive.deal_updates().len();
    let (y, y_number, _) = create(&w, "write-back-y").await;
    let sent = updates(&w, seen);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        keys(&sent[0]),
        sorted(&[&f.invoiced, &f.outstanding, &f.number])
    );
    expected.invoiced = Some(total * dec!(2));
    expected.outstanding = Some(total * dec!(2));
    expected.number = Some(y_number.clone());
    assert_eq!(held(&w, &f), expected);

    // A partial payment on X, told by webhook: worst-of is Partially paid.
    let seen = w.pipedrive.deal_updates().len();
    let part = dec!(10.50);
    let payment = w
        .quickbooks
        .record_payment(GB_REALM, &x, Some(part))
        .unwrap();
    payment_webhook(&w, GB_REALM, payment.id.as_deref().unwrap(), 1).await;
    let sent = updates(&w, seen);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let paid_day = links(&w)
        .await
        .into_iter()
        .find(|l| l.invoice_id == x)
        .unwrap()
        .last_payment_date
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    expected.status = Some("Partially paid".into());
    expected.paid = Some(part);
    expected.outstanding = Some(total * dec!(2) - part);
    expected.payment_date = Some(paid_day);
    assert_eq!(held(&w, &f), expected);

    // The same news again, a refresh and a scheduled run: nothing changed, nothing sent.
    let seen = w.pipedrive.deal_updates().len();
    payment_webhook(&w, GB_REALM, payment.id.as_deref().unwrap(), 2).await;
    let refresh = format!("/api/deals/{DEAL}/invoices/refresh");
    let refreshed = w.call("POST", &refresh, A, None, None).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    scheduled_sync(&w).await;
    assert_eq!(updates(&w, seen), Vec::<Value>::new());

    // X paid in full: X Paid and Y Open make the deal Open.
    let payment = w.quickbooks.record_payment(GB_REALM, &x, None).unwrap();
    payment_webhook(&w, GB_REALM, payment.id.as_deref().unwrap(), 3).await;
    let sent = updates(&w, seen);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        keys(&sent[0]),
        sorted(&[&f.status, &f.paid, &f.outstanding])
    );
    expected.status = Some("Open".into());
    expected.paid = Some(total);
    expected.outstanding = Some(total);
    assert_eq!(held(&w, &f), expected);

    // Y voided: only X counts (Paid); a voided invoice keeps its number in QuickBooks.
    let seen = w.pipedrive.deal_updates().len();
    act(&w, "void", &y).await;
    let sent = updates(&w, seen);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        keys(&sent[0]),
        sorted(&[&f.status, &f.invoiced, &f.outstanding])
    );
    expected.status = Some("Paid".into());
    expected.invoiced = Some(total);
    expected.outstanding = Some(dec!(0));
    assert_eq!(held(&w, &f), expected);

    // Z created then deleted: the figures come back to what they were, the number to Y's.
    let (z, z_number, _) = create(&w, "write-back-z").await;
    assert_eq!(held(&w, &f).number, Some(z_number));
    let seen = w.pipedrive.deal_updates().len();
    act(&w, "delete", &z).await;
    let sent = updates(&w, seen);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        keys(&sent[0]),
        sorted(&[&f.status, &f.invoiced, &f.outstanding, &f.number])
    );
    expected.number = Some(y_number);
    assert_eq!(held(&w, &f), expected);
    assert_ne!(expected.number, Some(x_number));

    // Every update named mapped fields only: the unmapped "Region" was never written.
    let mapped = [
        &f.status,
        &f.invoiced,
        &f.paid,
        &f.outstanding,
        &f.number,
        &f.payment_date,
    ];
    for (_, body) in w.pipedrive.deal_updates() {
        for key in body["custom_fields"].as_object().unwrap().keys() {
            assert!(mapped.contains(&key), "{key} is not mapped: {body}");
        }
    }
}

#[tokio::test]
async fn an_unmapped_figure_is_never_written_and_a_disconnected_company_writes_nothing() {
    let w = world().await;
    let f = add_fields(&w);
    let saved = save_write_back(&w, json!({"invoiced": {"key": f.invoiced}})).await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    let (_, created) = integration_tests::invoice_deal_2_of_a(&w, "write-back-one-field").await;
    let x = created.json["invoice"]["id"].as_str().unwrap().to_string();
    let sent = updates(&w, 0);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(keys(&sent[0]), vec![f.invoiced.clone()]);

    // Disconnected: a payment QuickBooks tells of and a scheduled run write nothing.
    let (status, body) = w.api("POST", "/api/quickbooks/disconnect", A.0, A.1).await;
    assert_eq!(status, 200, "{body}");
    let payment = w.quickbooks.record_payment(GB_REALM, &x, None).unwrap();
    payment_webhook(&w, GB_REALM, payment.id.as_deref().unwrap(), 4).await;
    scheduled_sync(&w).await;
    assert_eq!(w.pipedrive.deal_updates().len(), 1);
}

#[tokio::test]
async fn a_field_of_the_wrong_type_or_an_unknown_field_is_refused_with_a_sentence() {
    let w = world().await;
    let f = add_fields(&w);
    let refused = save_write_back(
        &w,
        json!({"paid": {"key": f.number}, "status": {"key": "0123456789012345678901234567890123456789"}}),
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    let text = refused.text;
    assert!(text.contains("settings.write_back.paid"), "{text}");
    assert!(text.contains("cannot hold the amount paid"), "{text}");
    assert!(text.contains("settings.write_back.status"), "{text}");
    assert!(
        text.contains("There is no such custom deal field"),
        "{text}"
    );
    assert!(
        !text.contains("0123456789012345678901234567890123456789"),
        "{text}"
    );
    // Saved and shown as mapped, with the field's type filled in.
    let saved = save_write_back(&w, json!({"paid": {"key": f.paid}})).await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    let shown = w.call("GET", "/api/settings", A, None, None).await.json;
    assert_eq!(
        shown["settings"]["write_back"],
        json!({"paid": {"key": f.paid, "field_type": "monetary"}})
    );
}

#[tokio::test]
async fn a_refused_update_is_told_on_the_deal_and_made_by_the_next_refresh() {
    let w = world().await;
    w.link_customer(A, DEAL, "1").await;
    w.link_item(A, 4, "3").await;
    w.link_item(A, 1, "2").await;
    let f = map_fields(&w).await;
    let (x, _, total) = create(&w, "write-back-refused").await;
    assert_eq!(w.pipedrive.deal_updates().len(), 1);

    // Pipedrive fails the deal update of the payment's news.
    let deal_path = format!("/api/v2/deals/{DEAL}");
    let fault = FaultSpec {
        force_500: 5,
        ..FaultSpec::default()
    };
    w.pipedrive.harness().set_fault(deal_path.as_str(), fault);
    let payment = w.quickbooks.record_payment(GB_REALM, &x, None).unwrap();
    payment_webhook(&w, GB_REALM, payment.id.as_deref().unwrap(), 5).await;
    w.pipedrive.harness().clear_faults();
    assert_eq!(w.pipedrive.deal_updates().len(), 1, "refused");
    assert_eq!(held(&w, &f).status, Some("Open".into()));
    let log = w.activity(COMPANY_A, DEAL).await;
    let told: Vec<_> = log.iter().filter(|e| e.kind == "fields.failed").collect();
    assert_eq!(told.len(), 1, "{log:#?}");
    assert!(
        told[0]
            .message
            .contains("could not be updated in Pipedrive"),
        "{told:?}"
    );

    // The panel's refresh finds nothing new in QuickBooks, yet brings the fields up to date.
    let refresh = format!("/api/deals/{DEAL}/invoices/refresh");
    let refreshed = w.call("POST", &refresh, A, None, None).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert_eq!(w.pipedrive.deal_updates().len(), 2);
    assert_eq!(held(&w, &f).status, Some("Paid".into()));
    assert_eq!(held(&w, &f).outstanding, Some(dec!(0)));
    assert_eq!(held(&w, &f).paid, Some(total));
    // And once current, a refresh sends nothing.
    let again = w.call("POST", &refresh, A, None, None).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(w.pipedrive.deal_updates().len(), 2);
}

#[tokio::test]
async fn linking_and_unlinking_an_invoice_of_the_customer_updates_the_fields_once_each() {
    let w = world().await;
    w.link_customer(A, DEAL, "1").await;
    let f = map_fields(&w).await;
    let invoice = w.create_invoice(GB_REALM, "1", dec!(75)).await;
    let id = invoice.id.clone().unwrap();
    // 75 and the realm's VAT.
    let total = invoice.total_amt.unwrap();
    let path = format!("/api/deals/{DEAL}/invoice-links/{id}");

    let linked = w.call("PUT", &path, A, None, None).await;
    assert_eq!(linked.status, 201, "{}", linked.text);
    let again = w.call("PUT", &path, A, None, None).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(updates(&w, 0).len(), 1, "linked once, written once");
    assert_eq!(
        held(&w, &f),
        Held {
            status: Some("Open".into()),
            invoiced: Some(total),
            paid: Some(dec!(0)),
            outstanding: Some(total),
            number: invoice.doc_number.clone(),
            payment_date: None,
        }
    );

    let unlinked = w.call("DELETE", &path, A, None, None).await;
    assert_eq!(unlinked.status, 200, "{}", unlinked.text);
    let sent = updates(&w, 1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].as_object().unwrap().values().all(Value::is_null),
        "no invoice left: the fields are cleared: {sent:?}"
    );
    assert_eq!(
        held(&w, &f),
        Held {
            status: None,
            invoiced: None,
            paid: None,
            outstanding: None,
            number: None,
            payment_date: None,
        }
    );
}

#[tokio::test]
async fn the_scheduled_runs_overdue_pass_writes_the_status_once() {
    let w = world().await;
    w.link_customer(A, DEAL, "1").await;
    w.link_item(A, 4, "3").await;
    w.link_item(A, 1, "2").await;
    let f = map_fields(&w).await;
    create(&w, "write-back-overdue").await;
    assert_eq!(updates(&w, 0).len(), 1);
    // Past the due date (Pipedrive's tokens still valid: they lapse after 60 days unused): the
    // next scheduled run marks the invoice Overdue.
    w.advance(20 * 86_400);
    scheduled_sync(&w).await;
    let sent = updates(&w, 1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(keys(&sent[0]), vec![f.status.clone()]);
    assert_eq!(held(&w, &f).status, Some("Overdue".into()));
    // The next run changes nothing.
    w.advance(3600);
    scheduled_sync(&w).await;
    assert_eq!(updates(&w, 2), Vec::<Value>::new());
}
