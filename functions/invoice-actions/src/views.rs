//! What the panel receives: invoices as reps see them, the per-currency summary, the connection
//! state, activity lines. Money is a decimal string (`"1250.00"`), dates are `YYYY-MM-DD` (the
//! company's local dates, as QuickBooks keeps them), times are UTC.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use shared::domain::progress::{Billed, BillingProgress, BillingRecord, billing_progress};
use shared::domain::rules::PreparedInvoice;
use shared::domain::status::{invoice_status, status_on};
use shared::domain::{
    ActivityEvent, CompanyProfile, ConnectionState, InvoiceLink, InvoiceStatus, ListedInvoice,
    Outcome, QuickBooksEnvironment,
};
use shared::wire::quickbooks::model::{EmailStatus, Invoice};

/// The QuickBooks customer an invoice is billed to. `S` is the text type: owned (`String`, the
/// default), or borrowed from the stored links (`&str`) for the deal's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerView<S = String> {
    pub id: S,
    pub name: Option<S>,
}

/// One invoice linked to the deal (`S`: as in [`CustomerView`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceView<S = String> {
    /// QuickBooks `Invoice.Id`.
    pub invoice_id: S,
    /// QuickBooks `DocNumber` (the number printed on the invoice).
    pub doc_number: Option<S>,
    /// Issue date (`TxnDate`).
    #[serde(serialize_with = "iso_date")]
    pub date: NaiveDate,
    #[serde(serialize_with = "iso_date_opt")]
    pub due_date: Option<NaiveDate>,
    pub currency: S,
    pub total: Decimal,
    pub balance: Decimal,
    /// As of today in the company's time zone (an open invoice past its due date is `overdue`).
    pub status: InvoiceStatus,
    /// QuickBooks e-mailed it (`EmailStatus = EmailSent`).
    pub sent: bool,
    pub customer: CustomerView<S>,
    /// When we last learned something about it.
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// The part of the deal it bills, when the app created it (a deposit, a progress invoice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<BillingRecord>,
}

/// The same text chrono's `Serialize` writes (RFC 3339, automatic sub-second digits, `Z`),
/// formatted first and written in one piece: chrono's own goes through the formatter a few
/// characters at a time, each piece escaped again (a tenth of a 250-invoice list's time).
fn rfc3339<S: serde::Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut text = [0u8; 30];
    match utc_rfc3339(time, &mut text) {
        Some(text) => serializer.serialize_str(text),
        None => {
            serializer.serialize_str(&time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        }
    }
}

/// Writes `digits.len()` decimal digits of `n` (zero-padded) into `digits`.
fn put_digits(n: u32, digits: &mut [u8]) {
    let mut n = n;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// `time` as chrono's `to_rfc3339_opts(AutoSi, true)` writes it (`YYYY-MM-DDTHH:MM:SS`, then 0,
/// 3, 6 or 9 digits of fraction, then `Z`), into `out`, without a heap allocation; `None` for
/// years outside 0–9999 and leap seconds, which are left to chrono.
fn utc_rfc3339<'a>(time: &DateTime<Utc>, out: &'a mut [u8; 30]) -> Option<&'a str> {
    use chrono::{Datelike, Timelike};
    let nanos = time.nanosecond();
    if !(0..=9999).contains(&time.year()) || nanos >= 1_000_000_000 {
        return None;
    }
    out[..20].copy_from_slice(b"0000-00-00T00:00:00.");
    put_digits(time.year().unsigned_abs(), &mut out[0..4]);
    put_digits(time.month(), &mut out[5..7]);
    put_digits(time.day(), &mut out[8..10]);
    put_digits(time.hour(), &mut out[11..13]);
    put_digits(time.minute(), &mut out[14..16]);
    put_digits(time.second(), &mut out[17..19]);
    let end = match nanos {
        0 => 19,
        n if n % 1_000_000 == 0 => {
            put_digits(n / 1_000_000, &mut out[20..23]);
            23
        }
        n if n % 1_000 == 0 => {
            put_digits(n / 1_000, &mut out[20..26]);
            26
        }
        n => {
            put_digits(n, &mut out[20..29]);
            29
        }
    };
    out[end] = b'Z';
    std::str::from_utf8(&out[..=end]).ok()
}

/// The same text chrono's `Serialize` writes for a date (`YYYY-MM-DD`), written in one piece:
/// chrono's goes through the formatter a character at a time (a third of writing a
/// 250-invoice list). Years outside 0–9999 are left to chrono.
fn iso_date<S: serde::Serializer>(date: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
    use chrono::Datelike;
    let year = date.year();
    if !(0..=9999).contains(&year) {
        return date.serialize(serializer);
    }
    let mut text = *b"0000-00-00";
    put_digits(year.unsigned_abs(), &mut text[0..4]);
    put_digits(date.month(), &mut text[5..7]);
    put_digits(date.day(), &mut text[8..10]);
    match std::str::from_utf8(&text) {
        Ok(text) => serializer.serialize_str(text),
        Err(_) => date.serialize(serializer),
    }
}

fn iso_date_opt<S: serde::Serializer>(
    date: &Option<NaiveDate>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match date {
        Some(date) => iso_date(date, serializer),
        None => serializer.serialize_none(),
    }
}

impl InvoiceView {
    /// The link as of `today` (the stored status is re-evaluated for the Open → Overdue step).
    pub fn from_link(link: &InvoiceLink, today: NaiveDate) -> Self {
        InvoiceView {
            invoice_id: link.invoice_id.clone(),
            doc_number: link.doc_number.clone(),
            date: link.txn_date,
            due_date: link.due_date,
            currency: link.currency.clone(),
            total: link.total,
            balance: link.balance,
            status: status_on(link.status, link.balance, link.due_date, today),
            sent: link.email_sent,
            customer: CustomerView {
                id: link.customer_id.clone(),
                name: link.customer_name.clone(),
            },
            updated_at: link.updated_at,
            billing: link.billing.clone(),
        }
    }
}

impl<'a> InvoiceView<&'a str> {
    /// The same view from what the list reads ([`ListedInvoice`]), its text borrowed, with the
    /// status as stored: [`DealInvoices::listed`] evaluates it for the company's today.
    pub fn from_listed(link: &ListedInvoice<'a>) -> Self {
        InvoiceView {
            invoice_id: link.invoice_id,
            doc_number: link.doc_number,
            date: link.txn_date,
            due_date: link.due_date,
            currency: link.currency,
            total: link.total,
            balance: link.balance,
            status: link.status,
            sent: link.email_sent,
            customer: CustomerView {
                id: link.customer_id,
                name: link.customer_name,
            },
            updated_at: link.updated_at,
            billing: link.billing.clone(),
        }
    }
}

/// The deal's billing progress from its invoices ([`shared::domain::progress`]).
pub fn progress_of<S: AsRef<str>>(views: &[InvoiceView<S>]) -> Vec<BillingProgress> {
    let billed: Vec<Billed> = views
        .iter()
        .map(|v| Billed {
            currency: v.currency.as_ref(),
            status: v.status,
            total: v.total,
            balance: v.balance,
            billing: v.billing.as_ref(),
            newest: (v.date, v.updated_at),
        })
        .collect();
    billing_progress(&billed)
}

/// Totals of one currency over a deal's invoices (voided and deleted ones excluded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencySummary {
    pub currency: String,
    /// Invoices counted (not voided, not deleted).
    pub invoices: u32,
    /// Still to be paid: the balances of open, overdue and partially paid invoices.
    pub outstanding: Decimal,
    /// The part of `outstanding` whose due date has passed.
    pub overdue: Decimal,
    /// Received: total − balance (payments and deposits), over every counted invoice.
    pub paid: Decimal,
}

/// The per-currency summary of `views` (already evaluated for today), currencies in order.
pub fn summarize<S: AsRef<str>>(
    views: &[InvoiceView<S>],
    today: NaiveDate,
) -> Vec<CurrencySummary> {
    let mut by_currency: BTreeMap<&str, CurrencySummary> = BTreeMap::new();
    for view in views {
        if matches!(view.status, InvoiceStatus::Voided | InvoiceStatus::Deleted) {
            continue;
        }
        let entry = by_currency
            .entry(view.currency.as_ref())
            .or_insert_with(|| CurrencySummary {
                currency: view.currency.as_ref().to_string(),
                invoices: 0,
                outstanding: Decimal::ZERO,
                overdue: Decimal::ZERO,
                paid: Decimal::ZERO,
            });
        entry.invoices += 1;
        let open_balance = view.balance.max(Decimal::ZERO);
        if view.status != InvoiceStatus::Paid {
            entry.outstanding += open_balance;
            if view.due_date.is_some_and(|due| due < today) {
                entry.overdue += open_balance;
            }
        }
        entry.paid += (view.total - open_balance).max(Decimal::ZERO);
    }
    by_currency.into_values().collect()
}

/// The company's QuickBooks connection, so the panel can offer "connect" or "reconnect".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionView {
    /// `connected`, `needs_reconnect`, `disconnected`; `None` (never connected) is written
    /// `not_connected`.
    #[serde(with = "shared::domain::state_or_not_connected")]
    pub state: Option<ConnectionState>,
    pub environment: Option<QuickBooksEnvironment>,
    /// Why it needs reconnecting, when it does.
    pub reason: Option<String>,
}

impl ConnectionView {
    pub fn of(profile: &CompanyProfile) -> Self {
        let connection = profile.quickbooks.as_ref();
        ConnectionView {
            state: connection.map(|c| c.state),
            environment: connection.map(|c| c.environment),
            reason: connection
                .filter(|c| c.state == ConnectionState::NeedsReconnect)
                .and_then(|c| c.reason.clone()),
        }
    }
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshReport {
    /// Invoices asked for.
    pub checked: usize,
    /// Links that changed.
    pub changed: usize,
    /// Calls made to QuickBooks' query endpoint.
    pub queries: usize,
}

/// `GET /api/deals/{deal_id}/invoices` and the refresh answer (`S`: as in [`CustomerView`]):
/// one page of the deal's invoices, and the summary of all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealInvoices<S = String> {
    pub deal_id: u64,
    /// Today in the company's time zone (what `overdue` is measured against).
    pub today: NaiveDate,
    pub connection: ConnectionView,
    /// This page of the deal's invoices, newest first.
    pub invoices: Vec<InvoiceView<S>>,
    /// Over every invoice of the deal, not only this page.
    pub summary: Vec<CurrencySummary>,
    /// The deal's billing progress per currency (deal value, invoiced, paid, left to invoice),
    /// over every invoice of the deal.
    pub progress: Vec<BillingProgress>,
    /// How many invoices the deal has (every page).
    pub invoice_count: usize,
    /// Where the next page starts (`cursor=`), `null` on the last page.
    pub next_cursor: Option<String>,
    /// Only on the refresh answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<RefreshReport>,
    /// Until when the company's invoices were last read from QuickBooks by the scheduled sync
    /// (`null`: never): the panel refreshes on open when this is older than a few minutes.
    #[serde(default)]
    pub synced_at: Option<DateTime<Utc>>,
    /// The invoice a "prepare" rule got ready for the deal (the panel offers its one-click
    /// create), on the first page only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepared: Option<PreparedView>,
}

/// An invoice a rule prepared for the deal, as the panel offers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedView {
    pub rule_id: String,
    /// The rule in words: "when a deal is won → prepare an invoice for review".
    pub rule: String,
    /// The total when it was prepared (the one-click create holds the invoice to it).
    pub total: Decimal,
    pub currency: String,
    pub customer_name: Option<String>,
    pub prepared_at: DateTime<Utc>,
    /// The `Idempotency-Key` of its one-click create (one invoice per preparation).
    pub key: String,
}

impl PreparedView {
    pub fn of(prepared: &PreparedInvoice, profile: &CompanyProfile) -> Self {
        let rule = profile
            .settings
            .rules
            .iter()
            .find(|r| r.id == prepared.rule_id)
            .map_or_else(
                || "a rule since removed".to_string(),
                |r| format!("when {} → {}", r.trigger.words(), r.action.words()),
            );
        PreparedView {
            rule_id: prepared.rule_id.clone(),
            rule,
            total: prepared.total,
            currency: prepared.currency.clone(),
            customer_name: prepared.customer_name.clone(),
            prepared_at: prepared.prepared_at,
            key: prepared.key(),
        }
    }
}

/// Invoices of a deal's list per page when the caller does not say.
pub const DEFAULT_LIST_PAGE: u32 = 25;
/// Largest page of a deal's list.
pub const MAX_LIST_PAGE: u32 = 100;

/// Where a page of a deal's list starts: after the invoice of this date and id in the list's
/// order ([`newest_first`]). Written `YYYY-MM-DD.<invoice id>`; opaque to the panel, which
/// sends back the `next_cursor` it was given. A page that starts after a position rather than
/// at an offset neither repeats nor skips an invoice when one is created or unlinked between
/// two pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub date: NaiveDate,
    pub invoice_id: String,
}

impl ListCursor {
    pub fn parse(text: &str) -> Option<ListCursor> {
        let date = NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()?;
        let invoice_id = text.get(10..)?.strip_prefix('.')?;
        (!invoice_id.is_empty()).then(|| ListCursor {
            date,
            invoice_id: invoice_id.to_string(),
        })
    }

    fn after<S: AsRef<str>>(view: &InvoiceView<S>) -> String {
        format!(
            "{}.{}",
            view.date.format("%Y-%m-%d"),
            view.invoice_id.as_ref()
        )
    }
}

/// Which page of a deal's list to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    pub limit: u32,
    pub after: Option<ListCursor>,
}

impl ListPage {
    /// The first page, of the default size (what the panel loads first, and what a refresh
    /// answers).
    pub fn first() -> ListPage {
        ListPage {
            limit: DEFAULT_LIST_PAGE,
            after: None,
        }
    }
}

/// The list's order: newest issue date first; on one date the higher QuickBooks id first,
/// compared as a number (a longer id is a later one). `Less` when `a` comes before `b`.
pub fn newest_first(a: (NaiveDate, &str), b: (NaiveDate, &str)) -> std::cmp::Ordering {
    b.0.cmp(&a.0)
        .then_with(|| b.1.len().cmp(&a.1.len()))
        .then_with(|| b.1.cmp(a.1))
}

impl DealInvoices {
    pub fn build(
        deal_id: u64,
        profile: &CompanyProfile,
        links: &[InvoiceLink],
        today: NaiveDate,
        page: &ListPage,
    ) -> Self {
        Self::of_views(
            deal_id,
            profile,
            links
                .iter()
                .map(|l| InvoiceView::from_link(l, today))
                .collect(),
            today,
            page,
        )
    }
}

impl<S: AsRef<str>> DealInvoices<S> {
    /// The list's answer, from [`InvoiceView::from_listed`] views (statuses as stored).
    pub fn listed(
        deal_id: u64,
        profile: &CompanyProfile,
        mut invoices: Vec<InvoiceView<S>>,
        today: NaiveDate,
        page: &ListPage,
    ) -> Self {
        for view in &mut invoices {
            view.status = status_on(view.status, view.balance, view.due_date, today);
        }
        Self::of_views(deal_id, profile, invoices, today, page)
    }

    /// Where `view` stands in the list's order ([`newest_first`]).
    fn position(view: &InvoiceView<S>) -> (NaiveDate, &str) {
        (view.date, view.invoice_id.as_ref())
    }

    fn of_views(
        deal_id: u64,
        profile: &CompanyProfile,
        invoices: Vec<InvoiceView<S>>,
        today: NaiveDate,
        page: &ListPage,
    ) -> Self {
        let summary = summarize(&invoices, today);
        let progress = progress_of(&invoices);
        // The order is found on indices and only the page's views are moved into it.
        let mut order: Vec<usize> = (0..invoices.len()).collect();
        order.sort_by(|&a, &b| {
            newest_first(Self::position(&invoices[a]), Self::position(&invoices[b]))
        });
        let start = match &page.after {
            None => 0,
            Some(cursor) => order.partition_point(|&i| {
                newest_first(
                    Self::position(&invoices[i]),
                    (cursor.date, &cursor.invoice_id),
                ) != std::cmp::Ordering::Greater
            }),
        };
        let end = start.saturating_add(page.limit as usize).min(order.len());
        let invoice_count = invoices.len();
        let mut slots: Vec<Option<InvoiceView<S>>> = invoices.into_iter().map(Some).collect();
        let invoices: Vec<InvoiceView<S>> = order
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .filter_map(|&i| slots.get_mut(i).and_then(Option::take))
            .collect();
        let next_cursor = (end < invoice_count)
            .then(|| invoices.last().map(ListCursor::after))
            .flatten();
        DealInvoices {
            deal_id,
            today,
            connection: ConnectionView::of(profile),
            invoices,
            summary,
            progress,
            invoice_count,
            next_cursor,
            refresh: None,
            synced_at: profile.sync_watermark,
            prepared: None,
        }
    }
}

/// The answer of an action on one invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionAnswer {
    pub invoice: InvoiceView,
    /// A sentence for the panel ("Invoice 1042 was voided.").
    pub message: String,
}

/// `GET …/open`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAnswer {
    pub url: String,
}

/// One invoice of the linked customer (`GET /api/deals/{deal_id}/customer-invoices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerInvoiceView {
    pub invoice_id: String,
    pub doc_number: Option<String>,
    pub date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub currency: Option<String>,
    pub total: Decimal,
    pub balance: Decimal,
    pub status: InvoiceStatus,
    pub sent: bool,
    /// Linked to the deal being viewed.
    pub linked: bool,
}

impl CustomerInvoiceView {
    pub fn of(invoice: &Invoice, id: String, linked: bool, today: NaiveDate) -> Self {
        let total = invoice.total_amt.unwrap_or(Decimal::ZERO);
        CustomerInvoiceView {
            invoice_id: id,
            doc_number: invoice.doc_number.clone(),
            date: invoice.txn_date,
            due_date: invoice.due_date,
            currency: invoice.currency_ref.as_ref().map(|c| c.value.clone()),
            total,
            balance: invoice.balance.unwrap_or(total),
            status: invoice_status(invoice, None, today),
            sent: invoice.email_status == Some(EmailStatus::EmailSent),
            linked,
        }
    }
}

/// The Pipedrive party and the QuickBooks customer it is linked to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedCustomerView {
    /// `organization` or `person`.
    pub party: String,
    pub party_id: u64,
    pub customer_id: String,
    pub display_name: String,
    pub currency: Option<String>,
}

/// `GET /api/deals/{deal_id}/customer-invoices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerInvoices {
    pub deal_id: u64,
    /// `null` when neither the deal's organization nor its person is linked to a customer.
    pub customer: Option<LinkedCustomerView>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Newest first.
    pub invoices: Vec<CustomerInvoiceView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `DELETE /api/deals/{deal_id}/customer-link`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerUnlinked {
    pub removed: Vec<LinkedCustomerView>,
    pub message: String,
}

/// One line of the deal's activity log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityView {
    pub id: String,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub outcome: Outcome,
    pub message: String,
    pub invoice_id: Option<String>,
    pub user_id: Option<u64>,
    /// QuickBooks' transaction id, for Intuit support.
    pub intuit_tid: Option<String>,
}

impl From<ActivityEvent> for ActivityView {
    fn from(event: ActivityEvent) -> Self {
        ActivityView {
            id: event.id,
            at: event.at,
            kind: event.kind,
            outcome: event.outcome,
            message: event.message,
            invoice_id: event.invoice_id,
            user_id: event.user_id.map(|u| u.0),
            intuit_tid: event.intuit_tid,
        }
    }
}

/// `GET /api/deals/{deal_id}/activity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityLog {
    pub deal_id: u64,
    /// Newest first.
    pub events: Vec<ActivityView>,
}

#[cfg(test)]
mod rfc3339_tests {
    use super::*;

    #[test]
    fn dates_are_written_as_chrono_writes_them() {
        let mut dates: Vec<NaiveDate> = [
            (0, 1, 1),
            (1, 2, 3),
            (999, 12, 31),
            (2026, 11, 27),
            (2024, 2, 29),
            (9999, 12, 31),
            (10000, 1, 1),
            (-1, 6, 15),
        ]
        .into_iter()
        .filter_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d))
        .collect();
        dates.extend((0..800).filter_map(|n| {
            NaiveDate::from_ymd_opt(2020, 1, 1)?.checked_add_days(chrono::Days::new(n * 3))
        }));
        assert!(dates.len() > 800);
        for date in dates {
            let mut ours = Vec::new();
            iso_date(&date, &mut serde_json::Serializer::new(&mut ours)).unwrap();
            assert_eq!(ours, serde_json::to_vec(&date).unwrap(), "{date}");
            let mut ours = Vec::new();
            iso_date_opt(&Some(date), &mut serde_json::Serializer::new(&mut ours)).unwrap();
            assert_eq!(ours, serde_json::to_vec(&Some(date)).unwrap(), "{date}");
        }
        let mut none = Vec::new();
        iso_date_opt(&None, &mut serde_json::Serializer::new(&mut none)).unwrap();
        assert_eq!(none, b"null");
    }

    /// Times are written as chrono's `Serialize` writes them: every fraction length, the years
    /// at both ends of the fast path and beyond it, a leap second.
    #[test]
    fn times_are_written_as_chrono_writes_them() {
        use chrono::{Duration, TimeZone, Utc};
        let mut times = Vec::new();
        for n in 0..3000i64 {
            let base = Utc
                .with_ymd_and_hms(1990 + (n % 40) as i32, 1 + (n % 12) as u32, 1, 0, 0, 0)
                .single()
                .expect("valid");
            let fraction = match n % 5 {
                0 => 0,
                1 => (n % 1000) * 1_000_000,
                2 => (n * 7919 % 1_000_000) * 1_000,
                3 => n * 104_729 % 1_000_000_000,
                _ => 1,
            };
            times.push(
                base + Duration::seconds(n * 86_413 % 2_678_400) + Duration::nanoseconds(fraction),
            );
        }
        for (y, m, d) in [(0, 1, 1), (9999, 12, 31), (10000, 1, 1), (-1, 6, 15)] {
            if let Some(date) = NaiveDate::from_ymd_opt(y, m, d) {
                times.push(
                    date.and_hms_nano_opt(23, 59, 59, 999_999_999)
                        .expect("valid")
                        .and_utc(),
                );
            }
        }
        for text in [
            "2026-11-27T09:33:33Z",
            "2026-11-27T09:33:33.120Z",
            "2026-11-27T09:33:33.123456789Z",
        ] {
            times.push(text.parse().expect("a time"));
        }
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .expect("a leap second");
        times.push(leap.and_utc());
        for time in times {
            let mut ours = Vec::new();
            rfc3339(&time, &mut serde_json::Serializer::new(&mut ours)).unwrap();
            assert_eq!(ours, serde_json::to_vec(&time).unwrap(), "{time:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use shared::domain::{CompanyId, DealId};

    fn link(
        id: &str,
        currency: &str,
        total: Decimal,
        balance: Decimal,
        status: InvoiceStatus,
    ) -> InvoiceLink {
        let now = Utc::now();
        InvoiceLink {
            company_id: CompanyId(1),
            deal_id: DealId(2),
            realm_id: "r".into(),
            invoice_id: id.into(),
            doc_number: Some(format!("D{id}")),
            currency: currency.into(),
            total,
            balance,
            txn_date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            due_date: NaiveDate::from_ymd_opt(2026, 3, 10),
            status,
            customer_id: "7".into(),
            customer_name: None,
            email_sent: false,
            sync_token: None,
            qbo_updated_at: None,
            last_payment_date: None,
            billing: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    #[test]
    fn the_summary_adds_up_per_currency() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 20).unwrap();
        let links = [
            link("1", "USD", dec!(100), dec!(100), InvoiceStatus::Open),
            link("2", "USD", dec!(50), dec!(20), InvoiceStatus::PartiallyPaid),
            link("3", "USD", dec!(70), dec!(0), InvoiceStatus::Paid),
            link("4", "USD", dec!(999), dec!(0), InvoiceStatus::Voided),
            link("5", "EUR", dec!(10), dec!(10), InvoiceStatus::Deleted),
            link("6", "EUR", dec!(40), dec!(40), InvoiceStatus::Open),
        ];
        let views: Vec<InvoiceView> = links
            .iter()
            .map(|l| InvoiceView::from_link(l, today))
            .collect();
        assert_eq!(views[0].status, InvoiceStatus::Overdue, "open and past due");
        let summary = summarize(&views, today);
        assert_eq!(summary.len(), 2);
        let eur = &summary[0];
        assert_eq!((eur.currency.as_str(), eur.invoices), ("EUR", 1));
        assert_eq!(
            (eur.outstanding, eur.overdue, eur.paid),
            (dec!(40), dec!(40), dec!(0))
        );
        let usd = &summary[1];
        assert_eq!(usd.invoices, 3);
        assert_eq!(usd.outstanding, dec!(120));
        assert_eq!(usd.overdue, dec!(120));
        assert_eq!(usd.paid, dec!(100));
        let before_due = NaiveDate::from_ymd_opt(2026, 3, 5).unwrap();
        let views: Vec<InvoiceView> = links
            .iter()
            .map(|l| InvoiceView::from_link(l, before_due))
            .collect();
        let usd = summarize(&views, before_due).pop().unwrap();
        assert_eq!((usd.outstanding, usd.overdue), (dec!(120), dec!(0)));
    }

    /// The list is newest first; on one date the higher QuickBooks id first, compared as a
    /// number (a longer id is a later one).
    #[test]
    fn invoices_are_listed_newest_first() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 20).unwrap();
        let dated = |id: &str, day: u32| {
            let mut link = link(id, "USD", dec!(1), dec!(1), InvoiceStatus::Open);
            link.txn_date = NaiveDate::from_ymd_opt(2026, 3, day).unwrap();
            link
        };
        let links = [
            dated("9", 1),
            dated("10", 1),
            dated("2", 5),
            dated("100", 1),
            dated("11", 3),
            dated("1", 5),
            dated("8", 2),
        ];
        let profile = CompanyProfile::new(CompanyId(1), Utc::now());
        let all = ListPage {
            limit: MAX_LIST_PAGE,
            after: None,
        };
        let listed = DealInvoices::build(2, &profile, &links, today, &all);
        let ids: Vec<&str> = listed
            .invoices
            .iter()
            .map(|v| v.invoice_id.as_str())
            .collect();
        assert_eq!(ids, ["2", "1", "11", "8", "100", "10", "9"]);
        let views = links
            .iter()
            .map(|l| InvoiceView::from_link(l, today))
            .collect();
        let same = DealInvoices::listed(2, &profile, views, today, &all);
        assert_eq!(same.invoices, listed.invoices);
        assert_eq!((listed.invoice_count, listed.next_cursor), (7, None));
    }

    /// Pages of every size walk the whole list once, in its order, with the summary of all of
    /// it on every page; a page starts after the cursor's position, so an invoice created or
    /// unlinked between two pages neither repeats nor hides another.
    #[test]
    fn the_list_is_answered_in_pages_that_walk_it_once() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 20).unwrap();
        let dated = |id: u32, day: u32| {
            let mut link = link(
                &id.to_string(),
                "USD",
                dec!(10),
                dec!(4),
                InvoiceStatus::Open,
            );
            link.txn_date = NaiveDate::from_ymd_opt(2026, 3, day).unwrap();
            link
        };
        // 61 invoices over 9 dates, ids of one to three digits.
        let links: Vec<InvoiceLink> = (0..61u32).map(|n| dated(n * 7 % 101, 1 + n % 9)).collect();
        let profile = CompanyProfile::new(CompanyId(1), Utc::now());
        let whole = DealInvoices::build(
            2,
            &profile,
            &links,
            today,
            &ListPage {
                limit: 100,
                after: None,
            },
        );
        assert_eq!((whole.invoices.len(), whole.invoice_count), (61, 61));
        let expected: Vec<String> = whole
            .invoices
            .iter()
            .map(|v| v.invoice_id.clone())
            .collect();
        for limit in [1, 2, 7, 25, 60, 61] {
            let mut seen: Vec<String> = Vec::new();
            let mut after = None;
            loop {
                let page =
                    DealInvoices::build(2, &profile, &links, today, &ListPage { limit, after });
                assert!(page.invoices.len() <= limit as usize);
                assert_eq!(page.invoice_count, 61);
                assert_eq!(
                    page.summary, whole.summary,
                    "every page carries the whole summary"
                );
                seen.extend(page.invoices.iter().map(|v| v.invoice_id.clone()));
                match page.next_cursor {
                    Some(cursor) => {
                        let parsed = ListCursor::parse(&cursor).expect("its own cursor parses");
                        after = Some(parsed);
                    }
                    None => break,
                }
            }
            assert_eq!(seen, expected, "pages of {limit}");
        }
        assert_eq!(whole.summary[0].invoices, 61);
        assert_eq!(whole.summary[0].outstanding, dec!(244));

        // Between the first and the second page of 25, a newer invoice is created and one of
        // the second page is unlinked: the second page is the rest of the old order.
        let first = DealInvoices::build(2, &profile, &links, today, &ListPage::first());
        assert_eq!(first.invoices.len(), DEFAULT_LIST_PAGE as usize);
        let cursor = ListCursor::parse(first.next_cursor.as_deref().unwrap()).unwrap();
        let gone = expected[30].clone();
        let mut changed: Vec<InvoiceLink> = links
            .iter()
            .filter(|l| l.invoice_id != gone)
            .cloned()
            .collect();
        changed.push(dated(500, 19));
        let second = DealInvoices::build(
            2,
            &profile,
            &changed,
            today,
            &ListPage {
                limit: 25,
                after: Some(cursor),
            },
        );
        let rest: Vec<&str> = expected[25..]
            .iter()
            .filter(|id| **id != gone)
            .take(25)
            .map(String::as_str)
            .collect();
        let got: Vec<&str> = second
            .invoices
            .iter()
            .map(|v| v.invoice_id.as_str())
            .collect();
        assert_eq!(got, rest);

        // A cursor past the end: an empty last page.
        let end = DealInvoices::build(
            2,
            &profile,
            &links,
            today,
            &ListPage {
                limit: 25,
                after: ListCursor::parse("2000-01-01.1"),
            },
        );
        assert!(end.invoices.is_empty());
        assert_eq!(end.next_cursor, None);
    }

    #[test]
    fn list_cursors_read_what_they_wrote_and_nothing_else() {
        let cursor = ListCursor::parse("2026-03-05.1042").unwrap();
        assert_eq!(cursor.date, NaiveDate::from_ymd_opt(2026, 3, 5).unwrap());
        assert_eq!(cursor.invoice_id, "1042");
        assert_eq!(
            ListCursor::parse("2026-03-05.a.b").unwrap().invoice_id,
            "a.b"
        );
        for bad in [
            "",
            "2026-03-05",
            "2026-03-05.",
            "2026-03-05-1042",
            "2026-02-30.1",
            "x",
            "2026-03-5.10",
            "é026-03-05.1",
        ] {
            assert_eq!(ListCursor::parse(bad), None, "{bad:?}");
        }
    }
}
