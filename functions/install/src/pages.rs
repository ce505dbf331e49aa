//! The small HTML pages a browser lands on after an OAuth redirect (both callbacks answer with
//! them), the install's redirect, and the pages both callbacks share (a bad `state`, an upstream
//! that did not answer).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use shared::web::auth::state::{STATE_TTL_SECS, StateError};

/// A small HTML page (what a browser shows after an OAuth redirect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
    /// Optional link (href, text).
    pub link: Option<(String, String)>,
}

impl Page {
    pub(crate) fn new(
        status: StatusCode,
        title: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Page {
            status,
            title: title.into(),
            message: message.into(),
            link: None,
        }
    }

    pub(crate) fn with_link(mut self, href: impl Into<String>, text: impl Into<String>) -> Self {
        self.link = Some((href.into(), text.into()));
        self
    }

    /// The whole document.
    fn html(&self) -> String {
        let link = match &self.link {
            Some((href, text)) => format!(
                "<p><a href=\"{}\" target=\"_top\">{}</a></p>",
                escape(href),
                escape(text)
            ),
            None => String::new(),
        };
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#222}}\
h1{{font-size:1.4rem}}</style></head><body><h1>{title}</h1><p>{message}</p>{link}</body></html>",
            title = escape(&self.title),
            message = escape(&self.message),
        )
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The callbacks' URLs hold a code: never cached, never sent on as a referrer.
fn private_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            self.html(),
        )
            .into_response();
        private_headers(&mut response);
        response
    }
}

/// An upstream value shown on a page: trimmed to something short and printable.
pub(crate) fn shown(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_-. ".contains(*c))
        .take(80)
        .collect()
}

/// `302` to `location`; a page telling the user where to go when `location` cannot be a header.
pub(crate) fn found(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
        }
        Err(_) => {
            return Page::new(
                StatusCode::OK,
                "The app is installed",
                "Return to Pipedrive and open the app's settings.",
            )
            .into_response();
        }
    }
    private_headers(&mut response);
    response
}

/// `who` (Pipedrive, QuickBooks) failed or answered something unexpected.
pub(crate) fn upstream_page(who: &str) -> Page {
    Page::new(
        StatusCode::BAD_GATEWAY,
        format!("{who} did not answer"),
        format!(
            "{who} did not answer as expected, so nothing was changed. Please try again in a minute."
        ),
    )
}

/// A `state` that does not verify; `again` says how to start over.
pub(crate) fn state_page(error: StateError, again: &str) -> Page {
    match error {
        StateError::Expired => Page::new(
            StatusCode::BAD_REQUEST,
            "This link has expired",
            format!(
                "The link is valid for {} minutes and has expired, so nothing was changed. Please {again}.",
                STATE_TTL_SECS / 60
            ),
        ),
        _ => Page::new(
            StatusCode::BAD_REQUEST,
            "This link is not valid",
            format!(
                "The link was altered or was not issued by this app, so nothing was changed. Please {again}."
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_shown_is_escaped() {
        let page = Page::new(StatusCode::OK, "<b>Tom & Jerry's</b>", "a \"quote\"")
            .with_link("https://x.example/?a=1&b=\"2\"", "<go>");
        let html = page.html();
        assert!(html.contains("<title>&lt;b&gt;Tom &amp; Jerry&#39;s&lt;/b&gt;</title>"));
        assert!(html.contains("<p>a &quot;quote&quot;</p>"));
        assert!(html.contains(
            "<a href=\"https://x.example/?a=1&amp;b=&quot;2&quot;\" target=\"_top\">&lt;go&gt;</a>"
        ));
        assert!(!html.contains("<b>"));
    }

    #[test]
    fn a_page_without_a_link_has_none() {
        let html = Page::new(StatusCode::OK, "t", "m").html();
        assert!(!html.contains("<a "));
    }

    #[test]
    fn pages_are_html_and_private() {
        let response = Page::new(StatusCode::CONFLICT, "t", "m").into_response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers["referrer-policy"], "no-referrer");
    }

    #[test]
    fn upstream_values_are_trimmed_to_short_printable_text() {
        assert_eq!(shown("access_denied"), "access_denied");
        assert_eq!(shown("<script>alert(1)</script>"), "scriptalert1script");
        assert_eq!(shown("x\r\ny\u{202e}z"), "xyz");
        assert_eq!(shown(&"a".repeat(200)).len(), 80);
    }

    #[test]
    fn the_redirect_is_private_and_a_bad_location_becomes_a_page() {
        let response = found("https://company.pipedrive.com/settings");
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(
            response.headers()[header::LOCATION],
            "https://company.pipedrive.com/settings"
        );
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        let response = found("https://x.example/\n");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get(header::LOCATION).is_none());
    }

    #[test]
    fn an_expired_state_says_so_and_any_other_says_not_valid() {
        let expired = state_page(StateError::Expired, "try again");
        assert_eq!(expired.status, StatusCode::BAD_REQUEST);
        assert_eq!(expired.title, "This link has expired");
        assert!(expired.message.contains("valid for 10 minutes"));
        assert!(expired.message.ends_with("Please try again."));
        for error in [
            StateError::Missing,
            StateError::Malformed,
            StateError::BadSignature,
            StateError::WrongPurpose,
        ] {
            let page = state_page(error, "try again");
            assert_eq!(page.status, StatusCode::BAD_REQUEST);
            assert_eq!(page.title, "This link is not valid");
        }
    }

    #[test]
    fn an_upstream_failure_is_a_502_naming_it() {
        let page = upstream_page("QuickBooks");
        assert_eq!(page.status, StatusCode::BAD_GATEWAY);
        assert_eq!(page.title, "QuickBooks did not answer");
        assert!(page.message.contains("nothing was changed"));
    }
}
