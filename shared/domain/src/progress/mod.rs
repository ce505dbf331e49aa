//! Deposits and progress billing: an invoice that bills part of a deal, and the deal's billing
//! progress per currency. Pure.
//!
//! **What is measured.** A deal's *value* here is its amount **before tax added on top**: the
//! invoice's line amounts after discounts, as the create form has them for the whole deal (net
//! for tax-exclusive deals and for every US company; gross for non-US tax-inclusive deals,
//! whose amounts include the tax). Each part's lines add up to exactly its share of that value,
//! in cents, and QuickBooks then computes the tax of each invoice on that invoice's own lines —
//! as QuickBooks' own progress invoicing does (a percentage of each estimate line, tax per
//! invoice). Tax is never "progressed": US sales tax is due on what each invoice sells, and a
//! VAT invoice states the VAT of its own amount. Measuring with the totals (tax included) could
//! not add up to the cent: tax rounded per invoice makes some totals unreachable.
//!
//! **How a part becomes lines** ([`plan`]): every line of the deal is kept with its item, tax
//! code and quantity, and its amount is scaled to the part (`amount × part / whole`, rounded as
//! QuickBooks rounds); the last line takes what rounding left, so the lines add up to the part
//! exactly. Deal-level discounts are spread over the lines the same way (the part carries no
//! discount line). A QuickBooks user reading the invoice sees the deal's own products, each with
//! "30 % of the deal" (or "Rest of the deal") in its description, and the tax of each line's own
//! code — right for mixed taxable/non-taxable US lines and for several VAT rates at once. "Lines
//! and quantities" bills the chosen lines at the chosen quantities (the deal discount spread).
//!
//! **Progress** ([`billing_progress`]): per currency, the deal value recorded by the newest
//! invoice of the deal (each create records the value of the deal it was made from), what the
//! live (neither voided nor deleted) invoices bill, what of that is paid (each invoice's paid
//! share of its amount), and what is left. A voided or deleted part leaves the sums, so its
//! amount is left to invoice again. An invoice linked from QuickBooks (not created here) counts
//! with its total. Amounts are never added across currencies.
//!
//! **Refusals**: a part over what is left is refused with a sentence saying how much is left
//! (written by the one money formatter, [`NumberFormat::money`]), unless the rep confirms the
//! over-invoice; "invoice the rest" bills exactly what is left, and nothing when nothing is.

mod part;

pub use part::{PartRefusal, PlannedPart, plan};
pub(crate) use part::{check_amount, percent_of, split_to_target};

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::draft::{Totals, round2};
use crate::money::NumberFormat;
use crate::{InvoiceLink, InvoiceStatus};

/// What part of the deal an invoice bills (the create request's `part`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BillingPart {
    /// A percentage of the deal's value (`30` = 30 %), more than 0 and at most 100.
    Percentage { percent: Decimal },
    /// A fixed amount in the invoice's currency, before tax added on top.
    Amount { amount: Decimal },
    /// Chosen lines of the form, each at a quantity up to the line's.
    Lines { lines: Vec<LineQuantity> },
    /// Exactly what is left to invoice. (A struct variant, not a unit one: serde lets any
    /// field through beside the tag of a unit variant, `deny_unknown_fields` or not.)
    Rest {},
}

/// A line of the form (by its position) and how many of it to bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineQuantity {
    pub index: usize,
    pub quantity: Decimal,
}

/// How an invoice's part was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartKind {
    /// The whole deal (an ordinary create).
    Full,
    Percentage,
    Amount,
    Lines,
    Rest,
}

/// What an invoice's link records of the part of the deal it bills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingRecord {
    pub kind: PartKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<Decimal>,
    /// The invoice's amount before tax added on top.
    pub amount: Decimal,
    /// The deal's value (before tax added on top) when the invoice was made; for an invoice
    /// made from an estimate, the estimate's (its sales lines less its discounts).
    pub whole: Decimal,
    /// The QuickBooks estimate the invoice bills (a part of, or all of); none for a part of the
    /// deal's own lines (records written before estimates were billed in parts have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_id: Option<String>,
}

/// The deal's value as a form for the whole deal has it: its amount before tax added on top.
pub fn value_of(totals: &Totals) -> Decimal {
    totals.lines_total - totals.discount
}

/// One invoice of the deal as the progress sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Billed<'a> {
    pub currency: &'a str,
    pub status: InvoiceStatus,
    pub total: Decimal,
    pub balance: Decimal,
    pub billing: Option<&'a BillingRecord>,
    /// Which invoice is newer: its date, then when it was made (or last updated, where that is
    /// what is at hand).
    pub newest: (NaiveDate, DateTime<Utc>),
}

impl<'a> From<&'a InvoiceLink> for Billed<'a> {
    fn from(l: &'a InvoiceLink) -> Self {
        Billed {
            currency: &l.currency,
            status: l.status,
            total: l.total,
            balance: l.balance,
            billing: l.billing.as_ref(),
            newest: (l.txn_date, l.created_at),
        }
    }
}

impl Billed<'_> {
    fn live(&self) -> bool {
        !matches!(self.status, InvoiceStatus::Voided | InvoiceStatus::Deleted)
    }

    /// Whether it bills a part of the deal rather than all of it.
    fn is_part(&self) -> bool {
        self.billing.is_some_and(|b| b.kind != PartKind::Full)
    }

    /// What the invoice bills of the deal.
    fn amount(&self) -> Decimal {
        self.billing.map_or(self.total, |b| b.amount)
    }

    /// The paid share of [`Self::amount`] (all of it once the balance is zero).
    fn paid(&self) -> Decimal {
        let paid_total = (self.total - self.balance).max(Decimal::ZERO);
        match self.billing {
            None => paid_total,
            Some(_) if self.total <= Decimal::ZERO || self.balance <= Decimal::ZERO => {
                self.amount()
            }
            Some(b) => round2(b.amount * paid_total / self.total),
        }
    }
}

/// A deal's billing in one currency. `invoiced + left - over_invoiced == deal_value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingProgress {
    pub currency: String,
    /// Before tax added on top.
    pub deal_value: Decimal,
    /// What the live invoices bill.
    pub invoiced: Decimal,
    /// Of that, what is paid.
    pub paid: Decimal,
    /// What is left to invoice (never below zero).
    pub left: Decimal,
    /// What was invoiced beyond the deal's value (confirmed over-invoices).
    pub over_invoiced: Decimal,
    /// How many live invoices bill the deal.
    pub invoices: u32,
    /// How many of them bill a part of it (a deposit, a percentage, lines, the rest): a whole-deal
    /// invoice on top of them is an over-invoice ([`plan`]). Not part of the views.
    #[serde(skip)]
    pub parts: u32,
}

impl BillingProgress {
    /// The progress in `currency` of a deal worth `deal_value` with `invoices` (any currency).
    pub fn of(currency: &str, deal_value: Decimal, invoices: &[Billed<'_>]) -> BillingProgress {
        let live: Vec<&Billed> = invoices
            .iter()
            .filter(|b| b.currency == currency && b.live())
            .collect();
        let invoiced: Decimal = live.iter().map(|b| b.amount()).sum();
        BillingProgress {
            currency: currency.to_string(),
            deal_value: Decimal::ZERO,
            invoiced,
            paid: live.iter().map(|b| b.paid()).sum(),
            left: Decimal::ZERO,
            over_invoiced: Decimal::ZERO,
            invoices: u32::try_from(live.len()).unwrap_or(u32::MAX),
            parts: u32::try_from(live.iter().filter(|b| b.is_part()).count()).unwrap_or(u32::MAX),
        }
        .valued(deal_value)
    }

    /// The same sums for a deal worth `deal_value`.
    pub fn valued(&self, deal_value: Decimal) -> BillingProgress {
        BillingProgress {
            currency: self.currency.clone(),
            deal_value,
            invoiced: self.invoiced,
            paid: self.paid,
            left: (deal_value - self.invoiced).max(Decimal::ZERO),
            over_invoiced: (self.invoiced - deal_value).max(Decimal::ZERO),
            invoices: self.invoices,
            parts: self.parts,
        }
    }

    /// "Only 300.01 USD is left to invoice on this deal (value 1,000.01 USD, invoiced
    /// 700.00 USD)."
    pub fn left_sentence(&self, format: &NumberFormat) -> String {
        self.left_sentence_of(format, "on this deal", "value")
    }

    /// [`Self::left_sentence`] of something else than the deal: `of` ("of Estimate #1001") and
    /// the word for its value (`value`: "value before tax").
    pub fn left_sentence_of(&self, format: &NumberFormat, of: &str, value: &str) -> String {
        let money = |a| format.money(a, &self.currency);
        if self.left.is_zero() {
            format!(
                "Nothing is left to invoice {of}: its {value} is {} and {} is invoiced.",
                money(self.deal_value),
                money(self.invoiced)
            )
        } else {
            format!(
                "Only {} is left to invoice {of} ({value} {}, invoiced {}).",
                money(self.left),
                money(self.deal_value),
                money(self.invoiced)
            )
        }
    }
}

/// The deal's progress per currency (sorted by currency), from all its invoices: the deal value
/// is the one the newest invoice (by date, then creation) with a record noted in that currency (voided ones too: the
/// deal is still worth it); without one, what is invoiced.
pub fn billing_progress(invoices: &[Billed<'_>]) -> Vec<BillingProgress> {
    type Newest = Option<((NaiveDate, DateTime<Utc>), Decimal)>;
    let mut values: BTreeMap<&str, Newest> = BTreeMap::new();
    for b in invoices {
        let entry = values.entry(b.currency).or_default();
        if let Some(record) = b.billing
            && entry.is_none_or(|(at, _)| b.newest >= at)
        {
            *entry = Some((b.newest, record.whole));
        }
    }
    values
        .into_iter()
        .map(|(currency, value)| {
            let value = value.map(|(_, v)| v).unwrap_or_else(|| {
                invoices
                    .iter()
                    .filter(|b| b.currency == currency && b.live())
                    .map(|b| b.amount())
                    .sum()
            });
            BillingProgress::of(currency, value, invoices)
        })
        .collect()
}

#[cfg(test)]
mod tests;
