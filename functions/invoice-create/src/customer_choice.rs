//! The choices the form offers when a customer cannot simply be created or linked: a name already
//! used in QuickBooks (link that customer — reactivating it if it is inactive — or create under
//! another name), and an inactive customer to reactivate before linking.

use serde_json::json;
use shared::app::App;
use shared::app::tokens::CallError;
use shared::clients::quickbooks::QuickBooksError;
use shared::web::error::{ApiError, Refusal};
use shared::wire::quickbooks::model::Customer;

use crate::context::{Caller, qb_error, quickbooks_error};
use crate::views::CustomerSummary;

/// Another name to create the customer under: the currency appended when the existing customer
/// is in another one ("Lena Vogel (EUR)"), else a number ("Lena Vogel (2)").
pub fn other_name(name: &str, existing_currency: Option<&str>, currency: &str) -> String {
    let name = name.trim();
    match existing_currency {
        Some(theirs) if theirs != currency && !name.ends_with(&format!("({currency})")) => {
            format!("{name} ({currency})")
        }
        _ => format!("{name} (2)"),
    }
}

/// The 409 for a name QuickBooks already uses: the existing customer (active or not) to link, and
/// a name to create the new one under instead.
pub fn name_taken(existing: Option<&Customer>, name: &str, currency: &str) -> ApiError {
    let current = existing.and_then(CustomerSummary::of);
    let detail = match &current {
        Some(c) if !c.active => format!(
            "QuickBooks already has an inactive customer named \"{}\". Reactivate it and link the deal to it, or create the new customer under another name.",
            c.display_name
        ),
        Some(c) => format!(
            "A QuickBooks customer named \"{}\" already exists. Link the deal to that customer, or create the new one under another name.",
            c.display_name
        ),
        None => format!(
            "The name \"{name}\" is already used in QuickBooks by another customer, a vendor or an employee (possibly an inactive one). Create the customer under another name, or link an existing customer."
        ),
    };
    let suggested = other_name(
        name,
        current.as_ref().and_then(|c| c.currency.as_deref()),
        currency,
    );
    ApiError::Refused {
        reason: Refusal::NameTaken,
        detail,
        current: Some(json!({"customer": current, "suggested_name": suggested})),
    }
}

/// Makes an inactive customer active again (sparse update; a stale `SyncToken` is re-read and
/// retried once).
pub async fn reactivate(
    app: &App,
    caller: &Caller,
    customer: Customer,
) -> Result<Customer, ApiError> {
    let quickbooks = app.quickbooks_of(&caller.profile);
    let id = customer.id.clone().unwrap_or_default();
    let mut sync_token = customer.sync_token.clone().unwrap_or_default();
    for attempt in 0..2 {
        let body = json!({"Id": id, "SyncToken": sync_token, "sparse": true, "Active": true});
        let request_id = uuid::Uuid::new_v4().to_string();
        let result = quickbooks.update_customer(&body, &request_id).await;
        match result {
            Ok(updated) => return Ok(updated),
            Err(CallError::Call(QuickBooksError::Fault { fault, .. }))
                if fault.has_code("5010") && attempt == 0 =>
            {
                let fresh = quickbooks
                    .read_customer(&id)
                    .await
                    .map_err(|e| qb_error(e, "re-reading the customer"))?;
                if fresh.active != Some(false) {
                    return Ok(fresh);
                }
                sync_token = fresh.sync_token.unwrap_or_default();
            }
            Err(CallError::Call(e)) => {
                return Err(quickbooks_error(e, "reactivating the customer"));
            }
            Err(e) => return Err(qb_error(e, "reactivating the customer")),
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

    #[test]
    fn another_name_says_what_differs() {
        assert_eq!(
            other_name("Lena Vogel", Some("USD"), "EUR"),
            "Lena Vogel (EUR)"
        );
        assert_eq!(
            other_name("Lena Vogel", Some("EUR"), "EUR"),
            "Lena Vogel (2)"
        );
        assert_eq!(
            other_name("Lena Vogel (EUR)", Some("USD"), "EUR"),
            "Lena Vogel (EUR) (2)"
        );
        assert_eq!(other_name(" Acme ", None, "EUR"), "Acme (2)");
    }
}
