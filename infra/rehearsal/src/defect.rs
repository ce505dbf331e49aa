//! One deliberate defect in the translated template, for the rehearsal's test of itself: the
//! rehearsal must fail, and say what is wrong, when a function's policy lacks one action, a
//! function lacks one environment variable, or the template lacks one route. Each applies to
//! the CloudFormation the SAM translator produced, exactly where that translation puts the
//! value (a route also takes its `AWS::Lambda::Permission` with it, as removing the event from
//! template.yaml does).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Defect {
    /// One action removed from the function's inline policies.
    PolicyAction { function: String, action: String },
    /// One variable removed from the function's environment.
    EnvVar { function: String, var: String },
    /// One route removed from the HTTP API (with its invoke permission).
    Route { method: String, path: String },
}

impl std::fmt::Display for Defect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Defect::PolicyAction { function, action } => {
                write!(f, "{action} removed from {function}'s policy")
            }
            Defect::EnvVar { function, var } => {
                write!(f, "{var} removed from {function}'s environment")
            }
            Defect::Route { method, path } => {
                write!(f, "route {method} {path} removed from the template")
            }
        }
    }
}

impl Defect {
    /// What the rehearsal's failure must mention.
    pub fn expected(&self) -> Vec<String> {
        match self {
            Defect::PolicyAction { function, action } => {
                vec![format!("AccessDenied: {function} may not {action}")]
            }
            Defect::EnvVar { function, var } => vec![function.clone(), var.clone()],
            Defect::Route { method, path } => vec![format!("{method} {path}")],
        }
    }

    /// Applies the defect; an error when the template has nothing to remove.
    pub fn apply(&self, cfn: &mut Value) -> Result<(), String> {
        let resources = cfn
            .get_mut("Resources")
            .and_then(Value::as_object_mut)
            .ok_or("the template has no Resources")?;
        match self {
            Defect::PolicyAction { function, action } => {
                let role = resources
                    .get(function)
                    .and_then(|f| f["Properties"]["Role"]["Fn::GetAtt"][0].as_str())
                    .ok_or_else(|| format!("{function} has no role in the template"))?
                    .to_string();
                let policies = resources
                    .get_mut(&role)
                    .and_then(|r| r["Properties"]["Policies"].as_array_mut())
                    .ok_or_else(|| format!("{role} has no inline policies"))?;
                let mut removed = false;
                for policy in policies {
                    for statement in policy["PolicyDocument"]["Statement"]
                        .as_array_mut()
                        .into_iter()
                        .flatten()
                    {
                        match &mut statement["Action"] {
                            Value::Array(actions) => {
                                let before = actions.len();
                                actions.retain(|a| a != action.as_str());
                                removed |= actions.len() != before;
                            }
                            Value::String(a) if a == action => {
                                statement["Action"] = Value::Array(Vec::new());
                                removed = true;
                            }
                            _ => {}
                        }
                    }
                }
                removed
                    .then_some(())
                    .ok_or_else(|| format!("{function}'s policies do not grant {action}"))
            }
            Defect::EnvVar { function, var } => resources
                .get_mut(function)
                .and_then(|f| f["Properties"]["Environment"]["Variables"].as_object_mut())
                .and_then(|vars| vars.remove(var))
                .map(|_| ())
                .ok_or_else(|| format!("{function} has no {var}")),
            Defect::Route { method, path } => {
                let mut removed = false;
                for resource in resources.values_mut() {
                    if resource["Type"] != "AWS::ApiGatewayV2::Api" {
                        continue;
                    }
                    if let Some(operations) =
                        resource["Properties"]["Body"]["paths"][path.as_str()].as_object_mut()
                    {
                        removed |= operations.remove(&method.to_ascii_lowercase()).is_some();
                    }
                }
                let pattern = format!("/{method}{}", wildcard_path(path));
                resources.retain(|_, r| {
                    !(r["Type"] == "AWS::Lambda::Permission"
                        && r["Properties"]["SourceArn"]["Fn::Sub"][0]
                            .as_str()
                            .is_some_and(|arn| arn.ends_with(&pattern)))
                });
                removed
                    .then_some(())
                    .ok_or_else(|| format!("the template has no route {method} {path}"))
            }
        }
    }
}

/// `/api/deals/{deal_id}/draft` → `/api/deals/*/draft` (how SAM writes permission ARNs).
fn wildcard_path(path: &str) -> String {
    path.split('/')
        .map(|part| if part.starts_with('{') { "*" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfn() -> Value {
        json!({"Resources": {
            "F": {"Type": "AWS::Lambda::Function", "Properties": {
                "Role": {"Fn::GetAtt": ["FRole", "Arn"]},
                "Environment": {"Variables": {"TABLE_NAME": {"Ref": "T"}, "X": "1"}}
            }},
            "FRole": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": "*"},
                {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}
            ]}}]}},
            "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"Body": {"paths": {
                "/api/deals/{deal_id}/draft": {"get": {}, "post": {}}
            }}}},
            "FGetPermission": {"Type": "AWS::Lambda::Permission", "Properties": {"SourceArn": {"Fn::Sub": ["arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${__ApiId__}/${__Stage__}/GET/api/deals/*/draft", {}]}}},
            "FPostPermission": {"Type": "AWS::Lambda::Permission", "Properties": {"SourceArn": {"Fn::Sub": ["arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${__ApiId__}/${__Stage__}/POST/api/deals/*/draft", {}]}}}
        }})
    }

    #[test]
    fn each_defect_lands_where_the_translation_put_the_value() {
        let mut t = cfn();
        Defect::PolicyAction {
            function: "F".into(),
            action: "dynamodb:PutItem".into(),
        }
        .apply(&mut t)
        .unwrap();
        assert_eq!(
            t["Resources"]["FRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]
                ["Action"],
            json!(["dynamodb:GetItem"])
        );
        Defect::PolicyAction {
            function: "F".into(),
            action: "sqs:SendMessage".into(),
        }
        .apply(&mut t)
        .unwrap();
        assert_eq!(
            t["Resources"]["FRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][1]
                ["Action"],
            json!([])
        );
        Defect::EnvVar {
            function: "F".into(),
            var: "TABLE_NAME".into(),
        }
        .apply(&mut t)
        .unwrap();
        assert_eq!(
            t["Resources"]["F"]["Properties"]["Environment"]["Variables"],
            json!({"X": "1"})
        );
        Defect::Route {
            method: "GET".into(),
            path: "/api/deals/{deal_id}/draft".into(),
        }
        .apply(&mut t)
        .unwrap();
        assert_eq!(
            t["Resources"]["Api"]["Properties"]["Body"]["paths"]["/api/deals/{deal_id}/draft"],
            json!({"post": {}})
        );
        assert!(t["Resources"].get("FGetPermission").is_none());
        assert!(t["Resources"].get("FPostPermission").is_some());
    }

    #[test]
    fn a_defect_that_removes_nothing_is_an_error() {
        let mut t = cfn();
        assert!(
            Defect::PolicyAction {
                function: "F".into(),
                action: "s3:GetObject".into()
            }
            .apply(&mut t)
            .is_err()
        );
        assert!(
            Defect::EnvVar {
                function: "F".into(),
                var: "NOPE".into()
            }
            .apply(&mut t)
            .is_err()
        );
        assert!(
            Defect::Route {
                method: "PUT".into(),
                path: "/x".into()
            }
            .apply(&mut t)
            .is_err()
        );
        assert!(
            Defect::PolicyAction {
                function: "G".into(),
                action: "x".into()
            }
            .apply(&mut t)
            .is_err()
        );
    }
}
