//! Invoicing a deal without a person at its form — what the rules ([`crate::rules`]) and the
//! bulk run ([`crate::bulk`]) share: the deal's readiness, decided once from its draft
//! ([`ready_form`], on [`shared::domain::readiness`]), and the create under an idempotency key
//! derived from what asked for it ([`create_once`]): a run that crashed after QuickBooks
//! answered finds the same invoice on its retry (QuickBooks' `requestid`, then the invoice
//! link), never a second one; and a rule's estimate, the same way ([`estimate_once`]).

use axum::http::StatusCode;
use serde_json::Value;
use shared::app::App;
use shared::domain::DealId;
use shared::domain::draft::{self, InvoiceForm};
use shared::domain::readiness::{Blocker, CustomerFacts, blockers};

use crate::context::Caller;
use crate::create::{self, Created, Failure, settle_failure};
use crate::customers::save_link;
use crate::draft::{Draft, MatchedBy};
use crate::duplicates;
use crate::estimate::{self, CreatedEstimate};
use crate::idempotency::{Claim, attempt_of, body_hash, claim, complete};
use crate::views::CustomerSummary;

/// Whether the deal's draft can be created as it is.
pub struct Readiness<'a> {
    /// The form the run would send (with the one matching customer filled in when the party is
    /// not linked).
    pub form: InvoiceForm,
    /// That customer: linked to the party before the create.
    pub matched: Option<&'a CustomerSummary>,
    /// What blocks it (none: ready).
    pub blockers: Vec<Blocker>,
}

/// The deal's readiness, from its draft (the create's own checks, plus the customer rule of
/// [`shared::domain::readiness`]).
pub fn ready_form(draft: &Draft) -> Readiness<'_> {
    let linked = draft.customer.linked.is_some();
    let matches: Vec<&CustomerSummary> = draft
        .customer
        .suggestions
        .iter()
        .filter(|s| s.matched_by != MatchedBy::Link && s.customer.active)
        .map(|s| &s.customer)
        .collect();
    let facts = CustomerFacts {
        has_party: draft.customer.party.is_some(),
        linked,
        candidates: if linked { 0 } else { matches.len() },
        name: &draft.customer.block.name,
    };
    let mut form = draft.form.clone();
    let (matched, problems) = match matches.as_slice() {
        [one] if facts.matchable() => {
            form.customer_id = Some(one.id.clone());
            let problems = draft::validate(&form, &draft.quickbooks, one.currency.as_deref());
            (Some(*one), problems)
        }
        _ => (None, draft.problems.clone()),
    };
    let blockers = blockers(&problems, facts, &form.lines);
    Readiness {
        form,
        matched,
        blockers,
    }
}

/// Links the one matching customer to the deal's party (nothing when it was linked already).
/// Another deal of the same party linking it at the same moment (a bulk run) is no failure when
/// it linked the same customer.
pub async fn link_match(
    app: &App,
    caller: &Caller,
    draft: &Draft,
    ready: &Readiness<'_>,
) -> Result<(), String> {
    let (Some(customer), Some(party)) = (ready.matched, draft.customer.party) else {
        return Ok(());
    };
    let Err(error) = save_link(app, caller, party, customer).await else {
        return Ok(());
    };
    match app
        .records
        .get_customer_link(caller.tenant.company_id, party)
        .await
    {
        Ok(Some(link)) if link.customer_id == customer.id && link.realm_id == caller.realm_id => {
            Ok(())
        }
        _ => Err(error.to_string()),
    }
}

/// Why a create did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unattended {
    /// QuickBooks or the create's checks refused the invoice.
    Blocked(String),
    /// The deal already has an unpaid invoice like this one: left to a person (the sentence).
    Skipped(String),
    /// Not known yet (an upstream failed, the key is busy): try again later.
    Retry(String),
}

/// The invoice of `deal`, created once under `key` (`request` is what asked for it, hashed:
/// the same key for another request is refused).
pub async fn create_once(
    app: &App,
    caller: &Caller,
    deal: DealId,
    key: &str,
    request: &Value,
    form: &InvoiceForm,
) -> Result<Created, Unattended> {
    let company = caller.tenant.company_id;
    let hash = body_hash(request);
    let record = match claim(&app.records, &app.clock, company, key, &hash).await {
        Ok(Claim::Replay(_, body)) => {
            return serde_json::from_value(body).map_err(|e| Unattended::Retry(e.to_string()));
        }
        Ok(Claim::Run(record)) => record,
        Err(error) => return Err(Unattended::Retry(error.to_string())),
    };
    let attempt = attempt_of(&record);
    let links = match create::deal_links(app, caller, deal.0).await {
        Ok(links) => links,
        Err(error) => {
            let why = error.to_string();
            settle_failure(app, record, attempt, &error.into()).await;
            return Err(Unattended::Retry(why));
        }
    };
    match duplicates::check(app, caller, form, &links, record.created_at).await {
        Ok(None) => {}
        Ok(Some(question)) => {
            let why = format!("No invoice was created: {question}");
            settle_failure(app, record, attempt, &question.into()).await;
            return Err(Unattended::Skipped(why));
        }
        Err(error) => {
            let why = error.to_string();
            settle_failure(app, record, attempt, &error.into()).await;
            return Err(Unattended::Retry(why));
        }
    }
    let held = create::Held::of(key, &record);
    match create::run_at(app, caller, deal.0, form, &held, &links).await {
        Ok(created) => {
            complete(
                &app.records,
                record,
                StatusCode::CREATED,
                &create::answer(&created),
            )
            .await;
            Ok(created)
        }
        Err(failure) => {
            settle_failure(app, record, attempt, &failure).await;
            Err(unattended(&failure))
        }
    }
}

/// The estimate of `deal`, created once under `key` (`request` is what asked for it, hashed:
/// the same key for another request is refused) through the estimate route's core: a run that
/// crashed after QuickBooks answered finds the same estimate on its retry, never a second one.
/// No unpaid-invoice check: an estimate bills nothing.
pub async fn estimate_once(
    app: &App,
    caller: &Caller,
    deal: DealId,
    key: &str,
    request: &Value,
    form: &InvoiceForm,
) -> Result<CreatedEstimate, Unattended> {
    let hash = body_hash(request);
    match estimate::create_claimed(app, caller, deal.0, form, key, &hash).await {
        Ok((_, body)) => serde_json::from_value(body).map_err(|e| Unattended::Retry(e.to_string())),
        Err(failure) => Err(unattended(&failure)),
    }
}

/// A failed create, unattended: refused (QuickBooks or the checks said no: a person fixes the
/// deal) or to try again (not known yet).
fn unattended(failure: &Failure) -> Unattended {
    let sentence = failure.error.to_string();
    if failure.definitive || failure.error.status() == StatusCode::UNPROCESSABLE_ENTITY {
        Unattended::Blocked(sentence)
    } else {
        Unattended::Retry(sentence)
    }
}
