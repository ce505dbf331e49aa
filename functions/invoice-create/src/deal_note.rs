//! What the deal hears of a created invoice: a note on the deal (with a link to the invoice in
//! QuickBooks) and a line in the app's activity log, written together once; a note Pipedrive
//! refuses is recorded in the log instead.

use serde::{Deserialize, Serialize};
use shared::app::App;
use shared::domain::money::NumberFormat;
use shared::domain::{ActivityEvent, DealId, InvoiceLink, Outcome};
use shared::web::error::ApiError;
use shared::wire::pipedrive::model::NewNote;

use crate::context::Caller;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoteOutcome {
    pub posted: bool,
    #[serde(default)]
    pub error: Option<String>,
}

/// Whether the deal was told of `link` already (a retry finds the activity event).
pub async fn told_before(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    link: &InvoiceLink,
) -> Result<bool, ApiError> {
    Ok(app
        .records
        .deal_activity(caller.tenant.company_id, DealId(deal_id), 50)
        .await?
        .iter()
        .any(|e| {
            e.kind == "invoice.created" && e.invoice_id.as_deref() == Some(link.invoice_id.as_str())
        }))
}

/// The deal's note and the activity event, together; a note Pipedrive refused is recorded.
pub async fn tell(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    link: &InvoiceLink,
    open_url: &str,
) -> NoteOutcome {
    let event = activity(
        app,
        caller,
        deal_id,
        link,
        "invoice.created",
        Outcome::Succeeded,
        created_sentence(link, &caller.number_format()),
    );
    let (note, event) = futures::join!(
        post_note(app, caller, deal_id, link, open_url),
        app.records.append_activity(&event)
    );
    if let Err(error) = event {
        tracing::warn!(%error, "could not record the activity event");
    }
    let Err(error) = note else {
        return NoteOutcome {
            posted: true,
            error: None,
        };
    };
    let failed = activity(
        app,
        caller,
        deal_id,
        link,
        "note.failed",
        Outcome::Failed,
        format!(
            "The note about invoice {} could not be added to the deal: {error}",
            doc_label(link)
        ),
    );
    if let Err(e) = app.records.append_activity(&failed).await {
        tracing::warn!(error = %e, "could not record the note failure");
    }
    NoteOutcome {
        posted: false,
        error: Some(error),
    }
}

fn activity(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    link: &InvoiceLink,
    kind: &str,
    outcome: Outcome,
    message: String,
) -> ActivityEvent {
    ActivityEvent {
        company_id: caller.tenant.company_id,
        deal_id: DealId(deal_id),
        at: app.clock.now(),
        id: uuid::Uuid::new_v4().to_string(),
        kind: kind.into(),
        outcome,
        message,
        invoice_id: Some(link.invoice_id.clone()),
        user_id: Some(caller.tenant.user_id),
        intuit_tid: None,
    }
}

fn doc_label(link: &InvoiceLink) -> String {
    match &link.doc_number {
        Some(doc) => format!("#{doc}"),
        None => format!("(id {})", link.invoice_id),
    }
}

/// "QuickBooks invoice #1042 created, 1,250.00 EUR, due 20 March" (amounts in the reader's
/// number format).
pub fn created_sentence(link: &InvoiceLink, format: &NumberFormat) -> String {
    let mut s = format!(
        "QuickBooks invoice {} created, {}{}",
        doc_label(link),
        format.money(link.total, &link.currency),
        crate::parts::part_phrase(link.billing.as_ref())
    );
    if let Some(due) = link.due_date {
        s.push_str(&format!(", due {}", due.format("%-d %B")));
    }
    s
}

pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The note on the deal (HTML).
pub fn note_html(link: &InvoiceLink, open_url: &str, format: &NumberFormat) -> String {
    format!(
        "<p>{}. <a href=\"{}\">Open in QuickBooks</a></p>",
        escape_html(&created_sentence(link, format)),
        escape_html(open_url)
    )
}

async fn post_note(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    link: &InvoiceLink,
    open_url: &str,
) -> Result<(), String> {
    let note = NewNote {
        content: note_html(link, open_url, &caller.number_format()),
        deal_id: Some(deal_id),
        ..NewNote::default()
    };
    app.pipedrive_of(caller.tenant)
        .add_note(&note)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
