use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};

use super::*;
use crate::InvoiceStatus;
use quickbooks_wire::model::LinkedTxn;

const NAME: &str = "Estimate #1001";

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 12).unwrap()
}

fn at() -> (NaiveDate, DateTime<Utc>) {
    (date(), "2026-03-12T10:00:00Z".parse().unwrap())
}

/// An accepted estimate of 1,000.01 before tax: 3 × 200.00 and 1 × 400.01.
fn estimate_of(lines: Value) -> Estimate {
    serde_json::from_value(json!({
        "Id": "7", "SyncToken": "0", "DocNumber": "1001", "TxnDate": "2026-03-01",
        "TxnStatus": "Accepted", "CurrencyRef": {"value": "USD"},
        "CustomerRef": {"value": "1", "name": "Acme"}, "CustomerMemo": {"value": "Thanks"},
        "PrivateNote": "deal 2", "GlobalTaxCalculation": "TaxExcluded",
        "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "3"}, "TotalTax": 20.0},
        "Line": lines
    }))
    .unwrap()
}

fn estimate() -> Estimate {
    estimate_of(json!([
        {"Id": "1", "LineNum": 1, "Amount": 600.0, "Description": "Boxes",
         "DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": "4"}, "Qty": 3, "UnitPrice": 200,
                                 "TaxCodeRef": {"value": "TAX"}}},
        {"Id": "2", "LineNum": 2, "Amount": 400.01, "DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "Qty": 1, "UnitPrice": 400.01,
                                 "TaxCodeRef": {"value": "NON"}}},
        {"Amount": 1000.01, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
    ]))
}

fn nothing_billed() -> BillingProgress {
    BillingProgress::of("USD", Decimal::ZERO, &[])
}

fn format() -> NumberFormat {
    NumberFormat::english()
}

fn plan(
    e: &Estimate,
    part: Option<BillingPart>,
    confirm: bool,
    billed: &BillingProgress,
) -> Result<EstimatePart, PartRefusal> {
    plan_estimate_part(e, NAME, part.as_ref(), confirm, billed, date(), &format())
}

fn amounts(invoice: &Invoice) -> Vec<Decimal> {
    invoice
        .line
        .iter()
        .flatten()
        .map(|l| l.amount.unwrap())
        .collect()
}

fn percent(p: Decimal) -> Option<BillingPart> {
    Some(BillingPart::Percentage { percent: p })
}

/// What the deal's invoices bill of estimate 7 after `parts` (live ones).
fn billed_after(parts: &[&EstimatePart]) -> (Vec<BillingRecord>, BillingProgress) {
    let records: Vec<BillingRecord> = parts.iter().map(|p| p.record.clone()).collect();
    let billed: Vec<Billed> = records
        .iter()
        .map(|r| Billed {
            currency: "USD",
            status: InvoiceStatus::Open,
            total: r.amount,
            balance: r.amount,
            billing: Some(r),
            newest: at(),
        })
        .collect();
    let progress = estimate_progress("7", "USD", Decimal::ZERO, &billed);
    (records, progress)
}

#[test]
fn thirty_percent_of_an_estimate_is_its_lines_scaled_without_a_link_to_it() {
    let e = estimate();
    let deposit = plan(&e, percent(dec!(30)), false, &nothing_billed()).unwrap();
    assert_eq!(deposit.record.amount, dec!(300.00));
    assert_eq!(deposit.record.whole, dec!(1000.01));
    assert_eq!(deposit.record.kind, PartKind::Percentage);
    assert_eq!(deposit.record.estimate_id.as_deref(), Some("7"));
    // 600 × 300 / 1000.01 = 179.998…; the last line takes the rest.
    assert_eq!(amounts(&deposit.invoice), vec![dec!(180.00), dec!(120.00)]);
    assert!(!deposit.closes);
    assert_eq!(
        deposit.invoice.linked_txn, None,
        "no link before the last part"
    );
    assert_eq!(
        deposit.invoice.private_note.as_deref(),
        Some("deal 2\nPart of Estimate #1001")
    );
    let lines = deposit.invoice.line.as_ref().unwrap();
    assert_eq!(
        lines[0].description.as_deref(),
        Some("Boxes — 30 % of Estimate #1001")
    );
    assert_eq!(
        lines[1].description.as_deref(),
        Some("30 % of Estimate #1001")
    );
    let detail = lines[0].sales_item_line_detail.as_ref().unwrap();
    assert_eq!(
        (detail.qty, detail.unit_price),
        (Some(dec!(3)), Some(dec!(60)))
    );
    assert_eq!(
        detail.tax_code_ref.as_ref().unwrap().value,
        "TAX",
        "the line's own tax code"
    );
    assert!(lines.iter().all(|l| l.id.is_none() && l.line_num.is_none()));
    assert_eq!(deposit.invoice.customer_ref.as_ref().unwrap().value, "1");
    assert_eq!(deposit.invoice.currency_ref.as_ref().unwrap().value, "USD");
    assert_eq!(
        deposit.invoice.customer_memo.as_ref().unwrap().value,
        "Thanks"
    );
    assert_eq!(
        deposit.invoice.global_tax_calculation,
        e.sale.global_tax_calculation
    );
    assert_eq!(
        deposit
            .invoice
            .txn_tax_detail
            .as_ref()
            .and_then(|t| t.txn_tax_code_ref.as_ref())
            .map(|r| r.value.as_str()),
        Some("3")
    );
}

#[test]
fn after_thirty_percent_the_rest_finishes_the_estimate_exactly_and_links_it() {
    let e = estimate();
    let deposit = plan(&e, percent(dec!(30)), false, &nothing_billed()).unwrap();
    let (_, billed) = billed_after(&[&deposit]);
    assert_eq!(billed.invoiced, dec!(300.00));
    let rest = plan(&e, Some(BillingPart::Rest {}), false, &billed).unwrap();
    assert_eq!(rest.record.amount, dec!(700.01));
    assert_eq!(rest.record.kind, PartKind::Rest);
    assert!(rest.closes);
    assert_eq!(
        rest.invoice.linked_txn,
        Some(vec![LinkedTxn {
            txn_id: "7".into(),
            txn_type: "Estimate".into(),
            txn_line_id: None
        }])
    );
    assert_eq!(rest.invoice.private_note.as_deref(), Some("deal 2"));
    let sum: Decimal = amounts(&deposit.invoice)
        .into_iter()
        .chain(amounts(&rest.invoice))
        .sum();
    assert_eq!(
        sum,
        dec!(1000.01),
        "the parts add up to the estimate exactly"
    );
    assert_eq!(
        rest.invoice.line.as_ref().unwrap()[1]
            .description
            .as_deref(),
        Some("Rest of Estimate #1001")
    );

    // Nothing is left now: the rest is refused, "in full" too.
    let (_, done) = billed_after(&[&deposit, &rest]);
    for part in [Some(BillingPart::Rest {}), None] {
        match plan(&e, part, false, &done) {
            Err(PartRefusal::Invalid(e)) => {
                assert!(
                    e.message
                        .starts_with("Nothing is left to invoice of Estimate #1001"),
                    "{}",
                    e.message
                )
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn in_full_is_the_estimate_itself_and_after_a_part_it_is_the_rest() {
    let e = estimate();
    let full = plan(&e, None, false, &nothing_billed()).unwrap();
    assert_eq!(full.invoice, invoice_from_estimate(&e, date()).unwrap());
    assert_eq!(full.record, billing_of(&e));
    assert_eq!(full.record.kind, PartKind::Full);
    assert!(full.closes);
    assert_eq!(full.phrase, ALL_OF_IT);

    let deposit = plan(
        &e,
        Some(BillingPart::Amount { amount: dec!(250) }),
        false,
        &nothing_billed(),
    )
    .unwrap();
    let (_, billed) = billed_after(&[&deposit]);
    let rest = plan(&e, None, false, &billed).unwrap();
    assert_eq!(
        (rest.record.kind, rest.record.amount, rest.closes),
        (PartKind::Rest, dec!(750.01), true)
    );
}

#[test]
fn a_part_over_what_is_left_is_refused_with_what_is_left_unless_confirmed() {
    let e = estimate();
    let deposit = plan(&e, percent(dec!(30)), false, &nothing_billed()).unwrap();
    let (_, billed) = billed_after(&[&deposit]);
    let over = Some(BillingPart::Amount { amount: dec!(800) });
    match plan(&e, over.clone(), false, &billed) {
        Err(PartRefusal::OverInvoice { detail, left }) => {
            assert_eq!(left, dec!(700.01));
            assert!(
                detail.starts_with("Only 700.01 USD is left to invoice of Estimate #1001")
                    && detail.contains("800.00 USD"),
                "{detail}"
            );
        }
        other => panic!("{other:?}"),
    }
    let confirmed = plan(&e, over, true, &billed).unwrap();
    assert_eq!(confirmed.record.amount, dec!(800));
    assert!(
        confirmed.closes,
        "nothing is left after it: it links the estimate"
    );
    assert!(confirmed.invoice.linked_txn.is_some());
    // Exactly what is left finishes it too.
    let exact = plan(
        &e,
        Some(BillingPart::Amount {
            amount: dec!(700.01),
        }),
        false,
        &billed,
    )
    .unwrap();
    assert!(exact.closes);
}

#[test]
fn wrong_parts_are_refused_with_a_sentence() {
    let e = estimate();
    let refused = |part: BillingPart| match plan(&e, Some(part), false, &nothing_billed()) {
        Err(PartRefusal::Invalid(error)) => error.message,
        other => panic!("{other:?}"),
    };
    assert!(refused(BillingPart::Percentage { percent: dec!(0) }).contains("more than 0 %"));
    assert!(refused(BillingPart::Percentage { percent: dec!(-5) }).contains("not -5 %"));
    assert!(refused(BillingPart::Percentage { percent: dec!(101) }).contains("of Estimate #1001"));
    assert!(refused(BillingPart::Amount { amount: dec!(-1) }).contains("more than 0"));
    assert!(
        refused(BillingPart::Amount {
            amount: dec!(1.001)
        })
        .contains("2 decimals")
    );
    assert!(
        refused(BillingPart::Amount {
            amount: dec!(99999999999999999)
        })
        .contains("less than")
    );
    assert!(
        refused(BillingPart::Lines {
            lines: vec![LineQuantity {
                index: 2,
                quantity: dec!(1)
            }]
        })
        .contains("no line 3")
    );
    assert!(
        refused(BillingPart::Lines {
            lines: vec![LineQuantity {
                index: 0,
                quantity: dec!(4)
            }]
        })
        .contains("at most the estimate's 3")
    );
    assert!(refused(BillingPart::Lines { lines: vec![] }).contains("at least one line"));
    assert!(
        refused(BillingPart::Lines {
            lines: vec![LineQuantity {
                index: usize::MAX,
                quantity: dec!(1)
            }]
        })
        .starts_with("The estimate has 2 lines: there is no line")
    );
}

#[test]
fn the_estimates_discount_is_spread_over_the_lines_and_chosen_lines_bill_their_share() {
    let e = estimate_of(json!([
        {"Amount": 200.0, "DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": "4"}, "Qty": 2, "UnitPrice": 100}},
        {"Amount": 100.0, "DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "Qty": 1, "UnitPrice": 100}},
        {"Amount": 50.0, "DetailType": "DiscountLineDetail",
         "DiscountLineDetail": {"PercentBased": false}}
    ]));
    let half = plan(&e, percent(dec!(50)), false, &nothing_billed()).unwrap();
    assert_eq!(half.record.whole, dec!(250));
    assert_eq!(amounts(&half.invoice), vec![dec!(83.33), dec!(41.67)]);
    assert!(
        half.invoice
            .line
            .iter()
            .flatten()
            .all(|l| l.detail_type == LineDetailType::SalesItemLineDetail),
        "no discount line: it is spread"
    );
    // One of the two units of the first line: 100 of the 300 of lines, less its discount share.
    let one = plan(
        &e,
        Some(BillingPart::Lines {
            lines: vec![LineQuantity {
                index: 0,
                quantity: dec!(1),
            }],
        }),
        false,
        &nothing_billed(),
    )
    .unwrap();
    assert_eq!(one.record.amount, dec!(83.33));
    let lines = one.invoice.line.as_ref().unwrap();
    assert_eq!(lines.len(), 1);
    let detail = lines[0].sales_item_line_detail.as_ref().unwrap();
    assert_eq!(
        (lines[0].amount, detail.qty, detail.unit_price),
        (Some(dec!(83.33)), Some(dec!(1)), Some(dec!(83.33)))
    );
}

#[test]
fn only_live_invoices_of_this_estimate_count_as_billed() {
    let mine = |amount| BillingRecord {
        kind: PartKind::Amount,
        percent: None,
        amount,
        whole: dec!(1000.01),
        estimate_id: Some("7".into()),
    };
    let (a, b, other, deal) = (
        mine(dec!(300)),
        mine(dec!(200)),
        BillingRecord {
            estimate_id: Some("8".into()),
            ..mine(dec!(50))
        },
        BillingRecord {
            estimate_id: None,
            ..mine(dec!(70))
        },
    );
    fn billed(record: &BillingRecord, status: InvoiceStatus) -> Billed<'_> {
        Billed {
            currency: "USD",
            status,
            total: record.amount,
            balance: record.amount,
            billing: Some(record),
            newest: at(),
        }
    }
    let invoices = [
        billed(&a, InvoiceStatus::Open),
        billed(&b, InvoiceStatus::Voided),
        billed(&other, InvoiceStatus::Open),
        billed(&deal, InvoiceStatus::Open),
    ];
    let progress = recorded_progress("7", "USD", &invoices).unwrap();
    assert_eq!(
        (progress.deal_value, progress.invoiced, progress.left),
        (dec!(1000.01), dec!(300), dec!(700.01)),
        "the voided part is left to invoice again"
    );
    assert_eq!(recorded_progress("9", "USD", &invoices), None);
    // A link without the currency QuickBooks left out still bills the estimate.
    let c = mine(dec!(100));
    let blank = Billed {
        currency: "",
        ..billed(&c, InvoiceStatus::Open)
    };
    let with_blank = [invoices[0], blank];
    let progress = recorded_progress("7", "USD", &with_blank).unwrap();
    assert_eq!(progress.invoiced, dec!(400));
}

#[test]
fn a_part_with_fields_it_does_not_have_does_not_read() {
    let rest: BillingPart = serde_json::from_value(json!({"kind": "rest"})).unwrap();
    assert_eq!(rest, BillingPart::Rest {});
    assert_eq!(
        serde_json::to_value(&rest).unwrap(),
        json!({"kind": "rest"})
    );
    for wrong in [
        json!({"kind": "rest", "percent": 5}),
        json!({"kind": "percentage", "percent": 5, "amount": 1}),
        json!({"kind": "half"}),
    ] {
        assert!(
            serde_json::from_value::<BillingPart>(wrong.clone()).is_err(),
            "{wrong}"
        );
    }
}

#[test]
fn old_records_without_an_estimate_still_read() {
    let old: BillingRecord =
        serde_json::from_value(json!({"kind": "amount", "amount": "100", "whole": "1000"}))
            .unwrap();
    assert_eq!(old.estimate_id, None);
    assert!(!serde_json::to_string(&old).unwrap().contains("estimate_id"));
}
