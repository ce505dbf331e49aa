//! An invoice made from an accepted estimate ("convert"): whether this estimate may become an
//! invoice now, and the invoice QuickBooks receives (the estimate's customer, currency, lines,
//! tax and memo, with a `LinkedTxn` to it so that QuickBooks closes it). Pure; the route is
//! `functions/invoice-create/src/convert.rs`.
//!
//! **In full or in parts** ([`plan_estimate_part`]). An accepted estimate is invoiced all at
//! once, or in parts — a percentage, an amount, chosen lines at chosen quantities, the rest — as
//! a deal is ([`crate::progress`]): the basis is the estimate's value before tax added on top
//! ([`billing_of`]: its sales lines less its discounts), each part's lines are the estimate's
//! sales lines scaled to the part (rounded as QuickBooks rounds, the last line taking what
//! rounding left, the estimate's discounts spread over them, "30 % of Estimate #1001" in each
//! description), and what is billed of it is what the deal's live invoices whose
//! [`BillingRecord`] names this estimate bill (a voided or deleted part is left to bill again).
//! Asked "in full" after a part, the rest is billed. A part over what is left is refused with a
//! sentence naming what is left, unless the rep confirms.
//!
//! **The `LinkedTxn` goes on the invoice that finishes the estimate** (nothing left after it:
//! the rest, the whole estimate, or a part reaching or passing what is left), and only on it.
//! Whether QuickBooks keeps an estimate open after an API-made invoice linked to a part of it is
//! undocumented (the simulator closes it at the first linked invoice; ESTIMATES.md): earlier
//! parts carry no link, so the estimate stays Accepted and later parts stay possible, and say
//! "Part of Estimate #1001" in their private note instead; the finishing one closes it under
//! either reading.
//!
//! The estimate link's `invoice_ids` stay QuickBooks' `LinkedTxn` invoices (the sync rewrites
//! them from QuickBooks, keeping only `converted_invoice_id` besides): the parts before the
//! finishing one are not among them, since QuickBooks does not link them. What is billed of an
//! estimate is read from the deal's invoice links instead ([`estimate_progress`]), which is also
//! what the panel shows per estimate ([`recorded_progress`]).
//!
//! Exactly once, the whole estimate at once: before QuickBooks is called, the estimate's link
//! records the `requestid` of the invoice being made (`conversion_request_id`, a conditional
//! write); any later request for the same estimate — the same key after a crash, or another
//! key — sends that same `requestid` again, so QuickBooks answers with the invoice it made the
//! first time. Once the deal's invoice link is written, the estimate's link records the invoice
//! (`converted_invoice_id`). A part (the finishing one too) is once per `Idempotency-Key`, as a
//! part of a deal: the key's `requestid` and the conditional create of the deal's link.

use chrono::NaiveDate;
use rust_decimal::Decimal;

mod part;

pub use part::{
    ALL_OF_IT, EstimatePart, estimate_progress, left_sentence, plan_estimate_part,
    recorded_progress,
};

use super::EstimateLink;
use super::EstimateStatus;
use super::estimates::estimate_status;
use super::links::LinkError;
use super::progress::{BillingRecord, PartKind};
use quickbooks_wire::model::{
    Estimate, Invoice, Line, LineDetailType, LinkedTxn, Ref, TxnTaxDetail,
};

/// What to do with a request to invoice an estimate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversionVerdict {
    /// Make the invoice (record a new `requestid` on the link first).
    Start,
    /// A conversion began with this `requestid` and did not finish: send it again (QuickBooks
    /// answers with the invoice it made, or makes it now).
    Resume { request_id: String },
    /// The app made this invoice from it already.
    Converted { invoice_id: String },
    /// Not allowed now; the sentence says why.
    Refused(String),
}

/// "Estimate #1001" at the start of a sentence (or its id when QuickBooks gave no number).
pub fn estimate_name(link: &EstimateLink) -> String {
    match link
        .doc_number
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        Some(doc) => format!("Estimate #{doc}"),
        None => format!("Estimate (QuickBooks id {})", link.estimate_id),
    }
}

/// Whether the estimate linked by `link` may be invoiced now, on what QuickBooks holds
/// (`current`; `None`: QuickBooks answered that it has no such estimate) on `today` (the
/// company's local date). Only an Accepted estimate becomes an invoice; an unfinished conversion
/// is finished whatever QuickBooks says of the estimate since (it closed it itself).
pub fn conversion_verdict(
    link: &EstimateLink,
    current: Option<&Estimate>,
    today: NaiveDate,
) -> ConversionVerdict {
    let name = estimate_name(link);
    if let Some(invoice_id) = &link.converted_invoice_id {
        return ConversionVerdict::Converted {
            invoice_id: invoice_id.clone(),
        };
    }
    if let Some(request_id) = &link.conversion_request_id {
        return ConversionVerdict::Resume {
            request_id: request_id.clone(),
        };
    }
    let Some(current) = current.filter(|e| !e.is_deleted()) else {
        return ConversionVerdict::Refused(format!(
            "{name} was deleted in QuickBooks: there is nothing to invoice."
        ));
    };
    let sentence = match estimate_status(current, today) {
        EstimateStatus::Accepted => return ConversionVerdict::Start,
        EstimateStatus::Pending => format!(
            "{name} is still pending: only an estimate the customer accepted becomes an invoice. \
             When the customer accepts it, mark it accepted, then invoice it."
        ),
        EstimateStatus::Expired => format!(
            "{name} expired{} without the customer's answer. If the customer accepted it late, \
             mark it accepted, then invoice it.",
            current
                .expiration_date
                .map(|d| format!(" on {}", d.format("%-d %B %Y")))
                .unwrap_or_default()
        ),
        EstimateStatus::Rejected => format!(
            "{name} was rejected by the customer: only an accepted estimate becomes an invoice."
        ),
        EstimateStatus::Closed => format!(
            "{name} is closed in QuickBooks: an invoice was already made from it there, so it \
             cannot be invoiced again."
        ),
        EstimateStatus::Deleted => {
            format!("{name} was deleted in QuickBooks: there is nothing to invoice.")
        }
    };
    ConversionVerdict::Refused(sentence)
}

/// The invoice made from `estimate`, dated `txn_date`: its customer, currency, lines (without
/// their ids and QuickBooks' subtotal lines), tax code and tax mode, memo, private note, custom
/// fields, addresses and e-mail, and a `LinkedTxn` to it. QuickBooks computes the totals and tax
/// again, and the due date from the customer's terms.
pub fn invoice_from_estimate(
    estimate: &Estimate,
    txn_date: NaiveDate,
) -> Result<Invoice, LinkError> {
    let sale = &estimate.sale;
    let estimate_id = sale.id.clone().ok_or(LinkError::Missing("Id"))?;
    let customer = sale
        .customer_ref
        .clone()
        .ok_or(LinkError::Missing("CustomerRef"))?;
    let lines: Vec<Line> = sale
        .line
        .iter()
        .flatten()
        .filter(|l| l.detail_type != LineDetailType::SubTotalLineDetail)
        .map(|l| Line {
            id: None,
            line_num: None,
            linked_txn: None,
            ..l.clone()
        })
        .collect();
    if lines.is_empty() {
        return Err(LinkError::Missing("Line"));
    }
    Ok(Invoice {
        customer_ref: Some(Ref {
            value: customer.value,
            name: None,
        }),
        currency_ref: sale.currency_ref.clone(),
        txn_date: Some(txn_date),
        line: Some(lines),
        txn_tax_detail: sale
            .txn_tax_detail
            .as_ref()
            .and_then(|t| t.txn_tax_code_ref.clone())
            .map(|code| TxnTaxDetail {
                txn_tax_code_ref: Some(code),
                total_tax: None,
                tax_line: None,
            }),
        global_tax_calculation: sale.global_tax_calculation.clone(),
        apply_tax_after_discount: sale.apply_tax_after_discount,
        customer_memo: sale.customer_memo.clone(),
        private_note: sale.private_note.clone(),
        custom_field: sale.custom_field.clone(),
        bill_email: sale.bill_email.clone(),
        bill_addr: sale.bill_addr.clone(),
        ship_addr: sale.ship_addr.clone(),
        class_ref: sale.class_ref.clone(),
        department_ref: sale.department_ref.clone(),
        project_ref: sale.project_ref.clone(),
        linked_txn: Some(vec![LinkedTxn {
            txn_id: estimate_id,
            txn_type: "Estimate".into(),
            txn_line_id: None,
        }]),
        ..Invoice::default()
    })
}

/// What the deal's invoice link records of the part it bills: the whole estimate (its sales
/// lines less its discounts, before tax added on top), as an invoice of the whole deal does.
pub fn billing_of(estimate: &Estimate) -> BillingRecord {
    let mut whole = Decimal::ZERO;
    for line in estimate.sale.line.iter().flatten() {
        let amount = line.amount.unwrap_or(Decimal::ZERO);
        match line.detail_type {
            LineDetailType::SalesItemLineDetail => whole += amount,
            LineDetailType::DiscountLineDetail => whole -= amount,
            _ => {}
        }
    }
    BillingRecord {
        kind: PartKind::Full,
        percent: None,
        amount: whole,
        whole,
        estimate_id: estimate.sale.id.clone(),
    }
}

/// The estimate's link once the invoice made from it is linked on the deal: the invoice
/// recorded (and among its invoices). `None` when it says so already.
pub fn converted_link(link: &EstimateLink, invoice_id: &str) -> Option<EstimateLink> {
    if link.converted_invoice_id.as_deref() == Some(invoice_id)
        && link.invoice_ids.iter().any(|i| i == invoice_id)
    {
        return None;
    }
    let mut next = link.clone();
    next.converted_invoice_id = Some(invoice_id.to_string());
    if !next.invoice_ids.iter().any(|i| i == invoice_id) {
        next.invoice_ids.push(invoice_id.to_string());
    }
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimates::link_from_estimate;
    use crate::{CompanyId, DealId};
    use chrono::{DateTime, Utc};
    use serde_json::{Value, json};

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-03-10T12:00:00Z".parse().unwrap()
    }

    fn estimate(status: &str) -> Estimate {
        let v: Value = json!({
            "Id": "7", "SyncToken": "0", "DocNumber": "1001", "TxnDate": "2026-03-01",
            "ExpirationDate": "2026-03-31", "TxnStatus": status, "TotalAmt": 270.0,
            "CurrencyRef": {"value": "USD"}, "CustomerRef": {"value": "1", "name": "Acme"},
            "CustomerMemo": {"value": "Thanks"}, "PrivateNote": "deal 2",
            "GlobalTaxCalculation": "TaxExcluded",
            "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "3"}, "TotalTax": 20.0,
                             "TaxLine": [{"Amount": 20.0, "DetailType": "TaxLineDetail"}]},
            "Line": [
                {"Id": "1", "LineNum": 1, "Amount": 200.0, "DetailType": "SalesItemLineDetail",
                 "SalesItemLineDetail": {"ItemRef": {"value": "4"}, "Qty": 2, "UnitPrice": 100}},
                {"Id": "2", "LineNum": 2, "Amount": 100.0, "DetailType": "SalesItemLineDetail",
                 "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "Qty": 1, "UnitPrice": 100}},
                {"Amount": 300.0, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}},
                {"Id": "3", "Amount": 50.0, "DetailType": "DiscountLineDetail",
                 "DiscountLineDetail": {"PercentBased": false}}
            ],
            "MetaData": {"LastUpdatedTime": "2026-03-01T10:00:00Z"}
        });
        serde_json::from_value(v).unwrap()
    }

    fn link_of(e: &Estimate) -> EstimateLink {
        link_from_estimate(CompanyId(1), DealId(2), "r", e, date("2026-03-02"), now()).unwrap()
    }

    #[test]
    fn only_an_accepted_estimate_is_invoiced_and_the_sentence_says_why_not() {
        let today = date("2026-03-10");
        let accepted = estimate("Accepted");
        let link = link_of(&accepted);
        assert_eq!(
            conversion_verdict(&link, Some(&accepted), today),
            ConversionVerdict::Start
        );
        // Accepted never expires.
        assert_eq!(
            conversion_verdict(&link, Some(&accepted), date("2027-01-01")),
            ConversionVerdict::Start
        );
        let refused = |e: &Estimate, on: NaiveDate| match conversion_verdict(&link, Some(e), on) {
            ConversionVerdict::Refused(s) => s,
            other => panic!("{other:?}"),
        };
        let pending = refused(&estimate("Pending"), today);
        assert!(
            pending.starts_with("Estimate #1001 is still pending") && pending.contains("accepted"),
            "{pending}"
        );
        let expired = refused(&estimate("Pending"), date("2026-04-01"));
        assert!(expired.contains("expired on 31 March 2026"), "{expired}");
        assert!(refused(&estimate("Rejected"), today).contains("rejected"));
        assert!(refused(&estimate("Closed"), today).contains("closed in QuickBooks"));
        let stub: Estimate =
            serde_json::from_value(json!({"Id": "7", "status": "Deleted"})).unwrap();
        assert!(refused(&stub, today).contains("deleted"));
        match conversion_verdict(&link, None, today) {
            ConversionVerdict::Refused(s) => assert!(s.contains("deleted"), "{s}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unfinished_conversion_is_resumed_and_a_finished_one_is_not_repeated() {
        let today = date("2026-03-10");
        let mut link = link_of(&estimate("Accepted"));
        link.conversion_request_id = Some("rid-1".into());
        // QuickBooks closed it when it made the invoice: the same requestid goes again.
        for current in [Some(estimate("Closed")), Some(estimate("Accepted")), None] {
            assert_eq!(
                conversion_verdict(&link, current.as_ref(), today),
                ConversionVerdict::Resume {
                    request_id: "rid-1".into()
                }
            );
        }
        let done = converted_link(&link, "55").unwrap();
        assert_eq!(
            (
                done.converted_invoice_id.as_deref(),
                done.invoice_ids.clone()
            ),
            (Some("55"), vec!["55".to_string()])
        );
        assert_eq!(converted_link(&done, "55"), None, "nothing more to write");
        assert_eq!(
            conversion_verdict(&done, Some(&estimate("Closed")), today),
            ConversionVerdict::Converted {
                invoice_id: "55".into()
            }
        );
    }

    #[test]
    fn the_invoice_carries_the_estimate_and_links_to_it() {
        let e = estimate("Accepted");
        let invoice = invoice_from_estimate(&e, date("2026-03-12")).unwrap();
        assert_eq!(invoice.txn_date, Some(date("2026-03-12")));
        assert_eq!(invoice.customer_ref.as_ref().unwrap().value, "1");
        assert_eq!(invoice.currency_ref.as_ref().unwrap().value, "USD");
        let lines = invoice.line.as_ref().unwrap();
        assert_eq!(
            lines.len(),
            3,
            "the subtotal line is QuickBooks' to compute"
        );
        assert!(lines.iter().all(|l| l.id.is_none() && l.line_num.is_none()));
        assert_eq!(lines[0].amount, Some(Decimal::from(200)));
        assert_eq!(lines[2].detail_type, LineDetailType::DiscountLineDetail);
        let tax = invoice.txn_tax_detail.as_ref().unwrap();
        assert_eq!(
            (
                tax.txn_tax_code_ref.as_ref().unwrap().value.as_str(),
                tax.total_tax,
                tax.tax_line.is_none()
            ),
            ("3", None, true),
            "the tax code, QuickBooks computes the tax"
        );
        assert_eq!(
            invoice.global_tax_calculation,
            e.sale.global_tax_calculation
        );
        assert_eq!(invoice.customer_memo.as_ref().unwrap().value, "Thanks");
        assert_eq!(invoice.private_note.as_deref(), Some("deal 2"));
        assert_eq!(
            invoice.linked_txn,
            Some(vec![LinkedTxn {
                txn_id: "7".into(),
                txn_type: "Estimate".into(),
                txn_line_id: None
            }])
        );
        assert!(
            invoice.id.is_none() && invoice.doc_number.is_none() && invoice.total_amt.is_none()
        );
        assert!(invoice.due_date.is_none(), "from the customer's terms");

        let whole = billing_of(&e);
        assert_eq!(
            (whole.kind, whole.amount, whole.whole),
            (PartKind::Full, Decimal::from(250), Decimal::from(250))
        );

        let mut empty = e.clone();
        empty.sale.line = Some(vec![]);
        assert!(invoice_from_estimate(&empty, date("2026-03-12")).is_err());
        let mut anonymous = e;
        anonymous.sale.customer_ref = None;
        assert!(invoice_from_estimate(&anonymous, date("2026-03-12")).is_err());
    }
}
