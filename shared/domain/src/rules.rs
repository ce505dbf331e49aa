//! The company's invoicing rules: "when a deal in pipeline P reaches stage S / is won → prepare
//! an invoice for review | create the invoice | create and send it | create an estimate", and
//! which of them a deal seen by the scheduled run calls for ([`rules_for`]).
//!
//! A rule acts on what happens *after* it was saved: a deal won (or moved to the stage) before
//! the rule existed is left alone, so adding a rule never invoices the company's history. Each
//! (deal, rule) acts at most once, ever — the store's conditional record of it sees to that; a
//! deal edited again after it was won matches again here and is skipped there.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{CompanyId, DealId};
use pipedrive_wire::model::{Deal, DealStatus};

/// Most rules per company.
pub const MAX_RULES: usize = 20;

/// When a rule acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// The deal is won (in any pipeline, or in this one).
    Won {
        #[serde(default)]
        pipeline_id: Option<u64>,
    },
    /// The deal reaches this stage of this pipeline (and is not lost).
    Stage { pipeline_id: u64, stage_id: u64 },
}

impl Trigger {
    /// The trigger as the panel names it ("a deal is won in pipeline 2").
    pub fn words(self) -> String {
        match self {
            Trigger::Won { pipeline_id: None } => "a deal is won".into(),
            Trigger::Won {
                pipeline_id: Some(p),
            } => format!("a deal is won in pipeline {p}"),
            Trigger::Stage {
                pipeline_id,
                stage_id,
            } => format!("a deal reaches stage {stage_id} of pipeline {pipeline_id}"),
        }
    }
}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Prepare the invoice: a rep creates it with one click in the deal's panel.
    Prepare,
    /// Create the invoice in QuickBooks.
    Create,
    /// Create it and have QuickBooks e-mail it to the customer.
    CreateAndSend,
    /// Create a QuickBooks estimate of the deal (not sent: a rep sends it from the panel).
    CreateEstimate,
}

impl RuleAction {
    pub fn words(self) -> &'static str {
        match self {
            RuleAction::Prepare => "prepare an invoice for review",
            RuleAction::Create => "create the invoice",
            RuleAction::CreateAndSend => "create and send the invoice",
            RuleAction::CreateEstimate => "create an estimate",
        }
    }
}

/// One rule. `id` and `created_at` are given by the server when the rule is first saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub id: String,
    pub trigger: Trigger,
    pub action: RuleAction,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

/// Reads a Pipedrive time: v2's RFC 3339, or v1's `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn pipedrive_time(raw: Option<&str>) -> Option<DateTime<Utc>> {
    let raw = raw?.trim();
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        })
}

impl Rule {
    /// Whether the deal, as it is now, is what the rule waits for — and it happened after the
    /// rule was saved.
    pub fn applies_to(&self, deal: &Deal) -> bool {
        let Some(since) = self.created_at else {
            return false;
        };
        if deal.is_gone() {
            return false;
        }
        match self.trigger {
            Trigger::Won { pipeline_id } => {
                deal.status == Some(DealStatus::Won)
                    && pipeline_id.is_none_or(|p| deal.pipeline_id == Some(p))
                    && pipedrive_time(deal.won_time.as_deref()).is_some_and(|t| t >= since)
            }
            Trigger::Stage {
                pipeline_id,
                stage_id,
            } => {
                deal.stage_id == Some(stage_id)
                    && deal.pipeline_id.is_none_or(|p| p == pipeline_id)
                    && deal.status != Some(DealStatus::Lost)
                    && pipedrive_time(deal.stage_change_time.as_deref()).is_some_and(|t| t >= since)
            }
        }
    }
}

/// The rules a deal calls for, in the order the admin listed them.
pub fn rules_for<'a>(deal: &Deal, rules: &'a [Rule]) -> Vec<&'a Rule> {
    rules.iter().filter(|r| r.applies_to(deal)).collect()
}

/// The rules as saved: a new rule (no id, or an id the company does not have) gets `new_id()`
/// and `now`; a kept rule keeps its id and the time it was first saved whatever the page
/// sends, so a resave never re-arms a rule for deals it has already seen.
pub fn stamped(
    submitted: &[Rule],
    stored: &[Rule],
    now: DateTime<Utc>,
    mut new_id: impl FnMut() -> String,
) -> Vec<Rule> {
    submitted
        .iter()
        .map(|rule| {
            let kept = stored
                .iter()
                .find(|s| !rule.id.is_empty() && s.id == rule.id);
            match kept {
                Some(old) if old.trigger == rule.trigger && old.action == rule.action => {
                    old.clone()
                }
                // Same id but another trigger or action: a new rule from now on.
                _ => Rule {
                    id: new_id(),
                    created_at: Some(now),
                    ..rule.clone()
                },
            }
        })
        .collect()
}

/// Checks that need no Pipedrive call: how many, no two alike. (`field` paths as the settings
/// page names them.)
pub fn check_rules(rules: &[Rule]) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    if rules.len() > MAX_RULES {
        errors.push((
            "settings.rules".to_string(),
            format!("at most {MAX_RULES} rules"),
        ));
    }
    for (i, rule) in rules.iter().enumerate() {
        if rules[..i]
            .iter()
            .any(|r| r.trigger == rule.trigger && r.action == rule.action)
        {
            errors.push((
                format!("settings.rules[{i}]"),
                "the same rule is listed twice".to_string(),
            ));
        }
    }
    errors
}

/// Where one (deal, rule) stands. Created once, conditionally, when the scheduled run first
/// finds the deal matching the rule; it is open (waiting) until the rule has acted, then done
/// forever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRun {
    pub company_id: CompanyId,
    pub deal_id: DealId,
    pub rule_id: String,
    pub action: RuleAction,
    /// When the run first saw the deal match.
    pub matched_at: DateTime<Utc>,
    pub state: RuleRunState,
    #[serde(skip)]
    pub version: u64,
}

/// How far a (deal, rule) got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RuleRunState {
    /// Not acted yet: not looked at, or not ready (`needs` says why; told on the deal once per
    /// distinct sentence).
    Waiting {
        #[serde(default)]
        needs: Option<String>,
        #[serde(default)]
        checked_at: Option<DateTime<Utc>>,
        /// The company's [`inputs_stamp`] when it was checked (`None`: look again).
        #[serde(default)]
        inputs: Option<String>,
        /// The deal's `update_time` (Pipedrive's clock) as the check read it.
        #[serde(default)]
        deal_updated: Option<String>,
    },
    /// Acted: prepared, created or created and sent (the invoice, once there is one), or the
    /// estimate created (its id).
    Done {
        at: DateTime<Utc>,
        #[serde(default)]
        invoice_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        estimate_id: Option<String>,
        #[serde(default)]
        message: String,
    },
}

impl RuleRun {
    pub fn is_open(&self) -> bool {
        matches!(self.state, RuleRunState::Waiting { .. })
    }

    /// Whether the rules pass looks at a waiting run again (a check costs the deal's Pipedrive
    /// reads): when it was never checked, when the company's links or settings changed since
    /// (`inputs`, the [`inputs_stamp`] now), when the deal is in this run's list with an
    /// `update_time` later than the one the check read (both Pipedrive's clock), or when it was
    /// last checked [`RECHECK_AFTER`] ago (what the app cannot see change: a customer or item
    /// made in QuickBooks, an organisation renamed in Pipedrive).
    pub fn worth_checking(&self, inputs: &str, listed: Option<&Deal>, now: DateTime<Utc>) -> bool {
        let RuleRunState::Waiting {
            checked_at: Some(checked),
            inputs: Some(seen),
            deal_updated,
            ..
        } = &self.state
        else {
            return true;
        };
        if seen != inputs || now - *checked >= RECHECK_AFTER {
            return true;
        }
        let read = pipedrive_time(deal_updated.as_deref());
        listed.is_some_and(
            |deal| match (pipedrive_time(deal.update_time.as_deref()), read) {
                (Some(now_listed), Some(read)) => now_listed > read,
                _ => true,
            },
        )
    }

    /// The sentence last told on the deal for a waiting run.
    pub fn needs(&self) -> Option<&str> {
        match &self.state {
            RuleRunState::Waiting { needs, .. } => needs.as_deref(),
            RuleRunState::Done { .. } => None,
        }
    }
}

/// Longest a waiting run goes unchecked when nothing it depends on is seen to change.
pub const RECHECK_AFTER: Duration = Duration::hours(24);

/// What a waiting run's readiness depends on in the app, as one comparable stamp: the company's
/// settings (their version) and its customer and product links (the stamp every link change
/// replaces; `None` before the first).
pub fn inputs_stamp(settings_version: u64, links: Option<&str>) -> String {
    format!(
        "settings {settings_version}; links {}",
        links.unwrap_or("-")
    )
}

/// Where the company's rules pass stands: the `updated_since` of its next deals list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesWatermark {
    pub company_id: CompanyId,
    pub since: DateTime<Utc>,
    #[serde(skip)]
    pub version: u64,
}

/// An invoice a "prepare" rule got ready for review: a rep creates it with one click in the
/// deal's panel (from the deal as it is then).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedInvoice {
    pub company_id: CompanyId,
    pub deal_id: DealId,
    pub rule_id: String,
    /// The total the draft had when prepared, for the panel to show.
    pub total: Decimal,
    pub currency: String,
    pub customer_name: Option<String>,
    pub prepared_at: DateTime<Utc>,
    #[serde(skip)]
    pub version: u64,
}

impl PreparedInvoice {
    /// The idempotency key of the one-click create of this preparation: one invoice per
    /// preparation, ever (a newer preparation of the deal has another key).
    pub fn key(&self) -> String {
        format!(
            "prepared:{}:deal:{}:{}",
            self.rule_id,
            self.deal_id,
            self.prepared_at.timestamp_micros()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn deal(value: serde_json::Value) -> Deal {
        let mut base = serde_json::json!({"id": 7, "title": "D", "pipeline_id": 1, "stage_id": 2,
            "status": "open", "stage_change_time": "2026-03-01T10:00:00Z"});
        for (k, v) in value.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn rule(trigger: Trigger, saved: &str) -> Rule {
        Rule {
            id: "r".into(),
            trigger,
            action: RuleAction::Create,
            created_at: DateTime::parse_from_rfc3339(saved)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    #[test]
    fn won_rules_act_on_deals_won_after_they_were_saved() {
        let won = deal(serde_json::json!({"status": "won", "won_time": "2026-03-02T08:00:00Z"}));
        let any = rule(Trigger::Won { pipeline_id: None }, "2026-03-01T00:00:00Z");
        let sales = rule(
            Trigger::Won {
                pipeline_id: Some(1),
            },
            "2026-03-01T00:00:00Z",
        );
        let renewals = rule(
            Trigger::Won {
                pipeline_id: Some(2),
            },
            "2026-03-01T00:00:00Z",
        );
        let later = rule(Trigger::Won { pipeline_id: None }, "2026-03-05T00:00:00Z");
        assert!(any.applies_to(&won) && sales.applies_to(&won));
        assert!(!renewals.applies_to(&won), "another pipeline");
        assert!(!later.applies_to(&won), "won before the rule existed");
        let open = deal(serde_json::json!({}));
        assert!(!any.applies_to(&open));
        let v1_time = deal(serde_json::json!({"status": "won", "won_time": "2026-03-02 08:00:00"}));
        assert!(any.applies_to(&v1_time), "v1 times read too");
        let deleted = deal(
            serde_json::json!({"status": "won", "won_time": "2026-03-02T08:00:00Z",
            "is_deleted": true}),
        );
        assert!(!any.applies_to(&deleted));
        let unsaved = Rule {
            created_at: None,
            ..any.clone()
        };
        assert!(!unsaved.applies_to(&won));
        let rules = [renewals, any.clone(), sales.clone()];
        assert_eq!(rules_for(&won, &rules), vec![&any, &sales]);
    }

    #[test]
    fn stage_rules_act_when_the_deal_reaches_the_stage() {
        let stage = rule(
            Trigger::Stage {
                pipeline_id: 1,
                stage_id: 2,
            },
            "2026-02-28T00:00:00Z",
        );
        assert!(stage.applies_to(&deal(serde_json::json!({}))));
        assert!(!stage.applies_to(&deal(serde_json::json!({"stage_id": 3}))));
        assert!(!stage.applies_to(&deal(serde_json::json!({"status": "lost"}))));
        assert!(stage.applies_to(&deal(serde_json::json!({"status": "won"}))));
        assert!(
            !stage.applies_to(&deal(
                serde_json::json!({"stage_change_time": "2026-02-01T00:00:00Z"})
            )),
            "there before the rule"
        );
        assert!(!stage.applies_to(&deal(serde_json::json!({"stage_change_time": null}))));
    }

    #[test]
    fn a_waiting_run_is_checked_again_only_when_something_it_depends_on_changed() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap();
        let run = |checked_at: Option<DateTime<Utc>>, inputs: Option<&str>| RuleRun {
            company_id: CompanyId(1),
            deal_id: DealId(7),
            rule_id: "r".into(),
            action: RuleAction::Create,
            matched_at: t0,
            state: RuleRunState::Waiting {
                needs: Some("Ready to invoice — needs: a customer".into()),
                checked_at,
                inputs: inputs.map(str::to_string),
                deal_updated: Some("2026-03-01T09:58:00Z".into()),
            },
            version: 1,
        };
        let stamp = inputs_stamp(3, Some("abc"));
        let checked = run(Some(t0), Some(&stamp));
        let later = t0 + Duration::minutes(15);
        assert!(
            !checked.worth_checking(&stamp, None, later),
            "nothing changed"
        );
        assert!(
            run(None, None).worth_checking(&stamp, None, later),
            "never checked"
        );
        assert!(
            run(Some(t0), None).worth_checking(&stamp, None, later),
            "checked before stamps, or left to retry"
        );
        assert!(
            checked.worth_checking(&inputs_stamp(4, Some("abc")), None, later),
            "settings saved"
        );
        assert!(
            checked.worth_checking(&inputs_stamp(3, Some("abd")), None, later),
            "a link changed"
        );
        let edited = deal(serde_json::json!({"update_time": "2026-03-01T10:07:00Z"}));
        assert!(
            checked.worth_checking(&stamp, Some(&edited), later),
            "the deal changed"
        );
        let same = deal(serde_json::json!({"update_time": "2026-03-01 09:58:00"}));
        assert!(
            !checked.worth_checking(&stamp, Some(&same), later),
            "listed again by the overlap, unchanged since the check"
        );
        let no_time = deal(serde_json::json!({"update_time": null}));
        assert!(checked.worth_checking(&stamp, Some(&no_time), later));
        assert!(
            checked.worth_checking(&stamp, None, t0 + RECHECK_AFTER),
            "a day without a check"
        );
    }

    #[test]
    fn every_action_reads_as_the_page_and_the_api_name_it() {
        let all = [
            (RuleAction::Prepare, "prepare"),
            (RuleAction::Create, "create"),
            (RuleAction::CreateAndSend, "create_and_send"),
            (RuleAction::CreateEstimate, "create_estimate"),
        ];
        for (action, wire) in all {
            assert_eq!(serde_json::to_value(action).unwrap(), wire);
            assert_eq!(
                serde_json::from_value::<RuleAction>(serde_json::json!(wire)).unwrap(),
                action
            );
        }
        assert_eq!(RuleAction::CreateEstimate.words(), "create an estimate");
        assert!(serde_json::from_value::<RuleAction>(serde_json::json!("estimate")).is_err());
    }

    #[test]
    fn a_done_run_names_its_estimate_and_a_record_from_before_estimates_still_reads() {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let done = RuleRunState::Done {
            at,
            invoice_id: None,
            estimate_id: Some("88".into()),
            message: "create an estimate".into(),
        };
        let json = serde_json::to_value(&done).unwrap();
        assert_eq!(json["estimate_id"], "88");
        assert_eq!(serde_json::from_value::<RuleRunState>(json).unwrap(), done);
        let before = serde_json::json!({"state": "done", "at": "2026-03-01T00:00:00Z",
            "invoice_id": "130", "message": "create the invoice"});
        let read: RuleRunState = serde_json::from_value(before).unwrap();
        assert!(
            matches!(&read, RuleRunState::Done { invoice_id: Some(i), estimate_id: None, .. } if i == "130"),
            "{read:?}"
        );
        let invoice_done = serde_json::to_value(&read).unwrap();
        assert!(invoice_done.get("estimate_id").is_none(), "{invoice_done}");
    }

    #[test]
    fn an_estimate_rule_beside_an_invoice_rule_on_the_same_trigger_is_no_repeat() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let won = Trigger::Won { pipeline_id: None };
        let invoice = Rule {
            id: "a".into(),
            trigger: won,
            action: RuleAction::Create,
            created_at: Some(t0),
        };
        let estimate = Rule {
            id: "b".into(),
            action: RuleAction::CreateEstimate,
            ..invoice.clone()
        };
        assert!(check_rules(&[invoice.clone(), estimate.clone()]).is_empty());
        // The invoice rule turned into an estimate rule: a new rule from now on (another id,
        // so another (deal, rule) record and idempotency key: no invoice key is reused).
        let t1 = t0 + Duration::days(1);
        let changed = Rule {
            action: RuleAction::CreateEstimate,
            ..invoice.clone()
        };
        let saved = stamped(&[changed], &[invoice], t1, || "c".into());
        assert_eq!(
            (saved[0].id.as_str(), saved[0].action, saved[0].created_at),
            ("c", RuleAction::CreateEstimate, Some(t1))
        );
    }

    #[test]
    fn saving_keeps_ids_and_times_of_unchanged_rules() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let t1 = Utc.with_ymd_and_hms(2026, 3, 9, 0, 0, 0).unwrap();
        let stored = vec![Rule {
            id: "a".into(),
            trigger: Trigger::Won { pipeline_id: None },
            action: RuleAction::Create,
            created_at: Some(t0),
        }];
        let mut n = 0;
        let submitted = vec![
            Rule {
                created_at: Some(t1),
                ..stored[0].clone()
            },
            Rule {
                id: "forged".into(),
                trigger: Trigger::Won {
                    pipeline_id: Some(1),
                },
                action: RuleAction::Prepare,
                created_at: Some(t0),
            },
            Rule {
                id: "a".into(),
                trigger: Trigger::Won { pipeline_id: None },
                action: RuleAction::CreateAndSend,
                created_at: None,
            },
        ];
        let saved = stamped(&submitted, &stored, t1, || {
            n += 1;
            format!("new{n}")
        });
        assert_eq!(saved[0], stored[0], "the page cannot move a rule's start");
        assert_eq!(
            (saved[1].id.as_str(), saved[1].created_at),
            ("new1", Some(t1))
        );
        assert_eq!(
            (saved[2].id.as_str(), saved[2].created_at),
            ("new2", Some(t1))
        );
        assert_eq!(check_rules(&saved), Vec::<(String, String)>::new());
        let twice = vec![saved[1].clone(), saved[1].clone()];
        assert_eq!(check_rules(&twice).len(), 1);
    }
}
