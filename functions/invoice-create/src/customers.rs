//! QuickBooks customers: search, create from the deal's customer block (never a silent
//! duplicate), and the link of the deal's organisation (or person) to one, optionally pushing
//! address, email and tax id to it.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::app::App;
use shared::app::tokens::CallError;
use shared::clients::quickbooks::QuickBooksError;
use shared::domain::draft::check_currency;
use shared::domain::mapping::{CustomerBlock, PostalAddress, is_plausible_email};
use shared::domain::{CustomerLink, Party};
use shared::store::StoreError;
use shared::web::auth::Tenant;
use shared::web::error::{ApiError, FieldError};
use shared::web::http::{JsonBody, PathParams, QueryParams};
use shared::wire::quickbooks::model::{Customer, EmailAddress, PhysicalAddress, Ref};
use shared::wire::quickbooks::query::Query;

use crate::context::{Caller, caller, company_setup, qb_error, quickbooks_error};
use crate::customer_choice::{name_taken, reactivate};
use crate::draft::{DealPath, party_of};
use crate::idempotency::{body_hash, derived_request_id, idempotency_key};
use crate::views::{CustomerSummary, search_term};

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    pub search: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct CustomerList {
    pub customers: Vec<CustomerSummary>,
}

/// `GET /api/quickbooks/customers?search=…`: customers (active and inactive, each marked) whose
/// display name contains every word of the term, or whose email is the term; with an empty term,
/// the most recently updated active customers ([`crate::search`]).
pub async fn search(
    State(app): State<App>,
    tenant: Tenant,
    QueryParams(params): QueryParams<SearchParams>,
) -> Result<Json<CustomerList>, ApiError> {
    let caller = caller(&app, tenant).await?;
    let term = search_term(params.search.as_deref())?;
    let by_name = crate::search::customers(&term);
    let by_email = Query::select("Customer")
        .eq("PrimaryEmailAddr", term.as_str())
        .is_in_bools("Active", &[true, false])
        .max_results(25);
    let email = is_plausible_email(&term);
    let (names, emails) =
        futures::join!(app.quickbooks_of(&caller.profile).query(&by_name), async {
            if email {
                app.quickbooks_of(&caller.profile)
                    .query(&by_email)
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
        });
    let doing = "searching customers";
    let mut customers: Vec<CustomerSummary> = names
        .map_err(|e| qb_error(e, doing))?
        .customer
        .unwrap_or_default()
        .iter()
        .filter_map(CustomerSummary::of)
        .collect();
    if let Some(emails) = emails.map_err(|e| qb_error(e, doing))? {
        for c in emails
            .customer
            .unwrap_or_default()
            .iter()
            .filter_map(CustomerSummary::of)
        {
            if !customers.iter().any(|x| x.id == c.id) {
                customers.push(c);
            }
        }
    }
    Ok(Json(CustomerList { customers }))
}

/// Body of `POST /api/quickbooks/customers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    /// The deal whose organisation (or person) the new customer is linked to.
    pub deal_id: u64,
    /// The customer's name in QuickBooks (unique across customers, vendors and employees).
    pub display_name: String,
    /// ISO 4217; fixed once set. Defaults to the deal's currency.
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub address: Option<PostalAddress>,
    #[serde(default)]
    pub tax_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct LinkedCustomer {
    pub customer: CustomerSummary,
    pub link: CustomerLink,
    /// Fields pushed to the QuickBooks customer (link with update).
    #[serde(default)]
    pub updated_fields: Vec<String>,
}

fn validate_new(body: &NewCustomer) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name = body.display_name.trim();
    if name.is_empty() {
        errors.push(FieldError::new("display_name", "Give the customer a name."));
    } else if name.chars().count() > 500 {
        errors.push(FieldError::new(
            "display_name",
            "QuickBooks accepts at most 500 characters in a customer name.",
        ));
    } else if name.contains([':', '\t', '\n', '\r']) {
        errors.push(FieldError::new(
            "display_name",
            "QuickBooks does not accept a colon, tab or line break in a customer name.",
        ));
    }
    if let Some(email) = &body.email
        && !is_plausible_email(email)
    {
        errors.push(FieldError::new(
            "email",
            format!("{email} is not an email address QuickBooks accepts."),
        ));
    }
    errors
}

/// A QuickBooks address from the block's.
pub fn physical_address(a: &PostalAddress) -> PhysicalAddress {
    PhysicalAddress {
        line1: a.line1.clone(),
        line2: a.line2.clone(),
        city: a.city.clone(),
        country_sub_division_code: a.region.clone(),
        postal_code: a.postal_code.clone(),
        country: a.country.clone(),
        ..PhysicalAddress::default()
    }
}

/// Where a tax id goes: `PrimaryTaxIdentifier` outside the US (GB, CA, AU, IN keep it there);
/// US customers have no tax-id field, so it is kept in `Notes`.
fn tax_id_fields(customer: &mut Customer, us: bool, tax_id: &str) {
    if us {
        customer.notes = Some(format!("Tax ID: {tax_id}"));
    } else {
        customer.primary_tax_identifier = Some(tax_id.to_string());
    }
}

async fn find_by_name(
    app: &App,
    caller: &Caller,
    name: &str,
) -> Result<Option<Customer>, ApiError> {
    let q = Query::select("Customer")
        .eq("DisplayName", name)
        .is_in_bools("Active", &[true, false])
        .max_results(1);
    let found = app
        .quickbooks_of(&caller.profile)
        .query(&q)
        .await
        .map_err(|e| qb_error(e, "looking up the customer name"))?;
    Ok(found.customer.unwrap_or_default().into_iter().next())
}

/// `POST /api/quickbooks/customers`: creates the customer and links the deal's party to it.
pub async fn create(
    State(app): State<App>,
    tenant: Tenant,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewCustomer>,
) -> Result<(StatusCode, Json<LinkedCustomer>), ApiError> {
    let caller = caller(&app, tenant).await?;
    let key = idempotency_key(&headers, false)?;
    let errors = validate_new(&body);
    if !errors.is_empty() {
        return Err(ApiError::unprocessable(errors));
    }
    let name = body.display_name.trim().to_string();
    let deal = read_deal(&app, &caller, body.deal_id).await?;
    let party = party_of(&deal).ok_or_else(|| {
        ApiError::unprocessable(vec![FieldError::new(
            "deal_id",
            "The deal has no organization or person to link the customer to. Add one in Pipedrive.",
        )])
    })?;
    let setup = company_setup(&app, &caller).await?;
    let currency = body
        .currency
        .clone()
        .or(deal.currency.clone())
        .unwrap_or_else(|| setup.home_currency.clone());
    if let Err(message) = check_currency(&currency, None, &setup) {
        return Err(ApiError::unprocessable(vec![FieldError::new(
            "currency", message,
        )]));
    }
    // A clear choice instead of QuickBooks' duplicate-name fault when we can see the clash.
    if let Some(existing) = find_by_name(&app, &caller, &name).await? {
        return Err(name_taken(Some(&existing), &name, &currency));
    }
    let customer = new_customer(&body, &name, party, &currency, setup.us);
    // Without a key, the same body (a double click) makes the same `requestid`.
    let key_material = key.unwrap_or_else(|| {
        body_hash(&json!({
            "deal_id": body.deal_id,
            "display_name": name,
            "currency": currency,
            "email": body.email,
            "address": body.address,
            "tax_id": body.tax_id,
        }))
    });
    let request_id = derived_request_id(caller.tenant.company_id, "customer", &key_material, 0);
    let created = app
        .quickbooks_of(&caller.profile)
        .create_customer(&customer, &request_id)
        .await;
    let created = match created {
        Ok(c) => c,
        Err(CallError::Call(QuickBooksError::Fault { fault, .. })) if fault.has_code("6240") => {
            let existing = find_by_name(&app, &caller, &name).await?;
            return Err(name_taken(existing.as_ref(), &name, &currency));
        }
        Err(e) => return Err(qb_error(e, "creating the customer")),
    };
    let summary = CustomerSummary::of(&created)
        .ok_or_else(|| ApiError::internal("QuickBooks answered a customer without an Id"))?;
    let link = save_link(&app, &caller, party, &summary).await?;
    Ok((
        StatusCode::CREATED,
        Json(LinkedCustomer {
            customer: summary,
            link,
            updated_fields: Vec::new(),
        }),
    ))
}

/// The QuickBooks customer the form describes (an organization's name is also its company name).
fn new_customer(
    body: &NewCustomer,
    name: &str,
    party: Party,
    currency: &str,
    us: bool,
) -> Customer {
    let mut customer = Customer {
        display_name: Some(name.to_string()),
        company_name: matches!(party, Party::Organization(_)).then(|| name.to_string()),
        currency_ref: Some(Ref::new(currency.to_string())),
        primary_email_addr: body.email.as_ref().map(|e| EmailAddress {
            address: Some(e.trim().to_string()),
        }),
        bill_addr: body
            .address
            .as_ref()
            .filter(|a| !a.is_empty())
            .map(physical_address),
        ..Customer::default()
    };
    if let Some(tax_id) = body
        .tax_id
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        tax_id_fields(&mut customer, us, tax_id);
    }
    customer
}

/// Reads the deal (tenant-scoped by the caller's Pipedrive token: another company's deal is 404).
pub async fn read_deal(
    app: &App,
    caller: &Caller,
    deal_id: u64,
) -> Result<shared::wire::pipedrive::model::Deal, ApiError> {
    app.pipedrive_of(caller.tenant)
        .deal(deal_id)
        .await
        .map_err(|e| match e {
            CallError::Token(f) => f.into(),
            CallError::Call(e) => shared::app::tokens::pipedrive_api_error(e, "reading the deal"),
        })
}

/// Creates or moves the party's link to `customer` (versioned; a concurrent change is a 409).
async fn save_link(
    app: &App,
    caller: &Caller,
    party: Party,
    customer: &CustomerSummary,
) -> Result<CustomerLink, ApiError> {
    let company = caller.tenant.company_id;
    let existing = app.records.get_customer_link(company, party).await?;
    let mut link = CustomerLink {
        company_id: company,
        party,
        realm_id: caller.realm_id.clone(),
        customer_id: customer.id.clone(),
        display_name: customer.display_name.clone(),
        currency: customer.currency.clone(),
        linked_by: caller.tenant.user_id,
        linked_at: app.clock.now(),
        version: 0,
    };
    if let Some(old) = &existing {
        if old.customer_id == link.customer_id
            && old.realm_id == link.realm_id
            && old.display_name == link.display_name
            && old.currency == link.currency
        {
            return Ok(old.clone());
        }
        link.version = old.version;
    }
    match app.records.save_customer_link(&link).await {
        Ok(saved) => Ok(saved),
        Err(StoreError::Conflict { .. }) => Err(ApiError::Conflict {
            detail: "Someone linked this deal's customer at the same time. Reload and try again."
                .into(),
            current: None,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Body of `PUT /api/deals/{deal_id}/customer-link`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    pub customer_id: String,
    /// Push address, email and tax id to the customer when they differ (default: the setting).
    #[serde(default)]
    pub update_customer: Option<bool>,
    /// The customer block to push (the draft's, as edited).
    #[serde(default)]
    pub block: Option<CustomerBlock>,
    /// An inactive customer is made active again first (else it is refused).
    #[serde(default)]
    pub reactivate: Option<bool>,
}

/// `PUT /api/deals/{deal_id}/customer-link`.
pub async fn link(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(path): PathParams<DealPath>,
    JsonBody(body): JsonBody<LinkRequest>,
) -> Result<Json<LinkedCustomer>, ApiError> {
    let caller = caller(&app, tenant).await?;
    let customer_id = body.customer_id.trim().to_string();
    if customer_id.is_empty() || customer_id.len() > 40 {
        return Err(ApiError::unprocessable(vec![FieldError::new(
            "customer_id",
            "Choose a QuickBooks customer.",
        )]));
    }
    let (deal, customer) = futures::join!(
        read_deal(&app, &caller, path.deal_id),
        app.quickbooks_of(&caller.profile)
            .read_customer(&customer_id)
    );
    let deal = deal?;
    let customer = customer.map_err(|e| match e {
        CallError::Call(QuickBooksError::Fault { ref fault, .. })
            if fault.has_code("610") || fault.has_code("2500") =>
        {
            ApiError::not_found(
                "QuickBooks has no such customer (it may have been deleted or merged).",
            )
        }
        other => qb_error(other, "reading the customer"),
    })?;
    let customer = match (customer.active, body.reactivate) {
        (Some(false), Some(true)) => reactivate(&app, &caller, customer).await?,
        (Some(false), _) => {
            return Err(ApiError::unprocessable(vec![FieldError::new(
                "customer_id",
                "That QuickBooks customer is inactive. Reactivate it and link the deal to it, or choose another.",
            )]));
        }
        _ => customer,
    };
    let party = party_of(&deal).ok_or_else(|| {
        ApiError::unprocessable(vec![FieldError::new(
            "deal_id",
            "The deal has no organization or person to link. Add one in Pipedrive.",
        )])
    })?;
    let push = body
        .update_customer
        .unwrap_or(caller.profile.settings.update_customer);
    let (customer, updated_fields) = match (&body.block, push) {
        (Some(block), true) => {
            let setup = company_setup(&app, &caller).await?;
            push_block(&app, &caller, customer, block, setup.us).await?
        }
        _ => (customer, Vec::new()),
    };
    let summary = CustomerSummary::of(&customer)
        .ok_or_else(|| ApiError::internal("QuickBooks answered a customer without an Id"))?;
    let link = save_link(&app, &caller, party, &summary).await?;
    Ok(Json(LinkedCustomer {
        customer: summary,
        link,
        updated_fields,
    }))
}

/// The sparse changes that bring the customer in line with the block (only what differs).
pub fn customer_changes(
    customer: &Customer,
    block: &CustomerBlock,
    us: bool,
) -> (Value, Vec<String>) {
    let mut changes = serde_json::Map::new();
    let mut fields = Vec::new();
    if let Some(email) = block
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| is_plausible_email(e))
    {
        let current = customer
            .primary_email_addr
            .as_ref()
            .and_then(|e| e.address.as_deref())
            .map(str::trim);
        if current.is_none_or(|c| !c.eq_ignore_ascii_case(email)) {
            changes.insert("PrimaryEmailAddr".into(), json!({"Address": email}));
            fields.push("email".to_string());
        }
    }
    if let Some(address) = block.address.as_ref().filter(|a| !a.is_empty()) {
        let wanted = physical_address(address);
        let current = customer.bill_addr.clone().unwrap_or_default();
        let same = wanted.line1 == current.line1
            && wanted.line2 == current.line2
            && wanted.city == current.city
            && wanted.postal_code == current.postal_code
            && wanted.country == current.country
            && wanted.country_sub_division_code == current.country_sub_division_code;
        if !same {
            changes.insert(
                "BillAddr".into(),
                serde_json::to_value(&wanted).unwrap_or(Value::Null),
            );
            fields.push("address".to_string());
        }
    }
    if let Some(tax_id) = block
        .tax_id
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if us {
            let note = format!("Tax ID: {tax_id}");
            if customer.notes.as_deref() != Some(note.as_str()) {
                changes.insert("Notes".into(), json!(note));
                fields.push("tax_id".to_string());
            }
        } else {
            // QuickBooks masks the stored value to its last characters: compare those.
            let current = customer.primary_tax_identifier.as_deref().unwrap_or("");
            let tail: String = tax_id
                .chars()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if current.is_empty() || !current.ends_with(&tail) {
                changes.insert("PrimaryTaxIdentifier".into(), json!(tax_id));
                fields.push("tax_id".to_string());
            }
        }
    }
    (Value::Object(changes), fields)
}

/// Sparse update of the customer with what differs; on a stale SyncToken (5010) re-reads once
/// and retries.
async fn push_block(
    app: &App,
    caller: &Caller,
    customer: Customer,
    block: &CustomerBlock,
    us: bool,
) -> Result<(Customer, Vec<String>), ApiError> {
    let quickbooks = app.quickbooks_of(&caller.profile);
    let mut current = customer;
    for attempt in 0..2 {
        let (changes, fields) = customer_changes(&current, block, us);
        if fields.is_empty() {
            return Ok((current, fields));
        }
        let id = current.id.clone().unwrap_or_default();
        let mut body = changes;
        if let Value::Object(map) = &mut body {
            map.insert("Id".into(), json!(id));
            map.insert(
                "SyncToken".into(),
                json!(current.sync_token.clone().unwrap_or_default()),
            );
            map.insert("sparse".into(), json!(true));
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        let result = quickbooks.update_customer(&body, &request_id).await;
        match result {
            Ok(updated) => return Ok((updated, fields)),
            Err(CallError::Call(QuickBooksError::Fault { fault, .. }))
                if fault.has_code("5010") && attempt == 0 =>
            {
                current = quickbooks
                    .read_customer(&id)
                    .await
                    .map_err(|e| qb_error(e, "re-reading the customer"))?;
            }
            // Stale again after the re-read: someone keeps editing it; tell the user.
            Err(CallError::Call(QuickBooksError::Fault { fault, .. }))
                if fault.has_code("5010") =>
            {
                break;
            }
            Err(CallError::Call(e)) => return Err(quickbooks_error(e, "updating the customer")),
            Err(e) => return Err(qb_error(e, "updating the customer")),
        }
    }
    Err(ApiError::Conflict {
        detail: "Someone changed the customer in QuickBooks at the same time. Try again.".into(),
        current: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer() -> Customer {
        serde_json::from_value(json!({
            "Id": "3", "SyncToken": "0", "DisplayName": "Acme",
            "PrimaryEmailAddr": {"Address": "AP@acme.example"},
            "BillAddr": {"Id": "9", "Line1": "1 Main St.", "City": "Bayshore", "CountrySubDivisionCode": "CA",
                         "PostalCode": "94326", "Country": "USA"},
            "PrimaryTaxIdentifier": "XXXXXX56789"
        }))
        .unwrap()
    }

    fn block(email: Option<&str>, city: Option<&str>, tax_id: Option<&str>) -> CustomerBlock {
        CustomerBlock {
            name: "Acme".into(),
            email: email.map(str::to_string),
            address: city.map(|c| PostalAddress {
                line1: Some("1 Main St.".into()),
                city: Some(c.into()),
                region: Some("CA".into()),
                postal_code: Some("94326".into()),
                country: Some("USA".into()),
                ..PostalAddress::default()
            }),
            tax_id: tax_id.map(str::to_string),
        }
    }

    #[test]
    fn only_what_differs_is_pushed() {
        let c = customer();
        let (changes, fields) = customer_changes(
            &c,
            &block(
                Some("ap@acme.example"),
                Some("Bayshore"),
                Some("GB123456789"),
            ),
            false,
        );
        assert!(
            fields.is_empty(),
            "same email (any case), address, masked tax id: {changes}"
        );
        let (changes, fields) = customer_changes(
            &c,
            &block(Some("new@acme.example"), Some("Austin"), Some("GB999")),
            false,
        );
        assert_eq!(fields, ["email", "address", "tax_id"]);
        assert_eq!(
            changes["PrimaryEmailAddr"],
            json!({"Address": "new@acme.example"})
        );
        assert_eq!(changes["BillAddr"]["City"], "Austin");
        assert_eq!(changes["PrimaryTaxIdentifier"], "GB999");
        // US customers keep the tax id in Notes; an implausible email is never pushed.
        let (changes, fields) =
            customer_changes(&c, &block(Some("nope"), None, Some("12-3456789")), true);
        assert_eq!(fields, ["tax_id"]);
        assert_eq!(changes["Notes"], "Tax ID: 12-3456789");
    }
}
