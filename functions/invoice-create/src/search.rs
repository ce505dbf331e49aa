//! How the form's searches ask QuickBooks: every word of the term anywhere in the name, and the
//! first results when the term is empty (the list a rep sees on focus).
//!
//! QuickBooks' query language has `LIKE` with `%` as its only wildcard, anywhere in the pattern
//! ("Wild card character support with LIKE clauses is limited to '%'", Intuit's query deep dive),
//! and `AND` but no `OR`. So a term's words become one `Name LIKE '%word%'` each, joined with
//! `AND`: "Brien" finds "O'Brien & Sons", "bird" finds "Amy's Bird Sanctuary", "consulting hour"
//! finds "Hour of consulting". This asks QuickBooks at each search (one query) rather than
//! keeping a per-company copy of every customer and item: a copy would be as large as the
//! company's lists, stale the moment someone edits them in QuickBooks, and per Lambda instance.
//!
//! Customers are searched active **and** inactive (`Active IN (true, false)`; QuickBooks answers
//! only active ones otherwise): an inactive customer still holds its name, so the form shows it,
//! labelled, with "reactivate and link". Items are searched active only.

use shared::wire::quickbooks::query::Query;

/// Words of a term used at most (the rest are ignored).
pub const MAX_WORDS: usize = 5;
/// Results of a search.
pub const SEARCH_RESULTS: u32 = 25;
/// Results shown when the term is empty (on focus).
pub const FIRST_RESULTS: u32 = 10;

/// The words of a term (split on white space), at most [`MAX_WORDS`].
pub fn words(term: &str) -> Vec<&str> {
    term.split_whitespace().take(MAX_WORDS).collect()
}

/// `property LIKE '%word%'` for each word (a `%` the rep typed stays a wildcard: QuickBooks has
/// no escape for it inside a pattern, and it can only widen the search).
fn contains_all(q: Query, property: &str, term: &str) -> Query {
    words(term)
        .into_iter()
        .fold(q, |q, word| q.contains(property, word))
}

/// Customers whose display name contains every word of `term` (active and inactive); the most
/// recently updated active customers when `term` is empty.
pub fn customers(term: &str) -> Query {
    if words(term).is_empty() {
        return Query::select("Customer")
            .eq("Active", true)
            .order_by("MetaData.LastUpdatedTime", true)
            .max_results(FIRST_RESULTS);
    }
    contains_all(Query::select("Customer"), "DisplayName", term)
        .is_in_bools("Active", &[true, false])
        .order_by("DisplayName", false)
        .max_results(SEARCH_RESULTS)
}

/// Active items whose name contains every word of `term`; the first items by name when empty.
pub fn items(term: &str) -> Query {
    let q = contains_all(Query::select("Item"), "Name", term).eq("Active", true);
    let limit = if words(term).is_empty() {
        FIRST_RESULTS
    } else {
        SEARCH_RESULTS
    };
    q.order_by("Name", false).max_results(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_anywhere_and_first_results_when_empty() {
        assert_eq!(
            customers("Brien").build(),
            "SELECT * FROM Customer WHERE DisplayName LIKE '%Brien%' AND Active IN (true, false) ORDERBY DisplayName ASC MAXRESULTS 25"
        );
        assert_eq!(
            items("consulting  hour").build(),
            "SELECT * FROM Item WHERE Name LIKE '%consulting%' AND Name LIKE '%hour%' AND Active = true ORDERBY Name ASC MAXRESULTS 25"
        );
        assert_eq!(
            customers("  ").build(),
            "SELECT * FROM Customer WHERE Active = true ORDERBY MetaData.LastUpdatedTime DESC MAXRESULTS 10"
        );
        assert_eq!(
            items("").build(),
            "SELECT * FROM Item WHERE Active = true ORDERBY Name ASC MAXRESULTS 10"
        );
        // Quotes are escaped; more than five words are cut.
        assert!(customers("O'Brien").build().contains(r"LIKE '%O\'Brien%'"));
        assert_eq!(words("a b c d e f g"), ["a", "b", "c", "d", "e"]);
    }
}
