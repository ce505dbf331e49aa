//! Keeping invoice links in step with QuickBooks: one pure function used by every path that
//! learns something about an invoice (creation, refresh, webhooks, the scheduled sync), so they
//! all agree on what changed and what wins.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::status::{invoice_status, status_on};
use super::{CompanyId, CustomerLink, DealId, InvoiceLink, InvoiceStatus};
use quickbooks_wire::model::{EmailStatus, EntityStatus, Invoice};

/// Today's date in the company's IANA time zone (UTC if the name is unknown).
pub fn today_in(time_zone: &str, now: DateTime<Utc>) -> NaiveDate {
    match time_zone.parse::<Tz>() {
        Ok(tz) => now.with_timezone(&tz).date_naive(),
        Err(_) => now.date_naive(),
    }
}

/// The day QuickBooks last changed the invoice, in the offset QuickBooks wrote it with (the
/// company's own time in QuickBooks); `today` when the invoice carries no time.
fn quickbooks_day(invoice: &Invoice, today: NaiveDate) -> NaiveDate {
    invoice
        .meta_data
        .as_ref()
        .and_then(|m| m.last_updated_time)
        .map_or(today, |t| t.date_naive())
}

/// When QuickBooks last changed the invoice, in UTC.
pub fn qbo_updated_at(invoice: &Invoice) -> Option<DateTime<Utc>> {
    invoice
        .meta_data
        .as_ref()
        .and_then(|m| m.last_updated_time)
        .map(|t| t.with_timezone(&Utc))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("QuickBooks' invoice has no {0}")]
    Missing(&'static str),
}

/// A new link from a QuickBooks invoice (after creating it, or when linking an existing one).
pub fn link_from_invoice(
    company: CompanyId,
    deal: DealId,
    realm_id: &str,
    invoice: &Invoice,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<InvoiceLink, LinkError> {
    let invoice_id = invoice.id.clone().ok_or(LinkError::Missing("Id"))?;
    let customer = invoice
        .customer_ref
        .as_ref()
        .ok_or(LinkError::Missing("CustomerRef"))?;
    let total = invoice.total_amt.unwrap_or(Decimal::ZERO);
    let balance = invoice.balance.unwrap_or(total);
    let deposit = invoice.deposit.unwrap_or(Decimal::ZERO).max(Decimal::ZERO);
    // Linked with payments already on it: they were recorded by its last change at the latest.
    let paid_before = balance < total - deposit;
    Ok(InvoiceLink {
        company_id: company,
        deal_id: deal,
        realm_id: realm_id.to_string(),
        invoice_id,
        doc_number: invoice.doc_number.clone(),
        currency: invoice
            .currency_ref
            .as_ref()
            .map(|c| c.value.clone())
            .unwrap_or_default(),
        total,
        balance,
        txn_date: invoice.txn_date.unwrap_or(today),
        due_date: invoice.due_date,
        status: invoice_status(invoice, None, today),
        customer_id: customer.value.clone(),
        customer_name: customer.name.clone(),
        email_sent: invoice.email_status == Some(EmailStatus::EmailSent),
        sync_token: invoice.sync_token.clone(),
        qbo_updated_at: qbo_updated_at(invoice),
        last_payment_date: paid_before.then(|| quickbooks_day(invoice, today)),
        billing: None,
        created_at: now,
        updated_at: now,
        version: 0,
    })
}

/// Whether QuickBooks data (`seen` time and `SyncToken`) is older than what a link already
/// reflects (`known`): webhooks and CDC can arrive twice or out of order, and the newest wins.
/// `LastUpdatedTime` has whole seconds: two changes within one second look equally new, but
/// every change increments the `SyncToken`, so an older one never overwrites a newer one.
pub fn is_older(
    seen: Option<DateTime<Utc>>,
    seen_token: Option<&str>,
    known: Option<DateTime<Utc>>,
    known_token: Option<&str>,
) -> bool {
    if let (Some(seen), Some(known)) = (seen, known)
        && seen < known
    {
        return true;
    }
    let version = |token: Option<&str>| token.and_then(|t| t.trim().parse::<u64>().ok());
    matches!((version(seen_token), version(known_token)), (Some(s), Some(k)) if s < k)
}

/// The link brought up to date with `invoice` (a full read, a CDC entry or a `Deleted` stub), or
/// `None` when nothing the link keeps has changed — or when `invoice` is older than what the link
/// already reflects (webhooks and CDC can arrive twice or out of order: the newest wins).
pub fn refreshed_link(
    link: &InvoiceLink,
    invoice: &Invoice,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Option<InvoiceLink> {
    let seen = qbo_updated_at(invoice);
    if is_older(
        seen,
        invoice.sync_token.as_deref(),
        link.qbo_updated_at,
        link.sync_token.as_deref(),
    ) {
        return None;
    }
    let mut next = link.clone();
    if invoice.status == Some(EntityStatus::Deleted) {
        next.status = InvoiceStatus::Deleted;
    } else {
        let known_total = (!link.total.is_zero()).then_some(link.total);
        let status = invoice_status(invoice, known_total, today);
        next.status = status;
        if status != InvoiceStatus::Voided
            && let Some(total) = invoice.total_amt
        {
            next.total = total;
        }
        next.balance = match status {
            InvoiceStatus::Voided => Decimal::ZERO,
            _ => invoice.balance.unwrap_or(next.balance),
        };
        // A lower balance on the same invoice is a payment (a voided invoice's zero is not).
        if status != InvoiceStatus::Voided && next.balance < link.balance {
            next.last_payment_date = Some(quickbooks_day(invoice, today));
        }
        if invoice.doc_number.is_some() {
            next.doc_number = invoice.doc_number.clone();
        }
        if let Some(due) = invoice.due_date {
            next.due_date = Some(due);
        }
        if let Some(date) = invoice.txn_date {
            next.txn_date = date;
        }
        if let Some(currency) = &invoice.currency_ref {
            next.currency = currency.value.clone();
        }
        if let Some(customer) = &invoice.customer_ref {
            next.customer_id = customer.value.clone();
            if customer.name.is_some() {
                next.customer_name = customer.name.clone();
            }
        }
        if let Some(email) = &invoice.email_status {
            next.email_sent = *email == EmailStatus::EmailSent;
        }
    }
    if invoice.sync_token.is_some() {
        next.sync_token = invoice.sync_token.clone();
    }
    if seen.is_some() {
        next.qbo_updated_at = seen;
    }
    if next == *link {
        return None;
    }
    next.updated_at = now;
    Some(next)
}

/// QuickBooks may answer an invoice's `CustomerRef` without its `name`: when it is the linked
/// customer, the name we keep for it fills the gap (the panel shows a name, never `null`).
pub fn name_customer(invoice: &mut Invoice, customer: &CustomerLink) {
    if let Some(reference) = invoice.customer_ref.as_mut()
        && reference.value == customer.customer_id
        && reference
            .name
            .as_deref()
            .is_none_or(|n| n.trim().is_empty())
    {
        reference.name = Some(customer.display_name.clone());
    }
}

/// The link marked Overdue, when it is Open and its due date has passed by `today` (the
/// company's date); `None` otherwise. No QuickBooks data needed: only the date moved.
pub fn overdue_version(
    link: &InvoiceLink,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Option<InvoiceLink> {
    if link.status != InvoiceStatus::Open
        || status_on(link.status, link.balance, link.due_date, today) != InvoiceStatus::Overdue
    {
        return None;
    }
    let mut next = link.clone();
    next.status = InvoiceStatus::Overdue;
    next.updated_at = now;
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn invoice(value: serde_json::Value) -> Invoice {
        serde_json::from_value(value).unwrap()
    }

    fn base() -> InvoiceLink {
        let now = Utc.with_ymd_and_hms(2026, 3, 13, 10, 0, 0).unwrap();
        link_from_invoice(
            CompanyId(1),
            DealId(42),
            "9341",
            &invoice(json!({
                "Id": "130", "SyncToken": "0", "DocNumber": "1042", "TxnDate": "2026-03-13",
                "DueDate": "2026-03-20", "TotalAmt": 1250.0, "Balance": 1250.0,
                "CurrencyRef": {"value": "EUR"}, "CustomerRef": {"value": "58", "name": "Acme"},
                "EmailStatus": "NotSet",
                "MetaData": {"LastUpdatedTime": "2026-03-13T02:00:00-08:00"}
            })),
            NaiveDate::from_ymd_opt(2026, 3, 13).unwrap(),
            now,
        )
        .unwrap()
    }

    #[test]
    fn a_lower_balance_records_the_day_quickbooks_recorded_the_payment() {
        let link = base();
        assert_eq!(link.last_payment_date, None);
        let later = Utc.with_ymd_and_hms(2026, 3, 21, 10, 0, 0).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 3, 21).unwrap();
        let paid = refreshed_link(
            &link,
            &invoice(json!({
                "Id": "130", "SyncToken": "1", "TotalAmt": 1250.0, "Balance": 250.0,
                "MetaData": {"LastUpdatedTime": "2026-03-20T23:30:00-08:00"}
            })),
            today,
            later,
        )
        .unwrap();
        assert_eq!(paid.status, InvoiceStatus::PartiallyPaid);
        assert_eq!(
            paid.last_payment_date,
            NaiveDate::from_ymd_opt(2026, 3, 20),
            "QuickBooks' own date, not ours"
        );
        // A change that does not lower the balance keeps the day; a void is no payment.
        let emailed = refreshed_link(
            &paid,
            &invoice(
                json!({"Id": "130", "SyncToken": "2", "TotalAmt": 1250.0, "Balance": 250.0,
                "EmailStatus": "EmailSent"}),
            ),
            today,
            later,
        )
        .unwrap();
        assert_eq!(emailed.last_payment_date, paid.last_payment_date);
        let voided = refreshed_link(
            &link,
            &invoice(
                json!({"Id": "130", "SyncToken": "3", "TotalAmt": 0, "Balance": 0,
                "PrivateNote": "Voided"}),
            ),
            today,
            later,
        )
        .unwrap();
        assert_eq!(voided.last_payment_date, None);
    }

    #[test]
    fn a_new_link_carries_what_the_panel_shows() {
        let link = base();
        assert_eq!(link.invoice_id, "130");
        assert_eq!(link.total, dec!(1250));
        assert_eq!(link.status, InvoiceStatus::Open);
        assert_eq!(link.currency, "EUR");
        assert_eq!(link.customer_name.as_deref(), Some("Acme"));
        assert!(link.qbo_updated_at.is_some());
    }

    #[test]
    fn a_payment_changes_balance_and_status() {
        let link = base();
        let later = invoice(json!({
            "Id": "130", "SyncToken": "1", "TotalAmt": 1250.0, "Balance": 250.0,
            "DueDate": "2026-03-20", "MetaData": {"LastUpdatedTime": "2026-03-14T02:00:00-08:00"}
        }));
        let next = refreshed_link(&link, &later, link.txn_date, Utc::now()).unwrap();
        assert_eq!(next.status, InvoiceStatus::PartiallyPaid);
        assert_eq!(next.balance, dec!(250));
        assert_eq!(next.sync_token.as_deref(), Some("1"));
    }

    #[test]
    fn nothing_changed_means_no_write() {
        let link = base();
        let same = invoice(json!({
            "Id": "130", "SyncToken": "0", "TotalAmt": 1250.0, "Balance": 1250.0,
            "DueDate": "2026-03-20", "MetaData": {"LastUpdatedTime": "2026-03-13T02:00:00-08:00"}
        }));
        assert_eq!(
            refreshed_link(&link, &same, link.txn_date, Utc::now()),
            None
        );
    }

    #[test]
    fn an_older_event_never_overwrites_a_newer_state() {
        let link = base();
        let paid = invoice(json!({
            "Id": "130", "SyncToken": "2", "TotalAmt": 1250.0, "Balance": 0,
            "MetaData": {"LastUpdatedTime": "2026-03-15T02:00:00-08:00"}
        }));
        let paid_link = refreshed_link(&link, &paid, link.txn_date, Utc::now()).unwrap();
        assert_eq!(paid_link.status, InvoiceStatus::Paid);
        let stale = invoice(json!({
            "Id": "130", "SyncToken": "1", "TotalAmt": 1250.0, "Balance": 250.0,
            "MetaData": {"LastUpdatedTime": "2026-03-14T02:00:00-08:00"}
        }));
        assert_eq!(
            refreshed_link(&paid_link, &stale, link.txn_date, Utc::now()),
            None
        );
    }

    #[test]
    fn within_one_second_the_sync_token_decides() {
        let link = base();
        let second_payment = invoice(json!({
            "Id": "130", "SyncToken": "3", "TotalAmt": 1250.0, "Balance": 0,
            "MetaData": {"LastUpdatedTime": "2026-03-14T02:00:00-08:00"}
        }));
        let paid = refreshed_link(&link, &second_payment, link.txn_date, Utc::now()).unwrap();
        let first_payment = invoice(json!({
            "Id": "130", "SyncToken": "2", "TotalAmt": 1250.0, "Balance": 250.0,
            "MetaData": {"LastUpdatedTime": "2026-03-14T02:00:00-08:00"}
        }));
        assert_eq!(
            refreshed_link(&paid, &first_payment, link.txn_date, Utc::now()),
            None
        );
        assert_eq!(paid.status, InvoiceStatus::Paid);
    }

    #[test]
    fn voiding_keeps_the_original_total_and_deleting_only_the_status() {
        let link = base();
        let voided = invoice(json!({
            "Id": "130", "SyncToken": "1", "TotalAmt": 0, "Balance": 0,
            "PrivateNote": "Voided", "MetaData": {"LastUpdatedTime": "2026-03-14T00:00:00Z"}
        }));
        let next = refreshed_link(&link, &voided, link.txn_date, Utc::now()).unwrap();
        assert_eq!(next.status, InvoiceStatus::Voided);
        assert_eq!(next.total, dec!(1250));
        assert_eq!(next.balance, dec!(0));
        let deleted = invoice(json!({"Id": "130", "status": "Deleted",
            "MetaData": {"LastUpdatedTime": "2026-03-15T00:00:00Z"}}));
        let gone = refreshed_link(&next, &deleted, link.txn_date, Utc::now()).unwrap();
        assert_eq!(gone.status, InvoiceStatus::Deleted);
        assert_eq!(gone.total, dec!(1250));
    }

    #[test]
    fn today_follows_the_company_time_zone() {
        let now = Utc.with_ymd_and_hms(2026, 3, 20, 23, 30, 0).unwrap();
        assert_eq!(
            today_in("Europe/Oslo", now),
            NaiveDate::from_ymd_opt(2026, 3, 21).unwrap()
        );
        assert_eq!(
            today_in("America/Los_Angeles", now),
            NaiveDate::from_ymd_opt(2026, 3, 20).unwrap()
        );
        assert_eq!(
            today_in("Not/AZone", now),
            NaiveDate::from_ymd_opt(2026, 3, 20).unwrap()
        );
    }
}
