//! The status's event-driven paths: a payment in the QuickBooks UI and its webhook, the
//! schedule's event, the SQS worker with a retried job and a dead-lettered one, the DLQ alarm.

use sandbox::harness::FaultSpec;

use super::invoices::{create, status_of};
use super::*;
use crate::events::{self, Drained};

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

pub(super) async fn payment_and_webhook(ctx: &Ctx<'_>, invoice: &str) -> Result<(), String> {
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

pub(super) async fn scheduled_sync(ctx: &Ctx<'_>) -> Result<(), String> {
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
