//! An invoice's status, a pure function of the QuickBooks invoice and today's date in the
//! company's time zone.
//!
//! Order of the rules (first match wins):
//! 1. **Deleted** — QuickBooks says `status: Deleted` (CDC, delete answers).
//! 2. **Voided** — `status: Voided`, or a zero total with a private note starting "Voided"
//!    (QuickBooks zeroes amounts and prepends "Voided" when voiding), or a zero total on an
//!    invoice we know had a non-zero total. A legitimate 0-total invoice is *not* void.
//! 3. **Paid** — nothing left to pay: `Balance == 0`.
//! 4. **Partially paid** — some of it was paid after issue: the balance is below what was due
//!    (`TotalAmt − Deposit`). A deposit alone (taken on the invoice itself) is not a payment.
//! 5. **Overdue** — something is due and the due date is before today.
//! 6. **Open** — otherwise.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::InvoiceStatus;
use quickbooks_wire::model::{EntityStatus, Invoice};

/// Derives the status of `invoice` on `today` (a local date in the company's time zone).
/// `known_total` is the total we recorded when the invoice was created or last seen non-void,
/// if any.
pub fn invoice_status(
    invoice: &Invoice,
    known_total: Option<Decimal>,
    today: NaiveDate,
) -> InvoiceStatus {
    if invoice.status == Some(EntityStatus::Deleted) {
        return InvoiceStatus::Deleted;
    }
    let total = invoice.total_amt.unwrap_or(Decimal::ZERO);
    let voided_note = invoice
        .private_note
        .as_deref()
        .is_some_and(|note| note.trim_start().starts_with("Voided"));
    if invoice.status == Some(EntityStatus::Voided)
        || (total.is_zero() && (voided_note || known_total.is_some_and(|t| !t.is_zero())))
    {
        return InvoiceStatus::Voided;
    }
    let balance = invoice.balance.unwrap_or(total);
    if balance <= Decimal::ZERO {
        return InvoiceStatus::Paid;
    }
    let deposit = invoice.deposit.unwrap_or(Decimal::ZERO).max(Decimal::ZERO);
    let due_after_deposit = total - deposit;
    if balance < due_after_deposit {
        return InvoiceStatus::PartiallyPaid;
    }
    match invoice.due_date {
        Some(due) if due < today => InvoiceStatus::Overdue,
        _ => InvoiceStatus::Open,
    }
}

/// Re-evaluates a stored status on a later day without asking QuickBooks: only the
/// Open → Overdue transition depends on the date alone.
pub fn status_on(
    status: InvoiceStatus,
    balance: Decimal,
    due_date: Option<NaiveDate>,
    today: NaiveDate,
) -> InvoiceStatus {
    match status {
        InvoiceStatus::Open if balance > Decimal::ZERO && due_date.is_some_and(|d| d < today) => {
            InvoiceStatus::Overdue
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn invoice(total: Decimal, balance: Decimal, due: &str) -> Invoice {
        Invoice {
            total_amt: Some(total),
            balance: Some(balance),
            due_date: Some(date(due)),
            ..Invoice::default()
        }
    }

    fn fixture(name: &str) -> Invoice {
        let path = format!(
            "{}/../../tests/fixtures/quickbooks/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let body = raw.get("Invoice").cloned().unwrap_or(raw);
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn every_branch() {
        let today = date("2026-03-21");
        let cases: Vec<(&str, Invoice, Option<Decimal>, InvoiceStatus)> = vec![
            (
                "deleted wins over everything",
                Invoice {
                    status: Some(EntityStatus::Deleted),
                    ..invoice(dec!(100), dec!(100), "2026-01-01")
                },
                None,
                InvoiceStatus::Deleted,
            ),
            (
                "status Voided",
                Invoice {
                    status: Some(EntityStatus::Voided),
                    ..invoice(dec!(0), dec!(0), "2026-04-01")
                },
                None,
                InvoiceStatus::Voided,
            ),
            (
                "zero total with a Voided note",
                Invoice {
                    private_note: Some("Voided - wrong customer".into()),
                    ..invoice(dec!(0), dec!(0), "2026-04-01")
                },
                None,
                InvoiceStatus::Voided,
            ),
            (
                "zero total where we knew a real total",
                invoice(dec!(0), dec!(0), "2026-04-01"),
                Some(dec!(250)),
                InvoiceStatus::Voided,
            ),
            (
                "a legitimate zero-total invoice is not void",
                invoice(dec!(0), dec!(0), "2026-04-01"),
                Some(dec!(0)),
                InvoiceStatus::Paid,
            ),
            (
                "fully paid",
                invoice(dec!(100), dec!(0), "2026-01-01"),
                None,
                InvoiceStatus::Paid,
            ),
            (
                "partially paid, not yet due",
                invoice(dec!(100), dec!(40), "2026-04-01"),
                None,
                InvoiceStatus::PartiallyPaid,
            ),
            (
                "partially paid and past due stays partially paid",
                invoice(dec!(100), dec!(40), "2026-01-01"),
                None,
                InvoiceStatus::PartiallyPaid,
            ),
            (
                "a deposit alone is not a payment",
                Invoice {
                    deposit: Some(dec!(12)),
                    ..invoice(dec!(52), dec!(40), "2026-04-01")
                },
                None,
                InvoiceStatus::Open,
            ),
            (
                "deposit and then a payment",
                Invoice {
                    deposit: Some(dec!(12)),
                    ..invoice(dec!(52), dec!(30), "2026-04-01")
                },
                None,
                InvoiceStatus::PartiallyPaid,
            ),
            (
                "overdue",
                invoice(dec!(100), dec!(100), "2026-03-20"),
                None,
                InvoiceStatus::Overdue,
            ),
            (
                "due today is not overdue",
                invoice(dec!(100), dec!(100), "2026-03-21"),
                None,
                InvoiceStatus::Open,
            ),
            (
                "open without a due date",
                Invoice {
                    due_date: None,
                    ..invoice(dec!(100), dec!(100), "2026-01-01")
                },
                None,
                InvoiceStatus::Open,
            ),
            (
                "voided sample spelling (VOIDED)",
                serde_json::from_value(serde_json::json!({
                    "TotalAmt": 0, "Balance": 0, "status": "VOIDED"
                }))
                .unwrap(),
                None,
                InvoiceStatus::Voided,
            ),
        ];
        for (name, inv, known, expected) in cases {
            assert_eq!(invoice_status(&inv, known, today), expected, "{name}");
        }
    }

    #[test]
    fn published_payloads() {
        let far_past = date("2000-01-01");
        let paid = fixture("invoice-paid-with-payment-linkedtxn.json");
        assert_eq!(invoice_status(&paid, None, far_past), InvoiceStatus::Paid);
        let voided = fixture("invoice-void-response.json");
        assert_eq!(
            invoice_status(&voided, None, far_past),
            InvoiceStatus::Voided
        );
        let created = fixture("invoice-create-response.json");
        let status = invoice_status(&created, None, far_past);
        assert_eq!(status, InvoiceStatus::Open);
        let due = created.due_date.unwrap();
        assert_eq!(
            invoice_status(&created, None, due.succ_opt().unwrap()),
            InvoiceStatus::Overdue
        );
    }

    #[test]
    fn overdue_transition_without_quickbooks() {
        let due = Some(date("2026-03-20"));
        assert_eq!(
            status_on(InvoiceStatus::Open, dec!(10), due, date("2026-03-21")),
            InvoiceStatus::Overdue
        );
        assert_eq!(
            status_on(InvoiceStatus::Open, dec!(10), due, date("2026-03-20")),
            InvoiceStatus::Open
        );
        assert_eq!(
            status_on(
                InvoiceStatus::PartiallyPaid,
                dec!(10),
                due,
                date("2026-04-01")
            ),
            InvoiceStatus::PartiallyPaid
        );
        assert_eq!(
            status_on(InvoiceStatus::Paid, dec!(0), due, date("2026-04-01")),
            InvoiceStatus::Paid
        );
    }
}
