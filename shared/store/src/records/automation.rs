//! What invoicing without a modal keeps: each (deal, rule) the scheduled run matched (created
//! once, conditionally — a rule acts at most once per deal, ever — and reachable through the
//! index while it waits), the rules pass's watermark, the stamp of the company's links (what a
//! waiting run depends on), invoices prepared for review, and the values last written to a
//! deal's mapped fields.

use super::*;
use domain::bulk::BulkBatch;
use domain::figures::WrittenFigures;
use domain::rules::{PreparedInvoice, RuleRun, RulesWatermark};

versioned!(
    RuleRun,
    RulesWatermark,
    PreparedInvoice,
    WrittenFigures,
    BulkBatch
);

/// How long a bulk batch is kept (its page may resume it; the invoices stay linked anyway).
pub const BULK_BATCH_RETENTION_DAYS: i64 = 7;

fn bulk_sk(batch_id: &str) -> String {
    format!("BULK#{batch_id}")
}

fn rule_run_sk(rule_id: &str, deal: DealId) -> String {
    format!("RULE#{rule_id}#DEAL#{deal}")
}

/// Index partition of a company's waiting (deal, rule) runs.
fn open_runs_pk(company: CompanyId) -> String {
    format!("RULES#OPEN#{company}")
}

fn prepared_sk(deal: DealId) -> String {
    format!("DEAL#{deal}#PREPARED")
}

fn figures_sk(deal: DealId) -> String {
    format!("DEAL#{deal}#FIGURES")
}

const WATERMARK_SK: &str = "RULES#WATERMARK";
const LINKS_STAMP_SK: &str = "RULES#LINKS";

/// What a claim of (deal, rule) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleRunClaim {
    /// This call recorded the match: the run is the caller's to act on.
    Claimed(RuleRun),
    /// Matched before: the run as stored (acted, or still waiting), when the store said.
    Matched(Option<RuleRun>),
}

impl RuleRunClaim {
    /// The run, when this call recorded it.
    pub fn claimed(self) -> Option<RuleRun> {
        match self {
            RuleRunClaim::Claimed(run) => Some(run),
            RuleRunClaim::Matched(_) => None,
        }
    }
}

impl Records {
    fn rule_run_item(run: &RuleRun) -> Result<Item, StoreError> {
        let item = Item::new(
            company_pk(run.company_id),
            rule_run_sk(&run.rule_id, run.deal_id),
            to_data(run)?,
        );
        Ok(if run.is_open() {
            item.with_index(
                open_runs_pk(run.company_id),
                format!(
                    "OPEN#{}#{}",
                    run.matched_at.format("%Y%m%dT%H%M%S%.6f"),
                    rule_run_sk(&run.rule_id, run.deal_id)
                ),
            )
        } else {
            item
        })
    }

    /// Records that the run matched (deal, rule), unless it was matched before (the rule has
    /// acted or is waiting already — never a second run): then the run as stored.
    pub async fn claim_rule_run(&self, run: &RuleRun) -> Result<RuleRunClaim, StoreError> {
        match self
            .store
            .put(Self::rule_run_item(run)?, Condition::Absent)
            .await
        {
            Ok(stored) => {
                let mut out = run.clone();
                out.version = stored.version;
                Ok(RuleRunClaim::Claimed(out))
            }
            Err(StoreError::Conflict { existing, .. }) => Ok(RuleRunClaim::Matched(
                existing.and_then(|item| versioned_from(&item).ok()),
            )),
            Err(e) => Err(e),
        }
    }

    pub async fn get_rule_run(
        &self,
        company: CompanyId,
        rule_id: &str,
        deal: DealId,
    ) -> Result<Option<RuleRun>, StoreError> {
        self.store
            .get(&company_pk(company), &rule_run_sk(rule_id, deal))
            .await?
            .map(|i| versioned_from(&i))
            .transpose()
    }

    /// Saves a run's progress (versioned: of two runs handling it, one wins); a done run leaves
    /// the index of waiting ones.
    pub async fn save_rule_run(&self, run: &RuleRun) -> Result<RuleRun, StoreError> {
        let stored = self
            .store
            .put(Self::rule_run_item(run)?, Condition::Version(run.version))
            .await?;
        let mut out = run.clone();
        out.version = stored.version;
        Ok(out)
    }

    /// Up to `limit` of the company's waiting runs, oldest match first (read back from the
    /// table: the index may lag).
    pub async fn waiting_rule_runs(
        &self,
        company: CompanyId,
        limit: u32,
    ) -> Result<Vec<RuleRun>, StoreError> {
        let page = self
            .store
            .query_index(&open_runs_pk(company), "OPEN#", PageRequest::first(limit))
            .await?;
        let mut out = Vec::with_capacity(page.items.len());
        for item in &page.items {
            if let Some(fresh) = self.store.get(&item.pk, &item.sk).await? {
                let run: RuleRun = versioned_from(&fresh)?;
                if run.is_open() {
                    out.push(run);
                }
            }
        }
        Ok(out)
    }

    /// The waiting runs of one deal (the panel's "needs: …").
    pub async fn deal_waiting_rule_runs(
        &self,
        company: CompanyId,
        deal: DealId,
        rule_ids: &[String],
    ) -> Result<Vec<RuleRun>, StoreError> {
        let mut out = Vec::new();
        for rule in rule_ids {
            if let Some(run) = self.get_rule_run(company, rule, deal).await?
                && run.is_open()
            {
                out.push(run);
            }
        }
        Ok(out)
    }

    // ----- the rules pass's watermark -----

    pub async fn get_rules_watermark(
        &self,
        company: CompanyId,
    ) -> Result<Option<RulesWatermark>, StoreError> {
        self.store
            .get(&company_pk(company), WATERMARK_SK)
            .await?
            .map(|i| versioned_from(&i))
            .transpose()
    }

    /// Saves the watermark: a create when `version` is 0, else versioned.
    pub async fn save_rules_watermark(
        &self,
        watermark: &RulesWatermark,
    ) -> Result<RulesWatermark, StoreError> {
        let condition = match watermark.version {
            0 => Condition::Absent,
            v => Condition::Version(v),
        };
        let item = Item::new(
            company_pk(watermark.company_id),
            WATERMARK_SK,
            to_data(watermark)?,
        );
        let stored = self.store.put(item, condition).await?;
        let mut out = watermark.clone();
        out.version = stored.version;
        Ok(out)
    }

    // ----- what waiting rule runs depend on -----

    /// The stamp of the company's customer and product links: replaced by every link change
    /// (the rules pass checks a waiting run again when it differs from the one it saw).
    pub async fn links_stamp(&self, company: CompanyId) -> Result<Option<String>, StoreError> {
        Ok(self
            .store
            .get(&company_pk(company), LINKS_STAMP_SK)
            .await?
            .and_then(|item| {
                item.data
                    .get("stamp")
                    .and_then(|s| s.as_str())
                    .map(str::to_string)
            }))
    }

    /// Replaces the links stamp (after a link of `company` changed).
    pub(super) async fn new_links_stamp(&self, company: CompanyId) -> Result<(), StoreError> {
        let stamp = uuid::Uuid::new_v4().simple().to_string();
        let item = Item::new(
            company_pk(company),
            LINKS_STAMP_SK,
            serde_json::json!({ "stamp": stamp }),
        );
        self.store.put(item, Condition::Always).await.map(|_| ())
    }

    // ----- prepared invoices -----

    pub async fn get_prepared_invoice(
        &self,
        company: CompanyId,
        deal: DealId,
    ) -> Result<Option<PreparedInvoice>, StoreError> {
        self.store
            .get(&company_pk(company), &prepared_sk(deal))
            .await?
            .map(|i| versioned_from(&i))
            .transpose()
    }

    /// Keeps a prepared invoice for the deal: the newest preparation replaces an older one
    /// (each write versioned, so a delete of the older one never removes the newer).
    pub async fn put_prepared_invoice(
        &self,
        prepared: &PreparedInvoice,
    ) -> Result<PreparedInvoice, StoreError> {
        let item = Item::new(
            company_pk(prepared.company_id),
            prepared_sk(prepared.deal_id),
            to_data(prepared)?,
        );
        let mut last = None;
        for _ in 0..5 {
            let condition = match self
                .get_prepared_invoice(prepared.company_id, prepared.deal_id)
                .await?
            {
                Some(existing) => Condition::Version(existing.version),
                None => Condition::Absent,
            };
            match self.store.put(item.clone(), condition).await {
                Ok(stored) => {
                    let mut out = prepared.clone();
                    out.version = stored.version;
                    return Ok(out);
                }
                Err(conflict @ StoreError::Conflict { .. }) => last = Some(conflict),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| StoreError::Backend("prepared invoice kept changing".into())))
    }

    /// Removes the prepared invoice once it was created (versioned: a newer preparation stays).
    pub async fn delete_prepared_invoice(
        &self,
        prepared: &PreparedInvoice,
    ) -> Result<(), StoreError> {
        self.store
            .delete(
                &company_pk(prepared.company_id),
                &prepared_sk(prepared.deal_id),
                Condition::Version(prepared.version),
            )
            .await
    }

    // ----- the values last written to a deal's fields -----

    pub async fn get_written_figures(
        &self,
        company: CompanyId,
        deal: DealId,
    ) -> Result<Option<WrittenFigures>, StoreError> {
        self.store
            .get(&company_pk(company), &figures_sk(deal))
            .await?
            .map(|i| versioned_from(&i))
            .transpose()
    }

    /// Saves what was written: a create when `version` is 0, else versioned (of two writers
    /// racing, one wins and the other re-reads).
    pub async fn save_written_figures(
        &self,
        written: &WrittenFigures,
    ) -> Result<WrittenFigures, StoreError> {
        let condition = match written.version {
            0 => Condition::Absent,
            v => Condition::Version(v),
        };
        let item = Item::new(
            company_pk(written.company_id),
            figures_sk(written.deal_id),
            to_data(written)?,
        );
        let stored = self.store.put(item, condition).await?;
        let mut out = written.clone();
        out.version = stored.version;
        Ok(out)
    }

    // ----- bulk batches -----

    fn bulk_item(batch: &BulkBatch) -> Result<Item, StoreError> {
        let expires = batch.created_at + Duration::days(BULK_BATCH_RETENTION_DAYS);
        Ok(Item::new(
            company_pk(batch.company_id),
            bulk_sk(&batch.batch_id),
            to_data(batch)?,
        )
        .with_ttl(expires.timestamp()))
    }

    pub async fn get_bulk_batch(
        &self,
        company: CompanyId,
        batch_id: &str,
    ) -> Result<Option<BulkBatch>, StoreError> {
        self.store
            .get(&company_pk(company), &bulk_sk(batch_id))
            .await?
            .map(|i| versioned_from(&i))
            .transpose()
    }

    /// Creates the batch once: `Ok(Err(existing))` when its id was used before.
    pub async fn create_bulk_batch(
        &self,
        batch: &BulkBatch,
    ) -> Result<Result<BulkBatch, BulkBatch>, StoreError> {
        match self
            .store
            .put(Self::bulk_item(batch)?, Condition::Absent)
            .await
        {
            Ok(stored) => {
                let mut out = batch.clone();
                out.version = stored.version;
                Ok(Ok(out))
            }
            Err(StoreError::Conflict { .. }) => self
                .get_bulk_batch(batch.company_id, &batch.batch_id)
                .await?
                .map(Err)
                .ok_or_else(|| StoreError::Backend("the batch vanished after a conflict".into())),
            Err(e) => Err(e),
        }
    }

    /// Saves a batch's outcomes (versioned: of two runs saving, one wins and the other merges
    /// into what it wrote).
    pub async fn save_bulk_batch(&self, batch: &BulkBatch) -> Result<BulkBatch, StoreError> {
        let stored = self
            .store
            .put(Self::bulk_item(batch)?, Condition::Version(batch.version))
            .await?;
        let mut out = batch.clone();
        out.version = stored.version;
        Ok(out)
    }
}
