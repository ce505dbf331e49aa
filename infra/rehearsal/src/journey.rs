//! The product's whole life, through the front and the event sources only, against the
//! simulators: install → pages → connect → settings → draft → create (+ a double submit) → list,
//! send, PDF, open → a payment in the QuickBooks UI → its webhook → the scheduled sync through
//! the schedule's own event and the SQS worker (one job failing once and redelivered, one failing
//! every time and dead-lettered, the alarm's condition met) → refresh, activity, customer
//! invoices, link/unlink → void → delete → unlink the customer → disconnect → uninstall, and the
//! purge checked in the table and the secrets. The first step that fails ends the rehearsal with
//! its name and what it saw.

use sandbox::harness::FaultSpec;
use sandbox::pipedrive::seed::{COMPANY_A, COMPANY_B, USER_A_ADMIN, USER_A_MEMBER, USER_B_ADMIN};
use sandbox::quickbooks::{GB_REALM, US_REALM};
use serde_json::{Value, json};

use crate::events::{self, Drained, Poller};
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
    leave(ctx)
        .await
        .map_err(step("unlink, disconnect, uninstall"))?;
    Ok(())
}

async fn install_user(ctx: &Ctx<'_>, company: u64, user: u64) -> Result<(), String> {
    let w = ctx.world;
    let authorize = format!(
        "{}/oauth/authorize?client_id={}&redirect_uri={}&auto=1&company_id={company}&user_id={user}",
        w.pd_url,
        w.keys.pipedrive_client_id,
        url::form_urlencoded::byte_serialize(
            format!("{}/oauth/pipedrive/callback", w.front).as_bytes()
        )
        .collect::<String>()
    );
    let consent = w.request("GET", &authorize, None, None, None).await?;
    let callback = location(&consent)?;
    let done = w.request("GET", &callback, None, None, None).await?;
    expect(&format!("install callback for user {user}"), &done, 302)
}

async fn install(ctx: &Ctx<'_>) -> Result<(), String> {
    for (company, user) in [A_ADMIN, A_MEMBER, B_ADMIN] {
        install_user(ctx, company, user).await?;
    }
    Ok(())
}

async fn pages(ctx: &Ctx<'_>) -> Result<(), String> {
    let w = ctx.world;
    let token = w.token(COMPANY_A, USER_A_ADMIN)?;
    for page in ["panel", "modal", "settings", "invoices"] {
        let query = format!(
            "resource=deal&view=details&selectedIds={DEAL_A}&companyId={COMPANY_A}&userId={USER_A_ADMIN}&token={token}"
        );
        let answer = w
            .request("GET", &format!("/ui/{page}?{query}"), None, None, None)
            .await?;
        expect(&format!("/ui/{page}"), &answer, 200)?;
        if !answer.header("content-type").starts_with("text/html") {
            return Err(format!("/ui/{page} is {}", answer.header("content-type")));
        }
    }
    let css = w
        .request("GET", "/ui/assets/app.css", None, None, None)
        .await?;
    expect("/ui/assets/app.css", &css, 200)
}

async fn connect_company(ctx: &Ctx<'_>, who: (u64, u64), realm: &str) -> Result<(), String> {
    let w = ctx.world;
    let answer = w
        .api("POST", "/api/quickbooks/connect", who, None, None)
        .await?;
    expect("POST /api/quickbooks/connect", &answer, 200)?;
    let authorize = answer.json["authorize_url"]
        .as_str()
        .ok_or("no authorize_url")?;
    let consent = w
        .request(
            "GET",
            &format!("{authorize}&realm_id={realm}"),
            None,
            None,
            None,
        )
        .await?;
    let callback = location(&consent)?;
    let page = w.request("GET", &callback, None, None, None).await?;
    expect("QuickBooks callback", &page, 200)?;
    let state = w.api("GET", "/api/connection", who, None, None).await?;
    expect("GET /api/connection", &state, 200)?;
    if state.json["state"] != "connected" || state.json["realm_id"] != realm {
        return Err(format!("the connection is {}", state.json));
    }
    Ok(())
}

async fn connect(ctx: &Ctx<'_>) -> Result<(), String> {
    connect_company(ctx, A_ADMIN, REALM_A).await?;
    connect_company(ctx, B_ADMIN, REALM_B).await
}

async fn settings(ctx: &Ctx<'_>) -> Result<(), String> {
    let w = ctx.world;
    let current = w.api("GET", "/api/settings", A_MEMBER, None, None).await?;
    expect("GET /api/settings", &current, 200)?;
    let fields = w
        .api("GET", "/api/settings/fields", A_ADMIN, None, None)
        .await?;
    expect("GET /api/settings/fields", &fields, 200)?;
    an_hour_passes(ctx).await?;
    let reference = w
        .api("GET", "/api/quickbooks/reference", A_ADMIN, None, None)
        .await?;
    expect("GET /api/quickbooks/reference", &reference, 200)?;
    let mut doc = json!({"version": current.json["version"], "settings": current.json["settings"]});
    doc["settings"]["due_date"] = json!({"kind": "days_after_issue", "days": 14});
    let saved = w
        .api("PUT", "/api/settings", A_ADMIN, Some(&doc), None)
        .await?;
    expect("PUT /api/settings", &saved, 200)?;
    if saved.json["settings"]["due_date"]["days"] != 14 {
        return Err(format!("the saved settings are {}", saved.json));
    }
    Ok(())
}

async fn draft(ctx: &Ctx<'_>) -> Result<(), String> {
    let w = ctx.world;
    an_hour_passes(ctx).await?;
    let customers = w
        .api(
            "GET",
            "/api/quickbooks/customers?search=A",
            A_ADMIN,
            None,
            None,
        )
        .await?;
    expect("GET /api/quickbooks/customers", &customers, 200)?;
    let link = json!({"customer_id": "1", "update_customer": false});
    let linked = w
        .api(
            "PUT",
            &format!("/api/deals/{DEAL_A}/customer-link"),
            A_ADMIN,
            Some(&link),
            None,
        )
        .await?;
    expect("PUT customer-link", &linked, 200)?;
    let draft = w
        .api(
            "GET",
            &format!("/api/deals/{DEAL_A}/draft"),
            A_ADMIN,
            None,
            None,
        )
        .await?;
    expect("GET draft", &draft, 200)?;
    // Link each of the deal's products to a QuickBooks service item.
    let items = w
        .api("GET", "/api/quickbooks/items?search=S", A_ADMIN, None, None)
        .await?;
    expect("GET /api/quickbooks/items", &items, 200)?;
    let item = items.json["items"][0]["id"]
        .as_str()
        .ok_or_else(|| format!("no item starts with S: {}", items.json))?;
    for line in draft.json["form"]["lines"].as_array().into_iter().flatten() {
        let Some(product) = line["product_id"].as_u64() else {
            continue;
        };
        let linked = w
            .api(
                "PUT",
                &format!("/api/products/{product}/item-link"),
                A_ADMIN,
                Some(&json!({"item_id": item})),
                None,
            )
            .await?;
        expect("PUT item-link", &linked, 200)?;
    }
    // Company B creates its customer from its deal (once, whatever the retries).
    let body = json!({"deal_id": DEAL_B, "display_name": "Rehearsal Freight Ltd", "email": "ap@rehearsal-freight.example"});
    let created = w
        .api(
            "POST",
            "/api/quickbooks/customers",
            B_ADMIN,
            Some(&body),
            Some("rehearsal-customer-b"),
        )
        .await?;
    expect("POST /api/quickbooks/customers", &created, 201)
}

/// The create form of deal A, ready to post.
async fn form(ctx: &Ctx<'_>) -> Result<Value, String> {
    let draft = ctx
        .world
        .api(
            "GET",
            &format!("/api/deals/{DEAL_A}/draft"),
            A_ADMIN,
            None,
            None,
        )
        .await?;
    expect("GET draft", &draft, 200)?;
    if draft.json["problems"] != json!([]) {
        return Err(format!(
            "the draft has problems: {}",
            draft.json["problems"]
        ));
    }
    Ok(draft.json["form"].clone())
}

async fn create(ctx: &Ctx<'_>, key: &str) -> Result<String, String> {
    let form = form(ctx).await?;
    let path = format!("/api/deals/{DEAL_A}/invoices");
    let answer = ctx
        .world
        .api("POST", &path, A_ADMIN, Some(&form), Some(key))
        .await?;
    expect("POST invoices", &answer, 201)?;
    answer.json["invoice"]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no invoice id in {}", answer.json))
}

/// Creates an invoice with a double submit: two requests with the same key at once. Both
/// answer the one invoice; QuickBooks has exactly one more.
async fn create_twice(ctx: &Ctx<'_>) -> Result<String, String> {
    let w = ctx.world;
    let before = w.qb.invoices(REALM_A).map_err(|e| e.to_string())?.len();
    let form = form(ctx).await?;
    let path = format!("/api/deals/{DEAL_A}/invoices");
    let (first, second) = tokio::join!(
        w.api(
            "POST",
            &path,
            A_ADMIN,
            Some(&form),
            Some("rehearsal-create-1")
        ),
        w.api(
            "POST",
            &path,
            A_ADMIN,
            Some(&form),
            Some("rehearsal-create-1")
        ),
    );
    let (first, second) = (first?, second?);
    let mut ids = Vec::new();
    for answer in [&first, &second] {
        if !matches!(answer.status, 200 | 201) {
            return Err(format!(
                "a submit answered {} {}",
                answer.status,
                answer.text()
            ));
        }
        ids.push(
            answer.json["invoice"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    if ids[0].is_empty() || ids[0] != ids[1] {
        return Err(format!("the two submits answered invoices {ids:?}"));
    }
    let after = w.qb.invoices(REALM_A).map_err(|e| e.to_string())?.len();
    if after != before + 1 {
        return Err(format!("QuickBooks went from {before} to {after} invoices"));
    }
    Ok(ids.remove(0))
}

async fn follow(ctx: &Ctx<'_>, invoice: &str) -> Result<(), String> {
    let w = ctx.world;
    let base = format!("/api/deals/{DEAL_A}/invoices");
    let list = w.api("GET", &base, A_MEMBER, None, None).await?;
    expect("GET invoices", &list, 200)?;
    if !list.json["invoices"]
        .as_array()
        .is_some_and(|l| l.iter().any(|i| i["invoice_id"] == invoice))
    {
        return Err(format!("the list lacks {invoice}: {}", list.json));
    }
    let sent = w
        .api(
            "POST",
            &format!("{base}/{invoice}/send"),
            A_ADMIN,
            Some(&json!({"to": "billing@example.com"})),
            None,
        )
        .await?;
    expect("send", &sent, 200)?;
    let pdf = w
        .api("GET", &format!("{base}/{invoice}/pdf"), A_ADMIN, None, None)
        .await?;
    expect("pdf", &pdf, 200)?;
    if pdf.header("content-type") != "application/pdf" || !pdf.bytes.starts_with(b"%PDF-") {
        return Err(format!(
            "the PDF is {} starting {:?}",
            pdf.header("content-type"),
            &pdf.bytes[..pdf.bytes.len().min(8)]
        ));
    }
    let company =
        w.qb.config()
            .realms
            .iter()
            .find(|r| r.realm_id == REALM_A)
            .map(|r| r.company_name.clone())
            .unwrap_or_default();
    let original = sandbox::quickbooks::invoice_pdf(
        &company,
        &w.qb.invoice(REALM_A, invoice).map_err(|e| e.to_string())?,
    );
    if pdf.bytes != original {
        return Err(format!(
            "the PDF through API Gateway ({} bytes) differs from QuickBooks' ({} bytes): the base64 round trip broke it",
            pdf.bytes.len(),
            original.len()
        ));
    }
    ctx.record.event(
        &format!(
            "binary body ({} bytes, base64 through the front)",
            pdf.bytes.len()
        ),
        1,
    );
    let open = w
        .api(
            "GET",
            &format!("{base}/{invoice}/open"),
            A_ADMIN,
            None,
            None,
        )
        .await?;
    expect("open", &open, 200)?;
    if !open.json["url"]
        .as_str()
        .is_some_and(|u| u.contains(invoice))
    {
        return Err(format!("open answered {}", open.json));
    }
    Ok(())
}

async fn status_of(ctx: &Ctx<'_>, invoice: &str) -> Result<String, String> {
    let list = ctx
        .world
        .api(
            "GET",
            &format!("/api/deals/{DEAL_A}/invoices"),
            A_ADMIN,
            None,
            None,
        )
        .await?;
    expect("GET invoices", &list, 200)?;
    list.json["invoices"]
        .as_array()
        .and_then(|l| l.iter().find(|i| i["invoice_id"] == invoice))
        .and_then(|i| i["status"].as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("{invoice} is not listed: {}", list.json))
}

/// Drains every queue mapping once.
async fn drain_all(ctx: &Ctx<'_>) -> Result<Drained, String> {
    let mut total = Drained::default();
    for poller in &ctx.pollers {
        let service = ctx
            .services
            .get(&poller.mapping.function)
            .ok_or("no service")?;
        let d = poller.drain(service, ctx.record).await?;
        total.batches += d.batches;
        total.messages += d.messages;
        total.failed += d.failed;
    }
    Ok(total)
}

async fn payment_and_webhook(ctx: &Ctx<'_>, invoice: &str) -> Result<(), String> {
    let w = ctx.world;
    w.qb.record_payment(REALM_A, invoice, None)
        .map_err(|e| e.to_string())?;
    // QuickBooks stumbles once when the webhook re-reads the invoice: the function hands the
    // change to the sync queue and still answers 200 (Intuit wants an answer within 3 s).
    an_hour_passes(ctx).await?;
    w.qb.harness().set_fault(
        format!("/v3/company/{REALM_A}/query"),
        FaultSpec {
            force_500: 1,
            ..FaultSpec::default()
        },
    );
    let deliveries = w.qb.flush_webhooks().await;
    w.qb.harness().clear_faults();
    ctx.record.event("QuickBooks webhook", deliveries.len());
    match deliveries.iter().find(|d| d.status != Some(200)) {
        Some(d) => {
            return Err(format!(
                "a webhook delivery answered {:?} {:?}",
                d.status, d.error
            ));
        }
        None if deliveries.is_empty() => return Err("QuickBooks sent no webhook".into()),
        None => {}
    }
    // What did not fit the webhook's answer went to the queue.
    let drained = drain_all(ctx).await?;
    if drained.messages != 1 || drained.failed != 0 {
        return Err(format!(
            "after the webhook the worker saw {drained:?} (expected the one job it queued, done)"
        ));
    }
    let status = status_of(ctx, invoice).await?;
    if status != "paid" {
        return Err(format!(
            "after the payment and its webhook the invoice is {status}"
        ));
    }
    Ok(())
}

async fn scheduled_sync(ctx: &Ctx<'_>) -> Result<(), String> {
    let w = ctx.world;
    // A change made in the QuickBooks UI that no webhook reports: only the sync can see it.
    let changed = create(ctx, "rehearsal-create-2").await?;
    w.qb.record_payment(REALM_A, &changed, Some(rust_decimal::Decimal::ONE))
        .map_err(|e| e.to_string())?;
    // Company A's QuickBooks fails once (its job is retried); B's fails every time (its job
    // ends in the dead-letter queue).
    w.qb.harness().set_fault(
        format!("/v3/company/{REALM_A}/cdc"),
        FaultSpec {
            force_500: 1,
            ..FaultSpec::default()
        },
    );
    w.qb.harness().set_fault(
        format!("/v3/company/{REALM_B}/"),
        FaultSpec {
            error_rate: 1.0,
            ..FaultSpec::default()
        },
    );
    an_hour_passes(ctx).await?;
    let schedule = ctx
        .wiring
        .schedules
        .first()
        .ok_or("the template has no schedule")?;
    let service = ctx
        .services
        .get(&schedule.function)
        .ok_or("no service for the schedule")?;
    let answer = events::tick(schedule, service, ctx.record).await?;
    if answer["enqueued"] != 2 {
        return Err(format!(
            "the schedule's event enqueued {answer} (expected one job per connected company: 2)"
        ));
    }
    let mapping = ctx
        .pollers
        .first()
        .ok_or("the template maps no queue")?
        .mapping;
    let receives = ctx
        .wiring
        .queue(&mapping.queue)
        .and_then(|q| q.dead_letter.as_ref())
        .map(|d| d.1)
        .ok_or("the queue has no redrive policy")?;
    let mut rounds = Vec::new();
    for _ in 0..=receives + 1 {
        let d = drain_all(ctx).await?;
        if d.messages == 0 {
            break;
        }
        rounds.push(d);
    }
    w.qb.harness().clear_faults();
    // Round 1: both fail; round 2: A succeeds; rounds 2..=receives: B fails; then B is dead.
    let expected_rounds = receives as usize;
    if rounds.len() != expected_rounds
        || rounds[0].failed != 2
        || rounds
            .get(1)
            .is_none_or(|r| r.messages != 2 || r.failed != 1)
    {
        return Err(format!(
            "the worker's rounds were {rounds:?} (expected {expected_rounds}: both fail, then A succeeds and B keeps failing)"
        ));
    }
    let status = status_of(ctx, &changed).await?;
    if status != "partially_paid" {
        return Err(format!(
            "after the sync the partly paid invoice is {status}"
        ));
    }
    dead_letters(ctx, &mapping.queue).await
}

/// B's job is in the dead-letter queue, and the alarm on it would fire.
async fn dead_letters(ctx: &Ctx<'_>, queue: &str) -> Result<(), String> {
    let dlq = ctx
        .wiring
        .queue(queue)
        .and_then(|q| q.dead_letter.as_ref())
        .map(|d| d.0.clone())
        .ok_or("no dead-letter queue")?;
    let dlq_queue = ctx.wiring.queue(&dlq).ok_or("no dead-letter queue")?;
    let url = ctx
        .queue_urls
        .iter()
        .find(|(l, _)| *l == dlq)
        .map(|(_, u)| u.clone())
        .ok_or("no DLQ URL")?;
    let bodies = ctx.world.peek(&url).await?;
    if bodies.len() != 1 || !bodies[0].contains(&COMPANY_B.to_string()) {
        return Err(format!(
            "the dead-letter queue holds {bodies:?} (expected company {COMPANY_B}'s job)"
        ));
    }
    let visible = ctx.world.visible_messages(&url).await? as f64;
    let alarm = ctx
        .wiring
        .alarms
        .iter()
        .find(|a| {
            a.namespace == "AWS/SQS"
                && a.dimensions
                    .iter()
                    .any(|(n, v)| n == "QueueName" && *v == dlq_queue.name)
        })
        .ok_or_else(|| format!("no alarm watches the dead-letter queue {}", dlq_queue.name))?;
    if alarm.metric != "ApproximateNumberOfMessagesVisible" || !alarm.breached_by(visible) {
        return Err(format!(
            "{} ({} {} {} {}) is not breached by {visible} visible messages",
            alarm.logical, alarm.metric, alarm.statistic, alarm.comparison, alarm.threshold
        ));
    }
    ctx.record.event(
        &format!(
            "{} condition met ({visible} > {})",
            alarm.logical, alarm.threshold
        ),
        1,
    );
    Ok(())
}

async fn deal_views(ctx: &Ctx<'_>) -> Result<(), String> {
    let w = ctx.world;
    let base = format!("/api/deals/{DEAL_A}");
    an_hour_passes(ctx).await?;
    expect(
        "refresh",
        &w.api(
            "POST",
            &format!("{base}/invoices/refresh"),
            A_ADMIN,
            None,
            None,
        )
        .await?,
        200,
    )?;
    expect(
        "activity",
        &w.api("GET", &format!("{base}/activity"), A_ADMIN, None, None)
            .await?,
        200,
    )?;
    let theirs = w
        .api(
            "GET",
            &format!("{base}/customer-invoices"),
            A_ADMIN,
            None,
            None,
        )
        .await?;
    expect("customer-invoices", &theirs, 200)?;
    // One of the customer's invoices, taken off the deal and linked to it again.
    let one = theirs.json["invoices"][0]["invoice_id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("the customer has no invoice: {}", theirs.json))?;
    let unlinked = w
        .api(
            "DELETE",
            &format!("{base}/invoice-links/{one}"),
            A_ADMIN,
            None,
            None,
        )
        .await?;
    expect("DELETE invoice-link", &unlinked, 200)?;
    let linked = w
        .api(
            "PUT",
            &format!("{base}/invoice-links/{one}"),
            A_ADMIN,
            None,
            None,
        )
        .await?;
    expect("PUT invoice-link", &linked, 201)
}

async fn void_and_delete(ctx: &Ctx<'_>) -> Result<(), String> {
    let w = ctx.world;
    let confirm = json!({"confirm": true});
    let base = format!("/api/deals/{DEAL_A}/invoices");
    let to_void = create(ctx, "rehearsal-create-3").await?;
    expect(
        "void",
        &w.api(
            "POST",
            &format!("{base}/{to_void}/void"),
            A_ADMIN,
            Some(&confirm),
            None,
        )
        .await?,
        200,
    )?;
    let to_delete = create(ctx, "rehearsal-create-4").await?;
    expect(
        "delete",
        &w.api(
            "POST",
            &format!("{base}/{to_delete}/delete"),
            A_ADMIN,
            Some(&confirm),
            None,
        )
        .await?,
        200,
    )?;
    for (id, status) in [(&to_void, "voided"), (&to_delete, "deleted")] {
        let now = status_of(ctx, id).await?;
        if now != status {
            return Err(format!("{id} is {now}, expected {status}"));
        }
    }
    Ok(())
}

async fn leave(ctx: &Ctx<'_>) -> Result<(), String> {
    let w = ctx.world;
    let unlinked = w
        .api(
            "DELETE",
            &format!("/api/deals/{DEAL_A}/customer-link"),
            A_ADMIN,
            None,
            None,
        )
        .await?;
    expect("DELETE customer-link", &unlinked, 200)?;
    let gone = w
        .api("POST", "/api/quickbooks/disconnect", A_ADMIN, None, None)
        .await?;
    expect("disconnect", &gone, 200)?;
    for user in [USER_A_MEMBER, USER_A_ADMIN] {
        let status =
            w.pd.fire_uninstall(COMPANY_A, user)
                .await
                .map_err(|e| e.to_string())?;
        ctx.record.event("Pipedrive uninstall callback", 1);
        if status != 200 {
            return Err(format!(
                "the uninstall callback for user {user} answered {status}"
            ));
        }
    }
    let key = format!("COMPANY#{COMPANY_A}");
    let left: Vec<_> = w
        .scan(&ctx.table)
        .await?
        .into_iter()
        .filter(|(pk, sk, item)| {
            pk.contains(&key)
                || sk.contains(&key)
                || item.contains(&format!("\"company_id\": N(\"{COMPANY_A}\")"))
        })
        .collect();
    if !left.is_empty() {
        return Err(format!(
            "after the uninstall, items of company {COMPANY_A} remain: {left:?}"
        ));
    }
    let secrets = w.secret_names(&format!("{}/", ctx.secret_prefix)).await?;
    if secrets
        .iter()
        .any(|s| s.ends_with(&format!("/company/{COMPANY_A}")))
    {
        return Err(format!(
            "after the uninstall, company {COMPANY_A}'s secret remains: {secrets:?}"
        ));
    }
    if !secrets
        .iter()
        .any(|s| s.ends_with(&format!("/company/{COMPANY_B}")))
    {
        return Err(format!(
            "company {COMPANY_B}'s secret went too: {secrets:?}"
        ));
    }
    Ok(())
}
