//! The local server starts with no configuration at all and answers `/healthz`.

use std::net::{Ipv4Addr, SocketAddr};

use shared::config::Env;

#[tokio::test]
async fn starts_without_configuration_and_answers_healthz() {
    let server = local::start(&Env::default(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("starts");
    let response = shared::clients::outbound::plain_client()
        .get(format!("{}/healthz", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    let missing = shared::clients::outbound::plain_client()
        .get(format!("{}/nope", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
}
