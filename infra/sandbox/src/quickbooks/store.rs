//! The companies' data: one [`Realm`] per company, seeded from a [`RealmSeed`].

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Timelike, Utc};
use rust_decimal::Decimal;
use shared::wire::quickbooks::model::{
    Account, CompanyCurrency, CompanyInfo, CurrencyPrefs, Customer, EmailAddress, Estimate,
    Invoice, Item, ItemType, MetaData, NameValue, Payment, PhysicalAddress, Preferences, Ref,
    SalesFormsPrefs, TaxCode, TaxPrefs, TaxRate, TaxRateDetail, TaxRateList, TelephoneNumber, Term,
};

use super::config::{Country, RealmSeed};

/// Entity timestamps: whole seconds, UTC offset.
pub fn stamp(now: DateTime<Utc>) -> DateTime<FixedOffset> {
    now.with_nanosecond(0).unwrap_or(now).fixed_offset()
}

pub fn meta(now: DateTime<Utc>) -> MetaData {
    let t = stamp(now);
    MetaData {
        create_time: Some(t),
        last_updated_time: Some(t),
        last_modified_by_ref: None,
    }
}

/// Marks an entity as written now.
pub fn touch(meta: &mut Option<MetaData>, now: DateTime<Utc>) {
    let m = meta.get_or_insert_with(MetaData::default);
    if m.create_time.is_none() {
        m.create_time = Some(stamp(now));
    }
    m.last_updated_time = Some(stamp(now));
}

/// Increments a SyncToken string.
pub fn bump(sync_token: &mut Option<String>) {
    let next = sync_token
        .as_deref()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(0, |n| n + 1);
    *sync_token = Some(next.to_string());
}

/// A deleted invoice (what CDC reports as `status: Deleted`).
#[derive(Debug, Clone, PartialEq)]
pub struct Deleted {
    pub at: DateTime<FixedOffset>,
}

/// One company.
#[derive(Debug, Clone)]
pub struct Realm {
    pub id: String,
    pub country: Country,
    pub online_payments: bool,
    pub company_info: CompanyInfo,
    pub preferences: Preferences,
    pub customers: BTreeMap<u64, Customer>,
    pub items: BTreeMap<u64, Item>,
    /// The chart of accounts (income accounts for new items).
    pub accounts: Vec<Account>,
    pub tax_codes: Vec<TaxCode>,
    pub tax_rates: Vec<TaxRate>,
    pub terms: Vec<Term>,
    pub currencies: Vec<CompanyCurrency>,
    /// Home-currency units per unit of the key currency.
    pub exchange_rates: BTreeMap<String, Decimal>,
    pub invoices: BTreeMap<u64, Invoice>,
    pub deleted_invoices: BTreeMap<u64, Deleted>,
    pub estimates: BTreeMap<u64, Estimate>,
    pub deleted_estimates: BTreeMap<u64, Deleted>,
    pub payments: BTreeMap<u64, Payment>,
    /// Sales-form custom field definitions (id, name).
    pub custom_fields: Vec<(String, String)>,
    /// Per-entity id sequences (QuickBooks numbers each entity type separately).
    next_ids: BTreeMap<&'static str, u64>,
    next_doc_number: u64,
    next_addr_id: u64,
}

fn currency_name(code: &str) -> &'static str {
    match code {
        "USD" => "United States Dollar",
        "EUR" => "Euro",
        "GBP" => "British Pound Sterling",
        "CAD" => "Canadian Dollar",
        "AUD" => "Australian Dollar",
        "JPY" => "Japanese Yen",
        _ => "Currency",
    }
}

/// `{"value": "EUR", "name": "Euro"}`.
pub fn currency_ref(code: &str) -> Ref {
    Ref::named(code, currency_name(code))
}

fn address(
    realm: &mut Realm,
    line1: &str,
    city: &str,
    region: &str,
    postal: &str,
    country: &str,
) -> PhysicalAddress {
    PhysicalAddress {
        id: Some(realm.next_address_id()),
        line1: Some(line1.into()),
        city: Some(city.into()),
        country_sub_division_code: Some(region.into()),
        postal_code: Some(postal.into()),
        country: Some(country.into()),
        lat: Some("INVALID".into()),
        long: Some("INVALID".into()),
        ..PhysicalAddress::default()
    }
}

impl Realm {
    /// The next id of an entity type (`"Invoice"`, `"Customer"`, …), starting at 1.
    pub fn next_id(&mut self, entity: &'static str) -> u64 {
        let next = self.next_ids.entry(entity).or_insert(1);
        let id = *next;
        *next += 1;
        id
    }

    pub fn next_address_id(&mut self) -> String {
        let id = self.next_addr_id;
        self.next_addr_id += 1;
        id.to_string()
    }

    /// The next free automatic DocNumber.
    pub fn next_doc_number(&mut self) -> String {
        loop {
            let candidate = self.next_doc_number.to_string();
            self.next_doc_number += 1;
            if !self
                .invoices
                .values()
                .any(|i| i.doc_number.as_deref() == Some(candidate.as_str()))
            {
                return candidate;
            }
        }
    }

    pub fn home_currency(&self) -> String {
        self.preferences
            .home_currency()
            .unwrap_or("USD")
            .to_string()
    }

    pub fn multi_currency(&self) -> bool {
        self.preferences.multi_currency_enabled()
    }

    pub fn is_us(&self) -> bool {
        self.country == Country::US
    }

    pub fn term(&self, id: &str) -> Option<&Term> {
        self.terms.iter().find(|t| t.id.as_deref() == Some(id))
    }

    pub fn tax_code(&self, id: &str) -> Option<&TaxCode> {
        self.tax_codes.iter().find(|t| t.id.as_deref() == Some(id))
    }

    pub fn tax_rate(&self, id: &str) -> Option<&TaxRate> {
        self.tax_rates.iter().find(|t| t.id.as_deref() == Some(id))
    }

    /// Rates (id, name, percent) a tax code applies to sales.
    pub fn sales_rates(&self, code: &TaxCode) -> Vec<(String, Option<String>, Decimal)> {
        code.sales_tax_rate_list
            .iter()
            .flat_map(|l| l.tax_rate_detail.iter())
            .filter_map(|d| d.tax_rate_ref.as_ref())
            .filter_map(|r| {
                let rate = self.tax_rate(&r.value)?;
                Some((
                    r.value.clone(),
                    rate.name.clone(),
                    rate.rate_value.unwrap_or_default(),
                ))
            })
            .collect()
    }

    /// Whether a currency may be used in this company (home, or an active company currency).
    pub fn currency_enabled(&self, code: &str) -> bool {
        code == self.home_currency()
            || self
                .currencies
                .iter()
                .any(|c| c.code.as_deref() == Some(code) && c.active != Some(false))
    }

    pub fn customer_currency(&self, customer: &Customer) -> String {
        customer
            .currency_ref
            .as_ref()
            .map_or_else(|| self.home_currency(), |r| r.value.clone())
    }

    pub fn find_customer(&self, id: &str) -> Option<&Customer> {
        self.customers.get(&id.parse::<u64>().ok()?)
    }

    pub fn find_item(&self, id: &str) -> Option<&Item> {
        self.items.get(&id.parse::<u64>().ok()?)
    }

    /// Recomputes `Customer.Balance` from the open balances of its invoices.
    pub fn refresh_customer_balance(&mut self, customer_id: &str) {
        let total: Decimal = self
            .invoices
            .values()
            .filter(|i| {
                i.customer_ref
                    .as_ref()
                    .is_some_and(|r| r.value == customer_id)
            })
            .filter_map(|i| i.balance)
            .sum();
        if let Some(c) = customer_id
            .parse::<u64>()
            .ok()
            .and_then(|id| self.customers.get_mut(&id))
        {
            c.balance = Some(total);
            c.balance_with_jobs = Some(total);
        }
    }

    fn empty(seed: &RealmSeed, now: DateTime<Utc>) -> Realm {
        let home = match seed.country {
            Country::US => "USD",
            Country::GB => "GBP",
        };
        let country_code = match seed.country {
            Country::US => "US",
            Country::GB => "GB",
        };
        let preferences = Preferences {
            id: Some("1".into()),
            sync_token: Some("0".into()),
            domain: Some("QBO".into()),
            sparse: Some(false),
            meta_data: Some(meta(now)),
            currency_prefs: Some(CurrencyPrefs {
                multi_currency_enabled: Some(seed.multi_currency),
                home_currency: Some(Ref::new(home)),
            }),
            sales_forms_prefs: Some(SalesFormsPrefs {
                custom_txn_numbers: Some(seed.custom_txn_numbers),
                default_terms: Some(Ref::new("3")),
                allow_deposit: Some(true),
                allow_discount: Some(true),
                allow_shipping: Some(false),
                e_transaction_enabled_status: None,
                custom_field: Some(serde_json::json!([{
                    "CustomField": [
                        {"Name": "SalesFormsPrefs.UseSalesCustom1", "Type": "BooleanType", "BooleanValue": true},
                        {"Name": "SalesFormsPrefs.SalesCustomName1", "Type": "StringType", "StringValue": "Crew #"}
                    ]
                }])),
            }),
            tax_prefs: Some(TaxPrefs {
                using_sales_tax: Some(true),
                partner_tax_enabled: Some(false),
                tax_group_code_ref: match seed.country {
                    Country::US => Some(Ref::new("2")),
                    Country::GB => None,
                },
            }),
            email_messages_prefs: Some(serde_json::json!({
                "InvoiceMessage": {"Subject": "Invoice from Sandbox", "Message": "Your invoice is attached."}
            })),
        };
        let company_info = CompanyInfo {
            id: Some("1".into()),
            sync_token: Some("0".into()),
            domain: Some("QBO".into()),
            sparse: Some(false),
            meta_data: Some(meta(now)),
            company_name: Some(seed.company_name.clone()),
            legal_name: Some(seed.company_name.clone()),
            country: Some(country_code.into()),
            company_addr: None,
            email: Some(EmailAddress {
                address: Some("books@sandbox.example".into()),
            }),
            fiscal_year_start_month: Some("January".into()),
            name_value: Some(vec![
                NameValue {
                    name: "ItemCategoriesFeature".into(),
                    value: "true".into(),
                },
                NameValue {
                    name: "IndustryType".into(),
                    value: "Landscaping Services".into(),
                },
            ]),
        };
        Realm {
            id: seed.realm_id.clone(),
            country: seed.country,
            online_payments: seed.online_payments,
            company_info,
            preferences,
            customers: BTreeMap::new(),
            items: BTreeMap::new(),
            accounts: super::catalog::seed_accounts(now),
            tax_codes: Vec::new(),
            tax_rates: Vec::new(),
            terms: Vec::new(),
            currencies: Vec::new(),
            exchange_rates: BTreeMap::new(),
            invoices: BTreeMap::new(),
            deleted_invoices: BTreeMap::new(),
            estimates: BTreeMap::new(),
            deleted_estimates: BTreeMap::new(),
            payments: BTreeMap::new(),
            custom_fields: vec![("1".into(), "Crew #".into())],
            next_ids: BTreeMap::new(),
            next_doc_number: 1001,
            next_addr_id: 1,
        }
    }

    /// A company with the seed data of its country.
    pub fn seeded(seed: &RealmSeed, now: DateTime<Utc>) -> Realm {
        let mut realm = Realm::empty(seed, now);
        let mk_meta = || Some(meta(now));
        // Terms.
        for (id, name, days) in [
            ("1", "Due on receipt", 0),
            ("2", "Net 15", 15),
            ("3", "Net 30", 30),
            ("4", "Net 60", 60),
        ] {
            realm.terms.push(Term {
                id: Some(id.into()),
                sync_token: Some("0".into()),
                domain: Some("QBO".into()),
                sparse: Some(false),
                meta_data: mk_meta(),
                name: Some(name.into()),
                active: Some(true),
                r#type: Some("STANDARD".into()),
                due_days: Some(days),
                discount_days: None,
                discount_percent: None,
            });
        }
        let rate = |id: &str, name: &str, value: Decimal| TaxRate {
            id: Some(id.into()),
            sync_token: Some("0".into()),
            domain: Some("QBO".into()),
            sparse: Some(false),
            meta_data: mk_meta(),
            name: Some(name.into()),
            description: Some(name.into()),
            active: Some(true),
            rate_value: Some(value),
            agency_ref: Some(Ref::new("1")),
            special_tax_type: Some("NONE".into()),
            display_type: Some("ReadOnly".into()),
        };
        let group = |id: &str, name: &str, rates: &[(&str, &str)]| TaxCode {
            id: Some(id.into()),
            sync_token: Some("0".into()),
            domain: Some("QBO".into()),
            sparse: Some(false),
            meta_data: mk_meta(),
            name: Some(name.into()),
            description: Some(name.into()),
            active: Some(true),
            taxable: Some(true),
            tax_group: Some(true),
            hidden: Some(false),
            sales_tax_rate_list: Some(TaxRateList {
                tax_rate_detail: rates
                    .iter()
                    .map(|(rid, rname)| TaxRateDetail {
                        tax_rate_ref: Some(Ref::named(*rid, *rname)),
                        tax_type_applicable: Some("TaxOnAmount".into()),
                        tax_order: Some(0),
                    })
                    .collect(),
            }),
            purchase_tax_rate_list: Some(TaxRateList::default()),
        };
        let d = |s: &str| s.parse::<Decimal>().unwrap_or_default();
        match seed.country {
            Country::US => {
                realm.tax_rates = vec![
                    rate("1", "AZ State tax", d("7.1")),
                    rate("2", "Tucson City", d("2")),
                    rate("3", "California", d("8")),
                    rate("4", "Texas State", d("6.25")),
                    rate("5", "Austin City", d("2")),
                ];
                for (id, taxable) in [("TAX", true), ("NON", false)] {
                    realm.tax_codes.push(TaxCode {
                        id: Some(id.into()),
                        meta_data: mk_meta(),
                        name: Some(id.into()),
                        description: Some(id.into()),
                        taxable: Some(taxable),
                        tax_group: Some(false),
                        ..TaxCode::default()
                    });
                }
                realm
                    .tax_codes
                    .push(group("2", "California", &[("3", "California")]));
                realm.tax_codes.push(group(
                    "3",
                    "Tucson",
                    &[("1", "AZ State tax"), ("2", "Tucson City")],
                ));
                realm.tax_codes.push(group(
                    "4",
                    "Austin",
                    &[("4", "Texas State"), ("5", "Austin City")],
                ));
                if seed.multi_currency {
                    for (i, code) in ["EUR", "GBP", "CAD"].iter().enumerate() {
                        realm.currencies.push(CompanyCurrency {
                            id: Some((i + 1).to_string()),
                            sync_token: Some("0".into()),
                            domain: Some("QBO".into()),
                            sparse: Some(false),
                            meta_data: mk_meta(),
                            code: Some((*code).into()),
                            name: Some(currency_name(code).into()),
                            active: Some(true),
                        });
                    }
                    realm.exchange_rates.insert("EUR".into(), d("1.09"));
                    realm.exchange_rates.insert("GBP".into(), d("1.27"));
                    realm.exchange_rates.insert("CAD".into(), d("0.73"));
                }
            }
            Country::GB => {
                realm.tax_rates = vec![
                    rate("1", "20.0% S", d("20")),
                    rate("2", "5.0% R", d("5")),
                    rate("3", "0.0% Z", d("0")),
                ];
                let mut standard = group("2", "20.0% S", &[("1", "20.0% S")]);
                standard.tax_group = Some(false);
                let mut reduced = group("3", "5.0% R", &[("2", "5.0% R")]);
                reduced.tax_group = Some(false);
                let mut zero = group("4", "0.0% Z", &[("3", "0.0% Z")]);
                zero.tax_group = Some(false);
                let mut exempt = group("5", "Exempt", &[]);
                exempt.tax_group = Some(false);
                exempt.taxable = Some(false);
                realm.tax_codes = vec![standard, reduced, zero, exempt];
            }
        }
        // Items (ids 1..).
        let home = realm.home_currency();
        let tax_code = match seed.country {
            Country::US => None,
            Country::GB => Some(Ref::named("2", "20.0% S")),
        };
        let items: &[(&str, ItemType, &str, bool, bool)] = &[
            ("Services", ItemType::Service, "0", false, true),
            ("Hours", ItemType::Service, "50", false, true),
            ("Consulting", ItemType::Service, "150", false, true),
            ("Widget", ItemType::NonInventory, "25", true, true),
            ("Rock Fountain", ItemType::Inventory, "275", true, true),
            ("Legacy Support", ItemType::Service, "80", false, false),
        ];
        for (name, kind, price, taxable, active) in items {
            let id = realm.next_id("Item");
            realm.items.insert(
                id,
                Item {
                    id: Some(id.to_string()),
                    sync_token: Some("0".into()),
                    domain: Some("QBO".into()),
                    sparse: Some(false),
                    meta_data: mk_meta(),
                    name: Some((*name).into()),
                    fully_qualified_name: Some((*name).into()),
                    sku: Some(format!("SKU-{id}")),
                    description: Some(format!("{name} ({home})")),
                    active: Some(*active),
                    r#type: Some(kind.clone()),
                    unit_price: Some(d(price)),
                    taxable: Some(*taxable),
                    sales_tax_included: Some(false),
                    sales_tax_code_ref: tax_code.clone(),
                    income_account_ref: Some(Ref::named("1", "Services")),
                    track_qty_on_hand: Some(*kind == ItemType::Inventory),
                    qty_on_hand: (*kind == ItemType::Inventory).then(|| d("10")),
                },
            );
        }
        // Customers.
        // (display name, given name, family name, e-mail, currency, term id)
        type CustomerSeed<'a> = (&'a str, &'a str, &'a str, &'a str, Option<&'a str>, &'a str);
        let customers: Vec<CustomerSeed> = match seed.country {
            Country::US => vec![
                (
                    "Amy's Bird Sanctuary",
                    "Amy",
                    "Lauterbach",
                    "birds@sandbox.example",
                    None,
                    "3",
                ),
                (
                    "O'Brien & Sons",
                    "Sean",
                    "O'Brien",
                    "accounts@obrien.example",
                    None,
                    "2",
                ),
                ("Acme Corp", "Wile", "Coyote", "ap@acme.example", None, "3"),
                (
                    "Acme GmbH (EUR)",
                    "Greta",
                    "Maier",
                    "buchhaltung@acme.example",
                    Some("EUR"),
                    "3",
                ),
            ],
            Country::GB => vec![
                (
                    "O'Brien & Sons",
                    "Sean",
                    "O'Brien",
                    "accounts@obrien.example",
                    None,
                    "3",
                ),
                (
                    "Bristol Bikes Ltd",
                    "Ada",
                    "Brunel",
                    "finance@bristolbikes.example",
                    None,
                    "2",
                ),
            ],
        };
        let (city, region, postal, country) = match seed.country {
            Country::US => ("Bayshore", "CA", "94326", "USA"),
            Country::GB => ("Bristol", "", "BS1 4DJ", "GBR"),
        };
        for (name, given, family, email, currency, term) in customers {
            let id = realm.next_id("Customer");
            let bill = address(&mut realm, "1 Main St.", city, region, postal, country);
            let ship = address(&mut realm, "1 Main St.", city, region, postal, country);
            let currency = currency.map_or_else(|| home.clone(), str::to_string);
            realm.customers.insert(
                id,
                Customer {
                    id: Some(id.to_string()),
                    sync_token: Some("0".into()),
                    domain: Some("QBO".into()),
                    sparse: Some(false),
                    meta_data: mk_meta(),
                    display_name: Some(name.into()),
                    given_name: Some(given.into()),
                    family_name: Some(family.into()),
                    fully_qualified_name: Some(name.into()),
                    company_name: Some(name.into()),
                    print_on_check_name: Some(name.into()),
                    primary_email_addr: Some(EmailAddress {
                        address: Some(email.into()),
                    }),
                    primary_phone: Some(TelephoneNumber {
                        free_form_number: Some("(555) 555-0100".into()),
                    }),
                    bill_addr: Some(bill),
                    ship_addr: Some(ship),
                    active: Some(true),
                    taxable: Some(seed.country == Country::US),
                    job: Some(false),
                    bill_with_parent: Some(false),
                    balance: Some(Decimal::ZERO),
                    balance_with_jobs: Some(Decimal::ZERO),
                    currency_ref: Some(currency_ref(&currency)),
                    default_tax_code_ref: (seed.country == Country::US).then(|| Ref::new("2")),
                    sales_term_ref: Some(Ref::new(term)),
                    preferred_delivery_method: Some("Print".into()),
                    ..Customer::default()
                },
            );
        }
        realm
    }
}
