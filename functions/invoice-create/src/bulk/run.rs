//! A page of a bulk run: the next pending deals of the batch, ≤ [`IN_FLIGHT`] at a time, no new
//! deal started after [`TIME_BUDGET`] (API Gateway gives up at 30 s; what is left is the next
//! page's), each deal read, checked ([`crate::unattended::ready_form`]) and its invoice or
//! estimate (the batch's [`Document`]) created once under its (batch, deal) key; the outcomes
//! are merged into the stored batch.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use shared::app::App;
use shared::domain::DealId;
use shared::domain::bulk::{BulkBatch, CreatedId, DealOutcome, Document, document_key};
use shared::domain::draft::InvoiceForm;
use shared::store::StoreError;
use shared::web::error::ApiError;

use crate::context::{Caller, company_setup};
use crate::draft::{Draft, build};
use crate::unattended::{Unattended, create_once, estimate_once, link_match, ready_form};

/// Deals worked on at once (each one's QuickBooks calls also pass the realm gate: ≤ 10 in
/// flight and ≤ 500 a minute per company).
pub const IN_FLIGHT: usize = 10;
/// Most deals one run request works on.
pub const PAGE: usize = 25;
/// No deal is started after this (each takes a few upstream round trips).
pub const TIME_BUDGET: Duration = Duration::from_secs(20);
/// Tries at saving a page's outcomes when another run of the batch saved first.
const SAVE_TRIES: usize = 5;

/// What reading a deal's draft gave.
pub enum Checked {
    Draft(Box<Draft>),
    /// Not a deal the caller can invoice: the sentence.
    Refused(String),
    /// An upstream failed: the sentence (try again later).
    Failed(String),
}

/// The deal's draft, read with the caller's tokens (a deal of another company, deleted or not
/// visible to the caller is refused).
pub async fn read_draft(app: &App, caller: &Caller, deal: DealId) -> Checked {
    match build(app, caller, deal.0).await {
        Ok(draft) => Checked::Draft(Box::new(draft)),
        Err(ApiError::NotFound(_)) => Checked::Refused(format!(
            "Pipedrive has no deal {deal} that you can see (another company's, deleted, or not visible to you): nothing was created."
        )),
        Err(error) => Checked::Failed(error.to_string()),
    }
}

/// Reads the company's QuickBooks setup once before the deals fan out (each draft needs it: cold,
/// ten drafts at once would each read it). A failure is left to the drafts to report.
pub async fn warm_setup(app: &App, caller: &Caller) {
    if let Err(error) = company_setup(app, caller).await {
        tracing::warn!(%error, "the company's QuickBooks setup could not be read before the bulk run");
    }
}

/// `work` on each deal, ≤ [`IN_FLIGHT`] at once, answers in the deals' order.
pub async fn each_deal<'a, F, Fut, T>(deals: &[DealId], work: F) -> Vec<T>
where
    F: Fn(DealId) -> Fut,
    Fut: Future<Output = T> + 'a,
{
    let mut out: Vec<(usize, T)> = futures::stream::iter(deals.iter().copied().enumerate())
        .map(|(i, deal)| {
            let job = work(deal);
            async move { (i, job.await) }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, t)| t).collect()
}

/// Works on the batch's next page and answers the batch as stored after it.
pub async fn run_page(
    app: &App,
    caller: &Caller,
    mut batch: BulkBatch,
    recheck_blocked: bool,
) -> Result<BulkBatch, ApiError> {
    if recheck_blocked && batch.recheck_blocked() > 0 {
        batch = save(app, batch, &[]).await?;
    }
    let deadline = tokio::time::Instant::now() + TIME_BUDGET;
    let page = batch.next_page(PAGE);
    if !page.is_empty() {
        warm_setup(app, caller).await;
    }
    let batch_id = batch.batch_id.clone();
    let document = batch.document;
    let outcomes: Vec<(DealId, DealOutcome)> = futures::stream::iter(page)
        .take_while(|_| std::future::ready(tokio::time::Instant::now() < deadline))
        .map(|deal| {
            let batch_id = batch_id.as_str();
            async move { (deal, run_deal(app, caller, batch_id, document, deal).await) }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    save(app, batch, &outcomes).await
}

/// One deal: read, check, create once.
async fn run_deal(
    app: &App,
    caller: &Caller,
    batch_id: &str,
    document: Document,
    deal: DealId,
) -> DealOutcome {
    let draft = match read_draft(app, caller, deal).await {
        Checked::Draft(draft) => draft,
        Checked::Refused(sentence) => return DealOutcome::NotInvoiced { sentence },
        Checked::Failed(error) => return DealOutcome::Pending { error: Some(error) },
    };
    let ready = ready_form(&draft);
    if !ready.blockers.is_empty() {
        return DealOutcome::Blocked {
            sentence: document.blocked_sentence(&ready.blockers),
            blockers: ready.blockers,
        };
    }
    if let Err(error) = link_match(app, caller, &draft, &ready).await {
        return DealOutcome::Pending { error: Some(error) };
    }
    let key = document_key(batch_id, document, deal);
    match document {
        Document::Invoice => invoice(app, caller, batch_id, deal, &key, &ready.form).await,
        Document::Estimate => estimate(app, caller, batch_id, deal, &key, &ready.form).await,
    }
}

async fn invoice(
    app: &App,
    caller: &Caller,
    batch_id: &str,
    deal: DealId,
    key: &str,
    form: &InvoiceForm,
) -> DealOutcome {
    let request = json!({"batch_id": batch_id, "deal_id": deal});
    match create_once(app, caller, deal, key, &request, form).await {
        Ok(created) => DealOutcome::Created {
            id: CreatedId::Invoice {
                invoice_id: created.invoice.id,
            },
            doc_number: created.invoice.doc_number,
            total: created.invoice.total,
            currency: created.invoice.currency,
            open_url: created.open_url,
        },
        Err(why) => not_created(why, "Not invoiced"),
    }
}

async fn estimate(
    app: &App,
    caller: &Caller,
    batch_id: &str,
    deal: DealId,
    key: &str,
    form: &InvoiceForm,
) -> DealOutcome {
    let request = json!({"batch_id": batch_id, "deal_id": deal, "document": Document::Estimate});
    match estimate_once(app, caller, deal, key, &request, form).await {
        Ok(created) => DealOutcome::Created {
            id: CreatedId::Estimate {
                estimate_id: created.estimate.estimate_id,
            },
            doc_number: created.estimate.doc_number,
            total: created.estimate.total,
            currency: created.estimate.currency,
            open_url: created.open_url,
        },
        Err(why) => not_created(why, "No estimate was created"),
    }
}

/// A create that did not happen: `lead` ("Not invoiced") and QuickBooks' or the checks' reason,
/// the skip's own sentence, or pending (try again).
fn not_created(why: Unattended, lead: &str) -> DealOutcome {
    match why {
        Unattended::Blocked(why) => DealOutcome::NotInvoiced {
            sentence: format!("{lead}: {why}"),
        },
        Unattended::Skipped(sentence) => DealOutcome::NotInvoiced { sentence },
        Unattended::Retry(error) => DealOutcome::Pending { error: Some(error) },
    }
}

/// Merges the outcomes into the stored batch (re-read when another run saved first).
async fn save(
    app: &App,
    mut batch: BulkBatch,
    outcomes: &[(DealId, DealOutcome)],
) -> Result<BulkBatch, ApiError> {
    for _ in 0..SAVE_TRIES {
        batch.merge(outcomes);
        match app.records.save_bulk_batch(&batch).await {
            Ok(saved) => return Ok(saved),
            Err(StoreError::Conflict { .. }) => {
                batch = app
                    .records
                    .get_bulk_batch(batch.company_id, &batch.batch_id)
                    .await?
                    .ok_or_else(|| ApiError::internal("the batch vanished while it ran"))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict {
        detail: "The batch kept changing while this page was saved (is it running in another window?). Its invoices or estimates are made; reload to see them.".into(),
        current: None,
    })
}
