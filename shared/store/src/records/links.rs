//! Invoice links, customer and product links, and the deal parties remembered for the create
//! form.

use super::*;

impl Records {
    // ----- invoice links -----

    fn invoice_item(link: &InvoiceLink) -> Result<Item, StoreError> {
        Ok(Item::new(
            company_pk(link.company_id),
            invoice_sk(link.deal_id, &link.invoice_id),
            to_data(link)?,
        )
        .with_index(
            format!("REALM#{}", link.realm_id),
            format!(
                "INVOICE#{}#COMPANY#{}#DEAL#{}",
                link.invoice_id, link.company_id, link.deal_id
            ),
        ))
    }

    /// Links an invoice to a deal; a [`StoreError::Conflict`] if that link exists.
    pub async fn create_invoice_link(&self, link: &InvoiceLink) -> Result<InvoiceLink, StoreError> {
        let stored = self
            .store
            .put(Self::invoice_item(link)?, Condition::Absent)
            .await?;
        let mut out = link.clone();
        out.version = stored.version;
        Ok(out)
    }

    /// Updates a link if nobody changed it since it was read (`link.version`).
    pub async fn save_invoice_link(&self, link: &InvoiceLink) -> Result<InvoiceLink, StoreError> {
        let stored = self
            .store
            .put(Self::invoice_item(link)?, Condition::Version(link.version))
            .await?;
        let mut out = link.clone();
        out.version = stored.version;
        Ok(out)
    }

    pub async fn get_invoice_link(
        &self,
        company: CompanyId,
        deal: DealId,
        invoice_id: &str,
    ) -> Result<Option<InvoiceLink>, StoreError> {
        self.store
            .get(&company_pk(company), &invoice_sk(deal, invoice_id))
            .await?
            .map(|i| versioned_from(&i))
            .transpose()
    }

    /// One page of a deal's invoice links.
    pub async fn deal_invoice_links(
        &self,
        company: CompanyId,
        deal: DealId,
        page: PageRequest<'_>,
    ) -> Result<(Vec<InvoiceLink>, Option<String>), StoreError> {
        let page = self
            .store
            .query(&company_pk(company), &format!("DEAL#{deal}#INVOICE#"), page)
            .await?;
        let links = page
            .items
            .iter()
            .map(versioned_from)
            .collect::<Result<_, _>>()?;
        Ok((links, page.next))
    }

    /// Every invoice link of a deal (all pages).
    pub async fn all_deal_invoice_links(
        &self,
        company: CompanyId,
        deal: DealId,
    ) -> Result<Vec<InvoiceLink>, StoreError> {
        self.deal_invoice_items(company, deal)
            .await?
            .iter()
            .map(versioned_from)
            .collect()
    }

    /// The stored items of the deal's invoice links, for [`Records::listed_invoices`].
    pub async fn deal_invoice_items(
        &self,
        company: CompanyId,
        deal: DealId,
    ) -> Result<Vec<Item>, StoreError> {
        self.all_pages(&company_pk(company), &format!("DEAL#{deal}#INVOICE#"))
            .await
    }

    /// Invoice-link items (from [`Records::deal_invoice_items`]) as the deal's invoice list
    /// shows them: [`ListedInvoice`]s borrowed from the items.
    pub fn listed_invoices(items: &[Item]) -> Result<Vec<ListedInvoice<'_>>, StoreError> {
        items.iter().map(from_item::<ListedInvoice>).collect()
    }

    /// Every link (any company, any deal) to QuickBooks invoice `invoice_id` of `realm`.
    pub async fn find_invoice_links(
        &self,
        realm: &str,
        invoice_id: &str,
    ) -> Result<Vec<InvoiceLink>, StoreError> {
        self.links_in_realm(realm, &format!("INVOICE#{invoice_id}#"))
            .await
    }

    /// The links of `realm` whose index key starts with `prefix` (a document's links, whatever
    /// company and deal), each read again from the table.
    pub(super) async fn links_in_realm<T: DeserializeOwned + Versioned>(
        &self,
        realm: &str,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        let gsi_pk = format!("REALM#{realm}");
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .store
                .query_index(&gsi_pk, prefix, PageRequest::after(100, cursor.as_deref()))
                .await?;
            for item in &page.items {
                // The index is eventually consistent: confirm against the table.
                if let Some(fresh) = self.store.get(&item.pk, &item.sk).await? {
                    out.push(versioned_from(&fresh)?);
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// One page of every invoice link of a realm (for the scheduled sync's overdue pass).
    pub async fn realm_invoice_links(
        &self,
        realm: &str,
        page: PageRequest<'_>,
    ) -> Result<(Vec<InvoiceLink>, Option<String>), StoreError> {
        let page = self
            .store
            .query_index(&format!("REALM#{realm}"), "INVOICE#", page)
            .await?;
        let links = page
            .items
            .iter()
            .map(versioned_from)
            .collect::<Result<_, _>>()?;
        Ok((links, page.next))
    }

    pub async fn delete_invoice_link(
        &self,
        company: CompanyId,
        deal: DealId,
        invoice_id: &str,
    ) -> Result<(), StoreError> {
        self.store
            .delete(
                &company_pk(company),
                &invoice_sk(deal, invoice_id),
                Condition::Always,
            )
            .await
    }

    // ----- customer and product links -----

    /// Saves a customer link: a create when `link.version` is 0, else a versioned update.
    pub async fn save_customer_link(
        &self,
        link: &CustomerLink,
    ) -> Result<CustomerLink, StoreError> {
        let item = Item::new(
            company_pk(link.company_id),
            party_sk(link.party),
            to_data(link)?,
        );
        let condition = match link.version {
            0 => Condition::Absent,
            v => Condition::Version(v),
        };
        let stored = self.store.put(item, condition).await?;
        self.new_links_stamp(link.company_id).await?;
        let mut out = link.clone();
        out.version = stored.version;
        Ok(out)
    }

    pub async fn get_customer_link(
        &self,
        company: CompanyId,
        party: Party,
    ) -> Result<Option<CustomerLink>, StoreError> {
        self.store
            .get(&company_pk(company), &party_sk(party))
            .await?
            .map(|i| versioned_from(&i))
            .transpose()
    }

    pub async fn delete_customer_link(
        &self,
        company: CompanyId,
        party: Party,
    ) -> Result<(), StoreError> {
        self.store
            .delete(&company_pk(company), &party_sk(party), Condition::Always)
            .await?;
        self.new_links_stamp(company).await
    }

    /// Saves a product link: a create when `link.version` is 0, else a versioned update.
    pub async fn save_product_link(&self, link: &ProductLink) -> Result<ProductLink, StoreError> {
        let item = Item::new(
            company_pk(link.company_id),
            format!("PRODUCT#{}", link.product_id),
            to_data(link)?,
        );
        let condition = match link.version {
            0 => Condition::Absent,
            v => Condition::Version(v),
        };
        let stored = self.store.put(item, condition).await?;
        self.new_links_stamp(link.company_id).await?;
        let mut out = link.clone();
        out.version = stored.version;
        Ok(out)
    }

    pub async fn get_product_link(
        &self,
        company: CompanyId,
        product_id: u64,
    ) -> Result<Option<ProductLink>, StoreError> {
        self.store
            .get(&company_pk(company), &format!("PRODUCT#{product_id}"))
            .await?
            .map(|i| versioned_from(&i))
            .transpose()
    }

    // ----- deal parties (a hint for the create form) -----

    /// The deal's organisation and person ids as last read from Pipedrive, if remembered.
    pub async fn get_deal_parties(
        &self,
        company: CompanyId,
        deal: DealId,
    ) -> Result<Option<DealParties>, StoreError> {
        self.store
            .get(&company_pk(company), &format!("DEALPARTIES#{deal}"))
            .await?
            .map(|i| from_item(&i))
            .transpose()
    }

    /// [`Self::save_deal_parties`] as a best effort: a failed write only costs the next create
    /// form a round trip, so it is logged, never an error.
    pub async fn remember_deal_parties(
        &self,
        company: CompanyId,
        deal: DealId,
        parties: DealParties,
        now: DateTime<Utc>,
    ) {
        if let Err(error) = self.save_deal_parties(company, deal, parties, now).await {
            tracing::warn!(%error, deal_id = deal.0, "the deal's parties could not be remembered");
        }
    }

    /// Forgets the deal's remembered parties (benchmarks and tests of the first open).
    pub async fn forget_deal_parties(
        &self,
        company: CompanyId,
        deal: DealId,
    ) -> Result<(), StoreError> {
        self.store
            .delete(
                &company_pk(company),
                &format!("DEALPARTIES#{deal}"),
                Condition::Always,
            )
            .await
    }

    /// Remembers the deal's organisation and person ids (last writer wins: it is a hint that is
    /// always checked against the deal).
    pub async fn save_deal_parties(
        &self,
        company: CompanyId,
        deal: DealId,
        parties: DealParties,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let item = Item::new(
            company_pk(company),
            format!("DEALPARTIES#{deal}"),
            to_data(&parties)?,
        )
        .with_ttl((now + Duration::days(DEAL_PARTIES_RETENTION_DAYS)).timestamp());
        self.store.put(item, Condition::Always).await.map(|_| ())
    }
}
