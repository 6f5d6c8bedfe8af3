//! OAuth2 client-credentials tokens for per-user webhooks, fetched from
//! `{origin of callback_url}/oauth/token` and cached per user.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use url::Url;

/// Tokens this close to expiry are renewed before use.
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// Assumed lifetime when the token endpoint does not say.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// A user's OAuth settings, as read for one batch of deliveries.
#[derive(Clone)]
pub struct Credentials {
    pub login: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

struct Cached {
    /// Ties the token to the settings it was fetched with, so a settings change discards it.
    fingerprint: [u8; 32],
    token: String,
    expires_at: Instant,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Default)]
pub struct TokenCache {
    /// One slot per user, each behind its own lock: a slow token endpoint stalls only its user.
    slots: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<Option<Cached>>>>>,
}

/// `{origin}/oauth/token` for a callback URL.
pub fn token_url(callback: &Url) -> Option<Url> {
    let origin = callback.origin();
    if !origin.is_tuple() {
        return None;
    }
    Url::parse(&format!("{}/oauth/token", origin.ascii_serialization())).ok()
}

fn fingerprint(token_url: &Url, credentials: &Credentials) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in [
        token_url.as_str(),
        &credentials.login,
        &credentials.password,
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize().into()
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the callback URL has no origin to ask for a token")]
    NoOrigin,
    #[error("the token endpoint is unreachable ({0})")]
    Unreachable(&'static str),
    #[error("the token endpoint answered {0}")]
    Status(u16),
    #[error("the token endpoint's answer has no access_token")]
    BadAnswer,
}

impl TokenCache {
    fn slot(&self, user_id: i64) -> Arc<tokio::sync::Mutex<Option<Cached>>> {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(user_id)
            .or_default()
            .clone()
    }

    /// A valid token for the user, from the cache or freshly fetched.
    pub async fn token(
        &self,
        http: &reqwest::Client,
        user_id: i64,
        callback: &Url,
        credentials: &Credentials,
    ) -> Result<String, TokenError> {
        let url = token_url(callback).ok_or(TokenError::NoOrigin)?;
        let print = fingerprint(&url, credentials);
        let slot = self.slot(user_id);
        let mut cached = slot.lock().await;
        if let Some(entry) = cached.as_ref()
            && entry.fingerprint == print
            && entry.expires_at > Instant::now() + RENEW_BEFORE
        {
            return Ok(entry.token.clone());
        }
        *cached = None;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", credentials.login.as_str()),
            ("client_secret", credentials.password.as_str()),
        ];
        let response = http.post(url).form(&form).send().await.map_err(|e| {
            TokenError::Unreachable(if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "connection failed"
            } else {
                "request failed"
            })
        })?;
        if !response.status().is_success() {
            return Err(TokenError::Status(response.status().as_u16()));
        }
        let answer: TokenAnswer = response.json().await.map_err(|_| TokenError::BadAnswer)?;
        if answer.access_token.is_empty() {
            return Err(TokenError::BadAnswer);
        }
        let token = answer.access_token;
        *cached = Some(Cached {
            fingerprint: print,
            token: token.clone(),
            expires_at: expiry(Instant::now(), answer.expires_in),
        });
        Ok(token)
    }

    /// Forgets a user's token, after the receiver refused it or the user's settings changed.
    pub fn forget(&self, user_id: i64) {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&user_id);
    }
}

/// When a token answered at `now` with `expires_in` expires. The token endpoint is not trusted:
/// a huge `expires_in` would overflow `Instant` (a panic in the delivery worker), so lifetimes
/// are capped at a year.
fn expiry(now: Instant, expires_in: Option<u64>) -> Instant {
    const LONGEST_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
    let lifetime = expires_in
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LIFETIME)
        .min(LONGEST_LIFETIME);
    now + lifetime
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_expires_in_gives_an_expiry_after_now(expires_in in proptest::option::of(proptest::num::u64::ANY)) {
            let now = Instant::now();
            let at = expiry(now, expires_in);
            proptest::prop_assert!(at >= now);
            let wanted = expires_in.map_or(DEFAULT_LIFETIME, Duration::from_secs);
            proptest::prop_assert!(at - now <= wanted);
        }
    }

    #[test]
    fn token_url_is_at_the_origin() {
        let url = token_url(&Url::parse("https://example.com:8443/a/b?x=1").unwrap()).unwrap();
        assert_eq!(url.as_str(), "https://example.com:8443/oauth/token");
    }

    #[test]
    fn settings_changes_change_the_fingerprint() {
        let url = Url::parse("http://h/oauth/token").unwrap();
        let a = Credentials {
            login: "id".into(),
            password: "one".into(),
        };
        let b = Credentials {
            login: "id".into(),
            password: "two".into(),
        };
        assert_ne!(fingerprint(&url, &a), fingerprint(&url, &b));
        assert!(
            !format!("{a:?}").contains("one"),
            "secrets stay out of debug output"
        );
    }
}
