//! The translated CloudFormation template and what CloudFormation does with its intrinsic
//! functions: `Ref`, `Fn::GetAtt`, `Fn::Sub` (both forms), `Fn::If` with the template's
//! conditions (`Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`), `Fn::Join`, `Fn::Select`. Values
//! come from the parameters (defaults, overrides, `AllowedValues` checked), the pseudo
//! parameters, and the physical ids the rehearsal gave each resource. Anything else is an error
//! naming it — never a guess.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CfnError {
    #[error("parameter {0} is not declared in the template")]
    UnknownParameter(String),
    #[error("parameter {name}: `{value}` is not one of its AllowedValues")]
    NotAllowed { name: String, value: String },
    #[error("parameter {0} has no value (no default, no override)")]
    NoValue(String),
    #[error("{0} refers to {1}, which the rehearsal has no value for")]
    Unresolved(String, String),
    #[error("unsupported intrinsic function {0}")]
    Unsupported(String),
    #[error("malformed {0}: {1}")]
    Malformed(String, String),
}

/// One resource of the template.
#[derive(Debug, Clone)]
pub struct Resource {
    pub logical: String,
    pub kind: String,
    pub properties: Value,
    pub metadata: Value,
}

/// The translated template.
#[derive(Debug, Clone)]
pub struct Template {
    pub raw: Value,
}

impl Template {
    pub fn new(raw: Value) -> Self {
        Template { raw }
    }

    /// Every resource, in the template's (sorted) order.
    pub fn resources(&self) -> Vec<Resource> {
        self.raw
            .get("Resources")
            .and_then(Value::as_object)
            .map(|resources| {
                resources
                    .iter()
                    .map(|(logical, r)| Resource {
                        logical: logical.clone(),
                        kind: r.get("Type").and_then(Value::as_str).unwrap_or("").into(),
                        properties: r.get("Properties").cloned().unwrap_or(Value::Null),
                        metadata: r.get("Metadata").cloned().unwrap_or(Value::Null),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn of_kind(&self, kind: &str) -> Vec<Resource> {
        self.resources()
            .into_iter()
            .filter(|r| r.kind == kind)
            .collect()
    }

    /// The parameters' values: the defaults, then `overrides` (each must be declared and allowed).
    pub fn parameters(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<HashMap<String, String>, CfnError> {
        let declared = self
            .raw
            .get("Parameters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for name in overrides.keys() {
            if !declared.contains_key(name) {
                return Err(CfnError::UnknownParameter(name.clone()));
            }
        }
        let mut values = HashMap::new();
        for (name, spec) in &declared {
            let value = match overrides.get(name) {
                Some(v) => v.clone(),
                None => match spec.get("Default") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other @ Value::Number(_)) => other.to_string(),
                    _ => return Err(CfnError::NoValue(name.clone())),
                },
            };
            if let Some(allowed) = spec.get("AllowedValues").and_then(Value::as_array) {
                let ok = allowed.iter().any(|a| match a {
                    Value::String(s) => *s == value,
                    other => other
                        .as_f64()
                        .is_some_and(|n| value.parse::<f64>() == Ok(n)),
                });
                if !ok {
                    return Err(CfnError::NotAllowed {
                        name: name.clone(),
                        value,
                    });
                }
            }
            values.insert(name.clone(), value);
        }
        Ok(values)
    }
}

/// Where the stack lives (the pseudo parameters).
#[derive(Debug, Clone)]
pub struct Place {
    pub stack_name: String,
    pub region: String,
    pub account: String,
}

impl Place {
    pub fn partition(&self) -> &'static str {
        "aws"
    }
}

/// Resolves intrinsic functions against known values.
#[derive(Debug, Clone)]
pub struct Resolver {
    place: Place,
    parameters: HashMap<String, String>,
    refs: HashMap<String, Value>,
    attrs: HashMap<(String, String), Value>,
    conditions: Map<String, Value>,
}

impl Resolver {
    pub fn new(template: &Template, place: Place, parameters: HashMap<String, String>) -> Self {
        Resolver {
            place,
            parameters,
            refs: HashMap::new(),
            attrs: HashMap::new(),
            conditions: template
                .raw
                .get("Conditions")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        }
    }

    pub fn place(&self) -> &Place {
        &self.place
    }

    /// Records what `Ref logical` gives.
    pub fn set_ref(&mut self, logical: &str, value: impl Into<String>) {
        self.refs
            .insert(logical.to_string(), Value::String(value.into()));
    }

    /// Records what `Fn::GetAtt [logical, attr]` gives.
    pub fn set_attr(&mut self, logical: &str, attr: &str, value: impl Into<String>) {
        self.attrs.insert(
            (logical.to_string(), attr.to_string()),
            Value::String(value.into()),
        );
    }

    fn pseudo(&self, name: &str) -> Option<String> {
        Some(match name {
            "AWS::StackName" => self.place.stack_name.clone(),
            "AWS::Region" => self.place.region.clone(),
            "AWS::AccountId" => self.place.account.clone(),
            "AWS::Partition" => self.place.partition().to_string(),
            "AWS::URLSuffix" => "amazonaws.com".to_string(),
            "AWS::StackId" => format!(
                "arn:aws:cloudformation:{}:{}:stack/{}/rehearsal",
                self.place.region, self.place.account, self.place.stack_name
            ),
            _ => return None,
        })
    }

    fn reference(&self, name: &str, context: &str) -> Result<Value, CfnError> {
        if let Some(v) = self.pseudo(name) {
            return Ok(Value::String(v));
        }
        if let Some(v) = self.parameters.get(name) {
            return Ok(Value::String(v.clone()));
        }
        self.refs
            .get(name)
            .cloned()
            .ok_or_else(|| CfnError::Unresolved(context.to_string(), name.to_string()))
    }

    fn attribute(&self, logical: &str, attr: &str, context: &str) -> Result<Value, CfnError> {
        self.attrs
            .get(&(logical.to_string(), attr.to_string()))
            .cloned()
            .ok_or_else(|| CfnError::Unresolved(context.to_string(), format!("{logical}.{attr}")))
    }

    /// Whether the named condition holds.
    pub fn condition(&self, name: &str) -> Result<bool, CfnError> {
        let expr =
            self.conditions.get(name).cloned().ok_or_else(|| {
                CfnError::Unresolved("Fn::If".into(), format!("condition {name}"))
            })?;
        self.truth(&expr)
    }

    fn truth(&self, expr: &Value) -> Result<bool, CfnError> {
        let Some((function, args)) = single_key(expr) else {
            return match expr {
                Value::Bool(b) => Ok(*b),
                other => Err(CfnError::Malformed("condition".into(), other.to_string())),
            };
        };
        let list = || {
            args.as_array()
                .cloned()
                .ok_or_else(|| CfnError::Malformed(function.into(), args.to_string()))
        };
        match function {
            "Fn::Equals" => {
                let items = list()?;
                let [a, b] = items.as_slice() else {
                    return Err(CfnError::Malformed(function.into(), args.to_string()));
                };
                Ok(self.resolve_in(a, function)? == self.resolve_in(b, function)?)
            }
            "Fn::Not" => Ok(!self.truth(list()?.first().unwrap_or(&Value::Null))?),
            "Fn::And" => list()?
                .iter()
                .try_fold(true, |acc, c| Ok(acc && self.truth(c)?)),
            "Fn::Or" => list()?
                .iter()
                .try_fold(false, |acc, c| Ok(acc || self.truth(c)?)),
            "Condition" => self.condition(args.as_str().unwrap_or_default()),
            other => Err(CfnError::Unsupported(other.to_string())),
        }
    }

    /// `value` with every intrinsic function evaluated.
    pub fn resolve(&self, value: &Value) -> Result<Value, CfnError> {
        self.resolve_in(value, "template")
    }

    /// [`Resolver::resolve`] to a string (numbers are written as CloudFormation passes them).
    pub fn string(&self, value: &Value) -> Result<String, CfnError> {
        match self.resolve(value)? {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(CfnError::Malformed(
                "string value".into(),
                other.to_string(),
            )),
        }
    }

    fn resolve_in(&self, value: &Value, context: &str) -> Result<Value, CfnError> {
        match value {
            Value::Array(items) => items
                .iter()
                .filter(|v| !is_no_value(v))
                .map(|v| self.resolve_in(v, context))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::Object(map) => {
                if let Some((function, args)) = single_key(value)
                    && (function == "Ref" || function.starts_with("Fn::"))
                {
                    return self.intrinsic(function, args, context);
                }
                let mut out = Map::new();
                for (k, v) in map {
                    if is_no_value(v) {
                        continue;
                    }
                    out.insert(k.clone(), self.resolve_in(v, k)?);
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    fn intrinsic(&self, function: &str, args: &Value, context: &str) -> Result<Value, CfnError> {
        let malformed = || CfnError::Malformed(function.to_string(), args.to_string());
        match function {
            "Ref" => self.reference(args.as_str().ok_or_else(malformed)?, context),
            "Fn::GetAtt" => {
                let (logical, attr) = match args {
                    Value::Array(parts) => (
                        parts.first().and_then(Value::as_str),
                        parts.get(1).and_then(Value::as_str),
                    ),
                    Value::String(s) => match s.split_once('.') {
                        Some((l, a)) => (Some(l), Some(a)),
                        None => (None, None),
                    },
                    _ => (None, None),
                };
                self.attribute(
                    logical.ok_or_else(malformed)?,
                    attr.ok_or_else(malformed)?,
                    context,
                )
            }
            "Fn::Sub" => self.sub(args, context).map(Value::String),
            "Fn::If" => {
                let parts = args.as_array().ok_or_else(malformed)?;
                let [condition, then, otherwise] = parts.as_slice() else {
                    return Err(malformed());
                };
                let branch = if self.condition(condition.as_str().ok_or_else(malformed)?)? {
                    then
                } else {
                    otherwise
                };
                self.resolve_in(branch, context)
            }
            "Fn::Join" => {
                let parts = args.as_array().ok_or_else(malformed)?;
                let [separator, items] = parts.as_slice() else {
                    return Err(malformed());
                };
                let items = self.resolve_in(items, context)?;
                let strings: Vec<String> = items
                    .as_array()
                    .ok_or_else(malformed)?
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect();
                Ok(Value::String(
                    strings.join(separator.as_str().ok_or_else(malformed)?),
                ))
            }
            "Fn::Select" => {
                let parts = args.as_array().ok_or_else(malformed)?;
                let [index, items] = parts.as_slice() else {
                    return Err(malformed());
                };
                let index: usize = self
                    .resolve_in(index, context)?
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| index.to_string())
                    .parse()
                    .map_err(|_| malformed())?;
                let items = self.resolve_in(items, context)?;
                items.get(index).cloned().ok_or_else(malformed)
            }
            other => Err(CfnError::Unsupported(other.to_string())),
        }
    }

    /// `Fn::Sub`: `"text ${Name} ${Logical.Attr}"`, or `[text, {Name: value}]`.
    fn sub(&self, args: &Value, context: &str) -> Result<String, CfnError> {
        let malformed = || CfnError::Malformed("Fn::Sub".into(), args.to_string());
        let (text, locals) = match args {
            Value::String(text) => (text.as_str(), Map::new()),
            Value::Array(parts) => match parts.as_slice() {
                [Value::String(text), Value::Object(vars)] => (text.as_str(), vars.clone()),
                _ => return Err(malformed()),
            },
            _ => return Err(malformed()),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(malformed)?;
            let name = &after[..end];
            rest = &after[end + 1..];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
                continue;
            }
            let value = match locals.get(name) {
                Some(local) => self.resolve_in(local, context)?,
                None => match name.split_once('.') {
                    Some((logical, attr)) if !name.starts_with("AWS::") => {
                        self.attribute(logical, attr, context)?
                    }
                    _ => self.reference(name, context)?,
                },
            };
            match value {
                Value::String(s) => out.push_str(&s),
                other => out.push_str(&other.to_string()),
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn single_key(value: &Value) -> Option<(&str, &Value)> {
    let map = value.as_object()?;
    if map.len() != 1 {
        return None;
    }
    map.iter().next().map(|(k, v)| (k.as_str(), v))
}

fn is_no_value(value: &Value) -> bool {
    single_key(value).is_some_and(|(k, v)| k == "Ref" && v == "AWS::NoValue")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template() -> Template {
        Template::new(json!({
            "Parameters": {
                "Stage": {"Type": "String", "AllowedValues": ["dev", "prod"], "Default": "dev"},
                "Days": {"Type": "Number", "Default": 30},
                "Email": {"Type": "String", "Default": ""}
            },
            "Conditions": {
                "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
                "HasEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Email"}, ""]}]}
            },
            "Resources": {
                "Q": {"Type": "AWS::SQS::Queue", "Properties": {}},
                "F": {"Type": "AWS::Lambda::Function", "Metadata": {"m": 1}, "Properties": {"A": 1}}
            }
        }))
    }

    fn resolver(overrides: &[(&str, &str)]) -> Resolver {
        let t = template();
        let overrides = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut r = Resolver::new(
            &t,
            Place {
                stack_name: "st".into(),
                region: "us-east-1".into(),
                account: "123456789012".into(),
            },
            t.parameters(&overrides).unwrap(),
        );
        r.set_ref("Q", "https://q/url");
        r.set_attr("Q", "Arn", "arn:aws:sqs:us-east-1:123456789012:st-Q");
        r
    }

    #[test]
    fn refs_attrs_and_subs_resolve() {
        let r = resolver(&[]);
        let v = r
            .resolve(&json!({
                "url": {"Ref": "Q"},
                "arn": {"Fn::GetAtt": ["Q", "Arn"]},
                "dotted": {"Fn::GetAtt": "Q.Arn"},
                "sub": {"Fn::Sub": "${AWS::StackName}/tokens ${Q.Arn}/x ${!Literal}"},
                "sub2": {"Fn::Sub": ["a/${X}/${Stage}", {"X": {"Ref": "Q"}}]},
                "days": {"Ref": "Days"},
                "join": {"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]},
                "select": {"Fn::Select": [1, ["a", "b"]]},
                "list": ["x", {"Ref": "AWS::NoValue"}]
            }))
            .unwrap();
        assert_eq!(v["url"], "https://q/url");
        assert_eq!(v["arn"], "arn:aws:sqs:us-east-1:123456789012:st-Q");
        assert_eq!(v["dotted"], v["arn"]);
        assert_eq!(
            v["sub"],
            "st/tokens arn:aws:sqs:us-east-1:123456789012:st-Q/x ${Literal}"
        );
        assert_eq!(v["sub2"], "a/https://q/url/dev");
        assert_eq!(v["days"], "30");
        assert_eq!(v["join"], "a-dev");
        assert_eq!(v["select"], "b");
        assert_eq!(v["list"], json!(["x"]));
    }

    #[test]
    fn conditions_follow_the_parameters() {
        let dev = resolver(&[]);
        let prod = resolver(&[("Stage", "prod"), ("Email", "a@b.c")]);
        let expr = json!({"Fn::If": ["IsProd", true, false]});
        assert_eq!(dev.resolve(&expr).unwrap(), json!(false));
        assert_eq!(prod.resolve(&expr).unwrap(), json!(true));
        assert!(!dev.condition("HasEmail").unwrap());
        assert!(prod.condition("HasEmail").unwrap());
    }

    #[test]
    fn what_cannot_be_resolved_is_named() {
        let r = resolver(&[]);
        let err = r
            .resolve(&json!({"TABLE_NAME": {"Ref": "Table"}}))
            .unwrap_err();
        assert_eq!(
            err,
            CfnError::Unresolved("TABLE_NAME".into(), "Table".into())
        );
        let err = r.resolve(&json!({"Fn::ImportValue": "x"})).unwrap_err();
        assert_eq!(err, CfnError::Unsupported("Fn::ImportValue".into()));
    }

    #[test]
    fn parameter_overrides_are_checked() {
        let t = template();
        let bad: BTreeMap<String, String> = [("Stage".to_string(), "qa".to_string())].into();
        assert!(matches!(
            t.parameters(&bad),
            Err(CfnError::NotAllowed { .. })
        ));
        let unknown: BTreeMap<String, String> = [("Nope".to_string(), "1".to_string())].into();
        assert_eq!(
            t.parameters(&unknown),
            Err(CfnError::UnknownParameter("Nope".into()))
        );
        assert_eq!(t.of_kind("AWS::Lambda::Function")[0].metadata["m"], 1);
        assert_eq!(t.of_kind("AWS::SQS::Queue")[0].logical, "Q");
    }
}
