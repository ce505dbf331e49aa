//! What a status change means, recorded in one place ([`settle`]) whichever path noticed it: an
//! activity event on the deal and, when the company asked for it, a note on the deal when an
//! invoice becomes Paid — once per transition. Every path writes links through the functions
//! here ([`apply_for_company`], [`apply_to_link`], [`mark_overdue`]); the first two also write
//! the deal's invoice figures back to its mapped fields once per changed deal
//! ([`write_back`](crate::sync::write_back), after the settling), the overdue pass once for all
//! its writes. Also the error classification every sync path shares.

use chrono::{DateTime, Utc};

use crate::App;
use crate::sync::write_back::{WriteBackReport, write_back};
use crate::sync::{Written, apply_invoices, update_link};
use domain::links::{overdue_version, refreshed_link, today_in};
use domain::{ActivityEvent, CompanyProfile, InvoiceLink, InvoiceStatus, Outcome};
use pipedrive_wire::model::NewNote;
use quickbooks_wire::model::Invoice;
use store::StoreError;
use web::auth::Tenant;
use web::error::ApiError;

/// Why a sync job failed (the job is retried; after a few receives it lands in the DLQ).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// QuickBooks is limiting this company (429 / fault 3001): try again after the back-off.
    #[error("QuickBooks is throttling this company; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// QuickBooks or the token service failed in a way that may pass (5xx, network, busy).
    #[error("upstream failure: {0}")]
    Upstream(String),
    /// QuickBooks refused the request itself (4xx fault); retried, then dead-lettered.
    #[error("QuickBooks refused the request: {0}")]
    Rejected(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an [`ApiError`] from the token manager or a QuickBooks call means for a sync job.
#[derive(Debug)]
pub enum Failure {
    /// The company cannot be synced until a human acts (not connected, needs reconnecting):
    /// skip it; its connection state already says so.
    Skip(String),
    Error(SyncError),
}

pub fn classify(error: ApiError) -> Failure {
    match error {
        ApiError::TooManyRequests {
            retry_after_secs, ..
        } => Failure::Error(SyncError::Throttled { retry_after_secs }),
        ApiError::ReconnectRequired { detail, .. }
        | ApiError::Conflict { detail, .. }
        | ApiError::Refused { detail, .. } => Failure::Skip(detail),
        ApiError::Upstream {
            detail,
            retryable: true,
            ..
        } => Failure::Error(SyncError::Upstream(detail)),
        ApiError::Upstream {
            detail,
            retryable: false,
            ..
        } => Failure::Error(SyncError::Rejected(detail)),
        other => Failure::Error(SyncError::Upstream(other.to_string())),
    }
}

/// What applying a set of invoices to one company did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Links written.
    pub changed: usize,
    /// Links that already reflected QuickBooks (or were newer).
    pub unchanged: usize,
    /// The writes that changed a status (each recorded once, by [`settle`]).
    pub status_changes: Vec<Written>,
    /// Every link as written.
    pub links: Vec<InvoiceLink>,
    /// The deals' mapped fields written back.
    pub written_back: WriteBackReport,
}

impl Applied {
    pub fn merge(&mut self, other: Applied) {
        self.changed += other.changed;
        self.unchanged += other.unchanged;
        self.status_changes.extend(other.status_changes);
        self.links.extend(other.links);
        self.written_back.merge(other.written_back);
    }
}

/// Who writes the deal's log line of a status change: [`settle`], or the caller that writes its
/// own (an action of ours that made the change — void, delete — and the panel's refresh, which
/// lists what changed in one line). Either way the line is written once; the note on Paid is
/// [`settle`]'s in both cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logged {
    /// The change is logged here: a webhook, the sync, what an action read.
    Here,
    /// The caller logs it.
    ByCaller,
}

/// THE place where a status change becomes what it means: every path that writes a link
/// (webhook, sync, refresh, action answers, the overdue pass) hands its writes here. A write
/// that changed the status ([`Written::is_transition`]) is recorded once — the activity event,
/// and the deal note when an invoice becomes Paid and the company wants it. Writes are versioned
/// (see [`crate::sync::update_link`]), so of two paths that see the same change only the one
/// whose write replaced the old status gets here with a transition.
pub async fn settle(
    app: &App,
    profile: &CompanyProfile,
    written: &Written,
    logged: Logged,
    now: DateTime<Utc>,
) {
    if !written.is_transition() {
        return;
    }
    if logged == Logged::Here {
        record_status_change(app, written, now).await;
    }
    if written.link.status == InvoiceStatus::Paid && profile.settings.note_on_paid {
        add_paid_note(app, profile, &written.link, now).await;
    }
}

/// Applies `invoices` of `realm` to the company's links (only invoices it links are touched)
/// and settles each write.
pub async fn apply_for_company(
    app: &App,
    profile: &CompanyProfile,
    realm: &str,
    invoices: &[Invoice],
    logged: Logged,
    now: DateTime<Utc>,
) -> Result<Applied, StoreError> {
    let today = today_in(&profile.time_zone, now);
    let outcome = apply_invoices(
        &app.records,
        profile.company_id,
        realm,
        invoices,
        today,
        now,
    )
    .await?;
    let mut applied = Applied {
        changed: outcome.written.len(),
        unchanged: outcome.unchanged,
        ..Applied::default()
    };
    for written in outcome.written {
        settle(app, profile, &written, logged, now).await;
        applied.links.push(written.link.clone());
        if written.is_transition() {
            applied.status_changes.push(written);
        }
    }
    let deals = applied.links.iter().map(|l| l.deal_id);
    applied.written_back = write_back(app, profile, deals, now).await;
    Ok(applied)
}

/// Applies `invoice` to one link (a deal's, after an action or a refresh the index did not lead
/// to) and settles the write. Answers the link as it is now (as it would be, if it was unlinked
/// meanwhile) and, when this write changed its status, the status it replaced.
pub async fn apply_to_link(
    app: &App,
    profile: &CompanyProfile,
    link: &InvoiceLink,
    invoice: &Invoice,
    logged: Logged,
    now: DateTime<Utc>,
) -> Result<(InvoiceLink, Option<InvoiceStatus>), StoreError> {
    let today = today_in(&profile.time_zone, now);
    let refreshed = |current: &InvoiceLink| refreshed_link(current, invoice, today, now);
    let current = match app
        .records
        .get_invoice_link(link.company_id, link.deal_id, &link.invoice_id)
        .await?
    {
        Some(current) => current,
        None => return Ok((refreshed(link).unwrap_or_else(|| link.clone()), None)),
    };
    match update_link(&app.records, current.clone(), refreshed).await? {
        Some(written) => {
            settle(app, profile, &written, logged, now).await;
            write_back(app, profile, [written.link.deal_id], now).await;
            let from = written.is_transition().then_some(written.from);
            Ok((written.link, from))
        }
        None => Ok((
            app.records
                .get_invoice_link(link.company_id, link.deal_id, &link.invoice_id)
                .await?
                .unwrap_or(current),
            None,
        )),
    }
}

/// Marks an Open link Overdue once its due date has passed in the company's time zone (no
/// QuickBooks call), and settles the write. The caller writes the deals' figures back once for
/// all the links it marked ([`write_back`]).
pub async fn mark_overdue(
    app: &App,
    profile: &CompanyProfile,
    link: InvoiceLink,
    now: DateTime<Utc>,
) -> Result<Option<Written>, StoreError> {
    let today = today_in(&profile.time_zone, now);
    let written = update_link(&app.records, link, |current| {
        overdue_version(current, today, now)
    })
    .await?;
    if let Some(written) = &written {
        settle(app, profile, written, Logged::Here, now).await;
    }
    Ok(written)
}

/// How a status reads in a sentence.
pub fn status_words(status: InvoiceStatus) -> &'static str {
    match status {
        InvoiceStatus::Open => "open",
        InvoiceStatus::Overdue => "overdue",
        InvoiceStatus::PartiallyPaid => "partially paid",
        InvoiceStatus::Paid => "paid",
        InvoiceStatus::Voided => "voided",
        InvoiceStatus::Deleted => "deleted",
    }
}

fn invoice_name(link: &InvoiceLink) -> String {
    match &link.doc_number {
        Some(number) => format!("Invoice {number}"),
        None => format!("Invoice (QuickBooks id {})", link.invoice_id),
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The deal's activity event of a status change.
async fn record_status_change(app: &App, written: &Written, now: DateTime<Utc>) {
    let link = &written.link;
    let message = format!(
        "{} is now {} in QuickBooks (was {}); balance {} {}.",
        invoice_name(link),
        status_words(link.status),
        status_words(written.from),
        link.balance,
        link.currency
    );
    append(
        app,
        link,
        "status.changed",
        Outcome::Succeeded,
        message,
        now,
    )
    .await;
}

/// The deal note of a newly paid invoice, added as the user who connected QuickBooks. A failure
/// is logged and recorded as a failed activity; it never undoes the status, which is stored.
async fn add_paid_note(
    app: &App,
    profile: &CompanyProfile,
    link: &InvoiceLink,
    now: DateTime<Utc>,
) {
    let Some(connection) = profile.quickbooks.as_ref() else {
        return;
    };
    let tenant = Tenant {
        company_id: profile.company_id,
        user_id: connection.connected_by,
    };
    let note = NewNote {
        content: format!(
            "<b>{}</b> was paid in QuickBooks: {} {}.",
            escape_html(&invoice_name(link)),
            link.total,
            escape_html(&link.currency)
        ),
        deal_id: Some(link.deal_id.0),
        ..NewNote::default()
    };
    let (kind, outcome, message) = match app.pipedrive_of(tenant).add_note(&note).await {
        Ok(_) => (
            "note.added",
            Outcome::Succeeded,
            format!("Added a note to the deal: {} was paid.", invoice_name(link)),
        ),
        Err(error) => {
            let error = ApiError::from(error);
            tracing::warn!(
                company_id = profile.company_id.0,
                deal_id = link.deal_id.0,
                error = %error,
                "could not add the paid note to the deal"
            );
            (
                "note.failed",
                Outcome::Failed,
                format!(
                    "Could not add the paid note for {} to the deal: {error}",
                    invoice_name(link)
                ),
            )
        }
    };
    append(app, link, kind, outcome, message, now).await;
}

async fn append(
    app: &App,
    link: &InvoiceLink,
    kind: &str,
    outcome: Outcome,
    message: String,
    now: DateTime<Utc>,
) {
    let event = ActivityEvent {
        company_id: link.company_id,
        deal_id: link.deal_id,
        at: now,
        id: uuid::Uuid::new_v4().simple().to_string(),
        kind: kind.to_string(),
        outcome,
        message,
        invoice_id: Some(link.invoice_id.clone()),
        user_id: None,
        intuit_tid: None,
    };
    if let Err(error) = app.records.append_activity(&event).await {
        tracing::warn!(
            company_id = link.company_id.0,
            deal_id = link.deal_id.0,
            %error,
            "could not record an activity event"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified() {
        assert!(matches!(
            classify(ApiError::TooManyRequests {
                detail: "x".into(),
                retry_after_secs: 60
            }),
            Failure::Error(SyncError::Throttled {
                retry_after_secs: 60
            })
        ));
        assert!(matches!(
            classify(ApiError::ReconnectRequired {
                detail: "x".into(),
                reconnect_url: "u".into()
            }),
            Failure::Skip(_)
        ));
        assert!(matches!(
            classify(ApiError::Upstream {
                detail: "x".into(),
                retryable: true,
                intuit_tid: None
            }),
            Failure::Error(SyncError::Upstream(_))
        ));
        assert!(matches!(
            classify(ApiError::Upstream {
                detail: "x".into(),
                retryable: false,
                intuit_tid: None
            }),
            Failure::Error(SyncError::Rejected(_))
        ));
    }

    #[test]
    fn notes_escape_what_quickbooks_users_typed() {
        assert_eq!(escape_html("<b>&\""), "&lt;b&gt;&amp;&quot;");
    }
}
