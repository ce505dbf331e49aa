//! The deal's billing progress in the panel's list: read from the parts the stored links
//! record, paid as each invoice's paid share, and a part voided in QuickBooks back in "left to
//! invoice" after a refresh.

mod support;

use rust_decimal_macros::dec;
use shared::domain::progress::{BillingRecord, PartKind};
use support::*;

#[tokio::test]
async fn the_list_carries_the_deals_billing_progress_from_the_stored_parts() {
    let w = standard().await;
    let (deposit, deposit_link) = w.acme_invoice(dec!(300)).await;
    let (second, second_link) = w.acme_invoice(dec!(200)).await;
    // Two parts of a deal worth 1,000.01 (as the create records them).
    for (link, amount) in [(deposit_link, dec!(300)), (second_link, dec!(200))] {
        let mut with = link.clone();
        with.billing = Some(BillingRecord {
            kind: PartKind::Amount,
            percent: None,
            amount,
            whole: dec!(1000.01),
            estimate_id: None,
        });
        w.app.records.save_invoice_link(&with).await.unwrap();
    }
    w.quickbooks
        .record_payment(US_REALM, second.id.as_deref().unwrap(), Some(dec!(50)))
        .unwrap();
    w.a("POST", "/invoices/refresh", None).await;
    let r = w.a("GET", "/invoices", None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let progress = &r.json["progress"][0];
    assert_eq!(progress["currency"], "USD");
    assert_eq!(dec_of(&progress["deal_value"]), dec!(1000.01));
    assert_eq!(dec_of(&progress["invoiced"]), dec!(500));
    assert_eq!(dec_of(&progress["paid"]), dec!(50));
    assert_eq!(dec_of(&progress["left"]), dec!(500.01));
    assert_eq!(progress["invoices"], 2);
    let rows = r.json["invoices"].as_array().unwrap();
    assert!(
        rows.iter().all(|row| row["billing"]["kind"] == "amount"),
        "{rows:?}"
    );

    // Voided in QuickBooks: after the refresh its amount is left to invoice again.
    w.quickbooks
        .void_invoice(US_REALM, deposit.id.as_deref().unwrap())
        .unwrap();
    let r = w.a("POST", "/invoices/refresh", None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let progress = &r.json["progress"][0];
    assert_eq!(dec_of(&progress["invoiced"]), dec!(200));
    assert_eq!(dec_of(&progress["left"]), dec!(800.01));
    assert_eq!(progress["invoices"], 1);
}
