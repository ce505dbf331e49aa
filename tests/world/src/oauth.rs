//! The install and connect flows as a browser goes through them: Pipedrive's and QuickBooks'
//! consent pages (approved at once), then our callbacks on the world's served router.

use serde_json::Value;

use crate::world::World;

impl World {
    /// Installs the app for a seed user through the browser flow (Pipedrive's consent page in
    /// auto-approve mode, then our callback). Returns our callback's answer.
    pub async fn pipedrive_install(&self, company: u64, user: u64) -> reqwest::Response {
        self.pipedrive_install_flow(company, user).await.1
    }

    /// [`Self::pipedrive_install`], also returning the callback URL Pipedrive redirected to.
    pub async fn pipedrive_install_flow(
        &self,
        company: u64,
        user: u64,
    ) -> (String, reqwest::Response) {
        let authorize = format!(
            "{}/oauth/authorize?client_id={}&redirect_uri={}&auto=1&company_id={company}&user_id={user}",
            self.pipedrive.base_url(),
            self.app.credentials.pipedrive_client_id,
            urlencode(&format!("{}/oauth/pipedrive/callback", self.base)),
        );
        let consent = self.http.get(authorize).send().await.unwrap();
        let callback = location(&consent);
        assert!(
            callback.starts_with(&self.base),
            "Pipedrive redirects to our callback: {callback}"
        );
        let response = self.http.get(&callback).send().await.unwrap();
        (callback, response)
    }

    /// Installs the app for `user` through Pipedrive's consent page and connects `company` to
    /// `realm` through QuickBooks' (the connect must succeed).
    pub async fn install_and_connect(&self, company: u64, user: u64, realm: &str) {
        self.pipedrive_install(company, user).await;
        let (status, page) = self.quickbooks_connect(company, user, realm).await;
        assert_eq!(status, 200, "{page}");
    }

    /// `POST /api/quickbooks/connect` as a user, with an optional JSON body.
    pub async fn quickbooks_connect_request(
        &self,
        company: u64,
        user: u64,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.request_as("POST", "/api/quickbooks/connect", (company, user));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// The URL QuickBooks redirects back to after the user chose `realm` on the consent page.
    pub async fn quickbooks_callback_url(
        &self,
        company: u64,
        user: u64,
        realm: &str,
        body: Option<Value>,
    ) -> String {
        let response = self.quickbooks_connect_request(company, user, body).await;
        assert_eq!(response.status(), 200, "connect answers the authorize URL");
        let json: Value = response.json().await.unwrap();
        let authorize = json["authorize_url"].as_str().unwrap().to_string();
        let consent = self
            .http
            .get(format!("{authorize}&realm_id={realm}"))
            .send()
            .await
            .unwrap();
        let callback = location(&consent);
        assert!(
            callback.starts_with(&format!("{}/oauth/quickbooks/callback", self.base)),
            "{callback}"
        );
        callback
    }

    /// The whole connect flow through QuickBooks' consent page; returns our callback's status
    /// and page.
    pub async fn quickbooks_connect(&self, company: u64, user: u64, realm: &str) -> (u16, String) {
        let callback = self
            .quickbooks_callback_url(company, user, realm, None)
            .await;
        let response = self.http.get(callback).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

/// A query-string component, percent-encoded.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Where a redirect points.
pub fn location(response: &reqwest::Response) -> String {
    assert!(
        response.status().is_redirection(),
        "expected a redirect, got {}",
        response.status()
    );
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Replaces one query parameter of a URL (or appends it).
pub fn with_param(url: &str, name: &str, value: Option<&str>) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with(&format!("{name}=")))
        .map(str::to_string)
        .collect();
    if let Some(v) = value {
        pairs.push(format!("{name}={}", urlencode(v)));
    }
    format!("{base}?{}", pairs.join("&"))
}

/// A query parameter's (decoded) value.
pub fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
