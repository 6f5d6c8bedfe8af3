//! The session manager: one task per session, reached by channel, with a read-only snapshot of
//! each session's state and a broadcast bus of everything that happens.

pub mod events;
pub mod state;
mod task;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use events::GatewayEvent;
pub use state::{QrCode, SessionState, Snapshot};
pub use task::StartOutcome;
use task::{Command, SessionTask, Shared};

use crate::engine::{Content, Engine, EngineError, LinkMethod, OutboundMessage, QuotedMessage};
use crate::media::MediaStore;
use crate::store::{self, Db, StoreError, messages::MessageRecord};
use crate::webhooks::Webhooks;

/// How long a start waits for the session to show a QR code or connect.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a send may take before the caller is told so.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session '{0}' does not exist; start it first")]
    NotFound(String),
    #[error("session '{session}' is not connected (state: {}); start it and link a phone first", state.as_str())]
    NotReady {
        session: String,
        state: SessionState,
    },
    #[error("message '{0}' is unknown to this session; quote a message it sent or received")]
    QuotedNotFound(String),
    #[error("{0}")]
    LinkFailed(String),
    #[error("session '{0}' did not answer in time; try again")]
    Timeout(String),
    #[error("wagwd is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Handle {
    commands: mpsc::Sender<Command>,
    snapshot: watch::Receiver<Snapshot>,
}

pub struct SessionManager {
    shared: Shared,
    handles: Mutex<HashMap<String, Handle>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    restore_concurrency: usize,
}

/// A session as listed: stored facts plus its live state.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub name: String,
    pub owner_user_id: Option<i64>,
    pub snapshot: Snapshot,
    pub updated_at: i64,
}

impl SessionManager {
    pub fn new(
        engine: Arc<dyn Engine>,
        db: Arc<Db>,
        media: Arc<MediaStore>,
        webhooks: Arc<Webhooks>,
        restore_concurrency: usize,
    ) -> Arc<Self> {
        let (bus, _) = broadcast::channel(4096);
        Arc::new(SessionManager {
            shared: Shared {
                engine,
                db,
                media,
                bus,
                webhooks,
            },
            handles: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            restore_concurrency,
        })
    }

    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.shared.engine
    }

    pub fn subscribe(&self) -> broadcast::Receiver<GatewayEvent> {
        self.shared.bus.subscribe()
    }

    /// The live state of a session that has a task.
    pub fn snapshot(&self, name: &str) -> Option<Snapshot> {
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .map(|h| h.snapshot.borrow().clone())
    }

    /// Counts sessions by state, for status reports and metrics.
    pub fn count_by_state(&self) -> HashMap<SessionState, usize> {
        let handles = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        let mut counts = HashMap::new();
        for handle in handles.values() {
            *counts.entry(handle.snapshot.borrow().state).or_default() += 1;
        }
        counts
    }

    fn commands(&self, name: &str) -> Option<mpsc::Sender<Command>> {
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .map(|h| h.commands.clone())
    }

    /// The command channel of a session, spawning its task if it has none.
    fn ensure_task(&self, name: &str) -> Result<mpsc::Sender<Command>, SessionError> {
        if self.shutdown.is_cancelled() {
            return Err(SessionError::ShuttingDown);
        }
        let mut handles = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(handle) = handles.get(name).filter(|h| !h.commands.is_closed()) {
            return Ok(handle.commands.clone());
        }
        let (commands_tx, commands_rx) = mpsc::channel(64);
        let (snapshot_tx, snapshot_rx) = watch::channel(Snapshot::stopped());
        let task = SessionTask::new(name.to_string(), self.shared.clone(), snapshot_tx);
        self.tasks
            .spawn(task.run(commands_rx, self.shutdown.clone()));
        handles.insert(
            name.to_string(),
            Handle {
                commands: commands_tx.clone(),
                snapshot: snapshot_rx,
            },
        );
        Ok(commands_tx)
    }

    /// Starts (or resumes) a session; answers its QR code, pairing code, or that it is connected.
    pub async fn start(
        &self,
        name: &str,
        owner_user_id: Option<i64>,
        link: LinkMethod,
    ) -> Result<StartOutcome, SessionError> {
        // A logout running at the same moment ends the session's task with this start still
        // queued; the start then runs again on a fresh task instead of failing.
        for _ in 0..3 {
            if let Some(outcome) = self.start_once(name, owner_user_id, link.clone()).await {
                return outcome;
            }
        }
        Err(SessionError::Timeout(name.to_string()))
    }

    /// One start attempt; `None` when the task ended before answering, without shutdown.
    async fn start_once(
        &self,
        name: &str,
        owner_user_id: Option<i64>,
        link: LinkMethod,
    ) -> Option<Result<StartOutcome, SessionError>> {
        let stored_name = name.to_string();
        let marked = self
            .shared
            .db
            .call(move |c| store::sessions::mark_running(c, &stored_name, owner_user_id))
            .await;
        if let Err(error) = marked {
            return Some(Err(error.into()));
        }
        let commands = match self.ensure_task(name) {
            Ok(commands) => commands,
            Err(error) => return Some(Err(error)),
        };
        let (reply, answer) = oneshot::channel();
        if commands.send(Command::Start { link, reply }).await.is_ok() {
            match tokio::time::timeout(START_TIMEOUT, answer).await {
                Ok(Ok(outcome)) => return Some(outcome),
                Err(_) => return Some(Err(SessionError::Timeout(name.to_string()))),
                Ok(Err(_)) => {}
            }
        }
        // The task ended before answering.
        self.shutdown
            .is_cancelled()
            .then_some(Err(SessionError::ShuttingDown))
    }

    /// Sends a message on a connected session, quoting `quoted_id` if given; returns the record.
    pub async fn send(
        &self,
        name: &str,
        to: String,
        content: Content,
        quoted_id: Option<String>,
    ) -> Result<MessageRecord, SessionError> {
        let Some(commands) = self.commands(name) else {
            return Err(self.not_running(name).await);
        };
        let quoted = match quoted_id {
            None => None,
            Some(id) => Some(self.quoted(name, id).await?),
        };
        let (reply, answer) = oneshot::channel();
        let kind = content.kind();
        let started = std::time::Instant::now();
        let message = OutboundMessage {
            to,
            content,
            quoted,
        };
        let sent = commands
            .send(Command::Send {
                message: Box::new(message),
                reply,
            })
            .await;
        let result = match sent {
            Ok(()) => match tokio::time::timeout(SEND_TIMEOUT, answer).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(self.task_ended(name).await),
                Err(_) => Err(SessionError::Timeout(name.to_string())),
            },
            Err(_) => Err(self.task_ended(name).await),
        };
        if result.is_ok() {
            crate::metrics::message_sent(kind, started.elapsed());
        }
        result
    }

    async fn quoted(&self, name: &str, id: String) -> Result<QuotedMessage, SessionError> {
        let session = name.to_string();
        let lookup = id.clone();
        let original = self
            .shared
            .db
            .call(move |c| store::messages::find(c, &session, &lookup))
            .await?;
        let original = original.ok_or(SessionError::QuotedNotFound(id))?;
        Ok(QuotedMessage {
            id: original.id,
            chat: original.chat,
            sender: original.sender,
            from_me: original.from_me,
            kind: original.kind,
            text: original.text,
        })
    }

    /// The error when a session's task ended under a command: wagwd stopping, or a logout
    /// that finished first (then the session is simply not running any more).
    async fn task_ended(&self, name: &str) -> SessionError {
        if self.shutdown.is_cancelled() {
            SessionError::ShuttingDown
        } else {
            self.not_running(name).await
        }
    }

    /// The error for a session without a task: unknown, or known but not running.
    async fn not_running(&self, name: &str) -> SessionError {
        let lookup = name.to_string();
        match self
            .shared
            .db
            .call(move |c| store::sessions::get(c, &lookup))
            .await
        {
            Ok(Some(row)) => SessionError::NotReady {
                session: name.to_string(),
                state: SessionState::parse(&row.status),
            },
            Ok(None) => SessionError::NotFound(name.to_string()),
            Err(error) => SessionError::Store(error),
        }
    }

    /// Logs a session out: unlinks the device, deletes its credentials and forgets the session.
    pub async fn logout(&self, name: &str) -> Result<(), SessionError> {
        let commands = match self.commands(name) {
            Some(commands) => commands,
            None => {
                let lookup = name.to_string();
                let exists = self
                    .shared
                    .db
                    .call(move |c| store::sessions::get(c, &lookup))
                    .await?
                    .is_some();
                if !exists && !self.shared.engine.is_linked(name) {
                    return Err(SessionError::NotFound(name.to_string()));
                }
                // A known session without a task: spawn one so logout follows a single path.
                self.ensure_task(name)?
            }
        };
        let (reply, answer) = oneshot::channel();
        if commands.send(Command::Logout { reply }).await.is_err() {
            // Another logout ended the task first.
            return Err(self.task_ended(name).await);
        }
        let Ok(result) = answer.await else {
            return Err(self.task_ended(name).await);
        };
        if result.is_ok() {
            // Forget this task's handle only: a start racing with the logout may already have
            // spawned a new task under the same name.
            let mut handles = self.handles.lock().unwrap_or_else(|p| p.into_inner());
            if handles
                .get(name)
                .is_some_and(|h| h.commands.same_channel(&commands))
            {
                handles.remove(name);
            }
        }
        result
    }

    /// All stored sessions with their live state.
    pub async fn list(&self) -> Result<Vec<SessionInfo>, SessionError> {
        let rows = self.shared.db.call(|c| store::sessions::list(c)).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let snapshot = self.snapshot(&row.name).unwrap_or_else(|| Snapshot {
                    state: match SessionState::parse(&row.status) {
                        // Without a task nothing is connected, whatever was last recorded.
                        SessionState::LoggedOut => SessionState::LoggedOut,
                        _ => SessionState::Stopped,
                    },
                    phone: row.phone.clone(),
                    reason: row.status_reason.clone(),
                    qr: None,
                    pair_code: None,
                });
                SessionInfo {
                    name: row.name,
                    owner_user_id: row.owner_user_id,
                    snapshot,
                    updated_at: row.updated_at,
                }
            })
            .collect())
    }

    /// Brings back every session that was running, a bounded number at a time so a thousand
    /// sessions do not stampede the network. Returns how many were restored.
    pub async fn restore(self: &Arc<Self>) -> Result<usize, SessionError> {
        let rows = self.shared.db.call(|c| store::sessions::running(c)).await?;
        let limit = Arc::new(Semaphore::new(self.restore_concurrency));
        let mut starts = tokio::task::JoinSet::new();
        for row in &rows {
            let Ok(permit) = limit.clone().acquire_owned().await else {
                break;
            };
            let manager = self.clone();
            let row = row.clone();
            starts.spawn(async move {
                if let Err(error) = manager
                    .start(&row.name, row.owner_user_id, LinkMethod::Qr)
                    .await
                {
                    tracing::warn!(session = %row.name, %error, "restoring the session failed");
                }
                drop(permit);
            });
        }
        while starts.join_next().await.is_some() {}
        Ok(rows.len())
    }

    /// Stops every session task, closing connections without logging out, within `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some sessions did not close within {grace:?}");
        }
    }
}
