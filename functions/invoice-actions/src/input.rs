//! Request input: an optional JSON body, and the checks on what callers send (invoice ids,
//! e-mail addresses, dates, page sizes) with clear 4xx answers.

use serde::Deserialize;

use shared::web::error::{ApiError, FieldError};

/// `{"confirm": true}`: what void and delete require.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    #[serde(default)]
    pub confirm: Option<bool>,
}

impl ConfirmBody {
    /// 422 with a `confirm` field error unless the caller confirmed.
    pub fn require(&self, why: &str) -> Result<(), ApiError> {
        if self.confirm == Some(true) {
            return Ok(());
        }
        Err(ApiError::Unprocessable {
            detail: why.to_string(),
            errors: vec![FieldError::new(
                "confirm",
                "must be true to confirm this irreversible action",
            )],
        })
    }
}

/// The address the rep typed for sending, checked (`None`: QuickBooks' billing e-mail).
pub fn recipient(typed: Option<&str>) -> Result<Option<String>, ApiError> {
    match typed {
        None => Ok(None),
        Some(raw) => validate_email(raw).map(Some).map_err(|reason| {
            // The page shows the field's error as it is: a whole sentence.
            let sentence = format!("The recipient is not a valid e-mail address: it {reason}.");
            ApiError::Unprocessable {
                detail: sentence.clone(),
                errors: vec![FieldError::new("to", sentence)],
            }
        }),
    }
}

/// `{"to": "someone@example.com"}` (optional): who the invoice is e-mailed to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    #[serde(default)]
    pub to: Option<String>,
}

/// QuickBooks keeps at most 100 characters in `BillEmail.Address`.
pub const MAX_EMAIL_LEN: usize = 100;

/// One e-mail address as QuickBooks will accept it (`local@domain.tld`, one recipient, no spaces
/// or list separators), trimmed; `Err` says what is wrong.
pub fn validate_email(raw: &str) -> Result<String, &'static str> {
    let address = raw.trim();
    if address.is_empty() {
        return Err("must not be empty");
    }
    if address.chars().count() > MAX_EMAIL_LEN {
        return Err("must be at most 100 characters");
    }
    if address
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | ';' | '<' | '>' | '"'))
    {
        return Err("must be a single e-mail address, without spaces or separators");
    }
    let Some((local, domain)) = address.split_once('@') else {
        return Err("must contain @");
    };
    if local.is_empty() || domain.contains('@') {
        return Err("must have one @ with a name before it");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("has a misplaced dot before the @");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| {
            l.is_empty()
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
    {
        return Err("must end with a domain such as example.com");
    }
    if labels.last().is_some_and(|tld| tld.chars().count() < 2) {
        return Err("must end with a domain such as example.com");
    }
    Ok(address.to_string())
}

/// A QuickBooks entity id from the URL: 1–20 ASCII digits (QuickBooks ids are numeric strings).
/// A page size (`limit=`): `default` when absent or empty, else a whole number from 1 to `max`.
pub fn page_limit(raw: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "`limit` must be a number from 1 to {max}."
            ))),
        },
    }
}

pub fn invoice_id(raw: &str) -> Result<String, ApiError> {
    if !raw.is_empty() && raw.len() <= 20 && raw.bytes().all(|b| b.is_ascii_digit()) {
        Ok(raw.to_string())
    } else {
        Err(ApiError::bad_request(
            "The invoice id in the URL is not a QuickBooks invoice id (digits only).",
        ))
    }
}

/// A file name for the invoice PDF: `Invoice-<DocNumber>.pdf`, with anything but letters, digits,
/// `-`, `_` and `.` replaced by `_` (it travels inside a quoted header parameter).
pub fn pdf_file_name(doc_number: Option<&str>, invoice_id: &str) -> String {
    let base = doc_number
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .unwrap_or(invoice_id);
    let clean: String = base
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("Invoice-{clean}.pdf")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for good in [
            "a@b.co",
            "  billing@acme.example ",
            "first.last+tag@sub.example.org",
            "müller@bücher.de",
        ] {
            assert!(validate_email(good).is_ok(), "{good}");
        }
        assert_eq!(
            validate_email(" billing@acme.example ").unwrap(),
            "billing@acme.example"
        );
        for bad in [
            "",
            "   ",
            "no-at-sign",
            "@example.com",
            "a@b",
            "a@b.c",
            "a@@b.com",
            "a@b@c.com",
            "a b@c.com",
            "a@b.com, c@d.com",
            "a@b.com;c@d.com",
            "Name <a@b.com>",
            ".a@b.com",
            "a..b@c.com",
            "a@-b.com",
            "a@b..com",
            "a@b.com\n",
        ] {
            if bad == "a@b.com\n" {
                // Trimmed: a trailing newline is whitespace around a valid address.
                assert!(validate_email(bad).is_ok());
                continue;
            }
            assert!(validate_email(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("{}@example.com", "x".repeat(95));
        assert!(validate_email(&long).is_err());
    }

    #[test]
    fn invoice_ids() {
        assert_eq!(invoice_id("130").unwrap(), "130");
        for bad in ["", "13a", "1#2", "../1", "123456789012345678901", "-1"] {
            assert_eq!(invoice_id(bad).unwrap_err().status(), 400, "{bad}");
        }
    }

    #[test]
    fn pdf_names() {
        assert_eq!(pdf_file_name(Some("1042"), "130"), "Invoice-1042.pdf");
        assert_eq!(pdf_file_name(None, "130"), "Invoice-130.pdf");
        assert_eq!(pdf_file_name(Some("  "), "130"), "Invoice-130.pdf");
        assert_eq!(
            pdf_file_name(Some("PD/2026\"1 ü"), "1"),
            "Invoice-PD_2026_1__.pdf"
        );
    }
}
