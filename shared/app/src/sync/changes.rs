//! Applying QuickBooks invoices to one company's links through the single update path
//! ([`crate::sync::apply_invoices`]) and recording what a status change means: an activity event
//! on the deal and, when the company asked for it, a note on the deal when an invoice becomes
//! Paid. Also the error classification every sync path shares.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::App;
use crate::sync::apply_invoices;
use domain::links::today_in;
use domain::{
    ActivityEvent, CompanyId, CompanyProfile, DealId, InvoiceLink, InvoiceStatus, Outcome,
};
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

/// A link whose status changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub link: InvoiceLink,
    pub from: InvoiceStatus,
}

/// What applying a set of invoices to one company did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Links written.
    pub changed: usize,
    /// Links that already reflected QuickBooks (or were newer).
    pub unchanged: usize,
    pub status_changes: Vec<StatusChange>,
}

impl Applied {
    pub fn merge(&mut self, other: Applied) {
        self.changed += other.changed;
        self.unchanged += other.unchanged;
        self.status_changes.extend(other.status_changes);
    }
}

/// What a link said before an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Before {
    pub status: InvoiceStatus,
    pub sync_token: Option<String>,
}

/// `company`'s links to `ids` of `realm` before an update, keyed by (deal, invoice id).
pub async fn linked_statuses(
    app: &App,
    company: CompanyId,
    realm: &str,
    ids: impl IntoIterator<Item = &str>,
) -> Result<HashMap<(DealId, String), Before>, StoreError> {
    let mut out = HashMap::new();
    let unique: BTreeSet<&str> = ids.into_iter().collect();
    for id in unique {
        for link in app.records.find_invoice_links(realm, id).await? {
            if link.company_id == company {
                out.insert(
                    (link.deal_id, link.invoice_id.clone()),
                    Before {
                        status: link.status,
                        sync_token: link.sync_token.clone(),
                    },
                );
            }
        }
    }
    Ok(out)
}

/// Whether `invoice` is an older version than the one a link reflects by its `SyncToken`
/// (QuickBooks increments it on every write; `LastUpdatedTime` has whole seconds, so two
/// changes in one second are told apart only by the token).
pub fn older_by_sync_token(invoice: &Invoice, known: Option<&str>) -> bool {
    let parse = |s: Option<&str>| s.and_then(|t| t.trim().parse::<u64>().ok());
    match (parse(invoice.sync_token.as_deref()), parse(known)) {
        (Some(seen), Some(known)) => seen < known,
        _ => false,
    }
}

/// Applies `invoices` of `realm` to the company's links (only invoices it links are touched)
/// and records the status changes.
pub async fn apply_for_company(
    app: &App,
    profile: &CompanyProfile,
    realm: &str,
    invoices: &[Invoice],
    now: DateTime<Utc>,
) -> Result<Applied, StoreError> {
    let before = linked_statuses(
        app,
        profile.company_id,
        realm,
        invoices.iter().filter_map(|i| i.id.as_deref()),
    )
    .await?;
    // Invoices some link of the company points at and is not already newer than.
    let relevant: Vec<Invoice> = invoices
        .iter()
        .filter(|i| {
            i.id.as_deref().is_some_and(|id| {
                before.iter().any(|((_, linked), b)| {
                    linked == id && !older_by_sync_token(i, b.sync_token.as_deref())
                })
            })
        })
        .cloned()
        .collect();
    if relevant.is_empty() {
        return Ok(Applied::default());
    }
    let today = today_in(&profile.time_zone, now);
    let outcome = apply_invoices(
        &app.records,
        profile.company_id,
        realm,
        &relevant,
        today,
        now,
    )
    .await?;
    let mut applied = Applied {
        changed: outcome.changed.len(),
        unchanged: outcome.unchanged,
        status_changes: Vec::new(),
    };
    for link in outcome.changed {
        let from = before
            .get(&(link.deal_id, link.invoice_id.clone()))
            .map(|b| b.status)
            .unwrap_or(link.status);
        if from != link.status {
            let change = StatusChange { link, from };
            record_status_change(app, profile, &change, now).await;
            applied.status_changes.push(change);
        }
    }
    Ok(applied)
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

/// Writes the activity event of a status change and, if the company wants it, the deal note for
/// a newly paid invoice. Failures here are logged (and a failed note is recorded as a failed
/// activity); they never undo or fail the status update, which is already stored.
pub async fn record_status_change(
    app: &App,
    profile: &CompanyProfile,
    change: &StatusChange,
    now: DateTime<Utc>,
) {
    let link = &change.link;
    let message = format!(
        "{} is now {} in QuickBooks (was {}); balance {} {}.",
        invoice_name(link),
        status_words(link.status),
        status_words(change.from),
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
    if link.status != InvoiceStatus::Paid
        || change.from == InvoiceStatus::Paid
        || !profile.settings.note_on_paid
    {
        return;
    }
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
    let result = app.pipedrive_of(tenant).add_note(&note).await;
    match result {
        Ok(_) => {
            append(
                app,
                link,
                "note.added",
                Outcome::Succeeded,
                format!("Added a note to the deal: {} was paid.", invoice_name(link)),
                now,
            )
            .await
        }
        Err(error) => {
            let error = ApiError::from(error);
            tracing::warn!(
                company_id = profile.company_id.0,
                deal_id = link.deal_id.0,
                error = %error,
                "could not add the paid note to the deal"
            );
            append(
                app,
                link,
                "note.failed",
                Outcome::Failed,
                format!(
                    "Could not add the paid note for {} to the deal: {error}",
                    invoice_name(link)
                ),
                now,
            )
            .await
        }
    }
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
    fn an_older_sync_token_is_older_whatever_the_time_says() {
        let invoice = |token: Option<&str>| Invoice {
            sync_token: token.map(str::to_string),
            ..Invoice::default()
        };
        assert!(older_by_sync_token(&invoice(Some("2")), Some("3")));
        assert!(!older_by_sync_token(&invoice(Some("3")), Some("3")));
        assert!(!older_by_sync_token(&invoice(Some("10")), Some("9")));
        assert!(
            !older_by_sync_token(&invoice(None), Some("3")),
            "deleted stubs apply"
        );
        assert!(!older_by_sync_token(&invoice(Some("x")), Some("3")));
    }

    #[test]
    fn notes_escape_what_quickbooks_users_typed() {
        assert_eq!(escape_html("<b>&\""), "&lt;b&gt;&amp;&quot;");
    }
}
