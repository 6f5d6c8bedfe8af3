//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): receivers verify them with
//! the official libraries.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// A signing key decoded from its `whsec_…` form.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// `None` for anything that is not `whsec_` and base64.
    pub fn parse(secret: &str) -> Option<SigningKey> {
        let raw = secret.trim().strip_prefix("whsec_")?;
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .ok()
            .filter(|k| !k.is_empty())
            .map(SigningKey)
    }

    /// The `webhook-signature` header value for a message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes keys of any length; this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        )
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_specification_example() {
        // The example from the Standard Webhooks specification.
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = key.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn bad_secrets_are_refused() {
        assert!(SigningKey::parse("secret").is_none());
        assert!(SigningKey::parse("whsec_!!!").is_none());
        assert!(SigningKey::parse("whsec_").is_none());
    }
}
