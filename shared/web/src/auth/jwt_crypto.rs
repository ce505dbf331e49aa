//! jsonwebtoken's cryptography for the one algorithm Pipedrive signs its tokens with, HS256, on
//! RustCrypto's `hmac` and `sha2` (which the webhook signatures already use).
//!
//! jsonwebtoken's own providers bring every JWS algorithm: its aws-lc provider links aws-lc into
//! every function for RSA, ECDSA and EdDSA keys we never hold and tokens we refuse anyway, and
//! its RustCrypto provider compiles the RSA and elliptic-curve crates. This provider signs and
//! verifies HS256 and answers any other algorithm with `InvalidAlgorithm` (verification asks for
//! HS256 only in the first place: `verify_pipedrive_jwt`).

use std::sync::Once;

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use sha2::Sha256;

static HS256_ONLY: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes HS256-on-RustCrypto jsonwebtoken's provider for this process. Call it before the first
/// `jsonwebtoken::encode`/`decode` (jsonwebtoken fixes its provider at first use);
/// [`crate::auth::verify_pipedrive_jwt`] and the test helpers do. Cheap after the first call.
pub fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // `Err` means a provider was installed before us; there is only ours in this workspace.
        let _ = HS256_ONLY.install_default();
    });
}

/// HMAC-SHA256 keyed with the shared secret.
struct Hs256(Hmac<Sha256>);

impl Hs256 {
    fn new(secret: &[u8]) -> Result<Self, Error> {
        Hmac::<Sha256>::new_from_slice(secret)
            .map(Hs256)
            .map_err(|_| ErrorKind::InvalidKeyFormat.into())
    }

    fn mac(&self, message: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(message);
        mac
    }
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    if *algorithm != Algorithm::HS256 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    if key.family() != AlgorithmFamily::Hmac {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    Ok(Box::new(Hs256::new(key.as_bytes())?))
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    if *algorithm != Algorithm::HS256 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    if key.family() != AlgorithmFamily::Hmac {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    Ok(Box::new(Hs256::new(key.try_get_as_bytes()?)?))
}

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.mac(message).finalize().into_bytes().to_vec())
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, message: &[u8], tag: &Vec<u8>) -> Result<(), signature::Error> {
        // `verify_slice` compares in constant time.
        self.mac(message)
            .verify_slice(tag)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Header, Validation};
    use serde_json::{Value, json};

    #[test]
    fn signs_and_verifies_hs256_like_the_rfc_7515_example() {
        install();
        // RFC 7515 appendix A.1: the HS256 example's key and signing input give its signature.
        let key = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
        )
        .expect("the RFC's key");
        let input = b"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let signature =
            jsonwebtoken::crypto::sign(input, &EncodingKey::from_secret(&key), Algorithm::HS256)
                .expect("signs");
        assert_eq!(signature, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        let decoding = DecodingKey::from_secret(&key);
        assert_eq!(
            jsonwebtoken::crypto::verify(&signature, input, &decoding, Algorithm::HS256).ok(),
            Some(true)
        );
        assert_eq!(
            jsonwebtoken::crypto::verify(&signature, b"other input", &decoding, Algorithm::HS256)
                .ok(),
            Some(false)
        );
    }

    #[test]
    fn other_algorithms_are_not_offered() {
        install();
        let key = EncodingKey::from_secret(b"secret");
        let refused = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &json!({}), &key)
            .expect_err("HS512");
        assert_eq!(refused.kind(), &ErrorKind::InvalidAlgorithm);
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &json!({"exp": 4102444800u64}),
            &key,
        )
        .expect("HS256");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256, Algorithm::HS384];
        let decoded = jsonwebtoken::decode::<Value>(
            &token,
            &DecodingKey::from_secret(b"secret"),
            &validation,
        )
        .expect("verifies");
        assert_eq!(decoded.claims["exp"], 4102444800u64);
    }
}
