//! Bulk invoicing from the deals list: a batch (the rep's selection, under an id the page made)
//! and where each of its deals stands, decided here without I/O — which ids a batch takes, which
//! deals the next page of a run works on, how a page's outcomes are merged into the stored batch
//! (a finished deal never goes back to pending), and the progress the page shows.
//!
//! Whether a deal is ready is [`crate::readiness`]'s decision (the same as the rules', and the
//! same for an estimate as for an invoice); the document of (batch, deal) — an invoice, or an
//! estimate when the batch was made for estimates ([`Document`]) — is created once under a key
//! derived from both ([`document_key`]).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::readiness::{Blocker, not_invoiced_sentence};
use super::{CompanyId, DealId, UserId};

/// Most deals in one batch.
pub const MAX_BATCH: usize = 100;
/// Most deals one readiness request checks (the page asks in pages of this size).
pub const MAX_READINESS: usize = 25;

/// What a batch creates for each ready deal (chosen when the batch is made, kept with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Document {
    #[default]
    Invoice,
    Estimate,
}

impl Document {
    /// "invoices" / "estimates".
    pub fn plural(self) -> &'static str {
        match self {
            Document::Invoice => "invoices",
            Document::Estimate => "estimates",
        }
    }

    /// A run's sentence for a deal it did not create for: "Not invoiced — needs: …" /
    /// "No estimate — needs: …".
    pub fn blocked_sentence(self, blockers: &[Blocker]) -> String {
        self.not_created(&not_invoiced_sentence(blockers))
    }

    /// A sentence about a deal not invoiced, said of this document.
    pub fn not_created(self, sentence: &str) -> String {
        match self {
            Document::Invoice => sentence.to_string(),
            Document::Estimate => sentence.replacen("Not invoiced", "No estimate", 1),
        }
    }
}

/// What a deal's create made: its id, named after the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CreatedId {
    Invoice { invoice_id: String },
    Estimate { estimate_id: String },
}

/// Where one deal of a batch stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DealOutcome {
    /// Not worked on yet, or its last try failed upstream (`error` says how; the next run tries
    /// again).
    Pending {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The invoice (or the estimate) was created, or had been by an earlier run of this batch.
    Created {
        #[serde(flatten)]
        id: CreatedId,
        #[serde(default)]
        doc_number: Option<String>,
        total: Decimal,
        currency: String,
        open_url: String,
    },
    /// Not ready: what it needs, each with its fix.
    Blocked {
        sentence: String,
        blockers: Vec<Blocker>,
    },
    /// Not created, for a reason no link fixes (the deal is not one the caller can see,
    /// QuickBooks refused it, the deal has an invoice like it already).
    NotInvoiced { sentence: String },
}

impl DealOutcome {
    pub fn pending() -> Self {
        DealOutcome::Pending { error: None }
    }

    pub fn is_pending(&self) -> bool {
        matches!(self, DealOutcome::Pending { .. })
    }
}

/// One deal of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchDeal {
    pub deal_id: DealId,
    #[serde(flatten)]
    pub outcome: DealOutcome,
}

/// A bulk batch: the deals a rep selected, under the id the page made (a UUID), and each
/// deal's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkBatch {
    pub company_id: CompanyId,
    pub batch_id: String,
    /// Who made it (the invoices are created with their tokens; only they see the batch).
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    /// What it creates (a batch stored before estimates existed made invoices).
    #[serde(default)]
    pub document: Document,
    pub deals: Vec<BatchDeal>,
    #[serde(skip)]
    pub version: u64,
}

/// How far a batch got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Progress {
    pub total: usize,
    pub pending: usize,
    pub created: usize,
    pub blocked: usize,
    pub not_invoiced: usize,
    /// Pending deals whose last try failed upstream.
    pub failed: usize,
}

impl Progress {
    pub fn done(&self) -> bool {
        self.pending == 0
    }
}

/// The idempotency key of the invoice a batch creates for a deal (one per (batch, deal), ever).
pub fn deal_key(batch_id: &str, deal: DealId) -> String {
    format!("bulk:{batch_id}:deal:{deal}")
}

/// The idempotency key of the document a batch creates for a deal: [`deal_key`] for an invoice
/// (the key batches had before estimates), a key of its own for an estimate.
pub fn document_key(batch_id: &str, document: Document, deal: DealId) -> String {
    match document {
        Document::Invoice => deal_key(batch_id, deal),
        Document::Estimate => format!("bulk:{batch_id}:estimate:deal:{deal}"),
    }
}

/// A batch id as the page makes it: a UUID (any case), answered in lower case.
pub fn batch_id(raw: &str) -> Result<String, String> {
    let id = raw.trim().to_ascii_lowercase();
    let shaped = id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if shaped {
        Ok(id)
    } else {
        Err("The batch id must be a UUID that the page makes (like 0b5c4f0e-7d1a-4e55-9a43-2f1c9d7e8b60).".into())
    }
}

/// The deals a request names: at least one, at most `max`, each once (in the order given).
pub fn deal_ids(ids: &[u64], max: usize) -> Result<Vec<DealId>, String> {
    if ids.is_empty() {
        return Err("Select at least one deal.".into());
    }
    let mut out: Vec<DealId> = Vec::with_capacity(ids.len());
    for &id in ids {
        if id == 0 {
            return Err("Deal ids are positive numbers.".into());
        }
        if !out.contains(&DealId(id)) {
            out.push(DealId(id));
        }
    }
    if out.len() > max {
        return Err(format!(
            "{} deals are selected; at most {max} can be invoiced at once. Select fewer and run the rest in another batch.",
            out.len()
        ));
    }
    Ok(out)
}

impl BulkBatch {
    /// A new batch with every deal pending.
    pub fn new(
        company_id: CompanyId,
        batch_id: String,
        user_id: UserId,
        deals: &[DealId],
        now: DateTime<Utc>,
    ) -> Self {
        BulkBatch {
            company_id,
            batch_id,
            user_id,
            created_at: now,
            document: Document::Invoice,
            deals: deals
                .iter()
                .map(|&deal_id| BatchDeal {
                    deal_id,
                    outcome: DealOutcome::pending(),
                })
                .collect(),
            version: 0,
        }
    }

    /// The batch, made for `document`.
    pub fn for_document(mut self, document: Document) -> Self {
        self.document = document;
        self
    }

    /// Whether a request for `document` of `deals` is this batch again (a retried create).
    pub fn same_request(&self, document: Document, deals: &[DealId]) -> bool {
        self.document == document && self.same_deals(deals)
    }

    /// Whether a request for `deals` names this batch's deals (a retried create of the batch).
    pub fn same_deals(&self, deals: &[DealId]) -> bool {
        self.deals.len() == deals.len() && self.deals.iter().all(|d| deals.contains(&d.deal_id))
    }

    /// The next `page` pending deals, in the batch's order.
    pub fn next_page(&self, page: usize) -> Vec<DealId> {
        self.deals
            .iter()
            .filter(|d| d.outcome.is_pending())
            .map(|d| d.deal_id)
            .take(page)
            .collect()
    }

    /// Puts a page's outcomes in: a deal already finished (by another run of the batch) keeps
    /// its outcome, and a pending outcome never replaces a finished one.
    pub fn merge(&mut self, outcomes: &[(DealId, DealOutcome)]) {
        for (deal, outcome) in outcomes {
            if let Some(entry) = self.deals.iter_mut().find(|d| d.deal_id == *deal)
                && entry.outcome.is_pending()
            {
                entry.outcome = outcome.clone();
            }
        }
    }

    /// Blocked deals go back to pending (after the rep fixed what they needed).
    pub fn recheck_blocked(&mut self) -> usize {
        let mut n = 0;
        for entry in &mut self.deals {
            if matches!(entry.outcome, DealOutcome::Blocked { .. }) {
                entry.outcome = DealOutcome::pending();
                n += 1;
            }
        }
        n
    }

    pub fn progress(&self) -> Progress {
        let mut p = Progress {
            total: self.deals.len(),
            ..Progress::default()
        };
        for d in &self.deals {
            match &d.outcome {
                DealOutcome::Pending { error } => {
                    p.pending += 1;
                    if error.is_some() {
                        p.failed += 1;
                    }
                }
                DealOutcome::Created { .. } => p.created += 1,
                DealOutcome::Blocked { .. } => p.blocked += 1,
                DealOutcome::NotInvoiced { .. } => p.not_invoiced += 1,
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const ID: &str = "0b5c4f0e-7d1a-4e55-9a43-2f1c9d7e8b60";

    fn batch(ids: &[u64]) -> BulkBatch {
        let deals: Vec<DealId> = ids.iter().map(|&i| DealId(i)).collect();
        BulkBatch::new(
            CompanyId(1),
            ID.into(),
            UserId(2),
            &deals,
            Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        )
    }

    fn created(id: &str) -> DealOutcome {
        DealOutcome::Created {
            id: CreatedId::Invoice {
                invoice_id: id.into(),
            },
            doc_number: None,
            total: Decimal::TEN,
            currency: "USD".into(),
            open_url: format!("https://qb/{id}"),
        }
    }

    #[test]
    fn batch_ids_are_uuids() {
        assert_eq!(batch_id(&ID.to_uppercase()).unwrap(), ID);
        assert!(batch_id("batch-1").is_err());
        assert!(batch_id("0b5c4f0e-7d1a-4e55-9a43-2f1c9d7e8b6g").is_err());
        assert!(batch_id("0b5c4f0e17d1a-4e55-9a43-2f1c9d7e8b60").is_err());
    }

    #[test]
    fn deal_ids_are_checked_and_kept_once() {
        assert_eq!(deal_ids(&[3, 1, 3], 5).unwrap(), vec![DealId(3), DealId(1)]);
        assert_eq!(deal_ids(&[], 5).unwrap_err(), "Select at least one deal.");
        assert!(deal_ids(&[0], 5).is_err());
        let many: Vec<u64> = (1..=6).collect();
        assert!(
            deal_ids(&many, 5)
                .unwrap_err()
                .starts_with("6 deals are selected")
        );
    }

    #[test]
    fn pages_take_pending_deals_and_merging_never_undoes_a_finished_one() {
        let mut b = batch(&[1, 2, 3, 4]);
        assert_eq!(b.next_page(2), vec![DealId(1), DealId(2)]);
        b.merge(&[
            (DealId(1), created("10")),
            (
                DealId(2),
                DealOutcome::Pending {
                    error: Some("Pipedrive timed out".into()),
                },
            ),
        ]);
        assert_eq!(b.next_page(10), vec![DealId(2), DealId(3), DealId(4)]);
        // Another run of the batch finishing deal 1 again, or a stale pending: no change.
        b.merge(&[
            (DealId(1), DealOutcome::pending()),
            (DealId(9), created("x")),
        ]);
        assert_eq!(b.deals[0].outcome, created("10"));
        b.merge(&[(
            DealId(3),
            DealOutcome::Blocked {
                sentence: "Not invoiced — needs: x.".into(),
                blockers: vec![],
            },
        )]);
        let p = b.progress();
        assert_eq!(
            (p.total, p.pending, p.created, p.blocked, p.failed),
            (4, 2, 1, 1, 1)
        );
        assert!(!p.done());
        assert_eq!(b.recheck_blocked(), 1);
        assert_eq!(b.next_page(10), vec![DealId(2), DealId(3), DealId(4)]);
    }

    #[test]
    fn a_retried_create_names_the_same_deals_in_any_order() {
        let b = batch(&[1, 2]);
        assert!(b.same_deals(&[DealId(2), DealId(1)]));
        assert!(!b.same_deals(&[DealId(1)]));
        assert!(!b.same_deals(&[DealId(1), DealId(3)]));
        assert_eq!(deal_key(ID, DealId(7)), format!("bulk:{ID}:deal:7"));
    }

    #[test]
    fn an_estimate_batch_has_its_own_keys_and_sentences_and_old_batches_made_invoices() {
        let b = batch(&[1]);
        assert_eq!(b.document, Document::Invoice);
        let e = batch(&[1, 2]).for_document(Document::Estimate);
        assert!(e.same_request(Document::Estimate, &[DealId(2), DealId(1)]));
        assert!(!e.same_request(Document::Invoice, &[DealId(1), DealId(2)]));
        assert_eq!(
            document_key(ID, Document::Invoice, DealId(7)),
            deal_key(ID, DealId(7))
        );
        assert_eq!(
            document_key(ID, Document::Estimate, DealId(7)),
            format!("bulk:{ID}:estimate:deal:7")
        );
        let blocker = Blocker {
            kind: super::super::readiness::BlockerKind::Party,
            field: "customer_id".into(),
            need: "an organisation or person on the deal".into(),
            detail: String::new(),
            line: None,
            product_id: None,
        };
        assert_eq!(
            Document::Estimate.blocked_sentence(std::slice::from_ref(&blocker)),
            "No estimate — needs: an organisation or person on the deal."
        );
        assert_eq!(
            Document::Invoice.blocked_sentence(&[blocker]),
            "Not invoiced — needs: an organisation or person on the deal."
        );

        // A batch stored before estimates: no document, its created deals named by invoice_id.
        let mut stored = serde_json::to_value(&b).unwrap();
        stored.as_object_mut().unwrap().remove("document");
        stored["deals"][0] = serde_json::json!({
            "deal_id": 1, "state": "created", "invoice_id": "10", "doc_number": "1001",
            "total": "10", "currency": "USD", "open_url": "https://qb/10"
        });
        let old: BulkBatch = serde_json::from_value(stored).unwrap();
        assert_eq!(old.document, Document::Invoice);
        assert!(matches!(
            &old.deals[0].outcome,
            DealOutcome::Created { id: CreatedId::Invoice { invoice_id }, .. } if invoice_id == "10"
        ));
        // An estimate's outcome round-trips as one.
        let made = DealOutcome::Created {
            id: CreatedId::Estimate {
                estimate_id: "E7".into(),
            },
            doc_number: Some("1002".into()),
            total: Decimal::TEN,
            currency: "USD".into(),
            open_url: "https://qb/e/E7".into(),
        };
        let json = serde_json::to_value(&made).unwrap();
        assert_eq!(json["state"], "created");
        assert_eq!(json["estimate_id"], "E7");
        assert!(json.get("invoice_id").is_none());
        assert_eq!(serde_json::from_value::<DealOutcome>(json).unwrap(), made);
    }
}
