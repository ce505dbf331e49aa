//! Resolving the company's field mapping against a deal, its organisation and its person: what
//! pre-fills the customer block of a new invoice. Pure: the records are read elsewhere.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{FieldEntity, FieldMapping, FieldRef};
use pipedrive_wire::model::{Address, CustomFields, Deal, Organization, Person};

/// A postal address in QuickBooks' terms, built from Pipedrive's address components.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostalAddress {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    /// State, province or region code.
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    /// The address as the user typed it (used when there are no components).
    pub formatted: Option<String>,
}

impl PostalAddress {
    pub fn is_empty(&self) -> bool {
        self == &PostalAddress::default()
    }

    /// From Pipedrive's address object: components when present, else the typed text.
    pub fn from_pipedrive(address: &Address) -> Self {
        let clean = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let street = match (clean(&address.street_number), clean(&address.route)) {
            (Some(n), Some(r)) => Some(format!("{n} {r}")),
            (None, Some(r)) => Some(r),
            (Some(n), None) => Some(n),
            (None, None) => None,
        };
        let formatted = clean(&address.formatted_address).or_else(|| clean(&address.value));
        let mut out = PostalAddress {
            line1: street,
            line2: clean(&address.subpremise),
            city: clean(&address.locality),
            region: clean(&address.admin_area_level_1),
            postal_code: clean(&address.postal_code),
            country: clean(&address.country),
            formatted,
        };
        if out.line1.is_none() && out.city.is_none() && out.postal_code.is_none() {
            // No components: the typed text is the first line.
            out.line1 = out.formatted.clone();
        }
        out
    }

    fn from_text(text: String) -> Self {
        PostalAddress {
            line1: Some(text.clone()),
            formatted: Some(text),
            ..PostalAddress::default()
        }
    }

    /// One line for display.
    pub fn one_line(&self) -> String {
        if let Some(f) = &self.formatted {
            return f.clone();
        }
        [
            &self.line1,
            &self.line2,
            &self.city,
            &self.region,
            &self.postal_code,
            &self.country,
        ]
        .iter()
        .filter_map(|p| p.as_deref())
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// What a mapped field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Text(String),
    Address(PostalAddress),
}

impl FieldValue {
    pub fn text(&self) -> String {
        match self {
            FieldValue::Text(t) => t.clone(),
            FieldValue::Address(a) => a.one_line(),
        }
    }
}

/// The records a deal's invoice is pre-filled from.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    pub deal: &'a Deal,
    pub organization: Option<&'a Organization>,
    pub person: Option<&'a Person>,
}

/// The pre-filled customer block of a new invoice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerBlock {
    /// Recipient name; falls back to the person's, then the organisation's name, then the deal
    /// title when the mapped field is empty.
    pub name: String,
    pub address: Option<PostalAddress>,
    pub email: Option<String>,
    pub tax_id: Option<String>,
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn custom(fields: &CustomFields, key: &str) -> Option<FieldValue> {
    match fields.get(key)? {
        Value::Object(map) if looks_like_address(map) => {
            let address: Address = serde_json::from_value(Value::Object(map.clone())).ok()?;
            let postal = PostalAddress::from_pipedrive(&address);
            (!postal.is_empty()).then_some(FieldValue::Address(postal))
        }
        _ => fields.text(key).map(FieldValue::Text),
    }
}

fn looks_like_address(map: &serde_json::Map<String, Value>) -> bool {
    [
        "locality",
        "route",
        "postal_code",
        "country",
        "formatted_address",
    ]
    .iter()
    .any(|k| map.contains_key(*k))
}

/// Resolves one field reference; `None` when the record is missing or the field is empty.
pub fn resolve(field: &FieldRef, sources: Sources<'_>) -> Option<FieldValue> {
    let key = field.key.as_str();
    match field.entity {
        FieldEntity::Deal => {
            let deal = sources.deal;
            match key {
                "title" => non_empty(&deal.title).map(FieldValue::Text),
                "value" => deal.value.map(|v| FieldValue::Text(v.to_string())),
                "currency" => deal
                    .currency
                    .as_deref()
                    .and_then(non_empty)
                    .map(FieldValue::Text),
                _ => custom(&deal.custom_fields, key),
            }
        }
        FieldEntity::Organization => {
            let org = sources.organization?;
            match key {
                "name" => non_empty(&org.name).map(FieldValue::Text),
                "address" => org
                    .address
                    .as_ref()
                    .map(PostalAddress::from_pipedrive)
                    .filter(|a| !a.is_empty())
                    .map(FieldValue::Address),
                "website" => org
                    .website
                    .as_deref()
                    .and_then(non_empty)
                    .map(FieldValue::Text),
                _ => custom(&org.custom_fields, key),
            }
        }
        FieldEntity::Person => {
            let person = sources.person?;
            match key {
                "name" => non_empty(&person.name).map(FieldValue::Text),
                "emails" | "email" => person
                    .primary_email()
                    .map(|e| FieldValue::Text(e.to_string())),
                "phones" | "phone" => person
                    .phones
                    .iter()
                    .find(|p| p.primary && !p.value.trim().is_empty())
                    .or_else(|| person.phones.iter().find(|p| !p.value.trim().is_empty()))
                    .map(|p| FieldValue::Text(p.value.trim().to_string())),
                "postal_address" => person
                    .postal_address
                    .as_ref()
                    .map(PostalAddress::from_pipedrive)
                    .filter(|a| !a.is_empty())
                    .map(FieldValue::Address),
                _ => custom(&person.custom_fields, key),
            }
        }
    }
}

/// A plausible email address (one `@`, something on both sides, a dot in the domain, no spaces).
pub fn is_plausible_email(s: &str) -> bool {
    let s = s.trim();
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && s.len() <= 254
}

/// Fills the customer block from the mapping.
pub fn customer_block(mapping: &FieldMapping, sources: Sources<'_>) -> CustomerBlock {
    let name = resolve(&mapping.to, sources)
        .map(|v| v.text())
        .or_else(|| sources.person.and_then(|p| non_empty(&p.name)))
        .or_else(|| sources.organization.and_then(|o| non_empty(&o.name)))
        .unwrap_or_else(|| sources.deal.title.trim().to_string());
    let address = mapping
        .address
        .as_ref()
        .and_then(|f| resolve(f, sources))
        .map(|v| match v {
            FieldValue::Address(a) => a,
            FieldValue::Text(t) => PostalAddress::from_text(t),
        });
    let email = mapping
        .email
        .as_ref()
        .and_then(|f| resolve(f, sources))
        .map(|v| v.text())
        .filter(|e| is_plausible_email(e));
    let tax_id = mapping
        .tax_id
        .as_ref()
        .and_then(|f| resolve(f, sources))
        .map(|v| v.text());
    CustomerBlock {
        name,
        address,
        email,
        tax_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TAX_KEY: &str = "0123456789abcdef0123456789abcdef01234567";
    const ADDR_KEY: &str = "aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd";

    fn deal() -> Deal {
        serde_json::from_value(json!({
            "id": 42, "title": "Big deal", "value": 1250.5, "currency": "EUR",
            "org_id": 7, "person_id": 9,
            "custom_fields": {
                TAX_KEY: "NO 999 888 777 MVA",
                "1111111111222222222233333333334444444444": 17,
                "5555555555666666666677777777778888888888": {"value": 99.5, "currency": "EUR"},
                ADDR_KEY: {"value": "Karl Johans gate 1, 0154 Oslo", "route": "Karl Johans gate",
                           "street_number": "1", "locality": "Oslo", "postal_code": "0154", "country": "Norway"},
                "9999999999999999999999999999999999999999": ""
            }
        }))
        .unwrap()
    }

    fn org() -> Organization {
        serde_json::from_value(json!({
            "id": 7, "name": "Acme AS",
            "address": {"value": "Storgata 5, 0155 Oslo, Norway", "street_number": "5",
                        "route": "Storgata", "locality": "Oslo", "postal_code": "0155",
                        "country": "Norway", "admin_area_level_1": "Oslo"},
            "custom_fields": {TAX_KEY: {"value": "NO 123"}}
        }))
        .unwrap()
    }

    fn person(emails: serde_json::Value) -> Person {
        serde_json::from_value(json!({"id": 9, "name": "Kari Nordmann", "emails": emails,
            "phones": [{"value": "", "primary": true}, {"value": "+47 22 00 00 00", "primary": false}]}))
        .unwrap()
    }

    #[test]
    fn default_mapping_fills_name_address_and_primary_email() {
        let (d, o) = (deal(), org());
        let p = person(json!([
            {"value": "old@acme.no", "primary": false},
            {"value": "kari@acme.no", "primary": true}
        ]));
        let block = customer_block(
            &FieldMapping::default(),
            Sources {
                deal: &d,
                organization: Some(&o),
                person: Some(&p),
            },
        );
        assert_eq!(block.name, "Acme AS");
        assert_eq!(block.email.as_deref(), Some("kari@acme.no"));
        let address = block.address.unwrap();
        assert_eq!(address.line1.as_deref(), Some("5 Storgata"));
        assert_eq!(address.city.as_deref(), Some("Oslo"));
        assert_eq!(address.postal_code.as_deref(), Some("0155"));
        assert_eq!(address.country.as_deref(), Some("Norway"));
        assert_eq!(block.tax_id, None);
    }

    #[test]
    fn every_field_type_resolves() {
        let (d, o) = (deal(), org());
        let p = person(json!([{"value": "kari@acme.no", "primary": true}]));
        let s = Sources {
            deal: &d,
            organization: Some(&o),
            person: Some(&p),
        };
        let text = |e, k: &str| resolve(&FieldRef::new(e, k), s).map(|v| v.text());
        assert_eq!(
            text(FieldEntity::Deal, "title").as_deref(),
            Some("Big deal")
        );
        assert_eq!(text(FieldEntity::Deal, "value").as_deref(), Some("1250.5"));
        assert_eq!(
            text(FieldEntity::Deal, TAX_KEY).as_deref(),
            Some("NO 999 888 777 MVA")
        );
        assert_eq!(
            text(
                FieldEntity::Deal,
                "1111111111222222222233333333334444444444"
            )
            .as_deref(),
            Some("17"),
            "numeric custom field"
        );
        assert_eq!(
            text(
                FieldEntity::Deal,
                "5555555555666666666677777777778888888888"
            )
            .as_deref(),
            Some("99.5"),
            "monetary custom field reads its value"
        );
        assert_eq!(
            text(
                FieldEntity::Deal,
                "9999999999999999999999999999999999999999"
            ),
            None,
            "empty"
        );
        assert_eq!(
            text(FieldEntity::Organization, TAX_KEY).as_deref(),
            Some("NO 123"),
            "wrapped value"
        );
        assert_eq!(
            text(FieldEntity::Person, "phone").as_deref(),
            Some("+47 22 00 00 00")
        );
        match resolve(&FieldRef::new(FieldEntity::Deal, ADDR_KEY), s) {
            Some(FieldValue::Address(a)) => {
                assert_eq!(a.line1.as_deref(), Some("1 Karl Johans gate"));
                assert_eq!(a.city.as_deref(), Some("Oslo"));
            }
            other => panic!("address custom field: {other:?}"),
        }
        assert_eq!(text(FieldEntity::Deal, "no-such-field"), None);
    }

    #[test]
    fn missing_org_or_person_gives_none_and_name_falls_back() {
        let d = deal();
        let p = person(json!([]));
        let s = Sources {
            deal: &d,
            organization: None,
            person: Some(&p),
        };
        assert_eq!(
            resolve(&FieldRef::new(FieldEntity::Organization, "name"), s),
            None
        );
        let block = customer_block(&FieldMapping::default(), s);
        assert_eq!(block.name, "Kari Nordmann", "falls back to the person");
        assert_eq!(block.email, None, "person without email");
        assert_eq!(block.address, None);
        let nobody = Sources {
            deal: &d,
            organization: None,
            person: None,
        };
        assert_eq!(
            customer_block(&FieldMapping::default(), nobody).name,
            "Big deal"
        );
    }

    #[test]
    fn custom_field_tax_id_and_text_address() {
        let (d, o) = (deal(), org());
        let mapping = FieldMapping {
            tax_id: Some(FieldRef::new(FieldEntity::Deal, TAX_KEY)),
            address: Some(FieldRef::new(FieldEntity::Deal, "title")),
            ..FieldMapping::default()
        };
        let block = customer_block(
            &mapping,
            Sources {
                deal: &d,
                organization: Some(&o),
                person: None,
            },
        );
        assert_eq!(block.tax_id.as_deref(), Some("NO 999 888 777 MVA"));
        assert_eq!(block.address.unwrap().line1.as_deref(), Some("Big deal"));
    }

    #[test]
    fn an_address_without_components_uses_the_typed_text() {
        let address = Address {
            value: Some("Somewhere 1, Town".into()),
            ..Address::default()
        };
        let postal = PostalAddress::from_pipedrive(&address);
        assert_eq!(postal.line1.as_deref(), Some("Somewhere 1, Town"));
        assert!(PostalAddress::from_pipedrive(&Address::default()).is_empty());
    }

    #[test]
    fn email_plausibility() {
        for ok in ["a@b.co", "kari.nordmann+x@acme.no"] {
            assert!(is_plausible_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@.co", "a@b.", "a b@c.de", "a@b@c.de",
        ] {
            assert!(!is_plausible_email(bad), "{bad}");
        }
    }
}
