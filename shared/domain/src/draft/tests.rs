//! Golden cases built from the Pipedrive simulator's seed deals (same numbers as
//! `infra/sandbox/src/pipedrive/seed.rs`); the function's tests check the same drafts against
//! the QuickBooks simulator's own arithmetic.
use super::invoice::qty_and_price;
use super::*;
use crate::DueDateRule;
use pipedrive_wire::model::{Deal, DealDiscount, DealProduct};
use rust_decimal_macros::dec;
use serde_json::json;

fn code(id: &str, rates: &[Decimal], group: bool) -> TaxCodeInfo {
    TaxCodeInfo {
        id: id.into(),
        name: id.into(),
        rates: rates.to_vec(),
        group,
        active: true,
    }
}

fn us() -> CompanySetup {
    CompanySetup {
        us: true,
        home_currency: "USD".into(),
        multi_currency: true,
        currencies: vec!["EUR".into(), "GBP".into()],
        tax_codes: vec![
            code("TAX", &[], false),
            code("NON", &[], false),
            code("2", &[dec!(8)], true),
            code("3", &[dec!(7.1), dec!(2)], true),
        ],
        default_txn_tax_code: Some("2".into()),
        custom_txn_numbers: false,
        custom_fields: vec![CustomFieldDef {
            definition_id: "1".into(),
            name: "Crew #".into(),
        }],
        automated_sales_tax: false,
    }
}

fn vat(home: &str, codes: Vec<TaxCodeInfo>) -> CompanySetup {
    CompanySetup {
        us: false,
        home_currency: home.into(),
        multi_currency: false,
        currencies: Vec::new(),
        tax_codes: codes,
        default_txn_tax_code: None,
        custom_txn_numbers: true,
        custom_fields: Vec::new(),
        automated_sales_tax: false,
    }
}

fn gb() -> CompanySetup {
    vat(
        "GBP",
        vec![
            code("2", &[dec!(20)], false),
            code("3", &[dec!(5)], false),
            code("4", &[dec!(0)], false),
            code("5", &[], false),
        ],
    )
}

fn de() -> CompanySetup {
    vat(
        "EUR",
        vec![code("7", &[dec!(19)], false), code("8", &[dec!(7)], false)],
    )
}

fn deal(v: serde_json::Value) -> Deal {
    serde_json::from_value(v).unwrap()
}

#[allow(clippy::too_many_arguments)]
fn product(
    id: u64,
    product_id: u64,
    name: &str,
    qty: &str,
    price: &str,
    discount: &str,
    kind: &str,
    tax: &str,
    method: &str,
    enabled: bool,
) -> DealProduct {
    serde_json::from_value(json!({
        "id": id, "product_id": product_id, "name": name, "quantity": qty.parse::<f64>().unwrap(),
        "item_price": price.parse::<f64>().unwrap(), "discount": discount.parse::<f64>().unwrap(),
        "discount_type": kind, "tax": tax.parse::<f64>().unwrap(), "tax_method": method,
        "is_enabled": enabled, "order_nr": id
    }))
    .unwrap()
}

fn deal_discount(description: &str, amount: f64, kind: &str) -> DealDiscount {
    serde_json::from_value(
        json!({"id": "x", "description": description, "amount": amount, "type": kind}),
    )
    .unwrap()
}

/// A form from the deal as the draft builds it, with items and default tax codes.
fn form_of(
    setup: &CompanySetup,
    d: &Deal,
    products: &[DealProduct],
    discounts: &[DealDiscount],
) -> InvoiceForm {
    let mode = if products.iter().any(|p| p.is_enabled) {
        tax_mode_of(products)
    } else {
        TaxMode::None
    };
    let mut lines = lines_from_deal(d, products);
    for l in &mut lines {
        l.item_id = Some("1".into());
        l.tax_code = default_tax_code(setup, mode, l);
    }
    InvoiceForm {
        party: Some(Party::Organization(1)),
        customer_id: Some("1".into()),
        currency: d.currency.clone().unwrap_or_default(),
        txn_date: NaiveDate::from_ymd_opt(2026, 3, 13).unwrap(),
        due_date: due_date(
            DueDateRule::DaysAfterIssue { days: 7 },
            NaiveDate::from_ymd_opt(2026, 3, 13).unwrap(),
        ),
        tax_mode: mode,
        txn_tax_code: setup.us.then(|| "2".to_string()),
        lines,
        discounts: discounts_from_deal(discounts),
        bill_email: None,
        customer_memo: None,
        private_note: None,
        doc_number: None,
        custom_fields: Vec::new(),
        expected_total: None,
        deal_currency: d.currency.clone(),
        conversion: None,
        confirm_duplicate: false,
        part: None,
        confirm_over_invoice: false,
    }
}

fn deal1() -> (Deal, Vec<DealProduct>, Vec<DealDiscount>) {
    (
        deal(
            json!({"id": 1, "title": "Website relaunch", "currency": "EUR", "org_id": 1, "person_id": 1, "value": 3978.8}),
        ),
        vec![
            product(
                101,
                1,
                "Consulting hour",
                "10",
                "120",
                "10",
                "percentage",
                "19",
                "exclusive",
                true,
            ),
            product(
                102,
                2,
                "Design package",
                "1",
                "2500",
                "200",
                "amount",
                "19",
                "exclusive",
                true,
            ),
            product(
                103,
                3,
                "Cloud hosting (monthly)",
                "12",
                "49.90",
                "0",
                "percentage",
                "19",
                "exclusive",
                true,
            ),
            product(
                104,
                5,
                "Legacy add-on",
                "1",
                "300",
                "0",
                "percentage",
                "19",
                "exclusive",
                false,
            ),
        ],
        vec![
            deal_discount("Loyalty 5%", 5.0, "percentage"),
            deal_discount("Voucher", 100.0, "amount"),
        ],
    )
}

#[test]
fn golden_deal_1_both_discount_kinds_deal_discounts_exclusive_tax_disabled_line() {
    let (d, products, discounts) = deal1();
    let setup = de();
    let form = form_of(&setup, &d, &products, &discounts);
    assert_eq!(form.lines.len(), 3, "the disabled product is skipped");
    assert_eq!(form.tax_mode, TaxMode::Exclusive);
    let amounts: Vec<Decimal> = form.lines.iter().map(FormLine::amount).collect();
    assert_eq!(amounts, vec![dec!(1080), dec!(2300), dec!(598.80)]);
    assert!(
        form.lines
            .iter()
            .all(|l| l.tax_code.as_deref() == Some("7")),
        "19 % → code 7"
    );
    let t = preview(&form, &setup);
    assert_eq!(t.subtotal, dec!(3978.80));
    assert_eq!(
        t.discount,
        dec!(298.94),
        "5 % of 3978.80 = 198.94, + 100.00"
    );
    assert_eq!(t.taxes[0].base, dec!(3679.86), "tax after the discount");
    assert_eq!(t.tax, dec!(699.17));
    assert_eq!(t.total, dec!(4379.03));
    let inv = build_invoice(&form, &setup);
    assert_eq!(
        inv.global_tax_calculation,
        Some(GlobalTaxCalculation::TaxExcluded)
    );
    assert_eq!(inv.apply_tax_after_discount, Some(true));
    let lines = inv.line.unwrap();
    assert_eq!(lines.len(), 4);
    let first = lines[0].sales_item_line_detail.as_ref().unwrap();
    assert_eq!(
        (first.qty, first.unit_price),
        (Some(dec!(10)), Some(dec!(108)))
    );
    assert!(
        lines[0]
            .description
            .as_deref()
            .unwrap()
            .contains("10% discount")
    );
    let d = lines[3].discount_line_detail.as_ref().unwrap();
    assert_eq!(d.percent_based, Some(false));
    assert_eq!(lines[3].amount, Some(dec!(298.94)));
}

#[test]
fn golden_deal_2_inclusive_tax_fractional_quantity_amount_deal_discount() {
    let d = deal(
        json!({"id": 2, "title": "UK expansion workshop", "currency": "GBP", "org_id": 2, "person_id": 2}),
    );
    let products = vec![
        product(
            201,
            4,
            "Training day",
            "2",
            "900",
            "5",
            "percentage",
            "20",
            "inclusive",
            true,
        ),
        product(
            202,
            1,
            "Consulting hour",
            "3.5",
            "150",
            "0",
            "percentage",
            "20",
            "inclusive",
            true,
        ),
    ];
    let discounts = vec![deal_discount("Early booking", 50.0, "amount")];
    let setup = gb();
    let form = form_of(&setup, &d, &products, &discounts);
    assert_eq!(form.tax_mode, TaxMode::Inclusive);
    assert!(
        form.lines
            .iter()
            .all(|l| l.tax_code.as_deref() == Some("2"))
    );
    let t = preview(&form, &setup);
    assert_eq!(t.lines_total, dec!(2235));
    assert_eq!(t.subtotal, dec!(1862.50), "1710 / 1.2 + 525 / 1.2");
    assert_eq!(t.tax, dec!(372.50));
    assert_eq!(t.discount, dec!(50));
    assert_eq!(t.total, dec!(2185));
    let inv = build_invoice(&form, &setup);
    assert_eq!(
        inv.global_tax_calculation,
        Some(GlobalTaxCalculation::TaxInclusive)
    );
    assert_eq!(inv.apply_tax_after_discount, None);
    let l = inv.line.unwrap();
    let second = l[1].sales_item_line_detail.as_ref().unwrap();
    assert_eq!(second.qty, Some(dec!(3.5)));
    assert_eq!(second.tax_inclusive_amt, Some(dec!(525)));
}

#[test]
fn golden_deal_3_no_tax_many_lines() {
    let d = deal(
        json!({"id": 3, "title": "Conference merchandise", "currency": "USD", "org_id": 4, "person_id": 4}),
    );
    let products: Vec<DealProduct> = (1..=120u64)
        .map(|i| {
            product(
                300 + i,
                6,
                &format!("Sticker pack #{i}"),
                &(i % 7 + 1).to_string(),
                "2.50",
                "0",
                "percentage",
                "0",
                "none",
                true,
            )
        })
        .collect();
    let setup = vat("USD", gb().tax_codes);
    let form = form_of(&setup, &d, &products, &[]);
    assert_eq!(form.lines.len(), 120);
    assert_eq!(form.tax_mode, TaxMode::None);
    let qty: u64 = (1..=120u64).map(|i| i % 7 + 1).sum();
    let t = preview(&form, &setup);
    assert_eq!(t.tax, Decimal::ZERO);
    assert_eq!(t.total, Decimal::from(qty) * dec!(2.5));
    let inv = build_invoice(&form, &setup);
    assert_eq!(
        inv.global_tax_calculation,
        Some(GlobalTaxCalculation::NotApplicable)
    );
    // US: the same deal has NON lines and no transaction tax.
    let form = form_of(&us(), &d, &products, &[]);
    assert!(
        form.lines
            .iter()
            .all(|l| l.tax_code.as_deref() == Some("NON"))
    );
    let inv = build_invoice(&form, &us());
    assert_eq!(inv.txn_tax_detail, None);
    assert_eq!(inv.global_tax_calculation, None);
}

#[test]
fn golden_deal_without_products_is_one_line_from_the_value() {
    let d = deal(
        json!({"id": 4, "title": "Retainer (no products yet)", "currency": "EUR", "value": 1250, "org_id": 3, "person_id": 3}),
    );
    let lines = lines_from_deal(&d, &[]);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].name, "Retainer (no products yet)");
    assert_eq!(
        (lines[0].quantity, lines[0].unit_price),
        (Decimal::ONE, dec!(1250))
    );
    assert_eq!(lines[0].product_id, None);
    // Only disabled products: the same.
    let disabled = [product(
        1,
        1,
        "x",
        "1",
        "5",
        "0",
        "percentage",
        "0",
        "none",
        false,
    )];
    assert_eq!(lines_from_deal(&d, &disabled).len(), 1);
}

#[test]
fn golden_us_deal_tax_and_txn_tax_code() {
    let d = deal(
        json!({"id": 1, "title": "Fleet tracking rollout", "currency": "USD", "org_id": 1, "person_id": 1}),
    );
    let products = vec![
        product(
            601,
            1,
            "Fleet tracker",
            "25",
            "199",
            "2.5",
            "percentage",
            "8.25",
            "exclusive",
            true,
        ),
        product(
            602,
            2,
            "Support plan",
            "25",
            "29",
            "0",
            "percentage",
            "8.25",
            "exclusive",
            true,
        ),
    ];
    let setup = us();
    let form = form_of(&setup, &d, &products, &[]);
    assert!(
        form.lines
            .iter()
            .all(|l| l.tax_code.as_deref() == Some("TAX"))
    );
    let t = preview(&form, &setup);
    assert_eq!(
        t.subtotal,
        dec!(5575.63),
        "4850.625 rounds half away from zero"
    );
    assert_eq!(t.tax, dec!(446.05));
    assert_eq!(t.total, dec!(6021.68));
    let inv = build_invoice(&form, &setup);
    assert_eq!(
        inv.txn_tax_detail.unwrap().txn_tax_code_ref.unwrap().value,
        "2"
    );
    let first = inv.line.unwrap()[0].sales_item_line_detail.clone().unwrap();
    assert_eq!(first.unit_price, Some(dec!(194.0252)));
    assert_eq!(round2(dec!(25) * dec!(194.0252)), dec!(4850.63));
    // Two rates of one group: each rounded on the same base.
    let mut tucson = form.clone();
    tucson.txn_tax_code = Some("3".into());
    let t = preview(&tucson, &setup);
    assert_eq!(t.taxes.len(), 2);
    assert_eq!(t.tax, dec!(395.87) + dec!(111.51));
}

#[test]
fn us_inclusive_deals_are_converted_to_net() {
    let d = deal(json!({"id": 9, "title": "x", "currency": "USD"}));
    let products = vec![product(
        1,
        1,
        "Gross",
        "1",
        "120",
        "0",
        "percentage",
        "20",
        "inclusive",
        true,
    )];
    let setup = us();
    let form = form_of(&setup, &d, &products, &[]);
    let t = preview(&form, &setup);
    assert_eq!(t.subtotal, dec!(100));
    assert_eq!(t.tax, dec!(8));
    assert_eq!(
        build_invoice(&form, &setup).line.unwrap()[0].amount,
        Some(dec!(100))
    );
}

#[test]
fn unlinked_lines_missing_codes_and_customer_are_named() {
    let (d, products, discounts) = deal1();
    let setup = gb();
    let mut form = form_of(&setup, &d, &products, &discounts);
    form.lines[1].item_id = None;
    form.customer_id = None;
    form.currency = "GBP".into();
    let errors = validate(&form, &setup, Some("GBP"));
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"customer_id"), "{fields:?}");
    let item = errors
        .iter()
        .find(|e| e.field == "lines[1].item_id")
        .unwrap();
    assert!(
        item.message.contains("Line 2 \"Design package\""),
        "{}",
        item.message
    );
    // No 19 % code in a UK company: the rep must choose one per line.
    assert!(fields.contains(&"lines[0].tax_code"));
    assert!(
        errors
            .iter()
            .find(|e| e.field == "lines[0].tax_code")
            .unwrap()
            .message
            .contains("VAT")
    );
}

#[test]
fn currency_rules_say_what_to_change() {
    let mut setup = gb();
    let off = check_currency("EUR", None, &setup).unwrap_err();
    assert!(
        off.contains("multi-currency is off") && off.contains("Turn on multi-currency"),
        "{off}"
    );
    setup.multi_currency = true;
    let missing = check_currency("EUR", None, &setup).unwrap_err();
    assert!(missing.contains("Add it in QuickBooks"), "{missing}");
    setup.currencies.push("EUR".into());
    assert_eq!(check_currency("EUR", Some("EUR"), &setup), Ok(()));
    let mismatch = check_currency("EUR", Some("GBP"), &setup).unwrap_err();
    assert!(mismatch.contains("customer uses GBP"), "{mismatch}");
    assert!(check_currency("eur", None, &setup).is_err());
}

#[test]
fn us_lines_and_doc_numbers_are_checked() {
    let d = deal(json!({"id": 1, "title": "x", "currency": "USD", "value": 10}));
    let setup = us();
    let mut form = form_of(&setup, &d, &[], &[]);
    form.lines[0].tax_code = Some("7".into());
    form.doc_number = Some("PD-1".into());
    let errors = validate(&form, &setup, Some("USD"));
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"lines[0].tax_code"));
    assert!(fields.contains(&"doc_number"), "custom numbering is off");
    form.lines[0].tax_code = Some("TAX".into());
    form.txn_tax_code = None;
    form.doc_number = None;
    let errors = validate(&form, &setup, Some("USD"));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "txn_tax_code");
}

#[test]
fn money_rounding_and_formatting() {
    assert_eq!(round2(dec!(0.845)), dec!(0.85));
    assert_eq!(round2(dec!(-0.845)), dec!(-0.85));
    assert_eq!(round2(dec!(4850.625)), dec!(4850.63));
    assert_eq!(format_money(dec!(1250)), "1,250.00");
    assert_eq!(format_money(dec!(1234567.891)), "1,234,567.89");
    assert_eq!(format_money(dec!(12.5)), "12.50");
    assert_eq!(format_money(dec!(-1000)), "-1,000.00");
    assert_eq!(
        qty_and_price(dec!(3), dec!(100)),
        (dec!(3), dec!(33.33333)),
        "multiplies back to 100.00"
    );
    assert_eq!(
        qty_and_price(dec!(1000000), dec!(1.23)),
        (dec!(1), dec!(1.23)),
        "no 5-place price multiplies back"
    );
    assert_eq!(qty_and_price(dec!(4), dec!(100)), (dec!(4), dec!(25)));
}

#[test]
fn due_dates_follow_the_rule() {
    let issue = NaiveDate::from_ymd_opt(2026, 3, 13).unwrap();
    assert_eq!(
        due_date(DueDateRule::DaysAfterIssue { days: 7 }, issue),
        NaiveDate::from_ymd_opt(2026, 3, 20)
    );
    assert_eq!(due_date(DueDateRule::CustomerTerms, issue), None);
}

#[test]
fn the_form_carries_memo_note_custom_fields_and_doc_number() {
    let d = deal(json!({"id": 1, "title": "x", "currency": "GBP", "value": 10}));
    let setup = gb();
    let mut form = form_of(&setup, &d, &[], &[]);
    form.customer_memo = Some("Thank you!".into());
    form.private_note = Some("deal 1".into());
    form.doc_number = Some("PD-0001".into());
    form.bill_email = Some("ap@example.com".into());
    form.lines[0].tax_code = Some("4".into());
    let inv = build_invoice(&form, &setup);
    assert_eq!(inv.customer_memo.unwrap().value, "Thank you!");
    assert_eq!(inv.private_note.as_deref(), Some("deal 1"));
    assert_eq!(inv.doc_number.as_deref(), Some("PD-0001"));
    assert_eq!(
        inv.bill_email.unwrap().address.as_deref(),
        Some("ap@example.com")
    );
    assert!(TEMPLATE_NOTE.contains("no field"));
}
