//! HTTP Basic authentication: admin from the environment, users by bcrypt, a short-lived cache of
//! verified credentials, and a lockout that slows and then refuses repeated failures.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::Semaphore;

use crate::config::{Config, DEFAULT_ADMIN_PASSWORD};
use crate::store::{self, Db, StoreError, users::User};

/// bcrypt cost for new hashes: about 50 ms here, so logins stay cheap but guessing does not.
pub const BCRYPT_COST: u32 = 10;

/// A cost-10 hash of a phrase no one uses. Hashing one at start-up cost ~60 ms of boot time; a
/// decoy needs the right cost, not secrecy. `decoy_hash_has_the_users_cost` keeps them in step.
const DECOY_HASH: &str = "$2b$10$a/r.AIiv4JQOZU.De3cTFel4GVc5L0kEIoLsnd6Nhg/A5kWumXrcm";

/// Who is making a request.
#[derive(Debug, Clone)]
pub enum Caller {
    Admin,
    User(User),
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        matches!(self, Caller::Admin)
    }

    pub fn username<'a>(&'a self, admin_user: &'a str) -> &'a str {
        match self {
            Caller::Admin => admin_user,
            Caller::User(user) => &user.username,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("authentication required: send HTTP Basic credentials")]
    Missing,
    #[error("the Authorization header is not valid HTTP Basic credentials")]
    Malformed,
    #[error("invalid username or password")]
    Invalid,
    #[error(
        "the default admin password is accepted only from this machine; set ADMIN_PASSWORD to log in remotely"
    )]
    DefaultAdminRemote,
    #[error("too many failed logins; try again in {} seconds", retry_after.as_secs().max(1))]
    LockedOut { retry_after: Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Hashes a password with bcrypt on the blocking pool.
pub async fn hash_password(password: String) -> Result<String, StoreError> {
    tokio::task::spawn_blocking(move || bcrypt::hash(password, BCRYPT_COST))
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
        .map_err(|e| StoreError::Task(format!("bcrypt: {e}")))
}

type CacheKey = [u8; 32];

struct CachedCredential {
    user: User,
    expires: Instant,
}

#[derive(Default)]
struct Failures {
    count: u32,
    window_start: Option<Instant>,
    locked_until: Option<Instant>,
}

/// Failure limits: after this many failures in [`FAILURE_WINDOW`], the key is locked.
const USER_FAILURE_LIMIT: u32 = 5;
const ADDRESS_FAILURE_LIMIT: u32 = 20;
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
const FIRST_LOCK: Duration = Duration::from_secs(30);
const LONGEST_LOCK: Duration = Duration::from_secs(15 * 60);
/// At most this many bcrypt verifications run at once, so a flood of guesses cannot eat every core.
const CONCURRENT_VERIFICATIONS: usize = 2;

pub struct Authenticator {
    admin_user: String,
    admin_password: Option<String>,
    db: Arc<Db>,
    cache_ttl: Duration,
    /// Key for hashing credentials into cache keys, fresh in every process.
    cache_secret: [u8; 32],
    cache: Mutex<HashMap<CacheKey, CachedCredential>>,
    failures: Mutex<HashMap<String, Failures>>,
    verifications: Semaphore,
    /// A real hash to verify against for unknown usernames, so timing does not reveal them.
    decoy_hash: &'static str,
}

impl Authenticator {
    pub fn new(config: &Config, db: Arc<Db>) -> Authenticator {
        Authenticator {
            admin_user: config.admin_user.clone(),
            admin_password: config.admin_password.clone(),
            db,
            cache_ttl: config.auth_cache_ttl,
            cache_secret: rand::random(),
            cache: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            verifications: Semaphore::new(CONCURRENT_VERIFICATIONS),
            decoy_hash: DECOY_HASH,
        }
    }

    pub fn admin_user(&self) -> &str {
        &self.admin_user
    }

    /// Authenticates an `Authorization` header value from a client at `peer`.
    pub async fn authenticate(
        &self,
        header: Option<&str>,
        peer: IpAddr,
    ) -> Result<Caller, AuthError> {
        let (username, password) = parse_basic(header.ok_or(AuthError::Missing)?)?;

        if username == self.admin_user {
            return self.authenticate_admin(&username, &password, peer).await;
        }

        let key = self.cache_key(&username, &password);
        if let Some(user) = self.cached(&key) {
            return Ok(Caller::User(user));
        }
        self.check_lockout(&username, peer)?;

        let found = {
            let username = username.clone();
            self.db
                .call(move |conn| store::users::find_by_username(conn, &username))
                .await?
        };
        let hash = found
            .as_ref()
            .map(|(_, s)| s.password_hash.clone())
            .unwrap_or_else(|| self.decoy_hash.to_string());
        let failures = {
            let Ok(_permit) = self.verifications.acquire().await else {
                return Err(AuthError::Invalid);
            };
            // Requests queued behind the permit check again: a lock set while they waited stops
            // them here, before bcrypt. The failure is counted while the permit is held, so at
            // most USER_FAILURE_LIMIT + CONCURRENT_VERIFICATIONS - 1 guesses reach bcrypt.
            self.check_lockout(&username, peer)?;
            if let Some(user) = self.cached(&key) {
                return Ok(Caller::User(user));
            }
            let verified = verify(password, hash).await && found.is_some();
            match found {
                Some((user, _)) if verified => {
                    self.clear_failures(&username);
                    self.remember(key, user.clone());
                    return Ok(Caller::User(user));
                }
                _ => self.record_failure(&username, peer),
            }
        };
        Err(self.slow_down(failures).await)
    }

    async fn authenticate_admin(
        &self,
        username: &str,
        password: &str,
        peer: IpAddr,
    ) -> Result<Caller, AuthError> {
        self.check_lockout(username, peer)?;
        let expected = self
            .admin_password
            .as_deref()
            .unwrap_or(DEFAULT_ADMIN_PASSWORD);
        if self.digest(password) != self.digest(expected) {
            let failures = self.record_failure(username, peer);
            return Err(self.slow_down(failures).await);
        }
        if self.admin_password.is_none() && !peer.is_loopback() {
            crate::metrics::auth_failure("default_admin_remote");
            return Err(AuthError::DefaultAdminRemote);
        }
        Ok(Caller::Admin)
    }

    /// Forgets every cached credential of a user: after a password change or deletion.
    pub fn forget_user(&self, user_id: i64) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, c| c.user.id != user_id);
    }

    fn digest(&self, value: &str) -> CacheKey {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.cache_secret).expect("any key length");
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn cache_key(&self, username: &str, password: &str) -> CacheKey {
        // The separator cannot appear in a Basic username, so pairs cannot collide.
        self.digest(&format!("{username}:{password}"))
    }

    fn cached(&self, key: &CacheKey) -> Option<User> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(key)
            .filter(|c| c.expires > Instant::now())
            .map(|c| c.user.clone())
    }

    fn remember(&self, key: CacheKey, user: User) {
        if self.cache_ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, c| c.expires > now);
        }
        cache.insert(
            key,
            CachedCredential {
                user,
                expires: now + self.cache_ttl,
            },
        );
    }

    /// Refreshes the user record held for cached credentials (after a settings change).
    pub fn refresh_user(&self, user: &User) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        for entry in cache.values_mut().filter(|c| c.user.id == user.id) {
            entry.user = user.clone();
        }
    }

    fn check_lockout(&self, username: &str, peer: IpAddr) -> Result<(), AuthError> {
        let now = Instant::now();
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let locked = [user_key(username), address_key(peer)]
            .iter()
            .filter_map(|k| failures.get(k)?.locked_until)
            .filter(|until| *until > now)
            .max();
        match locked {
            Some(until) => {
                crate::metrics::auth_failure("locked_out");
                Err(AuthError::LockedOut {
                    retry_after: until - now,
                })
            }
            None => Ok(()),
        }
    }

    /// Records a failure for the username and the address; returns the worse failure count,
    /// scaled to the username limit.
    fn record_failure(&self, username: &str, peer: IpAddr) -> u32 {
        crate::metrics::auth_failure("invalid_credentials");
        {
            let now = Instant::now();
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            if failures.len() > 10_000 {
                failures.retain(|_, f| f.window_start.is_some_and(|s| now - s < FAILURE_WINDOW));
            }
            let mut worst = 0;
            for (key, limit) in [
                (user_key(username), USER_FAILURE_LIMIT),
                (address_key(peer), ADDRESS_FAILURE_LIMIT),
            ] {
                let entry = failures.entry(key).or_default();
                if entry.window_start.is_none_or(|s| now - s > FAILURE_WINDOW) {
                    *entry = Failures {
                        window_start: Some(now),
                        ..Failures::default()
                    };
                }
                entry.count += 1;
                if entry.count >= limit {
                    let doublings = (entry.count - limit).min(10);
                    entry.locked_until =
                        Some(now + (FIRST_LOCK * 2u32.pow(doublings)).min(LONGEST_LOCK));
                }
                worst = worst.max(entry.count * USER_FAILURE_LIMIT / limit);
            }
            worst
        }
    }

    /// Answers a failure after a delay that grows with the failures, so guessing is slow even
    /// before the lock.
    async fn slow_down(&self, failures: u32) -> AuthError {
        tokio::time::sleep(Duration::from_millis(u64::from(failures.min(10)) * 100)).await;
        AuthError::Invalid
    }

    fn clear_failures(&self, username: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&user_key(username));
    }
}

/// One bcrypt verification on the blocking pool; callers hold a `verifications` permit.
async fn verify(password: String, hash: String) -> bool {
    crate::metrics::bcrypt_verification();
    tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
        .await
        .unwrap_or(false)
}

fn user_key(username: &str) -> String {
    format!("user:{username}")
}

fn address_key(peer: IpAddr) -> String {
    format!("addr:{peer}")
}

/// Splits `Basic base64(user:password)`.
fn parse_basic(header: &str) -> Result<(String, String), AuthError> {
    let (scheme, encoded) = header.trim().split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthError::Malformed);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| AuthError::Malformed)?;
    let text = String::from_utf8(decoded).map_err(|_| AuthError::Malformed)?;
    let (user, password) = text.split_once(':').ok_or(AuthError::Malformed)?;
    Ok((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoy_hash_has_the_users_cost() {
        let parts: bcrypt::HashParts = DECOY_HASH.parse().expect("a valid bcrypt hash");
        assert_eq!(parts.get_cost(), BCRYPT_COST);
        assert!(!bcrypt::verify("decoy", DECOY_HASH).unwrap());
    }
    use crate::store::users::NewUser;

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const REMOTE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

    async fn setup(vars: &[(&str, &str)]) -> (Authenticator, Arc<Db>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = Config::from_vars(&vars).unwrap();
        (Authenticator::new(&config, db.clone()), db, dir)
    }

    async fn add_user(db: &Db, name: &str, password: &str) -> User {
        let hash = hash_password(password.into()).await.unwrap();
        let new = NewUser {
            username: name.into(),
            password_hash: hash,
            ..NewUser::default()
        };
        db.call(move |c| store::users::create(c, &new).map_err(|e| StoreError::Task(e.to_string())))
            .await
            .unwrap()
    }

    proptest::proptest! {
        #[test]
        fn basic_headers_never_panic(header in "\\PC{0,80}") {
            let _ = parse_basic(&header);
        }

        #[test]
        fn basic_credentials_round_trip(
            user in "[^:\\x00]{0,20}",
            password in "\\PC{0,30}",
            scheme in "[bB][aA][sS][iI][cC]",
            spaces in " {0,2}",
        ) {
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            let header = format!("{spaces}{scheme} {encoded}{spaces}");
            proptest::prop_assert_eq!(parse_basic(&header).ok(), Some((user, password)));
        }

        #[test]
        fn other_schemes_are_malformed(scheme in "[A-Za-z]{1,10}", rest in "[A-Za-z0-9+/=]{0,20}") {
            proptest::prop_assume!(!scheme.eq_ignore_ascii_case("basic"));
            let header = format!("{scheme} {rest}");
            proptest::prop_assert!(matches!(parse_basic(&header), Err(AuthError::Malformed)));
        }
    }

    #[test]
    fn password_hashes_verify_and_differ() {
        let a = bcrypt::hash("pw", 4).unwrap();
        let b = bcrypt::hash("pw", 4).unwrap();
        assert_ne!(a, b, "salted");
        assert!(bcrypt::verify("pw", &a).unwrap());
        assert!(!bcrypt::verify("pW", &a).unwrap());
        assert!(a.starts_with("$2"));
    }

    #[tokio::test]
    async fn default_admin_only_from_loopback() {
        let (auth, _db, _dir) = setup(&[]).await;
        assert!(
            auth.authenticate(Some(&basic("admin", "admin")), LOOPBACK)
                .await
                .unwrap()
                .is_admin()
        );
        let err = auth
            .authenticate(Some(&basic("admin", "admin")), REMOTE)
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::DefaultAdminRemote), "{err}");
        assert!(err.to_string().contains("ADMIN_PASSWORD"));
    }

    #[tokio::test]
    async fn configured_admin_works_from_anywhere() {
        let (auth, _db, _dir) = setup(&[("ADMIN_PASSWORD", "s3cret")]).await;
        assert!(
            auth.authenticate(Some(&basic("admin", "s3cret")), REMOTE)
                .await
                .unwrap()
                .is_admin()
        );
        assert!(matches!(
            auth.authenticate(Some(&basic("admin", "admin")), LOOPBACK)
                .await,
            Err(AuthError::Invalid)
        ));
    }

    #[tokio::test]
    async fn users_by_bcrypt_and_malformed_headers() {
        let (auth, db, _dir) = setup(&[]).await;
        add_user(&db, "john", "password123").await;
        let caller = auth
            .authenticate(Some(&basic("john", "password123")), LOOPBACK)
            .await
            .unwrap();
        assert!(matches!(caller, Caller::User(u) if u.username == "john"));
        assert!(matches!(
            auth.authenticate(Some(&basic("john", "nope")), LOOPBACK)
                .await,
            Err(AuthError::Invalid)
        ));
        assert!(matches!(
            auth.authenticate(Some(&basic("ghost", "x")), LOOPBACK)
                .await,
            Err(AuthError::Invalid)
        ));
        assert!(matches!(
            auth.authenticate(None, LOOPBACK).await,
            Err(AuthError::Missing)
        ));
        assert!(matches!(
            auth.authenticate(Some("Bearer x"), LOOPBACK).await,
            Err(AuthError::Malformed)
        ));
        assert!(matches!(
            auth.authenticate(Some("Basic !!!"), LOOPBACK).await,
            Err(AuthError::Malformed)
        ));
    }

    #[tokio::test]
    async fn password_change_forgets_the_cached_credential() {
        let (auth, db, _dir) = setup(&[]).await;
        let john = add_user(&db, "john", "old-pass").await;
        auth.authenticate(Some(&basic("john", "old-pass")), LOOPBACK)
            .await
            .unwrap();
        // Change the hash behind the cache's back: the cached pair still works...
        let hash = hash_password("new-pass".into()).await.unwrap();
        db.call(move |c| store::users::set_password_hash(c, john.id, &hash))
            .await
            .unwrap();
        assert!(
            auth.authenticate(Some(&basic("john", "old-pass")), LOOPBACK)
                .await
                .is_ok()
        );
        // ...until the change is announced, as the API does on every password change.
        auth.forget_user(john.id);
        assert!(matches!(
            auth.authenticate(Some(&basic("john", "old-pass")), LOOPBACK)
                .await,
            Err(AuthError::Invalid)
        ));
        assert!(
            auth.authenticate(Some(&basic("john", "new-pass")), LOOPBACK)
                .await
                .is_ok()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn repeated_failures_lock_the_username_but_not_a_cached_login() {
        let (auth, db, _dir) = setup(&[]).await;
        add_user(&db, "john", "right-pass").await;
        auth.authenticate(Some(&basic("john", "right-pass")), LOOPBACK)
            .await
            .unwrap();
        for _ in 0..USER_FAILURE_LIMIT {
            let err = auth
                .authenticate(Some(&basic("john", "wrong")), REMOTE)
                .await
                .unwrap_err();
            assert!(matches!(err, AuthError::Invalid), "{err}");
        }
        let err = auth
            .authenticate(Some(&basic("john", "wrong")), REMOTE)
            .await
            .unwrap_err();
        let AuthError::LockedOut { retry_after } = err else {
            panic!("expected lockout, got {err}")
        };
        assert!(retry_after > Duration::ZERO && retry_after <= FIRST_LOCK);
        // Even the right password from a new place waits, unless it was verified recently.
        assert!(
            auth.authenticate(Some(&basic("john", "right-pass")), LOOPBACK)
                .await
                .is_ok()
        );
        auth.forget_user(1);
        assert!(matches!(
            auth.authenticate(Some(&basic("john", "right-pass")), LOOPBACK)
                .await,
            Err(AuthError::LockedOut { .. })
        ));
    }
}
