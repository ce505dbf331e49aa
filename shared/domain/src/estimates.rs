//! Estimates on a deal: their status (QuickBooks' `TxnStatus`, plus Expired derived from the
//! expiration date like Overdue), the link kept per deal and how it follows QuickBooks, the
//! expiration date from the company's setting, and whether a rep may mark one Accepted or
//! Rejected. Pure; facts in `shared/wire/quickbooks/ESTIMATES.md`.

use chrono::{DateTime, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::actions::AtSyncToken;
use super::draft::InvoiceForm;
use super::links::{LinkError, is_older};
use super::{CompanyId, DealId, EstimateLink, EstimateStatus, FieldError};
use quickbooks_wire::model::{EmailStatus, Estimate, TxnStatus};

/// The status of `estimate` on `today` (a local date in the company's time zone). Expired is
/// only ever a Pending estimate past its expiration date: an answer the customer gave (accepted,
/// rejected) or a conversion (closed) stays what it is.
pub fn estimate_status(estimate: &Estimate, today: NaiveDate) -> EstimateStatus {
    if estimate.is_deleted() {
        return EstimateStatus::Deleted;
    }
    let pending = match &estimate.txn_status {
        Some(TxnStatus::Accepted) => return EstimateStatus::Accepted,
        Some(TxnStatus::Rejected) => return EstimateStatus::Rejected,
        Some(TxnStatus::Closed) => return EstimateStatus::Closed,
        // Pending, absent, or a spelling we do not know: treated as still waiting.
        _ => EstimateStatus::Pending,
    };
    status_on(pending, estimate.expiration_date, today)
}

/// A stored status seen on a later day without asking QuickBooks: only Pending → Expired
/// depends on the date alone (the list shows it the day it happens).
pub fn status_on(
    status: EstimateStatus,
    expiration: Option<NaiveDate>,
    today: NaiveDate,
) -> EstimateStatus {
    match status {
        EstimateStatus::Pending if expiration.is_some_and(|d| d < today) => EstimateStatus::Expired,
        other => other,
    }
}

/// The expiration date of an estimate dated `txn_date`: `days` later.
pub fn expiration_date(txn_date: NaiveDate, days: u16) -> NaiveDate {
    txn_date
        .checked_add_days(Days::new(u64::from(days)))
        .unwrap_or(txn_date)
}

fn invoice_ids(estimate: &Estimate) -> Vec<String> {
    estimate
        .sale
        .linked_txn
        .iter()
        .flatten()
        .filter(|t| t.txn_type == "Invoice")
        .map(|t| t.txn_id.clone())
        .collect()
}

fn merged_ids(mut ids: Vec<String>, converted: Option<&str>) -> Vec<String> {
    if let Some(id) = converted.filter(|id| !ids.iter().any(|i| i == id)) {
        ids.push(id.to_string());
    }
    ids
}

fn updated_at(estimate: &Estimate) -> Option<DateTime<Utc>> {
    super::links::qbo_updated_at(&estimate.sale)
}

/// A new link from a QuickBooks estimate (after creating it).
pub fn link_from_estimate(
    company: CompanyId,
    deal: DealId,
    realm_id: &str,
    estimate: &Estimate,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<EstimateLink, LinkError> {
    let sale = &estimate.sale;
    let estimate_id = sale.id.clone().ok_or(LinkError::Missing("Id"))?;
    let customer = sale
        .customer_ref
        .as_ref()
        .ok_or(LinkError::Missing("CustomerRef"))?;
    Ok(EstimateLink {
        company_id: company,
        deal_id: deal,
        realm_id: realm_id.to_string(),
        estimate_id,
        doc_number: sale.doc_number.clone(),
        currency: sale
            .currency_ref
            .as_ref()
            .map(|c| c.value.clone())
            .unwrap_or_default(),
        total: sale.total_amt.unwrap_or(Decimal::ZERO),
        txn_date: sale.txn_date.unwrap_or(today),
        expiration_date: estimate.expiration_date,
        status: estimate_status(estimate, today),
        customer_id: customer.value.clone(),
        customer_name: customer.name.clone(),
        email_sent: sale.email_status == Some(EmailStatus::EmailSent),
        accepted_by: estimate.accepted_by.clone(),
        invoice_ids: invoice_ids(estimate),
        conversion_request_id: None,
        converted_invoice_id: None,
        sync_token: sale.sync_token.clone(),
        qbo_updated_at: updated_at(estimate),
        created_at: now,
        updated_at: now,
        version: 0,
    })
}

/// The link brought up to date with `estimate` (a full read, a CDC entry or a `Deleted` stub),
/// or `None` when nothing it keeps changed or the data is older than what it reflects.
pub fn refreshed_estimate_link(
    link: &EstimateLink,
    estimate: &Estimate,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Option<EstimateLink> {
    let seen = updated_at(estimate);
    let token = estimate.sale.sync_token.as_deref();
    if is_older(seen, token, link.qbo_updated_at, link.sync_token.as_deref()) {
        return None;
    }
    let mut next = link.clone();
    next.status = estimate_status(estimate, today);
    if !estimate.is_deleted() {
        let fresh = link_from_estimate(
            link.company_id,
            link.deal_id,
            &link.realm_id,
            estimate,
            today,
            now,
        )
        .ok()?;
        next = EstimateLink {
            customer_name: fresh.customer_name.or(next.customer_name),
            doc_number: fresh.doc_number.or(next.doc_number),
            currency: if fresh.currency.is_empty() {
                next.currency
            } else {
                fresh.currency
            },
            created_at: link.created_at,
            version: link.version,
            // The app's own conversion, whether or not QuickBooks links the invoice back.
            invoice_ids: merged_ids(fresh.invoice_ids, link.converted_invoice_id.as_deref()),
            conversion_request_id: link.conversion_request_id.clone(),
            converted_invoice_id: link.converted_invoice_id.clone(),
            ..fresh
        };
    }
    if token.is_some() {
        next.sync_token = token.map(str::to_string);
    }
    if seen.is_some() {
        next.qbo_updated_at = seen;
    }
    next.updated_at = link.updated_at;
    if next == *link {
        return None;
    }
    next.updated_at = now;
    Some(next)
}

/// The answer a rep records for the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Accepted,
    Rejected,
}

impl Answer {
    pub fn txn_status(self) -> TxnStatus {
        match self {
            Answer::Accepted => TxnStatus::Accepted,
            Answer::Rejected => TxnStatus::Rejected,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Answer::Accepted => "accepted",
            Answer::Rejected => "rejected",
        }
    }
}

/// What to do about a rep's request on an estimate (an answer, a delete), decided on what
/// QuickBooks holds now (`None`: it answered 610).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EstimateVerdict {
    /// Make the change at this `SyncToken`.
    Change { sync_token: String },
    /// It already says so: nothing to send.
    AlreadySo,
    /// Not allowed; the sentence says why.
    Refused(String),
    /// QuickBooks has no such estimate (any more).
    Gone,
    /// QuickBooks answered an estimate without a `SyncToken`.
    NoSyncToken,
}

impl AtSyncToken for EstimateVerdict {
    fn sync_token(&self) -> Option<&str> {
        match self {
            EstimateVerdict::Change { sync_token } => Some(sync_token),
            _ => None,
        }
    }
}

fn at_sync_token(current: &Estimate) -> EstimateVerdict {
    match &current.sale.sync_token {
        Some(token) => EstimateVerdict::Change {
            sync_token: token.clone(),
        },
        None => EstimateVerdict::NoSyncToken,
    }
}

/// Whether a rep may record `answer` on the estimate QuickBooks holds: not on a closed
/// (converted) one; an answer it already has is not sent again; an expired one may still be
/// answered (the customer answered late).
pub fn answer_verdict(
    current: Option<&Estimate>,
    answer: Answer,
    today: NaiveDate,
) -> EstimateVerdict {
    let Some(current) = current.filter(|e| !e.is_deleted()) else {
        return EstimateVerdict::Gone;
    };
    match (estimate_status(current, today), answer) {
        (EstimateStatus::Closed, _) => EstimateVerdict::Refused(
            "was converted into an invoice (QuickBooks closed it): its answer can no longer change"
                .into(),
        ),
        (EstimateStatus::Accepted, Answer::Accepted)
        | (EstimateStatus::Rejected, Answer::Rejected) => EstimateVerdict::AlreadySo,
        _ => at_sync_token(current),
    }
}

/// Whether the estimate QuickBooks holds may be deleted (QuickBooks decides the rest).
pub fn delete_verdict(current: Option<&Estimate>) -> EstimateVerdict {
    match current.filter(|e| !e.is_deleted()) {
        None => EstimateVerdict::Gone,
        Some(current) => at_sync_token(current),
    }
}

/// The sparse update that records `answer` on the estimate at `sync_token` (the accepted date is
/// the company's `today`).
pub fn answer_update(
    estimate_id: &str,
    sync_token: &str,
    answer: Answer,
    accepted_by: Option<&str>,
    today: NaiveDate,
) -> Value {
    let mut body = json!({
        "Id": estimate_id,
        "SyncToken": sync_token,
        "sparse": true,
        "TxnStatus": answer.txn_status().as_str(),
    });
    if answer == Answer::Accepted {
        body["AcceptedDate"] = json!(today);
        if let Some(by) = accepted_by.filter(|b| !b.trim().is_empty()) {
            body["AcceptedBy"] = json!(by.trim());
        }
    }
    body
}

/// "Estimate #1001" (or its id when QuickBooks gave no number).
pub fn estimate_label(link: &EstimateLink) -> String {
    match &link.doc_number {
        Some(doc) => format!("estimate #{doc}"),
        None => format!("estimate (id {})", link.estimate_id),
    }
}

/// An estimate quotes the whole deal: a billing part (a deposit, chosen lines, the rest) belongs
/// to an invoice, so a create that asks for one is refused with a sentence — never quietly
/// quoted for the whole deal instead.
pub fn part_refusal(form: &InvoiceForm) -> Option<FieldError> {
    form.part.as_ref().map(|_| {
        FieldError::new(
            "part",
            "An estimate quotes the whole deal: deposits and parts of the deal are invoiced, not \
             estimated. Create the estimate for the whole deal, or create an invoice for the part.",
        )
    })
}

/// How a status reads in a sentence.
pub fn status_words(status: EstimateStatus) -> &'static str {
    match status {
        EstimateStatus::Pending => "pending",
        EstimateStatus::Accepted => "accepted",
        EstimateStatus::Rejected => "rejected",
        EstimateStatus::Closed => "closed (converted into an invoice)",
        EstimateStatus::Expired => "expired",
        EstimateStatus::Deleted => "deleted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn estimate(v: Value) -> Estimate {
        serde_json::from_value(v).unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-03-10T12:00:00Z".parse().unwrap()
    }

    fn base() -> Estimate {
        estimate(json!({
            "Id": "7", "SyncToken": "0", "DocNumber": "1001", "TxnDate": "2026-03-01",
            "ExpirationDate": "2026-03-31", "TxnStatus": "Pending", "TotalAmt": 250.0,
            "CurrencyRef": {"value": "USD"}, "CustomerRef": {"value": "1", "name": "Acme"},
            "MetaData": {"LastUpdatedTime": "2026-03-01T10:00:00Z"}
        }))
    }

    #[test]
    fn an_estimate_with_a_part_is_refused_and_one_without_is_not() {
        let mut form: InvoiceForm = serde_json::from_value(json!({
            "customer_id": "1", "currency": "USD", "txn_date": "2026-03-01", "tax_mode": "none",
            "lines": []
        }))
        .unwrap();
        assert_eq!(part_refusal(&form), None);
        form.part = Some(crate::progress::BillingPart::Rest {});
        let refused = part_refusal(&form).unwrap();
        assert_eq!(refused.field, "part");
        assert!(
            refused.message.contains("whole deal"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn every_status() {
        let today = date("2026-03-10");
        assert_eq!(estimate_status(&base(), today), EstimateStatus::Pending);
        assert_eq!(
            estimate_status(&base(), date("2026-03-31")),
            EstimateStatus::Pending
        );
        assert_eq!(
            estimate_status(&base(), date("2026-04-01")),
            EstimateStatus::Expired
        );
        for (txn, status) in [
            ("Accepted", EstimateStatus::Accepted),
            ("Rejected", EstimateStatus::Rejected),
            ("Closed", EstimateStatus::Closed),
            ("CLOSED", EstimateStatus::Closed),
        ] {
            let mut e = base();
            e.txn_status = Some(TxnStatus::parse(txn));
            // An answer or a conversion never expires.
            assert_eq!(estimate_status(&e, date("2027-01-01")), status, "{txn}");
        }
        let mut none = base();
        none.txn_status = None;
        none.expiration_date = None;
        assert_eq!(
            estimate_status(&none, date("2030-01-01")),
            EstimateStatus::Pending
        );
        let deleted = estimate(json!({"Id": "7", "status": "Deleted"}));
        assert_eq!(estimate_status(&deleted, today), EstimateStatus::Deleted);
        assert_eq!(
            status_on(EstimateStatus::Pending, Some(date("2026-03-09")), today),
            EstimateStatus::Expired
        );
        assert_eq!(
            status_on(EstimateStatus::Accepted, Some(date("2026-03-09")), today),
            EstimateStatus::Accepted
        );
    }

    #[test]
    fn expiration_follows_the_setting() {
        assert_eq!(expiration_date(date("2026-01-31"), 30), date("2026-03-02"));
        assert_eq!(expiration_date(date("2026-01-31"), 0), date("2026-01-31"));
    }

    #[test]
    fn the_link_follows_quickbooks_and_the_newest_wins() {
        let today = date("2026-03-10");
        let link = link_from_estimate(CompanyId(1), DealId(2), "r", &base(), today, now()).unwrap();
        assert_eq!(
            (link.status, link.total, link.doc_number.as_deref()),
            (EstimateStatus::Pending, Decimal::from(250), Some("1001"))
        );
        assert_eq!(refreshed_estimate_link(&link, &base(), today, now()), None);
        let mut accepted = base();
        accepted.txn_status = Some(TxnStatus::Accepted);
        accepted.accepted_by = Some("Pat".into());
        accepted.sale.sync_token = Some("1".into());
        let later = refreshed_estimate_link(&link, &accepted, today, now()).unwrap();
        assert_eq!(
            (later.status, later.accepted_by.as_deref()),
            (EstimateStatus::Accepted, Some("Pat"))
        );
        // The older state arriving late changes nothing.
        assert_eq!(refreshed_estimate_link(&later, &base(), today, now()), None);
        let mut closed = accepted.clone();
        closed.txn_status = Some(TxnStatus::Closed);
        closed.sale.sync_token = Some("2".into());
        closed.sale.linked_txn = Some(vec![quickbooks_wire::model::LinkedTxn {
            txn_id: "55".into(),
            txn_type: "Invoice".into(),
            txn_line_id: None,
        }]);
        let converted = refreshed_estimate_link(&later, &closed, today, now()).unwrap();
        assert_eq!(
            (converted.status, converted.invoice_ids.clone()),
            (EstimateStatus::Closed, vec!["55".to_string()])
        );
        let gone = estimate(json!({"Id": "7", "status": "Deleted"}));
        let deleted = refreshed_estimate_link(&converted, &gone, today, now()).unwrap();
        assert_eq!(
            (deleted.status, deleted.total),
            (EstimateStatus::Deleted, Decimal::from(250))
        );
    }

    #[test]
    fn answers_a_rep_may_record() {
        let today = date("2026-03-10");
        let change = EstimateVerdict::Change {
            sync_token: "0".into(),
        };
        let with = |status: &str| {
            let mut e = base();
            e.txn_status = Some(TxnStatus::parse(status));
            e
        };
        assert_eq!(
            answer_verdict(Some(&base()), Answer::Accepted, today),
            change
        );
        // Expired: the customer may still answer late.
        assert_eq!(
            answer_verdict(Some(&base()), Answer::Rejected, date("2026-05-01")),
            change
        );
        assert_eq!(
            answer_verdict(Some(&with("Rejected")), Answer::Accepted, today),
            change
        );
        assert_eq!(
            answer_verdict(Some(&with("Accepted")), Answer::Accepted, today),
            EstimateVerdict::AlreadySo
        );
        assert!(matches!(
            answer_verdict(Some(&with("Closed")), Answer::Rejected, today),
            EstimateVerdict::Refused(_)
        ));
        assert_eq!(
            answer_verdict(None, Answer::Accepted, today),
            EstimateVerdict::Gone
        );
        let mut tokenless = base();
        tokenless.sale.sync_token = None;
        assert_eq!(
            answer_verdict(Some(&tokenless), Answer::Accepted, today),
            EstimateVerdict::NoSyncToken
        );
        assert_eq!(delete_verdict(Some(&with("Closed"))), change);
        assert_eq!(delete_verdict(None), EstimateVerdict::Gone);
        assert_eq!(change.sync_token(), Some("0"));
        let body = answer_update(
            "7",
            "3",
            Answer::Accepted,
            Some(" Pat "),
            date("2026-03-10"),
        );
        assert_eq!(
            body,
            json!({"Id": "7", "SyncToken": "3", "sparse": true, "TxnStatus": "Accepted",
                   "AcceptedDate": "2026-03-10", "AcceptedBy": "Pat"})
        );
        let body = answer_update("7", "3", Answer::Rejected, Some("Pat"), date("2026-03-10"));
        assert_eq!(
            body,
            json!({"Id": "7", "SyncToken": "3", "sparse": true, "TxnStatus": "Rejected"})
        );
    }
}
