//! `GET /api/deals/{deal_id}/draft`: the pre-filled create form.
//!
//! Upstream reads are started as soon as what they need is known, all concurrently: the deal,
//! its products (all pages), its discounts and the company's QuickBooks setup at once; as soon as
//! the products arrive, their stored item links and a name match for the unlinked ones; QuickBooks
//! customer matches by name and email only when no customer link is stored.
//!
//! Pipedrive's v2 deal carries only the organisation and person ids, so their records would be a
//! second, dependent round. The ids are remembered per deal (`DealParties`, written by this draft
//! and by the deal panel's list when it checks the deal), and the organisation, the person and
//! their customer link are read **in the first round** from the remembered ids. When the deal
//! arrives its ids are compared: equal (the usual case) → one round in all; changed or never seen
//! → read again for the actual ids (the second round) and remembered for next time.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::State;
use chrono::NaiveDate;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use shared::app::App;
use shared::domain::draft::{
    self, CompanySetup, FormLine, InvoiceForm, TEMPLATE_NOTE, TaxMode, Totals,
};
use shared::domain::links::today_in;
use shared::domain::mapping::{CustomerBlock, Sources, customer_block};
use shared::domain::progress::BillingProgress;
use shared::domain::tax_suggestion::{TaxSuggestion, line_tax_note, suggest_txn_tax_code};
use shared::domain::{CustomerLink, DealId, DealParties, InvoiceLink, Party, ProductLink};
use shared::web::auth::Tenant;
use shared::web::error::{ApiError, FieldError};
use shared::web::http::PathParams;
use shared::wire::pipedrive::model::{Deal, DealProduct, Organization, Person};
use shared::wire::quickbooks::model::{Customer, Item};
use shared::wire::quickbooks::query::Query;

use crate::context::{Caller, caller, company_setup, pd_error, qb_error};
pub use crate::views::DealView;
use crate::views::{CustomerSummary, ItemSummary};

#[derive(Debug, Deserialize)]
pub struct DealPath {
    pub deal_id: u64,
}

/// Why a customer is suggested.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// The deal's organisation or person is linked to it.
    Link,
    Name,
    Email,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CustomerSuggestion {
    pub customer: CustomerSummary,
    pub matched_by: MatchedBy,
}

/// The customer part of the form.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CustomerSection {
    /// The organisation (or, without one, the person) the invoice's customer is linked to.
    pub party: Option<Party>,
    /// Pre-filled from the settings' field mapping.
    pub block: CustomerBlock,
    /// The stored link of the party, if any.
    pub linked: Option<CustomerLink>,
    /// Link first, then matches by name and by email (never more than one entry per customer).
    pub suggestions: Vec<CustomerSuggestion>,
    /// Whether linking pushes address, email and tax id to the customer (the setting).
    pub update_customer: bool,
}

/// Where a line's item came from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ItemSource {
    /// The product's stored item link.
    Link,
    /// An active QuickBooks item with the product's name.
    NameMatch,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LineHint {
    pub index: usize,
    pub item_source: Option<ItemSource>,
    /// Shown until the line has an item.
    pub warning: Option<String>,
    /// Why no tax code is pre-selected (non-US: no code has the product's rate).
    #[serde(default)]
    pub tax_note: Option<String>,
}

/// What the form may set besides the lines (what the API allows instead of templates).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InvoiceOptions {
    pub customer_memo: bool,
    pub private_note: bool,
    pub custom_fields: Vec<shared::domain::draft::CustomFieldDef>,
    /// Custom transaction numbers are on: the rep types the invoice number.
    pub doc_number: bool,
    /// No template choice: the API has no field for it.
    pub template: bool,
}

/// The answer of the draft route.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Draft {
    pub deal: DealView,
    pub customer: CustomerSection,
    /// The pre-filled form: edit it and send it to `POST /api/deals/{deal_id}/invoices`.
    pub form: InvoiceForm,
    pub lines: Vec<LineHint>,
    /// What QuickBooks will compute for `form` as it is.
    pub totals: Totals,
    /// What the company's QuickBooks needs (US or not, tax codes, currencies).
    pub quickbooks: CompanySetup,
    /// What still blocks creation (same checks as the create).
    pub problems: Vec<FieldError>,
    pub warnings: Vec<String>,
    pub options: InvoiceOptions,
    pub template_note: String,
    /// Why no sales tax rate is pre-selected (US: none has the products' percentage).
    pub tax_note: Option<String>,
    /// The settings' due-date rule (the form moves the due date with the invoice date).
    pub due_rule: shared::domain::DueDateRule,
    /// The deal's billing in the form's currency: deposits and parts already invoiced.
    pub progress: BillingProgress,
}

struct PartyData {
    org: Option<Organization>,
    person: Option<Person>,
    link: Option<CustomerLink>,
    party: Option<Party>,
}

struct Suggestions {
    list: Vec<CustomerSuggestion>,
}

pub async fn draft(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(path): PathParams<DealPath>,
) -> Result<Json<Draft>, ApiError> {
    let caller = caller(&app, tenant).await?;
    build(&app, &caller, path.deal_id).await.map(Json)
}

/// Builds the draft of `deal_id` for the caller (public for benchmarks).
pub async fn build(app: &App, caller: &Caller, deal_id: u64) -> Result<Draft, ApiError> {
    build_with_deal(app, caller, deal_id, None)
        .await
        .map(|(draft, _)| draft)
}

/// The draft and the deal as Pipedrive answered it (the rules check their trigger on it).
/// `known`: the deal as a `GET /api/v2/deals` list just gave it (the same fields as its own
/// read), which is then not read again.
pub async fn build_with_deal(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    known: Option<Deal>,
) -> Result<(Draft, Deal), ApiError> {
    let deal_chain = deal_chain(app, caller, deal_id, known);
    let products_chain = async {
        let products: Vec<DealProduct> = app
            .pipedrive_of(caller.tenant)
            .deal_products(deal_id)
            .await
            .map_err(|e| pd_error(e, "reading the deal's products"))?;
        let items = item_suggestions(app, caller, &products).await?;
        Ok::<_, ApiError>((products, items))
    };
    let discounts = async {
        app.pipedrive_of(caller.tenant)
            .deal_discounts(deal_id)
            .await
            .map_err(|e| pd_error(e, "reading the deal's discounts"))
    };
    let links = app
        .records
        .all_deal_invoice_links(caller.tenant.company_id, DealId(deal_id));
    let (deal_part, products_part, discounts, setup, links) = futures::join!(
        deal_chain,
        products_chain,
        discounts,
        company_setup(app, caller),
        links
    );
    let (deal, parties, suggestions) = deal_part?;
    let (products, items) = products_part?;
    let discounts = discounts?;
    let setup = setup?;
    let draft = assemble(
        caller,
        &deal,
        &products,
        &discounts,
        parties,
        suggestions,
        items,
        setup,
        today_in(&caller.profile.time_zone, app.clock.now()),
        &links?,
    );
    Ok((draft, deal))
}

/// The deal, its organisation and person with the stored customer link, and the customer
/// suggestions: one chain of reads (the parties read in the same round as the deal from the ids
/// remembered for it, checked when the deal arrives).
async fn deal_chain(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    known: Option<Deal>,
) -> Result<(Deal, PartyData, Suggestions), ApiError> {
    let read_deal = async {
        match known.filter(|d| d.id == deal_id) {
            Some(deal) => Ok(deal),
            None => app.pipedrive_of(caller.tenant).deal(deal_id).await,
        }
    };
    // The deal gives only its organisation and person ids; read them in the same round from
    // the ids remembered for this deal (checked against the deal when it arrives).
    let speculate = async {
        let hint = app
            .records
            .get_deal_parties(caller.tenant.company_id, DealId(deal_id))
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "the deal's remembered parties could not be read");
                None
            });
        match hint {
            Some(ids) => Some((ids, party_chain(app, caller, ids).await)),
            None => None,
        }
    };
    let (deal, speculated) = futures::join!(read_deal, speculate);
    let deal: Deal = deal.map_err(|e| pd_error(e, "reading the deal"))?;
    let actual = DealParties {
        org_id: deal.org_id,
        person_id: deal.person_id,
    };
    let parties = match speculated {
        Some((ids, parties)) if ids == actual => parties?,
        stale => {
            let remember = app.records.remember_deal_parties(
                caller.tenant.company_id,
                DealId(deal_id),
                actual,
                app.clock.now(),
            );
            if stale.is_some() {
                tracing::info!(deal_id, "the deal's remembered parties changed: read again");
            }
            futures::join!(party_chain(app, caller, actual), remember).0?
        }
    };
    let suggestions = suggest_customers(app, caller, &deal, &parties).await?;
    Ok((deal, parties, suggestions))
}

/// The organisation, the person and the stored customer link of the deal's party (`ids`: the
/// deal's organisation and person).
async fn party_chain(app: &App, caller: &Caller, ids: DealParties) -> Result<PartyData, ApiError> {
    let company = caller.tenant.company_id;
    let org = async {
        match ids.org_id {
            None => Ok(None),
            Some(id) => app
                .pipedrive_of(caller.tenant)
                .organization(id)
                .await
                .map(Some)
                .map_err(|e| pd_error(e, "reading the deal's organization")),
        }
    };
    let person = async {
        match ids.person_id {
            None => Ok(None),
            Some(id) => app
                .pipedrive_of(caller.tenant)
                .person(id)
                .await
                .map(Some)
                .map_err(|e| pd_error(e, "reading the deal's contact person")),
        }
    };
    let party = ids
        .org_id
        .map(Party::Organization)
        .or(ids.person_id.map(Party::Person));
    let link = async {
        match party {
            None => Ok(None),
            Some(p) => app.records.get_customer_link(company, p).await,
        }
    };
    let (org, person, link) = futures::join!(org, person, link);
    let link = link?.filter(|l| l.realm_id == caller.realm_id);
    Ok(PartyData {
        org: org?,
        person: person?,
        link,
        party,
    })
}

/// The party a deal's customer is linked through: its organisation, else its person.
pub fn party_of(deal: &Deal) -> Option<Party> {
    deal.org_id
        .map(Party::Organization)
        .or(deal.person_id.map(Party::Person))
}

/// Suggestions: the stored link first; without one, customers matching the name and the email
/// (inactive ones too, marked `active: false`: the form offers to reactivate them).
async fn suggest_customers(
    app: &App,
    caller: &Caller,
    deal: &Deal,
    parties: &PartyData,
) -> Result<Suggestions, ApiError> {
    let mut list = Vec::new();
    if let Some(link) = &parties.link {
        list.push(CustomerSuggestion {
            customer: CustomerSummary {
                id: link.customer_id.clone(),
                display_name: link.display_name.clone(),
                currency: link.currency.clone(),
                email: None,
                active: true,
            },
            matched_by: MatchedBy::Link,
        });
        return Ok(Suggestions { list });
    }
    let block = customer_block(
        &caller.profile.settings.mapping,
        Sources {
            deal,
            organization: parties.org.as_ref(),
            person: parties.person.as_ref(),
        },
    );
    let name = block.name.trim().to_string();
    let by_name = async {
        if name.is_empty() {
            return Ok(Vec::new());
        }
        // Inactive customers too: they still hold their name (shown labelled, to reactivate).
        let q = Query::select("Customer")
            .eq("DisplayName", name.as_str())
            .is_in_bools("Active", &[true, false])
            .max_results(10);
        app.quickbooks_of(&caller.profile)
            .query(&q)
            .await
            .map(|r| r.customer.unwrap_or_default())
    };
    let email = block.email.clone();
    let by_email = async {
        match &email {
            None => Ok(Vec::new()),
            Some(e) => {
                let q = Query::select("Customer")
                    .eq("PrimaryEmailAddr", e.as_str())
                    .is_in_bools("Active", &[true, false])
                    .max_results(10);
                app.quickbooks_of(&caller.profile)
                    .query(&q)
                    .await
                    .map(|r| r.customer.unwrap_or_default())
            }
        }
    };
    let (by_name, by_email) = futures::join!(by_name, by_email);
    let doing = "searching customers";
    let by_name: Vec<Customer> = by_name.map_err(|e| qb_error(e, doing))?;
    let by_email: Vec<Customer> = by_email.map_err(|e| qb_error(e, doing))?;
    let mut seen = BTreeSet::new();
    for (customers, matched_by) in [(by_name, MatchedBy::Name), (by_email, MatchedBy::Email)] {
        for c in customers {
            if let Some(summary) = CustomerSummary::of(&c)
                && seen.insert(summary.id.clone())
            {
                list.push(CustomerSuggestion {
                    customer: summary,
                    matched_by,
                });
            }
        }
    }
    Ok(Suggestions { list })
}

/// Item per Pipedrive product: the stored link, else an active item of the same name.
async fn item_suggestions(
    app: &App,
    caller: &Caller,
    products: &[DealProduct],
) -> Result<BTreeMap<u64, (ItemSummary, ItemSource)>, ApiError> {
    let company = caller.tenant.company_id;
    let ids: BTreeSet<u64> = products
        .iter()
        .filter(|p| p.is_enabled)
        .filter_map(|p| p.product_id)
        .collect();
    let links: Vec<Result<Option<ProductLink>, _>> = futures::stream::iter(ids.iter().copied())
        .map(|id| app.records.get_product_link(company, id))
        .buffer_unordered(16)
        .collect()
        .await;
    let mut out = BTreeMap::new();
    for link in links {
        if let Some(link) = link?.filter(|l| l.realm_id == caller.realm_id) {
            out.insert(
                link.product_id,
                (
                    ItemSummary {
                        id: link.item_id.clone(),
                        name: link.item_name.clone(),
                        kind: None,
                        unit_price: None,
                        sku: None,
                        taxable: None,
                        active: true,
                    },
                    ItemSource::Link,
                ),
            );
        }
    }
    // Names of the products still without an item.
    let mut by_name: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for p in products.iter().filter(|p| p.is_enabled) {
        if let Some(id) = p.product_id
            && !out.contains_key(&id)
            && !p.name.trim().is_empty()
        {
            by_name
                .entry(p.name.trim().to_string())
                .or_default()
                .push(id);
        }
    }
    let found = items_named(app, caller, by_name.keys().cloned().collect()).await?;
    for item in found.iter().filter(|i| i.active != Some(false)) {
        let Some(name) = item.name.as_deref() else {
            continue;
        };
        if let (Some(products), Some(summary)) = (by_name.get(name.trim()), ItemSummary::of(item)) {
            for pid in products {
                out.entry(*pid)
                    .or_insert_with(|| (summary.clone(), ItemSource::NameMatch));
            }
        }
    }
    Ok(out)
}

/// The company's items with one of these names (30 names per query).
async fn items_named(
    app: &App,
    caller: &Caller,
    names: Vec<String>,
) -> Result<Vec<Item>, ApiError> {
    let queries: Vec<Query> = names
        .chunks(30)
        .map(|chunk| Query::select("Item").is_in("Name", chunk).max_results(1000))
        .collect();
    let answers = futures::future::join_all(
        queries
            .iter()
            .map(|q| app.quickbooks_of(&caller.profile).query(q)),
    )
    .await;
    let mut found: Vec<Item> = Vec::new();
    for answer in answers {
        found.extend(
            answer
                .map_err(|e| qb_error(e, "searching items"))?
                .item
                .unwrap_or_default(),
        );
    }
    Ok(found)
}

// Long function: the one struct literal of every part of the draft, each from its own helper.
#[allow(clippy::too_many_arguments)]
fn assemble(
    caller: &Caller,
    deal: &Deal,
    products: &[DealProduct],
    discounts: &[shared::wire::pipedrive::model::DealDiscount],
    parties: PartyData,
    suggestions: Suggestions,
    items: BTreeMap<u64, (ItemSummary, ItemSource)>,
    setup: CompanySetup,
    today: NaiveDate,
    links: &[InvoiceLink],
) -> Draft {
    let settings = &caller.profile.settings;
    let block = customer_block(
        &settings.mapping,
        Sources {
            deal,
            organization: parties.org.as_ref(),
            person: parties.person.as_ref(),
        },
    );
    let mode = tax_mode(products, &setup);
    let mut lines: Vec<FormLine> = draft::lines_from_deal(deal, products);
    let hints = fill_lines(&mut lines, &items, &setup, mode);
    let warnings = warnings(&setup, mode, parties.party.is_some());
    let tax = txn_tax_suggestion(&setup, &lines);
    let linked = parties.link;
    let form = InvoiceForm {
        party: parties.party,
        customer_id: linked.as_ref().map(|l| l.customer_id.clone()),
        currency: deal
            .currency
            .clone()
            .unwrap_or_else(|| setup.home_currency.clone()),
        txn_date: today,
        due_date: draft::due_date(settings.due_date, today),
        tax_mode: mode,
        txn_tax_code: tax.code.clone(),
        lines,
        discounts: draft::discounts_from_deal(discounts),
        bill_email: block.email.clone(),
        customer_memo: None,
        private_note: Some(format!(
            "Pipedrive deal {} \"{}\"",
            deal.id,
            deal.title.trim()
        )),
        doc_number: None,
        custom_fields: Vec::new(),
        expected_total: None,
        deal_currency: deal.currency.clone().or(Some(setup.home_currency.clone())),
        conversion: None,
        confirm_duplicate: false,
        part: None,
        confirm_over_invoice: false,
    };
    let totals = draft::preview(&form, &setup);
    let customer_currency = linked.as_ref().and_then(|l| l.currency.as_deref());
    let problems = problems(&form, &setup, customer_currency);
    Draft {
        // Before `form` and `totals` move into the answer.
        progress: crate::parts::draft_progress(links, &form.currency, &totals),
        deal: DealView::of(deal),
        customer: CustomerSection {
            party: parties.party,
            block,
            linked,
            suggestions: suggestions.list,
            update_customer: settings.update_customer,
        },
        form,
        lines: hints,
        totals,
        options: InvoiceOptions::of(&setup),
        quickbooks: setup,
        problems,
        warnings,
        template_note: TEMPLATE_NOTE.into(),
        tax_note: tax.note,
        due_rule: settings.due_date,
    }
}

/// US: the rate group suggested for the taxable lines; other companies choose per line.
fn txn_tax_suggestion(setup: &CompanySetup, lines: &[FormLine]) -> TaxSuggestion {
    if setup.us {
        suggest_txn_tax_code(setup, lines)
    } else {
        TaxSuggestion {
            code: None,
            note: None,
        }
    }
}

impl InvoiceOptions {
    /// What the company's QuickBooks lets the form set.
    fn of(setup: &CompanySetup) -> InvoiceOptions {
        InvoiceOptions {
            customer_memo: true,
            private_note: true,
            custom_fields: setup.custom_fields.clone(),
            doc_number: setup.custom_txn_numbers,
            template: false,
        }
    }
}

/// The deal's tax method; without products, US companies add tax and others apply none.
fn tax_mode(products: &[DealProduct], setup: &CompanySetup) -> TaxMode {
    if products.iter().any(|p| p.is_enabled) {
        draft::tax_mode_of(products)
    } else if setup.us {
        TaxMode::Exclusive
    } else {
        TaxMode::None
    }
}

/// Each line's item (linked or matched by name) and default tax code; what the form says about
/// each line.
fn fill_lines(
    lines: &mut [FormLine],
    items: &BTreeMap<u64, (ItemSummary, ItemSource)>,
    setup: &CompanySetup,
    mode: TaxMode,
) -> Vec<LineHint> {
    let mut hints = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter_mut().enumerate() {
        let mut source = None;
        if let Some((item, how)) = line.product_id.and_then(|p| items.get(&p)) {
            line.item_id = Some(item.id.clone());
            line.item_name = Some(item.name.clone());
            source = Some(*how);
        }
        line.tax_code = draft::default_tax_code(setup, mode, line);
        let warning = line.item_id.is_none().then(|| {
            format!(
                "Line {} \"{}\" is not linked to a QuickBooks product or service yet.",
                i + 1,
                line.name
            )
        });
        hints.push(LineHint {
            index: i,
            item_source: source,
            warning,
            tax_note: line_tax_note(setup, mode, line),
        });
    }
    hints
}

/// What the rep should know before creating: tax that QuickBooks treats differently, a deal
/// without anyone to invoice.
fn warnings(setup: &CompanySetup, mode: TaxMode, has_party: bool) -> Vec<String> {
    let mut warnings = Vec::new();
    if setup.us && mode == TaxMode::Inclusive {
        warnings.push("The deal's prices include tax, but US sales tax is always added on top: the lines are converted to net amounts with the deal's tax percentage, and QuickBooks adds the tax of the rate you choose.".into());
    }
    if setup.automated_sales_tax {
        warnings.push("Your QuickBooks company uses Automated Sales Tax: QuickBooks works out the sales tax itself when the invoice is created, so the tax shown here is an estimate.".into());
    }
    if !has_party {
        warnings.push("The deal has no organization or person: add one in Pipedrive to link the invoice to a QuickBooks customer.".into());
    }
    warnings
}

/// The draft's problems; a deal without a party says so instead of "choose the customer".
fn problems(
    form: &InvoiceForm,
    setup: &CompanySetup,
    customer_currency: Option<&str>,
) -> Vec<FieldError> {
    let mut problems = draft::validate(form, setup, customer_currency);
    if form.customer_id.is_none() && form.party.is_none() {
        problems.retain(|p| p.field != "customer_id");
        problems.push(FieldError::new(
            "customer_id",
            "The deal has no organization or person to link to a QuickBooks customer. Add one to the deal in Pipedrive.",
        ));
    }
    problems
}
