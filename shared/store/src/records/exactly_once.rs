//! What makes things happen once: idempotency records of creates, the company leases, the
//! digests of webhook deliveries already applied.

use super::*;

impl Records {
    // ----- idempotency -----

    fn idempotency_item(record: &IdempotencyRecord) -> Result<Item, StoreError> {
        Ok(Item::new(
            company_pk(record.company_id),
            format!("IDEMPOTENCY#{}", record.key),
            to_data(record)?,
        )
        .with_ttl(record.expires_at.timestamp()))
    }

    /// Claims an idempotency key: one conditional write. If the key is taken (and not expired)
    /// the existing record comes back instead.
    pub async fn begin_idempotent(
        &self,
        record: &IdempotencyRecord,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyBegin, StoreError> {
        let item = Self::idempotency_item(record)?;
        match self
            .store
            .put(
                item,
                Condition::AbsentOrExpired {
                    now: now.timestamp(),
                },
            )
            .await
        {
            Ok(stored) => {
                let mut out = record.clone();
                out.version = stored.version;
                Ok(IdempotencyBegin::Started(out))
            }
            Err(StoreError::Conflict {
                existing: Some(existing),
                ..
            }) => Ok(IdempotencyBegin::Existing(versioned_from(&existing)?)),
            Err(StoreError::Conflict { existing: None, .. }) => {
                // The backend did not return the item: read it.
                match self.get_idempotency(record.company_id, &record.key).await? {
                    Some(existing) => Ok(IdempotencyBegin::Existing(existing)),
                    None => Err(StoreError::Backend(
                        "idempotency record vanished during a conflict".into(),
                    )),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Takes over a stale in-progress record (versioned: only one retry wins).
    pub async fn take_over_idempotency(
        &self,
        record: &IdempotencyRecord,
    ) -> Result<IdempotencyRecord, StoreError> {
        self.save_idempotency(record).await
    }

    pub async fn get_idempotency(
        &self,
        company: CompanyId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.store
            .get(&company_pk(company), &format!("IDEMPOTENCY#{key}"))
            .await?
            .map(|i| versioned_from(&i))
            .transpose()
    }

    /// Saves progress or completion of a held key (versioned).
    pub async fn save_idempotency(
        &self,
        record: &IdempotencyRecord,
    ) -> Result<IdempotencyRecord, StoreError> {
        let stored = self
            .store
            .put(
                Self::idempotency_item(record)?,
                Condition::Version(record.version),
            )
            .await?;
        let mut out = record.clone();
        out.version = stored.version;
        Ok(out)
    }

    /// Forgets a key whose request failed before doing anything, so a retry starts afresh.
    pub async fn release_idempotency(&self, record: &IdempotencyRecord) -> Result<(), StoreError> {
        self.store
            .delete(
                &company_pk(record.company_id),
                &format!("IDEMPOTENCY#{}", record.key),
                Condition::Version(record.version),
            )
            .await
    }

    // ----- leases -----

    /// Tries to take the lease `name` of `company` for `ttl`; `None` if someone else holds it.
    pub async fn acquire_lease(
        &self,
        company: CompanyId,
        name: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError> {
        let token = uuid::Uuid::new_v4().as_u64_pair().0 | 1;
        let expires_at = now + ttl;
        let mut item = Item::new(
            company_pk(company),
            format!("LEASE#{name}"),
            serde_json::json!({ "expires_at": expires_at }),
        )
        .with_ttl(expires_at.timestamp());
        item.version = token;
        let taken = self.create_unless_live(item, now).await?;
        Ok(taken.then(|| Lease {
            company,
            name: name.to_string(),
            token,
            expires_at,
        }))
    }

    /// Releases a lease we hold; a no-op if it expired and someone else took it.
    pub async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        match self
            .store
            .delete(
                &company_pk(lease.company),
                &format!("LEASE#{}", lease.name),
                Condition::Version(lease.token),
            )
            .await
        {
            Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    // ----- webhook deliveries -----

    /// Remembers a webhook delivery by the digest of its body; `false` if it was received before
    /// (and is still remembered): a replay.
    pub async fn record_webhook_delivery(
        &self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let expires_at = now + Duration::days(WEBHOOK_DELIVERY_RETENTION_DAYS);
        let item = Item::new(
            format!("WEBHOOK#{digest}"),
            "DELIVERY",
            serde_json::json!({ "received_at": now }),
        )
        .with_ttl(expires_at.timestamp());
        self.create_unless_live(item, now).await
    }

    /// Forgets a delivery whose processing failed, so that Intuit's redelivery is accepted.
    pub async fn forget_webhook_delivery(&self, digest: &str) -> Result<(), StoreError> {
        self.store
            .delete(&format!("WEBHOOK#{digest}"), "DELIVERY", Condition::Always)
            .await
    }
}
