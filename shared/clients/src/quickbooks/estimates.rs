//! Estimates (`/estimate…`): the same calls as for invoices, on the Estimate entity
//! (facts: `shared/wire/quickbooks/ESTIMATES.md`).

use domain::SecretString;
use quickbooks_wire::model::{Estimate, EstimateEnvelope};

use super::{QuickBooksClient, QuickBooksError, urlencode};

impl QuickBooksClient {
    pub async fn read_estimate(
        &self,
        realm: &str,
        token: &SecretString,
        id: &str,
    ) -> Result<Estimate, QuickBooksError> {
        let path = format!("estimate/{}", urlencode(id));
        let envelope: EstimateEnvelope = self.get(realm, token, &path, &[]).await?;
        Ok(envelope.estimate)
    }

    /// Creates an estimate; the same `request_id` answers with the estimate made the first time.
    pub async fn create_estimate(
        &self,
        realm: &str,
        token: &SecretString,
        estimate: &Estimate,
        request_id: &str,
    ) -> Result<Estimate, QuickBooksError> {
        self.write_estimate(realm, token, estimate, request_id)
            .await
    }

    /// A sparse update: `changes` must carry `Id`, `SyncToken` and `sparse: true`.
    pub async fn update_estimate(
        &self,
        realm: &str,
        token: &SecretString,
        changes: &serde_json::Value,
        request_id: &str,
    ) -> Result<Estimate, QuickBooksError> {
        self.write_estimate(realm, token, changes, request_id).await
    }

    /// `POST /estimate?requestid=…`: a create or an update, told apart by QuickBooks from the
    /// body (an `Id` and `SyncToken` make it an update).
    async fn write_estimate<B: serde::Serialize + ?Sized>(
        &self,
        realm: &str,
        token: &SecretString,
        body: &B,
        request_id: &str,
    ) -> Result<Estimate, QuickBooksError> {
        let query = [("requestid", request_id)];
        let envelope: EstimateEnvelope = self.post(realm, token, "estimate", &query, body).await?;
        Ok(envelope.estimate)
    }

    pub async fn delete_estimate(
        &self,
        realm: &str,
        token: &SecretString,
        id: &str,
        sync_token: &str,
        request_id: &str,
    ) -> Result<(), QuickBooksError> {
        self.delete_document(realm, token, "estimate", id, sync_token, request_id)
            .await
    }

    /// E-mails the estimate (to `send_to`, or to its `BillEmail`).
    pub async fn send_estimate(
        &self,
        realm: &str,
        token: &SecretString,
        id: &str,
        send_to: Option<&str>,
    ) -> Result<Estimate, QuickBooksError> {
        let body = self
            .send_document(realm, token, "estimate", id, send_to)
            .await?;
        let envelope: EstimateEnvelope = Self::decode(&body, "estimate send")?;
        Ok(envelope.estimate)
    }

    pub async fn estimate_pdf(
        &self,
        realm: &str,
        token: &SecretString,
        id: &str,
    ) -> Result<bytes::Bytes, QuickBooksError> {
        self.document_pdf(realm, token, "estimate", id).await
    }
}
