//! Durable webhooks. Every inbound message and session status change is written to the outbox
//! in the transaction that records it; a worker delivers the outbox at least once, retrying
//! with backoff, one independent queue per receiver, signing and authenticating as configured.

pub mod oauth;
pub mod payload;
pub mod policy;
pub mod signing;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::Notify;
use url::Url;

pub use payload::MessageFacts;

use crate::config::{Config, WebhookConfig};
use crate::media::MediaStore;
use crate::sessions::SessionState;
use crate::store::outbox::{self, Backlog, Delivery, ListFilter, NewDelivery};
use crate::store::{self, Db, StoreError, messages::MessageRecord};

/// How long signed media links in message events stay valid.
const MEDIA_LINK_LIFETIME: Duration = Duration::from_secs(7 * 86_400);

/// The target key of the global webhook; users' targets are `user:{id}`.
pub const GLOBAL_TARGET: &str = "global";

pub struct Webhooks {
    db: Arc<Db>,
    media: Arc<MediaStore>,
    settings: WebhookConfig,
    global: Option<Url>,
    public_url: Url,
    /// One wake-up per target queue, created as targets appear.
    targets: Mutex<HashMap<String, Arc<Notify>>>,
    /// Wakes the scheduler, which looks for retries coming due.
    rescan: Notify,
    running: OnceLock<worker::Running>,
}

/// A receiver of one event, resolved when the event is recorded.
struct Target {
    key: String,
    callback: Url,
    user_id: Option<i64>,
}

/// The receivers of a session's events: its user's callback URL and the global one.
fn targets(
    conn: &Connection,
    session: &str,
    global: Option<&Url>,
) -> Result<Vec<Target>, StoreError> {
    let mut found = Vec::with_capacity(2);
    if let Some((user, _)) = store::users::find_by_session(conn, session)?
        && let Some(callback) = user
            .callback_url
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
    {
        found.push(Target {
            key: format!("user:{}", user.id),
            callback,
            user_id: Some(user.id),
        });
    }
    if let Some(url) = global {
        found.push(Target {
            key: GLOBAL_TARGET.to_string(),
            callback: url.clone(),
            user_id: None,
        });
    }
    Ok(found)
}

/// Everything needed to add one event's deliveries inside a caller's transaction.
struct Event {
    id: String,
    kind: &'static str,
    session: String,
    body: String,
}

impl Event {
    /// Adds one delivery per receiver; returns the target keys to wake.
    fn enqueue(
        &self,
        conn: &Connection,
        global: Option<&Url>,
        retry_until: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        for target in targets(conn, &self.session, global)? {
            let url = match self.kind {
                "session" => payload::session_url(&target.callback),
                _ => target.callback.clone(),
            };
            let new = NewDelivery {
                event_id: &self.id,
                target: &target.key,
                url: url.as_str(),
                kind: self.kind,
                session: &self.session,
                user_id: target.user_id,
                body: &self.body,
            };
            outbox::insert(conn, &new, retry_until)?;
            keys.push(target.key);
        }
        Ok(keys)
    }
}

fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Webhooks {
    pub fn new(config: &Config, db: Arc<Db>, media: Arc<MediaStore>) -> Arc<Webhooks> {
        Arc::new(Webhooks {
            db,
            media,
            settings: config.webhooks.clone(),
            global: config.webhook_base_url.clone(),
            public_url: config.public_url.clone(),
            targets: Mutex::new(HashMap::new()),
            rescan: Notify::new(),
            running: OnceLock::new(),
        })
    }

    fn retry_until(&self) -> i64 {
        outbox::now_ms().saturating_add(self.settings.retry_for.as_millis() as i64)
    }

    /// A signed, expiring link to a received media file.
    fn media_link(&self, file: &str) -> String {
        let expires = store::now() + MEDIA_LINK_LIFETIME.as_secs() as i64;
        let signature = self.media.sign(file, expires);
        let mut url = self.public_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push("media").push(file);
        }
        url.query_pairs_mut()
            .append_pair("expires", &expires.to_string())
            .append_pair("signature", &signature);
        url.to_string()
    }

    /// Records an inbound message and its webhook events in one transaction. Returns false for a
    /// message already recorded (the network repeats itself), which makes no new event.
    pub async fn record_message(
        &self,
        record: MessageRecord,
        facts: MessageFacts,
    ) -> Result<bool, StoreError> {
        let id = new_event_id();
        let link = record
            .media_file
            .as_deref()
            .map(|file| self.media_link(file));
        let body = payload::message(&id, &record, &facts, link.as_deref());
        let event = Event {
            id,
            kind: "message",
            session: record.session.clone(),
            body,
        };
        let (global, retry_until) = (self.global.clone(), self.retry_until());
        let woken = self
            .db
            .call(move |c| -> Result<Option<Vec<String>>, StoreError> {
                let tx = store::write_transaction(c)?;
                if !store::messages::insert(&tx, &record)? {
                    return Ok(None);
                }
                let keys = event.enqueue(&tx, global.as_ref(), retry_until)?;
                tx.commit()?;
                Ok(Some(keys))
            })
            .await?;
        match woken {
            Some(keys) => {
                self.wake(&keys);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Records a session's status and its webhook events in one transaction. `phone` updates
    /// the stored number when given; the event carries the number known after the update.
    pub async fn record_status(
        &self,
        session: &str,
        status: SessionState,
        reason: Option<String>,
        phone: Option<String>,
    ) -> Result<(), StoreError> {
        let (name, global, retry_until) =
            (session.to_string(), self.global.clone(), self.retry_until());
        let keys = self
            .db
            .call(move |c| -> Result<Vec<String>, StoreError> {
                let tx = store::write_transaction(c)?;
                store::sessions::record_status(
                    &tx,
                    &name,
                    status.as_str(),
                    reason.as_deref(),
                    phone.as_deref(),
                )?;
                let known_phone = store::sessions::get(&tx, &name)?
                    .and_then(|row| row.phone)
                    .or(phone);
                let id = new_event_id();
                let body = payload::session(
                    &id,
                    &name,
                    status.as_str(),
                    reason.as_deref(),
                    known_phone.as_deref(),
                    store::now(),
                );
                let event = Event {
                    id,
                    kind: "session",
                    session: name,
                    body,
                };
                let keys = event.enqueue(&tx, global.as_ref(), retry_until)?;
                tx.commit()?;
                Ok(keys)
            })
            .await?;
        self.wake(&keys);
        Ok(())
    }

    /// Forgets a logged-out session and records its last status event (`stopped`, "logged
    /// out") in one transaction, while its owner can still be found.
    pub async fn record_removal(&self, session: &str) -> Result<bool, StoreError> {
        let (name, global, retry_until) =
            (session.to_string(), self.global.clone(), self.retry_until());
        let (removed, keys) = self
            .db
            .call(move |c| -> Result<(bool, Vec<String>), StoreError> {
                let tx = store::write_transaction(c)?;
                let phone = store::sessions::get(&tx, &name)?.and_then(|row| row.phone);
                let id = new_event_id();
                let status = SessionState::Stopped.as_str();
                let body = payload::session(
                    &id,
                    &name,
                    status,
                    Some("logged out"),
                    phone.as_deref(),
                    store::now(),
                );
                let event = Event {
                    id,
                    kind: "session",
                    session: name.clone(),
                    body,
                };
                let keys = event.enqueue(&tx, global.as_ref(), retry_until)?;
                let removed = store::sessions::delete(&tx, &name)?;
                tx.commit()?;
                Ok((removed, keys))
            })
            .await?;
        self.wake(&keys);
        Ok(removed)
    }

    /// Deliveries for listing, newest first.
    pub async fn list(
        &self,
        state: Option<String>,
        user_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.db
            .call(move |c| {
                outbox::list(
                    c,
                    &ListFilter {
                        state: state.as_deref(),
                        user_id,
                        limit,
                    },
                )
            })
            .await
    }

    /// Queues a delivery again with a fresh retry window; `only_user` limits it to that user's.
    pub async fn redeliver(
        &self,
        id: &str,
        only_user: Option<i64>,
    ) -> Result<Option<Delivery>, StoreError> {
        let (id, retry_until) = (id.to_string(), self.retry_until());
        let delivery = self
            .db
            .call(move |c| outbox::redeliver(c, &id, only_user, retry_until))
            .await?;
        if let Some(delivery) = &delivery {
            self.wake(std::slice::from_ref(&delivery.target));
        }
        Ok(delivery)
    }

    /// Queues every failed delivery again (only that user's with `only_user`), with a fresh
    /// retry window; returns what was queued.
    pub async fn redeliver_failed(
        &self,
        only_user: Option<i64>,
    ) -> Result<Vec<Delivery>, StoreError> {
        let retry_until = self.retry_until();
        let queued = self
            .db
            .call(move |c| outbox::redeliver_failed(c, only_user, retry_until))
            .await?;
        let mut targets: Vec<String> = queued.iter().map(|d| d.target.clone()).collect();
        targets.sort();
        targets.dedup();
        self.wake(&targets);
        Ok(queued)
    }

    /// Pending and failed counts and the oldest pending delivery, for metrics and status.
    pub async fn backlog(&self) -> Result<Backlog, StoreError> {
        self.db.call(|c| outbox::backlog(c)).await
    }

    /// Forgets cached OAuth tokens of a user whose settings changed.
    pub fn forget_user(&self, user_id: i64) {
        if let Some(running) = self.running.get() {
            running.sender.tokens.forget(user_id);
        }
    }

    /// Starts the delivery worker; pending deliveries from before a restart are picked up at once.
    pub fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        worker::start(self)
    }

    /// Stops the worker, letting requests in flight finish within `grace`. Undelivered events
    /// stay in the outbox for the next start.
    pub async fn shutdown(&self, grace: Duration) {
        if let Some(running) = self.running.get() {
            running.stop.cancel();
            running.tasks.close();
            if tokio::time::timeout(grace, running.tasks.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    "webhook deliveries in flight did not finish within {grace:?}; they will be retried"
                );
            }
        }
    }

    /// Wakes the queues of these targets, starting queues for new ones.
    fn wake(&self, keys: &[String]) {
        let Some(running) = self.running.get() else {
            return;
        };
        for key in keys {
            let notify = {
                let mut targets = self.targets.lock().unwrap_or_else(|p| p.into_inner());
                match targets.get(key) {
                    Some(notify) => notify.clone(),
                    None => {
                        let notify = Arc::new(Notify::new());
                        targets.insert(key.clone(), notify.clone());
                        running.spawn_target(key.clone(), notify.clone());
                        notify
                    }
                }
            };
            notify.notify_one();
        }
    }
}
