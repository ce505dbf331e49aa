//! The product's whole life, through the front and the event sources only, against the
//! simulators: install → pages → connect → settings → draft → a rule on won deals and its
//! schedule's event (the invoice prepared once) → create (+ a double submit) → list,
//! send, PDF, open → a payment in the QuickBooks UI → its webhook → the scheduled sync through
//! the schedule's own event and the SQS worker (one job failing once and redelivered, one failing
//! every time and dead-lettered, the alarm's condition met) → refresh, activity, customer
//! invoices, link/unlink → void → delete → an estimate (created once, listed, sent, PDF,
//! accepted, deleted) → bulk from the deals list → me, an exchange rate, an item made from a
//! product →
//! unlink the customer → disconnect → uninstall, and the
//! purge checked in the table and the secrets. The first step that fails ends the rehearsal with
//! its name and what it saw.

use sandbox::pipedrive::seed::{COMPANY_A, COMPANY_B, USER_A_ADMIN, USER_A_MEMBER, USER_B_ADMIN};
use sandbox::quickbooks::{GB_REALM, US_REALM};

mod account;
mod bulk;
mod estimates;
mod invoices;
mod rules;
mod sync;

use account::{connect, draft, install, leave, pages, settings};
use bulk::bulk;
use estimates::estimates;
use invoices::{create_twice, deal_views, follow, helpers, void_and_delete};
use rules::rules;
use sync::{payment_and_webhook, scheduled_sync};

use crate::events::Poller;
use crate::lambda::Services;
use crate::record::Record;
use crate::wiring::Wiring;
use crate::world::{Answer, World};

const A_ADMIN: (u64, u64) = (COMPANY_A, USER_A_ADMIN);
const A_MEMBER: (u64, u64) = (COMPANY_A, USER_A_MEMBER);
const B_ADMIN: (u64, u64) = (COMPANY_B, USER_B_ADMIN);
/// Company A's deal (in GBP) and company B's (in USD) in the Pipedrive seed, and the
/// QuickBooks companies (realms) that work in those currencies.
const DEAL_A: u64 = 2;
const DEAL_B: u64 = 1;
const REALM_A: &str = GB_REALM;
const REALM_B: &str = US_REALM;

pub struct Ctx<'a> {
    pub world: &'a World,
    pub wiring: &'a Wiring,
    pub services: &'a Services,
    pub record: &'a Record,
    pub table: String,
    pub secret_prefix: String,
    pub pollers: Vec<Poller<'a>>,
    /// Queue logical id → URL.
    pub queue_urls: Vec<(String, String)>,
}

/// An hour passes: Intuit and Pipedrive refuse the access tokens they issued (QuickBooks'
/// clock moves on, Pipedrive's tokens are expired), and the tokens stored in each company's
/// secret are past their expiry — so the next function that calls either refreshes the
/// company's tokens under its lease and writes the secret back, as happens every hour in
/// production. (The functions' own clocks cannot move; an instance that cached a token meets
/// the 401 and takes the same refresh path.)
async fn an_hour_passes(ctx: &Ctx<'_>) -> Result<(), String> {
    let w = ctx.world;
    w.qb.advance_clock(3700);
    for (company, user) in [A_ADMIN, A_MEMBER, B_ADMIN] {
        w.pd.expire_access_tokens(company, user);
    }
    for company in [COMPANY_A, COMPANY_B] {
        w.expire_stored_tokens(&format!("{}/company/{company}", ctx.secret_prefix))
            .await?;
    }
    ctx.record
        .event("an hour passed (access tokens expired)", 1);
    Ok(())
}

fn expect(what: &str, answer: &Answer, status: u16) -> Result<(), String> {
    if answer.status == status {
        Ok(())
    } else {
        Err(format!(
            "{what}: expected {status}, got {} {}",
            answer.status,
            answer.text()
        ))
    }
}

/// `/api/*` as `who` (company, user), which must answer `status`.
async fn call(
    ctx: &Ctx<'_>,
    method: &str,
    path: &str,
    who: (u64, u64),
    body: Option<&serde_json::Value>,
    status: u16,
) -> Result<Answer, String> {
    let answer = ctx.world.api(method, path, who, body, None).await?;
    expect(&format!("{method} {path}"), &answer, status)?;
    Ok(answer)
}

/// The `Location` an answer redirects to.
fn location(answer: &Answer) -> Result<String, String> {
    match answer.header("location") {
        l if l.is_empty() => Err(format!("no redirect: {} {}", answer.status, answer.text())),
        l => Ok(l),
    }
}

/// Runs every step in order; the first failure names its step.
pub async fn run(ctx: &Ctx<'_>) -> Result<(), String> {
    let step = |name: &'static str| move |e: String| format!("step `{name}`: {e}");
    install(ctx).await.map_err(step("install"))?;
    pages(ctx).await.map_err(step("pages"))?;
    connect(ctx).await.map_err(step("connect"))?;
    settings(ctx).await.map_err(step("settings"))?;
    draft(ctx).await.map_err(step("draft"))?;
    rules(ctx)
        .await
        .map_err(step("a rule on won deals → its schedule"))?;
    let invoice = create_twice(ctx)
        .await
        .map_err(step("create + double submit"))?;
    follow(ctx, &invoice)
        .await
        .map_err(step("list, send, PDF, open"))?;
    payment_and_webhook(ctx, &invoice)
        .await
        .map_err(step("payment → webhook"))?;
    scheduled_sync(ctx)
        .await
        .map_err(step("scheduled sync → SQS worker"))?;
    deal_views(ctx)
        .await
        .map_err(step("refresh, activity, customer invoices, links"))?;
    void_and_delete(ctx).await.map_err(step("void, delete"))?;
    estimates(ctx).await.map_err(step(
        "estimate: create once, list, send, PDF, accept, invoice once, delete",
    ))?;
    bulk(ctx)
        .await
        .map_err(step("bulk: readiness, batch, run, result"))?;
    helpers(ctx)
        .await
        .map_err(step("me, exchange rate, an item made from a product"))?;
    leave(ctx)
        .await
        .map_err(step("unlink, disconnect, uninstall"))?;
    Ok(())
}
