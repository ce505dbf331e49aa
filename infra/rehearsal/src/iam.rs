//! Least privilege, both ways, from moto's IAM decisions (`tests/world/moto_iam_audit.py`):
//! every denial is a failure naming the function, the action and the resource; every action a
//! policy grants must have been used by the rehearsal, or be listed with its reason in the
//! reviewed file (`infra/rehearsal/unused-grants.json`) — an unlisted unused grant is a failure,
//! and so is a listed one that is used after all or no longer granted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::front::glob;
use crate::wiring::{Role, Wiring};

/// One decision moto took.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Decision {
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub allowed: bool,
}

pub fn read_decisions(path: &Path) -> Result<Vec<Decision>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| format!("audit line {l}: {e}")))
        .collect()
}

/// The role (logical id) whose session made a decision: `…:assumed-role/<role name>/<session>`.
pub fn role_of<'a>(wiring: &'a Wiring, principal: &str) -> Option<&'a Role> {
    let name = principal
        .split(":assumed-role/")
        .nth(1)?
        .split('/')
        .next()?;
    wiring.roles.iter().find(|r| r.name == name)
}

/// Who a role is, for messages: its function(s), or the role itself.
pub fn who(wiring: &Wiring, role: &str) -> String {
    let functions: Vec<&str> = wiring
        .functions
        .iter()
        .filter(|f| f.role == role)
        .map(|f| f.logical.as_str())
        .collect();
    if functions.is_empty() {
        role.to_string()
    } else {
        functions.join("+")
    }
}

/// Every denial, as a sentence.
pub fn denials(wiring: &Wiring, decisions: &[Decision]) -> Vec<String> {
    decisions
        .iter()
        .filter(|d| !d.allowed)
        .map(|d| {
            let who = role_of(wiring, &d.principal)
                .map(|r| who(wiring, &r.logical))
                .unwrap_or_else(|| d.principal.clone());
            format!("AccessDenied: {who} may not {} on {}", d.action, d.resource)
        })
        .collect()
}

/// One action a policy grants on a resource pattern.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub role: String,
    pub policy: String,
    pub action: String,
    pub resource: String,
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Every (action, resource) an `Allow` statement of the role's policies grants.
pub fn grants(role: &Role, managed: &BTreeMap<String, Value>) -> Vec<Grant> {
    let mut out = BTreeSet::new();
    for policy in &role.policies {
        let document = match (&policy.document, &policy.managed_arn) {
            (Some(d), _) => d.clone(),
            (None, Some(arn)) => managed.get(arn).cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        };
        let statements = match &document["Statement"] {
            Value::Array(s) => s.clone(),
            other => vec![other.clone()],
        };
        for s in statements.iter().filter(|s| s["Effect"] == "Allow") {
            for action in strings(&s["Action"]) {
                for resource in strings(&s["Resource"]) {
                    out.insert(Grant {
                        role: role.logical.clone(),
                        policy: policy.name.clone(),
                        action: action.clone(),
                        resource,
                    });
                }
            }
        }
    }
    out.into_iter().collect()
}

/// Whether a decision was allowed by this grant (IAM matches actions case-insensitively).
pub fn covers(grant: &Grant, decision: &Decision) -> bool {
    decision.allowed
        && glob(
            &grant.action.to_ascii_lowercase(),
            &decision.action.to_ascii_lowercase(),
        )
        && glob(&grant.resource, &decision.resource)
}

/// One reviewed unused grant.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Reviewed {
    /// A role's logical id, or `*` for every role that has the policy.
    pub role: String,
    pub policy: String,
    pub action: String,
    /// The resource pattern as the grant resolves in the rehearsal (`<stack>-<Logical>` names).
    pub resource: String,
    pub reason: String,
}

impl Reviewed {
    fn lists(&self, grant: &Grant) -> bool {
        (self.role == "*" || self.role == grant.role)
            && self.policy == grant.policy
            && self.action == grant.action
            && self.resource == grant.resource
    }
}

pub fn read_reviewed(path: &Path) -> Result<Vec<Reviewed>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reviewed: Vec<Reviewed> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(r) = reviewed.iter().find(|r| r.reason.trim().len() < 10) {
        return Err(format!(
            "{}: {} {} needs a reason",
            path.display(),
            r.policy,
            r.action
        ));
    }
    Ok(reviewed)
}

/// The accounting of one run.
#[derive(Debug, Default)]
pub struct Accounting {
    /// Role logical id → the actions it used (with how often).
    pub used: BTreeMap<String, BTreeMap<String, usize>>,
    /// Grants nobody used that the reviewed file explains.
    pub reviewed_unused: Vec<(Grant, String)>,
    /// Failures: unlisted unused grants, stale reviewed entries.
    pub failures: Vec<String>,
}

/// Used and unused grants of every role, against the reviewed list.
pub fn account(
    wiring: &Wiring,
    managed: &BTreeMap<String, Value>,
    decisions: &[Decision],
    reviewed: &[Reviewed],
) -> Accounting {
    let mut accounting = Accounting::default();
    let mut listed_and_needed = vec![false; reviewed.len()];
    for role in &wiring.roles {
        let mine: Vec<&Decision> = decisions
            .iter()
            .filter(|d| {
                d.allowed
                    && role_of(wiring, &d.principal).is_some_and(|r| r.logical == role.logical)
            })
            .collect();
        let used = accounting.used.entry(role.logical.clone()).or_default();
        for d in &mine {
            *used.entry(d.action.clone()).or_default() += 1;
        }
        for grant in grants(role, managed) {
            let is_used = mine.iter().any(|d| covers(&grant, d));
            let listed = reviewed.iter().position(|r| r.lists(&grant));
            match (is_used, listed) {
                (true, Some(i)) if reviewed[i].role != "*" => {
                    listed_and_needed[i] = true;
                    accounting.failures.push(format!(
                        "unused-grants.json lists {} {} of {} as unused, but the rehearsal used it",
                        grant.policy,
                        grant.action,
                        who(wiring, &grant.role)
                    ));
                }
                (true, _) => {}
                (false, Some(i)) => {
                    listed_and_needed[i] = true;
                    accounting.reviewed_unused.push((grant, reviewed[i].reason.clone()));
                }
                (false, None) => accounting.failures.push(format!(
                    "unused grant: {} may {} on {} ({}), and the rehearsal never did — remove it, or list it with its reason in infra/rehearsal/unused-grants.json",
                    who(wiring, &grant.role),
                    grant.action,
                    grant.resource,
                    grant.policy
                )),
            }
        }
    }
    for (r, needed) in reviewed.iter().zip(listed_and_needed) {
        if !needed && r.role != "*" {
            accounting.failures.push(format!(
                "unused-grants.json lists {} {} {}, which the template no longer grants unused",
                r.role, r.policy, r.action
            ));
        }
    }
    accounting
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wiring::Policy;
    use serde_json::json;

    fn wiring() -> Wiring {
        Wiring {
            api_id: "abc".into(),
            functions: vec![],
            routes: vec![],
            permissions: vec![],
            schedules: vec![],
            mappings: vec![],
            queues: vec![],
            alarms: vec![],
            roles: vec![Role {
                logical: "FRole".into(),
                name: "st-FRole-X".into(),
                arn: "arn:aws:iam::1:role/st-FRole-X".into(),
                assume_role_policy: json!({}),
                policies: vec![
                    Policy {
                        name: "FRolePolicy0".into(),
                        document: Some(json!({"Statement": [
                            {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": "arn:t"},
                            {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": ["arn:t/index/*"]}
                        ]})),
                        managed_arn: None,
                    },
                    Policy {
                        name: "Basic".into(),
                        document: None,
                        managed_arn: Some("arn:aws:iam::aws:policy/Basic".into()),
                    },
                ],
            }],
        }
    }

    fn decision(action: &str, resource: &str, allowed: bool) -> Decision {
        Decision {
            principal: "arn:aws:sts::1:assumed-role/st-FRole-X/FRole".into(),
            action: action.into(),
            resource: resource.into(),
            allowed,
        }
    }

    fn managed() -> BTreeMap<String, Value> {
        [(
            "arn:aws:iam::aws:policy/Basic".to_string(),
            json!({"Statement": [{"Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": "*"}]}),
        )]
        .into()
    }

    #[test]
    fn denials_name_the_role_action_and_resource() {
        let w = wiring();
        let d = denials(
            &w,
            &[
                decision("dynamodb:DeleteItem", "arn:t", false),
                decision("dynamodb:GetItem", "arn:t", true),
            ],
        );
        assert_eq!(
            d,
            vec!["AccessDenied: FRole may not dynamodb:DeleteItem on arn:t".to_string()]
        );
    }

    #[test]
    fn unused_grants_fail_unless_reviewed() {
        let w = wiring();
        let decisions = vec![
            decision("dynamodb:GetItem", "arn:t", true),
            decision("dynamodb:Query", "arn:t/index/gsi1", true),
            // A denied call uses nothing.
            decision("dynamodb:PutItem", "arn:t", false),
        ];
        let a = account(&w, &managed(), &decisions, &[]);
        assert_eq!(a.failures.len(), 2, "{:?}", a.failures);
        assert!(
            a.failures
                .iter()
                .any(|f| f.contains("dynamodb:PutItem on arn:t"))
        );
        assert!(a.failures.iter().any(|f| f.contains("logs:PutLogEvents")));
        assert_eq!(a.used["FRole"]["dynamodb:GetItem"], 1);

        let reviewed = vec![
            Reviewed {
                role: "FRole".into(),
                policy: "FRolePolicy0".into(),
                action: "dynamodb:PutItem".into(),
                resource: "arn:t".into(),
                reason: "written only on a path we cannot reach".into(),
            },
            Reviewed {
                role: "*".into(),
                policy: "Basic".into(),
                action: "logs:PutLogEvents".into(),
                resource: "*".into(),
                reason: "Lambda writes the logs".into(),
            },
        ];
        let a = account(&w, &managed(), &decisions, &reviewed);
        assert!(a.failures.is_empty(), "{:?}", a.failures);
        assert_eq!(a.reviewed_unused.len(), 2);

        // A reviewed entry that is used after all is stale.
        let mut used = decisions.clone();
        used.push(decision("dynamodb:PutItem", "arn:t", true));
        let a = account(&w, &managed(), &used, &reviewed);
        assert_eq!(a.failures.len(), 1, "{:?}", a.failures);
        assert!(
            a.failures
                .iter()
                .any(|f| f.contains("but the rehearsal used it"))
        );
    }
}
