//! Token answers as we keep them: the tokens a grant (connect, install) or a refresh gives,
//! written once for the callbacks and the token manager. Lifetimes come from the upstream and
//! are not trusted: one too large to add to now counts as none (the access token is refreshed
//! before its first use; Pipedrive's falls back to its documented hour).

use chrono::{DateTime, Duration, Utc};
use domain::SecretString;
use store::secrets::{PipedriveTokens, QuickBooksTokens};

/// Pipedrive's access tokens live an hour (3599 s in its published example).
pub const PIPEDRIVE_ACCESS_SECS: i64 = 3599;

/// `now + secs`, if that is a time.
fn after(now: DateTime<Utc>, secs: i64) -> Option<DateTime<Utc>> {
    Duration::try_seconds(secs).and_then(|d| now.checked_add_signed(d))
}

/// The tokens QuickBooks granted for `realm` at connect.
pub fn quickbooks_granted(
    realm: &str,
    answer: &quickbooks_wire::model::TokenResponse,
    now: DateTime<Utc>,
) -> QuickBooksTokens {
    QuickBooksTokens {
        realm_id: realm.to_string(),
        access_token: SecretString::new(answer.access_token.clone()),
        access_expires_at: after(now, answer.expires_in.max(0)).unwrap_or(now),
        refresh_token: SecretString::new(answer.refresh_token.clone()),
        refresh_expires_at: (answer.x_refresh_token_expires_in > 0)
            .then(|| after(now, answer.x_refresh_token_expires_in))
            .flatten(),
        updated_at: now,
    }
}

/// The company's tokens after a refresh: what QuickBooks sent; a refresh token or its lifetime
/// it left out kept from `current`.
pub fn quickbooks_refreshed(
    current: &QuickBooksTokens,
    answer: &quickbooks_wire::model::TokenResponse,
    now: DateTime<Utc>,
) -> QuickBooksTokens {
    let mut tokens = quickbooks_granted(&current.realm_id, answer, now);
    if answer.refresh_token.is_empty() {
        tokens.refresh_token = current.refresh_token.clone();
    }
    tokens.refresh_expires_at = tokens.refresh_expires_at.or(current.refresh_expires_at);
    tokens
}

/// The tokens Pipedrive granted at install.
pub fn pipedrive_granted(
    answer: &pipedrive_wire::model::TokenResponse,
    now: DateTime<Utc>,
) -> PipedriveTokens {
    let expires_at = i64::try_from(answer.expires_in)
        .ok()
        .and_then(|secs| after(now, secs))
        .or_else(|| after(now, PIPEDRIVE_ACCESS_SECS))
        .unwrap_or(now);
    PipedriveTokens {
        access_token: SecretString::new(answer.access_token.clone()),
        access_expires_at: expires_at,
        refresh_token: SecretString::new(answer.refresh_token.clone()),
        api_domain: answer.api_domain.trim_end_matches('/').to_string(),
        scope: Some(answer.scope.clone()).filter(|s| !s.is_empty()),
        updated_at: now,
    }
}

/// The user's tokens after a refresh: what Pipedrive sent; a refresh token, an API domain or
/// scopes it left out kept from `current`.
pub fn pipedrive_refreshed(
    current: &PipedriveTokens,
    answer: &pipedrive_wire::model::TokenResponse,
    now: DateTime<Utc>,
) -> PipedriveTokens {
    let mut tokens = pipedrive_granted(answer, now);
    if answer.refresh_token.is_empty() {
        tokens.refresh_token = current.refresh_token.clone();
    }
    if answer.api_domain.is_empty() {
        tokens.api_domain = current.api_domain.clone();
    }
    if answer.scope.is_empty() {
        tokens.scope = current.scope.clone();
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap()
    }

    fn quickbooks(
        expires_in: i64,
        refresh_in: i64,
        refresh: &str,
    ) -> quickbooks_wire::model::TokenResponse {
        serde_json::from_value(serde_json::json!({
            "access_token": "a", "refresh_token": refresh, "token_type": "bearer",
            "expires_in": expires_in, "x_refresh_token_expires_in": refresh_in
        }))
        .unwrap()
    }

    fn pipedrive(
        expires_in: u64,
        refresh: &str,
        domain: &str,
        scope: &str,
    ) -> pipedrive_wire::model::TokenResponse {
        serde_json::from_value(serde_json::json!({
            "access_token": "a", "token_type": "Bearer", "expires_in": expires_in,
            "refresh_token": refresh, "scope": scope, "api_domain": domain
        }))
        .unwrap()
    }

    #[test]
    fn quickbooks_lifetimes_are_added_to_now_and_absurd_ones_count_as_none() {
        let granted = quickbooks_granted("9341", &quickbooks(3600, 8_726_400, "r"), now());
        assert_eq!(granted.access_expires_at, now() + Duration::hours(1));
        assert_eq!(
            granted.refresh_expires_at,
            Some(now() + Duration::days(101))
        );
        let absurd = quickbooks_granted("9341", &quickbooks(i64::MAX, i64::MAX, "r"), now());
        assert_eq!(absurd.access_expires_at, now());
        assert_eq!(absurd.refresh_expires_at, None);
        let negative = quickbooks_granted("9341", &quickbooks(-5, 0, "r"), now());
        assert_eq!(negative.access_expires_at, now());
    }

    #[test]
    fn a_quickbooks_refresh_keeps_what_the_answer_left_out() {
        let current = quickbooks_granted("9341", &quickbooks(3600, 8_726_400, "old"), now());
        let later = now() + Duration::hours(2);
        let same = quickbooks_refreshed(&current, &quickbooks(3600, 0, ""), later);
        assert_eq!(same.refresh_token.expose(), "old");
        assert_eq!(same.refresh_expires_at, current.refresh_expires_at);
        assert_eq!(same.realm_id, "9341");
        let rotated = quickbooks_refreshed(&current, &quickbooks(3600, 100, "new"), later);
        assert_eq!(rotated.refresh_token.expose(), "new");
        assert_eq!(
            rotated.refresh_expires_at,
            Some(later + Duration::seconds(100))
        );
    }

    #[test]
    fn pipedrive_lifetimes_fall_back_to_an_hour_and_refreshes_keep_what_was_left_out() {
        let granted = pipedrive_granted(
            &pipedrive(3599, "r", "https://acme.pipedrive.com/", "base"),
            now(),
        );
        assert_eq!(granted.access_expires_at, now() + Duration::seconds(3599));
        assert_eq!(granted.api_domain, "https://acme.pipedrive.com");
        assert_eq!(granted.scope.as_deref(), Some("base"));
        let absurd = pipedrive_granted(&pipedrive(u64::MAX, "r", "https://a", ""), now());
        assert_eq!(
            absurd.access_expires_at,
            now() + Duration::seconds(PIPEDRIVE_ACCESS_SECS)
        );
        assert_eq!(absurd.scope, None);
        let refreshed = pipedrive_refreshed(&granted, &pipedrive(3599, "", "", ""), now());
        assert_eq!(refreshed.refresh_token.expose(), "r");
        assert_eq!(refreshed.api_domain, "https://acme.pipedrive.com");
        assert_eq!(refreshed.scope.as_deref(), Some("base"));
    }
}
