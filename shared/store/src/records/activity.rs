//! The per-deal activity log.

use super::*;

impl Records {
    // ----- activity -----

    pub async fn append_activity(&self, event: &ActivityEvent) -> Result<(), StoreError> {
        let sk = format!(
            "DEAL#{}#EVENT#{}#{}",
            event.deal_id,
            event.at.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
            event.id
        );
        let item = Item::new(company_pk(event.company_id), sk, to_data(event)?)
            .with_ttl((event.at + Duration::days(ACTIVITY_RETENTION_DAYS)).timestamp());
        self.store.put(item, Condition::Absent).await?;
        Ok(())
    }

    /// A deal's activity, newest first.
    pub async fn deal_activity(
        &self,
        company: CompanyId,
        deal: DealId,
        limit: u32,
    ) -> Result<Vec<ActivityEvent>, StoreError> {
        let page = self
            .store
            .query(
                &company_pk(company),
                &format!("DEAL#{deal}#EVENT#"),
                PageRequest {
                    limit,
                    cursor: None,
                    descending: true,
                },
            )
            .await?;
        page.items.iter().map(from_item).collect()
    }
}
