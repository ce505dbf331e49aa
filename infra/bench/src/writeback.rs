//! The cost of keeping the mapped deal fields current (settings › write-back): Pipedrive deal
//! updates (`PATCH /api/v2/deals/{id}`) per scheduled run, per changed deal.
//!
//! One company (the Pipedrive simulator's seeded company A, its admin connected QuickBooks) with
//! `deals` deals of `per_deal` linked QuickBooks invoices each and all six figures mapped to
//! custom deal fields. The fields already hold the figures (written once per deal, as the
//! creates would have). Between two runs of `status-sync` (its real entry points, as in the sync
//! benchmark) every invoice of `changed` deals is paid in full in QuickBooks — several invoices
//! of one deal change in one event. Measured: the deal updates of that run and of a second run
//! right after (nothing changed). **Baseline**: one update per changed invoice (writing per
//! invoice instead of per deal).

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use sandbox::pipedrive::seed::{COMPANY_A, USER_A_ADMIN};
use sandbox::pipedrive::{FieldEntity, NewCustomField, PipedriveSim};
use sandbox::quickbooks::{QuickBooksSim, RealmSeed};
use serde_json::{Value, json};
use shared::app::sync::write_back::write_back;
use shared::app::{App, Deployment};
use shared::domain::figures::{MappedField, WriteBack, status_options};
use shared::domain::links::link_from_invoice;
use shared::domain::{CompanyId, DealId, SecretString};
use shared::store::embedded::EmbeddedStore;
use shared::store::secrets::embedded::EmbeddedSecrets;
use shared::wire::pipedrive::model::Deal;
use shared::wire::quickbooks::model::{Invoice, Line, Ref};

use crate::report::Table;
use crate::sync::scheduled_run;
use crate::world;

/// Deal ids of the scenario (clear of the simulator's seeded deals).
const FIRST_DEAL: u64 = 100_000;

/// One scenario's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub deals: usize,
    pub per_deal: usize,
    pub changed_deals: usize,
    pub changed_invoices: usize,
    /// Deal updates of the run that saw the payments.
    pub updates: usize,
    /// Deal updates of a second run right after.
    pub idle_updates: usize,
    pub failed_jobs: usize,
}

pub(crate) struct Scene {
    pub(crate) app: App,
    pub(crate) qb: QuickBooksSim,
    pub(crate) pd: PipedriveSim,
    pub(crate) realm: String,
    _servers: (
        sandbox::harness::RunningServer,
        sandbox::harness::RunningServer,
    ),
}

impl Scene {
    /// Company A's admin installed the app and connected the scene's QuickBooks company.
    pub(crate) async fn connect_company_a(
        &self,
        watermark: Option<DateTime<Utc>>,
    ) -> Result<(), String> {
        world::install(&self.app, &self.pd, COMPANY_A, USER_A_ADMIN)
            .await
            .map_err(|e| e.to_string())?;
        world::connect(
            &self.app,
            &self.qb,
            COMPANY_A,
            USER_A_ADMIN,
            &self.realm,
            watermark,
        )
        .await
        .map_err(|e| e.to_string())
    }
}

pub(crate) async fn start() -> Result<Scene, String> {
    let world::Simulators {
        qb,
        qb_server,
        pd,
        pd_server,
    } = world::simulators().await?;
    let app = App::new(
        Arc::new(EmbeddedStore::in_memory()),
        Arc::new(EmbeddedSecrets::in_memory()),
        "bench",
        world::credentials(),
        Deployment::simulated(
            "http://127.0.0.1:9",
            &qb_server.base_url(),
            &pd_server.base_url(),
        ),
    );
    let realm = "9140000000000001".to_string();
    qb.seed_realm(&RealmSeed::us(&realm));
    Ok(Scene {
        app,
        qb,
        pd,
        realm,
        _servers: (qb_server, pd_server),
    })
}

fn field(
    pd: &PipedriveSim,
    name: &str,
    field_type: &str,
    options: &[&str],
) -> Result<MappedField, String> {
    let added = pd
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
        .map_err(|e| format!("adding a deal field: {e}"))?;
    let mut mapped = MappedField::new(&added.field_code, field_type);
    let labels: Vec<(Value, String)> = added
        .options
        .iter()
        .flatten()
        .map(|o| (json!(o.id), o.label.clone()))
        .collect();
    if !labels.is_empty() {
        mapped.options = status_options(&labels).map_err(|m| format!("status options: {m:?}"))?;
    }
    Ok(mapped)
}

/// The six figures mapped to new custom deal fields of company A (as a saved settings page
/// leaves them: type and status options filled in).
fn map_all(pd: &PipedriveSim) -> Result<WriteBack, String> {
    Ok(WriteBack {
        status: Some(field(
            pd,
            "Invoice status",
            "enum",
            &["Open", "Overdue", "Partially paid", "Paid"],
        )?),
        invoiced: Some(field(pd, "Amount invoiced", "monetary", &[])?),
        paid: Some(field(pd, "Amount paid", "monetary", &[])?),
        outstanding: Some(field(pd, "Amount outstanding", "monetary", &[])?),
        last_number: Some(field(pd, "Last invoice number", "varchar", &[])?),
        last_payment_date: Some(field(pd, "Last payment", "date", &[])?),
    })
}

fn sim_deal(id: u64) -> Result<Deal, String> {
    serde_json::from_value(json!({
        "id": id, "title": format!("Deal {id}"), "currency": "USD", "org_id": null,
        "person_id": null, "pipeline_id": 1, "stage_id": 1, "status": "open",
        "add_time": "2026-01-05T09:00:00Z", "update_time": "2026-01-05T09:00:00Z",
        "stage_change_time": "2026-01-05T09:00:00Z", "value": 0
    }))
    .map_err(|e| format!("a deal: {e}"))
}

/// Seeds the deals, their invoices (in QuickBooks and linked) and the connection; answers the
/// invoices of the deals that will change.
async fn seed(
    s: &Scene,
    deals: usize,
    per_deal: usize,
    changed: usize,
) -> Result<Vec<String>, String> {
    let customer =
        s.qb.customers(&s.realm)
            .map_err(|e| e.to_string())?
            .into_iter()
            .find_map(|c| c.id)
            .ok_or_else(|| "a seeded realm has no customer".to_string())?;
    let token = SecretString::new(
        s.qb.issue_tokens(&s.realm)
            .map_err(|e| e.to_string())?
            .access_token,
    );
    let now = s.qb.now();
    let mut to_pay = Vec::new();
    for d in 0..deals as u64 {
        let deal = FIRST_DEAL + d;
        s.pd.upsert_deal(COMPANY_A, sim_deal(deal)?)
            .map_err(|e| e.to_string())?;
        for _ in 0..per_deal {
            let draft = Invoice {
                customer_ref: Some(Ref::new(customer.clone())),
                currency_ref: Some(Ref::new("USD")),
                line: Some(vec![Line::sales_item(
                    Ref::new("2"),
                    Decimal::ONE,
                    Decimal::from(250),
                )]),
                ..Invoice::default()
            };
            let key = uuid::Uuid::new_v4().to_string();
            let created = s
                .app
                .quickbooks
                .create_invoice(&s.realm, &token, &draft, &key)
                .await
                .map_err(|e| format!("seeding an invoice: {e}"))?;
            let link = link_from_invoice(
                CompanyId(COMPANY_A),
                DealId(deal),
                &s.realm,
                &created,
                now.date_naive(),
                now,
            )
            .map_err(|e| e.to_string())?;
            s.app
                .records
                .create_invoice_link(&link)
                .await
                .map_err(|e| format!("seeding a link: {e}"))?;
            if (d as usize) < changed {
                to_pay.extend(created.id);
            }
        }
    }
    let watermark: DateTime<Utc> = s.qb.now() + Duration::seconds(1);
    s.connect_company_a(Some(watermark)).await?;
    Ok(to_pay)
}

fn deal_updates(pd: &PipedriveSim) -> usize {
    pd.deal_updates().len()
}

/// Runs one scenario.
pub async fn scenario(deals: usize, per_deal: usize, changed: usize) -> Result<Figures, String> {
    let s = start().await?;
    let to_pay = seed(&s, deals, per_deal, changed).await?;
    let mut profile = s
        .app
        .records
        .get_company(CompanyId(COMPANY_A))
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no company profile".to_string())?;
    profile.settings.write_back = map_all(&s.pd)?;
    let profile = s
        .app
        .records
        .save_company(&profile)
        .await
        .map_err(|e| e.to_string())?;
    // The fields hold the figures already (the creates wrote them).
    let all: BTreeSet<DealId> = (0..deals as u64).map(|d| DealId(FIRST_DEAL + d)).collect();
    let initial = write_back(&s.app, &profile, all, s.qb.now()).await;
    if initial.updated != deals {
        return Err(format!(
            "{} of {deals} deals written initially ({initial:?})",
            initial.updated
        ));
    }
    s.qb.advance_clock(120);
    for id in &to_pay {
        s.qb.record_payment(&s.realm, id, None)
            .map_err(|e| format!("paying {id}: {e}"))?;
    }
    s.qb.advance_clock(600);
    let before = deal_updates(&s.pd);
    let failed = scheduled_run(&s.app, s.qb.now()).await?;
    let updates = deal_updates(&s.pd) - before;
    s.qb.advance_clock(15 * 60);
    let before = deal_updates(&s.pd);
    scheduled_run(&s.app, s.qb.now()).await?;
    let idle_updates = deal_updates(&s.pd) - before;
    Ok(Figures {
        deals,
        per_deal,
        changed_deals: changed,
        changed_invoices: to_pay.len(),
        updates,
        idle_updates,
        failed_jobs: failed,
    })
}

/// The grid.
pub async fn measure() -> Result<Vec<Figures>, String> {
    let mut out = Vec::new();
    for (deals, per_deal, changed) in [(10, 1, 1), (100, 3, 10), (1000, 1, 100), (200, 5, 50)] {
        out.push(scenario(deals, per_deal, changed).await?);
        eprintln!("writeback: {deals} deals × {per_deal} invoices, {changed} changed: measured");
    }
    Ok(out)
}

pub fn table(figures: &[Figures]) -> Table {
    let mut t = Table::new(
        "writeback",
        "Write-back to deal fields: Pipedrive deal updates per scheduled run",
        &[
            "deals",
            "invoices / deal",
            "changed deals",
            "changed invoices",
            "deal updates",
            "updates ÷ changed deal",
            "baseline: 1 per changed invoice",
            "updates ÷ baseline",
            "idle run: updates",
            "how",
        ],
    );
    for f in figures {
        t.row(vec![
            f.deals.to_string(),
            f.per_deal.to_string(),
            f.changed_deals.to_string(),
            f.changed_invoices.to_string(),
            f.updates.to_string(),
            format!("{:.2}", f.updates as f64 / f.changed_deals.max(1) as f64),
            f.changed_invoices.to_string(),
            format!("{:.2}", f.updates as f64 / f.changed_invoices.max(1) as f64),
            f.idle_updates.to_string(),
            if f.failed_jobs == 0 {
                "measured".into()
            } else {
                format!("measured, {} jobs FAILED", f.failed_jobs)
            },
        ]);
    }
    t.note("Target: one deal update per changed deal per event, however many of its invoices changed; none when nothing changed. Six figures mapped (status, invoiced, paid, outstanding, last number, last payment date); each update carries only the fields whose value changed.");
    t
}
