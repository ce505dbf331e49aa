//! The QuickBooks query language subset, parsed by hand:
//!
//! ```text
//! SELECT * | count(*) FROM Entity
//!   [WHERE property op value [AND property op value]…]
//!   [ORDERBY property [ASC|DESC] [, …]]
//!   [STARTPOSITION n] [MAXRESULTS n]
//! ```
//!
//! Operators: `= < > <= >= IN LIKE` (`%` is the only wildcard). Strings are single-quoted with
//! backslash escapes (`'O\'Brien'`). No `OR`, no joins, no projections other than `*` (a trailing
//! `, Sku` list as python-quickbooks sends is tolerated and ignored). Everything else is a 4001.
//! Matching runs over the entities' JSON (so it sees exactly what a client would receive).

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;
use serde_json::Value;

use super::error::ApiError;

/// Default page size.
pub const DEFAULT_MAX_RESULTS: u32 = 100;
/// Largest allowed page size.
pub const MAX_MAX_RESULTS: u32 = 1000;

/// Entities the simulator can query, with their canonical spelling and filterable properties.
const ENTITIES: &[(&str, &[&str])] = &[
    (
        "Customer",
        &[
            "Id",
            "DisplayName",
            "GivenName",
            "MiddleName",
            "FamilyName",
            "CompanyName",
            "FullyQualifiedName",
            "PrimaryEmailAddr",
            "Active",
            "Balance",
            "MetaData.CreateTime",
            "MetaData.LastUpdatedTime",
        ],
    ),
    (
        "Invoice",
        &[
            "Id",
            "DocNumber",
            "TxnDate",
            "DueDate",
            "CustomerRef",
            "TotalAmt",
            "Balance",
            "EmailStatus",
            "MetaData.CreateTime",
            "MetaData.LastUpdatedTime",
        ],
    ),
    (
        "Estimate",
        &[
            "Id",
            "DocNumber",
            "TxnDate",
            "ExpirationDate",
            "CustomerRef",
            "TotalAmt",
            "TxnStatus",
            "EmailStatus",
            "MetaData.CreateTime",
            "MetaData.LastUpdatedTime",
        ],
    ),
    (
        "Item",
        &[
            "Id",
            "Name",
            "Sku",
            "Active",
            "Type",
            "FullyQualifiedName",
            "MetaData.CreateTime",
            "MetaData.LastUpdatedTime",
        ],
    ),
    (
        "Account",
        &[
            "Id",
            "Name",
            "FullyQualifiedName",
            "AccountType",
            "AccountSubType",
            "Classification",
            "Active",
        ],
    ),
    ("TaxCode", &["Id", "Name", "Active", "Taxable", "TaxGroup"]),
    ("TaxRate", &["Id", "Name", "Active", "RateValue"]),
    ("Term", &["Id", "Name", "Active"]),
    ("CompanyCurrency", &["Id", "Code", "Name", "Active"]),
    (
        "Payment",
        &[
            "Id",
            "TxnDate",
            "CustomerRef",
            "TotalAmt",
            "MetaData.CreateTime",
            "MetaData.LastUpdatedTime",
        ],
    ),
];

/// Canonical entity name for a spelling (entity names are matched case-insensitively, since the
/// reference itself shows `select * from companycurrency`).
pub fn canonical_entity(name: &str) -> Option<&'static str> {
    ENTITIES
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(name))
        .map(|(e, _)| *e)
}

fn canonical_property(entity: &str, property: &str) -> Option<&'static str> {
    let (_, props) = ENTITIES.iter().find(|(e, _)| *e == entity)?;
    props
        .iter()
        .find(|p| p.eq_ignore_ascii_case(property))
        .copied()
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Number(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    Star,
}

fn parse_error(detail: impl std::fmt::Display) -> ApiError {
    ApiError::Query(format!("QueryParserError: {detail}"))
}

fn validation_error(detail: impl std::fmt::Display) -> ApiError {
    ApiError::Query(format!("QueryValidationError: {detail}"))
}

fn tokenize(input: &str) -> Result<Vec<Token>, ApiError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::LParen);
                i += 1;
            }
            ')' => {
                tokens.push(Token::RParen);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '*' => {
                tokens.push(Token::Star);
                i += 1;
            }
            '=' => {
                tokens.push(Token::Op("="));
                i += 1;
            }
            '<' | '>' | '!' => {
                let two = chars.get(i + 1) == Some(&'=');
                let op = match (c, two) {
                    ('<', true) => "<=",
                    ('>', true) => ">=",
                    ('<', false) if chars.get(i + 1) == Some(&'>') => {
                        return Err(parse_error("Encountered \"<>\": operator not supported"));
                    }
                    ('<', false) => "<",
                    ('>', false) => ">",
                    _ => return Err(parse_error(format!("Encountered \"{c}\""))),
                };
                tokens.push(Token::Op(op));
                i += if two { 2 } else { 1 };
            }
            '\'' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(parse_error("Lexical error: unterminated string literal"));
                        }
                        Some('\\') => {
                            let Some(next) = chars.get(i + 1) else {
                                return Err(parse_error("Lexical error: dangling escape"));
                            };
                            value.push(*next);
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(other) => {
                            value.push(*other);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Str(value));
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                tokens.push(Token::Number(chars[start..i].iter().collect()));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
                {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
            other => {
                return Err(parse_error(format!(
                    "Lexical error: unexpected character \"{other}\""
                )));
            }
        }
    }
    Ok(tokens)
}

/// A literal on the right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Number(String),
    Bool(bool),
}

impl Literal {
    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Literal::Str(s) | Literal::Number(s) => std::borrow::Cow::Borrowed(s),
            Literal::Bool(b) => std::borrow::Cow::Owned(b.to_string()),
        }
    }
}

impl Statement {
    /// The ids the statement is limited to by an `Id = …` or `Id IN (…)` condition (every
    /// condition must hold, so one such condition bounds the rows). `None` when no condition
    /// names ids.
    pub fn id_bound(&self) -> Option<std::collections::BTreeSet<u64>> {
        self.conditions.iter().find_map(|c| match c {
            Condition::Compare {
                property: "Id",
                op: "=",
                value,
            } => Some(value.text().parse().ok().into_iter().collect()),
            Condition::In {
                property: "Id",
                values,
            } => Some(
                values
                    .iter()
                    .filter_map(|v| v.text().parse().ok())
                    .collect(),
            ),
            _ => None,
        })
    }
}

/// One `WHERE` condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Compare {
        property: &'static str,
        op: &'static str,
        value: Literal,
    },
    In {
        property: &'static str,
        values: Vec<Literal>,
    },
    Like {
        property: &'static str,
        pattern: String,
    },
}

/// A parsed statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub entity: &'static str,
    pub count: bool,
    pub conditions: Vec<Condition>,
    pub order_by: Vec<(&'static str, bool)>,
    pub start_position: u32,
    pub max_results: u32,
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn expect_keyword(&mut self, kw: &str) -> Result<(), ApiError> {
        match self.next() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw) => Ok(()),
            Some(other) => Err(parse_error(format!(
                "Encountered {other:?}, was expecting {kw}"
            ))),
            None => Err(parse_error(format!(
                "Encountered end of statement, was expecting {kw}"
            ))),
        }
    }

    fn expect(&mut self, token: Token) -> Result<(), ApiError> {
        match self.next() {
            Some(t) if t == token => Ok(()),
            other => Err(parse_error(format!(
                "Encountered {other:?}, was expecting {token:?}"
            ))),
        }
    }

    fn word(&mut self, what: &str) -> Result<String, ApiError> {
        match self.next() {
            Some(Token::Word(w)) => Ok(w),
            other => Err(parse_error(format!(
                "Encountered {other:?}, was expecting {what}"
            ))),
        }
    }

    fn literal(&mut self) -> Result<Literal, ApiError> {
        match self.next() {
            Some(Token::Str(s)) => Ok(Literal::Str(s)),
            Some(Token::Number(n)) => Ok(Literal::Number(n)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            other => Err(parse_error(format!(
                "Encountered {other:?}, was expecting a value"
            ))),
        }
    }

    fn positive_int(&mut self, clause: &str) -> Result<u32, ApiError> {
        match self.next() {
            Some(Token::Number(n)) => {
                let v: i64 = n
                    .parse()
                    .map_err(|_| parse_error(format!("{clause} expects an integer, got {n}")))?;
                if v < 1 {
                    return Err(validation_error(format!(
                        "value {v} is too small. Min allowed value is 1"
                    )));
                }
                u32::try_from(v).map_err(|_| validation_error(format!("value {v} is too large")))
            }
            other => Err(parse_error(format!(
                "Encountered {other:?}, was expecting an integer after {clause}"
            ))),
        }
    }
}

fn is_reserved(word: &str) -> bool {
    [
        "WHERE",
        "ORDERBY",
        "ORDER",
        "STARTPOSITION",
        "MAXRESULTS",
        "AND",
        "OR",
        "JOIN",
        "INNER",
        "LEFT",
        "GROUP",
    ]
    .iter()
    .any(|k| k.eq_ignore_ascii_case(word))
}

/// Parses a statement (validation errors and parse errors are both 4001).
pub fn parse(input: &str) -> Result<Statement, ApiError> {
    let mut p = Parser {
        tokens: tokenize(input)?,
        pos: 0,
    };
    p.expect_keyword("SELECT")?;
    let count = match p.next() {
        Some(Token::Star) => {
            // `SELECT *, Sku FROM Item`: extra projected names are tolerated (all fields are
            // always returned anyway).
            while p.peek() == Some(&Token::Comma) {
                p.next();
                p.word("a property name")?;
            }
            false
        }
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("count") => {
            p.expect(Token::LParen)?;
            p.expect(Token::Star)?;
            p.expect(Token::RParen)?;
            true
        }
        Some(Token::Word(w)) => {
            return Err(parse_error(format!(
                "Encountered \"{w}\": only * and count(*) can be selected"
            )));
        }
        other => return Err(parse_error(format!("Encountered {other:?} after SELECT"))),
    };
    p.expect_keyword("FROM")?;
    let entity_word = p.word("an entity name")?;
    let entity = canonical_entity(&entity_word)
        .ok_or_else(|| parse_error(format!("Entity \"{entity_word}\" is not supported")))?;
    if matches!(p.peek(), Some(Token::Comma))
        || p.peek_keyword("JOIN")
        || p.peek_keyword("INNER")
        || p.peek_keyword("LEFT")
    {
        return Err(parse_error(
            "Encountered a join: only one entity per query is supported",
        ));
    }
    if let Some(Token::Word(w)) = p.peek()
        && !is_reserved(w)
    {
        return Err(parse_error(format!(
            "Encountered \"{w}\" after the entity name (aliases are not supported)"
        )));
    }
    let mut conditions = Vec::new();
    if p.peek_keyword("WHERE") {
        p.next();
        loop {
            conditions.push(parse_condition(&mut p, entity)?);
            if p.peek_keyword("AND") {
                p.next();
                continue;
            }
            if p.peek_keyword("OR") {
                return Err(parse_error("Encountered \" OR \": OR is not supported"));
            }
            break;
        }
    }
    let mut order_by = Vec::new();
    if p.peek_keyword("ORDERBY") || p.peek_keyword("ORDER") {
        if p.peek_keyword("ORDER") {
            p.next();
            p.expect_keyword("BY")?;
        } else {
            p.next();
        }
        loop {
            let prop = p.word("a property name")?;
            let canon = canonical_property(entity, &prop)
                .ok_or_else(|| validation_error(format!("property '{prop}' is not queryable")))?;
            let desc = if p.peek_keyword("DESC") {
                p.next();
                true
            } else {
                if p.peek_keyword("ASC") {
                    p.next();
                }
                false
            };
            order_by.push((canon, desc));
            if p.peek() == Some(&Token::Comma) {
                p.next();
                continue;
            }
            break;
        }
    }
    let mut start_position = 1;
    let mut max_results = DEFAULT_MAX_RESULTS;
    let mut seen_start = false;
    let mut seen_max = false;
    while let Some(Token::Word(w)) = p.peek().cloned() {
        if w.eq_ignore_ascii_case("STARTPOSITION") && !seen_start {
            p.next();
            start_position = p.positive_int("STARTPOSITION")?;
            seen_start = true;
        } else if w.eq_ignore_ascii_case("MAXRESULTS") && !seen_max {
            p.next();
            max_results = p.positive_int("MAXRESULTS")?;
            if max_results > MAX_MAX_RESULTS {
                return Err(validation_error(format!(
                    "value {max_results} is too large. Max allowed value is {MAX_MAX_RESULTS}"
                )));
            }
            seen_max = true;
        } else {
            break;
        }
    }
    if let Some(extra) = p.peek() {
        return Err(parse_error(format!(
            "Encountered {extra:?}: unexpected text at the end of the statement"
        )));
    }
    Ok(Statement {
        entity,
        count,
        conditions,
        order_by,
        start_position,
        max_results,
    })
}

fn parse_condition(p: &mut Parser, entity: &'static str) -> Result<Condition, ApiError> {
    let prop = p.word("a property name")?;
    let property = canonical_property(entity, &prop)
        .ok_or_else(|| validation_error(format!("property '{prop}' is not queryable")))?;
    match p.next() {
        Some(Token::Op(op)) => Ok(Condition::Compare {
            property,
            op,
            value: p.literal()?,
        }),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("IN") => {
            p.expect(Token::LParen)?;
            let mut values = vec![p.literal()?];
            while p.peek() == Some(&Token::Comma) {
                p.next();
                values.push(p.literal()?);
            }
            p.expect(Token::RParen)?;
            Ok(Condition::In { property, values })
        }
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("LIKE") => match p.next() {
            Some(Token::Str(pattern)) => Ok(Condition::Like { property, pattern }),
            other => Err(parse_error(format!(
                "Encountered {other:?}, LIKE expects a quoted pattern"
            ))),
        },
        other => Err(parse_error(format!(
            "Encountered {other:?}, was expecting an operator"
        ))),
    }
}

/// The JSON value a property path designates; references compare by `value`, e-mail addresses by
/// `Address`.
fn property_value<'a>(entity: &'a Value, property: &str) -> Option<&'a Value> {
    let mut current = entity;
    for segment in property.split('.') {
        current = current.get(segment)?;
    }
    match current {
        Value::Object(map) => map.get("value").or_else(|| map.get("Address")),
        other => Some(other),
    }
}

fn parse_instant(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .or_else(|| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z").ok())
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|dt| dt.and_utc().fixed_offset())
        })
}

fn compare(field: &Value, property: &str, literal: &Literal) -> Option<Ordering> {
    match field {
        Value::Number(n) => {
            let a: Decimal = n.to_string().parse().ok()?;
            let b: Decimal = literal.text().parse().ok()?;
            Some(a.cmp(&b))
        }
        Value::Bool(a) => {
            let b = match literal {
                Literal::Bool(b) => *b,
                other => other.text().eq_ignore_ascii_case("true"),
            };
            Some(a.cmp(&b))
        }
        Value::String(a) => Some(compare_strings(a, &literal.text(), property)),
        _ => None,
    }
}

/// Two rows' values of one property (ORDERBY), without building a literal per comparison of
/// two strings (the common case: ids, names, times).
fn compare_values(x: &Value, y: &Value, property: &str) -> Option<Ordering> {
    match (x, y) {
        (Value::String(a), Value::String(b)) => Some(compare_strings(a, b, property)),
        (_, Value::String(s)) => compare(x, property, &Literal::Str(s.clone())),
        (_, Value::Bool(v)) => compare(x, property, &Literal::Bool(*v)),
        (_, other) => compare(x, property, &Literal::Number(other.to_string())),
    }
}

/// Times and dates as instants, ids and references as numbers, anything else as text.
fn compare_strings(a: &str, b: &str, property: &str) -> Ordering {
    if (property.ends_with("Time") || property.ends_with("Date"))
        && let (Some(x), Some(y)) = (parse_instant(a), parse_instant(b))
    {
        return x.cmp(&y);
    }
    if (property == "Id" || property.ends_with("Ref") || property == "DocNumber")
        && let (Ok(x), Ok(y)) = (a.parse::<u64>(), b.parse::<u64>())
    {
        return x.cmp(&y);
    }
    a.cmp(b)
}

/// `%` wildcard match, case-insensitive.
fn like(value: &str, pattern: &str) -> bool {
    let value = value.to_lowercase();
    let pattern = pattern.to_lowercase();
    let parts: Vec<&str> = pattern.split('%').collect();
    if parts.len() == 1 {
        return value == pattern;
    }
    let mut rest = value.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(stripped) = rest.strip_prefix(part) else {
                return false;
            };
            rest = stripped;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(idx) = rest.find(part) {
            rest = &rest[idx + part.len()..];
        } else {
            return false;
        }
    }
    true
}

fn matches(entity: &Value, condition: &Condition) -> bool {
    match condition {
        Condition::Compare {
            property,
            op,
            value,
        } => {
            let Some(field) = property_value(entity, property) else {
                return false;
            };
            let Some(ord) = compare(field, property, value) else {
                return false;
            };
            match *op {
                "=" => ord == Ordering::Equal,
                "<" => ord == Ordering::Less,
                ">" => ord == Ordering::Greater,
                "<=" => ord != Ordering::Greater,
                ">=" => ord != Ordering::Less,
                _ => false,
            }
        }
        Condition::In { property, values } => {
            property_value(entity, property).is_some_and(|field| {
                values
                    .iter()
                    .any(|v| compare(field, property, v) == Some(Ordering::Equal))
            })
        }
        Condition::Like { property, pattern } => property_value(entity, property)
            .and_then(Value::as_str)
            .is_some_and(|s| like(s, pattern)),
    }
}

fn order(a: &Value, b: &Value, keys: &[(&'static str, bool)]) -> Ordering {
    for (property, desc) in keys {
        let ord = match (property_value(a, property), property_value(b, property)) {
            (Some(x), Some(y)) => compare_values(x, y, property).unwrap_or(Ordering::Equal),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        };
        let ord = if *desc { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

impl Condition {
    fn property(&self) -> &'static str {
        match self {
            Condition::Compare { property, .. }
            | Condition::In { property, .. }
            | Condition::Like { property, .. } => property,
        }
    }
}

/// QuickBooks answers only active objects unless the statement says otherwise ("SELECT * FROM
/// Customer retrieves all active customers", Intuit's query deep dive): a condition on `Active`
/// (`Active = false`, `Active IN (true, false)`) or on `Id` lifts it.
fn active_only(statement: &Statement) -> bool {
    let has_active = ENTITIES
        .iter()
        .find(|(e, _)| *e == statement.entity)
        .is_some_and(|(_, props)| props.contains(&"Active"));
    has_active
        && !statement
            .conditions
            .iter()
            .any(|c| matches!(c.property(), "Active" | "Id"))
}

/// Runs a statement over the entity's rows (already serialised); answers the `QueryResponse`
/// object: the entity key is absent when no row is returned.
pub fn execute(statement: &Statement, rows: Vec<Value>) -> Value {
    let active_only = active_only(statement);
    let mut selected: Vec<Value> = rows
        .into_iter()
        .filter(|row| !active_only || row.get("Active") != Some(&Value::Bool(false)))
        .filter(|row| statement.conditions.iter().all(|c| matches(row, c)))
        .collect();
    let mut response = serde_json::Map::new();
    if statement.count {
        response.insert("totalCount".into(), Value::from(selected.len()));
        return Value::Object(response);
    }
    if statement.order_by.is_empty() {
        selected.sort_by(|a, b| order(a, b, &[("Id", false)]));
    } else {
        selected.sort_by(|a, b| order(a, b, &statement.order_by));
    }
    let skip = (statement.start_position - 1) as usize;
    let page: Vec<Value> = selected
        .into_iter()
        .skip(skip)
        .take(statement.max_results as usize)
        .collect();
    if !page.is_empty() {
        let n = page.len();
        response.insert(statement.entity.to_string(), Value::Array(page));
        response.insert(
            "startPosition".into(),
            Value::from(statement.start_position),
        );
        response.insert("maxResults".into(), Value::from(n));
        // The published samples carry totalCount equal to the rows returned.
        response.insert("totalCount".into(), Value::from(n));
    }
    Value::Object(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows() -> Vec<Value> {
        vec![
            json!({"Id": "1", "DisplayName": "O'Brien & Sons", "Active": true, "Balance": 10.5,
                   "MetaData": {"LastUpdatedTime": "2025-01-02T10:00:00-08:00"}}),
            json!({"Id": "2", "DisplayName": "Acme Corp", "Active": true, "Balance": 0,
                   "PrimaryEmailAddr": {"Address": "ap@acme.example"},
                   "MetaData": {"LastUpdatedTime": "2025-02-02T10:00:00-08:00"}}),
            json!({"Id": "10", "DisplayName": "acme gmbh", "Active": false, "Balance": 99,
                   "MetaData": {"LastUpdatedTime": "2025-03-02T10:00:00Z"}}),
        ]
    }

    fn run(q: &str) -> Value {
        execute(&parse(q).unwrap(), rows())
    }

    fn ids(v: &Value) -> Vec<String> {
        v["Customer"].as_array().map_or(vec![], |a| {
            a.iter()
                .map(|c| c["Id"].as_str().unwrap().to_string())
                .collect()
        })
    }

    #[test]
    fn escaped_quotes_and_backslashes() {
        assert_eq!(
            ids(&run(
                r"select * from Customer where DisplayName = 'O\'Brien & Sons'"
            )),
            ["1"]
        );
        let st = parse(r"SELECT * FROM Item WHERE Name = '50% off \\ sale'").unwrap();
        assert_eq!(
            st.conditions[0],
            Condition::Compare {
                property: "Name",
                op: "=",
                value: Literal::Str(r"50% off \ sale".into())
            }
        );
    }

    #[test]
    fn operators() {
        assert_eq!(
            ids(&run(
                "select * from Customer where DisplayName LIKE 'Acme%'"
            )),
            ["2"],
            "inactive customers only when the statement asks for them"
        );
        assert_eq!(
            ids(&run(
                "select * from Customer where DisplayName LIKE '%acme%' AND Active IN (true, false)"
            )),
            ["2", "10"]
        );
        assert_eq!(
            ids(&run(
                "select * from Customer where DisplayName LIKE '%o%' AND DisplayName LIKE '%brien%'"
            )),
            ["1"],
            "a word anywhere, several words at once"
        );
        assert_eq!(
            ids(&run(
                "select * from Customer where DisplayName like '%sons'"
            )),
            ["1"]
        );
        assert_eq!(
            ids(&run("select * from Customer where Id IN ('1','2')")),
            ["1", "2"]
        );
        assert_eq!(
            ids(&run("select * from Customer where Active = false")),
            ["10"]
        );
        assert_eq!(
            ids(&run(
                "select * from Customer where Balance >= '10.5' AND Active IN (true, false) ORDERBY Balance DESC"
            )),
            ["10", "1"]
        );
        assert_eq!(
            ids(&run(
                "select * from Customer where PrimaryEmailAddr = 'ap@acme.example'"
            )),
            ["2"]
        );
        assert_eq!(
            ids(&run(
                "select * from Customer where Metadata.LastUpdatedTime > '2025-02-01' AND Active = true"
            )),
            ["2"]
        );
        assert_eq!(ids(&run("select * from Customer where Id > '2'")), ["10"]);
        assert_eq!(
            run("select count(*) from Customer where Active = true"),
            json!({"totalCount": 2})
        );
    }

    #[test]
    fn pagination() {
        let v = run("select * from Customer STARTPOSITION 2 MAXRESULTS 1");
        assert_eq!(ids(&v), ["2"]);
        assert_eq!(v["startPosition"], 2);
        assert_eq!(v["maxResults"], 1);
        assert_eq!(run("select * from Customer STARTPOSITION 4"), json!({}));
        assert!(parse("select * from Customer MAXRESULTS 1000").is_ok());
        for bad in [
            "select * from Customer MAXRESULTS 1001",
            "select * from Customer STARTPOSITION 0",
        ] {
            assert_eq!(parse(bad).unwrap_err().code(), "4001", "{bad}");
        }
    }

    #[test]
    fn rejections() {
        for bad in [
            "select * from Customer where Id = '1' OR Id = '2'",
            "select * from Customer, Invoice",
            "select * from Customer c join Invoice i",
            "select * from Customer join Invoice",
            "select * from Vendor",
            "select DisplayName from Customer",
            "select * from Customer where Notes = 'x'",
            "select * from Customer where DisplayName = 'unterminated",
            "select * from Customer where Id != '1'",
            "delete from Customer",
            "select * from Customer MAXRESULTS 5 junk",
        ] {
            assert_eq!(parse(bad).unwrap_err().code(), "4001", "{bad}");
        }
        assert!(parse("SELECT *, Sku FROM Item").is_ok());
        assert!(parse("select * from companycurrency").is_ok());
    }
}
