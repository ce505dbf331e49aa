use super::*;
use crate::draft::{CompanySetup, Discount, FormLine, InvoiceForm, TaxCodeInfo, TaxMode, preview};
use crate::{FieldError, Party};
use chrono::{NaiveDate, TimeZone};
use rust_decimal_macros::dec;

fn code(id: &str, rates: &[Decimal]) -> TaxCodeInfo {
    TaxCodeInfo {
        id: id.into(),
        name: id.into(),
        rates: rates.to_vec(),
        group: false,
        active: true,
    }
}

fn setup(us: bool) -> CompanySetup {
    CompanySetup {
        us,
        home_currency: "USD".into(),
        multi_currency: false,
        currencies: Vec::new(),
        tax_codes: if us {
            vec![
                code("TAX", &[]),
                code("NON", &[]),
                TaxCodeInfo {
                    group: true,
                    ..code("2", &[dec!(8.25)])
                },
            ]
        } else {
            vec![code("20", &[dec!(20)]), code("5", &[dec!(5)])]
        },
        default_txn_tax_code: us.then(|| "2".into()),
        custom_txn_numbers: false,
        custom_fields: Vec::new(),
        automated_sales_tax: false,
    }
}

fn line(name: &str, quantity: Decimal, unit_price: Decimal, tax_code: Option<&str>) -> FormLine {
    FormLine {
        product_id: None,
        deal_product_id: None,
        name: name.into(),
        description: None,
        quantity,
        unit_price,
        discount: None,
        tax_percent: None,
        item_id: Some("1".into()),
        item_name: None,
        tax_code: tax_code.map(str::to_string),
    }
}

fn form(tax_mode: TaxMode, lines: Vec<FormLine>) -> InvoiceForm {
    InvoiceForm {
        party: Some(Party::Organization(1)),
        customer_id: Some("1".into()),
        currency: "USD".into(),
        txn_date: NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
        due_date: None,
        tax_mode,
        txn_tax_code: None,
        lines,
        discounts: Vec::new(),
        bill_email: None,
        customer_memo: None,
        private_note: None,
        doc_number: None,
        custom_fields: Vec::new(),
        expected_total: None,
        deal_currency: None,
        conversion: None,
        confirm_duplicate: false,
        part: None,
        confirm_over_invoice: false,
    }
}

/// The deal of the acceptance: 1,000.01 USD, no tax.
fn thousand() -> InvoiceForm {
    form(
        TaxMode::None,
        vec![
            line("Design", dec!(3), dec!(200.00), None),
            line("Build", dec!(1), dec!(400.01), None),
        ],
    )
}

/// A deal's invoices as the store would hold them.
#[derive(Default)]
struct Ledger {
    invoices: Vec<(BillingRecord, InvoiceStatus, Decimal, Decimal)>,
}

impl Ledger {
    fn billed(&self) -> Vec<Billed<'_>> {
        self.invoices
            .iter()
            .enumerate()
            .map(|(i, (record, status, total, balance))| Billed {
                currency: "USD",
                status: *status,
                total: *total,
                balance: *balance,
                billing: Some(record),
                newest: (
                    NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
                    Utc.timestamp_opt(1_800_000_000 + i as i64, 0).unwrap(),
                ),
            })
            .collect()
    }

    fn progress(&self) -> BillingProgress {
        let billed = self.billed();
        BillingProgress::of("USD", Decimal::ZERO, &billed)
    }

    /// Plans `part` on `whole` and, when it can be made, keeps it as an open invoice.
    fn invoice(
        &mut self,
        whole: &InvoiceForm,
        setup: &CompanySetup,
        part: Option<BillingPart>,
        confirm: bool,
    ) -> Result<PlannedPart, PartRefusal> {
        let asked = InvoiceForm {
            part,
            confirm_over_invoice: confirm,
            ..whole.clone()
        };
        let planned = plan(&asked, setup, &self.progress(), &NumberFormat::english())?;
        let totals = preview(&planned.form, setup);
        // The invoice's lines add up to exactly the part, before the tax QuickBooks adds.
        assert_eq!(value_of(&totals), planned.record.amount);
        self.invoices.push((
            planned.record.clone(),
            InvoiceStatus::Open,
            totals.total,
            totals.total,
        ));
        Ok(planned)
    }
}

fn pct(p: Decimal) -> Option<BillingPart> {
    Some(BillingPart::Percentage { percent: p })
}

fn amount(a: Decimal) -> Option<BillingPart> {
    Some(BillingPart::Amount { amount: a })
}

fn sentence(refusal: PartRefusal) -> String {
    match refusal {
        PartRefusal::Invalid(FieldError { message, .. }) => message,
        PartRefusal::OverInvoice { detail, .. } => detail,
    }
}

#[test]
fn a_deposit_then_an_amount_then_the_rest_add_up_to_the_deal_to_the_cent() {
    let deal = thousand();
    let setup = setup(true);
    let mut ledger = Ledger::default();
    let deposit = ledger.invoice(&deal, &setup, pct(dec!(30)), false).unwrap();
    assert_eq!(deposit.record.amount, dec!(300.00));
    assert_eq!(deposit.record.whole, dec!(1000.01));
    assert_eq!(deposit.record.kind, PartKind::Percentage);
    // Each line is 30 % of its own, described so; the last one takes the rounding cent.
    let amounts: Vec<Decimal> = deposit.form.lines.iter().map(FormLine::amount).collect();
    assert_eq!(amounts, vec![dec!(180.00), dec!(120.00)]);
    assert_eq!(
        deposit.form.lines[0].description.as_deref(),
        Some("30 % of the deal")
    );
    assert_eq!(deposit.form.lines[0].quantity, dec!(3));
    ledger
        .invoice(&deal, &setup, amount(dec!(400)), false)
        .unwrap();
    let rest = ledger
        .invoice(&deal, &setup, Some(BillingPart::Rest {}), false)
        .unwrap();
    assert_eq!(rest.record.amount, dec!(300.01));
    let progress = ledger.progress().valued(dec!(1000.01));
    assert_eq!(progress.invoiced, dec!(1000.01));
    assert_eq!(progress.left, dec!(0));
    assert_eq!(progress.invoices, 3);
    // Nothing is left: the rest is refused with the figures.
    let nothing = ledger
        .invoice(&deal, &setup, Some(BillingPart::Rest {}), false)
        .unwrap_err();
    assert_eq!(
        sentence(nothing),
        "Nothing is left to invoice on this deal: its value is 1,000.01 USD and 1,000.01 USD is invoiced."
    );
}

#[test]
fn more_than_what_is_left_is_refused_with_what_is_left_unless_confirmed() {
    let deal = thousand();
    let setup = setup(false);
    let mut ledger = Ledger::default();
    ledger.invoice(&deal, &setup, pct(dec!(70)), false).unwrap();
    let refused = ledger
        .invoice(&deal, &setup, amount(dec!(400)), false)
        .unwrap_err();
    assert!(matches!(refused, PartRefusal::OverInvoice { left, .. } if left == dec!(300.00)));
    assert_eq!(
        sentence(refused),
        "Only 300.00 USD is left to invoice on this deal (value 1,000.01 USD, invoiced 700.01 USD). This invoice would bill 400.00 USD: lower it, or confirm to invoice more than what is left."
    );
    // In the reader's locale, by the one formatter.
    let asked = InvoiceForm {
        part: amount(dec!(400)),
        ..deal.clone()
    };
    let german = plan(
        &asked,
        &setup,
        &ledger.progress(),
        &NumberFormat::for_locale(Some("de_DE")),
    )
    .unwrap_err();
    assert!(sentence(german).starts_with("Only 300,00 USD is left"));
    ledger
        .invoice(&deal, &setup, amount(dec!(400)), true)
        .unwrap();
    let progress = ledger.progress().valued(dec!(1000.01));
    assert_eq!(
        (progress.invoiced, progress.left, progress.over_invoiced),
        (dec!(1100.01), dec!(0), dec!(100.00))
    );
}

#[test]
fn the_whole_deal_on_top_of_parts_is_an_over_invoice_but_a_second_whole_invoice_is_not() {
    let deal = thousand();
    let setup = setup(false);
    // A deal's first invoice, then another whole one (the duplicate check asks about that one).
    let mut repeat = Ledger::default();
    repeat.invoice(&deal, &setup, None, false).unwrap();
    repeat.invoice(&deal, &setup, None, false).unwrap();
    // A deposit, then the whole deal: refused with what is left, unless confirmed.
    let mut ledger = Ledger::default();
    ledger.invoice(&deal, &setup, pct(dec!(30)), false).unwrap();
    let refused = ledger.invoice(&deal, &setup, None, false).unwrap_err();
    assert!(matches!(refused, PartRefusal::OverInvoice { left, .. } if left == dec!(700.01)));
    assert_eq!(
        sentence(refused),
        "Only 700.01 USD is left to invoice on this deal (value 1,000.01 USD, invoiced 300.00 USD). An invoice for the whole deal would bill 1,000.01 USD: choose \"The rest\" under What to invoice, or confirm to invoice the whole deal again."
    );
    let whole = ledger.invoice(&deal, &setup, None, true).unwrap();
    assert_eq!(whole.record.kind, PartKind::Full);
    // Once the deposit is voided, the whole deal is what is left again.
    let mut voided = Ledger::default();
    voided.invoice(&deal, &setup, pct(dec!(30)), false).unwrap();
    voided.invoices[0].1 = InvoiceStatus::Voided;
    voided.invoice(&deal, &setup, None, false).unwrap();
}

#[test]
fn a_voided_or_deleted_part_is_left_to_invoice_again() {
    let deal = thousand();
    let setup = setup(true);
    let mut ledger = Ledger::default();
    ledger.invoice(&deal, &setup, pct(dec!(30)), false).unwrap();
    ledger.invoice(&deal, &setup, pct(dec!(50)), false).unwrap();
    ledger.invoices[0].1 = InvoiceStatus::Voided;
    let billed = ledger.billed();
    let progress = billing_progress(&billed);
    assert_eq!(progress.len(), 1);
    assert_eq!(progress[0].deal_value, dec!(1000.01));
    assert_eq!(progress[0].invoiced, dec!(500.01));
    assert_eq!(progress[0].left, dec!(500.00));
    ledger.invoices[1].1 = InvoiceStatus::Deleted;
    let rest = ledger
        .invoice(&deal, &setup, Some(BillingPart::Rest {}), false)
        .unwrap();
    assert_eq!(rest.record.amount, dec!(1000.01));
}

#[test]
fn paid_is_each_invoices_paid_share_and_currencies_stay_apart() {
    let record = |amount, whole| BillingRecord {
        kind: PartKind::Amount,
        percent: None,
        amount,
        whole,
        estimate_id: None,
    };
    let deposit = record(dec!(100), dec!(1000));
    let second = record(dec!(200), dec!(1000));
    let at = |s: i64| {
        (
            NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
            Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap(),
        )
    };
    let invoice = |currency, status, total, balance, billing, newest| Billed {
        currency,
        status,
        total,
        balance,
        billing,
        newest,
    };
    let invoices = [
        // 100 before tax, 110 with it; 55 paid: half.
        invoice(
            "USD",
            InvoiceStatus::PartiallyPaid,
            dec!(110),
            dec!(55),
            Some(&deposit),
            at(0),
        ),
        invoice(
            "USD",
            InvoiceStatus::Paid,
            dec!(220),
            dec!(0),
            Some(&second),
            at(1),
        ),
        // Linked from QuickBooks, not made here: counts with its total.
        invoice("EUR", InvoiceStatus::Open, dec!(80), dec!(30), None, at(2)),
    ];
    let progress = billing_progress(&invoices);
    assert_eq!(progress.len(), 2);
    let eur = &progress[0];
    assert_eq!(
        (
            eur.currency.as_str(),
            eur.deal_value,
            eur.invoiced,
            eur.paid,
            eur.left
        ),
        ("EUR", dec!(80), dec!(80), dec!(50), dec!(0))
    );
    let usd = &progress[1];
    assert_eq!(
        (usd.deal_value, usd.invoiced, usd.paid, usd.left),
        (dec!(1000), dec!(300), dec!(250), dec!(700))
    );
}

#[test]
fn bad_parts_are_refused_with_a_sentence() {
    let deal = thousand();
    let setup = setup(true);
    let refuse = |part: BillingPart| {
        let mut ledger = Ledger::default();
        sentence(
            ledger
                .invoice(&deal, &setup, Some(part), false)
                .unwrap_err(),
        )
    };
    assert_eq!(
        refuse(BillingPart::Percentage { percent: dec!(0) }),
        "A deposit is more than 0 % and at most 100 % of the deal, not 0 %."
    );
    assert!(
        refuse(BillingPart::Percentage {
            percent: dec!(100.5)
        })
        .ends_with("not 100.5 %.")
    );
    assert_eq!(
        refuse(BillingPart::Amount { amount: dec!(-5) }),
        "The amount to invoice must be more than 0, not -5.00 USD."
    );
    assert!(
        refuse(BillingPart::Amount {
            amount: dec!(1.001)
        })
        .contains("at most 2 decimals")
    );
    let lines = |index, quantity| BillingPart::Lines {
        lines: vec![LineQuantity { index, quantity }],
    };
    assert_eq!(
        refuse(lines(0, dec!(4))),
        "Line 1 (Design): the quantity to invoice is more than 0 and at most the deal's 3, not 4."
    );
    assert_eq!(
        refuse(lines(5, dec!(1))),
        "The deal has 2 lines: there is no line 6."
    );
    // A hostile index (the largest a request can send) is a sentence too, not an overflow.
    assert!(
        refuse(lines(usize::MAX, dec!(1))).starts_with("The deal has 2 lines: there is no line")
    );
    assert_eq!(
        refuse(BillingPart::Lines { lines: vec![] }),
        "Choose at least one line to invoice."
    );
}

#[test]
fn chosen_lines_and_quantities_carry_their_share_of_the_deal_discount() {
    let mut deal = form(
        TaxMode::Exclusive,
        vec![
            line("Licence", dec!(10), dec!(50), Some("20")),
            line("Training", dec!(2), dec!(300), Some("5")),
        ],
    );
    deal.lines[1].discount = Some(Discount::Amount(dec!(60)));
    let setup = setup(false);
    let mut ledger = Ledger::default();
    let part = BillingPart::Lines {
        lines: vec![LineQuantity {
            index: 1,
            quantity: dec!(1),
        }],
    };
    let planned = ledger.invoice(&deal, &setup, Some(part), false).unwrap();
    // One of two trainings: 300 less half the 60 discount.
    assert_eq!(planned.record.amount, dec!(270));
    assert_eq!(planned.form.lines.len(), 1);
    assert_eq!(planned.form.lines[0].tax_code.as_deref(), Some("5"));
    assert_eq!(planned.form.lines[0].quantity, dec!(1));
    // Tax on the invoice's own line at its own code.
    assert_eq!(preview(&planned.form, &setup).tax, dec!(13.50));
    // With a 10 % deal discount, the chosen lines bill 90 % of themselves.
    deal.discounts = vec![crate::draft::DealDiscountLine {
        description: "Loyalty".into(),
        discount: Discount::Percentage(dec!(10)),
    }];
    let planned = Ledger::default()
        .invoice(
            &deal,
            &setup,
            Some(BillingPart::Lines {
                lines: vec![LineQuantity {
                    index: 0,
                    quantity: dec!(4),
                }],
            }),
            false,
        )
        .unwrap();
    assert_eq!(planned.record.amount, dec!(180));
    assert!(planned.form.discounts.is_empty());
}

/// A small deterministic generator (no dependency needed for property-style checks).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }

    fn money(&mut self, max_cents: u64) -> Decimal {
        Decimal::new(i64::try_from(self.next(max_cents) + 1).unwrap(), 2)
    }
}

fn random_deal(rng: &mut Lcg, us: bool) -> InvoiceForm {
    let mode = match rng.next(3) {
        0 => TaxMode::Exclusive,
        1 => TaxMode::Inclusive,
        _ => TaxMode::None,
    };
    let lines = (0..=rng.next(5))
        .map(|i| {
            let code = match (us, rng.next(2)) {
                (_, _) if mode == TaxMode::None => None,
                (true, 0) => Some("TAX"),
                (true, _) => Some("NON"),
                (false, 0) => Some("20"),
                (false, _) => Some("5"),
            };
            let mut l = line(
                &format!("Line {i}"),
                Decimal::new(i64::try_from(rng.next(400) + 1).unwrap(), 1),
                rng.money(200_000),
                code,
            );
            l.tax_percent = code.map(|_| dec!(8.25));
            l.discount = match rng.next(4) {
                0 => Some(Discount::Percentage(Decimal::from(rng.next(30)))),
                1 => Some(Discount::Amount(rng.money(500))),
                _ => None,
            };
            l
        })
        .collect();
    let mut deal = form(mode, lines);
    deal.txn_tax_code = us.then(|| "2".into());
    if rng.next(3) == 0 {
        deal.discounts = vec![crate::draft::DealDiscountLine {
            description: "Deal".into(),
            discount: Discount::Percentage(Decimal::from(rng.next(20) + 1)),
        }];
    }
    deal
}

#[test]
fn any_sequence_of_parts_then_the_rest_bills_the_deal_exactly() {
    let mut rng = Lcg(22);
    for round in 0..400 {
        let us = round % 2 == 0;
        let setup = setup(us);
        let deal = random_deal(&mut rng, us);
        let whole = value_of(&preview(&deal, &setup));
        if whole <= Decimal::ZERO {
            continue;
        }
        let mut ledger = Ledger::default();
        for _ in 0..rng.next(4) {
            let part = match rng.next(3) {
                0 => pct(Decimal::new(i64::try_from(rng.next(4000) + 1).unwrap(), 2)),
                1 => amount(round2(whole * Decimal::from(rng.next(40) + 1) / dec!(100))),
                _ => Some(BillingPart::Lines {
                    lines: vec![LineQuantity {
                        index: 0,
                        quantity: deal.lines[0].quantity,
                    }],
                }),
            };
            match ledger.invoice(&deal, &setup, part, false) {
                Ok(_) | Err(PartRefusal::OverInvoice { .. }) => {}
                Err(PartRefusal::Invalid(e)) => panic!("round {round}: {}", e.message),
            }
            // Never more than the deal without a confirmation.
            assert!(ledger.progress().invoiced <= whole, "round {round}");
        }
        if ledger.progress().invoiced < whole {
            ledger
                .invoice(&deal, &setup, Some(BillingPart::Rest {}), false)
                .unwrap_or_else(|e| panic!("round {round}: {}", sentence(e)));
        }
        let progress = ledger.progress().valued(whole);
        assert_eq!(progress.invoiced, whole, "round {round}");
        assert_eq!(progress.left, Decimal::ZERO, "round {round}");
        // Paid in full, every invoice: paid is the deal.
        for invoice in &mut ledger.invoices {
            invoice.3 = Decimal::ZERO;
        }
        assert_eq!(ledger.progress().paid, whole, "round {round}");
    }
}

#[test]
fn the_part_reads_as_the_request_sends_it() {
    let parse = |v: serde_json::Value| serde_json::from_value::<BillingPart>(v);
    assert_eq!(
        parse(serde_json::json!({"kind": "percentage", "percent": 30})).unwrap(),
        BillingPart::Percentage { percent: dec!(30) }
    );
    assert_eq!(
        parse(serde_json::json!({"kind": "amount", "amount": "250.50"})).unwrap(),
        BillingPart::Amount {
            amount: dec!(250.50)
        }
    );
    assert_eq!(
        parse(serde_json::json!({"kind": "rest"})).unwrap(),
        BillingPart::Rest {}
    );
    assert!(parse(serde_json::json!({"kind": "amount", "amount": 5, "percent": 5})).is_err());
    assert!(parse(serde_json::json!({"kind": "half"})).is_err());
}
