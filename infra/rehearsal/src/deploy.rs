//! Creates the stack's resources in moto the way CloudFormation would: physical names
//! (`<stack>-<Logical>`), the DynamoDB table, the SQS queues (dead-letter queues first),
//! the app secret (its generated key included), the IAM roles with their inline and managed
//! policies — and records every `Ref`/`GetAtt` value in the resolver. Then each function gets
//! the temporary credentials of its role (`sts:AssumeRole`, as Lambda does), the rehearsal gets
//! an administrator, and IAM enforcement is switched on.
//!
//! These calls run before enforcement, so they are sent unsigned (moto needs only the service
//! in the `Authorization` header's scope); after it, everything is signed by the AWS SDK.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::cfn::{Resolver, Template};

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("creating {what} in moto: {reason}")]
    Create { what: String, reason: String },
    #[error(transparent)]
    Cfn(#[from] crate::cfn::CfnError),
}

fn failed(what: &str, reason: impl ToString) -> DeployError {
    DeployError::Create {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

/// Temporary or long-term credentials of one principal.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Credentials {
    /// An AWS SDK configuration signing with these credentials, against `endpoint` (moto).
    pub fn sdk_config(&self, endpoint: &str, region: &str) -> aws_types::SdkConfig {
        use shared::clients::aws::{AwsAccess, AwsSettings, AwsTlsRoots};
        let settings = AwsSettings {
            region: region.to_string(),
            endpoint_url: Some(endpoint.to_string()),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone().into(),
            session_token: self.session_token.clone().map(Into::into),
        };
        shared::clients::aws::sdk::sdk_config(&AwsAccess::new(
            settings,
            AwsTlsRoots::AmazonTrustServices,
        ))
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").finish_non_exhaustive()
    }
}

/// What the deployment created that is not a template value.
#[derive(Debug)]
pub struct Deployed {
    /// Role logical id → its session credentials.
    pub role_credentials: HashMap<String, Credentials>,
    /// The rehearsal's own administrator (fills the app secret, plays the SQS clock, checks).
    pub admin: Credentials,
    /// Managed policy ARN → its document (as the emulator's IAM holds it).
    pub managed_policies: HashMap<String, Value>,
}

/// Unsigned calls to moto before IAM enforcement.
pub struct Setup {
    endpoint: String,
    http: reqwest::Client,
    region: String,
}

impl Setup {
    pub fn new(endpoint: &str, region: &str) -> Self {
        Setup {
            endpoint: endpoint.to_string(),
            http: shared::clients::outbound::plain_client(),
            region: region.to_string(),
        }
    }

    fn authorization(&self, service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=REHEARSAL/20260101/{}/{service}/aws4_request, SignedHeaders=host, Signature=0",
            self.region
        )
    }

    /// A JSON-protocol call (DynamoDB, Secrets Manager, SQS).
    async fn json(&self, service: &str, target: &str, body: &Value) -> Result<Value, DeployError> {
        let content_type = if service == "dynamodb" {
            "application/x-amz-json-1.0"
        } else {
            "application/x-amz-json-1.1"
        };
        let answer = self
            .http
            .post(&self.endpoint)
            .header("authorization", self.authorization(service))
            .header("x-amz-target", target)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| failed(target, e))?;
        let status = answer.status();
        let text = answer.text().await.map_err(|e| failed(target, e))?;
        if !status.is_success() {
            return Err(failed(target, format!("{status}: {text}")));
        }
        serde_json::from_str(&text).map_err(|e| failed(target, e))
    }

    /// A query-protocol call (IAM, STS); answers the XML body.
    async fn query(&self, service: &str, params: &[(&str, &str)]) -> Result<String, DeployError> {
        let action = params.first().map(|p| p.1).unwrap_or_default().to_string();
        let answer = self
            .http
            .post(&self.endpoint)
            .header("authorization", self.authorization(service))
            .form(params)
            .send()
            .await
            .map_err(|e| failed(&action, e))?;
        let status = answer.status();
        let text = answer.text().await.map_err(|e| failed(&action, e))?;
        if !status.is_success() {
            return Err(failed(&action, format!("{status}: {text}")));
        }
        Ok(text)
    }
}

/// The text of the first `<tag>…</tag>` in an XML answer (entities decoded).
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(
        xml[start..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

fn suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_ascii_uppercase()
}

/// Gives every resource its physical ids (`<stack>-<Logical>`, as CloudFormation names them but
/// without its random suffix), except those the service makes up (queue URLs, secret ARNs):
/// [`deploy`] adds them when it creates them.
pub fn name_resources(template: &Template, resolver: &mut Resolver, front_url: &str) {
    let place = resolver.place().clone();
    let (region, account, stack) = (&place.region, &place.account, &place.stack_name);
    for r in template.resources() {
        // CloudFormation adds a random suffix; a fresh emulator needs none, and stable names
        // let the reviewed list of unused grants name its resources.
        let name = format!("{stack}-{}", r.logical);
        let l = r.logical.as_str();
        match r.kind.as_str() {
            "AWS::DynamoDB::Table" => {
                resolver.set_ref(l, &name);
                resolver.set_attr(
                    l,
                    "Arn",
                    format!("arn:aws:dynamodb:{region}:{account}:table/{name}"),
                );
            }
            "AWS::SQS::Queue" => {
                resolver.set_attr(l, "QueueName", &name);
                resolver.set_attr(l, "Arn", format!("arn:aws:sqs:{region}:{account}:{name}"));
            }
            "AWS::Lambda::Function" => {
                resolver.set_ref(l, &name);
                resolver.set_attr(
                    l,
                    "Arn",
                    format!("arn:aws:lambda:{region}:{account}:function:{name}"),
                );
            }
            "AWS::IAM::Role" => {
                resolver.set_ref(l, &name);
                resolver.set_attr(l, "Arn", format!("arn:aws:iam::{account}:role/{name}"));
            }
            "AWS::ApiGatewayV2::Api" => {
                let id = suffix().to_ascii_lowercase()[..10].to_string();
                resolver.set_ref(l, &id);
                resolver.set_attr(l, "ApiId", &id);
                resolver.set_attr(l, "ApiEndpoint", front_url);
            }
            "AWS::SNS::Topic" => {
                let arn = format!("arn:aws:sns:{region}:{account}:{name}");
                resolver.set_ref(l, &arn);
                resolver.set_attr(l, "TopicName", &name);
            }
            _ => resolver.set_ref(l, &name),
        }
    }
}

/// Creates the resources the functions use, in moto, and prepares the principals.
pub async fn deploy(
    template: &Template,
    resolver: &mut Resolver,
    setup: &Setup,
) -> Result<Deployed, DeployError> {
    create_secrets(template, resolver, setup).await?;
    create_queues(template, resolver, setup).await?;
    create_tables(template, resolver, setup).await?;
    let managed_policies = create_roles(template, resolver, setup).await?;
    let mut role_credentials = HashMap::new();
    for role in template.of_kind("AWS::IAM::Role") {
        let arn = resolver.string(&json!({"Fn::GetAtt": [role.logical, "Arn"]}))?;
        let xml = setup
            .query(
                "sts",
                &[
                    ("Action", "AssumeRole"),
                    ("Version", "2011-06-15"),
                    ("RoleArn", &arn),
                    ("RoleSessionName", &role.logical),
                ],
            )
            .await?;
        role_credentials.insert(role.logical.clone(), credentials_in(&xml, "AssumeRole")?);
    }
    let admin = create_admin(setup).await?;
    Ok(Deployed {
        role_credentials,
        admin,
        managed_policies,
    })
}

fn credentials_in(xml: &str, what: &str) -> Result<Credentials, DeployError> {
    Ok(Credentials {
        access_key_id: xml_text(xml, "AccessKeyId").ok_or_else(|| failed(what, xml))?,
        secret_access_key: xml_text(xml, "SecretAccessKey").ok_or_else(|| failed(what, xml))?,
        session_token: xml_text(xml, "SessionToken"),
    })
}

async fn create_secrets(
    template: &Template,
    resolver: &mut Resolver,
    setup: &Setup,
) -> Result<(), DeployError> {
    for s in template.of_kind("AWS::SecretsManager::Secret") {
        let props = resolver.resolve(&s.properties)?;
        let name = props["Name"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}-{}", s.logical, suffix()));
        let value = match props.get("GenerateSecretString") {
            Some(spec) => generate_secret(spec).map_err(|e| failed(&s.logical, e))?,
            None => props["SecretString"].as_str().unwrap_or("").to_string(),
        };
        let created = setup
            .json(
                "secretsmanager",
                "secretsmanager.CreateSecret",
                &json!({"Name": name, "Description": props["Description"], "SecretString": value}),
            )
            .await?;
        let arn = created["ARN"].as_str().unwrap_or_default().to_string();
        resolver.set_ref(&s.logical, &arn);
        resolver.set_attr(&s.logical, "Id", &arn);
    }
    Ok(())
}

/// `GenerateSecretString`: the template JSON with `GenerateStringKey` set to a random password
/// (letters and digits only: punctuation is excluded in our template, and kept out always).
pub fn generate_secret(spec: &Value) -> Result<String, String> {
    let length = spec["PasswordLength"].as_u64().unwrap_or(32) as usize;
    let mut password = String::new();
    while password.len() < length {
        password.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    password.truncate(length);
    match (
        spec["SecretStringTemplate"].as_str(),
        spec["GenerateStringKey"].as_str(),
    ) {
        (Some(template), Some(key)) => {
            let mut value: Value = serde_json::from_str(template)
                .map_err(|e| format!("SecretStringTemplate is not JSON: {e}"))?;
            value[key] = Value::String(password);
            Ok(value.to_string())
        }
        _ => Ok(password),
    }
}

async fn create_queues(
    template: &Template,
    resolver: &mut Resolver,
    setup: &Setup,
) -> Result<(), DeployError> {
    let mut queues = template.of_kind("AWS::SQS::Queue");
    // Dead-letter queues first: a redrive policy names an existing queue.
    queues.sort_by_key(|q| q.properties.get("RedrivePolicy").is_some());
    for q in queues {
        let props = resolver.resolve(&q.properties)?;
        let name = resolver.string(&json!({"Fn::GetAtt": [q.logical, "QueueName"]}))?;
        let mut attributes = serde_json::Map::new();
        for (key, value) in props.as_object().into_iter().flatten() {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            match key.as_str() {
                "QueueName" | "Tags" => {}
                _ => {
                    attributes.insert(key.clone(), Value::String(text));
                }
            }
        }
        let created = setup
            .json(
                "sqs",
                "AmazonSQS.CreateQueue",
                &json!({"QueueName": name, "Attributes": attributes}),
            )
            .await?;
        let url = created["QueueUrl"].as_str().unwrap_or_default().to_string();
        resolver.set_ref(&q.logical, &url);
        resolver.set_attr(&q.logical, "QueueUrl", &url);
    }
    Ok(())
}

/// The `CreateTable` parameters among a table's CloudFormation properties.
const TABLE_PARAMETERS: &[&str] = &[
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
    "DeletionProtectionEnabled",
];

async fn create_tables(
    template: &Template,
    resolver: &mut Resolver,
    setup: &Setup,
) -> Result<(), DeployError> {
    for t in template.of_kind("AWS::DynamoDB::Table") {
        let props = resolver.resolve(&t.properties)?;
        let name = resolver.string(&json!({"Ref": t.logical}))?;
        let mut request = json!({"TableName": name});
        for key in TABLE_PARAMETERS {
            if let Some(value) = props.get(*key) {
                request[*key] = value.clone();
            }
        }
        setup
            .json("dynamodb", "DynamoDB_20120810.CreateTable", &request)
            .await?;
        if let Some(ttl) = props.get("TimeToLiveSpecification") {
            setup
                .json(
                    "dynamodb",
                    "DynamoDB_20120810.UpdateTimeToLive",
                    &json!({"TableName": name, "TimeToLiveSpecification": ttl}),
                )
                .await?;
        }
    }
    Ok(())
}

async fn create_roles(
    template: &Template,
    resolver: &mut Resolver,
    setup: &Setup,
) -> Result<HashMap<String, Value>, DeployError> {
    let mut managed = HashMap::new();
    for r in template.of_kind("AWS::IAM::Role") {
        let props = resolver.resolve(&r.properties)?;
        let name = resolver.string(&json!({"Ref": r.logical}))?;
        let trust = props["AssumeRolePolicyDocument"].to_string();
        setup
            .query(
                "iam",
                &[
                    ("Action", "CreateRole"),
                    ("Version", "2010-05-08"),
                    ("RoleName", &name),
                    ("AssumeRolePolicyDocument", &trust),
                ],
            )
            .await?;
        for p in props["Policies"].as_array().into_iter().flatten() {
            let document = for_moto(&p["PolicyDocument"]).map_err(|e| failed(&r.logical, e))?;
            let policy = p["PolicyName"].as_str().unwrap_or("inline");
            setup
                .query(
                    "iam",
                    &[
                        ("Action", "PutRolePolicy"),
                        ("Version", "2010-05-08"),
                        ("RoleName", &name),
                        ("PolicyName", policy),
                        ("PolicyDocument", &document),
                    ],
                )
                .await?;
        }
        for arn in props["ManagedPolicyArns"].as_array().into_iter().flatten() {
            let arn = arn.as_str().unwrap_or_default();
            setup
                .query(
                    "iam",
                    &[
                        ("Action", "AttachRolePolicy"),
                        ("Version", "2010-05-08"),
                        ("RoleName", &name),
                        ("PolicyArn", arn),
                    ],
                )
                .await?;
            if !managed.contains_key(arn) {
                managed.insert(arn.to_string(), managed_document(setup, arn).await?);
            }
        }
    }
    Ok(managed)
}

/// A policy document as moto's IAM accepts it. IAM reads a document without `Version` in the
/// 2008-10-17 language, which differs from 2012-10-17 only in not expanding policy variables;
/// moto refuses such documents, so the rehearsal states the version — unless the document uses a
/// policy variable, whose meaning would change.
pub fn for_moto(document: &Value) -> Result<String, String> {
    if document.get("Version").is_some() {
        return Ok(document.to_string());
    }
    let text = document.to_string();
    if text.contains("${") {
        return Err(format!(
            "a policy without Version uses a policy variable: {text}"
        ));
    }
    let mut versioned = document.clone();
    versioned["Version"] = json!("2012-10-17");
    Ok(versioned.to_string())
}

/// The default version's document of a managed policy.
async fn managed_document(setup: &Setup, arn: &str) -> Result<Value, DeployError> {
    let policy = setup
        .query(
            "iam",
            &[
                ("Action", "GetPolicy"),
                ("Version", "2010-05-08"),
                ("PolicyArn", arn),
            ],
        )
        .await?;
    let version = xml_text(&policy, "DefaultVersionId").ok_or_else(|| failed(arn, &policy))?;
    let xml = setup
        .query(
            "iam",
            &[
                ("Action", "GetPolicyVersion"),
                ("Version", "2010-05-08"),
                ("PolicyArn", arn),
                ("VersionId", &version),
            ],
        )
        .await?;
    let document = xml_text(&xml, "Document").ok_or_else(|| failed(arn, &xml))?;
    let decoded = url::form_urlencoded::parse(format!("d={document}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or(document.clone());
    serde_json::from_str(&decoded)
        .or_else(|_| serde_json::from_str(&document))
        .map_err(|e| failed(arn, format!("policy document: {e}")))
}

const ADMIN: &str = "rehearsal-admin";

async fn create_admin(setup: &Setup) -> Result<Credentials, DeployError> {
    let everything = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    })
    .to_string();
    setup
        .query(
            "iam",
            &[
                ("Action", "CreateUser"),
                ("Version", "2010-05-08"),
                ("UserName", ADMIN),
            ],
        )
        .await?;
    setup
        .query(
            "iam",
            &[
                ("Action", "PutUserPolicy"),
                ("Version", "2010-05-08"),
                ("UserName", ADMIN),
                ("PolicyName", "everything"),
                ("PolicyDocument", &everything),
            ],
        )
        .await?;
    let xml = setup
        .query(
            "iam",
            &[
                ("Action", "CreateAccessKey"),
                ("Version", "2010-05-08"),
                ("UserName", ADMIN),
            ],
        )
        .await?;
    credentials_in(&xml, "CreateAccessKey")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_fill_the_template_key() {
        let spec = json!({
            "SecretStringTemplate": "{\"a\":\"\",\"b\":\"x\"}",
            "GenerateStringKey": "key",
            "PasswordLength": 64,
            "ExcludePunctuation": true
        });
        let value: Value = serde_json::from_str(&generate_secret(&spec).unwrap()).unwrap();
        assert_eq!(value["b"], "x");
        let key = value["key"].as_str().unwrap();
        assert_eq!(key.len(), 64);
        assert!(key.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(
            generate_secret(&json!({"SecretStringTemplate": "nope", "GenerateStringKey": "k"}))
                .is_err()
        );
    }

    #[test]
    fn unversioned_policies_get_the_version_moto_needs_unless_it_changes_them() {
        let plain = json!({"Statement": [{"Effect": "Allow", "Action": "x:Y", "Resource": "*"}]});
        let v: Value = serde_json::from_str(&for_moto(&plain).unwrap()).unwrap();
        assert_eq!(v["Version"], "2012-10-17");
        let kept = json!({"Version": "2008-10-17", "Statement": []});
        assert_eq!(for_moto(&kept).unwrap(), kept.to_string());
        let variable = json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${aws:username}/*"}]});
        assert!(for_moto(&variable).is_err());
    }

    #[test]
    fn xml_values_are_read_and_decoded() {
        let xml =
            "<R><AccessKeyId>ASIA1</AccessKeyId><Document>%7B%22a%22%3A1%7D &amp; x</Document></R>";
        assert_eq!(xml_text(xml, "AccessKeyId").as_deref(), Some("ASIA1"));
        assert_eq!(
            xml_text(xml, "Document").as_deref(),
            Some("%7B%22a%22%3A1%7D & x")
        );
        assert_eq!(xml_text(xml, "Missing"), None);
    }
}
