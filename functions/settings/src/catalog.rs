//! The company's Pipedrive fields (deal, organisation, person; standard and custom, all pages),
//! which mapping slot each can fill, and the check of a mapping against them. Cached briefly per
//! company in the instance, since the settings page reads it on every open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use shared::app::App;
use shared::clients::pipedrive::FieldCatalog;
use shared::domain::figures::Figure;
use shared::domain::{FieldEntity, FieldMapping, FieldRef, Settings};
use shared::web::auth::Tenant;
use shared::web::error::{ApiError, FieldError};
use shared::wire::pipedrive::model::FieldDefinition;

use crate::automation::{PipelineView, load_pipelines};

/// How long a company's catalog is reused.
pub const CATALOG_TTL: Duration = Duration::from_secs(60);

/// A part of the invoice a field can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    To,
    Address,
    Email,
    TaxId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogField {
    pub entity: FieldEntity,
    pub key: String,
    pub name: String,
    /// Pipedrive's field type (`varchar`, `address`, `double`, `enum`, …).
    pub field_type: String,
    pub custom: bool,
    /// The mapping slots this field may fill.
    pub fits: Vec<Slot>,
    /// The invoice figures the field can carry (custom deal fields of a fitting type only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub figures: Vec<Figure>,
    /// An enum field's options (id and label).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<CatalogOption>,
}

/// One option of an enum or set field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogOption {
    pub id: serde_json::Value,
    pub label: String,
}

/// The figures a field can carry: custom deal fields of a type that holds them.
pub fn figures_of(entity: FieldEntity, custom: bool, field_type: &str) -> Vec<Figure> {
    if entity != FieldEntity::Deal || !custom {
        return Vec::new();
    }
    Figure::ALL
        .into_iter()
        .filter(|f| f.fits(field_type))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Catalog {
    pub fields: Vec<CatalogField>,
    /// The company's pipelines and their stages (what a rule's trigger may name).
    pub pipelines: Vec<PipelineView>,
}

impl Catalog {
    /// Whether every field the settings name is in this catalog (else it may be older than a
    /// field just added in Pipedrive: the save reads the catalog again).
    pub fn knows_all(&self, settings: &Settings) -> bool {
        let m = &settings.mapping;
        let refs = [
            Some(&m.to),
            m.address.as_ref(),
            m.email.as_ref(),
            m.tax_id.as_ref(),
        ];
        let mapped = refs.into_iter().flatten().all(|r| {
            self.fields
                .iter()
                .any(|f| f.entity == r.entity && f.key == r.key)
        });
        let written = settings.write_back.mapped().all(|(_, field)| {
            self.fields
                .iter()
                .any(|f| f.entity == FieldEntity::Deal && f.key == field.key)
        });
        mapped && written
    }
}

const TEXT_TYPES: &[&str] = &["varchar", "varchar_auto", "text", "autocomplete"];
const NUMBER_TYPES: &[&str] = &["double", "int"];

/// Which slots a field of this type may fill. Emails come from the person's email field or a
/// text field; addresses from address fields or text; tax ids from text or number fields.
pub fn fits(entity: FieldEntity, key: &str, field_type: &str) -> Vec<Slot> {
    let text = TEXT_TYPES.contains(&field_type);
    let mut out = Vec::new();
    if text {
        out.push(Slot::To);
    }
    if text || field_type == "address" {
        out.push(Slot::Address);
    }
    let person_email = entity == FieldEntity::Person && matches!(key, "emails" | "email");
    if person_email || (text && !matches!(key, "name" | "title")) || field_type == "email" {
        out.push(Slot::Email);
    }
    if text || NUMBER_TYPES.contains(&field_type) {
        out.push(Slot::TaxId);
    }
    out
}

fn field_of(entity: FieldEntity, definition: FieldDefinition) -> CatalogField {
    let options = definition
        .options
        .iter()
        .flatten()
        .map(|o| CatalogOption {
            id: serde_json::to_value(&o.id).unwrap_or(serde_json::Value::Null),
            label: o.label.clone(),
        })
        .collect();
    CatalogField {
        figures: figures_of(entity, definition.is_custom_field, &definition.field_type),
        options,
        fits: fits(entity, &definition.field_code, &definition.field_type),
        entity,
        key: definition.field_code,
        name: definition.field_name,
        field_type: definition.field_type,
        custom: definition.is_custom_field,
    }
}

/// Per-company cache of catalogs.
#[derive(Debug, Default)]
pub struct CatalogCache {
    entries: Mutex<HashMap<u64, (Instant, Arc<Catalog>)>>,
}

impl CatalogCache {
    /// The company's catalog: cached, unless `fresh` or older than [`CATALOG_TTL`].
    pub async fn get(
        &self,
        app: &App,
        tenant: Tenant,
        fresh: bool,
    ) -> Result<Arc<Catalog>, ApiError> {
        let company = tenant.company_id.0;
        if !fresh
            && let Some((at, catalog)) = self.lock().get(&company)
            && at.elapsed() < CATALOG_TTL
        {
            return Ok(catalog.clone());
        }
        let catalog = Arc::new(load(app, tenant).await?);
        self.lock()
            .insert(company, (Instant::now(), catalog.clone()));
        Ok(catalog)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Instant, Arc<Catalog>)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reads the three field catalogs and the pipelines in parallel with the caller's Pipedrive
/// access.
async fn load(app: &App, tenant: Tenant) -> Result<Catalog, ApiError> {
    let pipedrive = app.pipedrive_of(tenant);
    let (deal, org, person, pipelines) = futures::join!(
        pipedrive.fields(FieldCatalog::Deal),
        pipedrive.fields(FieldCatalog::Organization),
        pipedrive.fields(FieldCatalog::Person),
        load_pipelines(app, tenant)
    );
    let mut fields = Vec::new();
    for (entity, list) in [
        (FieldEntity::Deal, deal?),
        (FieldEntity::Organization, org?),
        (FieldEntity::Person, person?),
    ] {
        fields.extend(list.into_iter().map(|d| field_of(entity, d)));
    }
    Ok(Catalog {
        fields,
        pipelines: pipelines?.pipelines,
    })
}

fn entity_name(entity: FieldEntity) -> &'static str {
    match entity {
        FieldEntity::Deal => "deal",
        FieldEntity::Organization => "organization",
        FieldEntity::Person => "person",
    }
}

/// Every problem of a mapping against the company's real fields.
pub fn check_mapping(mapping: &FieldMapping, catalog: &Catalog) -> Vec<FieldError> {
    let slots: [(&str, Slot, Option<&FieldRef>); 4] = [
        ("settings.mapping.to", Slot::To, Some(&mapping.to)),
        (
            "settings.mapping.address",
            Slot::Address,
            mapping.address.as_ref(),
        ),
        (
            "settings.mapping.email",
            Slot::Email,
            mapping.email.as_ref(),
        ),
        (
            "settings.mapping.tax_id",
            Slot::TaxId,
            mapping.tax_id.as_ref(),
        ),
    ];
    let mut errors = Vec::new();
    for (path, slot, field) in slots {
        let Some(field) = field else {
            continue;
        };
        match catalog
            .fields
            .iter()
            .find(|f| f.entity == field.entity && f.key == field.key)
        {
            None => errors.push(FieldError::new(
                path,
                format!(
                    "there is no {} field `{}` in your Pipedrive company",
                    entity_name(field.entity),
                    field.key
                ),
            )),
            Some(found) if !found.fits.contains(&slot) => errors.push(FieldError::new(
                path,
                format!(
                    "the {} field \"{}\" is a {} field and cannot fill this part of the invoice",
                    entity_name(field.entity),
                    found.name,
                    found.field_type
                ),
            )),
            Some(_) => {}
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(entity: FieldEntity, key: &str, name: &str, field_type: &str) -> CatalogField {
        CatalogField {
            entity,
            key: key.into(),
            name: name.into(),
            field_type: field_type.into(),
            custom: key.len() == 40,
            fits: fits(entity, key, field_type),
            figures: figures_of(entity, key.len() == 40, field_type),
            options: Vec::new(),
        }
    }

    fn catalog() -> Catalog {
        Catalog {
            fields: vec![
                field(FieldEntity::Organization, "name", "Name", "varchar"),
                field(FieldEntity::Organization, "address", "Address", "address"),
                field(FieldEntity::Person, "emails", "Email", "varchar"),
                field(FieldEntity::Deal, "value", "Value", "monetary"),
                field(
                    FieldEntity::Deal,
                    "1111111111222222222233333333334444444444",
                    "Amount",
                    "double",
                ),
                field(
                    FieldEntity::Organization,
                    "5555555555666666666677777777778888888888",
                    "Tax ID",
                    "varchar",
                ),
            ],
            pipelines: Vec::new(),
        }
    }

    #[test]
    fn the_default_mapping_fits_the_standard_fields() {
        assert!(check_mapping(&FieldMapping::default(), &catalog()).is_empty());
    }

    #[test]
    fn every_offending_slot_is_reported() {
        let mapping = FieldMapping {
            to: FieldRef::new(FieldEntity::Deal, "value"),
            address: Some(FieldRef::new(FieldEntity::Person, "nope")),
            email: Some(FieldRef::new(
                FieldEntity::Deal,
                "1111111111222222222233333333334444444444",
            )),
            tax_id: Some(FieldRef::new(
                FieldEntity::Organization,
                "5555555555666666666677777777778888888888",
            )),
        };
        let errors = check_mapping(&mapping, &catalog());
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "settings.mapping.to",
                "settings.mapping.address",
                "settings.mapping.email"
            ]
        );
        assert!(
            errors[2].message.contains("double"),
            "{}",
            errors[2].message
        );
        assert!(
            errors[1].message.contains("no person field"),
            "{}",
            errors[1].message
        );
    }

    #[test]
    fn slot_fitting() {
        use FieldEntity::*;
        assert!(fits(Person, "emails", "varchar").contains(&Slot::Email));
        assert!(!fits(Deal, "x", "double").contains(&Slot::Email));
        assert!(!fits(Organization, "name", "varchar").contains(&Slot::Email));
        assert!(fits(Organization, "address", "address").contains(&Slot::Address));
        assert!(!fits(Organization, "address", "address").contains(&Slot::To));
        assert!(fits(Deal, "x", "double").contains(&Slot::TaxId));
        assert!(fits(Deal, "x", "enum").is_empty());
    }
}
