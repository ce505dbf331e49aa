//! What the translated template wires, per function, with every value resolved to the
//! rehearsal's resources: environment, memory, timeout, routes (and API Gateway's permission to
//! invoke), schedules, SQS event source mappings with their queues, IAM policies, alarms.
//! Nothing here is written by hand: each value is read from the template.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::cfn::{CfnError, Resolver, Template};

#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error(transparent)]
    Cfn(#[from] CfnError),
    #[error("{0}: {1}")]
    Invalid(String, String),
}

fn invalid(what: &str, why: impl Into<String>) -> WiringError {
    WiringError::Invalid(what.to_string(), why.into())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub logical: String,
    /// The cargo binary (`Metadata.BuildProperties.Binary`), which `sam build` turns into
    /// `.aws-sam/build/<logical>/bootstrap`.
    pub binary: String,
    pub name: String,
    pub arn: String,
    pub env: BTreeMap<String, String>,
    pub memory_mb: u64,
    pub timeout: Duration,
    pub architectures: Vec<String>,
    pub runtime: String,
    pub handler: String,
    /// Logical id of its execution role.
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    /// OpenAPI path template (`/api/deals/{deal_id}/draft`).
    pub path: String,
    /// Logical id of the function its integration invokes.
    pub function: String,
    pub payload_format: String,
}

impl Route {
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// An `AWS::Lambda::Permission`: who may invoke a function, from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub function: String,
    pub principal: String,
    pub source_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub logical: String,
    pub function: String,
    pub expression: String,
    /// The event the scheduler delivers (the target's `Input`, verbatim).
    pub input: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMapping {
    pub logical: String,
    pub function: String,
    pub queue: String,
    pub batch_size: usize,
    pub report_batch_item_failures: bool,
    pub max_concurrency: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub logical: String,
    pub name: String,
    pub arn: String,
    pub visibility_timeout: u64,
    /// The dead-letter queue's logical id and the receives before a message goes there.
    pub dead_letter: Option<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub logical: String,
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
    pub statistic: String,
    pub threshold: f64,
    pub comparison: String,
}

impl Alarm {
    /// Whether `value` breaches the alarm's threshold.
    pub fn breached_by(&self, value: f64) -> bool {
        match self.comparison.as_str() {
            "GreaterThanThreshold" => value > self.threshold,
            "GreaterThanOrEqualToThreshold" => value >= self.threshold,
            "LessThanThreshold" => value < self.threshold,
            "LessThanOrEqualToThreshold" => value <= self.threshold,
            _ => false,
        }
    }
}

/// One policy of a role: inline (`Policies`) or managed (`ManagedPolicyArns`).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    /// The inline document (resolved); managed policies are read from the emulator's IAM.
    pub document: Option<Value>,
    pub managed_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub logical: String,
    pub name: String,
    pub arn: String,
    pub assume_role_policy: Value,
    pub policies: Vec<Policy>,
}

/// Everything the rehearsal runs, as the template wires it.
#[derive(Debug, Clone, PartialEq)]
pub struct Wiring {
    pub api_id: String,
    pub functions: Vec<Function>,
    pub routes: Vec<Route>,
    pub permissions: Vec<Permission>,
    pub schedules: Vec<Schedule>,
    pub mappings: Vec<QueueMapping>,
    pub queues: Vec<Queue>,
    pub alarms: Vec<Alarm>,
    pub roles: Vec<Role>,
}

impl Wiring {
    pub fn function(&self, logical: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.logical == logical)
    }

    pub fn queue(&self, logical: &str) -> Option<&Queue> {
        self.queues.iter().find(|q| q.logical == logical)
    }

    /// Derives everything from the template; `resolver` knows every resource's physical ids.
    pub fn derive(template: &Template, resolver: &Resolver) -> Result<Wiring, WiringError> {
        let functions = functions(template, resolver)?;
        let by_arn = |arn: &str, what: &str| -> Result<String, WiringError> {
            functions
                .iter()
                .find(|f| f.arn == arn || f.name == arn)
                .map(|f| f.logical.clone())
                .ok_or_else(|| invalid(what, format!("{arn} is none of the template's functions")))
        };
        let queues = queues(template, resolver)?;
        let queue_by_arn = |arn: &str, what: &str| -> Result<String, WiringError> {
            queues
                .iter()
                .find(|q| q.arn == arn)
                .map(|q| q.logical.clone())
                .ok_or_else(|| invalid(what, format!("{arn} is none of the template's queues")))
        };
        let mut routes = Vec::new();
        let mut api_id = String::new();
        for api in template.of_kind("AWS::ApiGatewayV2::Api") {
            api_id = resolver.string(&serde_json::json!({"Ref": api.logical}))?;
            routes.extend(api_routes(
                &api.logical,
                &api.properties,
                resolver,
                &by_arn,
            )?);
        }
        let mut permissions = Vec::new();
        for p in template.of_kind("AWS::Lambda::Permission") {
            let props = resolver.resolve(&p.properties)?;
            permissions.push(Permission {
                function: by_arn(str_of(&props, "FunctionName"), &p.logical)?,
                principal: str_of(&props, "Principal").to_string(),
                source_arn: props
                    .get("SourceArn")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            });
        }
        let mut schedules = Vec::new();
        for s in template.of_kind("AWS::Scheduler::Schedule") {
            let props = resolver.resolve(&s.properties)?;
            let target = &props["Target"];
            schedules.push(Schedule {
                logical: s.logical.clone(),
                function: by_arn(str_of(target, "Arn"), &s.logical)?,
                expression: str_of(&props, "ScheduleExpression").to_string(),
                input: str_of(target, "Input").to_string(),
                role: str_of(target, "RoleArn").to_string(),
            });
        }
        let mut mappings = Vec::new();
        for m in template.of_kind("AWS::Lambda::EventSourceMapping") {
            let props = resolver.resolve(&m.properties)?;
            let source = str_of(&props, "EventSourceArn");
            mappings.push(QueueMapping {
                logical: m.logical.clone(),
                function: by_arn(str_of(&props, "FunctionName"), &m.logical)?,
                queue: queue_by_arn(source, &m.logical)?,
                // Lambda's default for SQS sources.
                batch_size: number(&props, "BatchSize").unwrap_or(10) as usize,
                report_batch_item_failures: props["FunctionResponseTypes"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|v| v == "ReportBatchItemFailures")),
                max_concurrency: number(&props["ScalingConfig"], "MaximumConcurrency"),
            });
        }
        Ok(Wiring {
            api_id,
            routes,
            permissions,
            schedules,
            mappings,
            alarms: alarms(template, resolver)?,
            roles: roles(template, resolver)?,
            queues,
            functions,
        })
    }
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

fn number(value: &Value, key: &str) -> Option<u64> {
    match value.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn functions(template: &Template, resolver: &Resolver) -> Result<Vec<Function>, WiringError> {
    let mut out = Vec::new();
    for f in template.of_kind("AWS::Lambda::Function") {
        let props = resolver.resolve(&f.properties)?;
        let binary = f.metadata["BuildProperties"]["Binary"]
            .as_str()
            .ok_or_else(|| invalid(&f.logical, "no Metadata.BuildProperties.Binary"))?;
        let env = props["Environment"]["Variables"]
            .as_object()
            .map(|vars| {
                vars.iter()
                    .map(|(k, v)| {
                        let v = v.as_str().map(str::to_string).unwrap_or(v.to_string());
                        (k.clone(), v)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let role_arn = str_of(&props, "Role");
        let role = template
            .of_kind("AWS::IAM::Role")
            .into_iter()
            .find(|r| {
                resolver
                    .string(&serde_json::json!({"Fn::GetAtt": [r.logical, "Arn"]}))
                    .is_ok_and(|arn| arn == role_arn)
            })
            .map(|r| r.logical)
            .ok_or_else(|| {
                invalid(
                    &f.logical,
                    format!("its role {role_arn} is not in the template"),
                )
            })?;
        out.push(Function {
            logical: f.logical.clone(),
            binary: binary.to_string(),
            name: resolver.string(&serde_json::json!({"Ref": f.logical}))?,
            arn: resolver.string(&serde_json::json!({"Fn::GetAtt": [f.logical, "Arn"]}))?,
            env,
            // Lambda's defaults when the template says nothing.
            memory_mb: number(&props, "MemorySize").unwrap_or(128),
            timeout: Duration::from_secs(number(&props, "Timeout").unwrap_or(3)),
            architectures: props["Architectures"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_else(|| vec!["x86_64".to_string()]),
            runtime: str_of(&props, "Runtime").to_string(),
            handler: str_of(&props, "Handler").to_string(),
            role,
        });
    }
    Ok(out)
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

fn api_routes(
    api: &str,
    properties: &Value,
    resolver: &Resolver,
    by_arn: &dyn Fn(&str, &str) -> Result<String, WiringError>,
) -> Result<Vec<Route>, WiringError> {
    let Some(paths) = properties["Body"]["paths"].as_object() else {
        return Err(invalid(api, "no inline OpenAPI Body with paths"));
    };
    let mut routes = Vec::new();
    for (path, operations) in paths {
        let Some(operations) = operations.as_object() else {
            continue;
        };
        for (method, operation) in operations {
            let method = match method.as_str() {
                "x-amazon-apigateway-any-method" => "ANY".to_string(),
                m if METHODS.contains(&m) => m.to_ascii_uppercase(),
                _ => continue,
            };
            let integration = &operation["x-amazon-apigateway-integration"];
            let uri = resolver.string(&integration["uri"])?;
            // arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function arn>/invocations
            let function_arn = uri
                .split_once("/functions/")
                .and_then(|(_, rest)| rest.strip_suffix("/invocations"))
                .ok_or_else(|| {
                    invalid(&format!("{method} {path}"), format!("integration {uri}"))
                })?;
            routes.push(Route {
                function: by_arn(function_arn, &format!("{method} {path}"))?,
                method,
                path: path.clone(),
                payload_format: integration["payloadFormatVersion"]
                    .as_str()
                    .unwrap_or("1.0")
                    .to_string(),
            });
        }
    }
    Ok(routes)
}

fn queues(template: &Template, resolver: &Resolver) -> Result<Vec<Queue>, WiringError> {
    let all = template.of_kind("AWS::SQS::Queue");
    let mut out = Vec::new();
    for q in &all {
        let props = resolver.resolve(&q.properties)?;
        let arn = resolver.string(&serde_json::json!({"Fn::GetAtt": [q.logical, "Arn"]}))?;
        let dead_letter = match props.get("RedrivePolicy") {
            Some(policy) => {
                let target = str_of(policy, "deadLetterTargetArn");
                let dlq = all
                    .iter()
                    .find(|d| {
                        resolver
                            .string(&serde_json::json!({"Fn::GetAtt": [d.logical, "Arn"]}))
                            .is_ok_and(|a| a == target)
                    })
                    .ok_or_else(|| invalid(&q.logical, format!("dead-letter queue {target}")))?;
                let receives = number(policy, "maxReceiveCount")
                    .ok_or_else(|| invalid(&q.logical, "RedrivePolicy without maxReceiveCount"))?;
                Some((dlq.logical.clone(), receives))
            }
            None => None,
        };
        out.push(Queue {
            logical: q.logical.clone(),
            name: resolver.string(&serde_json::json!({"Fn::GetAtt": [q.logical, "QueueName"]}))?,
            arn,
            // SQS's default.
            visibility_timeout: number(&props, "VisibilityTimeout").unwrap_or(30),
            dead_letter,
        });
    }
    Ok(out)
}

fn alarms(template: &Template, resolver: &Resolver) -> Result<Vec<Alarm>, WiringError> {
    let mut out = Vec::new();
    for a in template.of_kind("AWS::CloudWatch::Alarm") {
        let props = resolver.resolve(&a.properties)?;
        out.push(Alarm {
            logical: a.logical.clone(),
            namespace: str_of(&props, "Namespace").to_string(),
            metric: str_of(&props, "MetricName").to_string(),
            dimensions: props["Dimensions"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .map(|d| {
                            (
                                str_of(d, "Name").to_string(),
                                str_of(d, "Value").to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            statistic: str_of(&props, "Statistic").to_string(),
            threshold: props["Threshold"]
                .as_f64()
                .or_else(|| props["Threshold"].as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(0.0),
            comparison: str_of(&props, "ComparisonOperator").to_string(),
        });
    }
    Ok(out)
}

fn roles(template: &Template, resolver: &Resolver) -> Result<Vec<Role>, WiringError> {
    let mut out = Vec::new();
    for r in template.of_kind("AWS::IAM::Role") {
        let props = resolver.resolve(&r.properties)?;
        let mut policies = Vec::new();
        for p in props["Policies"].as_array().into_iter().flatten() {
            policies.push(Policy {
                name: str_of(p, "PolicyName").to_string(),
                document: Some(p["PolicyDocument"].clone()),
                managed_arn: None,
            });
        }
        for arn in props["ManagedPolicyArns"].as_array().into_iter().flatten() {
            let arn = arn.as_str().unwrap_or_default();
            policies.push(Policy {
                name: arn.rsplit('/').next().unwrap_or(arn).to_string(),
                document: None,
                managed_arn: Some(arn.to_string()),
            });
        }
        out.push(Role {
            logical: r.logical.clone(),
            name: resolver.string(&serde_json::json!({"Ref": r.logical}))?,
            arn: resolver.string(&serde_json::json!({"Fn::GetAtt": [r.logical, "Arn"]}))?,
            assume_role_policy: props["AssumeRolePolicyDocument"].clone(),
            policies,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfn::Place;
    use serde_json::json;

    /// A translated template in miniature: one function with a route, its permission, a
    /// schedule, a queue mapping with a dead-letter queue, a role.
    fn template() -> Template {
        Template::new(json!({
            "Parameters": {"Arch": {"Type": "String", "Default": "x86_64"}},
            "Resources": {
                "Fn": {"Type": "AWS::Lambda::Function",
                    "Metadata": {"BuildProperties": {"Binary": "fn-bin"}},
                    "Properties": {
                        "Architectures": [{"Ref": "Arch"}], "MemorySize": 256, "Timeout": 60,
                        "Role": {"Fn::GetAtt": ["FnRole", "Arn"]},
                        "Environment": {"Variables": {"QUEUE": {"Ref": "Q"}, "N": 5}}}},
                "FnRole": {"Type": "AWS::IAM::Role", "Properties": {
                    "AssumeRolePolicyDocument": {},
                    "Policies": [{"PolicyName": "P", "PolicyDocument": {"Statement": [
                        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": {"Fn::GetAtt": ["Q", "Arn"]}}]}}],
                    "ManagedPolicyArns": ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]}},
                "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"Body": {"paths": {
                    "/things/{id}": {"get": {"x-amazon-apigateway-integration": {
                        "payloadFormatVersion": "2.0",
                        "uri": {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations"}}}}}}}},
                "FnPermission": {"Type": "AWS::Lambda::Permission", "Properties": {
                    "FunctionName": {"Ref": "Fn"}, "Principal": "apigateway.amazonaws.com",
                    "SourceArn": {"Fn::Sub": ["arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${__ApiId__}/*/GET/things/*", {"__ApiId__": {"Ref": "Api"}}]}}},
                "FnSchedule": {"Type": "AWS::Scheduler::Schedule", "Properties": {
                    "ScheduleExpression": "rate(15 minutes)",
                    "Target": {"Arn": {"Fn::GetAtt": ["Fn", "Arn"]}, "Input": "{\"a\":1}", "RoleArn": "r"}}},
                "FnJobs": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
                    "BatchSize": 5, "EventSourceArn": {"Fn::GetAtt": ["Q", "Arn"]},
                    "FunctionName": {"Ref": "Fn"}, "FunctionResponseTypes": ["ReportBatchItemFailures"]}},
                "Q": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 360,
                    "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}, "maxReceiveCount": 5}}},
                "Dlq": {"Type": "AWS::SQS::Queue", "Properties": {}}
            }
        }))
    }

    #[test]
    fn everything_a_function_is_wired_to_comes_from_the_template() {
        let t = template();
        let place = Place {
            stack_name: "st".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        };
        let mut r = Resolver::new(&t, place, t.parameters(&Default::default()).unwrap());
        crate::deploy::name_resources(&t, &mut r, "http://127.0.0.1:1");
        r.set_ref("Q", "http://moto/123456789012/st-Q");
        let w = Wiring::derive(&t, &r).unwrap();
        let f = w.function("Fn").unwrap();
        assert_eq!(f.binary, "fn-bin");
        assert_eq!(f.name, "st-Fn");
        assert_eq!(f.env["QUEUE"], "http://moto/123456789012/st-Q");
        assert_eq!(f.env["N"], "5");
        assert_eq!((f.memory_mb, f.timeout.as_secs()), (256, 60));
        assert_eq!(f.architectures, ["x86_64"]);
        assert_eq!(f.role, "FnRole");
        assert_eq!(w.routes[0].key(), "GET /things/{id}");
        assert_eq!(w.routes[0].function, "Fn");
        assert!(crate::front::invoke_allowed(
            &w.permissions,
            "Fn",
            &format!(
                "arn:aws:execute-api:us-east-1:123456789012:{}/$default/GET/things/7",
                w.api_id
            )
        ));
        assert_eq!(w.schedules[0].input, "{\"a\":1}");
        assert_eq!(w.schedules[0].function, "Fn");
        let m = &w.mappings[0];
        assert_eq!(
            (m.batch_size, m.report_batch_item_failures, m.queue.as_str()),
            (5, true, "Q")
        );
        let q = w.queue("Q").unwrap();
        assert_eq!(q.visibility_timeout, 360);
        assert_eq!(q.dead_letter, Some(("Dlq".to_string(), 5)));
        let role = &w.roles[0];
        assert_eq!(
            role.policies[0].document.as_ref().unwrap()["Statement"][0]["Resource"],
            "arn:aws:sqs:us-east-1:123456789012:st-Q"
        );
        assert_eq!(role.policies[1].name, "AWSLambdaBasicExecutionRole");
    }

    #[test]
    fn alarms_compare_as_cloudwatch_does() {
        let mut alarm = Alarm {
            logical: "A".into(),
            namespace: "AWS/SQS".into(),
            metric: "ApproximateNumberOfMessagesVisible".into(),
            dimensions: vec![],
            statistic: "Maximum".into(),
            threshold: 0.0,
            comparison: "GreaterThanThreshold".into(),
        };
        assert!(alarm.breached_by(1.0));
        assert!(!alarm.breached_by(0.0));
        alarm.comparison = "GreaterThanOrEqualToThreshold".into();
        assert!(alarm.breached_by(0.0));
        alarm.comparison = "Unknown".into();
        assert!(!alarm.breached_by(5.0));
    }
}
