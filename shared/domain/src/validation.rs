//! What is wrong with an input, field by field: the domain's validation answers (the web layer
//! turns them into 422 problems).

use serde::Serialize;

/// One offending field of a request, for 422 answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON pointer-ish path of the field, e.g. `settings.due_date.days`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}
