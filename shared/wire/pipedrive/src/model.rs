//! Pipedrive wire types, shared by the app's API client and the simulator in `sandbox`.
//!
//! Shapes follow the official OpenAPI specs (v1 for OAuth, `/users/me` and `/notes`; v2 for deals,
//! deal products, discounts, organizations, persons, products and field definitions) and the
//! payloads saved under `tests/fixtures/pipedrive/`.
//!
//! Reading rules: unknown fields are ignored, almost everything is optional, money is
//! [`Decimal`] (JSON numbers, via `rust_decimal::serde::float*`), ids are integers. Where the
//! documentation is unverified both readings are accepted: custom-field values may be plain
//! values or objects (see [`CustomFields`]), JWT and uninstall ids may be numbers or numeric
//! strings.
//!
//! Writing rules: optional fields serialise as `null` (so the simulator answers with every key the
//! published payloads have) except where a field is documented as conditional, which is skipped
//! when absent.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// OAuth
// ---------------------------------------------------------------------------------------------

/// `POST /oauth/token` answer, for both the `authorization_code` and the `refresh_token` grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires (3599 in the published example).
    pub expires_in: u64,
    /// Expires after 60 days without use; every use resets that. Persist the one from every
    /// response (rotation is not documented either way).
    pub refresh_token: String,
    /// Comma-separated scopes, e.g. `base,deals:full,contacts:read`.
    #[serde(default)]
    pub scope: String,
    /// Base URL (scheme and company host) for API calls with this token.
    pub api_domain: String,
}

impl TokenResponse {
    /// The granted scopes, split on commas and spaces.
    pub fn scopes(&self) -> Vec<&str> {
        split_scopes(&self.scope)
    }
}

/// Splits a Pipedrive scope string (`base,deals:full` — commas, tolerating spaces).
pub fn split_scopes(scope: &str) -> Vec<&str> {
    scope
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// `grant_type` of a `POST /oauth/token` form body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
}

/// Form body (`application/x-www-form-urlencoded`) of `POST /oauth/token`; the client
/// authenticates with HTTP Basic (`client_id:client_secret`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRequest {
    pub grant_type: GrantType,
    /// `authorization_code` grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `authorization_code` grant: must equal the app's registered callback URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// `refresh_token` grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl TokenRequest {
    pub fn authorization_code(code: impl Into<String>, redirect_uri: impl Into<String>) -> Self {
        TokenRequest {
            grant_type: GrantType::AuthorizationCode,
            code: Some(code.into()),
            redirect_uri: Some(redirect_uri.into()),
            refresh_token: None,
        }
    }

    pub fn refresh(refresh_token: impl Into<String>) -> Self {
        TokenRequest {
            grant_type: GrantType::RefreshToken,
            code: None,
            redirect_uri: None,
            refresh_token: Some(refresh_token.into()),
        }
    }
}

/// `token_type_hint` of `POST /oauth/revoke` (RFC 7009).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenTypeHint {
    /// Revokes every token of the installation ("marks the app uninstalled").
    RefreshToken,
    /// Revokes only that access token.
    AccessToken,
}

/// Form body of `POST /oauth/revoke` (HTTP Basic client authentication).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevokeRequest {
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type_hint: Option<TokenTypeHint>,
}

/// RFC 6749 §5.2 error body of the token endpoint (`invalid_grant`, `invalid_client`, …).
/// Pipedrive does not publish its own shape; this is the standard one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthError {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// Body of the `DELETE <callback URL>` Pipedrive sends when a user uninstalls the app
/// (HTTP Basic with the app's client id and secret, `content-type: application/json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UninstallCallback {
    pub client_id: String,
    #[serde(deserialize_with = "lenient_u64")]
    pub company_id: u64,
    #[serde(deserialize_with = "lenient_u64")]
    pub user_id: u64,
    /// Format unverified (ISO 8601 in our fixture); kept as sent.
    #[serde(default, deserialize_with = "lenient_string")]
    pub timestamp: String,
}

/// Claims of the JWTs Pipedrive signs for custom UI iframes and `GET_SIGNED_TOKEN` (HS256 with
/// the extension's JWT secret, or the client secret when none is set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IframeClaims {
    #[serde(rename = "userId", deserialize_with = "lenient_u64")]
    pub user_id: u64,
    #[serde(rename = "companyId", deserialize_with = "lenient_u64")]
    pub company_id: u64,
    pub iat: i64,
    pub exp: i64,
}

// ---------------------------------------------------------------------------------------------
// Envelopes and errors
// ---------------------------------------------------------------------------------------------

/// Success envelope of v1 and v2: `{"success": true, "data": …, "additional_data": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub success: bool,
    pub data: T,
    /// Present on list endpoints (cursor pagination); absent on single objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_data: Option<AdditionalData>,
}

impl<T> Envelope<T> {
    pub fn ok(data: T) -> Self {
        Envelope {
            success: true,
            data,
            additional_data: None,
        }
    }

    /// A v2 list page; `next_cursor` is `None` (`null`) on the last page.
    pub fn page(data: T, next_cursor: Option<String>) -> Self {
        Envelope {
            success: true,
            data,
            additional_data: Some(AdditionalData { next_cursor }),
        }
    }

    /// The cursor for the next page, if there is one.
    pub fn next_cursor(&self) -> Option<&str> {
        self.additional_data
            .as_ref()
            .and_then(|a| a.next_cursor.as_deref())
    }
}

/// `additional_data` of v2 lists.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AdditionalData {
    /// Pass as `cursor` to get the next page; `null` at the end.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// Error body of v1 and v2.
///
/// - v1 401: `{"success":false,"error":"unauthorized access","errorCode":401}` (live answers add
///   `error_info`).
/// - v1 other: `{"success":false,"error":…,"error_info":…,"data":null,"additional_data":null}`.
/// - v2: `{"success":false,"error":"Entity was not found","error_info":"Object was not found.",
///   "data":null,"additional_data":null}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub success: bool,
    #[serde(default, deserialize_with = "lenient_string")]
    pub error: String,
    #[serde(rename = "errorCode", default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_info: Option<String>,
    /// `Some(Value::Null)` is `"data": null`; `None` is a missing key (kept apart both ways).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub data: Option<Value>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_data: Option<Value>,
}

/// `error_info` Pipedrive puts on 401 answers.
pub const ERROR_INFO_CHECK_DOCS: &str = "Please check developers.pipedrive.com";

impl ApiError {
    /// The v1 401 body Pipedrive answers for a missing, expired or unknown access token.
    pub fn unauthorized() -> Self {
        ApiError {
            success: false,
            error: "unauthorized access".into(),
            error_code: Some(401),
            error_info: Some(ERROR_INFO_CHECK_DOCS.into()),
            data: None,
            additional_data: None,
        }
    }

    /// The v2 "not found" body.
    pub fn not_found() -> Self {
        Self::v2("Entity was not found", "Object was not found.")
    }

    /// A v2-style error (`data` and `additional_data` present as `null`).
    pub fn v2(error: impl Into<String>, error_info: impl Into<String>) -> Self {
        ApiError {
            success: false,
            error: error.into(),
            error_code: None,
            error_info: Some(error_info.into()),
            data: Some(Value::Null),
            additional_data: Some(Value::Null),
        }
    }

    /// A v1-style error with an `errorCode`.
    pub fn v1(status: u16, error: impl Into<String>, error_info: impl Into<String>) -> Self {
        ApiError {
            success: false,
            error: error.into(),
            error_code: Some(u32::from(status)),
            error_info: Some(error_info.into()),
            data: Some(Value::Null),
            additional_data: Some(Value::Null),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error)?;
        if let Some(code) = self.error_code {
            write!(f, " ({code})")?;
        }
        if let Some(info) = &self.error_info {
            write!(f, ": {info}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// v1 users/me
// ---------------------------------------------------------------------------------------------

/// `GET /api/v1/users/me` → `data`. Identify an installation by (`company_id`, `id`), never by
/// email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserMe {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub default_currency: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub lang: Option<i64>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub activated: Option<bool>,
    #[serde(default)]
    pub last_login: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub modified: Option<String>,
    #[serde(default)]
    pub has_created_company: Option<bool>,
    #[serde(default)]
    pub access: Vec<UserAccess>,
    #[serde(default)]
    pub active_flag: Option<bool>,
    #[serde(default)]
    pub timezone_name: Option<String>,
    #[serde(default)]
    pub timezone_offset: Option<String>,
    #[serde(default)]
    pub role_id: Option<i64>,
    #[serde(default)]
    pub icon_url: Option<String>,
    #[serde(default)]
    pub is_you: Option<bool>,
    #[serde(default)]
    pub is_deleted: Option<bool>,
    /// Not in the spec's `/users/me` example (admin rights are in `access`); read if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_admin: Option<bool>,
    pub company_id: u64,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub company_domain: Option<String>,
    #[serde(default)]
    pub company_country: Option<String>,
    #[serde(default)]
    pub company_industry: Option<String>,
    #[serde(default)]
    pub language: Option<UserLanguage>,
}

impl UserMe {
    /// Admin if `is_admin` says so or the user is admin of the `global` app.
    pub fn is_admin(&self) -> bool {
        self.is_admin.unwrap_or_else(|| {
            self.access
                .iter()
                .any(|a| a.app.as_deref() == Some("global") && a.admin.unwrap_or(false))
        })
    }
}

/// One entry of `users/me` → `access`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserAccess {
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub admin: Option<bool>,
    #[serde(default)]
    pub permission_set_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserLanguage {
    #[serde(default)]
    pub language_code: Option<String>,
    #[serde(default)]
    pub country_code: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// v1 notes
// ---------------------------------------------------------------------------------------------

/// `POST /api/v1/notes` JSON body. `content` is HTML; one of the ids is required.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewNote {
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<u64>,
    /// A UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<u64>,
    /// Admins only: author the note as this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u64>,
    /// `YYYY-MM-DD HH:MM:SS` (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_time: Option<String>,
    /// `0` or `1`; requires `deal_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_to_deal_flag: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_to_organization_flag: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_to_person_flag: Option<u8>,
}

/// A note as `POST /api/v1/notes` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: u64,
    #[serde(default)]
    pub active_flag: Option<bool>,
    #[serde(default)]
    pub add_time: Option<String>,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub deal: Option<NoteDeal>,
    #[serde(default)]
    pub lead_id: Option<String>,
    #[serde(default)]
    pub deal_id: Option<u64>,
    #[serde(default)]
    pub last_update_user_id: Option<u64>,
    #[serde(default)]
    pub org_id: Option<u64>,
    #[serde(default)]
    pub organization: Option<NamedRef>,
    #[serde(default)]
    pub person: Option<NamedRef>,
    #[serde(default)]
    pub person_id: Option<u64>,
    #[serde(default)]
    pub project_id: Option<u64>,
    #[serde(default)]
    pub project: Option<NoteDeal>,
    #[serde(default)]
    pub pinned_to_lead_flag: Option<bool>,
    #[serde(default)]
    pub pinned_to_deal_flag: Option<bool>,
    #[serde(default)]
    pub pinned_to_organization_flag: Option<bool>,
    #[serde(default)]
    pub pinned_to_person_flag: Option<bool>,
    #[serde(default)]
    pub pinned_to_project_flag: Option<bool>,
    #[serde(default)]
    pub update_time: Option<String>,
    #[serde(default)]
    pub user: Option<NoteUser>,
    #[serde(default)]
    pub user_id: Option<u64>,
}

/// `{"title": …}` of a note's deal or project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoteDeal {
    #[serde(default)]
    pub title: Option<String>,
}

/// `{"name": …}` of a note's organization or person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedRef {
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoteUser {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub icon_url: Option<String>,
    #[serde(default)]
    pub is_you: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Custom fields
// ---------------------------------------------------------------------------------------------

/// `custom_fields` of a v2 entity: values keyed by the field's 40-character hash (`field_code`).
///
/// Value shapes (migration guide): text `"…"`, number `500`, monetary
/// `{"value":500,"currency":"USD"}`, enum `123`, set `[123,456]`, address `{"value":"…",…}`,
/// `null` when cleared. Kept as JSON so every shape (and future ones) reads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomFields(pub BTreeMap<String, Value>);

impl CustomFields {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// The value as text: a string, a number, or the `value` of an object (monetary, address,
    /// or a value wrapped as `{"value": …}`). Empty strings read as `None`.
    pub fn text(&self, key: &str) -> Option<String> {
        fn scalar(v: &Value) -> Option<String> {
            match v {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            }
        }
        match self.get(key)? {
            Value::Object(map) => map.get("value").and_then(scalar),
            other => scalar(other),
        }
    }

    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        self.0.insert(key.into(), value);
    }
}

// ---------------------------------------------------------------------------------------------
// v2 deals
// ---------------------------------------------------------------------------------------------

/// `status` of a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    Open,
    Won,
    Lost,
    Deleted,
    /// A value this version does not know.
    #[serde(other)]
    Unknown,
}

/// `GET /api/v2/deals/{id}` → `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deal {
    pub id: u64,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub creator_user_id: Option<u64>,
    #[serde(default)]
    pub owner_id: Option<u64>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    pub value: Option<Decimal>,
    #[serde(default)]
    pub person_id: Option<u64>,
    #[serde(default)]
    pub org_id: Option<u64>,
    #[serde(default)]
    pub stage_id: Option<u64>,
    #[serde(default)]
    pub pipeline_id: Option<u64>,
    /// ISO 4217 code.
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub archive_time: Option<String>,
    #[serde(default)]
    pub add_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
    #[serde(default)]
    pub stage_change_time: Option<String>,
    #[serde(default)]
    pub status: Option<DealStatus>,
    #[serde(default)]
    pub is_archived: Option<bool>,
    #[serde(default)]
    pub is_deleted: Option<bool>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    pub probability: Option<Decimal>,
    #[serde(default)]
    pub lost_reason: Option<String>,
    #[serde(default)]
    pub visible_to: Option<i64>,
    #[serde(default)]
    pub close_time: Option<String>,
    #[serde(default)]
    pub won_time: Option<String>,
    #[serde(default)]
    pub lost_time: Option<String>,
    #[serde(default)]
    pub local_won_date: Option<String>,
    #[serde(default)]
    pub local_lost_date: Option<String>,
    #[serde(default)]
    pub local_close_date: Option<String>,
    #[serde(default)]
    pub expected_close_date: Option<String>,
    #[serde(default)]
    pub label_ids: Vec<u64>,
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub origin_id: Option<String>,
    #[serde(default)]
    pub channel: Option<i64>,
    #[serde(default)]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub source_lead_id: Option<String>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    pub acv: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    pub arr: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    pub mrr: Option<Decimal>,
    #[serde(default)]
    pub custom_fields: CustomFields,
}

impl Deal {
    /// Deleted in Pipedrive (either flag): treated as a deal the caller does not have.
    pub fn is_gone(&self) -> bool {
        self.is_deleted == Some(true) || self.status == Some(DealStatus::Deleted)
    }
}

/// Body of `PATCH /api/v2/deals/{id}` (spec-v2 "Update a deal", scope `deals:full`, 5 tokens):
/// only the keys present are changed. The app writes `custom_fields` only (its invoice figures);
/// a custom field is cleared with `null`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DealStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<BTreeMap<String, Value>>,
}

/// `GET /api/v2/pipelines` → `data[]` (scope `deals:read`, 5 tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub order_nr: Option<i64>,
    #[serde(default)]
    pub is_deleted: bool,
    #[serde(default)]
    pub add_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
}

/// `GET /api/v2/stages` → `data[]` (scope `deals:read`, 5 tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub order_nr: Option<i64>,
    pub pipeline_id: u64,
    #[serde(default)]
    pub is_deleted: bool,
    #[serde(default)]
    pub add_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
}

/// `discount_type` of a deal product, `type` of a deal discount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscountType {
    /// `discount` is a percentage of the line (`10` = 10 %).
    Percentage,
    /// `discount` is an amount in the deal's currency.
    Amount,
}

/// `tax_method` of a deal product. `tax` is a percentage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaxMethod {
    /// Tax is added on top of the price.
    Exclusive,
    /// The price already includes the tax.
    Inclusive,
    /// No tax.
    None,
}

/// One product attached to a deal: `GET /api/v2/deals/{id}/products` → `data[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealProduct {
    /// The attachment id (not the product id).
    pub id: u64,
    /// Line total after the line discount (tax not added).
    #[serde(default, with = "rust_decimal::serde::float_option")]
    pub sum: Option<Decimal>,
    /// Tax percentage.
    #[serde(default, with = "rust_decimal::serde::float_option")]
    pub tax: Option<Decimal>,
    #[serde(default)]
    pub deal_id: Option<u64>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub product_id: Option<u64>,
    #[serde(default)]
    pub product_variation_id: Option<u64>,
    #[serde(default)]
    pub order_nr: Option<i64>,
    #[serde(default)]
    pub add_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
    #[serde(default)]
    pub comments: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    pub discount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    pub quantity: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    pub item_price: Option<Decimal>,
    #[serde(default)]
    pub tax_method: Option<TaxMethod>,
    #[serde(default)]
    pub discount_type: Option<DiscountType>,
    /// Disabled products are excluded from the deal value.
    #[serde(default = "default_true")]
    pub is_enabled: bool,
    #[serde(default)]
    pub billing_frequency: Option<String>,
    #[serde(default)]
    pub billing_frequency_cycles: Option<u32>,
    #[serde(default)]
    pub billing_start_date: Option<String>,
}

/// A deal-level discount: `GET /api/v2/deals/{id}/discounts` → `data[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealDiscount {
    /// A UUID.
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(with = "rust_decimal::serde::float")]
    pub amount: Decimal,
    #[serde(rename = "type")]
    pub discount_type: DiscountType,
    #[serde(default)]
    pub deal_id: Option<u64>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub created_by: Option<u64>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub updated_by: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// v2 organizations, persons, products
// ---------------------------------------------------------------------------------------------

/// An address with its components (organization `address`, person `postal_address`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Address {
    /// The full address as typed.
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    /// State / province.
    #[serde(default)]
    pub admin_area_level_1: Option<String>,
    /// County.
    #[serde(default)]
    pub admin_area_level_2: Option<String>,
    /// City.
    #[serde(default)]
    pub locality: Option<String>,
    /// Neighbourhood.
    #[serde(default)]
    pub sublocality: Option<String>,
    /// Street.
    #[serde(default)]
    pub route: Option<String>,
    #[serde(default)]
    pub street_number: Option<String>,
    /// Apartment / suite.
    #[serde(default)]
    pub subpremise: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    /// Listed as a subfield by `organizationFields`; not in the entity example, so skipped when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted_address: Option<String>,
}

/// `GET /api/v2/organizations/{id}` → `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub owner_id: Option<u64>,
    #[serde(default)]
    pub add_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
    #[serde(default)]
    pub address: Option<Address>,
    #[serde(default)]
    pub is_deleted: Option<bool>,
    #[serde(default)]
    pub visible_to: Option<i64>,
    #[serde(default)]
    pub label_ids: Vec<u64>,
    #[serde(default)]
    pub website: Option<String>,
    #[serde(default)]
    pub linkedin: Option<String>,
    #[serde(default)]
    pub industry: Option<i64>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    pub annual_revenue: Option<Decimal>,
    #[serde(default)]
    pub employee_count: Option<i64>,
    #[serde(default)]
    pub custom_fields: CustomFields,
}

/// One email / phone / IM entry of a person.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContactDetail {
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub primary: bool,
    #[serde(default)]
    pub label: Option<String>,
}

/// `GET /api/v2/persons/{id}` → `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub owner_id: Option<u64>,
    #[serde(default)]
    pub org_id: Option<u64>,
    #[serde(default)]
    pub add_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
    #[serde(default)]
    pub emails: Vec<ContactDetail>,
    #[serde(default)]
    pub phones: Vec<ContactDetail>,
    #[serde(default)]
    pub is_deleted: Option<bool>,
    #[serde(default)]
    pub visible_to: Option<i64>,
    #[serde(default)]
    pub label_ids: Vec<u64>,
    #[serde(default)]
    pub picture_id: Option<u64>,
    #[serde(default)]
    pub custom_fields: CustomFields,
    /// Contact Sync only (this and the fields below): skipped when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub im: Option<Vec<ContactDetail>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_address: Option<Address>,
}

impl Person {
    /// The email flagged primary, else the first non-empty one.
    pub fn primary_email(&self) -> Option<&str> {
        self.emails
            .iter()
            .filter(|e| !e.value.trim().is_empty())
            .find(|e| e.primary)
            .or_else(|| self.emails.iter().find(|e| !e.value.trim().is_empty()))
            .map(|e| e.value.trim())
    }
}

/// One price of a product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductPrice {
    #[serde(default)]
    pub product_id: Option<u64>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    pub price: Option<Decimal>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    pub cost: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    pub direct_cost: Option<Decimal>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// `GET /api/v2/products/{id}` → `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    /// SKU.
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default, with = "rust_decimal::serde::float_option")]
    pub tax: Option<Decimal>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub is_linkable: Option<bool>,
    #[serde(default)]
    pub is_deleted: Option<bool>,
    #[serde(default)]
    pub visible_to: Option<i64>,
    #[serde(default)]
    pub owner_id: Option<u64>,
    #[serde(default)]
    pub add_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
    #[serde(default)]
    pub billing_frequency: Option<String>,
    #[serde(default)]
    pub billing_frequency_cycles: Option<u32>,
    #[serde(default)]
    pub prices: Vec<ProductPrice>,
    #[serde(default)]
    pub custom_fields: CustomFields,
}

// ---------------------------------------------------------------------------------------------
// Field definitions
// ---------------------------------------------------------------------------------------------

/// One entry of `GET /api/v2/dealFields|organizationFields|personFields`. Also reads the v1
/// `/…Fields` items (`key`, `name`, `edit_flag` are aliases).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDefinition {
    #[serde(alias = "name")]
    pub field_name: String,
    /// The 40-character hash for custom fields; the entity key (`title`, `value`) otherwise.
    #[serde(alias = "key")]
    pub field_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `varchar`, `enum`, `set`, `monetary`, `address`, … (kept as text: the list grows).
    pub field_type: String,
    #[serde(default)]
    pub options: Option<Vec<FieldOption>>,
    #[serde(default)]
    pub subfields: Option<Vec<Subfield>>,
    #[serde(alias = "edit_flag", default)]
    pub is_custom_field: bool,
    #[serde(default)]
    pub is_optional_response_field: bool,
    /// Only with `include_fields=ui_visibility`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui_visibility: Option<Value>,
    /// Only with `include_fields=important_fields`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub important_fields: Option<Value>,
    /// Only with `include_fields=required_fields`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_fields: Option<Value>,
}

/// Id of an enum/set option: an integer, occasionally a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OptionId {
    Int(i64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldOption {
    pub id: OptionId,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subfield {
    pub field_code: String,
    pub field_name: String,
    pub field_type: String,
}

// ---------------------------------------------------------------------------------------------
// Lenient readers
// ---------------------------------------------------------------------------------------------

fn default_true() -> bool {
    true
}

/// Reads an id sent as a number or as a numeric string.
fn lenient_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    struct IdVisitor;
    impl Visitor<'_> for IdVisitor {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative integer or a numeric string")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom("negative id"))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
            if v.fract() == 0.0 && v >= 0.0 && v < u64::MAX as f64 {
                Ok(v as u64)
            } else {
                Err(E::custom("id is not a whole number"))
            }
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            v.trim().parse().map_err(E::custom)
        }
    }
    deserializer.deserialize_any(IdVisitor)
}

/// Reads a key that is present (even as `null`) as `Some`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// Reads a string, accepting a number or boolean (rendered as text) or `null` (empty).
fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../../../tests/fixtures/pipedrive/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn parse<T: serde::de::DeserializeOwned>(name: &str) -> T {
        serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn pipedrive_oauth_fixtures() {
        let token: TokenResponse = parse("oauth-token-response.json");
        assert_eq!(token.expires_in, 3599);
        assert_eq!(token.scopes(), vec!["base"]);
        assert_eq!(token.api_domain, "https://user-company.pipedrive.com");
        let refreshed: TokenResponse = parse("oauth-refresh-token-response.json");
        assert_eq!(refreshed.token_type, "Bearer");
        let uninstall: UninstallCallback = parse("oauth-uninstall-callback-request.json");
        assert_eq!((uninstall.company_id, uninstall.user_id), (54235233, 777));
        let claims: IframeClaims = parse("custom-ui-jwt-claims.json");
        assert_eq!((claims.user_id, claims.company_id), (777, 54235233));
        assert_eq!(claims.exp - claims.iat, 300);
    }

    #[test]
    fn pipedrive_lenient_ids_and_scopes() {
        let claims: IframeClaims =
            serde_json::from_str(r#"{"userId":"777","companyId":54235233,"iat":1,"exp":2}"#)
                .unwrap();
        assert_eq!(claims.user_id, 777);
        assert_eq!(
            split_scopes("base, deals:full,contacts:read"),
            vec!["base", "deals:full", "contacts:read"]
        );
        let form = serde_urlencoded::to_string(TokenRequest::refresh("r1")).unwrap();
        assert_eq!(form, "grant_type=refresh_token&refresh_token=r1");
    }

    #[test]
    fn pipedrive_error_fixtures() {
        let e401: ApiError = parse("v1-error-401-unauthorized.json");
        assert_eq!(e401.error_code, Some(401));
        assert!(!e401.success);
        let e404: ApiError = parse("v2-error-404-response.json");
        assert_eq!(e404.error, "Entity was not found");
        assert_eq!(e404, ApiError::not_found());
        assert_eq!(e401.data, None);
        assert_eq!(
            serde_json::to_value(ApiError::not_found()).unwrap(),
            serde_json::from_str::<Value>(&fixture("v2-error-404-response.json")).unwrap()
        );
    }

    #[test]
    fn pipedrive_users_me_and_notes_fixtures() {
        let me: Envelope<UserMe> = parse("v1-users-me-response.json");
        assert_eq!(me.data.company_id, 54235233);
        assert_eq!(me.data.company_domain.as_deref(), Some("pipedrive-12g53f"));
        assert!(me.data.is_admin());
        let request: NewNote = parse("v1-notes-post-request.json");
        assert_eq!(request.deal_id, Some(5351));
        assert_eq!(request.pinned_to_deal_flag, Some(1));
        let note: Envelope<Note> = parse("v1-notes-post-response.json");
        assert_eq!(note.data.pinned_to_deal_flag, Some(true));
    }

    #[test]
    fn pipedrive_v2_deal_fixtures() {
        let deal: Envelope<Deal> = parse("v2-deal-get-response.json");
        assert_eq!(deal.data.value, Some(dec!(200)));
        assert_eq!(deal.data.status, Some(DealStatus::Open));
        assert_eq!(deal.data.org_id, Some(1));
        let products: Envelope<Vec<DealProduct>> = parse("v2-deal-products-list-response.json");
        assert!(products.next_cursor().is_some());
        let line = &products.data[0];
        assert_eq!(line.tax_method, Some(TaxMethod::Inclusive));
        assert_eq!(line.discount_type, Some(DiscountType::Percentage));
        assert_eq!(line.item_price, Some(dec!(90)));
        let discounts: Envelope<Vec<DealDiscount>> = parse("v2-deal-discounts-list-response.json");
        assert_eq!(discounts.data[0].amount, dec!(10));
        assert!(discounts.next_cursor().is_none());
    }

    #[test]
    fn pipedrive_v2_contact_and_product_fixtures() {
        let org: Envelope<Organization> = parse("v2-organization-get-response.json");
        let address = org.data.address.unwrap();
        assert_eq!(address.locality.as_deref(), Some("Sunnyvale"));
        assert_eq!(address.postal_code.as_deref(), Some("94085"));
        let person: Envelope<Person> = parse("v2-person-get-response.json");
        assert_eq!(person.data.primary_email(), Some("email1@email.com"));
        let product: Envelope<Product> = parse("v2-product-get-response.json");
        assert_eq!(product.data.code.as_deref(), Some("MPENCIL"));
        assert_eq!(product.data.prices[0].price, Some(dec!(5)));
    }

    #[test]
    fn pipedrive_field_fixtures() {
        let deal_fields: Envelope<Vec<FieldDefinition>> = parse("v2-dealfields-list-response.json");
        let priority = &deal_fields.data[2];
        assert!(priority.is_custom_field);
        assert_eq!(priority.options.as_ref().unwrap().len(), 3);
        let org_fields: Envelope<Vec<FieldDefinition>> =
            parse("v2-organizationfields-list-response.json");
        assert_eq!(org_fields.data[1].field_type, "address");
        let v1: Envelope<Vec<FieldDefinition>> =
            serde_json::from_str(&fixture("v1-fields-list-response.json")).unwrap_or_else(|e| {
                panic!("v1 fields: {e}");
            });
        assert_eq!(
            v1.data[1].field_code,
            "9dc80c50d78a15643bfc4ca79d76156a73a1ca0e"
        );
        assert!(v1.data[1].is_custom_field);
    }

    #[test]
    fn pipedrive_custom_field_values_read_plain_or_wrapped() {
        let fields: CustomFields = serde_json::from_value(serde_json::json!({
            "a": "DE123",
            "b": {"value": "FR456", "currency": null},
            "c": 500,
            "d": null,
            "e": "  "
        }))
        .unwrap();
        assert_eq!(fields.text("a").as_deref(), Some("DE123"));
        assert_eq!(fields.text("b").as_deref(), Some("FR456"));
        assert_eq!(fields.text("c").as_deref(), Some("500"));
        assert_eq!(fields.text("d"), None);
        assert_eq!(fields.text("e"), None);
    }
}
