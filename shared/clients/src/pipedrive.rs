//! The Pipedrive client: OAuth 2.0 (code exchange, refresh, revoke) and the REST calls the app
//! makes — API v2 for deals, products, organisations, persons and fields; v1 only for
//! `/users/me` and `/notes`, which have no v2 equivalent. API calls go to the user's `api_domain`.

use serde::de::DeserializeOwned;

use crate::outbound::{header_string, http_client, retry_after};
use chrono::{DateTime, Utc};
use domain::SecretString;
use pipedrive_wire::model::{
    ApiError as PipedriveApiError, Deal, DealDiscount, DealProduct, DealUpdate, Envelope,
    FieldDefinition, NewNote, Note, OAuthError, Organization, Person, Pipeline, Product, Stage,
    TokenResponse, TokenTypeHint, UserMe,
};

/// Where Pipedrive's OAuth server lives (API calls use each user's `api_domain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipedriveEndpoints {
    pub oauth_base: String,
}

impl PipedriveEndpoints {
    pub fn pipedrive() -> Self {
        PipedriveEndpoints {
            oauth_base: "https://oauth.pipedrive.com".into(),
        }
    }

    pub fn simulated(base: &str) -> Self {
        PipedriveEndpoints {
            oauth_base: base.trim_end_matches('/').to_string(),
        }
    }
}

/// Which field catalog to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldCatalog {
    Deal,
    Organization,
    Person,
}

impl FieldCatalog {
    fn path(self) -> &'static str {
        match self {
            FieldCatalog::Deal => "dealFields",
            FieldCatalog::Organization => "organizationFields",
            FieldCatalog::Person => "personFields",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

#[derive(Debug, thiserror::Error)]
pub enum PipedriveError {
    /// The access token was refused: refresh and retry once.
    #[error("Pipedrive refused the access token")]
    Unauthorized,
    /// The refresh token (or code) was refused: the user must reinstall.
    #[error("Pipedrive refused the grant: {0}")]
    InvalidGrant(String),
    #[error("Pipedrive has no such {0}")]
    NotFound(&'static str),
    #[error("Pipedrive is limiting requests; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("Pipedrive answered HTTP {status}: {message}")]
    Api { status: u16, message: String },
    #[error("Pipedrive could not be reached: {0}")]
    Transport(String),
    #[error("Pipedrive answered something we could not read: {0}")]
    Decode(String),
    #[error("Pipedrive OAuth error: {0}")]
    OAuth(String),
}

impl PipedriveError {
    pub fn is_retryable(&self) -> bool {
        match self {
            PipedriveError::Throttled { .. } | PipedriveError::Transport(_) => true,
            PipedriveError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

fn transport(error: reqwest::Error) -> PipedriveError {
    PipedriveError::Transport(error.without_url().to_string())
}

/// Seconds from `now` to the next midnight UTC (at least 1).
fn seconds_to_next_utc_day(now: DateTime<Utc>) -> u64 {
    let next = now
        .date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc());
    next.map_or(3600, |n| (n - now).num_seconds().max(1) as u64)
}

/// Largest page the v2 list endpoints serve.
const PAGE_LIMIT: &str = "500";
/// A safety stop for runaway pagination (500 × 200 = 100,000 rows).
const MAX_PAGES: usize = 200;

/// Client for Pipedrive; cheap to clone.
#[derive(Debug, Clone)]
pub struct PipedriveClient {
    http: reqwest::Client,
    endpoints: PipedriveEndpoints,
}

impl PipedriveClient {
    pub fn new(endpoints: PipedriveEndpoints) -> Self {
        Self::with_http(http_client(), endpoints)
    }

    pub fn with_http(http: reqwest::Client, endpoints: PipedriveEndpoints) -> Self {
        PipedriveClient { http, endpoints }
    }

    pub fn endpoints(&self) -> &PipedriveEndpoints {
        &self.endpoints
    }

    // ----- OAuth -----

    async fn token_call(
        &self,
        credentials: &ClientCredentials,
        form: &[(&str, &str)],
    ) -> Result<TokenResponse, PipedriveError> {
        let response = self
            .http
            .post(format!("{}/oauth/token", self.endpoints.oauth_base))
            .basic_auth(
                &credentials.client_id,
                Some(credentials.client_secret.expose()),
            )
            .form(form)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| PipedriveError::Decode(format!("token answer: {e}")));
        }
        if status.as_u16() == 429 {
            return Err(PipedriveError::Throttled {
                retry_after_secs: 2,
            });
        }
        match serde_json::from_slice::<OAuthError>(&body) {
            Ok(error) if error.error == "invalid_grant" => Err(PipedriveError::InvalidGrant(
                error.error_description.unwrap_or_default(),
            )),
            Ok(error) => Err(PipedriveError::OAuth(error.error)),
            Err(_) => Err(PipedriveError::Api {
                status: status.as_u16(),
                message: "token endpoint failed".into(),
            }),
        }
    }

    pub async fn exchange_code(
        &self,
        credentials: &ClientCredentials,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenResponse, PipedriveError> {
        self.token_call(
            credentials,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
            ],
        )
        .await
    }

    /// Refreshes: keep the refresh token and `api_domain` of the answer.
    pub async fn refresh(
        &self,
        credentials: &ClientCredentials,
        refresh_token: &SecretString,
    ) -> Result<TokenResponse, PipedriveError> {
        self.token_call(
            credentials,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
            ],
        )
        .await
    }

    /// Revokes a token (a refresh token uninstalls the app for that user).
    pub async fn revoke(
        &self,
        credentials: &ClientCredentials,
        token: &SecretString,
        hint: TokenTypeHint,
    ) -> Result<(), PipedriveError> {
        let hint = match hint {
            TokenTypeHint::RefreshToken => "refresh_token",
            TokenTypeHint::AccessToken => "access_token",
        };
        let response = self
            .http
            .post(format!("{}/oauth/revoke", self.endpoints.oauth_base))
            .basic_auth(
                &credentials.client_id,
                Some(credentials.client_secret.expose()),
            )
            .form(&[("token", token.expose()), ("token_type_hint", hint)])
            .send()
            .await
            .map_err(transport)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(PipedriveError::Api {
                status: response.status().as_u16(),
                message: "revoke failed".into(),
            })
        }
    }

    // ----- REST -----

    async fn get_raw(
        &self,
        api_domain: &str,
        token: &SecretString,
        path: &str,
        query: &[(&str, &str)],
        what: &'static str,
    ) -> Result<bytes::Bytes, PipedriveError> {
        let url = format!("{}/{}", api_domain.trim_end_matches('/'), path);
        let response = self
            .http
            .get(url)
            .query(query)
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(transport)?;
        Self::read(response, what).await
    }

    async fn read(
        response: reqwest::Response,
        what: &'static str,
    ) -> Result<bytes::Bytes, PipedriveError> {
        let status = response.status();
        // `Retry-After` where sent (documented for the old scheme), else the burst window's
        // `x-ratelimit-reset` (the current docs' header).
        let retry = retry_after(&response).or_else(|| {
            header_string(&response, "x-ratelimit-reset").and_then(|v| v.trim().parse().ok())
        });
        // A 429 with the company's daily token budget at 0 lasts until the budget resets (the
        // start of the next day; taken as UTC): no point in retrying within seconds.
        let budget_spent = header_string(&response, "x-daily-ratelimit-token-remaining")
            .is_some_and(|v| v.trim() == "0");
        let request_id = header_string(&response, "x-request-id");
        let body = response.bytes().await.map_err(transport)?;
        tracing::debug!(
            status = status.as_u16(),
            pipedrive_request_id = request_id.as_deref().unwrap_or(""),
            what,
            "pipedrive call"
        );
        match status.as_u16() {
            200..=299 => Ok(body),
            401 => Err(PipedriveError::Unauthorized),
            404 => Err(PipedriveError::NotFound(what)),
            429 if budget_spent => Err(PipedriveError::Throttled {
                retry_after_secs: seconds_to_next_utc_day(Utc::now()),
            }),
            429 => Err(PipedriveError::Throttled {
                retry_after_secs: retry.unwrap_or(2),
            }),
            code => {
                let message = serde_json::from_slice::<PipedriveApiError>(&body)
                    .map(|e| e.to_string())
                    .unwrap_or_else(|_| "unexpected answer".into());
                Err(PipedriveError::Api {
                    status: code,
                    message,
                })
            }
        }
    }

    async fn get_one<T: DeserializeOwned>(
        &self,
        api_domain: &str,
        token: &SecretString,
        path: &str,
        what: &'static str,
    ) -> Result<T, PipedriveError> {
        let body = self.get_raw(api_domain, token, path, &[], what).await?;
        let envelope: Envelope<T> = serde_json::from_slice(&body)
            .map_err(|e| PipedriveError::Decode(format!("{what}: {e}")))?;
        Ok(envelope.data)
    }

    /// Every page of a v2 list (cursor pagination).
    async fn get_all<T: DeserializeOwned>(
        &self,
        api_domain: &str,
        token: &SecretString,
        path: &str,
        what: &'static str,
    ) -> Result<Vec<T>, PipedriveError> {
        self.get_all_with(api_domain, token, path, &[], what).await
    }

    /// [`Self::get_all`] with filters (`extra`) on every page.
    async fn get_all_with<T: DeserializeOwned>(
        &self,
        api_domain: &str,
        token: &SecretString,
        path: &str,
        extra: &[(&str, &str)],
        what: &'static str,
    ) -> Result<Vec<T>, PipedriveError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        let mut followed: std::collections::HashSet<String> = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut query = vec![("limit", PAGE_LIMIT)];
            query.extend_from_slice(extra);
            if let Some(c) = cursor.as_deref() {
                query.push(("cursor", c));
            }
            let body = self.get_raw(api_domain, token, path, &query, what).await?;
            let envelope: Envelope<Option<Vec<T>>> = serde_json::from_slice(&body)
                .map_err(|e| PipedriveError::Decode(format!("{what}: {e}")))?;
            let next = envelope.next_cursor().map(str::to_string);
            out.extend(envelope.data.unwrap_or_default());
            match next {
                Some(n) if !n.is_empty() => {
                    // A cursor handed out twice would walk the same pages again until the page
                    // limit, spending the company's Pipedrive budget: stop at the first repeat
                    // with what was read.
                    if !followed.insert(n.clone()) {
                        tracing::warn!(
                            what,
                            pages = followed.len() + 1,
                            "Pipedrive repeated a list cursor; stopped with the pages read"
                        );
                        return Ok(out);
                    }
                    cursor = Some(n);
                }
                _ => return Ok(out),
            }
        }
        Err(PipedriveError::Decode(format!(
            "{what}: more than {MAX_PAGES} pages"
        )))
    }

    /// Pipedrive ids are positive: id 0 names nothing, and Pipedrive answers it with a 400
    /// validation error, so it is a not-found here without a call.
    fn existing_id(id: u64, what: &'static str) -> Result<(), PipedriveError> {
        if id == 0 {
            Err(PipedriveError::NotFound(what))
        } else {
            Ok(())
        }
    }

    /// The user and company a token belongs to (`GET /api/v1/users/me`).
    pub async fn users_me(
        &self,
        api_domain: &str,
        token: &SecretString,
    ) -> Result<UserMe, PipedriveError> {
        self.get_one(api_domain, token, "api/v1/users/me", "user")
            .await
    }

    pub async fn deal(
        &self,
        api_domain: &str,
        token: &SecretString,
        id: u64,
    ) -> Result<Deal, PipedriveError> {
        Self::existing_id(id, "deal")?;
        self.get_one(api_domain, token, &format!("api/v2/deals/{id}"), "deal")
            .await
    }

    /// Every product attached to the deal (all pages).
    pub async fn deal_products(
        &self,
        api_domain: &str,
        token: &SecretString,
        deal_id: u64,
    ) -> Result<Vec<DealProduct>, PipedriveError> {
        Self::existing_id(deal_id, "deal")?;
        self.get_all(
            api_domain,
            token,
            &format!("api/v2/deals/{deal_id}/products"),
            "deal",
        )
        .await
    }

    pub async fn deal_discounts(
        &self,
        api_domain: &str,
        token: &SecretString,
        deal_id: u64,
    ) -> Result<Vec<DealDiscount>, PipedriveError> {
        Self::existing_id(deal_id, "deal")?;
        self.get_all(
            api_domain,
            token,
            &format!("api/v2/deals/{deal_id}/discounts"),
            "deal",
        )
        .await
    }

    pub async fn organization(
        &self,
        api_domain: &str,
        token: &SecretString,
        id: u64,
    ) -> Result<Organization, PipedriveError> {
        Self::existing_id(id, "organization")?;
        self.get_one(
            api_domain,
            token,
            &format!("api/v2/organizations/{id}"),
            "organization",
        )
        .await
    }

    pub async fn person(
        &self,
        api_domain: &str,
        token: &SecretString,
        id: u64,
    ) -> Result<Person, PipedriveError> {
        Self::existing_id(id, "person")?;
        self.get_one(api_domain, token, &format!("api/v2/persons/{id}"), "person")
            .await
    }

    pub async fn product(
        &self,
        api_domain: &str,
        token: &SecretString,
        id: u64,
    ) -> Result<Product, PipedriveError> {
        Self::existing_id(id, "product")?;
        self.get_one(
            api_domain,
            token,
            &format!("api/v2/products/{id}"),
            "product",
        )
        .await
    }

    /// Every field of a catalog, standard and custom (all pages).
    pub async fn fields(
        &self,
        api_domain: &str,
        token: &SecretString,
        catalog: FieldCatalog,
    ) -> Result<Vec<FieldDefinition>, PipedriveError> {
        self.get_all(
            api_domain,
            token,
            &format!("api/v2/{}", catalog.path()),
            "field catalog",
        )
        .await
    }

    /// Every deal whose `update_time` is at or after `since` (all pages, oldest change first):
    /// one list request per 500 deals. Deleted deals are not listed (Pipedrive's default).
    pub async fn deals_updated_since(
        &self,
        api_domain: &str,
        token: &SecretString,
        since: DateTime<Utc>,
    ) -> Result<Vec<Deal>, PipedriveError> {
        let since = since.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        self.get_all_with(
            api_domain,
            token,
            "api/v2/deals",
            &[
                ("updated_since", since.as_str()),
                ("sort_by", "update_time"),
                ("sort_direction", "asc"),
            ],
            "deal",
        )
        .await
    }

    /// Changes a deal (`PATCH /api/v2/deals/{id}`, scope `deals:full`): only what `update`
    /// carries.
    pub async fn update_deal(
        &self,
        api_domain: &str,
        token: &SecretString,
        id: u64,
        update: &DealUpdate,
    ) -> Result<Deal, PipedriveError> {
        Self::existing_id(id, "deal")?;
        let url = format!("{}/api/v2/deals/{id}", api_domain.trim_end_matches('/'));
        let response = self
            .http
            .patch(url)
            .bearer_auth(token.expose())
            .json(update)
            .send()
            .await
            .map_err(transport)?;
        let body = Self::read(response, "deal").await?;
        let envelope: Envelope<Deal> = serde_json::from_slice(&body)
            .map_err(|e| PipedriveError::Decode(format!("deal: {e}")))?;
        Ok(envelope.data)
    }

    /// The company's pipelines (all pages).
    pub async fn pipelines(
        &self,
        api_domain: &str,
        token: &SecretString,
    ) -> Result<Vec<Pipeline>, PipedriveError> {
        self.get_all(api_domain, token, "api/v2/pipelines", "pipeline")
            .await
    }

    /// The company's stages of every pipeline (all pages).
    pub async fn stages(
        &self,
        api_domain: &str,
        token: &SecretString,
    ) -> Result<Vec<Stage>, PipedriveError> {
        self.get_all(api_domain, token, "api/v2/stages", "stage")
            .await
    }

    /// Adds a note (shown in the deal's history).
    pub async fn add_note(
        &self,
        api_domain: &str,
        token: &SecretString,
        note: &NewNote,
    ) -> Result<Note, PipedriveError> {
        let url = format!("{}/api/v1/notes", api_domain.trim_end_matches('/'));
        let response = self
            .http
            .post(url)
            .bearer_auth(token.expose())
            .json(note)
            .send()
            .await
            .map_err(transport)?;
        let body = Self::read(response, "note").await?;
        let envelope: Envelope<Note> = serde_json::from_slice(&body)
            .map_err(|e| PipedriveError::Decode(format!("note: {e}")))?;
        Ok(envelope.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn id_zero_is_not_found_without_a_call() {
        // An address nothing listens on: a call would be a transport error, not a not-found.
        let client = PipedriveClient::new(PipedriveEndpoints::simulated("http://127.0.0.1:9"));
        let token = SecretString::new("t");
        let domain = "http://127.0.0.1:9";
        assert!(matches!(
            client.deal(domain, &token, 0).await,
            Err(PipedriveError::NotFound("deal"))
        ));
        assert!(matches!(
            client.deal_products(domain, &token, 0).await,
            Err(PipedriveError::NotFound("deal"))
        ));
        assert!(matches!(
            client.organization(domain, &token, 0).await,
            Err(PipedriveError::NotFound("organization"))
        ));
        assert!(matches!(
            client.person(domain, &token, 0).await,
            Err(PipedriveError::NotFound("person"))
        ));
        assert!(matches!(
            client.product(domain, &token, 0).await,
            Err(PipedriveError::NotFound("product"))
        ));
        assert!(!matches!(
            client.deal(domain, &token, 1).await,
            Err(PipedriveError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_repeated_cursor_stops_the_walk_at_once() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = Arc::new(AtomicUsize::new(0));
        let count = calls.clone();
        // Every page answers one product and the same next cursor.
        let router = axum::Router::new().route(
            "/api/v2/deals/{id}/products",
            axum::routing::get(move || {
                let count = count.clone();
                async move {
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    axum::Json(serde_json::json!({
                        "success": true,
                        "data": [{"id": n + 1, "product_id": 7, "deal_id": 1, "name": "P",
                                  "item_price": 1, "quantity": 1, "sum": 1, "currency": "USD"}],
                        "additional_data": {"next_cursor": "same"}
                    }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        let client = PipedriveClient::new(PipedriveEndpoints::simulated(&base));
        let products = client
            .deal_products(&base, &SecretString::new("t"), 1)
            .await
            .unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "the first page, then the repeated cursor's"
        );
        assert_eq!(products.len(), 2, "what was read is answered");
    }
}
