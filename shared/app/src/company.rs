//! One typed way to call the upstreams on someone's behalf: QuickBooks as a company
//! ([`QuickBooksCompany`]) and Pipedrive as a user ([`PipedriveUser`]). A handle carries who it
//! calls for; each call gets a fresh access token (and the realm) from the [`TokenManager`],
//! is retried once after a refresh when the upstream answers 401, and fails with a
//! [`CallError`] that is either the token's failure (not connected, reconnect, reinstall — each
//! already an API answer) or the call's own error, for the handler to decide on.
//!
//! ```ignore
//! let quickbooks = app.quickbooks_of(&profile);
//! let invoice = quickbooks.read_invoice("130").await?;
//! let deal = app.pipedrive_of(tenant).deal(42).await?;
//! ```

use chrono::{DateTime, Utc};
use clients::pipedrive::{FieldCatalog, PipedriveClient, PipedriveError};
use clients::quickbooks::{QuickBooksClient, QuickBooksError};
use domain::CompanyProfile;
use pipedrive_wire::model::{
    Deal, DealDiscount, DealProduct, FieldDefinition, NewNote, Note, Organization, Person, Product,
    UserMe,
};
use pipedrive_wire::model::{DealUpdate, Pipeline, Stage};
use quickbooks_wire::model::{
    CdcResponseEnvelope, CompanyInfo, Customer, Estimate, Invoice, Preferences, QueryResponse,
};
use quickbooks_wire::query::Query;
use web::auth::Tenant;

use crate::App;
use crate::limits::QuickBooksLimits;
use crate::tokens::{CallError, TokenManager};

/// `quickbooks!(handle, |qb, realm, token| call)`: runs `call` (a call of the client, `.await`ed)
/// with the company's realm and a fresh token, once more after a refresh when QuickBooks refuses
/// the token. The closure only copies references into each attempt's future, which therefore
/// borrows nothing of the closure (an `async` closure would, and its futures are then not `Send`
/// for axum's handlers).
macro_rules! quickbooks {
    ($handle:expr, |$qb:ident, $realm:ident, $token:ident| $call:expr) => {{
        let $qb = $handle.client;
        // The realm's gate: ≤ 10 in flight, ≤ 500 a minute (see `crate::limits`).
        let _permit = match $handle.realm() {
            Some(realm) => Some($handle.limits.enter(realm).await),
            None => None,
        };
        $handle
            .tokens
            .with_quickbooks_for($handle.profile, move |access| async move {
                let ($realm, $token) = (access.realm_id.as_str(), &access.token);
                $call
            })
            .await
    }};
}

/// `pipedrive!(handle, |pd, domain, token| call)`: [`quickbooks!`] for Pipedrive, as the user.
/// A patient handle ([`PipedriveUser::patient`]) waits out Pipedrive's 429s (`Retry-After`, else
/// `x-ratelimit-reset`) within its patience and calls again.
macro_rules! pipedrive {
    ($handle:expr, |$pd:ident, $domain:ident, $token:ident| $call:expr) => {{
        let handle = $handle;
        let $pd = handle.client;
        let mut waited = std::time::Duration::ZERO;
        loop {
            let result = handle
                .tokens
                .with_pipedrive(handle.tenant, move |access| async move {
                    let ($domain, $token) = (access.api_domain.as_str(), &access.token);
                    $call
                })
                .await;
            match throttle_wait(&result, handle.patience, waited) {
                Some(wait) => {
                    waited += wait;
                    tokio::time::sleep(wait).await;
                }
                None => break result,
            }
        }
    }};
}

/// How long to wait before calling Pipedrive again after `result`: only a throttled call, only
/// while the wait fits what is left of `patience` (`waited` spent so far).
fn throttle_wait<T>(
    result: &PipedriveResult<T>,
    patience: Option<std::time::Duration>,
    waited: std::time::Duration,
) -> Option<std::time::Duration> {
    let Err(CallError::Call(PipedriveError::Throttled { retry_after_secs })) = result else {
        return None;
    };
    let wait = std::time::Duration::from_secs((*retry_after_secs).max(1));
    let left = patience?.checked_sub(waited)?;
    (wait <= left).then_some(wait)
}

/// What a QuickBooks call through a handle answers.
pub type QuickBooksResult<T> = Result<T, CallError<QuickBooksError>>;
/// What a Pipedrive call through a handle answers.
pub type PipedriveResult<T> = Result<T, CallError<PipedriveError>>;

impl App {
    /// The company's QuickBooks, per the profile's connection (a disconnected or revoked
    /// connection answers every call with the token failure that says so).
    pub fn quickbooks_of<'a>(&'a self, profile: &'a CompanyProfile) -> QuickBooksCompany<'a> {
        QuickBooksCompany::new(&self.tokens, &self.quickbooks, &self.limits, profile)
    }

    /// Pipedrive as the calling user.
    pub fn pipedrive_of(&self, tenant: Tenant) -> PipedriveUser<'_> {
        PipedriveUser::new(&self.tokens, &self.pipedrive, tenant)
    }
}

/// QuickBooks as one company calls it. See the module documentation. A handle is a few
/// references: copy it freely (each call takes it by value, so a call's future owns it).
#[derive(Debug, Clone, Copy)]
pub struct QuickBooksCompany<'a> {
    tokens: &'a TokenManager,
    client: &'a QuickBooksClient,
    limits: &'a QuickBooksLimits,
    profile: &'a CompanyProfile,
}

impl<'a> QuickBooksCompany<'a> {
    pub fn new(
        tokens: &'a TokenManager,
        client: &'a QuickBooksClient,
        limits: &'a QuickBooksLimits,
        profile: &'a CompanyProfile,
    ) -> Self {
        QuickBooksCompany {
            tokens,
            client,
            limits,
            profile,
        }
    }

    pub fn profile(&self) -> &'a CompanyProfile {
        self.profile
    }

    /// The realm the calls go to (the profile's connection, whatever its state).
    fn realm(&self) -> Option<&'a str> {
        self.profile
            .quickbooks
            .as_ref()
            .map(|q| q.realm_id.as_str())
    }

    /// A query, written with [`Query`] (which escapes every value).
    pub async fn query(self, query: &Query) -> QuickBooksResult<QueryResponse> {
        let statement = query.build();
        let statement = statement.as_str();
        quickbooks!(self, |qb, realm, token| qb
            .query(realm, token, statement)
            .await)
    }

    pub async fn read_invoice(self, id: &str) -> QuickBooksResult<Invoice> {
        quickbooks!(self, |qb, realm, token| qb
            .read_invoice(realm, token, id)
            .await)
    }

    /// Creates an invoice; `request_id` makes QuickBooks answer a repeat with the first result.
    pub async fn create_invoice(
        &self,
        invoice: &Invoice,
        request_id: &str,
    ) -> QuickBooksResult<Invoice> {
        quickbooks!(self, |qb, realm, token| {
            qb.create_invoice(realm, token, invoice, request_id).await
        })
    }

    /// A sparse update (`changes` carries `Id`, `SyncToken` and `sparse: true`).
    pub async fn update_invoice(
        &self,
        changes: &serde_json::Value,
        request_id: &str,
    ) -> QuickBooksResult<Invoice> {
        quickbooks!(self, |qb, realm, token| {
            qb.update_invoice(realm, token, changes, request_id).await
        })
    }

    /// Voids the invoice at `sync_token` (a new `requestid` per attempt).
    pub async fn void_invoice(self, id: &str, sync_token: &str) -> QuickBooksResult<Invoice> {
        quickbooks!(self, |qb, realm, token| {
            let request_id = uuid::Uuid::new_v4().to_string();
            qb.void_invoice(realm, token, id, sync_token, &request_id)
                .await
        })
    }

    /// Deletes the invoice at `sync_token` (a new `requestid` per attempt).
    pub async fn delete_invoice(self, id: &str, sync_token: &str) -> QuickBooksResult<()> {
        quickbooks!(self, |qb, realm, token| {
            let request_id = uuid::Uuid::new_v4().to_string();
            qb.delete_invoice(realm, token, id, sync_token, &request_id)
                .await
        })
    }

    /// E-mails the invoice (to `send_to`, else its billing e-mail).
    pub async fn send_invoice(self, id: &str, send_to: Option<&str>) -> QuickBooksResult<Invoice> {
        quickbooks!(self, |qb, realm, token| qb
            .send_invoice(realm, token, id, send_to)
            .await)
    }

    pub async fn invoice_pdf(self, id: &str) -> QuickBooksResult<bytes::Bytes> {
        quickbooks!(self, |qb, realm, token| qb
            .invoice_pdf(realm, token, id)
            .await)
    }

    pub async fn read_customer(self, id: &str) -> QuickBooksResult<Customer> {
        quickbooks!(self, |qb, realm, token| qb
            .read_customer(realm, token, id)
            .await)
    }

    pub async fn create_customer(
        &self,
        customer: &Customer,
        request_id: &str,
    ) -> QuickBooksResult<Customer> {
        quickbooks!(self, |qb, realm, token| {
            qb.create_customer(realm, token, customer, request_id).await
        })
    }

    /// A sparse update of a customer.
    pub async fn update_customer(
        &self,
        changes: &serde_json::Value,
        request_id: &str,
    ) -> QuickBooksResult<Customer> {
        quickbooks!(self, |qb, realm, token| {
            qb.update_customer(realm, token, changes, request_id).await
        })
    }

    pub async fn preferences(self) -> QuickBooksResult<Preferences> {
        quickbooks!(self, |qb, realm, token| qb.preferences(realm, token).await)
    }

    pub async fn company_info(self) -> QuickBooksResult<CompanyInfo> {
        quickbooks!(self, |qb, realm, token| qb.company_info(realm, token).await)
    }

    /// Change data capture of `entities` since `since`.
    pub async fn cdc(
        &self,
        entities: &[&str],
        since: DateTime<Utc>,
    ) -> QuickBooksResult<CdcResponseEnvelope> {
        quickbooks!(self, |qb, realm, token| qb
            .cdc(realm, token, entities, since)
            .await)
    }
}

/// Estimates: the invoice calls on the Estimate entity.
impl QuickBooksCompany<'_> {
    pub async fn read_estimate(self, id: &str) -> QuickBooksResult<Estimate> {
        quickbooks!(self, |qb, realm, token| qb
            .read_estimate(realm, token, id)
            .await)
    }

    /// Creates an estimate; `request_id` makes QuickBooks answer a repeat with the first result.
    pub async fn create_estimate(
        &self,
        estimate: &Estimate,
        request_id: &str,
    ) -> QuickBooksResult<Estimate> {
        quickbooks!(self, |qb, realm, token| {
            qb.create_estimate(realm, token, estimate, request_id).await
        })
    }

    /// A sparse update (`changes` carries `Id`, `SyncToken` and `sparse: true`; a new
    /// `requestid` per attempt).
    pub async fn update_estimate(self, changes: &serde_json::Value) -> QuickBooksResult<Estimate> {
        quickbooks!(self, |qb, realm, token| {
            let request_id = uuid::Uuid::new_v4().to_string();
            qb.update_estimate(realm, token, changes, &request_id).await
        })
    }

    /// Deletes the estimate at `sync_token` (a new `requestid` per attempt).
    pub async fn delete_estimate(self, id: &str, sync_token: &str) -> QuickBooksResult<()> {
        quickbooks!(self, |qb, realm, token| {
            let request_id = uuid::Uuid::new_v4().to_string();
            qb.delete_estimate(realm, token, id, sync_token, &request_id)
                .await
        })
    }

    /// E-mails the estimate (to `send_to`, else its billing e-mail).
    pub async fn send_estimate(
        self,
        id: &str,
        send_to: Option<&str>,
    ) -> QuickBooksResult<Estimate> {
        quickbooks!(self, |qb, realm, token| qb
            .send_estimate(realm, token, id, send_to)
            .await)
    }

    pub async fn estimate_pdf(self, id: &str) -> QuickBooksResult<bytes::Bytes> {
        quickbooks!(self, |qb, realm, token| qb
            .estimate_pdf(realm, token, id)
            .await)
    }
}

/// The create form's conversion rates and items made from Pipedrive products.
impl QuickBooksCompany<'_> {
    /// QuickBooks' rate of `source` into the home currency on `as_of` (multi-currency only).
    pub async fn exchange_rate(
        self,
        source: &str,
        as_of: Option<chrono::NaiveDate>,
    ) -> QuickBooksResult<quickbooks_wire::model::ExchangeRate> {
        quickbooks!(self, |qb, realm, token| qb
            .exchange_rate(realm, token, source, as_of)
            .await)
    }

    /// Creates an item; `request_id` makes QuickBooks answer a repeat with the first result.
    pub async fn create_item(
        &self,
        item: &quickbooks_wire::model::Item,
        request_id: &str,
    ) -> QuickBooksResult<quickbooks_wire::model::Item> {
        quickbooks!(self, |qb, realm, token| qb
            .create_item(realm, token, item, request_id)
            .await)
    }
}

/// Pipedrive as one user calls it. See the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct PipedriveUser<'a> {
    tokens: &'a TokenManager,
    client: &'a PipedriveClient,
    tenant: Tenant,
    /// How long calls may wait out Pipedrive's 429s in all (none: a 429 is answered at once).
    patience: Option<std::time::Duration>,
}

impl<'a> PipedriveUser<'a> {
    pub fn new(tokens: &'a TokenManager, client: &'a PipedriveClient, tenant: Tenant) -> Self {
        PipedriveUser {
            tokens,
            client,
            tenant,
            patience: None,
        }
    }

    /// The same user, waiting out 429s for up to `patience` per call (work that runs without
    /// anyone waiting on a click: bulk runs, the rules pass, field write-back).
    pub fn patient(mut self, patience: std::time::Duration) -> Self {
        self.patience = Some(patience);
        self
    }

    pub fn tenant(&self) -> Tenant {
        self.tenant
    }

    pub async fn users_me(self) -> PipedriveResult<UserMe> {
        pipedrive!(self, |pd, domain, token| pd.users_me(domain, token).await)
    }

    pub async fn deal(self, id: u64) -> PipedriveResult<Deal> {
        pipedrive!(self, |pd, domain, token| pd.deal(domain, token, id).await)
    }

    pub async fn deal_products(self, deal_id: u64) -> PipedriveResult<Vec<DealProduct>> {
        pipedrive!(self, |pd, domain, token| pd
            .deal_products(domain, token, deal_id)
            .await)
    }

    pub async fn deal_discounts(self, deal_id: u64) -> PipedriveResult<Vec<DealDiscount>> {
        pipedrive!(self, |pd, domain, token| pd
            .deal_discounts(domain, token, deal_id)
            .await)
    }

    pub async fn organization(self, id: u64) -> PipedriveResult<Organization> {
        pipedrive!(self, |pd, domain, token| pd
            .organization(domain, token, id)
            .await)
    }

    pub async fn person(self, id: u64) -> PipedriveResult<Person> {
        pipedrive!(self, |pd, domain, token| pd.person(domain, token, id).await)
    }

    pub async fn product(self, id: u64) -> PipedriveResult<Product> {
        pipedrive!(self, |pd, domain, token| pd
            .product(domain, token, id)
            .await)
    }

    pub async fn fields(self, catalog: FieldCatalog) -> PipedriveResult<Vec<FieldDefinition>> {
        pipedrive!(self, |pd, domain, token| pd
            .fields(domain, token, catalog)
            .await)
    }

    pub async fn add_note(self, note: &NewNote) -> PipedriveResult<Note> {
        pipedrive!(self, |pd, domain, token| pd
            .add_note(domain, token, note)
            .await)
    }

    /// Deals changed since `since` (all pages: one list request per 500 deals).
    pub async fn deals_updated_since(self, since: DateTime<Utc>) -> PipedriveResult<Vec<Deal>> {
        pipedrive!(self, |pd, domain, token| pd
            .deals_updated_since(domain, token, since)
            .await)
    }

    /// Changes a deal (`PATCH`): only what `update` carries.
    pub async fn update_deal(self, id: u64, update: &DealUpdate) -> PipedriveResult<Deal> {
        pipedrive!(self, |pd, domain, token| pd
            .update_deal(domain, token, id, update)
            .await)
    }

    pub async fn pipelines(self) -> PipedriveResult<Vec<Pipeline>> {
        pipedrive!(self, |pd, domain, token| pd.pipelines(domain, token).await)
    }

    pub async fn stages(self) -> PipedriveResult<Vec<Stage>> {
        pipedrive!(self, |pd, domain, token| pd.stages(domain, token).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn throttled(secs: u64) -> PipedriveResult<()> {
        Err(CallError::Call(PipedriveError::Throttled {
            retry_after_secs: secs,
        }))
    }

    #[test]
    fn only_throttles_are_waited_out_and_only_within_the_patience() {
        let patience = Some(Duration::from_secs(5));
        let none = Duration::ZERO;
        assert_eq!(
            throttle_wait(&throttled(2), patience, none),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            throttle_wait(&throttled(0), patience, none),
            Some(Duration::from_secs(1)),
            "at least a second"
        );
        assert_eq!(throttle_wait(&throttled(2), None, none), None, "impatient");
        assert_eq!(
            throttle_wait(&throttled(2), patience, Duration::from_secs(4)),
            None,
            "beyond what is left"
        );
        assert_eq!(
            throttle_wait(&throttled(36_000), patience, none),
            None,
            "a spent daily budget is not waited for"
        );
        let other: PipedriveResult<()> = Err(CallError::Call(PipedriveError::NotFound("deal")));
        assert_eq!(throttle_wait(&other, patience, none), None);
        assert_eq!(throttle_wait(&Ok(()), patience, none), None);
    }
}
