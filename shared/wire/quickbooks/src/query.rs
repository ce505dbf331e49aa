//! Builds QuickBooks query-language statements with correct escaping.
//!
//! The grammar is `SELECT * | count(*) FROM Entity [WHERE p op v [AND …]] [ORDERBY f [ASC|DESC]]
//! [STARTPOSITION n] [MAXRESULTS n]`; string literals are single-quoted and `'` and `\` inside
//! them are escaped with a backslash. The caller URL-encodes the finished statement (or POSTs it
//! as an `application/text` body).

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone};

/// Largest page the API returns.
pub const MAX_RESULTS_LIMIT: u32 = 1000;

/// Escapes a value for use inside a single-quoted literal: `O'Brien` → `O\'Brien`,
/// `a\b` → `a\\b`.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A quoted, escaped string literal.
pub fn quote(value: &str) -> String {
    format!("'{}'", escape(value))
}

/// A literal value on the right-hand side of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Bool(bool),
    Number(String),
}

impl Literal {
    fn render(&self) -> String {
        match self {
            Literal::Str(s) => quote(s),
            Literal::Bool(b) => b.to_string(),
            Literal::Number(n) => n.clone(),
        }
    }
}

impl From<&str> for Literal {
    fn from(s: &str) -> Self {
        Literal::Str(s.to_string())
    }
}

impl From<String> for Literal {
    fn from(s: String) -> Self {
        Literal::Str(s)
    }
}

impl From<bool> for Literal {
    fn from(b: bool) -> Self {
        Literal::Bool(b)
    }
}

impl From<NaiveDate> for Literal {
    fn from(d: NaiveDate) -> Self {
        Literal::Str(d.format("%Y-%m-%d").to_string())
    }
}

impl<Tz: TimeZone> From<DateTime<Tz>> for Literal
where
    Tz::Offset: std::fmt::Display,
{
    fn from(t: DateTime<Tz>) -> Self {
        Literal::Str(t.to_rfc3339_opts(SecondsFormat::Secs, false))
    }
}

impl From<rust_decimal::Decimal> for Literal {
    fn from(d: rust_decimal::Decimal) -> Self {
        Literal::Number(d.to_string())
    }
}

/// A builder for one `SELECT` statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    entity: String,
    count: bool,
    conditions: Vec<String>,
    order_by: Vec<String>,
    start_position: Option<u32>,
    max_results: Option<u32>,
}

impl Query {
    /// `SELECT * FROM entity`. The entity name is case-sensitive (`Invoice`, `Customer`, …).
    pub fn select(entity: &str) -> Self {
        Query {
            entity: entity.to_string(),
            count: false,
            conditions: Vec::new(),
            order_by: Vec::new(),
            start_position: None,
            max_results: None,
        }
    }

    /// `SELECT count(*) FROM entity`.
    pub fn count(entity: &str) -> Self {
        Query {
            count: true,
            ..Query::select(entity)
        }
    }

    fn push(mut self, property: &str, op: &str, value: String) -> Self {
        self.conditions.push(format!("{property} {op} {value}"));
        self
    }

    pub fn eq(self, property: &str, value: impl Into<Literal>) -> Self {
        let v = value.into().render();
        self.push(property, "=", v)
    }

    pub fn lt(self, property: &str, value: impl Into<Literal>) -> Self {
        let v = value.into().render();
        self.push(property, "<", v)
    }

    pub fn gt(self, property: &str, value: impl Into<Literal>) -> Self {
        let v = value.into().render();
        self.push(property, ">", v)
    }

    pub fn le(self, property: &str, value: impl Into<Literal>) -> Self {
        let v = value.into().render();
        self.push(property, "<=", v)
    }

    pub fn ge(self, property: &str, value: impl Into<Literal>) -> Self {
        let v = value.into().render();
        self.push(property, ">=", v)
    }

    /// `property LIKE 'prefix%'`: the prefix is escaped, `%` is the only wildcard.
    pub fn starts_with(self, property: &str, prefix: &str) -> Self {
        let v = format!("'{}%'", escape(prefix));
        self.push(property, "LIKE", v)
    }

    /// `property LIKE '<pattern>'` with a caller-written pattern (`%` wildcards kept).
    pub fn like(self, property: &str, pattern: &str) -> Self {
        let v = quote(pattern);
        self.push(property, "LIKE", v)
    }

    /// `property IN ('a', 'b')`.
    pub fn is_in<I, S>(self, property: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let list: Vec<String> = values.into_iter().map(|v| quote(v.as_ref())).collect();
        let v = format!("({})", list.join(", "));
        self.push(property, "IN", v)
    }

    /// `property IN (true, false)` (e.g. `Active IN (true, false)`: active and inactive objects).
    pub fn is_in_bools(self, property: &str, values: &[bool]) -> Self {
        let list: Vec<String> = values.iter().map(bool::to_string).collect();
        let v = format!("({})", list.join(", "));
        self.push(property, "IN", v)
    }

    /// `property LIKE '%text%'`: `text` anywhere (escaped; a `%` in it stays a wildcard, as
    /// QuickBooks has no escape for it).
    pub fn contains(self, property: &str, text: &str) -> Self {
        let v = format!("'%{}%'", escape(text));
        self.push(property, "LIKE", v)
    }

    pub fn order_by(mut self, property: &str, descending: bool) -> Self {
        self.order_by.push(format!(
            "{property} {}",
            if descending { "DESC" } else { "ASC" }
        ));
        self
    }

    /// 1-based start position.
    pub fn start_position(mut self, n: u32) -> Self {
        self.start_position = Some(n.max(1));
        self
    }

    /// Page size, clamped to 1..=1000.
    pub fn max_results(mut self, n: u32) -> Self {
        self.max_results = Some(n.clamp(1, MAX_RESULTS_LIMIT));
        self
    }

    /// Page `page` (1-based) of `per_page` rows.
    pub fn page(self, page: u32, per_page: u32) -> Self {
        let per_page = per_page.clamp(1, MAX_RESULTS_LIMIT);
        let start = page
            .max(1)
            .saturating_sub(1)
            .saturating_mul(per_page)
            .saturating_add(1);
        self.start_position(start).max_results(per_page)
    }

    /// The statement text (not URL-encoded).
    pub fn build(&self) -> String {
        let mut out = String::new();
        let projection = if self.count { "count(*)" } else { "*" };
        let _ = write!(out, "SELECT {projection} FROM {}", self.entity);
        if !self.conditions.is_empty() {
            let _ = write!(out, " WHERE {}", self.conditions.join(" AND "));
        }
        if !self.order_by.is_empty() {
            let _ = write!(out, " ORDERBY {}", self.order_by.join(", "));
        }
        if let Some(n) = self.start_position {
            let _ = write!(out, " STARTPOSITION {n}");
        }
        if let Some(n) = self.max_results {
            let _ = write!(out, " MAXRESULTS {n}");
        }
        out
    }
}

impl std::fmt::Display for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_and_backslashes() {
        assert_eq!(escape("O'Brien"), r"O\'Brien");
        assert_eq!(escape(r"50% off \ sale"), r"50% off \\ sale");
        assert_eq!(quote(r"it's \'x"), r"'it\'s \\\'x'");
    }

    #[test]
    fn builds_filters() {
        let q = Query::select("Customer")
            .eq("DisplayName", "O'Brien & Sons")
            .build();
        assert_eq!(
            q,
            r"SELECT * FROM Customer WHERE DisplayName = 'O\'Brien & Sons'"
        );
        let q = Query::select("Item")
            .starts_with("Name", r"50% off \ sale")
            .eq("Active", true)
            .order_by("Name", false)
            .max_results(5000)
            .build();
        assert_eq!(
            q,
            r"SELECT * FROM Item WHERE Name LIKE '50% off \\ sale%' AND Active = true ORDERBY Name ASC MAXRESULTS 1000"
        );
        let q = Query::select("Invoice")
            .is_in("Id", ["1", "2"])
            .page(3, 100)
            .build();
        assert_eq!(
            q,
            "SELECT * FROM Invoice WHERE Id IN ('1', '2') STARTPOSITION 201 MAXRESULTS 100"
        );
        let q = Query::count("Invoice")
            .gt(
                "MetaData.LastUpdatedTime",
                NaiveDate::from_ymd_opt(2025, 1, 2).unwrap(),
            )
            .build();
        assert_eq!(
            q,
            "SELECT count(*) FROM Invoice WHERE MetaData.LastUpdatedTime > '2025-01-02'"
        );
    }

    #[test]
    fn start_position_is_one_based() {
        assert_eq!(
            Query::select("Term").start_position(0).build(),
            "SELECT * FROM Term STARTPOSITION 1"
        );
        assert_eq!(
            Query::select("Term").page(1, 10).build(),
            "SELECT * FROM Term STARTPOSITION 1 MAXRESULTS 10"
        );
    }
}
