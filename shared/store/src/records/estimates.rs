//! Estimate links: a deal's QuickBooks estimates, kept as invoice links are (a conditional
//! create, versioned updates, the realm index to find the links of a changed estimate).

use super::*;

fn estimate_sk(deal: DealId, estimate_id: &str) -> String {
    format!("DEAL#{deal}#ESTIMATE#{estimate_id}")
}

impl Records {
    fn estimate_item(link: &EstimateLink) -> Result<Item, StoreError> {
        Ok(Item::new(
            company_pk(link.company_id),
            estimate_sk(link.deal_id, &link.estimate_id),
            to_data(link)?,
        )
        .with_index(
            format!("REALM#{}", link.realm_id),
            format!(
                "ESTIMATE#{}#COMPANY#{}#DEAL#{}",
                link.estimate_id, link.company_id, link.deal_id
            ),
        ))
    }

    /// Links an estimate to a deal; a [`StoreError::Conflict`] if that link exists.
    pub async fn create_estimate_link(
        &self,
        link: &EstimateLink,
    ) -> Result<EstimateLink, StoreError> {
        self.put_estimate_link(link, Condition::Absent).await
    }

    /// Updates a link if nobody changed it since it was read (`link.version`).
    pub async fn save_estimate_link(
        &self,
        link: &EstimateLink,
    ) -> Result<EstimateLink, StoreError> {
        self.put_estimate_link(link, Condition::Version(link.version))
            .await
    }

    async fn put_estimate_link(
        &self,
        link: &EstimateLink,
        condition: Condition,
    ) -> Result<EstimateLink, StoreError> {
        let stored = self
            .store
            .put(Self::estimate_item(link)?, condition)
            .await?;
        let mut out = link.clone();
        out.version = stored.version;
        Ok(out)
    }

    pub async fn get_estimate_link(
        &self,
        company: CompanyId,
        deal: DealId,
        estimate_id: &str,
    ) -> Result<Option<EstimateLink>, StoreError> {
        self.store
            .get(&company_pk(company), &estimate_sk(deal, estimate_id))
            .await?
            .map(|i| versioned_from(&i))
            .transpose()
    }

    /// Every estimate link of a deal (all pages), oldest estimate id first.
    pub async fn deal_estimate_links(
        &self,
        company: CompanyId,
        deal: DealId,
    ) -> Result<Vec<EstimateLink>, StoreError> {
        self.all_pages(&company_pk(company), &format!("DEAL#{deal}#ESTIMATE#"))
            .await?
            .iter()
            .map(versioned_from)
            .collect()
    }

    /// Every link (any company, any deal) to QuickBooks estimate `estimate_id` of `realm`.
    pub async fn find_estimate_links(
        &self,
        realm: &str,
        estimate_id: &str,
    ) -> Result<Vec<EstimateLink>, StoreError> {
        self.links_in_realm(realm, &format!("ESTIMATE#{estimate_id}#"))
            .await
    }

    pub async fn delete_estimate_link(
        &self,
        company: CompanyId,
        deal: DealId,
        estimate_id: &str,
    ) -> Result<(), StoreError> {
        self.store
            .delete(
                &company_pk(company),
                &estimate_sk(deal, estimate_id),
                Condition::Always,
            )
            .await
    }
}
