//! Reading a settings save: the body is checked field by field first, so a wrong value is
//! answered with that field's sentence ("The number of days … from 0 to 365.") instead of the
//! JSON parser's text, and an empty number is an error, never 0.

use serde_json::Value;
use shared::web::error::{ApiError, FieldError};

use crate::SettingsDocument;

/// The sentence of the due-days field.
pub const DAYS_SENTENCE: &str =
    "The number of days after the invoice date must be a whole number from 0 to 365.";

/// The problems of the due-date rule in a raw settings body (`settings.due_date`).
pub fn due_date_errors(body: &Value) -> Vec<FieldError> {
    let Some(rule) = body.pointer("/settings/due_date") else {
        return Vec::new();
    };
    if rule.get("kind").and_then(Value::as_str) != Some("days_after_issue") {
        return Vec::new();
    }
    let days = rule.get("days");
    let valid = days.and_then(Value::as_u64).is_some_and(|d| d <= 365);
    if valid {
        return Vec::new();
    }
    let message = match days {
        None | Some(Value::Null) => "Enter the number of days after the invoice date (0 to 365).",
        Some(Value::String(s)) if s.trim().is_empty() => {
            "Enter the number of days after the invoice date (0 to 365)."
        }
        _ => DAYS_SENTENCE,
    };
    vec![FieldError::new("settings.due_date.days", message)]
}

/// The settings document of a save, or the answer that says what to fix.
pub fn read_document(body: Value) -> Result<SettingsDocument, ApiError> {
    let errors = due_date_errors(&body);
    if !errors.is_empty() {
        return Err(ApiError::unprocessable(errors));
    }
    serde_json::from_value(body).map_err(|error| {
        tracing::info!(%error, "a settings save did not parse");
        ApiError::unprocessable(vec![FieldError::new(
            "settings",
            "The settings sent are incomplete or of another version of this page. Reload the page and save again.",
        )])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn days(value: Value) -> Vec<FieldError> {
        due_date_errors(
            &json!({"settings": {"due_date": {"kind": "days_after_issue", "days": value}}}),
        )
    }

    #[test]
    fn the_due_days_are_a_whole_number_from_0_to_365_and_never_empty() {
        assert!(days(json!(0)).is_empty());
        assert!(days(json!(365)).is_empty());
        for bad in [json!(-5), json!(366), json!(1.5), json!("7")] {
            assert_eq!(days(bad.clone())[0].message, DAYS_SENTENCE, "{bad}");
        }
        for empty in [Value::Null, json!("")] {
            assert!(days(empty)[0].message.starts_with("Enter the number"));
        }
        let no_days =
            due_date_errors(&json!({"settings": {"due_date": {"kind": "days_after_issue"}}}));
        assert_eq!(no_days[0].field, "settings.due_date.days");
        let terms = due_date_errors(&json!({"settings": {"due_date": {"kind": "customer_terms"}}}));
        assert!(terms.is_empty());
    }

    #[test]
    fn what_does_not_parse_is_answered_without_the_parsers_text() {
        let answer = read_document(json!({"settings": {"due_date": {"kind": "days_after_issue", "days": -5}}, "version": 1}))
            .unwrap_err()
            .to_string();
        assert!(!answer.contains("expected u16"), "{answer}");
        let other = read_document(json!({"settings": 3, "version": 1}))
            .unwrap_err()
            .to_string();
        assert!(!other.contains("invalid type"), "{other}");
    }
}
