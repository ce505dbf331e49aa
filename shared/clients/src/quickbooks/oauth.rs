//! OAuth 2.0 with Intuit: the authorize URL, the code exchange, the refresh and the revoke.

use super::*;

impl QuickBooksClient {
    /// Where to send the user to connect a QuickBooks company.
    pub fn authorize_url(&self, client_id: &str, redirect_uri: &str, state: &str) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", client_id)
            .append_pair("response_type", "code")
            .append_pair("scope", ACCOUNTING_SCOPE)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state)
            .finish();
        format!("{}?{query}", self.endpoints.authorize_url)
    }

    async fn token_call(
        &self,
        credentials: &ClientCredentials,
        form: &[(&str, &str)],
    ) -> Result<TokenResponse, QuickBooksError> {
        let response = self
            .http
            .post(&self.endpoints.token_url)
            .basic_auth(
                &credentials.client_id,
                Some(credentials.client_secret.expose()),
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let tid = header_string(&response, "intuit_tid");
        let body = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| QuickBooksError::Decode(format!("token answer: {e}")));
        }
        if status.as_u16() == 429 {
            return Err(QuickBooksError::Throttled {
                retry_after_secs: 60,
                intuit_tid: tid,
            });
        }
        match serde_json::from_slice::<OAuthError>(&body) {
            Ok(error) if error.is_invalid_grant() => Err(QuickBooksError::InvalidGrant {
                description: error.error_description.unwrap_or_default(),
            }),
            Ok(error) => Err(QuickBooksError::OAuth(error.error)),
            Err(_) => Err(QuickBooksError::Http {
                status: status.as_u16(),
                intuit_tid: tid,
            }),
        }
    }

    /// Exchanges an authorization code for tokens.
    pub async fn exchange_code(
        &self,
        credentials: &ClientCredentials,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenResponse, QuickBooksError> {
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

    /// Refreshes: the answer carries a new access token and the refresh token to keep (QuickBooks
    /// rotates it; the previous one keeps working for 24 hours).
    pub async fn refresh(
        &self,
        credentials: &ClientCredentials,
        refresh_token: &SecretString,
    ) -> Result<TokenResponse, QuickBooksError> {
        self.token_call(
            credentials,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
            ],
        )
        .await
    }

    /// Revokes a token (the refresh token revokes the whole connection).
    pub async fn revoke(
        &self,
        credentials: &ClientCredentials,
        token: &SecretString,
    ) -> Result<(), QuickBooksError> {
        let response = self
            .http
            .post(&self.endpoints.revoke_url)
            .basic_auth(
                &credentials.client_id,
                Some(credentials.client_secret.expose()),
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&serde_json::json!({ "token": token.expose() }))
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(QuickBooksError::Http {
                status: status.as_u16(),
                intuit_tid: header_string(&response, "intuit_tid"),
            })
        }
    }
}
