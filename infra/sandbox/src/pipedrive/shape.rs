//! Compares the *shape* of two JSON documents: the same keys and JSON types, recursively.
//! Used to check the simulator's answers against the published payloads.
//!
//! Rules:
//! - `null` on either side matches anything (the specs mark those fields nullable).
//! - Numbers match numbers (integer or not).
//! - Objects must have the same keys, except paths listed in `allow_extra` (keys only the actual
//!   document may have) and `ignore` (subtrees not compared at all, e.g. `custom_fields`, whose
//!   keys are hashes, or upstream doc bugs).
//! - Arrays: when both are non-empty, every actual element must match some expected element.
//!
//! Paths are written `data.address.value`, with `[]` for array elements (`data[].options`).

use serde_json::Value;

/// Differences between the shape of `expected` and `actual` (empty when they match).
pub fn shape_diff(
    expected: &Value,
    actual: &Value,
    allow_extra: &[&str],
    ignore: &[&str],
) -> Vec<String> {
    let mut diffs = Vec::new();
    compare(expected, actual, "", allow_extra, ignore, &mut diffs);
    diffs
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn compare(
    expected: &Value,
    actual: &Value,
    path: &str,
    allow_extra: &[&str],
    ignore: &[&str],
    diffs: &mut Vec<String>,
) {
    if ignore.contains(&path) || expected.is_null() || actual.is_null() {
        return;
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, e_value) in e {
                let child = join(path, key);
                if ignore.contains(&child.as_str()) {
                    continue;
                }
                match a.get(key) {
                    Some(a_value) => compare(e_value, a_value, &child, allow_extra, ignore, diffs),
                    None => diffs.push(format!("{child}: missing")),
                }
            }
            for key in a.keys().filter(|k| !e.contains_key(*k)) {
                let child = join(path, key);
                if !allow_extra.contains(&child.as_str()) && !ignore.contains(&child.as_str()) {
                    diffs.push(format!("{child}: not in the published payload"));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.is_empty() || a.is_empty() {
                return;
            }
            let child = format!("{path}[]");
            for (i, a_item) in a.iter().enumerate() {
                let mut best: Option<Vec<String>> = None;
                for e_item in e {
                    let mut item_diffs = Vec::new();
                    compare(e_item, a_item, &child, allow_extra, ignore, &mut item_diffs);
                    if item_diffs.is_empty() {
                        best = None;
                        break;
                    }
                    if best.as_ref().is_none_or(|b| item_diffs.len() < b.len()) {
                        best = Some(item_diffs);
                    }
                }
                if let Some(item_diffs) = best {
                    diffs.extend(item_diffs.into_iter().map(|d| format!("(element {i}) {d}")));
                }
            }
        }
        (e, a) if kind(e) == kind(a) => {}
        (e, a) => diffs.push(format!(
            "{}: expected {}, got {}",
            if path.is_empty() { "<root>" } else { path },
            kind(e),
            kind(a)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pipedrive_shape_rules() {
        let expected = json!({"a": 1, "b": {"c": "x"}, "d": [{"e": true}], "n": null});
        let same = json!({"a": 2.5, "b": {"c": "y"}, "d": [{"e": false}, {"e": true}], "n": 3});
        assert!(shape_diff(&expected, &same, &[], &[]).is_empty());

        let wrong = json!({"a": "1", "b": {}, "d": [{"e": 1}], "n": null, "z": 0});
        let diffs = shape_diff(&expected, &wrong, &[], &[]);
        assert_eq!(diffs.len(), 4, "{diffs:?}");
        assert!(shape_diff(&expected, &wrong, &["z"], &["a", "b", "d"]).is_empty());
    }
}
