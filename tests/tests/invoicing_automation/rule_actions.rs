//! The settings API takes every rule action the settings page offers (issue 23's list, with
//! "create an estimate" now that estimates exist) and refuses an action it does not know.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_rule_that_creates_an_estimate_is_saved_and_shown_and_an_unknown_action_is_refused() {
    let w = world().await;
    let mut doc = w.call("GET", "/api/settings", A, None, None).await.json;
    doc["settings"]["rules"] =
        json!([{"trigger": {"kind": "won"}, "action": "create_an_estimate"}]);
    let refused = w.call("PUT", "/api/settings", A, Some(&doc), None).await;
    assert_eq!(refused.status, 422, "{}", refused.text);

    doc["settings"]["rules"] = json!([
        {"trigger": {"kind": "won"}, "action": "create"},
        {"trigger": {"kind": "won"}, "action": "create_estimate"}
    ]);
    let saved = w.call("PUT", "/api/settings", A, Some(&doc), None).await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    let shown = w.call("GET", "/api/settings", A, None, None).await.json;
    let rules = shown["settings"]["rules"].as_array().unwrap();
    let actions: Vec<_> = rules.iter().map(|r| r["action"].as_str()).collect();
    assert_eq!(actions, [Some("create"), Some("create_estimate")]);
    assert!(
        rules
            .iter()
            .all(|r| r["id"].as_str().is_some_and(|id| !id.is_empty())),
        "{rules:?}"
    );
}
