//! `bench-init-steps`: where a function's init time goes, step by step, in one process started
//! with a function's environment (`STORAGE=aws`, the app credentials as variables). Prints one
//! line per step; `BENCHMARKS.md` quotes it. No network call is made (the SDK clients connect
//! lazily), so any endpoint values will do.

use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let started = Instant::now();
    let mut last = started.elapsed();
    let mut step = |name: &str| {
        let now = started.elapsed();
        println!(
            "{name:<34} +{:>7.3} ms   (at {:>7.3} ms)",
            (now - last).as_secs_f64() * 1e3,
            now.as_secs_f64() * 1e3
        );
        last = now;
    };
    shared::web::telemetry::init();
    step("tracing subscriber");
    let roots = shared::clients::aws::AwsTlsRoots::from_setting(
        std::env::var("AWS_TLS_ROOTS").ok().as_deref(),
    )
    .unwrap_or(shared::clients::aws::AwsTlsRoots::AmazonTrustServices);
    let env = shared::config::Env::from_process();
    let sdk = match shared::clients::aws::AwsSettings::from_env(&env) {
        Ok(settings) => shared::clients::aws::sdk::sdk_config(
            &shared::clients::aws::AwsAccess::new(settings, roots),
        ),
        Err(error) => {
            eprintln!("{error}");
            return;
        }
    };
    step(&format!("AWS SDK config ({roots:?} roots)"));
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    step("Secrets Manager client");
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    step("DynamoDB client");
    let http = shared::clients::outbound::http_client();
    step("reqwest client (compiled-in roots)");
    let app = shared::app::App::from_env(&env).await;
    step("App::from_env (all of the above)");
    if let Err(error) = app {
        eprintln!("App::from_env failed: {error}");
    }
    drop((secrets, dynamo, http));
}
