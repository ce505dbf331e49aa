//! Pipedrive's signed tokens: the `token` query parameter of an iframe URL and the token the
//! app-extensions SDK hands out (`GET_SIGNED_TOKEN`, valid 5 minutes). HS256 only, `exp` required,
//! a small leeway, claims `companyId` / `userId` as numbers or numeric strings. A verified token is
//! the only source of the caller's [`Tenant`].

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Deserializer};

use domain::{Clock, CompanyId, SecretString, UserId};
use serde::Serialize;

use crate::error::ApiError;

/// Who is calling, as proven by a verified Pipedrive JWT. Every `/api/*` route is scoped by this,
/// never by a query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tenant {
    pub company_id: CompanyId,
    pub user_id: UserId,
}

/// Clock skew we tolerate on `exp` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// The key that verifies Pipedrive's tokens: the extension's JWT secret, or the app's client
/// secret when no JWT secret is configured (as Pipedrive documents).
#[derive(Clone)]
pub struct JwtKeys {
    key: DecodingKey,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(***)")
    }
}

impl JwtKeys {
    pub fn new(secret: &SecretString) -> Self {
        JwtKeys {
            key: DecodingKey::from_secret(secret.expose().as_bytes()),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("the token is missing")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is signed with an algorithm we do not accept")]
    WrongAlgorithm,
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("the token lacks the claim {0}")]
    MissingClaim(&'static str),
    #[error("the token is malformed")]
    Malformed,
}

fn id_from_number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrString {
        Number(u64),
        String(String),
    }
    match Option::<NumberOrString>::deserialize(d)? {
        None => Ok(None),
        Some(NumberOrString::Number(n)) => Ok(Some(n)),
        Some(NumberOrString::String(s)) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("id is not a number")),
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(
        rename = "companyId",
        default,
        deserialize_with = "id_from_number_or_string"
    )]
    company_id: Option<u64>,
    #[serde(
        rename = "userId",
        default,
        deserialize_with = "id_from_number_or_string"
    )]
    user_id: Option<u64>,
    #[serde(default)]
    iat: Option<i64>,
}

/// Verifies a Pipedrive token and returns the tenant it proves.
pub fn verify_pipedrive_jwt(
    token: &str,
    keys: &JwtKeys,
    now: DateTime<Utc>,
) -> Result<Tenant, JwtError> {
    if token.is_empty() {
        return Err(JwtError::Missing);
    }
    crate::auth::jwt_crypto::install();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp"]);
    validation.leeway = LEEWAY_SECS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Claims>(token, &keys.key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::ExpiredSignature => JwtError::Expired,
            ErrorKind::ImmatureSignature => JwtError::NotYetValid,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                JwtError::WrongAlgorithm
            }
            ErrorKind::InvalidSignature => JwtError::BadSignature,
            ErrorKind::MissingRequiredClaim(_) => JwtError::MissingClaim("exp"),
            _ => JwtError::Malformed,
        }
    })?;
    let claims = data.claims;
    if let Some(iat) = claims.iat
        && iat > now.timestamp() + LEEWAY_SECS as i64
    {
        return Err(JwtError::NotYetValid);
    }
    let company_id = claims
        .company_id
        .ok_or(JwtError::MissingClaim("companyId"))?;
    let user_id = claims.user_id.ok_or(JwtError::MissingClaim("userId"))?;
    Ok(Tenant {
        company_id: CompanyId(company_id),
        user_id: UserId(user_id),
    })
}

impl From<JwtError> for ApiError {
    fn from(error: JwtError) -> Self {
        let hint = match error {
            JwtError::Expired => " Reload the page to get a new one.",
            _ => "",
        };
        ApiError::Unauthorized(format!(
            "Pipedrive's signed token was refused: {error}.{hint}"
        ))
    }
}

/// Extracts the verified tenant from `Authorization: Bearer <Pipedrive token>`. Tokens in the
/// query string are not accepted on API routes (they leak into logs and referrers).
impl<S> FromRequestParts<S> for Tenant
where
    S: Send + Sync,
    JwtKeys: FromRef<S>,
    Clock: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keys = JwtKeys::from_ref(state);
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(JwtError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(JwtError::Missing)?
            .trim();
        let tenant = verify_pipedrive_jwt(token, &keys, Clock::from_ref(state).now())?;
        tracing::Span::current().record("company_id", tenant.company_id.0);
        Ok(tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &str = "jwt-secret-for-tests";

    fn keys() -> JwtKeys {
        JwtKeys::new(&SecretString::new(SECRET))
    }

    fn sign(alg: Algorithm, claims: serde_json::Value, secret: &str) -> String {
        crate::auth::jwt_crypto::install();
        encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn now() -> i64 {
        Utc::now().timestamp()
    }

    fn valid_claims() -> serde_json::Value {
        json!({"userId": 777, "companyId": 54235233, "iat": now(), "exp": now() + 300})
    }

    #[test]
    fn a_valid_token_yields_its_tenant() {
        let token = sign(Algorithm::HS256, valid_claims(), SECRET);
        let tenant = verify_pipedrive_jwt(&token, &keys(), Utc::now()).unwrap();
        assert_eq!(tenant.company_id, CompanyId(54235233));
        assert_eq!(tenant.user_id, UserId(777));
    }

    #[test]
    fn claims_as_strings_are_accepted() {
        let claims = json!({"userId": "777", "companyId": "54235233", "exp": now() + 300});
        let token = sign(Algorithm::HS256, claims, SECRET);
        let tenant = verify_pipedrive_jwt(&token, &keys(), Utc::now()).unwrap();
        assert_eq!(tenant.company_id, CompanyId(54235233));
    }

    #[test]
    fn non_numeric_ids_are_malformed() {
        let claims = json!({"userId": "abc", "companyId": "1", "exp": now() + 300});
        let token = sign(Algorithm::HS256, claims, SECRET);
        assert_eq!(
            verify_pipedrive_jwt(&token, &keys(), Utc::now()),
            Err(JwtError::Malformed)
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        let claims = json!({"userId": 1, "companyId": 2, "exp": now() - 120});
        let token = sign(Algorithm::HS256, claims, SECRET);
        assert_eq!(
            verify_pipedrive_jwt(&token, &keys(), Utc::now()),
            Err(JwtError::Expired)
        );
    }

    #[test]
    fn expiry_within_the_leeway_is_tolerated() {
        let claims = json!({"userId": 1, "companyId": 2, "exp": now() - 5});
        let token = sign(Algorithm::HS256, claims, SECRET);
        assert!(verify_pipedrive_jwt(&token, &keys(), Utc::now()).is_ok());
    }

    #[test]
    fn a_token_issued_in_the_future_is_refused() {
        let claims = json!({"userId": 1, "companyId": 2, "iat": now() + 3600, "exp": now() + 7200});
        let token = sign(Algorithm::HS256, claims, SECRET);
        assert_eq!(
            verify_pipedrive_jwt(&token, &keys(), Utc::now()),
            Err(JwtError::NotYetValid)
        );
    }

    #[test]
    fn a_wrong_secret_is_refused() {
        let token = sign(Algorithm::HS256, valid_claims(), "another-secret");
        assert_eq!(
            verify_pipedrive_jwt(&token, &keys(), Utc::now()),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn alg_none_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(valid_claims().to_string());
        for token in [format!("{header}.{body}."), format!("{header}.{body}")] {
            assert!(verify_pipedrive_jwt(&token, &keys(), Utc::now()).is_err());
        }
    }

    #[test]
    fn hs512_is_refused_even_with_the_right_secret() {
        // Signed by hand: the provider signs HS256 only.
        use hmac::{Hmac, Mac};
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(valid_claims().to_string())
        );
        let mut mac = Hmac::<sha2::Sha512>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(input.as_bytes());
        let token = format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(
            verify_pipedrive_jwt(&token, &keys(), Utc::now()),
            Err(JwtError::WrongAlgorithm)
        );
    }

    #[test]
    fn an_rs256_header_is_refused() {
        // Key confusion: an RS256 header over an HMAC signature made with the secret.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(valid_claims().to_string());
        let token = format!("{header}.{body}.c2lnbmF0dXJl");
        assert_eq!(
            verify_pipedrive_jwt(&token, &keys(), Utc::now()),
            Err(JwtError::WrongAlgorithm)
        );
    }

    #[test]
    fn missing_claims_are_refused() {
        let no_exp = sign(
            Algorithm::HS256,
            json!({"userId": 1, "companyId": 2}),
            SECRET,
        );
        assert_eq!(
            verify_pipedrive_jwt(&no_exp, &keys(), Utc::now()),
            Err(JwtError::MissingClaim("exp"))
        );
        let no_company = sign(
            Algorithm::HS256,
            json!({"userId": 1, "exp": now() + 60}),
            SECRET,
        );
        assert_eq!(
            verify_pipedrive_jwt(&no_company, &keys(), Utc::now()),
            Err(JwtError::MissingClaim("companyId"))
        );
        let no_user = sign(
            Algorithm::HS256,
            json!({"companyId": 1, "exp": now() + 60}),
            SECRET,
        );
        assert_eq!(
            verify_pipedrive_jwt(&no_user, &keys(), Utc::now()),
            Err(JwtError::MissingClaim("userId"))
        );
    }

    #[test]
    fn tampered_claims_break_the_signature() {
        let token = sign(Algorithm::HS256, valid_claims(), SECRET);
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims = valid_claims();
        claims["companyId"] = json!(1);
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            parts[2]
        );
        assert_eq!(
            verify_pipedrive_jwt(&forged, &keys(), Utc::now()),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn a_token_for_company_a_never_yields_company_b() {
        for company in [1u64, 2, 54235233, u64::MAX] {
            let claims = json!({"userId": 5, "companyId": company, "exp": now() + 60});
            let token = sign(Algorithm::HS256, claims, SECRET);
            let tenant = verify_pipedrive_jwt(&token, &keys(), Utc::now()).unwrap();
            assert_eq!(tenant.company_id, CompanyId(company));
        }
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for token in ["", "a", "a.b", "a.b.c", "....", "eyJ.eyJ.sig", "\u{0}"] {
            assert!(verify_pipedrive_jwt(token, &keys(), Utc::now()).is_err());
        }
    }
}
