//! Bulk from the deals list: readiness of a selection (deal A, ready; company A's deal 4, no
//! products), a batch under the page's id, its run until nothing is pending, and its result —
//! each deal with an outcome, nothing pending.

use serde_json::json;

use super::*;

const BATCH: &str = "3c9e1f2a-7b4d-4e6f-8a1c-2d3e4f5a6b7c";

pub(super) async fn bulk(ctx: &Ctx<'_>) -> Result<(), String> {
    let selection = json!({"deal_ids": [DEAL_A, 4]});
    let readiness = call(
        ctx,
        "POST",
        "/api/bulk/readiness",
        A_ADMIN,
        Some(&selection),
        200,
    )
    .await?;
    if readiness.json["deals"][0]["ready"] != json!(true) {
        return Err(format!("deal {DEAL_A} is not ready: {}", readiness.json));
    }
    let batch = json!({"batch_id": BATCH, "deal_ids": [DEAL_A, 4]});
    call(ctx, "POST", "/api/bulk/batches", A_ADMIN, Some(&batch), 201).await?;
    let path = format!("/api/bulk/batches/{BATCH}");
    for _ in 0..5 {
        let page = call(ctx, "POST", &format!("{path}/run"), A_ADMIN, None, 200).await?;
        if page.json["progress"]["pending"] == json!(0) {
            break;
        }
    }
    let done = call(ctx, "GET", &path, A_ADMIN, None, 200).await?;
    let progress = &done.json["progress"];
    if progress["pending"] != json!(0) || progress["blocked"] != json!(1) {
        return Err(format!(
            "the batch did not finish as expected: {}",
            done.json
        ));
    }
    Ok(())
}
