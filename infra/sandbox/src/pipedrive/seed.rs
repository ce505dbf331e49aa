//! Deterministic seed data. Ids overlap between the companies on purpose (deal 1, organization 1,
//! person 1, product 1 exist in both) so tenant isolation can be tested.
//!
//! **Companies and users**
//!
//! | company | id | currency | domain | users (admin first) |
//! |---|---|---|---|---|
//! | Acme Analytics GmbH (DE) | [`COMPANY_A`] = 1001 | EUR | `acme-analytics` | 101 Anna Admin (admin), 102 Ben Berger, 103 Clara Costa |
//! | Bolt Logistics Inc. (US) | [`COMPANY_B`] = 2002 | USD | `bolt-logistics` | 201 Dana Diaz (admin), 202 Eli Evans, 203 Finn Foster |
//!
//! **Deals of company A (1001)**
//!
//! | deal | currency | org / person | tax | products | shows |
//! |---|---|---|---|---|---|
//! | 1 "Website relaunch" | EUR | 1 / 1 | 19 % exclusive | 101: 10 × 120.00, 10 % off; 102: 1 × 2500.00, 200.00 off (amount); 103: 12 × 49.90 monthly; 104: disabled (`is_enabled: false`) 1 × 300.00 | percentage and amount discounts, disabled line, deal discounts 5 % + 100.00; custom fields PO number and priority |
//! | 2 "UK expansion workshop" | GBP | 2 / 2 | 20 % inclusive | 201: 2 × 900.00, 5 % off; 202: 3.5 × 150.00 | inclusive tax, fractional quantity, deal discount 50.00 (amount); person with emails but none primary |
//! | 3 "Conference merchandise" | USD | 4 / 4 | none | 301–420: 120 lines (more than one default page of 100) | pagination, tax method `none` |
//! | 4 "Retainer (no products yet)" | EUR | 3 / 3 | – | none | deal without products; organization without address; person without email |
//! | 5 "Private workshop" | EUR | – / 5 | 19 % exclusive | 501: 1 × 900.00 | deal without an organization |
//!
//! **Deals of company B (2002)**
//!
//! | deal | currency | org / person | tax | products | shows |
//! |---|---|---|---|---|---|
//! | 1 "Fleet tracking rollout" | USD | 1 / 1 | 8.25 % exclusive | 601: 25 × 199.00, 2.5 % off; 602: 25 × 29.00 monthly | same id as A's deal 1 (isolation) |
//! | 2 "Warehouse sensors" | USD | 1 / – | – | none | deal without a person |
//!
//! **Organizations** — A: 1 Müller Maschinenbau AG (Berlin address, tax id `DE811907980`),
//! 2 Thames Digital Ltd (London address, tax id `GB123456789`), 3 Nordlicht Studio (no address,
//! no tax id), 4 Brooklyn Bakers LLC (New York address, no tax id). B: 1 Bolt Freight Co. (Austin
//! address, tax id `12-3456789`). The tax id is the custom field [`ORG_TAX_ID_FIELD_A`] /
//! [`ORG_TAX_ID_FIELD_B`] (plain text value).
//!
//! **Persons** — A: 1 Max Mustermann (two emails, the second primary; Contact Sync fields set),
//! 2 Olivia Smith (two emails, none primary), 3 Jonas Berg (no email), 4 Sam Carter (one primary),
//! 5 Lena Vogel (one primary, no organization). B: 1 Riley Chen (one primary).
//!
//! **Products** — A: 1 Consulting hour, 2 Design package, 3 Cloud hosting (monthly), 4 Training
//! day, 5 Legacy add-on, 6 Sticker pack. B: 1 Fleet tracker, 2 Support plan.
//!
//! **Pipelines and stages** — A: pipeline 1 "Sales" (stages 1 Qualified, 2 Contact made,
//! 3 Proposal made, 4 Negotiations started), pipeline 2 "Renewals" (stages 5 Up for renewal,
//! 6 Renewal agreed). B: pipeline 1 "Fleet sales" (stages 1 Lead in, 2 Demo, 3 Contract sent).
//! Every seeded deal is open in pipeline 1, stage 1 (ids overlap between the companies).
//!
//! **Custom fields** — deal fields of A: [`DEAL_PO_FIELD_A`] (varchar), [`DEAL_PRIORITY_FIELD_A`]
//! (enum Low/Medium/High); organization fields: the tax-id fields above; person fields of A:
//! [`PERSON_LANGUAGE_FIELD_A`] (varchar).

use rust_decimal::Decimal;
use serde_json::json;
use shared::wire::pipedrive::model::{
    Address, ContactDetail, CustomFields, Deal, DealDiscount, DealProduct, DealStatus,
    DiscountType, FieldOption, OptionId, Organization, Person, Pipeline, Product, ProductPrice,
    Stage, Subfield, TaxMethod,
};

use super::store::{Company, FieldEntity, Store, User, custom_field, field};

pub const COMPANY_A: u64 = 1001;
pub const COMPANY_B: u64 = 2002;
pub const USER_A_ADMIN: u64 = 101;
pub const USER_A_MEMBER: u64 = 102;
pub const USER_A_MEMBER_2: u64 = 103;
pub const USER_B_ADMIN: u64 = 201;
pub const USER_B_MEMBER: u64 = 202;
pub const USER_B_MEMBER_2: u64 = 203;

/// Organization custom field "Tax ID" of company A.
pub const ORG_TAX_ID_FIELD_A: &str = "5d3b1e0c9a7f4b2e8c6d1a0f3e5b7c9d2a4f6e81";
/// Organization custom field "EIN" (tax id) of company B.
pub const ORG_TAX_ID_FIELD_B: &str = "c4a8e2b6d0f4a8c2e6b0d4f8a2c6e0b4d8f2a6c1";
/// Deal custom field "PO number" of company A.
pub const DEAL_PO_FIELD_A: &str = "8e2f4a6c1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f02";
/// Deal custom field "Priority" (enum) of company A.
pub const DEAL_PRIORITY_FIELD_A: &str = "0b7e5c3a1f9d8b6e4c2a0f8d6b4e2c0a9f7d5b3e";
/// Person custom field "Invoice language" of company A.
pub const PERSON_LANGUAGE_FIELD_A: &str = "f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4e";

/// Deal with many products (more than one default page).
pub const DEAL_MANY_PRODUCTS: u64 = 3;
/// Number of product lines on [`DEAL_MANY_PRODUCTS`].
pub const MANY_PRODUCTS_COUNT: u64 = 120;

const T0: &str = "2026-01-05T09:00:00Z";

fn d(value: &str) -> Decimal {
    value.parse().unwrap_or_default()
}

/// The seed store.
pub fn seed() -> Store {
    let mut store = Store::default();
    companies(&mut store);
    company_a(&mut store);
    company_b(&mut store);
    fields(&mut store);
    pipelines(&mut store);
    store
}

/// A seeded pipeline: company, pipeline id, name, stages (id, name).
type SeededPipeline = (u64, u64, &'static str, &'static [(u64, &'static str)]);

/// The pipelines and stages of both companies (see the module documentation).
fn pipelines(store: &mut Store) {
    let seeded: [SeededPipeline; 3] = [
        (
            COMPANY_A,
            1,
            "Sales",
            &[
                (1, "Qualified"),
                (2, "Contact made"),
                (3, "Proposal made"),
                (4, "Negotiations started"),
            ],
        ),
        (
            COMPANY_A,
            2,
            "Renewals",
            &[(5, "Up for renewal"), (6, "Renewal agreed")],
        ),
        (
            COMPANY_B,
            1,
            "Fleet sales",
            &[(1, "Lead in"), (2, "Demo"), (3, "Contract sent")],
        ),
    ];
    for (company, id, name, stages) in seeded {
        store.pipelines.insert(
            (company, id),
            Pipeline {
                id,
                name: name.into(),
                order_nr: Some(id as i64),
                is_deleted: false,
                add_time: Some(T0.into()),
                update_time: Some(T0.into()),
            },
        );
        for (order, (stage, stage_name)) in stages.iter().enumerate() {
            store.stages.insert(
                (company, *stage),
                Stage {
                    id: *stage,
                    name: (*stage_name).into(),
                    order_nr: Some(order as i64 + 1),
                    pipeline_id: id,
                    is_deleted: false,
                    add_time: Some(T0.into()),
                    update_time: Some(T0.into()),
                },
            );
        }
    }
}

fn companies(store: &mut Store) {
    for company in [
        Company {
            id: COMPANY_A,
            name: "Acme Analytics GmbH".into(),
            domain: "acme-analytics".into(),
            country: "DE".into(),
            default_currency: "EUR".into(),
            industry: "IT Services".into(),
        },
        Company {
            id: COMPANY_B,
            name: "Bolt Logistics Inc.".into(),
            domain: "bolt-logistics".into(),
            country: "US".into(),
            default_currency: "USD".into(),
            industry: "Logistics".into(),
        },
    ] {
        store.companies.insert(company.id, company);
    }
    let users = [
        (
            COMPANY_A,
            USER_A_ADMIN,
            "Anna Admin",
            true,
            "de_DE",
            "Europe/Berlin",
            "+01:00",
        ),
        (
            COMPANY_A,
            USER_A_MEMBER,
            "Ben Berger",
            false,
            "de_DE",
            "Europe/Berlin",
            "+01:00",
        ),
        (
            COMPANY_A,
            USER_A_MEMBER_2,
            "Clara Costa",
            false,
            "pt_PT",
            "Europe/Lisbon",
            "+00:00",
        ),
        (
            COMPANY_B,
            USER_B_ADMIN,
            "Dana Diaz",
            true,
            "en_US",
            "America/New_York",
            "-05:00",
        ),
        (
            COMPANY_B,
            USER_B_MEMBER,
            "Eli Evans",
            false,
            "en_US",
            "America/Chicago",
            "-06:00",
        ),
        (
            COMPANY_B,
            USER_B_MEMBER_2,
            "Finn Foster",
            false,
            "en_GB",
            "Europe/London",
            "+00:00",
        ),
    ];
    for (company_id, id, name, is_admin, locale, tz, offset) in users {
        let first = name.split(' ').next().unwrap_or(name).to_lowercase();
        let domain = if company_id == COMPANY_A {
            "acme-analytics.example"
        } else {
            "bolt-logistics.example"
        };
        store.users.insert(
            (company_id, id),
            User {
                id,
                company_id,
                name: name.into(),
                email: format!("{first}@{domain}"),
                is_admin,
                locale: locale.into(),
                timezone_name: tz.into(),
                timezone_offset: offset.into(),
            },
        );
    }
}

/// A deal with the common fields set.
fn deal(id: u64, title: &str, currency: &str, org_id: Option<u64>, person_id: Option<u64>) -> Deal {
    Deal {
        id,
        title: title.into(),
        creator_user_id: Some(1),
        owner_id: Some(1),
        value: Some(Decimal::ZERO),
        person_id,
        org_id,
        stage_id: Some(1),
        pipeline_id: Some(1),
        currency: Some(currency.into()),
        archive_time: None,
        add_time: Some(T0.into()),
        update_time: Some(T0.into()),
        stage_change_time: Some(T0.into()),
        status: Some(DealStatus::Open),
        is_archived: Some(false),
        is_deleted: Some(false),
        probability: None,
        lost_reason: None,
        visible_to: Some(3),
        close_time: None,
        won_time: None,
        lost_time: None,
        local_won_date: None,
        local_lost_date: None,
        local_close_date: None,
        expected_close_date: Some("2026-03-31".into()),
        label_ids: Vec::new(),
        origin: Some("ManuallyCreated".into()),
        origin_id: None,
        channel: None,
        channel_id: None,
        source_lead_id: None,
        acv: None,
        arr: None,
        mrr: None,
        custom_fields: CustomFields::default(),
    }
}

/// One product line to attach.
struct LineSeed<'a> {
    id: u64,
    product_id: u64,
    name: &'a str,
    quantity: &'a str,
    item_price: &'a str,
    discount: &'a str,
    discount_type: DiscountType,
}

/// Line total after the line discount (tax not added), as Pipedrive reports `sum`.
pub fn line_sum(
    quantity: Decimal,
    item_price: Decimal,
    discount: Decimal,
    discount_type: DiscountType,
) -> Decimal {
    let gross = quantity * item_price;
    let net = match discount_type {
        DiscountType::Percentage => gross - gross * discount / Decimal::ONE_HUNDRED,
        DiscountType::Amount => gross - discount,
    };
    net.round_dp(2)
}

/// Attaches lines to a deal (same tax for all: Pipedrive applies a deal's tax method to all its
/// products) and sets the deal value to the enabled lines' total.
fn attach(
    store: &mut Store,
    company_id: u64,
    deal: &mut Deal,
    tax: &str,
    method: TaxMethod,
    seeds: &[LineSeed<'_>],
) {
    let currency = deal.currency.clone();
    let lines: Vec<DealProduct> = seeds
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let quantity = d(s.quantity);
            let item_price = d(s.item_price);
            let discount = d(s.discount);
            DealProduct {
                id: s.id,
                sum: Some(line_sum(quantity, item_price, discount, s.discount_type)),
                tax: Some(d(tax)),
                deal_id: Some(deal.id),
                name: s.name.into(),
                product_id: Some(s.product_id),
                product_variation_id: None,
                order_nr: Some(i as i64 + 1),
                add_time: Some(T0.into()),
                update_time: Some(T0.into()),
                comments: Some(String::new()),
                currency: currency.clone(),
                discount: Some(discount),
                quantity: Some(quantity),
                item_price: Some(item_price),
                tax_method: Some(method),
                discount_type: Some(s.discount_type),
                is_enabled: true,
                billing_frequency: Some("one-time".into()),
                billing_frequency_cycles: None,
                billing_start_date: Some("2026-01-05".into()),
            }
        })
        .collect();
    deal.value = Some(
        lines
            .iter()
            .filter(|l| l.is_enabled)
            .filter_map(|l| l.sum)
            .sum(),
    );
    store.deal_products.insert((company_id, deal.id), lines);
}

fn discount(
    id: &str,
    deal_id: u64,
    description: &str,
    amount: &str,
    kind: DiscountType,
) -> DealDiscount {
    DealDiscount {
        id: id.into(),
        description: Some(description.into()),
        amount: d(amount),
        discount_type: kind,
        deal_id: Some(deal_id),
        created_at: Some(T0.into()),
        created_by: Some(1),
        updated_at: Some(T0.into()),
        updated_by: Some(1),
    }
}

struct AddressSeed<'a> {
    street_number: &'a str,
    route: &'a str,
    sublocality: Option<&'a str>,
    locality: &'a str,
    admin_area_level_1: &'a str,
    admin_area_level_2: Option<&'a str>,
    postal_code: &'a str,
    country: &'a str,
    subpremise: Option<&'a str>,
}

fn address(a: AddressSeed<'_>) -> Address {
    let value = format!(
        "{} {}, {} {}, {}",
        a.route, a.street_number, a.postal_code, a.locality, a.country
    );
    Address {
        value: Some(value.clone()),
        country: Some(a.country.into()),
        admin_area_level_1: Some(a.admin_area_level_1.into()),
        admin_area_level_2: a.admin_area_level_2.map(Into::into),
        locality: Some(a.locality.into()),
        sublocality: a.sublocality.map(Into::into),
        route: Some(a.route.into()),
        street_number: Some(a.street_number.into()),
        subpremise: a.subpremise.map(Into::into),
        postal_code: Some(a.postal_code.into()),
        formatted_address: Some(value),
    }
}

fn organization(
    id: u64,
    name: &str,
    address: Option<Address>,
    custom: &[(&str, &str)],
) -> Organization {
    let mut custom_fields = CustomFields::default();
    for (key, value) in custom {
        custom_fields.insert(*key, json!(value));
    }
    Organization {
        id,
        name: name.into(),
        owner_id: Some(1),
        add_time: Some(T0.into()),
        update_time: Some(T0.into()),
        address,
        is_deleted: Some(false),
        visible_to: Some(3),
        label_ids: Vec::new(),
        website: None,
        linkedin: None,
        industry: None,
        annual_revenue: None,
        employee_count: None,
        custom_fields,
    }
}

fn email(value: &str, primary: bool, label: &str) -> ContactDetail {
    ContactDetail {
        value: value.into(),
        primary,
        label: Some(label.into()),
    }
}

fn person(id: u64, name: &str, org_id: Option<u64>, emails: Vec<ContactDetail>) -> Person {
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    Person {
        id,
        name: name.into(),
        first_name: Some(first.into()),
        last_name: Some(last.into()),
        owner_id: Some(1),
        org_id,
        add_time: Some(T0.into()),
        update_time: Some(T0.into()),
        emails,
        phones: Vec::new(),
        is_deleted: Some(false),
        visible_to: Some(3),
        label_ids: Vec::new(),
        picture_id: None,
        custom_fields: CustomFields::default(),
        notes: None,
        im: None,
        birthday: None,
        job_title: None,
        postal_address: None,
    }
}

fn product(
    id: u64,
    name: &str,
    code: &str,
    unit: &str,
    tax: &str,
    currency: &str,
    price: &str,
) -> Product {
    Product {
        id,
        name: name.into(),
        code: Some(code.into()),
        description: Some(format!("{name} (simulated)")),
        unit: Some(unit.into()),
        tax: Some(d(tax)),
        category: Some("Services".into()),
        is_linkable: Some(true),
        is_deleted: Some(false),
        visible_to: Some(3),
        owner_id: Some(1),
        add_time: Some(T0.into()),
        update_time: Some(T0.into()),
        billing_frequency: Some("one-time".into()),
        billing_frequency_cycles: None,
        prices: vec![ProductPrice {
            product_id: Some(id),
            price: Some(d(price)),
            currency: Some(currency.into()),
            cost: Some(Decimal::ZERO),
            direct_cost: Some(Decimal::ZERO),
            notes: Some(String::new()),
        }],
        custom_fields: CustomFields::default(),
    }
}

fn pct<'a>(
    id: u64,
    product_id: u64,
    name: &'a str,
    quantity: &'a str,
    item_price: &'a str,
    discount: &'a str,
) -> LineSeed<'a> {
    LineSeed {
        id,
        product_id,
        name,
        quantity,
        item_price,
        discount,
        discount_type: DiscountType::Percentage,
    }
}

fn company_a(store: &mut Store) {
    let c = COMPANY_A;
    for p in [
        product(1, "Consulting hour", "CONS-HR", "hour", "19", "EUR", "120"),
        product(
            2,
            "Design package",
            "DSN-PKG",
            "package",
            "19",
            "EUR",
            "2500",
        ),
        product(
            3,
            "Cloud hosting (monthly)",
            "HOST-M",
            "month",
            "19",
            "EUR",
            "49.90",
        ),
        product(4, "Training day", "TRN-DAY", "day", "19", "EUR", "900"),
        product(5, "Legacy add-on", "LEG-ADD", "", "19", "EUR", "300"),
        product(6, "Sticker pack", "STK-PK", "pack", "0", "USD", "2.50"),
    ] {
        store.products.insert((c, p.id), p);
    }
    if let Some(hosting) = store.products.get_mut(&(c, 3)) {
        hosting.billing_frequency = Some("monthly".into());
        hosting.billing_frequency_cycles = Some(12);
    }

    let orgs = [
        organization(
            1,
            "Müller Maschinenbau AG",
            Some(address(AddressSeed {
                street_number: "5",
                route: "Hauptstraße",
                sublocality: Some("Mitte"),
                locality: "Berlin",
                admin_area_level_1: "Berlin",
                admin_area_level_2: Some("Berlin"),
                postal_code: "10115",
                country: "Germany",
                subpremise: Some("3. OG"),
            })),
            &[(ORG_TAX_ID_FIELD_A, "DE811907980")],
        ),
        organization(
            2,
            "Thames Digital Ltd",
            Some(address(AddressSeed {
                street_number: "221",
                route: "Baker Street",
                sublocality: Some("Marylebone"),
                locality: "London",
                admin_area_level_1: "England",
                admin_area_level_2: Some("Greater London"),
                postal_code: "NW1 6XE",
                country: "United Kingdom",
                subpremise: None,
            })),
            &[(ORG_TAX_ID_FIELD_A, "GB123456789")],
        ),
        organization(3, "Nordlicht Studio", None, &[]),
        organization(
            4,
            "Brooklyn Bakers LLC",
            Some(address(AddressSeed {
                street_number: "100",
                route: "Bedford Avenue",
                sublocality: Some("Williamsburg"),
                locality: "New York",
                admin_area_level_1: "NY",
                admin_area_level_2: Some("Kings County"),
                postal_code: "11249",
                country: "United States",
                subpremise: Some("Suite 2"),
            })),
            &[],
        ),
    ];
    for mut org in orgs {
        if org.id == 1 {
            org.website = Some("https://mueller-maschinenbau.example".into());
            org.linkedin = Some("https://linkedin.example/company/mueller".into());
            org.industry = Some(2);
            org.annual_revenue = Some(d("12500000"));
            org.employee_count = Some(240);
            org.label_ids = vec![1];
        }
        store.organizations.insert((c, org.id), org);
    }

    let mut max = person(
        1,
        "Max Mustermann",
        Some(1),
        vec![
            email("max.private@mail.example", false, "home"),
            email("max@mueller-maschinenbau.example", true, "work"),
        ],
    );
    max.phones = vec![email("+49 30 1234567", true, "work")];
    max.picture_id = Some(1);
    max.label_ids = vec![1];
    max.custom_fields
        .insert(PERSON_LANGUAGE_FIELD_A, json!("de"));
    max.notes = Some("Prefers invoices in German.".into());
    max.im = Some(vec![email("max.mustermann", true, "skype")]);
    max.birthday = Some("1980-04-01".into());
    max.job_title = Some("Head of Procurement".into());
    max.postal_address = store
        .organizations
        .get(&(c, 1))
        .and_then(|o| o.address.clone());
    for p in [
        max,
        person(
            2,
            "Olivia Smith",
            Some(2),
            vec![
                email("olivia@thames-digital.example", false, "work"),
                email("o.smith@mail.example", false, "home"),
            ],
        ),
        person(3, "Jonas Berg", Some(3), Vec::new()),
        person(
            4,
            "Sam Carter",
            Some(4),
            vec![email("sam@brooklyn-bakers.example", true, "work")],
        ),
        person(
            5,
            "Lena Vogel",
            None,
            vec![email("lena.vogel@mail.example", true, "home")],
        ),
    ] {
        store.persons.insert((c, p.id), p);
    }

    // Deal 1: exclusive tax, percentage and amount discounts, a disabled line, deal discounts.
    let mut d1 = deal(1, "Website relaunch", "EUR", Some(1), Some(1));
    d1.custom_fields
        .insert(DEAL_PO_FIELD_A, json!("PO-2026-0042"));
    d1.custom_fields.insert(DEAL_PRIORITY_FIELD_A, json!(3));
    d1.label_ids = vec![1];
    d1.probability = Some(d("80"));
    attach(
        store,
        c,
        &mut d1,
        "19",
        TaxMethod::Exclusive,
        &[
            pct(101, 1, "Consulting hour", "10", "120", "10"),
            LineSeed {
                discount_type: DiscountType::Amount,
                ..pct(102, 2, "Design package", "1", "2500", "200")
            },
            pct(103, 3, "Cloud hosting (monthly)", "12", "49.90", "0"),
            pct(104, 5, "Legacy add-on", "1", "300", "0"),
        ],
    );
    if let Some(lines) = store.deal_products.get_mut(&(c, 1)) {
        for line in lines.iter_mut() {
            match line.id {
                101 => line.comments = Some("Workshops in January".into()),
                103 => {
                    line.billing_frequency = Some("monthly".into());
                    line.billing_frequency_cycles = Some(12);
                }
                104 => line.is_enabled = false,
                _ => {}
            }
        }
        d1.value = Some(
            lines
                .iter()
                .filter(|l| l.is_enabled)
                .filter_map(|l| l.sum)
                .sum(),
        );
    }
    store.deal_discounts.insert(
        (c, 1),
        vec![
            discount(
                "7c1f6a1e-0d0b-4d7e-9a55-000000000001",
                1,
                "Loyalty 5%",
                "5",
                DiscountType::Percentage,
            ),
            discount(
                "7c1f6a1e-0d0b-4d7e-9a55-000000000002",
                1,
                "Voucher",
                "100",
                DiscountType::Amount,
            ),
        ],
    );
    store.deals.insert((c, 1), d1);

    // Deal 2: GBP, inclusive tax, fractional quantity, a deal discount by amount.
    let mut d2 = deal(2, "UK expansion workshop", "GBP", Some(2), Some(2));
    attach(
        store,
        c,
        &mut d2,
        "20",
        TaxMethod::Inclusive,
        &[
            pct(201, 4, "Training day", "2", "900", "5"),
            pct(202, 1, "Consulting hour", "3.5", "150", "0"),
        ],
    );
    store.deal_discounts.insert(
        (c, 2),
        vec![discount(
            "7c1f6a1e-0d0b-4d7e-9a55-000000000003",
            2,
            "Early booking",
            "50",
            DiscountType::Amount,
        )],
    );
    store.deals.insert((c, 2), d2);

    // Deal 3: USD, no tax, more lines than one default page.
    let mut d3 = deal(
        DEAL_MANY_PRODUCTS,
        "Conference merchandise",
        "USD",
        Some(4),
        Some(4),
    );
    let names: Vec<String> = (1..=MANY_PRODUCTS_COUNT)
        .map(|i| format!("Sticker pack #{i}"))
        .collect();
    let quantities: Vec<String> = (1..=MANY_PRODUCTS_COUNT)
        .map(|i| (i % 7 + 1).to_string())
        .collect();
    let seeds: Vec<LineSeed<'_>> = (0..MANY_PRODUCTS_COUNT as usize)
        .map(|i| pct(301 + i as u64, 6, &names[i], &quantities[i], "2.50", "0"))
        .collect();
    attach(store, c, &mut d3, "0", TaxMethod::None, &seeds);
    store.deals.insert((c, DEAL_MANY_PRODUCTS), d3);

    // Deal 4: no products; organization without address, person without email.
    store.deals.insert(
        (c, 4),
        deal(4, "Retainer (no products yet)", "EUR", Some(3), Some(3)),
    );

    // Deal 5: no organization.
    let mut d5 = deal(5, "Private workshop", "EUR", None, Some(5));
    attach(
        store,
        c,
        &mut d5,
        "19",
        TaxMethod::Exclusive,
        &[pct(501, 4, "Training day", "1", "900", "0")],
    );
    store.deals.insert((c, 5), d5);
}

fn company_b(store: &mut Store) {
    let c = COMPANY_B;
    for p in [
        product(1, "Fleet tracker", "FLT-TRK", "unit", "8.25", "USD", "199"),
        product(2, "Support plan", "SUP-M", "month", "8.25", "USD", "29"),
    ] {
        store.products.insert((c, p.id), p);
    }
    store.organizations.insert(
        (c, 1),
        organization(
            1,
            "Bolt Freight Co.",
            Some(address(AddressSeed {
                street_number: "500",
                route: "Congress Avenue",
                sublocality: None,
                locality: "Austin",
                admin_area_level_1: "TX",
                admin_area_level_2: Some("Travis County"),
                postal_code: "78701",
                country: "United States",
                subpremise: None,
            })),
            &[(ORG_TAX_ID_FIELD_B, "12-3456789")],
        ),
    );
    store.persons.insert(
        (c, 1),
        person(
            1,
            "Riley Chen",
            Some(1),
            vec![email("riley@bolt-freight.example", true, "work")],
        ),
    );

    let mut d1 = deal(1, "Fleet tracking rollout", "USD", Some(1), Some(1));
    attach(
        store,
        c,
        &mut d1,
        "8.25",
        TaxMethod::Exclusive,
        &[
            pct(601, 1, "Fleet tracker", "25", "199", "2.5"),
            pct(602, 2, "Support plan", "25", "29", "0"),
        ],
    );
    if let Some(line) = store
        .deal_products
        .get_mut(&(c, 1))
        .and_then(|lines| lines.iter_mut().find(|l| l.id == 602))
    {
        line.billing_frequency = Some("monthly".into());
    }
    store.deals.insert((c, 1), d1);
    store
        .deals
        .insert((c, 2), deal(2, "Warehouse sensors", "USD", Some(1), None));
}

fn subfields(parent: &str, items: &[(&str, &str)]) -> Option<Vec<Subfield>> {
    Some(
        items
            .iter()
            .map(|(code, name)| Subfield {
                field_code: (*code).into(),
                field_name: format!("{name} of {parent}"),
                field_type: "varchar".into(),
            })
            .collect(),
    )
}

fn address_subfields() -> Option<Vec<Subfield>> {
    subfields(
        "Address",
        &[
            ("value", "Address value"),
            ("street_number", "House number"),
            ("route", "Street/road name"),
            ("subpremise", "Apartment/suite"),
            ("locality", "District"),
            ("admin_area_level_1", "State/province"),
            ("admin_area_level_2", "County"),
            ("country", "Country"),
            ("postal_code", "Postal code"),
            ("formatted_address", "Formatted address"),
        ],
    )
}

fn fields(store: &mut Store) {
    use FieldEntity::{Deal as D, Organization as O, Person as P};
    let value_subfields = Some(vec![
        Subfield {
            field_code: "value".into(),
            field_name: "Amount of Value".into(),
            field_type: "double".into(),
        },
        Subfield {
            field_code: "currency".into(),
            field_name: "Currency of Value".into(),
            field_type: "varchar".into(),
        },
    ]);
    let deal_standard = || {
        vec![
            field(D, "title", "Deal Title", "varchar", false, None, None),
            field(
                D,
                "value",
                "Value",
                "monetary",
                false,
                None,
                value_subfields.clone(),
            ),
            field(D, "org_id", "Organization", "org", false, None, None),
            field(
                D,
                "person_id",
                "Contact person",
                "people",
                false,
                None,
                None,
            ),
            field(D, "status", "Status", "status", false, None, None),
            field(
                D,
                "expected_close_date",
                "Expected close date",
                "date",
                false,
                None,
                None,
            ),
        ]
    };
    let org_standard = || {
        vec![
            field(O, "name", "Organization Name", "varchar", false, None, None),
            field(
                O,
                "address",
                "Address",
                "address",
                false,
                None,
                address_subfields(),
            ),
            field(O, "owner_id", "Owner", "user", false, None, None),
        ]
    };
    let person_standard = || {
        vec![
            field(P, "name", "Name", "varchar", false, None, None),
            field(P, "emails", "Email", "varchar", false, None, None),
            field(P, "phones", "Phone", "phone", false, None, None),
            field(P, "org_id", "Organization", "org", false, None, None),
        ]
    };
    let priority_options = [("Low", "green"), ("Medium", "yellow"), ("High", "red")]
        .iter()
        .enumerate()
        .map(|(i, (label, color))| FieldOption {
            id: OptionId::Int(i as i64 + 1),
            label: (*label).into(),
            color: Some((*color).into()),
        })
        .collect();

    let mut deal_a = deal_standard();
    deal_a.push(custom_field(
        D,
        DEAL_PO_FIELD_A,
        "PO number",
        "varchar",
        None,
    ));
    deal_a.push(custom_field(
        D,
        DEAL_PRIORITY_FIELD_A,
        "Priority",
        "enum",
        Some(priority_options),
    ));
    let mut org_a = org_standard();
    org_a.push(custom_field(
        O,
        ORG_TAX_ID_FIELD_A,
        "Tax ID",
        "varchar",
        None,
    ));
    let mut person_a = person_standard();
    person_a.push(custom_field(
        P,
        PERSON_LANGUAGE_FIELD_A,
        "Invoice language",
        "varchar",
        None,
    ));

    let deal_b = deal_standard();
    let mut org_b = org_standard();
    org_b.push(custom_field(O, ORG_TAX_ID_FIELD_B, "EIN", "varchar", None));
    let person_b = person_standard();

    for (key, defs) in [
        ((COMPANY_A, D), deal_a),
        ((COMPANY_A, O), org_a),
        ((COMPANY_A, P), person_a),
        ((COMPANY_B, D), deal_b),
        ((COMPANY_B, O), org_b),
        ((COMPANY_B, P), person_b),
    ] {
        store.fields.insert(key, defs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipedrive_seed_is_consistent() {
        for hash in [
            ORG_TAX_ID_FIELD_A,
            ORG_TAX_ID_FIELD_B,
            DEAL_PO_FIELD_A,
            DEAL_PRIORITY_FIELD_A,
            PERSON_LANGUAGE_FIELD_A,
        ] {
            assert_eq!(hash.len(), 40, "{hash}");
            assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        }
        let store = seed();
        assert!(store.deals.contains_key(&(COMPANY_A, 1)));
        assert!(store.deals.contains_key(&(COMPANY_B, 1)));
        assert_eq!(
            store.deal_products[&(COMPANY_A, DEAL_MANY_PRODUCTS)].len() as u64,
            MANY_PRODUCTS_COUNT
        );
        // Every reference points at a record of the same company.
        for ((company, _), deal) in &store.deals {
            if let Some(org) = deal.org_id {
                assert!(store.organizations.contains_key(&(*company, org)));
            }
            if let Some(person) = deal.person_id {
                assert!(store.persons.contains_key(&(*company, person)));
            }
        }
        for ((company, _), lines) in &store.deal_products {
            for line in lines {
                let product = line.product_id.unwrap();
                assert!(store.products.contains_key(&(*company, product)));
            }
        }
        let d1 = &store.deals[&(COMPANY_A, 1)];
        // 10×120−10 % = 1080; 2500−200 = 2300; 12×49.90 = 598.80; the disabled line is left out.
        assert_eq!(d1.value, Some(d("3978.80")));
        assert_eq!(
            line_sum(d("5"), d("22"), d("0.2"), DiscountType::Percentage),
            d("109.78")
        );
    }
}
