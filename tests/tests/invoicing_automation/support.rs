//! What the invoicing-without-a-modal flows share: company A (GB realm) with every function
//! served, the deal custom fields the write-back maps and what the simulated Pipedrive received
//! (QuickBooks events: `integration_tests::{payment_webhook, scheduled_sync}`).

use sandbox::pipedrive::{FieldEntity, NewCustomField};
use serde_json::{Value, json};
use shared::wire::pipedrive::model::CustomFields;
use test_world::{COMPANY_A, GB_REALM, USER_A_ADMIN, World};

pub const A: (u64, u64) = (COMPANY_A, USER_A_ADMIN);

/// The world: every function served, company A connected to the GB realm.
pub async fn world() -> World {
    let w = integration_tests::full_world().start().await;
    w.connect(COMPANY_A, USER_A_ADMIN, GB_REALM).await;
    w
}

/// The deal fields of company A that carry the figures (field keys).
pub struct Fields {
    pub status: String,
    pub invoiced: String,
    pub paid: String,
    pub outstanding: String,
    pub number: String,
    pub payment_date: String,
}

fn add_field(w: &World, name: &str, field_type: &str, options: &[&str]) -> String {
    w.pipedrive
        .add_custom_field(
            COMPANY_A,
            FieldEntity::Deal,
            NewCustomField {
                field_name: name.into(),
                field_type: field_type.into(),
                options: options.iter().map(|o| o.to_string()).collect(),
                field_code: None,
            },
        )
        .unwrap()
        .field_code
}

/// Adds the six deal fields in Pipedrive (and one more the app must leave alone).
pub fn add_fields(w: &World) -> Fields {
    add_field(w, "Region", "varchar", &[]);
    Fields {
        status: add_field(
            w,
            "Invoice status",
            "enum",
            &["Open", "Overdue", "Partially paid", "Paid"],
        ),
        invoiced: add_field(w, "Amount invoiced", "monetary", &[]),
        paid: add_field(w, "Amount paid", "monetary", &[]),
        outstanding: add_field(w, "Amount outstanding", "double", &[]),
        number: add_field(w, "Last invoice number", "varchar", &[]),
        payment_date: add_field(w, "Last payment", "date", &[]),
    }
}

/// Saves `write_back` in the settings (`PUT /api/settings`): the answer.
pub async fn save_write_back(w: &World, write_back: Value) -> test_world::Answer {
    let mut doc = w.call("GET", "/api/settings", A, None, None).await.json;
    doc["settings"]["write_back"] = write_back;
    w.call("PUT", "/api/settings", A, Some(&doc), None).await
}

/// Adds the fields and maps all six figures.
pub async fn map_fields(w: &World) -> Fields {
    let fields = add_fields(w);
    let saved = save_write_back(
        w,
        json!({
            "status": {"key": fields.status},
            "invoiced": {"key": fields.invoiced},
            "paid": {"key": fields.paid},
            "outstanding": {"key": fields.outstanding},
            "last_number": {"key": fields.number},
            "last_payment_date": {"key": fields.payment_date},
        }),
    )
    .await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    fields
}

/// The deal updates Pipedrive received since `from` (an index into the log).
pub fn updates_since(w: &World, from: usize) -> Vec<(u64, Value)> {
    w.pipedrive.deal_updates().into_iter().skip(from).collect()
}

/// The deal's custom fields in the simulated Pipedrive.
pub fn deal_fields(w: &World, deal: u64) -> CustomFields {
    w.pipedrive.deal(COMPANY_A, deal).unwrap().custom_fields
}
