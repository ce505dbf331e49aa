//! The simulator's data: companies, users and their CRM records, keyed by company so one
//! company never sees another's ids.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::wire::pipedrive::model::{
    Deal, DealDiscount, DealProduct, FieldDefinition, FieldOption, Note, OptionId, Organization,
    Person, Pipeline, Product, Stage, UserAccess, UserLanguage, UserMe,
};

use super::SimError;

/// A Pipedrive company (account).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Company {
    pub id: u64,
    pub name: String,
    /// The subdomain (`acme` in `acme.pipedrive.com`).
    pub domain: String,
    /// ISO 3166 alpha-2.
    pub country: String,
    pub default_currency: String,
    pub industry: String,
}

/// A user of a company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub company_id: u64,
    pub name: String,
    pub email: String,
    pub is_admin: bool,
    pub locale: String,
    pub timezone_name: String,
    pub timezone_offset: String,
}

/// Which field catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldEntity {
    Deal,
    Organization,
    Person,
}

impl FieldEntity {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldEntity::Deal => "deal",
            FieldEntity::Organization => "organization",
            FieldEntity::Person => "person",
        }
    }
}

/// A custom field to add to a catalog (control API body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCustomField {
    pub field_name: String,
    /// `varchar`, `text`, `enum`, `monetary`, …
    #[serde(default = "default_field_type")]
    pub field_type: String,
    /// Option labels for `enum`/`set` fields (ids are assigned from 1).
    #[serde(default)]
    pub options: Vec<String>,
    /// Use this key instead of a generated hash.
    #[serde(default)]
    pub field_code: Option<String>,
}

fn default_field_type() -> String {
    "varchar".into()
}

/// A note as posted, with the company it was posted in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostedNote {
    pub company_id: u64,
    pub note: Note,
}

/// All simulated records.
#[derive(Debug, Clone, Default)]
pub struct Store {
    pub companies: BTreeMap<u64, Company>,
    pub users: BTreeMap<(u64, u64), User>,
    pub deals: BTreeMap<(u64, u64), Deal>,
    pub deal_products: BTreeMap<(u64, u64), Vec<DealProduct>>,
    pub deal_discounts: BTreeMap<(u64, u64), Vec<DealDiscount>>,
    pub organizations: BTreeMap<(u64, u64), Organization>,
    pub persons: BTreeMap<(u64, u64), Person>,
    pub products: BTreeMap<(u64, u64), Product>,
    pub fields: BTreeMap<(u64, FieldEntity), Vec<FieldDefinition>>,
    pub notes: Vec<PostedNote>,
    pub pipelines: BTreeMap<(u64, u64), Pipeline>,
    pub stages: BTreeMap<(u64, u64), Stage>,
}

/// A deterministic 40-character field key, like Pipedrive's custom-field hashes.
pub fn field_hash(company_id: u64, entity: FieldEntity, name: &str) -> String {
    let digest = Sha256::digest(format!("{company_id}:{}:{name}", entity.as_str()));
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex.truncate(40);
    hex
}

impl Store {
    pub fn company(&self, company_id: u64) -> Result<&Company, SimError> {
        self.companies
            .get(&company_id)
            .ok_or(SimError::UnknownCompany(company_id))
    }

    pub fn user(&self, company_id: u64, user_id: u64) -> Result<&User, SimError> {
        self.users
            .get(&(company_id, user_id))
            .ok_or(SimError::UnknownUser {
                company_id,
                user_id,
            })
    }

    /// Number of users (seats) of a company.
    pub fn seats(&self, company_id: u64) -> u64 {
        self.users.keys().filter(|(c, _)| *c == company_id).count() as u64
    }

    /// `users/me` for a user.
    pub fn user_me(&self, company_id: u64, user_id: u64) -> Result<UserMe, SimError> {
        let company = self.company(company_id)?;
        let user = self.user(company_id, user_id)?;
        let access = ["sales", "global", "account_settings"]
            .iter()
            .enumerate()
            .map(|(i, app)| UserAccess {
                app: Some((*app).to_string()),
                admin: Some(user.is_admin),
                permission_set_id: Some(format!(
                    "00000000-0000-4000-8000-{:012}",
                    company_id * 1000 + i as u64
                )),
            })
            .collect();
        let (language, country) = user.locale.split_once('_').unwrap_or(("en", "US"));
        Ok(UserMe {
            id: user.id,
            name: Some(user.name.clone()),
            default_currency: Some(company.default_currency.clone()),
            locale: Some(user.locale.clone()),
            lang: Some(1),
            email: Some(user.email.clone()),
            phone: Some(String::new()),
            activated: Some(true),
            last_login: Some("2026-01-05 08:00:00".into()),
            created: Some("2025-01-02 09:00:00".into()),
            modified: Some("2026-01-05 08:00:00".into()),
            has_created_company: Some(user.is_admin),
            access,
            active_flag: Some(true),
            timezone_name: Some(user.timezone_name.clone()),
            timezone_offset: Some(user.timezone_offset.clone()),
            role_id: Some(1),
            icon_url: Some(format!(
                "https://sim.invalid/avatars/{company_id}-{}.png",
                user.id
            )),
            is_you: Some(true),
            is_deleted: Some(false),
            is_admin: None,
            company_id,
            company_name: Some(company.name.clone()),
            company_domain: Some(company.domain.clone()),
            company_country: Some(company.country.clone()),
            company_industry: Some(company.industry.clone()),
            language: Some(UserLanguage {
                language_code: Some(language.to_string()),
                country_code: Some(country.to_string()),
            }),
        })
    }

    pub fn upsert_deal(&mut self, company_id: u64, deal: Deal) -> Result<(), SimError> {
        self.company(company_id)?;
        self.deals.insert((company_id, deal.id), deal);
        Ok(())
    }

    fn deal_exists(&self, company_id: u64, deal_id: u64) -> Result<(), SimError> {
        self.company(company_id)?;
        if self.deals.contains_key(&(company_id, deal_id)) {
            Ok(())
        } else {
            Err(SimError::UnknownDeal {
                company_id,
                deal_id,
            })
        }
    }

    pub fn add_deal_product(
        &mut self,
        company_id: u64,
        deal_id: u64,
        mut line: DealProduct,
    ) -> Result<(), SimError> {
        self.deal_exists(company_id, deal_id)?;
        line.deal_id = Some(deal_id);
        let lines = self.deal_products.entry((company_id, deal_id)).or_default();
        lines.retain(|l| l.id != line.id);
        lines.push(line);
        lines.sort_by_key(|l| l.id);
        Ok(())
    }

    pub fn add_deal_discount(
        &mut self,
        company_id: u64,
        deal_id: u64,
        mut discount: DealDiscount,
    ) -> Result<(), SimError> {
        self.deal_exists(company_id, deal_id)?;
        discount.deal_id = Some(deal_id);
        let discounts = self
            .deal_discounts
            .entry((company_id, deal_id))
            .or_default();
        discounts.retain(|d| d.id != discount.id);
        discounts.push(discount);
        Ok(())
    }

    pub fn upsert_organization(
        &mut self,
        company_id: u64,
        org: Organization,
    ) -> Result<(), SimError> {
        self.company(company_id)?;
        self.organizations.insert((company_id, org.id), org);
        Ok(())
    }

    pub fn upsert_person(&mut self, company_id: u64, person: Person) -> Result<(), SimError> {
        self.company(company_id)?;
        self.persons.insert((company_id, person.id), person);
        Ok(())
    }

    pub fn upsert_product(&mut self, company_id: u64, product: Product) -> Result<(), SimError> {
        self.company(company_id)?;
        self.products.insert((company_id, product.id), product);
        Ok(())
    }

    pub fn add_custom_field(
        &mut self,
        company_id: u64,
        entity: FieldEntity,
        field: NewCustomField,
    ) -> Result<FieldDefinition, SimError> {
        self.company(company_id)?;
        if field.field_name.trim().is_empty() {
            return Err(SimError::Invalid("field_name must not be empty".into()));
        }
        let code = field
            .field_code
            .unwrap_or_else(|| field_hash(company_id, entity, &field.field_name));
        let catalog = self.fields.entry((company_id, entity)).or_default();
        if catalog.iter().any(|f| f.field_code == code) {
            return Err(SimError::Invalid(format!("field {code} already exists")));
        }
        let options = (!field.options.is_empty()).then(|| {
            field
                .options
                .iter()
                .enumerate()
                .map(|(i, label)| FieldOption {
                    id: OptionId::Int(i as i64 + 1),
                    label: label.clone(),
                    color: None,
                })
                .collect()
        });
        let definition = custom_field(entity, &code, &field.field_name, &field.field_type, options);
        catalog.push(definition.clone());
        Ok(definition)
    }

    /// Appends a note and returns it as the API answers.
    pub fn add_note(&mut self, company_id: u64, note: Note) -> Note {
        self.notes.push(PostedNote {
            company_id,
            note: note.clone(),
        });
        note
    }

    pub fn next_note_id(&self) -> u64 {
        self.notes.len() as u64 + 1
    }
}

/// The `ui_visibility` / `important_fields` / `required_fields` blocks of a field, in the shape
/// the published examples use for that catalog.
pub fn field_extras(entity: FieldEntity, is_custom: bool) -> (Value, Value, Value) {
    match entity {
        FieldEntity::Deal => (
            json!({
                "add_visible_flag": true,
                "details_visible_flag": true,
                "projects_detail_visible_flag": !is_custom,
                "show_in_pipelines": {"show_in_all": true, "pipeline_ids": []}
            }),
            json!({"enabled": false, "stage_ids": []}),
            json!({"enabled": false, "stage_ids": [], "statuses": {}}),
        ),
        FieldEntity::Organization | FieldEntity::Person => (
            json!({
                "add_visible_flag": true,
                "details_visible_flag": true,
                "org_detail_visible_flag": true,
                "person_detail_visible_flag": true,
                "deal_detail_visible_flag": !is_custom,
                "show_in_add_deal_dialog": {"show": !is_custom, "order": 1},
                "show_in_add_person_dialog": {"show": true, "order": 1}
            }),
            json!({"enabled": false, "stage_ids": []}),
            json!({"enabled": false}),
        ),
    }
}

/// A field definition (standard when `code` is not a hash).
pub fn field(
    entity: FieldEntity,
    code: &str,
    name: &str,
    field_type: &str,
    is_custom: bool,
    options: Option<Vec<FieldOption>>,
    subfields: Option<Vec<shared::wire::pipedrive::model::Subfield>>,
) -> FieldDefinition {
    let (ui_visibility, important_fields, required_fields) = field_extras(entity, is_custom);
    FieldDefinition {
        field_name: name.into(),
        field_code: code.into(),
        // The published deal-field examples carry a description; the other catalogs' do not.
        description: (entity == FieldEntity::Deal).then(|| format!("The {name} of the deal")),
        field_type: field_type.into(),
        options,
        subfields,
        is_custom_field: is_custom,
        is_optional_response_field: false,
        ui_visibility: Some(ui_visibility),
        important_fields: Some(important_fields),
        required_fields: Some(required_fields),
    }
}

pub fn custom_field(
    entity: FieldEntity,
    code: &str,
    name: &str,
    field_type: &str,
    options: Option<Vec<FieldOption>>,
) -> FieldDefinition {
    field(entity, code, name, field_type, true, options, None)
}
