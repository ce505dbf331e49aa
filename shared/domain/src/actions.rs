//! May this invoice be voided, deleted or sent? The rules, decided on what QuickBooks holds now
//! (`None`: QuickBooks answered 610, the invoice is gone) and on what we knew of it (the link).
//! Handlers read the invoice, ask here, then act; a stale `SyncToken` means reading and asking
//! again.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::status::invoice_status;
use crate::{InvoiceLink, InvoiceStatus};
use quickbooks_wire::model::Invoice;

/// The total we knew before, for telling a voided invoice from a legitimate 0-total one.
pub fn known_total(link: &InvoiceLink) -> Option<Decimal> {
    (!link.total.is_zero()).then_some(link.total)
}

/// Payments are applied to the invoice (QuickBooks lists them in `LinkedTxn`).
pub fn has_payments(invoice: &Invoice) -> bool {
    invoice
        .linked_txn
        .as_ref()
        .is_some_and(|txns| txns.iter().any(|t| t.txn_type == "Payment"))
}

/// A verdict that may call for a change of the invoice at its `SyncToken`.
pub trait AtSyncToken {
    /// The `SyncToken` to make the change at, when the verdict is to make it.
    fn sync_token(&self) -> Option<&str>;
}

/// What to do about a request to void.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoidVerdict {
    /// Void it at this `SyncToken`.
    Void { sync_token: String },
    /// QuickBooks has it void already.
    AlreadyVoid,
    /// Deleted in QuickBooks: there is nothing to void.
    Deleted,
    /// Money was received on it (`paid` of `total`, in the invoice's currency).
    Paid { paid: Decimal, total: Decimal },
    /// Payments are linked to it although its balance does not show them.
    PaymentsApplied,
    /// QuickBooks answered the invoice without a `SyncToken`.
    NoSyncToken,
}

impl AtSyncToken for VoidVerdict {
    fn sync_token(&self) -> Option<&str> {
        match self {
            VoidVerdict::Void { sync_token } => Some(sync_token),
            _ => None,
        }
    }
}

/// May `current` be voided?
pub fn void_verdict(
    current: Option<&Invoice>,
    link: &InvoiceLink,
    today: NaiveDate,
) -> VoidVerdict {
    let Some(invoice) = current else {
        return VoidVerdict::Deleted;
    };
    match invoice_status(invoice, known_total(link), today) {
        InvoiceStatus::Deleted => return VoidVerdict::Deleted,
        InvoiceStatus::Voided => return VoidVerdict::AlreadyVoid,
        InvoiceStatus::Paid | InvoiceStatus::PartiallyPaid => {
            let total = invoice.total_amt.unwrap_or(link.total);
            let balance = invoice.balance.unwrap_or(link.balance);
            return VoidVerdict::Paid {
                paid: total - balance,
                total,
            };
        }
        _ if has_payments(invoice) => return VoidVerdict::PaymentsApplied,
        _ => {}
    }
    match invoice.sync_token.clone() {
        Some(sync_token) => VoidVerdict::Void { sync_token },
        None => VoidVerdict::NoSyncToken,
    }
}

/// What to do about a request to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteVerdict {
    /// Delete it at this `SyncToken`.
    Delete { sync_token: String },
    /// QuickBooks has it deleted already.
    AlreadyDeleted,
    /// Payments are applied to it (QuickBooks would refuse; the rep must remove them first).
    PaymentsApplied,
    /// QuickBooks answered the invoice without a `SyncToken`.
    NoSyncToken,
}

impl AtSyncToken for DeleteVerdict {
    fn sync_token(&self) -> Option<&str> {
        match self {
            DeleteVerdict::Delete { sync_token } => Some(sync_token),
            _ => None,
        }
    }
}

/// May `current` be deleted? A void invoice may (its total is zero even when it had been paid
/// before the payments were removed); one with money on it may not.
pub fn delete_verdict(
    current: Option<&Invoice>,
    link: &InvoiceLink,
    today: NaiveDate,
) -> DeleteVerdict {
    let Some(invoice) = current else {
        return DeleteVerdict::AlreadyDeleted;
    };
    let status = invoice_status(invoice, known_total(link), today);
    if status == InvoiceStatus::Deleted {
        return DeleteVerdict::AlreadyDeleted;
    }
    let paid = matches!(status, InvoiceStatus::Paid | InvoiceStatus::PartiallyPaid)
        && !invoice.total_amt.unwrap_or_default().is_zero();
    if has_payments(invoice) || paid {
        return DeleteVerdict::PaymentsApplied;
    }
    match invoice.sync_token.clone() {
        Some(sync_token) => DeleteVerdict::Delete { sync_token },
        None => DeleteVerdict::NoSyncToken,
    }
}

/// What to do about a request to e-mail the invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendVerdict {
    /// Send it: to `to` when the rep typed an address, else to the invoice's billing e-mail.
    Send { to: Option<String> },
    /// Deleted in QuickBooks.
    Deleted,
    /// A void invoice is not sent to the customer.
    Voided,
    /// No address: the rep typed none and the invoice has no billing e-mail.
    NeedsAddress,
}

/// The invoice's billing e-mail, if it has a non-blank one.
pub fn billing_email(invoice: &Invoice) -> Option<String> {
    invoice
        .bill_email
        .as_ref()
        .and_then(|e| e.address.as_deref())
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
}

/// May `current` be sent, and to whom? `to` is the address the rep typed (already validated).
pub fn send_verdict(
    current: Option<&Invoice>,
    link: &InvoiceLink,
    to: Option<&str>,
    today: NaiveDate,
) -> SendVerdict {
    let Some(invoice) = current else {
        return SendVerdict::Deleted;
    };
    match invoice_status(invoice, known_total(link), today) {
        InvoiceStatus::Deleted => SendVerdict::Deleted,
        InvoiceStatus::Voided => SendVerdict::Voided,
        _ if to.is_none() && billing_email(invoice).is_none() => SendVerdict::NeedsAddress,
        _ => SendVerdict::Send {
            to: to.map(str::to_string),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompanyId, DealId};
    use chrono::Utc;
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 6).unwrap()
    }

    fn link(total: Decimal, balance: Decimal) -> InvoiceLink {
        InvoiceLink {
            company_id: CompanyId(1),
            deal_id: DealId(2),
            realm_id: "9341".into(),
            invoice_id: "130".into(),
            doc_number: None,
            currency: "USD".into(),
            total,
            balance,
            txn_date: today(),
            due_date: None,
            status: InvoiceStatus::Open,
            customer_id: "3".into(),
            customer_name: None,
            email_sent: false,
            sync_token: None,
            qbo_updated_at: None,
            last_payment_date: None,
            billing: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
        }
    }

    fn invoice(value: serde_json::Value) -> Invoice {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn an_open_invoice_is_voided_at_its_sync_token() {
        let open = invoice(
            json!({"Id": "130", "SyncToken": "3", "TotalAmt": 100, "Balance": 100,
            "DueDate": "2026-12-20"}),
        );
        assert_eq!(
            void_verdict(Some(&open), &link(dec!(100), dec!(100)), today()),
            VoidVerdict::Void {
                sync_token: "3".into()
            }
        );
        let overdue = invoice(
            json!({"Id": "130", "SyncToken": "4", "TotalAmt": 100, "Balance": 100,
            "DueDate": "2026-11-01"}),
        );
        assert!(matches!(
            void_verdict(Some(&overdue), &link(dec!(100), dec!(100)), today()),
            VoidVerdict::Void { .. }
        ));
    }

    #[test]
    fn paid_or_partly_paid_invoices_are_not_voided_and_the_amounts_say_why() {
        let partly =
            invoice(json!({"Id": "130", "SyncToken": "3", "TotalAmt": 100, "Balance": 40}));
        assert_eq!(
            void_verdict(Some(&partly), &link(dec!(100), dec!(100)), today()),
            VoidVerdict::Paid {
                paid: dec!(60),
                total: dec!(100)
            }
        );
        let paid = invoice(json!({"Id": "130", "SyncToken": "3", "TotalAmt": 100, "Balance": 0}));
        assert_eq!(
            void_verdict(Some(&paid), &link(dec!(100), dec!(100)), today()),
            VoidVerdict::Paid {
                paid: dec!(100),
                total: dec!(100)
            }
        );
        let linked = invoice(
            json!({"Id": "130", "SyncToken": "3", "TotalAmt": 100, "Balance": 100,
            "LinkedTxn": [{"TxnId": "9", "TxnType": "Payment"}]}),
        );
        assert_eq!(
            void_verdict(Some(&linked), &link(dec!(100), dec!(100)), today()),
            VoidVerdict::PaymentsApplied
        );
    }

    #[test]
    fn gone_void_or_malformed_invoices_are_not_voided_again() {
        let l = link(dec!(100), dec!(100));
        assert_eq!(void_verdict(None, &l, today()), VoidVerdict::Deleted);
        let deleted = invoice(json!({"Id": "130", "status": "Deleted"}));
        assert_eq!(
            void_verdict(Some(&deleted), &l, today()),
            VoidVerdict::Deleted
        );
        let void = invoice(
            json!({"Id": "130", "SyncToken": "5", "TotalAmt": 0, "Balance": 0,
            "PrivateNote": "Voided"}),
        );
        assert_eq!(
            void_verdict(Some(&void), &l, today()),
            VoidVerdict::AlreadyVoid
        );
        let tokenless = invoice(json!({"Id": "130", "TotalAmt": 100, "Balance": 100}));
        assert_eq!(
            void_verdict(Some(&tokenless), &l, today()),
            VoidVerdict::NoSyncToken
        );
    }

    #[test]
    fn delete_refuses_money_on_the_invoice_and_accepts_void_ones() {
        let l = link(dec!(100), dec!(100));
        let open = invoice(json!({"Id": "130", "SyncToken": "2", "TotalAmt": 100, "Balance": 100}));
        assert_eq!(
            delete_verdict(Some(&open), &l, today()),
            DeleteVerdict::Delete {
                sync_token: "2".into()
            }
        );
        let partly = invoice(json!({"Id": "130", "SyncToken": "2", "TotalAmt": 100, "Balance": 1}));
        assert_eq!(
            delete_verdict(Some(&partly), &l, today()),
            DeleteVerdict::PaymentsApplied
        );
        let linked = invoice(
            json!({"Id": "130", "SyncToken": "2", "TotalAmt": 100, "Balance": 100,
            "LinkedTxn": [{"TxnId": "9", "TxnType": "Payment"}]}),
        );
        assert_eq!(
            delete_verdict(Some(&linked), &l, today()),
            DeleteVerdict::PaymentsApplied
        );
        let void = invoice(
            json!({"Id": "130", "SyncToken": "6", "TotalAmt": 0, "Balance": 0,
            "PrivateNote": "Voided"}),
        );
        assert_eq!(
            delete_verdict(Some(&void), &l, today()),
            DeleteVerdict::Delete {
                sync_token: "6".into()
            }
        );
        assert_eq!(
            delete_verdict(None, &l, today()),
            DeleteVerdict::AlreadyDeleted
        );
        let tokenless = invoice(json!({"Id": "130", "TotalAmt": 100, "Balance": 100}));
        assert_eq!(
            delete_verdict(Some(&tokenless), &l, today()),
            DeleteVerdict::NoSyncToken
        );
    }

    #[test]
    fn send_needs_an_address_and_a_live_invoice() {
        let l = link(dec!(100), dec!(100));
        let with_email = invoice(json!({"Id": "130", "TotalAmt": 100, "Balance": 100,
            "BillEmail": {"Address": " ap@acme.example "}}));
        assert_eq!(
            billing_email(&with_email).as_deref(),
            Some("ap@acme.example")
        );
        assert_eq!(
            send_verdict(Some(&with_email), &l, None, today()),
            SendVerdict::Send { to: None }
        );
        let without = invoice(json!({"Id": "130", "TotalAmt": 100, "Balance": 100,
            "BillEmail": {"Address": "  "}}));
        assert_eq!(
            send_verdict(Some(&without), &l, None, today()),
            SendVerdict::NeedsAddress
        );
        assert_eq!(
            send_verdict(Some(&without), &l, Some("rep@acme.example"), today()),
            SendVerdict::Send {
                to: Some("rep@acme.example".into())
            }
        );
        let void =
            invoice(json!({"Id": "130", "TotalAmt": 0, "Balance": 0, "PrivateNote": "Voided"}));
        assert_eq!(
            send_verdict(Some(&void), &l, Some("rep@acme.example"), today()),
            SendVerdict::Voided
        );
        assert_eq!(send_verdict(None, &l, None, today()), SendVerdict::Deleted);
    }
}
