//! The Pipedrive simulator's deals list (`updated_since`, ids, statuses, pages), deal updates
//! (`PATCH`, custom fields checked by type, `update_time` and `won_time` moving), pipelines and
//! stages, and 429s on bursts with `x-ratelimit-reset` (and `Retry-After` when asked).

mod pipedrive_support;

use pipedrive_support::*;
use sandbox::pipedrive::seed::{COMPANY_A, COMPANY_B, USER_A_ADMIN, USER_B_ADMIN};
use sandbox::pipedrive::{FieldEntity, NewCustomField};
use serde_json::{Value, json};
use shared::wire::pipedrive::model::{DealStatus, DealUpdate};

async fn patch(url: &str, token: &str, body: Value) -> (u16, Value) {
    let response = http()
        .patch(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn ids(body: &Value) -> Vec<u64> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn deals_updated_since_ids_statuses_and_pages() {
    let (sim, server) = start().await;
    let base = server.base_url();
    let token = sim
        .issue_tokens(COMPANY_A, USER_A_ADMIN)
        .unwrap()
        .access_token;
    let (status, _, all) = get(&format!("{base}/api/v2/deals"), &token).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(ids(&all), vec![1, 2, 3, 4, 5], "company A's deals only");
    assert!(all["additional_data"]["next_cursor"].is_null());

    // Nothing changed since now; a user wins deal 2 and edits deal 4's title.
    let since = sim.harness().now() - chrono::Duration::seconds(1);
    let since = since.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let url = format!("{base}/api/v2/deals?updated_since={since}");
    let (_, _, none) = get(&url, &token).await;
    assert_eq!(ids(&none), Vec::<u64>::new());
    let won = sim
        .edit_deal(
            COMPANY_A,
            2,
            &DealUpdate {
                status: Some(DealStatus::Won),
                ..DealUpdate::default()
            },
        )
        .unwrap();
    assert!(won.won_time.is_some() && won.close_time.is_some());
    assert_eq!(won.update_time, won.won_time);
    sim.edit_deal(
        COMPANY_A,
        4,
        &DealUpdate {
            title: Some("Retainer 2027".into()),
            ..DealUpdate::default()
        },
    )
    .unwrap();
    let (_, _, changed) = get(&url, &token).await;
    assert_eq!(ids(&changed), vec![2, 4]);
    let (_, _, won_only) = get(&format!("{url}&status=won"), &token).await;
    assert_eq!(ids(&won_only), vec![2]);
    let (_, _, picked) = get(&format!("{base}/api/v2/deals?ids=5,1,99"), &token).await;
    assert_eq!(ids(&picked), vec![1, 5], "unknown ids are left out");
    let (_, _, sorted) = get(
        &format!("{url}&sort_by=update_time&sort_direction=desc"),
        &token,
    )
    .await;
    assert_eq!(ids(&sorted), vec![4, 2]);

    // Pages of 2: a cursor until the last page.
    let (_, _, first) = get(&format!("{base}/api/v2/deals?limit=2"), &token).await;
    assert_eq!(ids(&first), vec![1, 2]);
    let cursor = first["additional_data"]["next_cursor"].as_str().unwrap();
    let (_, _, second) = get(
        &format!("{base}/api/v2/deals?limit=2&cursor={cursor}"),
        &token,
    )
    .await;
    assert_eq!(ids(&second), vec![3, 4]);

    // Bad input is a 400 in Pipedrive's format, never a silent full list.
    for bad in [
        "updated_since=yesterday",
        "status=closed",
        "ids=1,x",
        "sort_by=title",
        "limit=501",
    ] {
        let (status, _, body) = get(&format!("{base}/api/v2/deals?{bad}"), &token).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["success"], false);
    }
    let many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    let (status, _, _) = get(
        &format!("{base}/api/v2/deals?ids={}", many.join(",")),
        &token,
    )
    .await;
    assert_eq!(status, 400, "at most 100 ids");
}

#[tokio::test]
async fn deal_updates_check_custom_fields_by_type() {
    let (sim, server) = start().await;
    let base = server.base_url();
    let token = sim
        .issue_tokens(COMPANY_A, USER_A_ADMIN)
        .unwrap()
        .access_token;
    let add = |name: &str, field_type: &str, options: &[&str]| {
        sim.add_custom_field(
            COMPANY_A,
            FieldEntity::Deal,
            NewCustomField {
                field_name: name.into(),
                field_type: field_type.into(),
                options: options.iter().map(|o| o.to_string()).collect(),
                field_code: None,
            },
        )
        .unwrap()
        .field_code
    };
    let status_key = add("Invoice status", "enum", &["Open", "Overdue", "Paid"]);
    let paid_key = add("Amount paid", "monetary", &[]);
    let number_key = add("Last invoice", "varchar", &[]);
    let date_key = add("Last payment", "date", &[]);
    let before = sim.deal(COMPANY_A, 1).unwrap().update_time;

    let (status, body) = patch(
        &format!("{base}/api/v2/deals/1"),
        &token,
        json!({"custom_fields": {
            status_key.clone(): 3,
            paid_key.clone(): {"value": 120.5, "currency": "EUR"},
            number_key.clone(): "1042",
            date_key.clone(): "2026-03-20"
        }}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let fields = &body["data"]["custom_fields"];
    assert_eq!(fields[&status_key], 3);
    assert_eq!(
        fields[&paid_key],
        json!({"value": 120.5, "currency": "EUR"})
    );
    assert_ne!(body["data"]["update_time"].as_str(), before.as_deref());
    assert_eq!(sim.deal_updates().len(), 1);

    // Clearing with null; wrong shapes and unknown keys are refused and change nothing.
    let (status, body) = patch(
        &format!("{base}/api/v2/deals/1"),
        &token,
        json!({"custom_fields": {status_key.clone(): null}}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body["data"]["custom_fields"][&status_key].is_null());
    for bad in [
        json!({"custom_fields": {status_key.clone(): 9}}),
        json!({"custom_fields": {paid_key.clone(): "120"}}),
        json!({"custom_fields": {date_key.clone(): "20/03/2026"}}),
        json!({"custom_fields": {"0000000000000000000000000000000000000000": 1}}),
        json!({"owner": 5}),
    ] {
        let (status, body) = patch(&format!("{base}/api/v2/deals/1"), &token, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert_eq!(
        sim.deal(COMPANY_A, 1)
            .unwrap()
            .custom_fields
            .get(&number_key),
        Some(&json!("1042"))
    );

    // Another company's deal is a 404; a token without deals:full may not write.
    let b = sim
        .issue_tokens(COMPANY_B, USER_B_ADMIN)
        .unwrap()
        .access_token;
    let (status, _) = patch(
        &format!("{base}/api/v2/deals/3"),
        &b,
        json!({"title": "mine now"}),
    )
    .await;
    assert_eq!(status, 404);
    let reader = sim
        .issue_tokens_with_scope(COMPANY_A, USER_A_ADMIN, "base,deals:read")
        .unwrap()
        .access_token;
    let (status, _) = patch(
        &format!("{base}/api/v2/deals/1"),
        &reader,
        json!({"title": "x"}),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn pipelines_stages_and_bursts() {
    let mut config = config("http://127.0.0.1:9/oauth/callback");
    config.burst_limit = 4;
    let (sim, server) = sandbox::pipedrive::PipedriveSim::start(config)
        .await
        .unwrap();
    let base = server.base_url();
    let token = sim
        .issue_tokens(COMPANY_A, USER_A_ADMIN)
        .unwrap()
        .access_token;
    let (_, _, pipelines) = get(&format!("{base}/api/v2/pipelines"), &token).await;
    assert_eq!(ids(&pipelines), vec![1, 2]);
    let (_, _, stages) = get(&format!("{base}/api/v2/stages?pipeline_id=2"), &token).await;
    assert_eq!(ids(&stages), vec![5, 6]);
    assert_eq!(stages["data"][0]["pipeline_id"], 2);

    // The burst of 4 is spent: the fifth is a 429 with x-ratelimit-reset, without Retry-After
    // until the simulator is asked to send it.
    get(&format!("{base}/api/v2/stages"), &token).await;
    get(&format!("{base}/api/v2/stages"), &token).await;
    let (status, headers, _) = get(&format!("{base}/api/v2/stages"), &token).await;
    assert_eq!(status, 429);
    assert!(headers.contains_key("x-ratelimit-reset"));
    assert!(!headers.contains_key("retry-after"));
    sim.set_retry_after(true);
    let (status, headers, _) = get(&format!("{base}/api/v2/stages"), &token).await;
    assert_eq!(status, 429);
    assert_eq!(
        headers["retry-after"].to_str().unwrap(),
        headers["x-ratelimit-reset"].to_str().unwrap()
    );
}
