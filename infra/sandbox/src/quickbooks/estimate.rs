//! Estimates (`/v3/company/{realm}/estimate…`): create, read, sparse update, delete, send, PDF,
//! the status changes made "in the QuickBooks UI" (accept, reject), and an invoice made from an
//! estimate (`LinkedTxn` → Estimate) closing it. The facts and what the docs leave open:
//! `shared/wire/quickbooks/ESTIMATES.md`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::wire::quickbooks::model::{
    EmailStatus, EntityStatus, Estimate, Invoice, LinkedTxn, TxnStatus,
};
use shared::wire::quickbooks::webhook::Operation;

use super::api::{Params, envelope, fail, id_and_sync_token, parse_json};
use super::error::ApiError;
use super::invoice::compute;
use super::ops::{Change, mark_sent};
use super::pdf::invoice_pdf;
use super::store::{Deleted, Realm, bump, meta, stamp, touch};
use super::{Inner, SimError};

const ENTITY: &str = "Estimate";

fn parse_id(id: &str) -> Result<u64, ApiError> {
    id.parse::<u64>()
        .map_err(|_| ApiError::NotFound(format!("Estimate {id}")))
}

/// The invoice-shaped fields computed as for an invoice (customer, currency, lines, tax), without
/// what only an invoice has.
fn computed(
    realm: &Realm,
    input: &Estimate,
    id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Invoice, ApiError> {
    let mut sale = compute(realm, &input.sale, id, now)?;
    sale.due_date = None;
    sale.sales_term_ref = None;
    sale.balance = None;
    sale.home_balance = None;
    sale.deposit = None;
    Ok(sale)
}

impl Realm {
    /// `GET /estimate/{id}`.
    pub fn read_estimate(&self, id: &str) -> Result<Estimate, ApiError> {
        self.estimates
            .get(&parse_id(id)?)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("Estimate {id}")))
    }

    fn estimate_for_write(
        &self,
        id: &str,
        sync_token: Option<&str>,
    ) -> Result<(u64, Estimate), ApiError> {
        let key = parse_id(id)?;
        let existing = self.read_estimate(id)?;
        if let Some(token) = sync_token
            && existing.sale.sync_token.as_deref() != Some(token)
        {
            return Err(ApiError::Stale);
        }
        Ok((key, existing))
    }

    fn store_estimate(
        &mut self,
        key: u64,
        estimate: Estimate,
        op: Operation,
        events: &mut Vec<Change>,
    ) -> Estimate {
        self.estimates.insert(key, estimate.clone());
        events.push((ENTITY, key.to_string(), op));
        estimate
    }

    /// `POST /estimate` without an Id.
    pub fn create_estimate(
        &mut self,
        input: &Estimate,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Result<Estimate, ApiError> {
        let sale = computed(self, input, None, now)?;
        if let (Some(exp), Some(txn)) = (input.expiration_date, sale.txn_date)
            && exp < txn
        {
            return Err(ApiError::Business(
                "The expiration date cannot be earlier than the estimate date".into(),
            ));
        }
        let key = self.next_id(ENTITY);
        let doc = match input.sale.doc_number.as_deref().filter(|d| !d.is_empty()) {
            Some(d) if self.preferences.custom_txn_numbers() => d.to_string(),
            _ => self.next_doc_number(),
        };
        let estimate = Estimate {
            sale: Invoice {
                id: Some(key.to_string()),
                sync_token: Some("0".into()),
                doc_number: Some(doc),
                meta_data: Some(meta(now)),
                email_status: Some(EmailStatus::NotSet),
                ..sale
            },
            expiration_date: input.expiration_date,
            txn_status: Some(input.txn_status.clone().unwrap_or(TxnStatus::Pending)),
            accepted_by: input.accepted_by.clone(),
            accepted_date: input.accepted_date,
        };
        Ok(self.store_estimate(key, estimate, Operation::Create, events))
    }

    /// `POST /estimate` with an Id: a sparse update (the fields given replace the stored ones) or
    /// a full one.
    pub fn update_estimate(
        &mut self,
        body: &Value,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Result<Estimate, ApiError> {
        let id = body
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let token = body
            .get("SyncToken")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::RequiredParam("SyncToken".into()))?;
        let (key, existing) = self.estimate_for_write(&id, Some(token))?;
        let sparse = body.get("sparse").and_then(Value::as_bool).unwrap_or(false);
        let mut merged = if sparse {
            serde_json::to_value(&existing).unwrap_or(Value::Null)
        } else {
            Value::Object(Default::default())
        };
        if let (Value::Object(m), Value::Object(p)) = (&mut merged, body) {
            for (k, v) in p {
                m.insert(k.clone(), v.clone());
            }
        }
        let input: Estimate =
            serde_json::from_value(merged).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        if let Some(TxnStatus::Other(v)) = &input.txn_status {
            return Err(ApiError::InvalidEnum(format!("TxnStatus {v}")));
        }
        let mut sale = computed(self, &input, Some(&id), now)?;
        sale.id = existing.sale.id.clone();
        sale.doc_number = input
            .sale
            .doc_number
            .clone()
            .or(existing.sale.doc_number.clone());
        sale.sync_token = existing.sale.sync_token.clone();
        bump(&mut sale.sync_token);
        sale.meta_data = existing.sale.meta_data.clone();
        touch(&mut sale.meta_data, now);
        sale.linked_txn = existing.sale.linked_txn.clone();
        sale.delivery_info = existing.sale.delivery_info.clone();
        sale.email_status = existing.sale.email_status.clone();
        let estimate = Estimate { sale, ..input };
        Ok(self.store_estimate(key, estimate, Operation::Update, events))
    }

    /// `POST /estimate?operation=delete` (or deleting in the UI when `sync_token` is None).
    pub fn delete_estimate(
        &mut self,
        id: &str,
        sync_token: Option<&str>,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Result<Estimate, ApiError> {
        let (key, _) = self.estimate_for_write(id, sync_token)?;
        self.estimates.remove(&key);
        self.deleted_estimates
            .insert(key, Deleted { at: stamp(now) });
        events.push((ENTITY, id.to_string(), Operation::Delete));
        Ok(Estimate {
            sale: Invoice {
                id: Some(id.to_string()),
                domain: Some("QBO".into()),
                status: Some(EntityStatus::Deleted),
                ..Invoice::default()
            },
            ..Estimate::default()
        })
    }

    /// `POST /estimate/{id}/send[?sendTo=]`.
    pub fn send_estimate(
        &mut self,
        id: &str,
        send_to: Option<&str>,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Result<Estimate, ApiError> {
        let (key, mut estimate) = self.estimate_for_write(id, None)?;
        mark_sent(&mut estimate.sale, send_to, now)?;
        Ok(self.store_estimate(key, estimate, Operation::Emailed, events))
    }

    /// The customer accepts or rejects the estimate "in the QuickBooks UI" (or a user marks it).
    pub fn set_estimate_status(
        &mut self,
        id: &str,
        status: TxnStatus,
        accepted_by: Option<String>,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Result<Estimate, ApiError> {
        let (key, mut estimate) = self.estimate_for_write(id, None)?;
        if estimate.txn_status == Some(TxnStatus::Closed) {
            return Err(ApiError::Business(
                "A closed estimate cannot change its status".into(),
            ));
        }
        if status == TxnStatus::Accepted {
            estimate.accepted_by = accepted_by;
            estimate.accepted_date = Some(now.date_naive());
        }
        estimate.txn_status = Some(status);
        bump(&mut estimate.sale.sync_token);
        touch(&mut estimate.sale.meta_data, now);
        Ok(self.store_estimate(key, estimate, Operation::Update, events))
    }

    /// An invoice made from estimates (`LinkedTxn` → Estimate) closes each of them and links the
    /// invoice back (UNVERIFIED for API-created invoices; see ESTIMATES.md). An unknown estimate
    /// is an invalid reference; a closed one cannot be converted again.
    pub fn check_linked_estimates(&self, invoice: &Invoice) -> Result<(), ApiError> {
        for link in linked_estimates(invoice) {
            let estimate = self.read_estimate(&link.txn_id).map_err(|_| {
                ApiError::InvalidReference(format!("LinkedTxn Estimate {}", link.txn_id))
            })?;
            if estimate.txn_status == Some(TxnStatus::Closed) {
                return Err(ApiError::Business(format!(
                    "Estimate {} is closed: it was already converted",
                    link.txn_id
                )));
            }
        }
        Ok(())
    }

    pub fn close_linked_estimates(
        &mut self,
        invoice: &Invoice,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) {
        let Some(invoice_id) = invoice.id.clone() else {
            return;
        };
        for link in linked_estimates(invoice) {
            let Ok((key, mut estimate)) = self.estimate_for_write(&link.txn_id, None) else {
                continue;
            };
            estimate.txn_status = Some(TxnStatus::Closed);
            estimate
                .sale
                .linked_txn
                .get_or_insert_with(Vec::new)
                .push(LinkedTxn {
                    txn_id: invoice_id.clone(),
                    txn_type: "Invoice".into(),
                    txn_line_id: None,
                });
            bump(&mut estimate.sale.sync_token);
            touch(&mut estimate.sale.meta_data, now);
            self.store_estimate(key, estimate, Operation::Update, events);
        }
    }
}

fn linked_estimates(invoice: &Invoice) -> Vec<LinkedTxn> {
    invoice
        .linked_txn
        .iter()
        .flatten()
        .filter(|t| t.txn_type == ENTITY)
        .cloned()
        .collect()
}

fn answer(inner: &Inner, result: Result<Estimate, SimError>) -> Response {
    match result {
        Ok(e) => envelope(ENTITY, &e, inner.now()),
        Err(e) => fail(inner, e),
    }
}

/// `POST /estimate` (create, sparse/full update, `?operation=delete`).
pub async fn estimate_post(
    State(inner): State<Arc<Inner>>,
    Path(realm): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Response {
    let value = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response_at(inner.now()),
    };
    let (id, token) = id_and_sync_token(&value);
    let result = match (q.get("operation").map(String::as_str), id) {
        (Some("delete"), Some(id)) => match token {
            Some(t) => inner.mutate(&realm, |r, now, ev| {
                r.delete_estimate(&id, Some(&t), now, ev)
            }),
            None => Err(ApiError::RequiredParam("SyncToken".into()).into()),
        },
        (Some("delete"), None) => Err(ApiError::RequiredParam("Id".into()).into()),
        (Some("update") | None, Some(_)) => {
            inner.mutate(&realm, |r, now, ev| r.update_estimate(&value, now, ev))
        }
        (Some("create") | None, None) => match serde_json::from_value::<Estimate>(value) {
            Ok(input) => inner.mutate(&realm, |r, now, ev| r.create_estimate(&input, now, ev)),
            Err(e) => Err(ApiError::BadRequest(e.to_string()).into()),
        },
        (Some(other), _) => Err(ApiError::Unsupported(other.to_string()).into()),
    };
    answer(&inner, result)
}

pub async fn estimate_get(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
) -> Response {
    let result = inner.read(&realm, |r| r.read_estimate(&id));
    answer(&inner, result)
}

pub async fn estimate_send(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
    Query(q): Params,
) -> Response {
    let send_to = q.get("sendTo").cloned();
    let result = inner.mutate(&realm, |r, now, ev| {
        r.send_estimate(&id, send_to.as_deref(), now, ev)
    });
    answer(&inner, result)
}

pub async fn estimate_pdf_get(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
) -> Response {
    let result = inner.read(&realm, |r| {
        let estimate = r.read_estimate(&id)?;
        let company = r
            .company_info
            .company_name
            .as_deref()
            .unwrap_or("QuickBooks company");
        Ok(invoice_pdf(company, &estimate.sale))
    });
    match result {
        Ok(pdf) => ([(http::header::CONTENT_TYPE, "application/pdf")], pdf).into_response(),
        Err(e) => fail(&inner, e),
    }
}

/// The body of the control API's status change: `{"status": "Accepted", "accepted_by": "…"}`.
#[derive(Debug, serde::Deserialize)]
pub struct StatusChange {
    pub status: String,
    #[serde(default)]
    pub accepted_by: Option<String>,
}

impl StatusChange {
    pub fn status(&self) -> Result<TxnStatus, ApiError> {
        match TxnStatus::parse(&self.status) {
            s @ (TxnStatus::Accepted | TxnStatus::Rejected | TxnStatus::Pending) => Ok(s),
            _ => Err(ApiError::InvalidEnum(format!(
                "status {} (Accepted, Rejected or Pending)",
                self.status
            ))),
        }
    }
}
