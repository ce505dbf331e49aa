//! Entity operations on one company, shared by the HTTP API, batch and the control API. Each
//! operation records the changes it makes in `events` (for webhooks).

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::wire::quickbooks::model::{
    BatchItemRequest, Customer, DeliveryInfo, EmailAddress, EmailStatus, EntityStatus, Invoice,
    LineDetailType, LinkedTxn, Payment, PaymentLine, Ref, TxnTaxDetail,
};
use shared::wire::quickbooks::webhook::Operation;

use super::error::ApiError;
use super::invoice::{compute, round2, valid_email};
use super::query::{self, Statement};
use super::store::{Deleted, Realm, bump, currency_ref, meta, stamp, touch};

/// One change to report by webhook: (entity, id, operation).
pub type Change = (&'static str, String, Operation);

/// Largest number of objects one CDC answer carries.
pub const CDC_MAX_OBJECTS: usize = 1000;
/// Entities the CDC endpoint serves.
pub const CDC_ENTITIES: &[&str] = &["Invoice", "Payment", "Customer", "Item", "Estimate"];

/// A query answer written from the entities themselves (see [`Realm::query_body`]): the rows
/// with `ids` (already paged), in id order. Keys as `query::execute` writes them.
fn direct<T: serde::Serialize>(
    map: &std::collections::BTreeMap<u64, T>,
    ids: &[u64],
    statement: &Statement,
    time: &str,
) -> Option<Vec<u8>> {
    struct Rows<'a, T> {
        entity: &'static str,
        rows: Vec<&'a T>,
        start_position: u32,
    }
    impl<T: serde::Serialize> serde::Serialize for Rows<'_, T> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = s.serialize_map(None)?;
            if !self.rows.is_empty() {
                map.serialize_entry(self.entity, &self.rows)?;
                map.serialize_entry("maxResults", &self.rows.len())?;
                map.serialize_entry("startPosition", &self.start_position)?;
                map.serialize_entry("totalCount", &self.rows.len())?;
            }
            map.end()
        }
    }
    #[derive(serde::Serialize)]
    struct Answer<'a, T> {
        #[serde(rename = "QueryResponse")]
        query_response: Rows<'a, T>,
        time: &'a str,
    }
    let answer = Answer {
        query_response: Rows {
            entity: statement.entity,
            rows: ids.iter().filter_map(|id| map.get(id)).collect(),
            start_position: statement.start_position,
        },
        time,
    };
    serde_json::to_vec(&answer).ok()
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn parse_id(id: &str, what: &str) -> Result<u64, ApiError> {
    id.parse::<u64>()
        .map_err(|_| ApiError::NotFound(format!("{what} {id}")))
}

fn required_str<'a>(body: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::RequiredParam(key.into()))
}

/// Copies the top-level keys of `patch` over `base` (sparse update).
fn overlay(mut base: Value, patch: &Value) -> Value {
    if let (Value::Object(b), Value::Object(p)) = (&mut base, patch) {
        for (k, v) in p {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

/// What `POST /{invoice|estimate}/{id}/send[?sendTo=]` does to the document: the address
/// checked (`sendTo`, else its `BillEmail`) and kept, `EmailSent`, the delivery, a new version.
pub fn mark_sent(
    doc: &mut Invoice,
    send_to: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let address = match send_to {
        Some(a) => a.trim().to_string(),
        None => doc
            .bill_email
            .as_ref()
            .and_then(|e| e.address.clone())
            .ok_or_else(|| ApiError::RequiredParam("BillEmail".into()))?,
    };
    if !valid_email(&address) {
        return Err(ApiError::Business(format!(
            "Invalid email address format: {address}"
        )));
    }
    if send_to.is_some() {
        doc.bill_email = Some(EmailAddress {
            address: Some(address),
        });
    }
    doc.email_status = Some(EmailStatus::EmailSent);
    doc.delivery_info = Some(DeliveryInfo {
        delivery_type: Some("Email".into()),
        delivery_time: Some(stamp(now)),
    });
    bump(&mut doc.sync_token);
    touch(&mut doc.meta_data, now);
    Ok(())
}

fn name_is_valid(name: &str) -> bool {
    !name.contains([':', '\t', '\n'])
}

impl Realm {
    fn check_doc_number(
        &self,
        doc: &str,
        except: Option<u64>,
        allow_duplicate: bool,
    ) -> Result<(), ApiError> {
        if allow_duplicate {
            return Ok(());
        }
        if let Some((id, _)) = self
            .invoices
            .iter()
            .find(|(id, i)| Some(**id) != except && i.doc_number.as_deref() == Some(doc))
        {
            return Err(ApiError::DuplicateDocNumber {
                doc_number: doc.to_string(),
                txn_id: id.to_string(),
            });
        }
        Ok(())
    }

    /// `GET /invoice/{id}`.
    pub fn read_invoice(&self, id: &str) -> Result<Invoice, ApiError> {
        self.invoices
            .get(&parse_id(id, "Invoice")?)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("Invoice {id}")))
    }

    /// `POST /invoice` without an Id.
    pub fn create_invoice(
        &mut self,
        input: &Invoice,
        allow_duplicate_doc: bool,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Result<Invoice, ApiError> {
        let mut inv = compute(self, input, None, now)?;
        self.check_linked_estimates(&inv)?;
        let custom_numbers = self.preferences.custom_txn_numbers();
        let doc = match input.doc_number.as_deref().filter(|d| !d.is_empty()) {
            Some(d) if custom_numbers => {
                if d.chars().count() > 21 {
                    return Err(ApiError::Business(
                        "DocNumber is longer than 21 characters".into(),
                    ));
                }
                self.check_doc_number(d, None, allow_duplicate_doc)?;
                d.to_string()
            }
            _ => self.next_doc_number(),
        };
        let id = self.next_id("Invoice");
        inv.id = Some(id.to_string());
        inv.sync_token = Some("0".into());
        inv.doc_number = Some(doc);
        inv.meta_data = Some(meta(now));
        let customer_id = inv
            .customer_ref
            .as_ref()
            .map(|r| r.value.clone())
            .unwrap_or_default();
        self.invoices.insert(id, inv.clone());
        self.refresh_customer_balance(&customer_id);
        events.push(("Invoice", id.to_string(), Operation::Create));
        self.close_linked_estimates(&inv, now, events);
        Ok(inv)
    }

    fn invoice_for_write(
        &self,
        id: &str,
        sync_token: Option<&str>,
    ) -> Result<(u64, Invoice), ApiError> {
        let key = parse_id(id, "Invoice")?;
        let existing = self
            .invoices
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("Invoice {id}")))?;
        if let Some(token) = sync_token
            && existing.sync_token.as_deref() != Some(token)
        {
            return Err(ApiError::Stale);
        }
        Ok((key, existing))
    }

    /// `POST /invoice` with an Id: full or sparse update.
    pub fn update_invoice(
        &mut self,
        body: &Value,
        allow_duplicate_doc: bool,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Result<Invoice, ApiError> {
        let id = required_str(body, "Id")?;
        let token = required_str(body, "SyncToken")?;
        let (key, existing) = self.invoice_for_write(id, Some(token))?;
        let sparse = body.get("sparse").and_then(Value::as_bool).unwrap_or(false);
        let merged = if sparse {
            overlay(to_value(&existing), body)
        } else {
            body.clone()
        };
        let input: Invoice =
            serde_json::from_value(merged).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let mut inv = compute(self, &input, Some(id), now)?;
        let doc = match input.doc_number.as_deref().filter(|d| !d.is_empty()) {
            Some(d) if self.preferences.custom_txn_numbers() => {
                self.check_doc_number(d, Some(key), allow_duplicate_doc)?;
                d.to_string()
            }
            _ => existing.doc_number.clone().unwrap_or_default(),
        };
        inv.doc_number = Some(doc);
        inv.id = existing.id.clone();
        inv.sync_token = existing.sync_token.clone();
        bump(&mut inv.sync_token);
        inv.meta_data = existing.meta_data.clone();
        touch(&mut inv.meta_data, now);
        inv.linked_txn = existing.linked_txn.clone();
        inv.delivery_info = existing.delivery_info.clone();
        let old_customer = existing
            .customer_ref
            .as_ref()
            .map(|r| r.value.clone())
            .unwrap_or_default();
        let new_customer = inv
            .customer_ref
            .as_ref()
            .map(|r| r.value.clone())
            .unwrap_or_default();
        self.invoices.insert(key, inv.clone());
        self.refresh_customer_balance(&old_customer);
        self.refresh_customer_balance(&new_customer);
        events.push(("Invoice", id.to_string(), Operation::Update));
        Ok(inv)
    }

    /// Removes the payment lines that apply to an invoice (their amounts become unapplied).
    fn unlink_payments(&mut self, invoice_id: &str, now: DateTime<Utc>, events: &mut Vec<Change>) {
        for (pid, payment) in self.payments.iter_mut() {
            let Some(lines) = payment.line.as_mut() else {
                continue;
            };
            let before: Decimal = lines.iter().filter_map(|l| l.amount).sum();
            lines.retain(|l| {
                !l.linked_txn
                    .iter()
                    .any(|t| t.txn_type == "Invoice" && t.txn_id == invoice_id)
            });
            let after: Decimal = lines.iter().filter_map(|l| l.amount).sum();
            if before != after {
                payment.unapplied_amt =
                    Some(payment.unapplied_amt.unwrap_or_default() + before - after);
                bump(&mut payment.sync_token);
                touch(&mut payment.meta_data, now);
                events.push(("Payment", pid.to_string(), Operation::Update));
            }
        }
    }

    /// `POST /invoice?operation=void` (or voiding "in the QuickBooks UI" when `sync_token` is
    /// None): amounts and quantities zeroed, "Voided" prepended to PrivateNote, payments unlinked.
    pub fn void_invoice(
        &mut self,
        id: &str,
        sync_token: Option<&str>,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Result<Invoice, ApiError> {
        let (key, mut inv) = self.invoice_for_write(id, sync_token)?;
        self.unlink_payments(id, now, events);
        for line in inv.line.iter_mut().flatten() {
            line.amount = Some(Decimal::ZERO);
            if let Some(d) = line.sales_item_line_detail.as_mut() {
                d.qty = Some(Decimal::ZERO);
                d.unit_price = None;
                d.tax_inclusive_amt = None;
            }
            if line.detail_type == LineDetailType::DiscountLineDetail
                && let Some(d) = line.discount_line_detail.as_mut()
            {
                d.discount_percent = None;
                d.percent_based = Some(false);
            }
        }
        inv.txn_tax_detail = Some(TxnTaxDetail {
            total_tax: Some(Decimal::ZERO),
            ..TxnTaxDetail::default()
        });
        inv.total_amt = Some(Decimal::ZERO);
        inv.balance = Some(Decimal::ZERO);
        inv.deposit = Some(Decimal::ZERO);
        if inv.home_total_amt.is_some() {
            inv.home_total_amt = Some(Decimal::ZERO);
            inv.home_balance = Some(Decimal::ZERO);
        }
        inv.private_note = Some(
            match inv.private_note.as_deref().filter(|n| !n.is_empty()) {
                Some(note) => format!("Voided - {note}"),
                None => "Voided".into(),
            },
        );
        inv.linked_txn = Some(Vec::new());
        bump(&mut inv.sync_token);
        touch(&mut inv.meta_data, now);
        let customer = inv
            .customer_ref
            .as_ref()
            .map(|r| r.value.clone())
            .unwrap_or_default();
        self.invoices.insert(key, inv.clone());
        self.refresh_customer_balance(&customer);
        events.push(("Invoice", id.to_string(), Operation::Void));
        Ok(inv)
    }

    /// `POST /invoice?operation=delete`; answers the `{"status":"Deleted",…}` stub.
    pub fn delete_invoice(
        &mut self,
        id: &str,
        sync_token: Option<&str>,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Result<Invoice, ApiError> {
        let (key, inv) = self.invoice_for_write(id, sync_token)?;
        if inv
            .linked_txn
            .as_ref()
            .is_some_and(|l| l.iter().any(|t| t.txn_type == "Payment"))
        {
            if sync_token.is_some() {
                return Err(ApiError::Business(
                    "You must unlink any linked transactions associated with the invoice before deleting it".into(),
                ));
            }
            // Deleting in the UI removes the payment links.
            self.unlink_payments(id, now, events);
        }
        self.invoices.remove(&key);
        self.deleted_invoices
            .insert(key, Deleted { at: stamp(now) });
        if let Some(c) = inv.customer_ref.as_ref() {
            self.refresh_customer_balance(&c.value);
        }
        events.push(("Invoice", id.to_string(), Operation::Delete));
        Ok(Invoice {
            id: Some(id.to_string()),
            domain: Some("QBO".into()),
            status: Some(EntityStatus::Deleted),
            ..Invoice::default()
        })
    }

    /// `POST /invoice/{id}/send[?sendTo=]`.
    pub fn send_invoice(
        &mut self,
        id: &str,
        send_to: Option<&str>,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Result<Invoice, ApiError> {
        let (key, mut inv) = self.invoice_for_write(id, None)?;
        mark_sent(&mut inv, send_to, now)?;
        self.invoices.insert(key, inv.clone());
        events.push(("Invoice", id.to_string(), Operation::Emailed));
        Ok(inv)
    }

    /// Changes the due date "in the QuickBooks UI".
    pub fn set_due_date(
        &mut self,
        id: &str,
        due: NaiveDate,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Result<Invoice, ApiError> {
        let (key, mut inv) = self.invoice_for_write(id, None)?;
        if inv.txn_date.is_some_and(|t| due < t) {
            return Err(ApiError::Business(
                "The due date cannot be earlier than the transaction date".into(),
            ));
        }
        inv.due_date = Some(due);
        bump(&mut inv.sync_token);
        touch(&mut inv.meta_data, now);
        self.invoices.insert(key, inv.clone());
        events.push(("Invoice", id.to_string(), Operation::Update));
        Ok(inv)
    }

    /// Records a received payment applied to one invoice; `amount` defaults to the open balance.
    pub fn record_payment(
        &mut self,
        invoice_id: &str,
        amount: Option<Decimal>,
        txn_date: Option<NaiveDate>,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Result<Payment, ApiError> {
        let (key, mut inv) = self.invoice_for_write(invoice_id, None)?;
        let balance = inv.balance.unwrap_or_default();
        let amount = round2(amount.unwrap_or(balance));
        if amount <= Decimal::ZERO {
            return Err(ApiError::Business(
                "The payment amount must be positive".into(),
            ));
        }
        if amount > balance {
            return Err(ApiError::Business(format!(
                "The payment ({amount}) exceeds the open balance ({balance})"
            )));
        }
        let pid = self.next_id("Payment");
        let payment = Payment {
            id: Some(pid.to_string()),
            sync_token: Some("0".into()),
            domain: Some("QBO".into()),
            sparse: Some(false),
            status: None,
            meta_data: Some(meta(now)),
            txn_date: Some(txn_date.unwrap_or(now.date_naive())),
            customer_ref: inv.customer_ref.clone(),
            currency_ref: inv.currency_ref.clone(),
            total_amt: Some(amount),
            unapplied_amt: Some(Decimal::ZERO),
            payment_ref_num: None,
            private_note: None,
            line: Some(vec![PaymentLine {
                amount: Some(amount),
                linked_txn: vec![LinkedTxn {
                    txn_id: invoice_id.to_string(),
                    txn_type: "Invoice".into(),
                    txn_line_id: None,
                }],
            }]),
        };
        self.payments.insert(pid, payment.clone());
        let new_balance = balance - amount;
        inv.balance = Some(new_balance);
        if inv.home_balance.is_some() {
            inv.home_balance = Some(round2(
                new_balance * inv.exchange_rate.unwrap_or(Decimal::ONE),
            ));
        }
        inv.linked_txn.get_or_insert_with(Vec::new).push(LinkedTxn {
            txn_id: pid.to_string(),
            txn_type: "Payment".into(),
            txn_line_id: None,
        });
        bump(&mut inv.sync_token);
        touch(&mut inv.meta_data, now);
        let customer = inv
            .customer_ref
            .as_ref()
            .map(|r| r.value.clone())
            .unwrap_or_default();
        self.invoices.insert(key, inv);
        self.refresh_customer_balance(&customer);
        events.push(("Payment", pid.to_string(), Operation::Create));
        events.push(("Invoice", invoice_id.to_string(), Operation::Update));
        Ok(payment)
    }

    pub fn read_customer(&self, id: &str) -> Result<Customer, ApiError> {
        self.find_customer(id)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("Customer {id}")))
    }

    fn check_customer_names(&self, c: &Customer, except: Option<&str>) -> Result<(), ApiError> {
        let display = c.display_name.as_deref().unwrap_or_default();
        for name in [
            &c.display_name,
            &c.title,
            &c.given_name,
            &c.middle_name,
            &c.family_name,
            &c.suffix,
        ]
        .into_iter()
        .flatten()
        {
            if !name_is_valid(name) {
                return Err(ApiError::Business(format!(
                    "The name \"{name}\" cannot contain a colon, tab or newline"
                )));
            }
        }
        if display.chars().count() > 500 {
            return Err(ApiError::Business(
                "DisplayName is longer than 500 characters".into(),
            ));
        }
        if let Some(addr) = c
            .primary_email_addr
            .as_ref()
            .and_then(|e| e.address.as_deref())
            && !valid_email(addr)
        {
            return Err(ApiError::Business(format!(
                "Invalid email address format: {addr}"
            )));
        }
        let taken = self.customers.values().any(|other| {
            other.id.as_deref() != except
                && other
                    .display_name
                    .as_deref()
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case(display.trim()))
        });
        if taken {
            return Err(ApiError::DuplicateName);
        }
        Ok(())
    }

    /// Resolves and checks a customer currency (added to the company list when new).
    fn customer_currency_for(
        &mut self,
        requested: Option<&Ref>,
        now: DateTime<Utc>,
    ) -> Result<String, ApiError> {
        let home = self.home_currency();
        let Some(r) = requested else { return Ok(home) };
        if r.value == home {
            return Ok(home);
        }
        if !self.multi_currency() {
            return Err(ApiError::Business(format!(
                "Multicurrency is not enabled for this company: customers use the home currency {home}"
            )));
        }
        if !self
            .currencies
            .iter()
            .any(|c| c.code.as_deref() == Some(r.value.as_str()))
        {
            if r.value.len() != 3 || !r.value.chars().all(|c| c.is_ascii_uppercase()) {
                return Err(ApiError::InvalidReference(format!(
                    "CurrencyRef {}",
                    r.value
                )));
            }
            let id = self.currencies.len() + 1;
            let cref = currency_ref(&r.value);
            self.currencies
                .push(shared::wire::quickbooks::model::CompanyCurrency {
                    id: Some(id.to_string()),
                    sync_token: Some("0".into()),
                    domain: Some("QBO".into()),
                    sparse: Some(false),
                    meta_data: Some(meta(now)),
                    code: Some(r.value.clone()),
                    name: cref.name,
                    active: Some(true),
                });
        }
        Ok(r.value.clone())
    }

    fn finish_customer(&mut self, c: &mut Customer) {
        let display = c.display_name.clone().unwrap_or_default();
        c.domain = Some("QBO".into());
        c.sparse = Some(false);
        c.fully_qualified_name = Some(display.clone());
        if c.print_on_check_name.is_none() {
            c.print_on_check_name = Some(c.company_name.clone().unwrap_or(display));
        }
        c.active.get_or_insert(true);
        c.job.get_or_insert(false);
        c.bill_with_parent.get_or_insert(false);
        c.taxable.get_or_insert(self.is_us());
        c.preferred_delivery_method
            .get_or_insert_with(|| "Print".into());
        if self.is_us() && c.taxable == Some(true) && c.default_tax_code_ref.is_none() {
            c.default_tax_code_ref = self
                .preferences
                .tax_prefs
                .as_ref()
                .and_then(|t| t.tax_group_code_ref.clone())
                .map(|r| Ref::new(r.value));
        }
        for addr in [c.bill_addr.as_mut(), c.ship_addr.as_mut()]
            .into_iter()
            .flatten()
        {
            if addr.id.is_none() {
                addr.id = Some(self.next_address_id());
            }
        }
    }

    /// `POST /customer` without an Id.
    pub fn create_customer(
        &mut self,
        input: &Customer,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Result<Customer, ApiError> {
        let mut c = input.clone();
        let display = match c
            .display_name
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(d) => d.to_string(),
            None => {
                let parts: Vec<&str> = [
                    &c.title,
                    &c.given_name,
                    &c.middle_name,
                    &c.family_name,
                    &c.suffix,
                ]
                .into_iter()
                .flatten()
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .collect();
                if parts.is_empty() {
                    return Err(ApiError::RequiredParam("DisplayName".into()));
                }
                parts.join(" ")
            }
        };
        c.display_name = Some(display);
        self.check_customer_names(&c, None)?;
        let currency = self.customer_currency_for(input.currency_ref.as_ref(), now)?;
        let id = self.next_id("Customer");
        c.id = Some(id.to_string());
        c.sync_token = Some("0".into());
        c.status = None;
        c.meta_data = Some(meta(now));
        c.currency_ref = Some(currency_ref(&currency));
        c.balance = Some(round2(input.balance.unwrap_or_default()));
        c.balance_with_jobs = c.balance;
        self.finish_customer(&mut c);
        self.customers.insert(id, c.clone());
        events.push(("Customer", id.to_string(), Operation::Create));
        Ok(c)
    }

    /// `POST /customer` with an Id: full or sparse update.
    /// Edits a customer as someone would in the QuickBooks UI: `changes` (QuickBooks field
    /// names) over the current record, with a new SyncToken.
    pub fn edit_customer(
        &mut self,
        id: &str,
        changes: &Value,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Result<Customer, ApiError> {
        let key = parse_id(id, "Customer")?;
        let token = self
            .customers
            .get(&key)
            .and_then(|c| c.sync_token.clone())
            .ok_or_else(|| ApiError::NotFound(format!("Customer {id}")))?;
        let mut body = changes.clone();
        if let Value::Object(map) = &mut body {
            map.insert("Id".into(), Value::String(id.to_string()));
            map.insert("SyncToken".into(), Value::String(token));
            map.insert("sparse".into(), Value::Bool(true));
        }
        self.update_customer(&body, now, events)
    }

    pub fn update_customer(
        &mut self,
        body: &Value,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Result<Customer, ApiError> {
        let id = required_str(body, "Id")?;
        let token = required_str(body, "SyncToken")?;
        let key = parse_id(id, "Customer")?;
        let existing = self
            .customers
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("Customer {id}")))?;
        if existing.sync_token.as_deref() != Some(token) {
            return Err(ApiError::Stale);
        }
        let sparse = body.get("sparse").and_then(Value::as_bool).unwrap_or(false);
        let merged = if sparse {
            overlay(to_value(&existing), body)
        } else {
            body.clone()
        };
        let mut c: Customer =
            serde_json::from_value(merged).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        if c.display_name
            .as_deref()
            .is_none_or(|d| d.trim().is_empty())
        {
            if sparse {
                return Err(ApiError::Business(
                    "DisplayName cannot be removed with a sparse update".into(),
                ));
            }
            c.display_name = existing.display_name.clone();
        }
        let old_currency = self.customer_currency(&existing);
        let new_currency = c
            .currency_ref
            .as_ref()
            .map_or(old_currency.clone(), |r| r.value.clone());
        if new_currency != old_currency {
            return Err(ApiError::Business(format!(
                "The customer's currency ({old_currency}) cannot be changed once it is set"
            )));
        }
        if c.active == Some(false) && existing.active != Some(false) {
            // QuickBooks renames inactive ("deleted") names.
            c.display_name = c.display_name.map(|d| format!("{d} (deleted)"));
        }
        self.check_customer_names(&c, Some(id))?;
        c.id = existing.id.clone();
        c.sync_token = existing.sync_token.clone();
        bump(&mut c.sync_token);
        c.meta_data = existing.meta_data.clone();
        touch(&mut c.meta_data, now);
        c.currency_ref = Some(currency_ref(&old_currency));
        c.balance = existing.balance;
        c.balance_with_jobs = existing.balance_with_jobs;
        if !sparse {
            c.print_on_check_name = c
                .print_on_check_name
                .or(existing.print_on_check_name.clone());
        }
        self.finish_customer(&mut c);
        self.customers.insert(key, c.clone());
        events.push(("Customer", id.to_string(), Operation::Update));
        Ok(c)
    }

    /// The serialised rows of a queryable entity.
    pub fn rows(&self, entity: &str) -> Vec<Value> {
        match entity {
            "Customer" => self.customers.values().map(to_value).collect(),
            "Invoice" => self.invoices.values().map(to_value).collect(),
            "Estimate" => self.estimates.values().map(to_value).collect(),
            "Item" => self.items.values().map(to_value).collect(),
            "Account" => self.accounts.iter().map(to_value).collect(),
            "TaxCode" => self.tax_codes.iter().map(to_value).collect(),
            "TaxRate" => self.tax_rates.iter().map(to_value).collect(),
            "Term" => self.terms.iter().map(to_value).collect(),
            "CompanyCurrency" => {
                if self.multi_currency() {
                    self.currencies.iter().map(to_value).collect()
                } else {
                    Vec::new()
                }
            }
            "Payment" => self.payments.values().map(to_value).collect(),
            _ => Vec::new(),
        }
    }

    /// Runs a query statement (the `QueryResponse` object).
    pub fn query(&self, text: &str) -> Result<Value, ApiError> {
        let statement: Statement = query::parse(text)?;
        Ok(query::execute(&statement, self.rows(statement.entity)))
    }

    /// The whole answer to a query (`{"QueryResponse": …, "time": …}`) as JSON bytes. A statement
    /// that only names ids and keeps the default order (the sync's and the refresh's
    /// `SELECT * FROM Invoice WHERE Id IN (…)`, hundreds of invoices per call) is written
    /// straight from the entities asked for; any other goes through [`Self::query`]'s JSON rows.
    /// Both write the same answer.
    pub fn query_body(&self, text: &str, time: &str) -> Result<Vec<u8>, ApiError> {
        let statement: Statement = query::parse(text)?;
        if let Some(body) = self.answer_by_ids(&statement, time) {
            return Ok(body);
        }
        let answer = json!({
            "QueryResponse": query::execute(&statement, self.rows(statement.entity)),
            "time": time,
        });
        Ok(serde_json::to_vec(&answer).unwrap_or_default())
    }

    /// [`Self::query_body`]'s direct answer, when the statement's only condition names ids and
    /// the order is the default one (ids ascending, as a `BTreeSet` iterates them).
    fn answer_by_ids(&self, statement: &Statement, time: &str) -> Option<Vec<u8>> {
        if statement.conditions.len() != 1 || !statement.order_by.is_empty() || statement.count {
            return None;
        }
        let ids: Vec<u64> = statement
            .id_bound()?
            .into_iter()
            .skip(statement.start_position.saturating_sub(1) as usize)
            .take(statement.max_results as usize)
            .collect();
        match statement.entity {
            "Invoice" => direct(&self.invoices, &ids, statement, time),
            "Estimate" => direct(&self.estimates, &ids, statement, time),
            "Customer" => direct(&self.customers, &ids, statement, time),
            "Item" => direct(&self.items, &ids, statement, time),
            "Payment" => direct(&self.payments, &ids, statement, time),
            _ => None,
        }
    }

    /// The change-data-capture answer for `entities` changed at or after `since`.
    pub fn cdc(&self, entities: &[&'static str], since: DateTime<FixedOffset>) -> Value {
        let mut budget = CDC_MAX_OBJECTS;
        let mut responses = Vec::new();
        for entity in entities {
            let changed = |v: &Value| {
                v.pointer("/MetaData/LastUpdatedTime")
                    .and_then(Value::as_str)
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .is_some_and(|t| t >= since)
            };
            let mut rows: Vec<Value> = self.rows(entity).into_iter().filter(changed).collect();
            rows.sort_by_key(|v| {
                v.pointer("/MetaData/LastUpdatedTime")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
            let gone = match *entity {
                "Invoice" => Some(&self.deleted_invoices),
                "Estimate" => Some(&self.deleted_estimates),
                _ => None,
            };
            if let Some(gone) = gone {
                let mut deleted: Vec<(&u64, &Deleted)> =
                    gone.iter().filter(|(_, d)| d.at >= since).collect();
                deleted.sort_by_key(|(_, d)| d.at);
                rows.extend(deleted.into_iter().map(|(id, d)| {
                    json!({"status": "Deleted", "domain": "QBO", "Id": id.to_string(),
                           "MetaData": {"LastUpdatedTime": d.at}})
                }));
            }
            rows.truncate(budget);
            budget -= rows.len();
            let mut response = serde_json::Map::new();
            if !rows.is_empty() {
                let n = rows.len();
                response.insert((*entity).to_string(), Value::Array(rows));
                response.insert("startPosition".into(), json!(1));
                response.insert("maxResults".into(), json!(n));
                response.insert("totalCount".into(), json!(n));
            }
            responses.push(Value::Object(response));
        }
        json!([{ "QueryResponse": responses }])
    }

    /// One batch item (independent of the others); answers the item's response object.
    pub fn batch_item(
        &mut self,
        item: &BatchItemRequest,
        raw: &Value,
        now: DateTime<Utc>,
        events: &mut Vec<Change>,
    ) -> Value {
        let b_id = item.b_id.clone();
        let result: Result<(&str, Value), ApiError> = (|| {
            if let Some(q) = &item.query {
                return Ok(("QueryResponse", self.query(q)?));
            }
            let operation = item.operation.as_deref().unwrap_or("create");
            if let Some(body) = raw.get("Invoice") {
                let id = body.get("Id").and_then(Value::as_str);
                let token = body.get("SyncToken").and_then(Value::as_str);
                let inv = match (operation, item.options_data.as_deref(), id) {
                    ("delete", _, Some(id)) => self.delete_invoice(
                        id,
                        Some(token.ok_or_else(|| ApiError::RequiredParam("SyncToken".into()))?),
                        now,
                        events,
                    )?,
                    ("update", Some("void"), Some(id)) => self.void_invoice(
                        id,
                        Some(token.ok_or_else(|| ApiError::RequiredParam("SyncToken".into()))?),
                        now,
                        events,
                    )?,
                    ("update", _, Some(_)) => self.update_invoice(body, false, now, events)?,
                    ("create", _, _) => {
                        let input = item.invoice.clone().unwrap_or_default();
                        self.create_invoice(&input, false, now, events)?
                    }
                    (_, _, None) => return Err(ApiError::RequiredParam("Id".into())),
                    (other, _, _) => return Err(ApiError::Unsupported(other.to_string())),
                };
                return Ok(("Invoice", to_value(&inv)));
            }
            if let Some(body) = raw.get("Customer") {
                let c = match operation {
                    "create" => self.create_customer(
                        &item.customer.clone().unwrap_or_default(),
                        now,
                        events,
                    )?,
                    "update" => self.update_customer(body, now, events)?,
                    other => return Err(ApiError::Unsupported(format!("{other} Customer"))),
                };
                return Ok(("Customer", to_value(&c)));
            }
            let entity = item
                .other
                .keys()
                .next()
                .cloned()
                .unwrap_or_else(|| "(none)".into());
            Err(ApiError::Unsupported(format!("{operation} {entity}")))
        })();
        match result {
            Ok((key, value)) => json!({ "bId": b_id, key: value }),
            Err(e) => json!({ "bId": b_id, "Fault": to_value(&e.fault()) }),
        }
    }
}
