//! What a rule does for one deal once the scheduled run matched them: read the deal's draft (the
//! same build the create form gets), decide whether it can be invoiced without a person
//! ([`shared::domain::readiness`]), then prepare, create, create and send, or create an estimate
//! — or tell the deal what it still needs and wait.
//!
//! A create goes through [`crate::unattended::create_once`] (the create route's core), an
//! estimate through [`crate::unattended::estimate_once`] (the estimate route's core), under an
//! idempotency key derived from (deal, rule): a run that crashed after QuickBooks answered finds
//! the same invoice (or estimate) on its retry, never a second one.

use serde_json::json;
use shared::app::App;
use shared::domain::draft::InvoiceForm;
use shared::domain::readiness::needs_sentence;
use shared::domain::rules::{PreparedInvoice, Rule, RuleAction, RuleRun, RuleRunState, Trigger};
use shared::domain::{ActivityEvent, DealId, Outcome};
use shared::web::error::ApiError;
use shared::wire::pipedrive::model::Deal;

use crate::context::Caller;
use crate::create::Created;
use crate::draft::{Draft, build_with_deal};
use crate::unattended::{Unattended, create_once, estimate_once, link_match, ready_form};

/// What became of one (deal, rule) in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acted {
    /// Prepared, created, or created and sent (the invoice id when there is one), or the
    /// estimate created (its id).
    Done(Option<String>),
    /// Not ready: the sentence told on the deal.
    Waiting(String),
    /// Nothing decided (an upstream failed): tried again at the next run.
    Retry(String),
}

/// The idempotency key of the invoice (or estimate) a rule creates for a deal (one per (deal,
/// rule), ever).
pub fn rule_key(rule_id: &str, deal_id: DealId) -> String {
    format!("rule:{rule_id}:deal:{deal_id}")
}

/// What one company's pass acts with.
pub struct Pass<'a> {
    pub app: &'a App,
    pub caller: &'a Caller,
    pub rules: &'a [Rule],
    /// What waiting runs depend on now ([`shared::domain::rules::inputs_stamp`]).
    pub inputs: String,
}

/// Acts on a matched (deal, rule) and records the outcome on the run. `listed`: the deal as this
/// run's deals list gave it (its draft then reads no deal again).
pub async fn act(pass: &Pass<'_>, run: RuleRun, listed: Option<&Deal>) -> Acted {
    let (app, caller) = (pass.app, pass.caller);
    let Some(rule) = pass.rules.iter().find(|r| r.id == run.rule_id) else {
        let message = "The rule was removed before it acted.".to_string();
        let state = done(app, run.action, None, &message);
        save(app, run, state).await;
        return Acted::Done(None);
    };
    // Boxed: the draft's reads make a large future, kept off the scheduler task's stack.
    let read = Box::pin(build_with_deal(app, caller, run.deal_id.0, listed.cloned())).await;
    let deal_updated = read.as_ref().ok().and_then(|(_, d)| d.update_time.clone());
    let acted = Box::pin(decide_and_do(app, caller, rule, &run, read)).await;
    let state = match &acted {
        Acted::Done(id) => done(app, rule.action, id.clone(), rule.action.words()),
        Acted::Waiting(needs) => {
            if run.needs() != Some(needs.as_str()) {
                tell(
                    app,
                    caller,
                    run.deal_id,
                    "rule.waiting",
                    Outcome::Failed,
                    needs,
                )
                .await;
            }
            RuleRunState::Waiting {
                needs: Some(needs.clone()),
                checked_at: Some(app.clock.now()),
                inputs: Some(pass.inputs.clone()),
                deal_updated,
            }
        }
        Acted::Retry(error) => {
            tracing::warn!(deal_id = %run.deal_id, rule_id = run.rule_id.as_str(), error = error.as_str(), "the rule could not act; tried again at the next run");
            if let RuleRunState::Waiting {
                needs,
                checked_at,
                inputs: Some(_),
                ..
            } = &run.state
            {
                // Nothing was decided: the next run looks at it whatever changed.
                let again = RuleRunState::Waiting {
                    needs: needs.clone(),
                    checked_at: *checked_at,
                    inputs: None,
                    deal_updated: None,
                };
                save(app, run, again).await;
            }
            return acted;
        }
    };
    save(app, run, state).await;
    acted
}

/// The run done; `id`: the invoice (or, for an estimate rule, the estimate) it made.
fn done(app: &App, action: RuleAction, id: Option<String>, message: &str) -> RuleRunState {
    let (invoice_id, estimate_id) = match action {
        RuleAction::CreateEstimate => (None, id),
        RuleAction::Prepare | RuleAction::Create | RuleAction::CreateAndSend => (id, None),
    };
    RuleRunState::Done {
        at: app.clock.now(),
        invoice_id,
        estimate_id,
        message: message.to_string(),
    }
}

async fn save(app: &App, mut run: RuleRun, state: RuleRunState) {
    run.state = state;
    if let Err(error) = app.records.save_rule_run(&run).await {
        // Another run saved it first (it acted with the same key) or the store failed: the
        // waiting run comes back and the key replays what was done.
        tracing::warn!(%error, deal_id = %run.deal_id, "could not save the rule run");
    }
}

/// What a waiting run tells the deal when the deal no longer is what the rule waits for.
fn no_longer_matches(rule: &Rule) -> String {
    let acts = match rule.action {
        RuleAction::CreateEstimate => "creates its estimate",
        RuleAction::Prepare | RuleAction::Create | RuleAction::CreateAndSend => "invoices it",
    };
    match rule.trigger {
        Trigger::Won { .. } => format!(
            "The deal is no longer won (reopened or lost): the rule {acts} when it is won again."
        ),
        Trigger::Stage { .. } => format!(
            "The deal is no longer at the rule's stage (moved or lost): the rule {acts} when it is back there."
        ),
    }
}

/// The draft's readiness (`read`: the draft and the deal), and the rule's action when nothing
/// blocks it.
async fn decide_and_do(
    app: &App,
    caller: &Caller,
    rule: &Rule,
    run: &RuleRun,
    read: Result<(Draft, Deal), ApiError>,
) -> Acted {
    let draft = match read {
        // The deal was deleted: nothing to invoice, ever.
        Ok((_, deal)) if deal.is_gone() => return Acted::Done(None),
        // A run that waited acts only while the deal is still what the rule waits for (won,
        // or at the stage): reopened or lost meanwhile, it waits again until it is.
        Ok((_, deal)) if !rule.applies_to(&deal) => {
            return Acted::Waiting(no_longer_matches(rule));
        }
        Ok((draft, _)) => draft,
        // The deal was deleted (or is not the company's): nothing to invoice, ever.
        Err(ApiError::NotFound(_)) => return Acted::Done(None),
        Err(error) => return Acted::Retry(error.to_string()),
    };
    let ready = ready_form(&draft);
    if !ready.blockers.is_empty() {
        return Acted::Waiting(needs_sentence(&ready.blockers));
    }
    if let Err(error) = link_match(app, caller, &draft, &ready).await {
        return Acted::Retry(error);
    }
    let form = &ready.form;
    match rule.action {
        RuleAction::Prepare => prepare(app, caller, rule, run, &draft, form).await,
        RuleAction::CreateEstimate => {
            let key = rule_key(&run.rule_id, run.deal_id);
            let request = json!({"rule_id": run.rule_id, "deal_id": run.deal_id, "estimate": true});
            match estimate_once(app, caller, run.deal_id, &key, &request, form).await {
                Ok(created) => Acted::Done(Some(created.estimate.estimate_id)),
                Err(Unattended::Blocked(needs)) => Acted::Waiting(needs),
                Err(Unattended::Skipped(why) | Unattended::Retry(why)) => Acted::Retry(why),
            }
        }
        RuleAction::Create | RuleAction::CreateAndSend => {
            let key = rule_key(&run.rule_id, run.deal_id);
            let request = json!({"rule_id": run.rule_id, "deal_id": run.deal_id});
            match create_once(app, caller, run.deal_id, &key, &request, form).await {
                Ok(created) if rule.action == RuleAction::CreateAndSend => {
                    send(app, caller, run.deal_id, &created).await
                }
                Ok(created) => Acted::Done(Some(created.invoice.id)),
                Err(Unattended::Blocked(needs)) => Acted::Waiting(needs),
                Err(Unattended::Skipped(why)) => {
                    tell(
                        app,
                        caller,
                        run.deal_id,
                        "rule.skipped",
                        Outcome::Failed,
                        &why,
                    )
                    .await;
                    Acted::Done(None)
                }
                Err(Unattended::Retry(error)) => Acted::Retry(error),
            }
        }
    }
}

async fn prepare(
    app: &App,
    caller: &Caller,
    rule: &Rule,
    run: &RuleRun,
    draft: &Draft,
    form: &InvoiceForm,
) -> Acted {
    let prepared = PreparedInvoice {
        company_id: run.company_id,
        deal_id: run.deal_id,
        rule_id: rule.id.clone(),
        total: draft.totals.total,
        currency: form.currency.clone(),
        customer_name: Some(draft.customer.block.name.clone()),
        prepared_at: app.clock.now(),
        version: 0,
    };
    if let Err(error) = app.records.put_prepared_invoice(&prepared).await {
        return Acted::Retry(error.to_string());
    }
    let sentence = format!(
        "An invoice of {} is prepared for review: create it from the deal's panel.",
        caller
            .number_format()
            .money(prepared.total, &prepared.currency)
    );
    tell(
        app,
        caller,
        run.deal_id,
        "rule.prepared",
        Outcome::Succeeded,
        &sentence,
    )
    .await;
    Acted::Done(None)
}

/// Has QuickBooks e-mail the created invoice (to the form's address); a refusal is told on the
/// deal — the invoice stands, and is not created again.
async fn send(app: &App, caller: &Caller, deal: DealId, created: &Created) -> Acted {
    let id = created.invoice.id.clone();
    let sent = app
        .quickbooks_of(&caller.profile)
        .send_invoice(&id, None)
        .await;
    if let Err(error) = sent {
        let sentence = format!(
            "The rule created invoice {} but QuickBooks did not send it: {}. Send it from the deal's panel.",
            created.invoice.doc_number.as_deref().unwrap_or(&id),
            crate::context::qb_error(error, "sending the invoice")
        );
        tell(
            app,
            caller,
            deal,
            "rule.send_failed",
            Outcome::Failed,
            &sentence,
        )
        .await;
    }
    Acted::Done(Some(id))
}

/// An entry in the deal's activity log (what the panel shows under the deal).
async fn tell(
    app: &App,
    caller: &Caller,
    deal: DealId,
    kind: &str,
    outcome: Outcome,
    sentence: &str,
) {
    let event = ActivityEvent {
        company_id: caller.tenant.company_id,
        deal_id: deal,
        at: app.clock.now(),
        id: uuid::Uuid::new_v4().to_string(),
        kind: kind.into(),
        outcome,
        message: sentence.to_string(),
        invoice_id: None,
        user_id: None,
        intuit_tid: None,
    };
    if let Err(error) = app.records.append_activity(&event).await {
        tracing::warn!(%error, "could not record the rule's activity entry");
    }
}
