//! Bulk invoicing from the deals list: a batch (the rep's selection, under an id the page made)
//! and where each of its deals stands, decided here without I/O — which ids a batch takes, which
//! deals the next page of a run works on, how a page's outcomes are merged into the stored batch
//! (a finished deal never goes back to pending), and the progress the page shows.
//!
//! Whether a deal is ready is [`crate::readiness`]'s decision (the same as the rules'); the
//! invoice of (batch, deal) is created once under a key derived from both ([`deal_key`]).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::readiness::Blocker;
use super::{CompanyId, DealId, UserId};

/// Most deals in one batch.
pub const MAX_BATCH: usize = 100;
/// Most deals one readiness request checks (the page asks in pages of this size).
pub const MAX_READINESS: usize = 25;

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
    /// The invoice was created (or had been, by an earlier run of this batch).
    Created {
        invoice_id: String,
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
    /// Not invoiced, for a reason no link fixes (the deal is not one the caller can see,
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
            invoice_id: id.into(),
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
}
