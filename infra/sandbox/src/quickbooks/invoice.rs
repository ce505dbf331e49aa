//! Invoice validation and arithmetic, as QuickBooks does it:
//!
//! - `CustomerRef` and at least one line are required; items must exist and be active.
//! - Currency: the invoice currency must be the customer's; with multi-currency on `CurrencyRef`
//!   is required, with it off only the home currency is accepted.
//! - US companies: lines carry the pseudo codes `TAX`/`NON`; the transaction-level
//!   `TxnTaxDetail.TxnTaxCodeRef` (or the customer's default) picks the rates applied to the
//!   taxable lines.
//! - Other companies: every sales line needs a real `TaxCodeRef` and `GlobalTaxCalculation` is
//!   required (`TaxExcluded`: tax is added; `TaxInclusive`: the entered amounts are gross and the
//!   net `Amount` is derived, `TaxInclusiveAmt` keeps the gross; `NotApplicable`: no tax).
//! - Money is rounded half away from zero to 2 decimal places; tax is computed per rate on the
//!   summed taxable amounts (on the undiscounted amounts unless `ApplyTaxAfterDiscount`; tax
//!   included in gross amounts is never reduced by a discount).
//! - `TotalAmt` = subtotal − discount + shipping + tax (inclusive: gross − discount);
//!   `Balance` = `TotalAmt` − `Deposit` − payments applied.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use shared::wire::quickbooks::model::{
    CustomField, EmailStatus, GlobalTaxCalculation, Invoice, Line, LineDetailType, PrintStatus,
    Ref, SubTotalLineDetail, TaxLine, TaxLineDetail, TxnTaxDetail,
};

use super::error::ApiError;
use super::store::{Realm, currency_ref};

/// Half away from zero, 2 dp.
pub fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

/// One computed sales line before numbering.
struct SalesLine {
    line: Line,
    net: Decimal,
    gross: Decimal,
    tax_code: Option<String>,
    /// `SHIPPING_ITEM_ID` lines: outside the subtotal and discounts, listed last.
    shipping: bool,
}

/// Total payments applied to an invoice.
pub fn paid_amount(realm: &Realm, invoice_id: &str) -> Decimal {
    realm
        .payments
        .values()
        .flat_map(|p| p.line.iter().flatten())
        .filter(|l| {
            l.linked_txn
                .iter()
                .any(|t| t.txn_type == "Invoice" && t.txn_id == invoice_id)
        })
        .filter_map(|l| l.amount)
        .sum()
}

/// Validates `input` and computes every derived field. `invoice_id` is the id of the invoice
/// being updated (None on create). Id, SyncToken, DocNumber and MetaData are the caller's.
pub fn compute(
    realm: &Realm,
    input: &Invoice,
    invoice_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Invoice, ApiError> {
    let customer_ref = input
        .customer_ref
        .as_ref()
        .filter(|r| !r.value.is_empty())
        .ok_or_else(|| ApiError::RequiredParam("CustomerRef".into()))?;
    let customer = realm
        .find_customer(&customer_ref.value)
        .ok_or_else(|| ApiError::InvalidReference(format!("Customer {}", customer_ref.value)))?;
    if customer.active == Some(false) {
        return Err(ApiError::NotFound(format!(
            "Customer {}",
            customer_ref.value
        )));
    }
    let input_lines = input.line.as_deref().unwrap_or_default();
    if input_lines
        .iter()
        .all(|l| l.detail_type == LineDetailType::SubTotalLineDetail)
    {
        return Err(ApiError::RequiredParam("Line".into()));
    }

    // Currency.
    let home = realm.home_currency();
    let customer_currency = realm.customer_currency(customer);
    let currency = match (&input.currency_ref, realm.multi_currency()) {
        (None, true) => return Err(ApiError::RequiredParam("CurrencyRef".into())),
        (None, false) => home.clone(),
        (Some(c), false) if c.value != home => {
            return Err(ApiError::Business(format!(
                "Multicurrency is not enabled for this company: transactions must be in the home currency {home}, not {}",
                c.value
            )));
        }
        (Some(c), _) => c.value.clone(),
    };
    if !realm.currency_enabled(&currency) {
        return Err(ApiError::InvalidReference(format!(
            "CurrencyRef {currency}"
        )));
    }
    if currency != customer_currency {
        return Err(ApiError::Business(format!(
            "The transaction currency ({currency}) must match the customer's currency ({customer_currency})"
        )));
    }
    let exchange_rate = if currency == home {
        Decimal::ONE
    } else {
        input
            .exchange_rate
            .or_else(|| realm.exchange_rates.get(&currency).copied())
            .unwrap_or(Decimal::ONE)
    };

    // Tax mode.
    let gtc = if realm.is_us() {
        None
    } else {
        match &input.global_tax_calculation {
            None => {
                return Err(ApiError::Business(
                    "GlobalTaxCalculation is required for this company: make sure all your transactions have a VAT rate before you save".into(),
                ));
            }
            Some(GlobalTaxCalculation::Other(v)) => {
                return Err(ApiError::InvalidEnum(format!("GlobalTaxCalculation {v}")));
            }
            Some(g) => Some(g.clone()),
        }
    };
    let inclusive = gtc == Some(GlobalTaxCalculation::TaxInclusive);

    // Lines.
    let mut sales: Vec<SalesLine> = Vec::new();
    let mut discounts: Vec<Line> = Vec::new();
    for (idx, line) in input_lines.iter().enumerate() {
        match &line.detail_type {
            LineDetailType::SubTotalLineDetail => {}
            LineDetailType::SalesItemLineDetail => {
                sales.push(sales_line(
                    realm,
                    customer.taxable.unwrap_or(false),
                    line,
                    idx,
                    gtc.as_ref(),
                )?);
            }
            LineDetailType::DiscountLineDetail => discounts.push(line.clone()),
            LineDetailType::DescriptionOnly => {
                let mut l = line.clone();
                l.amount = Some(Decimal::ZERO);
                sales.push(SalesLine {
                    line: l,
                    net: Decimal::ZERO,
                    gross: Decimal::ZERO,
                    tax_code: None,
                    shipping: false,
                });
            }
            other => return Err(ApiError::Unsupported(format!("Line.DetailType {other}"))),
        }
    }

    // Tax-inclusive lines: derive the net amount per line from the gross.
    if inclusive {
        for s in &mut sales {
            let pct: Decimal = s
                .tax_code
                .as_deref()
                .and_then(|c| realm.tax_code(c))
                .map(|c| realm.sales_rates(c).iter().map(|r| r.2).sum())
                .unwrap_or_default();
            s.net = round2(s.gross / (Decimal::ONE + pct / HUNDRED));
            s.line.amount = Some(s.net);
            if let Some(d) = s.line.sales_item_line_detail.as_mut() {
                d.tax_inclusive_amt = Some(s.gross);
            }
        }
    }
    let subtotal: Decimal = sales.iter().filter(|s| !s.shipping).map(|s| s.net).sum();
    let shipping_total: Decimal = sales.iter().filter(|s| s.shipping).map(|s| s.net).sum();
    let goods_gross: Decimal = sales.iter().filter(|s| !s.shipping).map(|s| s.gross).sum();
    let gross_total: Decimal = sales.iter().map(|s| s.gross).sum();

    // Discounts.
    let mut discount_total = Decimal::ZERO;
    for d in &mut discounts {
        let detail = d.discount_line_detail.clone().unwrap_or_default();
        let base = if inclusive { goods_gross } else { subtotal };
        let amount = match (detail.percent_based, detail.discount_percent) {
            (Some(true), Some(pct)) => round2(base * pct / HUNDRED),
            _ => round2(
                d.amount
                    .ok_or_else(|| ApiError::RequiredParam("Line.Amount".into()))?,
            ),
        };
        if amount < Decimal::ZERO {
            return Err(ApiError::Business("A discount cannot be negative".into()));
        }
        d.amount = Some(amount);
        d.id = None;
        d.line_num = None;
        discount_total += amount;
    }
    let apply_after_discount = input.apply_tax_after_discount.unwrap_or(false);
    let discount_factor = if apply_after_discount && subtotal > Decimal::ZERO && !inclusive {
        (subtotal - discount_total.min(subtotal)) / subtotal
    } else {
        Decimal::ONE
    };

    // Tax.
    let mut txn_tax = TxnTaxDetail {
        total_tax: Some(Decimal::ZERO),
        ..TxnTaxDetail::default()
    };
    let mut total_tax = Decimal::ZERO;
    let mut tax_lines: Vec<TaxLine> = Vec::new();
    let tax_line =
        |rate_id: &str, rate_name: Option<String>, pct: Decimal, base: Decimal, tax: Decimal| {
            TaxLine {
                detail_type: Some("TaxLineDetail".into()),
                amount: Some(tax),
                tax_line_detail: Some(TaxLineDetail {
                    tax_rate_ref: Some(Ref {
                        value: rate_id.to_string(),
                        name: rate_name,
                    }),
                    percent_based: Some(true),
                    tax_percent: Some(pct),
                    net_amount_taxable: Some(base),
                    tax_inclusive_amount: None,
                }),
            }
        };
    if realm.is_us() {
        let taxable_base = round2(
            sales
                .iter()
                .filter(|s| s.tax_code.as_deref() == Some("TAX"))
                .map(|s| s.net)
                .sum::<Decimal>()
                * discount_factor,
        );
        let requested = input
            .txn_tax_detail
            .as_ref()
            .and_then(|t| t.txn_tax_code_ref.clone());
        let code_ref = requested.clone().or_else(|| {
            if customer.taxable == Some(true) {
                customer.default_tax_code_ref.clone()
            } else {
                None
            }
        });
        if let Some(code_ref) = code_ref {
            let code = realm
                .tax_code(&code_ref.value)
                .filter(|c| c.tax_group == Some(true))
                .ok_or_else(|| {
                    ApiError::InvalidReference(format!("TxnTaxCodeRef {}", code_ref.value))
                })?;
            if taxable_base > Decimal::ZERO || requested.is_some() {
                txn_tax.txn_tax_code_ref = Some(Ref::new(code_ref.value.clone()));
            }
            if taxable_base > Decimal::ZERO {
                for (rate_id, rate_name, pct) in realm.sales_rates(code) {
                    let tax = round2(taxable_base * pct / HUNDRED);
                    total_tax += tax;
                    tax_lines.push(tax_line(&rate_id, rate_name, pct, taxable_base, tax));
                }
            }
        }
    } else if gtc != Some(GlobalTaxCalculation::NotApplicable) {
        // Group lines by tax code.
        let mut by_code: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
        for s in &sales {
            if let Some(code) = &s.tax_code {
                let e = by_code.entry(code.clone()).or_default();
                e.0 += s.net;
                e.1 += s.gross;
            }
        }
        for (code_id, (net, gross)) in by_code {
            let Some(code) = realm.tax_code(&code_id) else {
                continue;
            };
            let rates = realm.sales_rates(code);
            let base = round2(net * discount_factor);
            if inclusive {
                let code_tax = gross - net;
                let pct_sum: Decimal = rates.iter().map(|r| r.2).sum();
                let mut allocated = Decimal::ZERO;
                for (i, (rate_id, rate_name, pct)) in rates.iter().enumerate() {
                    let tax = if i + 1 == rates.len() || pct_sum.is_zero() {
                        code_tax - allocated
                    } else {
                        round2(code_tax * pct / pct_sum)
                    };
                    allocated += tax;
                    total_tax += tax;
                    let mut tl = tax_line(rate_id, rate_name.clone(), *pct, base, tax);
                    if let Some(d) = tl.tax_line_detail.as_mut() {
                        d.tax_inclusive_amount = Some(gross);
                    }
                    tax_lines.push(tl);
                }
            } else {
                for (rate_id, rate_name, pct) in rates {
                    let tax = round2(base * pct / HUNDRED);
                    total_tax += tax;
                    tax_lines.push(tax_line(&rate_id, rate_name, pct, base, tax));
                }
            }
        }
    }
    if !tax_lines.is_empty() {
        txn_tax.tax_line = Some(tax_lines);
    }
    txn_tax.total_tax = Some(total_tax);

    let total = if inclusive {
        gross_total - discount_total
    } else {
        subtotal + shipping_total - discount_total + total_tax
    };
    if total < Decimal::ZERO {
        return Err(ApiError::Business(
            "The transaction total cannot be negative".into(),
        ));
    }
    let deposit = round2(input.deposit.unwrap_or_default());
    let paid = invoice_id
        .map(|id| paid_amount(realm, id))
        .unwrap_or_default();
    let balance = total - deposit - paid;
    if balance < Decimal::ZERO {
        return Err(ApiError::Business(
            "The deposit and payments applied exceed the invoice total".into(),
        ));
    }

    // Assemble lines: numbered sales lines, the subtotal, discounts, then shipping.
    let (shipping, goods): (Vec<SalesLine>, Vec<SalesLine>) =
        sales.into_iter().partition(|s| s.shipping);
    let mut lines: Vec<Line> = Vec::new();
    for (i, mut s) in goods.into_iter().enumerate() {
        s.line.id = Some((i + 1).to_string());
        s.line.line_num = Some(u32::try_from(i + 1).unwrap_or(u32::MAX));
        lines.push(s.line);
    }
    lines.push(Line {
        id: None,
        line_num: None,
        description: None,
        amount: Some(subtotal),
        detail_type: LineDetailType::SubTotalLineDetail,
        sales_item_line_detail: None,
        discount_line_detail: None,
        sub_total_line_detail: Some(SubTotalLineDetail::default()),
        group_line_detail: None,
        description_line_detail: None,
        linked_txn: None,
    });
    lines.extend(discounts);
    for mut s in shipping {
        s.line.id = None;
        s.line.line_num = None;
        lines.push(s.line);
    }

    // Dates and terms.
    let today = now.date_naive();
    let txn_date = input.txn_date.unwrap_or(today);
    let term_ref = input
        .sales_term_ref
        .clone()
        .or_else(|| customer.sales_term_ref.clone())
        .or_else(|| {
            realm
                .preferences
                .sales_forms_prefs
                .as_ref()
                .and_then(|s| s.default_terms.clone())
        });
    let term = match &term_ref {
        Some(r) => Some(
            realm
                .term(&r.value)
                .ok_or_else(|| ApiError::InvalidReference(format!("SalesTermRef {}", r.value)))?,
        ),
        None => None,
    };
    let due_date = match input.due_date {
        Some(d) => d,
        None => {
            let days = term.and_then(|t| t.due_days).unwrap_or(0).max(0);
            txn_date
                .checked_add_days(Days::new(u64::try_from(days).unwrap_or(0)))
                .unwrap_or(txn_date)
        }
    };
    if due_date < txn_date {
        return Err(ApiError::Business(
            "The due date cannot be earlier than the transaction date".into(),
        ));
    }

    // E-mail and print status.
    let bill_email = input
        .bill_email
        .clone()
        .or_else(|| customer.primary_email_addr.clone());
    if let Some(addr) = bill_email.as_ref().and_then(|e| e.address.as_deref())
        && !valid_email(addr)
    {
        return Err(ApiError::Business(format!(
            "Invalid email address format: {addr}"
        )));
    }
    let email_status = input.email_status.clone().unwrap_or(EmailStatus::NotSet);
    if email_status == EmailStatus::NeedToSend && bill_email.is_none() {
        return Err(ApiError::RequiredParam("BillEmail".into()));
    }
    let print_status = input.print_status.clone().unwrap_or(
        if customer.preferred_delivery_method.as_deref() == Some("Print") {
            PrintStatus::NeedToPrint
        } else {
            PrintStatus::NotSet
        },
    );

    // Custom fields: the configured definitions, with the values given.
    let custom_field = realm
        .custom_fields
        .iter()
        .map(|(def_id, name)| {
            let given = input.custom_field.iter().flatten().find(|c| {
                c.definition_id.as_deref() == Some(def_id.as_str())
                    || c.name.as_deref() == Some(name.as_str())
            });
            CustomField {
                definition_id: Some(def_id.clone()),
                name: Some(name.clone()),
                r#type: Some("StringType".into()),
                string_value: given.and_then(|c| c.string_value.clone()),
            }
        })
        .collect();

    let home_amounts = realm.multi_currency();
    Ok(Invoice {
        domain: Some("QBO".into()),
        sparse: Some(false),
        txn_date: Some(txn_date),
        due_date: Some(due_date),
        customer_ref: Some(Ref::named(
            customer_ref.value.clone(),
            customer.display_name.clone().unwrap_or_default(),
        )),
        currency_ref: Some(currency_ref(&currency)),
        exchange_rate: (home_amounts && currency != home).then_some(exchange_rate),
        sales_term_ref: term.map(|t| Ref {
            value: t.id.clone().unwrap_or_default(),
            name: t.name.clone(),
        }),
        line: Some(lines),
        txn_tax_detail: Some(txn_tax),
        global_tax_calculation: gtc,
        apply_tax_after_discount: Some(apply_after_discount),
        total_amt: Some(total),
        home_total_amt: home_amounts.then(|| round2(total * exchange_rate)),
        balance: Some(balance),
        home_balance: home_amounts.then(|| round2(balance * exchange_rate)),
        deposit: Some(deposit),
        email_status: Some(email_status),
        print_status: Some(print_status),
        bill_email,
        bill_addr: input
            .bill_addr
            .clone()
            .or_else(|| customer.bill_addr.clone()),
        ship_addr: input
            .ship_addr
            .clone()
            .or_else(|| customer.ship_addr.clone()),
        custom_field: Some(custom_field),
        allow_online_payment: Some(input.allow_online_payment.unwrap_or(false)),
        allow_online_credit_card_payment: Some(
            input.allow_online_credit_card_payment.unwrap_or(false),
        ),
        allow_online_ach_payment: Some(input.allow_online_ach_payment.unwrap_or(false)),
        allow_ipn_payment: Some(false),
        // An invoice made from an estimate keeps its link to it (payments link themselves).
        linked_txn: Some(
            input
                .linked_txn
                .iter()
                .flatten()
                .filter(|t| t.txn_type == "Estimate")
                .cloned()
                .collect(),
        ),
        // Writable fields copied as given.
        doc_number: input.doc_number.clone(),
        ship_date: input.ship_date,
        bill_email_cc: input.bill_email_cc.clone(),
        bill_email_bcc: input.bill_email_bcc.clone(),
        private_note: input.private_note.clone(),
        customer_memo: input.customer_memo.clone(),
        project_ref: input.project_ref.clone(),
        class_ref: input.class_ref.clone(),
        department_ref: input.department_ref.clone(),
        deposit_to_account_ref: input.deposit_to_account_ref.clone(),
        ship_method_ref: input.ship_method_ref.clone(),
        tracking_num: input.tracking_num.clone(),
        // Read-only fields are the caller's (never taken from the request).
        id: None,
        sync_token: None,
        status: None,
        meta_data: None,
        delivery_info: None,
        invoice_link: None,
    })
}

/// `@` and a `.` after it, no spaces (QuickBooks' own e-mail check is of this strength).
pub fn valid_email(addr: &str) -> bool {
    let addr = addr.trim();
    match addr.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !addr.contains(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    }
}

/// Validates and prices one sales line. `idx` is the 0-based position in the request.
fn sales_line(
    realm: &Realm,
    customer_taxable: bool,
    line: &Line,
    idx: usize,
    gtc: Option<&GlobalTaxCalculation>,
) -> Result<SalesLine, ApiError> {
    let mut detail = line
        .sales_item_line_detail
        .clone()
        .ok_or_else(|| ApiError::RequiredParam(format!("Line[{idx}].SalesItemLineDetail")))?;
    let item_ref = detail
        .item_ref
        .clone()
        .filter(|r| !r.value.is_empty())
        .ok_or_else(|| {
            ApiError::RequiredParam(format!("Line[{idx}].SalesItemLineDetail.ItemRef"))
        })?;
    let shipping = item_ref.value == "SHIPPING_ITEM_ID";
    let (item_name, item_price, item_taxable) = if shipping {
        ("Shipping".to_string(), None, false)
    } else {
        let item = realm
            .find_item(&item_ref.value)
            .ok_or_else(|| ApiError::InvalidReference(format!("Item {}", item_ref.value)))?;
        if item.active == Some(false) {
            return Err(ApiError::NotFound(format!("Item {}", item_ref.value)));
        }
        (
            item.name.clone().unwrap_or_default(),
            item.unit_price,
            item.taxable.unwrap_or(false),
        )
    };
    detail.item_ref = Some(Ref::named(item_ref.value.clone(), item_name));

    // Amount from quantity × price when both are known, else as entered.
    let amount = match (
        detail.qty,
        detail.unit_price,
        detail.tax_inclusive_amt,
        line.amount,
    ) {
        (_, _, Some(gross), _) if gtc == Some(&GlobalTaxCalculation::TaxInclusive) => round2(gross),
        (Some(q), Some(p), _, _) => round2(q * p),
        (_, _, _, Some(a)) => round2(a),
        (Some(q), None, _, None) => {
            let p =
                item_price.ok_or_else(|| ApiError::RequiredParam(format!("Line[{idx}].Amount")))?;
            detail.unit_price = Some(p);
            round2(q * p)
        }
        (None, _, _, None) => return Err(ApiError::RequiredParam(format!("Line[{idx}].Amount"))),
    };
    if let (Some(q), None) = (detail.qty, detail.unit_price)
        && !q.is_zero()
    {
        detail.unit_price = Some(amount / q);
    }
    if let (None, Some(p)) = (detail.qty, detail.unit_price)
        && !p.is_zero()
    {
        detail.qty = Some(amount / p);
    }

    // Tax code.
    let tax_code = if realm.is_us() {
        let code = match &detail.tax_code_ref {
            Some(r) => r.value.clone(),
            None if item_taxable && customer_taxable => "TAX".into(),
            None => "NON".into(),
        };
        if code != "TAX" && code != "NON" {
            return Err(ApiError::Business(format!(
                "Line[{idx}]: US companies use the TaxCodeRef values TAX or NON on lines, not {code}"
            )));
        }
        detail.tax_code_ref = Some(Ref::new(code.clone()));
        Some(code)
    } else if gtc == Some(&GlobalTaxCalculation::NotApplicable) {
        detail.tax_code_ref.as_ref().map(|r| r.value.clone())
    } else {
        let code = detail.tax_code_ref.as_ref().map(|r| r.value.clone());
        let Some(code) = code else {
            return Err(ApiError::Business(format!(
                "Make sure all your transactions have a VAT rate before you save (Line[{idx}] has no TaxCodeRef)"
            )));
        };
        let tc = realm
            .tax_code(&code)
            .filter(|c| c.active != Some(false))
            .ok_or_else(|| ApiError::InvalidReference(format!("TaxCodeRef {code}")))?;
        detail.tax_code_ref = Some(Ref::named(
            code.clone(),
            tc.name.clone().unwrap_or_default(),
        ));
        Some(code)
    };

    let mut out = line.clone();
    out.detail_type = LineDetailType::SalesItemLineDetail;
    out.amount = Some(amount);
    detail.tax_inclusive_amt = None;
    out.sales_item_line_detail = Some(detail);
    out.linked_txn = None;
    Ok(SalesLine {
        line: out,
        net: amount,
        gross: amount,
        tax_code,
        shipping,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quickbooks::config::{GB_REALM, RealmSeed, US_REALM};
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn invoice(v: serde_json::Value) -> Invoice {
        serde_json::from_value(v).unwrap()
    }

    fn us() -> Realm {
        let mut seed = RealmSeed::us(US_REALM);
        seed.multi_currency = false;
        Realm::seeded(&seed, Utc::now())
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(round2(dec!(0.845)), dec!(0.85));
        assert_eq!(round2(dec!(-0.845)), dec!(-0.85));
        assert_eq!(round2(dec!(0.844)), dec!(0.84));
    }

    #[test]
    fn us_tax_group_with_two_rates_and_percent_discount() {
        // Tucson: 7.1 % + 2 % on the taxable line only; 10 % discount on the subtotal.
        let inv = compute(
            &us(),
            &invoice(json!({
                "CustomerRef": {"value": "1"},
                "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "3"}},
                "Line": [
                    {"DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "4"}, "Qty": 3, "UnitPrice": 25, "TaxCodeRef": {"value": "TAX"}}},
                    {"DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "Qty": 2, "TaxCodeRef": {"value": "NON"}}},
                    {"DetailType": "DiscountLineDetail", "DiscountLineDetail": {"PercentBased": true, "DiscountPercent": 10}}
                ]
            })),
            None,
            Utc::now(),
        )
        .unwrap();
        let tax = inv.txn_tax_detail.unwrap();
        let lines = tax.tax_line.unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].amount, Some(dec!(5.33)), "7.1 % of 75 = 5.325");
        assert_eq!(lines[1].amount, Some(dec!(1.50)));
        assert_eq!(tax.total_tax, Some(dec!(6.83)));
        // 75 + 100 (2 × the item price 50) − 17.50 discount + 6.83 tax.
        assert_eq!(inv.total_amt, Some(dec!(164.33)));
        assert_eq!(inv.balance, inv.total_amt);
        let all = inv.line.unwrap();
        assert_eq!(
            all[1].sales_item_line_detail.as_ref().unwrap().unit_price,
            Some(dec!(50))
        );
        assert_eq!(all[2].detail_type, LineDetailType::SubTotalLineDetail);
        assert_eq!(all[2].amount, Some(dec!(175)));
        assert_eq!(all[3].amount, Some(dec!(17.50)));
    }

    #[test]
    fn apply_tax_after_discount_reduces_the_taxable_base() {
        let inv = compute(
            &us(),
            &invoice(json!({
                "CustomerRef": {"value": "1"},
                "ApplyTaxAfterDiscount": true,
                "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "2"}},
                "Line": [
                    {"DetailType": "SalesItemLineDetail", "Amount": 100, "SalesItemLineDetail": {"ItemRef": {"value": "4"}, "TaxCodeRef": {"value": "TAX"}}},
                    {"DetailType": "DiscountLineDetail", "Amount": 50, "DiscountLineDetail": {"PercentBased": false}}
                ]
            })),
            None,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(
            inv.txn_tax_detail.unwrap().total_tax,
            Some(dec!(4)),
            "8 % of 50"
        );
        assert_eq!(inv.total_amt, Some(dec!(54)));
    }

    #[test]
    fn vat_inclusive_and_exclusive() {
        let gb = Realm::seeded(&RealmSeed::gb(GB_REALM), Utc::now());
        let lines = json!([
            {"DetailType": "SalesItemLineDetail", "Amount": 60, "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "TaxCodeRef": {"value": "2"}}},
            {"DetailType": "SalesItemLineDetail", "Amount": 21, "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "TaxCodeRef": {"value": "3"}}},
            {"DetailType": "SalesItemLineDetail", "Amount": 10, "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "TaxCodeRef": {"value": "5"}}}
        ]);
        let excl = compute(
            &gb,
            &invoice(json!({"CustomerRef": {"value": "1"}, "GlobalTaxCalculation": "TaxExcluded", "Line": lines})),
            None,
            Utc::now(),
        )
        .unwrap();
        // 20 % of 60 + 5 % of 21 (1.05) + exempt.
        assert_eq!(excl.txn_tax_detail.unwrap().total_tax, Some(dec!(13.05)));
        assert_eq!(excl.total_amt, Some(dec!(104.05)));

        let incl = compute(
            &gb,
            &invoice(json!({"CustomerRef": {"value": "1"}, "GlobalTaxCalculation": "TaxInclusive", "Line": lines})),
            None,
            Utc::now(),
        )
        .unwrap();
        let l = incl.line.as_ref().unwrap();
        assert_eq!(l[0].amount, Some(dec!(50)), "60 / 1.2");
        assert_eq!(l[1].amount, Some(dec!(20)), "21 / 1.05");
        assert_eq!(l[2].amount, Some(dec!(10)));
        assert_eq!(incl.txn_tax_detail.unwrap().total_tax, Some(dec!(11)));
        assert_eq!(incl.total_amt, Some(dec!(91)), "the gross amounts");

        let missing = compute(
            &gb,
            &invoice(json!({"CustomerRef": {"value": "1"}, "Line": lines})),
            None,
            Utc::now(),
        );
        assert_eq!(missing.unwrap_err().code(), "6000");
        let na = compute(
            &gb,
            &invoice(json!({"CustomerRef": {"value": "1"}, "GlobalTaxCalculation": "NotApplicable",
                            "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 5, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]})),
            None,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(na.total_amt, Some(dec!(5)));
    }

    #[test]
    fn due_date_follows_the_term_and_email_is_checked() {
        let realm = us();
        let today = Utc::now();
        let inv = compute(
            &realm,
            &invoice(json!({"CustomerRef": {"value": "2"}, "TxnDate": "2025-03-01",
                            "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 1, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]})),
            None,
            today,
        )
        .unwrap();
        assert_eq!(
            inv.due_date.unwrap().to_string(),
            "2025-03-16",
            "O'Brien & Sons are on Net 15"
        );
        assert_eq!(inv.sales_term_ref.unwrap().name.as_deref(), Some("Net 15"));
        let bad = compute(
            &realm,
            &invoice(
                json!({"CustomerRef": {"value": "2"}, "BillEmail": {"Address": "nope"},
                            "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 1, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]}),
            ),
            None,
            today,
        );
        assert_eq!(bad.unwrap_err().code(), "6000");
        assert!(valid_email("a.b@c.example") && !valid_email("a@b") && !valid_email("a b@c.d"));
    }
}
