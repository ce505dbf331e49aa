//! The floor under every data function: what each request of this product does before any of
//! the app's own decisions — JSON logs, one axum route behind `lambda_http`, the Pipedrive JWT
//! verified, one DynamoDB `GetItem` and one Secrets Manager `GetSecretValue` through the AWS SDK
//! (over the one HTTP stack), one upstream call through reqwest. `bench coldstart` runs it next
//! to `bench-hello` (BENCHMARKS.md, "The floor of the stack"), so a function's peak RSS reads as
//! hello + the stack + the app's own code.

use aws_sdk_dynamodb::types::AttributeValue;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use clients::aws::AwsAccess;
use clients::aws::sdk::sdk_config;
use domain::secret::SecretString;
use serde_json::{Value, json};
use web::auth::jwt::{JwtKeys, verify_pipedrive_jwt};

#[derive(Clone)]
struct Floor {
    dynamo: aws_sdk_dynamodb::Client,
    secrets: aws_sdk_secretsmanager::Client,
    http: reqwest::Client,
    keys: std::sync::Arc<JwtKeys>,
    table: String,
    secret_prefix: String,
    upstream: String,
}

/// The token checked, one item and one secret read by their keys, one upstream answer read.
async fn read(State(floor): State<Floor>, headers: HeaderMap) -> Json<Value> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let tenant = verify_pipedrive_jwt(token, &floor.keys, chrono::Utc::now());
    let item = floor
        .dynamo
        .get_item()
        .table_name(&floor.table)
        .key("pk", AttributeValue::S("floor".into()))
        .key("sk", AttributeValue::S("floor".into()))
        .send()
        .await;
    let secret = floor
        .secrets
        .get_secret_value()
        .secret_id(format!("{}/floor", floor.secret_prefix))
        .send()
        .await;
    let upstream = floor.http.get(&floor.upstream).send().await;
    Json(json!({
        "tenant": tenant.is_ok(),
        "item": item.map(|o| o.item.is_some()).map_err(|e| e.to_string()).ok(),
        "secret": secret.map(|o| o.secret_string.is_some()).map_err(|e| e.to_string()).ok(),
        "upstream": upstream.map(|r| r.status().as_u16()).ok(),
    }))
}

// As every function: Lambda gives an instance one event at a time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    web::telemetry::init();
    let env = config::Env::from_process();
    let aws = AwsAccess::from_env(&env)?;
    let sdk = sdk_config(&aws);
    let floor = Floor {
        dynamo: aws_sdk_dynamodb::Client::new(&sdk),
        secrets: aws_sdk_secretsmanager::Client::new(&sdk),
        http: clients::outbound::http_client(),
        keys: std::sync::Arc::new(JwtKeys::new(&SecretString::new(
            env.required("PIPEDRIVE_JWT_SECRET")?,
        ))),
        table: env.required("TABLE_NAME")?,
        secret_prefix: env.required("TOKEN_SECRET_PREFIX")?,
        upstream: format!(
            "{}/api/v1/users/me",
            env.required("PIPEDRIVE_OAUTH_BASE_URL")?
        ),
    };
    lambda_http::run(Router::new().route("/floor", get(read)).with_state(floor)).await
}
