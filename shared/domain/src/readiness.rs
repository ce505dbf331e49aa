//! Whether a deal can be invoiced without anyone opening its create form — the bulk run's
//! per-deal check and the rules' "ready to invoice — needs: …" — decided from the same checks
//! the create makes ([`crate::draft::validate`] on the deal's draft), plus what only applies
//! without a person at the form: the customer must be linked, or matchable (exactly one active
//! QuickBooks customer with the party's name or e-mail, which the run then links).
//!
//! Each [`Blocker`] says what is missing in a short phrase (`need`, joined into one sentence by
//! [`needs_sentence`]) and in a full sentence with its fix (`detail`, the create's own words),
//! and what kind of fix it takes: linking inline (customer, item), or a change in Pipedrive or
//! QuickBooks.

use serde::{Deserialize, Serialize};

use super::FieldError;
use super::draft::FormLine;

/// What kind of fix a blocker takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockerKind {
    /// The deal has no organisation or person (fix in Pipedrive).
    Party,
    /// The party is not linked to a QuickBooks customer and none (or several) match: link one
    /// (inline) or create one.
    Customer,
    /// A line's product is not linked to a QuickBooks item: link one (inline).
    Item,
    /// The currency is not one the customer or the QuickBooks company accepts (fix in
    /// QuickBooks, or link another customer).
    Currency,
    /// A line lacks a tax code, or the sales tax rate is missing (choose in the create form, or
    /// set the company's default in QuickBooks).
    Tax,
    /// Anything else about the invoice (no lines, a negative price…): fix the deal in Pipedrive.
    Invoice,
}

/// One reason a deal cannot be invoiced unattended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocker {
    pub kind: BlockerKind,
    /// The form field it is about (`customer_id`, `lines[2].item_id`, …).
    pub field: String,
    /// What is missing, as a phrase: "a QuickBooks item for \"Design package\"".
    pub need: String,
    /// The full sentence with the fix.
    pub detail: String,
    /// The line, for line blockers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The line's Pipedrive product (what an item link is made for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<u64>,
}

/// What is known about the deal's customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerFacts<'a> {
    /// The deal has an organisation or a person.
    pub has_party: bool,
    /// Its party is linked to a QuickBooks customer.
    pub linked: bool,
    /// Active QuickBooks customers matching its name or e-mail (when not linked).
    pub candidates: usize,
    /// The name the invoice's customer block has.
    pub name: &'a str,
}

impl CustomerFacts<'_> {
    /// Not linked, but exactly one customer matches: the run links it.
    pub fn matchable(&self) -> bool {
        self.has_party && !self.linked && self.candidates == 1
    }
}

/// The index in `lines[3].item_id`-style paths.
fn line_of(field: &str) -> Option<usize> {
    field
        .strip_prefix("lines[")?
        .split(']')
        .next()?
        .parse()
        .ok()
}

fn quoted(name: &str) -> String {
    let name = name.trim();
    if name.is_empty() {
        "the customer".to_string()
    } else {
        format!("\"{name}\"")
    }
}

fn customer_blocker(customer: CustomerFacts<'_>, problem: &FieldError) -> Option<Blocker> {
    let (kind, need, detail) = if !customer.has_party {
        (
            BlockerKind::Party,
            "an organisation or person on the deal".to_string(),
            "The deal has no organisation or person to invoice. Add one to the deal in Pipedrive."
                .to_string(),
        )
    } else if customer.matchable() {
        return None;
    } else if customer.candidates > 1 {
        (
            BlockerKind::Customer,
            format!(
                "a choice between {} QuickBooks customers named {}",
                customer.candidates,
                quoted(customer.name)
            ),
            format!(
                "{} QuickBooks customers match {}. Choose the one to invoice.",
                customer.candidates,
                quoted(customer.name)
            ),
        )
    } else {
        (
            BlockerKind::Customer,
            format!("a QuickBooks customer for {}", quoted(customer.name)),
            format!(
                "No QuickBooks customer is linked to {}. Link an existing customer, or create one.",
                quoted(customer.name)
            ),
        )
    };
    Some(Blocker {
        kind,
        field: problem.field.clone(),
        need,
        detail,
        line: None,
        product_id: None,
    })
}

fn line_blocker(problem: &FieldError, lines: &[FormLine]) -> Blocker {
    let index = line_of(&problem.field);
    let line = index.and_then(|i| lines.get(i));
    let name = line.map_or_else(String::new, |l| l.name.trim().to_string());
    let (kind, need) = if problem.field.ends_with(".item_id") {
        (
            BlockerKind::Item,
            format!("a QuickBooks item for \"{name}\""),
        )
    } else if problem.field.ends_with(".tax_code") {
        (BlockerKind::Tax, format!("a tax code for \"{name}\""))
    } else {
        (BlockerKind::Invoice, format!("a valid line \"{name}\""))
    };
    Blocker {
        kind,
        field: problem.field.clone(),
        need,
        detail: problem.message.clone(),
        line: index,
        product_id: line.and_then(|l| l.product_id),
    }
}

/// Every blocker of a deal: `problems` are the create's checks on the deal's draft (run with
/// the matched customer filled in when there is exactly one), `lines` the draft's lines.
pub fn blockers(
    problems: &[FieldError],
    customer: CustomerFacts<'_>,
    lines: &[FormLine],
) -> Vec<Blocker> {
    let mut out: Vec<Blocker> = Vec::new();
    for problem in problems {
        let blocker = match problem.field.as_str() {
            "customer_id" => customer_blocker(customer, problem),
            "currency" => Some(Blocker {
                kind: BlockerKind::Currency,
                field: problem.field.clone(),
                need: "a currency QuickBooks accepts for this customer".into(),
                detail: problem.message.clone(),
                line: None,
                product_id: None,
            }),
            "txn_tax_code" => Some(Blocker {
                kind: BlockerKind::Tax,
                field: problem.field.clone(),
                need: "a sales tax rate".into(),
                detail: problem.message.clone(),
                line: None,
                product_id: None,
            }),
            field if field.starts_with("lines[") => Some(line_blocker(problem, lines)),
            _ => Some(Blocker {
                kind: BlockerKind::Invoice,
                field: problem.field.clone(),
                need: problem.message.trim_end_matches('.').to_lowercase(),
                detail: problem.message.clone(),
                line: None,
                product_id: None,
            }),
        };
        // One blocker per product: linking it fixes every line of it.
        if let Some(b) = blocker
            && !out
                .iter()
                .any(|o| o.kind == b.kind && o.product_id.is_some() && o.product_id == b.product_id)
        {
            out.push(b);
        }
    }
    out
}

/// "Ready to invoice — needs: a QuickBooks customer for \"Müller AG\" and a QuickBooks item
/// for \"Design package\"."
pub fn needs_sentence(blockers: &[Blocker]) -> String {
    match needs_list(blockers) {
        None => "Ready to invoice.".to_string(),
        Some(list) => format!("Ready to invoice — needs: {list}."),
    }
}

/// A bulk run's result for a deal it did not invoice: "Not invoiced — needs: …".
pub fn not_invoiced_sentence(blockers: &[Blocker]) -> String {
    match needs_list(blockers) {
        None => "Ready to invoice.".to_string(),
        Some(list) => format!("Not invoiced — needs: {list}."),
    }
}

/// "a, b and c" of the blockers' needs (none when nothing blocks).
fn needs_list(blockers: &[Blocker]) -> Option<String> {
    let needs: Vec<&str> = blockers.iter().map(|b| b.need.as_str()).collect();
    match needs.as_slice() {
        [] => None,
        [one] => Some((*one).to_string()),
        [init @ .., last] => Some(format!("{} and {last}", init.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn line(name: &str, product: Option<u64>) -> FormLine {
        FormLine {
            product_id: product,
            deal_product_id: None,
            name: name.into(),
            description: None,
            quantity: Decimal::ONE,
            unit_price: Decimal::TEN,
            discount: None,
            tax_percent: None,
            item_id: None,
            item_name: None,
            tax_code: None,
        }
    }

    fn facts(has_party: bool, linked: bool, candidates: usize) -> CustomerFacts<'static> {
        CustomerFacts {
            has_party,
            linked,
            candidates,
            name: "Müller AG",
        }
    }

    #[test]
    fn a_deal_without_problems_is_ready() {
        assert!(blockers(&[], facts(true, true, 0), &[]).is_empty());
        assert_eq!(needs_sentence(&[]), "Ready to invoice.");
    }

    #[test]
    fn one_matching_customer_is_no_blocker_but_none_or_several_are() {
        let missing = [FieldError::new(
            "customer_id",
            "Choose the QuickBooks customer.",
        )];
        assert!(blockers(&missing, facts(true, false, 1), &[]).is_empty());
        let none = blockers(&missing, facts(true, false, 0), &[]);
        assert_eq!(none[0].kind, BlockerKind::Customer);
        assert_eq!(none[0].need, "a QuickBooks customer for \"Müller AG\"");
        let several = blockers(&missing, facts(true, false, 3), &[]);
        assert!(
            several[0]
                .detail
                .starts_with("3 QuickBooks customers match")
        );
        let no_party = blockers(&missing, facts(false, false, 0), &[]);
        assert_eq!(no_party[0].kind, BlockerKind::Party);
    }

    #[test]
    fn lines_name_their_product_once() {
        let lines = [
            line("Design package", Some(2)),
            line("Design package", Some(2)),
            line("Hosting", Some(3)),
        ];
        let problems = [
            FieldError::new("lines[0].item_id", "Line 1 is not linked."),
            FieldError::new("lines[1].item_id", "Line 2 is not linked."),
            FieldError::new("lines[2].tax_code", "Line 3 has no tax code."),
            FieldError::new("currency", "GBP is not on in QuickBooks."),
        ];
        let found = blockers(&problems, facts(true, true, 0), &lines);
        assert_eq!(
            found.iter().map(|b| b.kind).collect::<Vec<_>>(),
            vec![BlockerKind::Item, BlockerKind::Tax, BlockerKind::Currency]
        );
        assert_eq!((found[0].line, found[0].product_id), (Some(0), Some(2)));
        assert_eq!(
            needs_sentence(&found),
            "Ready to invoice — needs: a QuickBooks item for \"Design package\", a tax code for \"Hosting\" and a currency QuickBooks accepts for this customer."
        );
        assert_eq!(
            not_invoiced_sentence(&found[..1]),
            "Not invoiced — needs: a QuickBooks item for \"Design package\"."
        );
    }
}
