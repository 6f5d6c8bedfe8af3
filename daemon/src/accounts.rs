//! User accounts: the operations the HTTP API and the control API both call, with their
//! validation, so no rule about users is written twice.

use std::sync::Arc;

use base64::Engine as _;

use crate::auth::{Authenticator, hash_password};
use crate::sessions::{SessionError, SessionManager};
use crate::store::users::{NewUser, User, UserChanges, UserStoreError};
use crate::store::{self, Db, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("username '{0}' is already taken")]
    UsernameTaken(String),
    #[error("session name '{0}' is already used by another user or an admin session")]
    SessionNameTaken(String),
    #[error("user {0} does not exist")]
    UserNotFound(String),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<UserStoreError> for AccountError {
    fn from(error: UserStoreError) -> Self {
        match error {
            UserStoreError::UsernameTaken(name) => AccountError::UsernameTaken(name),
            UserStoreError::SessionNameTaken(name) => AccountError::SessionNameTaken(name),
            UserStoreError::Store(e) => AccountError::Store(e),
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> AccountError {
    AccountError::Invalid {
        field,
        message: message.into(),
    }
}

/// Session names end up in file names, so they are kept to a safe alphabet.
pub fn validate_session_name(field: &'static str, name: &str) -> Result<(), AccountError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!(
                "'{name}' is not a valid session name: use 1-64 letters, digits, '_', '-' or '.'"
            ),
        ))
    }
}

fn validate_username(name: &str, admin_user: &str) -> Result<(), AccountError> {
    if name.chars().count() < 3 {
        return Err(invalid("username", "must be at least 3 characters"));
    }
    if name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        || name.starts_with('.')
    {
        return Err(invalid(
            "username",
            "use up to 64 letters, digits, '_', '-' or '.'",
        ));
    }
    if name == admin_user {
        return Err(AccountError::UsernameTaken(name.to_string()));
    }
    Ok(())
}

fn validate_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < 4 {
        return Err(invalid("password", "must be at least 4 characters"));
    }
    // bcrypt reads only the first 72 bytes; longer passwords would silently be truncated.
    if password.len() > 72 {
        return Err(invalid("password", "must be at most 72 bytes"));
    }
    Ok(())
}

/// A webhook URL: http or https, with a host.
pub fn validate_callback_url(url: &str) -> Result<(), AccountError> {
    match url::Url::parse(url) {
        Ok(parsed)
            if matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some() =>
        {
            Ok(())
        }
        _ => Err(invalid(
            "callback_url",
            format!("'{url}' is not an http:// or https:// URL"),
        )),
    }
}

/// A Standard Webhooks signing secret: `whsec_` and base64 of 24 to 64 random bytes.
pub fn validate_webhook_secret(secret: &str) -> Result<(), AccountError> {
    let decoded = secret
        .strip_prefix("whsec_")
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok());
    match decoded {
        Some(key) if (24..=64).contains(&key.len()) => Ok(()),
        _ => Err(invalid(
            "webhook_secret",
            "must be 'whsec_' followed by base64 of 24 to 64 random bytes",
        )),
    }
}

/// A new signing secret in the Standard Webhooks format.
pub fn new_webhook_secret() -> String {
    let key: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// An optional text field from a request: blank means "clear it".
fn blank_to_none(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

#[derive(Debug, Clone, Default)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    pub session_name: Option<String>,
    pub callback_url: Option<String>,
    pub oauth_login: Option<String>,
    pub oauth_password: Option<String>,
    pub webhook_secret: Option<String>,
}

/// A settings change: `None` leaves a field alone; `Some(None)` or `Some(Some(""))` clears it.
#[derive(Debug, Clone, Default)]
pub struct SettingsUpdate {
    pub session_name: Option<Option<String>>,
    pub callback_url: Option<Option<String>>,
    pub oauth_login: Option<Option<String>>,
    pub oauth_password: Option<Option<String>>,
    pub webhook_secret: Option<Option<String>>,
}

pub struct Accounts {
    db: Arc<Db>,
    auth: Arc<Authenticator>,
    sessions: Arc<SessionManager>,
    allow_private_callbacks: bool,
}

impl Accounts {
    pub fn new(db: Arc<Db>, auth: Arc<Authenticator>, sessions: Arc<SessionManager>) -> Accounts {
        Accounts {
            db,
            auth,
            sessions,
            allow_private_callbacks: true,
        }
    }

    /// Refuses callback URLs on loopback or private networks (`WAGW_WEBHOOK_ALLOW_PRIVATE=false`).
    pub fn with_private_callbacks(mut self, allow: bool) -> Accounts {
        self.allow_private_callbacks = allow;
        self
    }

    fn check_callback(&self, url: &str) -> Result<(), AccountError> {
        validate_callback_url(url)?;
        let private = url::Url::parse(url).is_ok_and(|u| crate::webhooks::policy::is_private(&u));
        if private && !self.allow_private_callbacks {
            return Err(invalid(
                "callback_url",
                format!(
                    "'{url}' points at this machine or a private network, which this host refuses"
                ),
            ));
        }
        Ok(())
    }

    pub async fn list(&self) -> Result<Vec<User>, AccountError> {
        Ok(self.db.call(|c| store::users::list(c)).await?)
    }

    pub async fn get(&self, id: i64) -> Result<User, AccountError> {
        self.db
            .call(move |c| store::users::get(c, id))
            .await?
            .ok_or_else(|| AccountError::UserNotFound(id.to_string()))
    }

    pub async fn find(&self, username: &str) -> Result<User, AccountError> {
        let name = username.to_string();
        self.db
            .call(move |c| store::users::find_by_username(c, &name))
            .await?
            .map(|(user, _)| user)
            .ok_or_else(|| AccountError::UserNotFound(format!("'{username}'")))
    }

    pub async fn create(&self, request: CreateUser) -> Result<User, AccountError> {
        let username = request.username.trim().to_string();
        validate_username(&username, self.auth.admin_user())?;
        validate_password(&request.password)?;
        let session_name = blank_to_none(request.session_name);
        if let Some(name) = &session_name {
            validate_session_name("session_name", name)?;
        }
        let callback_url = blank_to_none(request.callback_url);
        if let Some(url) = &callback_url {
            self.check_callback(url)?;
        }
        let webhook_secret = blank_to_none(request.webhook_secret);
        if let Some(secret) = &webhook_secret {
            validate_webhook_secret(secret)?;
        }
        let new = NewUser {
            username,
            password_hash: hash_password(request.password).await?,
            session_name,
            callback_url,
            oauth_login: blank_to_none(request.oauth_login),
            oauth_password: blank_to_none(request.oauth_password),
            webhook_secret,
        };
        self.db
            .call(move |c| store::users::create(c, &new).map_err(AccountError::from))
            .await
    }

    pub async fn set_password(&self, id: i64, password: String) -> Result<(), AccountError> {
        validate_password(&password)?;
        let hash = hash_password(password).await?;
        if !self
            .db
            .call(move |c| store::users::set_password_hash(c, id, &hash))
            .await?
        {
            return Err(AccountError::UserNotFound(id.to_string()));
        }
        self.auth.forget_user(id);
        Ok(())
    }

    pub async fn update(&self, id: i64, update: SettingsUpdate) -> Result<User, AccountError> {
        let current = self.get(id).await?;
        let session_name = update.session_name.map(blank_to_none);
        if let Some(Some(name)) = &session_name {
            validate_session_name("session_name", name)?;
        }
        if let Some(new_name) = &session_name {
            let renamed = new_name.as_deref().unwrap_or(&current.username) != current.session;
            if renamed && self.session_exists(&current.session).await? {
                return Err(invalid(
                    "session_name",
                    format!(
                        "session '{}' exists; log it out before renaming it",
                        current.session
                    ),
                ));
            }
        }
        let callback_url = update.callback_url.map(blank_to_none);
        if let Some(Some(url)) = &callback_url {
            self.check_callback(url)?;
        }
        let webhook_secret = update.webhook_secret.map(blank_to_none);
        if let Some(Some(secret)) = &webhook_secret {
            validate_webhook_secret(secret)?;
        }
        let changes = UserChanges {
            session_name,
            callback_url,
            oauth_login: update.oauth_login.map(blank_to_none),
            oauth_password: update.oauth_password.map(blank_to_none),
            webhook_secret,
        };
        let user = self
            .db
            .call(move |c| store::users::update(c, id, &changes).map_err(AccountError::from))
            .await?
            .ok_or_else(|| AccountError::UserNotFound(id.to_string()))?;
        self.auth.refresh_user(&user);
        Ok(user)
    }

    async fn session_exists(&self, name: &str) -> Result<bool, AccountError> {
        let name = name.to_string();
        Ok(self
            .db
            .call(move |c| store::sessions::get(c, &name))
            .await?
            .is_some())
    }

    /// Deletes a user, logging out and removing their session first.
    pub async fn delete(&self, id: i64) -> Result<User, AccountError> {
        let user = self.get(id).await?;
        match self.sessions.logout(&user.session).await {
            Ok(()) | Err(SessionError::NotFound(_)) => {}
            Err(error) => return Err(error.into()),
        }
        let session = user.session.clone();
        self.db
            .call(move |c| {
                store::messages::delete_session(c, &session)?;
                store::users::delete(c, id)
            })
            .await?;
        self.auth.forget_user(id);
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Session names become file names: whatever is accepted cannot leave its directory.
        #[test]
        fn accepted_session_names_are_safe_file_names(name in "\\PC{0,70}|[a-zA-Z0-9._/-]{0,70}") {
            if validate_session_name("session", &name).is_ok() {
                proptest::prop_assert!(!name.contains('/') && !name.starts_with('.') && !name.is_empty());
                proptest::prop_assert!(name.len() <= 64);
            }
        }

        #[test]
        fn accepted_callbacks_are_http_with_a_host(url in "\\PC{0,50}|(https?|ftp|file)://\\PC{0,30}") {
            if validate_callback_url(&url).is_ok() {
                let parsed = url::Url::parse(&url).unwrap();
                proptest::prop_assert!(matches!(parsed.scheme(), "http" | "https"));
                proptest::prop_assert!(parsed.host_str().is_some_and(|h| !h.is_empty()));
            }
        }

        #[test]
        fn webhook_secrets_round_trip(key in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(&key));
            proptest::prop_assert_eq!(validate_webhook_secret(&secret).is_ok(), (24..=64).contains(&key.len()));
            if validate_webhook_secret(&secret).is_ok() {
                proptest::prop_assert!(crate::webhooks::signing::SigningKey::parse(&secret).is_some());
            }
        }

        #[test]
        fn secret_checks_never_panic(secret in "(whsec_)?\\PC{0,60}") {
            let _ = validate_webhook_secret(&secret);
            let _ = crate::webhooks::signing::SigningKey::parse(&secret);
        }
    }

    #[test]
    fn session_names() {
        for ok in ["john", "sales_team", "a", "x.y-z"] {
            validate_session_name("session", ok).unwrap();
        }
        for bad in [
            "",
            "../etc",
            "a/b",
            ".hidden",
            "with space",
            &"x".repeat(65),
        ] {
            assert!(validate_session_name("session", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames_and_passwords() {
        assert!(validate_username("jo", "admin").is_err());
        assert!(matches!(
            validate_username("admin", "admin"),
            Err(AccountError::UsernameTaken(_))
        ));
        validate_username("john", "admin").unwrap();
        assert!(validate_password("abc").is_err());
        validate_password("abcd").unwrap();
        assert!(validate_password(&"x".repeat(73)).is_err());
    }

    #[test]
    fn webhook_secrets_and_urls() {
        validate_webhook_secret(&new_webhook_secret()).unwrap();
        assert!(validate_webhook_secret("whsec_short").is_err());
        assert!(validate_webhook_secret("secret").is_err());
        validate_callback_url("https://example.com/hook").unwrap();
        assert!(validate_callback_url("ftp://example.com").is_err());
        assert!(validate_callback_url("not a url").is_err());
    }
}
