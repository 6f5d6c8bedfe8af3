//! The delivery worker. A scheduler finds targets with deliveries coming due; each target has its
//! own queue task, so a receiver that is slow or down holds up only its own deliveries.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

use super::oauth::{Credentials, TokenCache};
use super::signing::SigningKey;
use super::{GLOBAL_TARGET, Webhooks};
use crate::store::outbox::{self, Delivery, Outcome, now_ms};
use crate::store::{self, StoreError};

/// A receiver gets this long to answer, body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest wait between two tries of one delivery.
const LONGEST_RETRY: Duration = Duration::from_secs(3600);
/// Retries coming due close together are handled in one pass.
const TIMER_SLACK: Duration = Duration::from_millis(20);
/// A safety net: a scan for due deliveries at least this often, whatever else happens.
const RESCAN_EVERY: Duration = Duration::from_secs(60);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The worker's state once started.
pub(crate) struct Running {
    pub stop: CancellationToken,
    pub tasks: TaskTracker,
    pub sender: Arc<Sender>,
    hooks: Weak<Webhooks>,
}

impl Running {
    pub fn spawn_target(&self, key: String, wake: Arc<Notify>) {
        let Some(hooks) = self.hooks.upgrade() else {
            return;
        };
        self.tasks.spawn(target_queue(
            hooks,
            key,
            wake,
            self.sender.clone(),
            self.stop.clone(),
        ));
    }
}

/// Sends deliveries: the HTTP client, the OAuth token cache, and the global signing key.
pub(crate) struct Sender {
    http: reqwest::Client,
    pub tokens: TokenCache,
    global_key: Option<SigningKey>,
    first_retry: Duration,
    concurrency: usize,
    allow_private: bool,
}

pub(super) fn start(hooks: &Arc<Webhooks>) -> anyhow::Result<()> {
    crate::media::install_tls_provider();
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        // A webhook that redirects is misconfigured; following it would resend the body elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(hooks.settings.concurrency)
        .user_agent(concat!("wagw/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let sender = Sender {
        http,
        tokens: TokenCache::default(),
        global_key: hooks
            .settings
            .base_secret
            .as_deref()
            .and_then(SigningKey::parse),
        first_retry: hooks.settings.first_retry,
        concurrency: hooks.settings.concurrency,
        allow_private: hooks.settings.allow_private,
    };
    let running = Running {
        stop: CancellationToken::new(),
        tasks: TaskTracker::new(),
        sender: Arc::new(sender),
        hooks: Arc::downgrade(hooks),
    };
    let (stop, tasks) = (running.stop.clone(), running.tasks.clone());
    if hooks.running.set(running).is_err() {
        anyhow::bail!("the webhook worker is already running");
    }
    tasks.spawn(scheduler(hooks.clone(), stop));
    Ok(())
}

/// Wakes target queues whose deliveries are due, sleeps until the next one comes due, and
/// prunes delivered events past their retention.
async fn scheduler(hooks: Arc<Webhooks>, stop: CancellationToken) {
    let mut next_prune = Instant::now();
    loop {
        if Instant::now() >= next_prune {
            prune(&hooks).await;
            next_prune = Instant::now() + PRUNE_EVERY;
        }
        let mut wake_at = (Instant::now() + RESCAN_EVERY).min(next_prune);
        match hooks.db.call(|c| outbox::pending_targets(c)).await {
            Ok(pending) => {
                let now = now_ms();
                let mut due = Vec::new();
                for (key, at) in pending {
                    if at <= now {
                        due.push(key);
                    } else {
                        let later =
                            Instant::now() + Duration::from_millis((at - now) as u64) + TIMER_SLACK;
                        wake_at = wake_at.min(later);
                    }
                }
                hooks.wake(&due);
            }
            Err(error) => tracing::warn!(%error, "cannot read the webhook outbox"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = hooks.rescan.notified() => {}
            () = tokio::time::sleep_until(wake_at) => {}
        }
    }
}

async fn prune(hooks: &Webhooks) {
    let before = store::now() - hooks.settings.retention.as_secs() as i64;
    match hooks
        .db
        .call(move |c| outbox::prune_delivered(c, before))
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!("pruned {n} delivered webhook events past retention"),
        Err(error) => tracing::warn!(%error, "pruning webhook events failed"),
    }
}

/// One target's queue. Up to `concurrency` requests are in flight; each slot is refilled as soon
/// as it frees or a new event arrives. When the receiver looks unavailable the queue pauses
/// until its retry is due, instead of sending everything else into the same wall.
async fn target_queue(
    hooks: Arc<Webhooks>,
    key: String,
    wake: Arc<Notify>,
    sender: Arc<Sender>,
    stop: CancellationToken,
) {
    let mut in_flight: JoinSet<(String, Outcome)> = JoinSet::new();
    let mut sending: HashSet<String> = HashSet::new();
    let mut paused_until: Option<Instant> = None;
    let mut next_due: Option<Instant> = None;
    let mut fill = false;
    let mut stopping = false;
    loop {
        if fill && !stopping && paused_until.is_none_or(|at| at <= Instant::now()) {
            paused_until = None;
            fill = false;
            match sender
                .fill(&hooks, &key, &mut in_flight, &mut sending)
                .await
            {
                // Retries this queue scheduled come due on its own timer.
                Ok(later) => {
                    next_due = later.map(|at| {
                        Instant::now() + Duration::from_millis((at - now_ms()).max(0) as u64)
                    });
                }
                Err(error) => {
                    tracing::warn!(target = %key, %error, "cannot read the webhook outbox")
                }
            }
        }
        if stopping && in_flight.is_empty() {
            return;
        }
        let paused = sleep_until(paused_until);
        let due = sleep_until(next_due);
        tokio::select! {
            Some(first) = in_flight.join_next(), if !in_flight.is_empty() => {
                let mut done: Vec<(String, Outcome)> = first.into_iter().collect();
                while let Some(more) = in_flight.try_join_next() {
                    done.extend(more);
                }
                let mut retrying = false;
                for (id, outcome) in &done {
                    sending.remove(id);
                    crate::metrics::webhook_delivery(match outcome {
                        Outcome::Delivered { .. } => "delivered",
                        Outcome::Retry { .. } => "retry",
                        Outcome::Failed { .. } => "failed",
                    });
                    if let Outcome::Retry { status, next_attempt_at, .. } = outcome {
                        retrying = true;
                        if *status != Some(401) {
                            let wait = Duration::from_millis((*next_attempt_at - now_ms()).max(0) as u64);
                            let until = Instant::now() + wait;
                            paused_until = Some(paused_until.map_or(until, |p| p.min(until)));
                        }
                    }
                }
                if let Err(error) = hooks.db.call(move |c| outbox::record_outcomes(c, &done)).await {
                    // The rows stay pending and are sent again: at least once, never lost.
                    tracing::error!(target = %key, %error, "cannot record webhook outcomes");
                }
                if retrying {
                    hooks.rescan.notify_one();
                }
                fill = true;
            }
            () = wake.notified() => fill = true,
            () = paused => fill = true,
            () = due => {
                next_due = None;
                fill = true;
            }
            () = stop.cancelled(), if !stopping => stopping = true,
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// How a batch authenticates and signs: the same for every delivery of one target.
#[derive(Default)]
struct BatchAuth {
    key: Option<SigningKey>,
    bearer: Option<String>,
    oauth_user: Option<i64>,
}

/// What one request came to, before scheduling.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Delivered(u16),
    /// Worth another try; `retry_after` is the receiver's own request.
    Retry {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
    Failed {
        status: Option<u16>,
        error: String,
    },
}

/// The user a target key names.
fn target_user(key: &str) -> Option<i64> {
    key.strip_prefix("user:").and_then(|id| id.parse().ok())
}

impl Sender {
    /// Starts attempts for due deliveries not already in flight, up to the concurrency limit.
    async fn fill(
        self: &Arc<Self>,
        hooks: &Webhooks,
        key: &str,
        in_flight: &mut JoinSet<(String, Outcome)>,
        sending: &mut HashSet<String>,
    ) -> Result<Option<i64>, StoreError> {
        let free = self.concurrency.saturating_sub(in_flight.len());
        if free == 0 {
            return Ok(None);
        }
        let (lookup, now, limit) = (key.to_string(), now_ms(), free + sending.len());
        let (due, later) = hooks
            .db
            .call(move |c| {
                let due = outbox::due(c, &lookup, now, limit)?;
                Ok::<_, StoreError>((due, outbox::next_due_after(c, &lookup, now)?))
            })
            .await?;
        let fresh: Vec<Delivery> = due
            .into_iter()
            .filter(|d| !sending.contains(&d.id))
            .take(free)
            .collect();
        if fresh.is_empty() {
            return Ok(later);
        }
        let Some(auth) = self.auth(hooks, key, &fresh).await? else {
            let error = "the user no longer exists".to_string();
            let gone: Vec<_> = fresh
                .into_iter()
                .map(|d| {
                    (
                        d.id,
                        Outcome::Failed {
                            status: None,
                            error: error.clone(),
                        },
                    )
                })
                .collect();
            hooks
                .db
                .call(move |c| outbox::record_outcomes(c, &gone))
                .await?;
            return Ok(later);
        };
        let auth = Arc::new(auth);
        for delivery in fresh {
            sending.insert(delivery.id.clone());
            let (sender, auth, key) = (self.clone(), auth.clone(), key.to_string());
            in_flight.spawn(async move {
                // Users' URLs are checked again here: one may predate the policy. The operator's
                // own WEBHOOK_BASE_URL is trusted.
                let verdict = if sender.allow_private || delivery.user_id.is_none() || !is_private_url(&delivery.url) {
                    sender.attempt(&delivery, &auth).await
                } else {
                    Verdict::Failed {
                        status: None,
                        error: "refused: the URL points at a private network (WAGW_WEBHOOK_ALLOW_PRIVATE=false)".into(),
                    }
                };
                if let (Verdict::Retry { status: Some(401), .. }, Some(user)) = (&verdict, auth.oauth_user) {
                    sender.tokens.forget(user);
                }
                let outcome = schedule(&delivery, verdict, sender.first_retry, now_ms());
                if let Outcome::Failed { error, .. } = &outcome {
                    tracing::warn!(delivery = %delivery.id, target = %key, %error, "webhook delivery failed for good");
                }
                (delivery.id, outcome)
            });
        }
        Ok(later)
    }

    /// Signing and OAuth for a batch; `None` when the target's user is gone.
    async fn auth(
        &self,
        hooks: &Webhooks,
        key: &str,
        batch: &[Delivery],
    ) -> Result<Option<BatchAuth>, StoreError> {
        if key == GLOBAL_TARGET {
            return Ok(Some(BatchAuth {
                key: self.global_key.clone(),
                ..BatchAuth::default()
            }));
        }
        let Some(user_id) = target_user(key) else {
            return Ok(None);
        };
        let Some(settings) = hooks
            .db
            .call(move |c| outbox::receiver_settings(c, user_id))
            .await?
        else {
            return Ok(None);
        };
        let mut auth = BatchAuth {
            key: settings
                .webhook_secret
                .as_deref()
                .and_then(SigningKey::parse),
            ..BatchAuth::default()
        };
        if let (Some(login), Some(password)) = (settings.oauth_login, settings.oauth_password) {
            auth.oauth_user = Some(user_id);
            let callback = batch.first().and_then(|d| Url::parse(&d.url).ok());
            let credentials = Credentials { login, password };
            if let Some(callback) = callback {
                match self
                    .tokens
                    .token(&self.http, user_id, &callback, &credentials)
                    .await
                {
                    Ok(token) => auth.bearer = Some(token),
                    Err(error) => {
                        tracing::warn!(user_id, %error, "cannot get an OAuth token; sending webhooks without one");
                    }
                }
            }
        }
        Ok(Some(auth))
    }

    async fn attempt(&self, delivery: &Delivery, auth: &BatchAuth) -> Verdict {
        let timestamp = store::now();
        let mut request = self
            .http
            .post(&delivery.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &delivery.event_id)
            .header("webhook-timestamp", timestamp.to_string());
        if let Some(key) = &auth.key {
            request = request.header(
                "webhook-signature",
                key.sign(&delivery.event_id, timestamp, delivery.body.as_bytes()),
            );
        }
        if let Some(token) = &auth.bearer {
            request = request.bearer_auth(token);
        }
        match request.body(delivery.body.clone()).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                // Reading the body lets the connection be reused.
                let _ = response.bytes().await;
                judge(status, retry_after, auth.oauth_user.is_some())
            }
            Err(error) => {
                let reason = if error.is_timeout() {
                    "timed out"
                } else if error.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                };
                Verdict::Retry {
                    status: None,
                    error: reason.into(),
                    retry_after: None,
                }
            }
        }
    }
}

fn is_private_url(url: &str) -> bool {
    Url::parse(url).map_or(true, |u| super::policy::is_private(&u))
}

/// Sorts an answer: 2xx done; 408, 429 and 5xx (and 401 when OAuth may fix it) again; other
/// statuses are the receiver refusing the event, which no retry changes.
fn judge(status: u16, retry_after: Option<Duration>, oauth: bool) -> Verdict {
    let error = format!("the receiver answered {status}");
    match status {
        200..=299 => Verdict::Delivered(status),
        408 | 429 | 500..=599 => Verdict::Retry {
            status: Some(status),
            error,
            retry_after,
        },
        401 if oauth => Verdict::Retry {
            status: Some(status),
            error,
            retry_after,
        },
        _ => Verdict::Failed {
            status: Some(status),
            error,
        },
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Exponential backoff with jitter: the n-th retry waits between half and all of
/// `first * 2^(n-1)`, capped, so retries to one receiver spread out.
fn backoff(first: Duration, attempts: i64) -> Duration {
    let exponent = attempts.saturating_sub(1).clamp(0, 30) as u32;
    let ceiling = first
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(LONGEST_RETRY);
    ceiling.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

/// Turns a verdict into what is stored, giving up once the retry window is spent.
fn schedule(delivery: &Delivery, verdict: Verdict, first_retry: Duration, now: i64) -> Outcome {
    match verdict {
        Verdict::Delivered(status) => Outcome::Delivered { status },
        Verdict::Failed { status, error } => Outcome::Failed { status, error },
        Verdict::Retry {
            status,
            error,
            retry_after,
        } => {
            let attempts = delivery.attempts + 1;
            let mut delay = backoff(first_retry, attempts);
            if let Some(asked) = retry_after {
                delay = delay.max(asked);
            }
            // A receiver may ask for any Retry-After; a cast would wrap a huge one into the past
            // and retry at once, forever.
            let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
            let next_attempt_at = now.saturating_add(delay_ms);
            if next_attempt_at > delivery.retry_until {
                Outcome::Failed {
                    status,
                    error: format!("gave up after {attempts} attempts; last: {error}"),
                }
            } else {
                Outcome::Retry {
                    status,
                    error,
                    next_attempt_at,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(attempts: i64, retry_until: i64) -> Delivery {
        Delivery {
            id: "d".into(),
            event_id: "e".into(),
            target: "global".into(),
            url: "http://127.0.0.1:1/".into(),
            kind: "message".into(),
            session: "s".into(),
            user_id: None,
            body: "{}".into(),
            state: "pending".into(),
            attempts,
            next_attempt_at: 0,
            retry_until,
            last_status: None,
            last_error: None,
            created_at: 0,
            delivered_at: None,
        }
    }

    #[test]
    fn statuses_are_judged() {
        assert_eq!(judge(204, None, false), Verdict::Delivered(204));
        for retry in [408, 429, 500, 503] {
            assert!(
                matches!(judge(retry, None, false), Verdict::Retry { .. }),
                "{retry}"
            );
        }
        for fail in [400, 401, 404, 410, 302] {
            assert!(
                matches!(judge(fail, None, false), Verdict::Failed { .. }),
                "{fail}"
            );
        }
        assert!(
            matches!(judge(401, None, true), Verdict::Retry { .. }),
            "a new token may fix a 401"
        );
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        let soon = std::time::SystemTime::now() + Duration::from_secs(30);
        let parsed = parse_retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(
            parsed <= Duration::from_secs(30) && parsed >= Duration::from_secs(28),
            "{parsed:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        let first = Duration::from_secs(1);
        for attempts in 1..8 {
            let ceiling = first * 2u32.pow(attempts as u32 - 1);
            let delay = backoff(first, attempts);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{attempts}: {delay:?}"
            );
        }
        assert!(backoff(first, 1000) <= LONGEST_RETRY);
    }

    #[test]
    fn scheduling_honours_retry_after_and_the_window() {
        let now = 1_000_000;
        let retry = |after| Verdict::Retry {
            status: Some(503),
            error: "busy".into(),
            retry_after: after,
        };
        match schedule(
            &delivery(0, i64::MAX),
            retry(Some(Duration::from_secs(60))),
            Duration::from_secs(1),
            now,
        ) {
            Outcome::Retry {
                next_attempt_at, ..
            } => assert!(next_attempt_at >= now + 60_000),
            other => panic!("{other:?}"),
        }
        let spent = schedule(
            &delivery(5, now + 10),
            retry(None),
            Duration::from_secs(1),
            now,
        );
        assert!(
            matches!(
                spent,
                Outcome::Failed {
                    status: Some(503),
                    ..
                }
            ),
            "{spent:?}"
        );
    }

    proptest::proptest! {
        #[test]
        fn retry_after_never_panics(value in "\\PC{0,40}") {
            let _ = parse_retry_after(&value);
        }

        #[test]
        fn retry_after_seconds_round_trip(seconds in proptest::num::u64::ANY, pad in " {0,2}") {
            let parsed = parse_retry_after(&format!("{pad}{seconds}{pad}"));
            proptest::prop_assert_eq!(parsed, Some(Duration::from_secs(seconds)));
        }

        #[test]
        fn retry_after_dates_in_the_past_mean_now(ago in 1u64..1_000_000_000) {
            let then = std::time::SystemTime::now() - Duration::from_secs(ago);
            proptest::prop_assert_eq!(
                parse_retry_after(&httpdate::fmt_http_date(then)),
                Some(Duration::ZERO)
            );
        }

        /// Whatever a receiver asks for, the next try is never scheduled before now, and a
        /// request beyond the retry window gives up instead of retrying.
        #[test]
        fn a_retry_is_never_scheduled_in_the_past(
            seconds in proptest::num::u64::ANY,
            attempts in 0i64..100,
            now in 0i64..4_000_000_000_000,
        ) {
            let verdict = Verdict::Retry {
                status: Some(429),
                error: "busy".into(),
                retry_after: Some(Duration::from_secs(seconds)),
            };
            let day_ms = 24 * 3600 * 1000;
            let window = now + day_ms;
            let asked_ms = seconds.saturating_mul(1000);
            match schedule(&delivery(attempts, window), verdict, Duration::from_millis(100), now) {
                Outcome::Retry { next_attempt_at, .. } => {
                    proptest::prop_assert!(next_attempt_at <= window);
                    proptest::prop_assert!((next_attempt_at - now) as u64 >= asked_ms);
                }
                // Backoff alone stays under an hour, so only the receiver's wish ends the window.
                Outcome::Failed { .. } => proptest::prop_assert!(asked_ms > day_ms as u64),
                other => proptest::prop_assert!(false, "{:?}", other),
            }
        }
    }

    #[test]
    fn target_keys_name_users() {
        assert_eq!(target_user("user:42"), Some(42));
        assert_eq!(target_user("global"), None);
    }
}
