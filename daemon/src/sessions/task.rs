//! The task that owns one session's engine connection. Commands arrive on a channel and are
//! handled one at a time, so start, send and logout on one session never race; engine events are
//! turned into state changes, stored messages and bus events.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::SessionError;
use super::events::GatewayEvent;
use super::state::{QrCode, SessionState, Snapshot};
use crate::engine::{
    Engine, EngineError, EngineEvent, EngineSession, InboundMessage, LinkMethod, OutboundMessage,
    Receipt,
};
use crate::jid;
use crate::media::MediaStore;
use crate::store::{self, Db, StoreError, messages::MessageRecord};
use crate::webhooks::{MessageFacts, Webhooks};

/// What `start` answers once the session has something to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOutcome {
    Qr(QrCode),
    PairCode(String),
    Connected { phone: Option<String> },
}

pub enum Command {
    Start {
        link: LinkMethod,
        reply: oneshot::Sender<Result<StartOutcome, SessionError>>,
    },
    Send {
        message: Box<OutboundMessage>,
        reply: SendReply,
    },
    Logout {
        reply: oneshot::Sender<Result<(), SessionError>>,
    },
}

pub type SendReply = oneshot::Sender<Result<MessageRecord, SessionError>>;

/// The most sends recorded in one transaction.
const MAX_SEND_BATCH: usize = 128;

/// Everything a session task shares with the manager.
#[derive(Clone)]
pub struct Shared {
    pub engine: Arc<dyn Engine>,
    pub db: Arc<Db>,
    pub media: Arc<MediaStore>,
    pub bus: broadcast::Sender<GatewayEvent>,
    /// Records messages and status changes together with their webhook events.
    pub webhooks: Arc<Webhooks>,
}

const FIRST_RETRY: Duration = Duration::from_millis(500);
const LONGEST_RETRY: Duration = Duration::from_secs(60);

/// Capped exponential backoff with jitter, so reconnecting sessions do not move in lockstep.
fn retry_delay(attempt: u32) -> Duration {
    let ceiling = FIRST_RETRY
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(LONGEST_RETRY);
    ceiling.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

pub struct SessionTask {
    name: String,
    shared: Shared,
    snapshot: watch::Sender<Snapshot>,
    connection: Option<Box<dyn EngineSession>>,
    events: Option<mpsc::Receiver<EngineEvent>>,
    waiting: Vec<oneshot::Sender<Result<StartOutcome, SessionError>>>,
    reconnect_at: Option<Instant>,
    attempts: u32,
}

/// Receives the next engine event, or waits forever when there is no connection.
async fn next_event(events: &mut Option<mpsc::Receiver<EngineEvent>>) -> Option<EngineEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn reconnect_due(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl SessionTask {
    pub fn new(name: String, shared: Shared, snapshot: watch::Sender<Snapshot>) -> SessionTask {
        SessionTask {
            name,
            shared,
            snapshot,
            connection: None,
            events: None,
            waiting: Vec::new(),
            reconnect_at: None,
            attempts: 0,
        }
    }

    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                command = commands.recv() => {
                    let Some(mut command) = command else { break };
                    loop {
                        match command {
                            Command::Logout { reply } => {
                                let result = self.logout().await;
                                let done = result.is_ok();
                                let _ = reply.send(result);
                                if done {
                                    return;
                                }
                            }
                            Command::Send { message, reply } => {
                                // A command found behind the batch is handled next, in order.
                                if let Some(next) =
                                    self.send_queued(*message, reply, &mut commands).await
                                {
                                    command = next;
                                    continue;
                                }
                            }
                            command => self.handle(command).await,
                        }
                        break;
                    }
                }
                event = next_event(&mut self.events) => match event {
                    Some(event) => self.on_event(event).await,
                    None => self.connection_lost("the connection closed".into()).await,
                },
                () = reconnect_due(self.reconnect_at) => {
                    self.reconnect_at = None;
                    self.open(LinkMethod::Qr).await;
                }
            }
        }
        // Shutting down: close the connection but keep credentials, so the session comes back.
        if let Some(mut connection) = self.connection.take() {
            connection.close().await;
        }
        self.answer_waiting(|| Err(SessionError::ShuttingDown));
    }

    fn state(&self) -> SessionState {
        self.snapshot.borrow().state
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Start { link, reply } => match self.state() {
                SessionState::Connected => {
                    let phone = self.snapshot.borrow().phone.clone();
                    let _ = reply.send(Ok(StartOutcome::Connected { phone }));
                }
                SessionState::Qr => {
                    let shown = self.snapshot.borrow().qr.clone();
                    match shown {
                        Some(qr) if link == LinkMethod::Qr => {
                            let _ = reply.send(Ok(StartOutcome::Qr(qr)));
                        }
                        _ => {
                            // Switching from QR to a pairing code needs a fresh link.
                            self.close_connection().await;
                            self.waiting.push(reply);
                            self.open(link).await;
                        }
                    }
                }
                SessionState::Connecting => self.waiting.push(reply),
                SessionState::Disconnected => {
                    self.waiting.push(reply);
                    self.reconnect_at = None;
                    self.open(link).await;
                }
                SessionState::Stopped | SessionState::LoggedOut => {
                    self.waiting.push(reply);
                    self.open(link).await;
                }
            },
            Command::Send { .. } | Command::Logout { .. } => unreachable!("handled by run"),
        }
    }

    async fn open(&mut self, link: LinkMethod) {
        self.close_connection().await;
        self.set_state(SessionState::Connecting, None, None).await;
        let (tx, rx) = mpsc::channel(256);
        match self.shared.engine.open(&self.name, link, tx).await {
            Ok(connection) => {
                self.connection = Some(connection);
                self.events = Some(rx);
            }
            Err(EngineError::Unavailable(reason)) => {
                self.set_state(SessionState::Stopped, Some(reason.clone()), None)
                    .await;
                self.answer_waiting(|| {
                    Err(SessionError::Engine(EngineError::Unavailable(
                        reason.clone(),
                    )))
                });
            }
            Err(error) => {
                tracing::warn!(session = %self.name, %error, "opening the session failed; retrying");
                self.schedule_reconnect(error.to_string()).await;
            }
        }
    }

    async fn close_connection(&mut self) {
        self.events = None;
        if let Some(mut connection) = self.connection.take() {
            connection.close().await;
        }
    }

    async fn on_event(&mut self, event: EngineEvent) {
        match event {
            EngineEvent::Qr { code, ttl } => {
                let expires_at_ms = (store::now() * 1000) + ttl.as_millis() as i64;
                let qr = QrCode {
                    code,
                    expires_at_ms,
                };
                self.snapshot.send_modify(|s| {
                    s.qr = Some(qr.clone());
                    s.pair_code = None;
                });
                self.set_state(SessionState::Qr, None, None).await;
                let _ = self.shared.bus.send(GatewayEvent::Qr {
                    session: self.name.clone(),
                    qr: qr.code.clone(),
                    expires_at_ms,
                });
                self.answer_waiting(|| Ok(StartOutcome::Qr(qr.clone())));
            }
            EngineEvent::PairCode { code } => {
                self.snapshot
                    .send_modify(|s| s.pair_code = Some(code.clone()));
                self.set_state(SessionState::Qr, None, None).await;
                let _ = self.shared.bus.send(GatewayEvent::PairCode {
                    session: self.name.clone(),
                    code: code.clone(),
                });
                self.answer_waiting(|| Ok(StartOutcome::PairCode(code.clone())));
            }
            EngineEvent::Paired { phone } => {
                tracing::info!(session = %self.name, "linked to a phone");
                self.set_state(SessionState::Connecting, None, Some(phone))
                    .await;
            }
            EngineEvent::Connected { phone } => {
                self.attempts = 0;
                self.snapshot.send_modify(|s| {
                    s.qr = None;
                    s.pair_code = None;
                });
                self.set_state(SessionState::Connected, None, Some(phone.clone()))
                    .await;
                self.answer_waiting(|| {
                    Ok(StartOutcome::Connected {
                        phone: Some(phone.clone()),
                    })
                });
            }
            EngineEvent::Disconnected { reason } => self.connection_lost(reason).await,
            EngineEvent::LoggedOut { reason } => {
                tracing::warn!(session = %self.name, %reason, "logged out by the network");
                self.close_connection().await;
                if let Err(error) = self.shared.engine.remove_credentials(&self.name).await {
                    tracing::error!(session = %self.name, %error, "cannot remove credentials");
                }
                let name = self.name.clone();
                let _ = self
                    .shared
                    .db
                    .call(move |c| store::sessions::mark_stopped(c, &name))
                    .await;
                self.set_state(SessionState::LoggedOut, Some(reason.clone()), None)
                    .await;
                self.answer_waiting(|| Err(SessionError::LinkFailed(reason.clone())));
            }
            EngineEvent::Stopped { reason } => {
                self.close_connection().await;
                self.snapshot.send_modify(|s| s.qr = None);
                let name = self.name.clone();
                let _ = self
                    .shared
                    .db
                    .call(move |c| store::sessions::mark_stopped(c, &name))
                    .await;
                self.set_state(SessionState::Stopped, Some(reason.clone()), None)
                    .await;
                self.answer_waiting(|| Err(SessionError::LinkFailed(reason.clone())));
            }
            EngineEvent::Message(message) => self.on_message(*message).await,
            EngineEvent::Receipt(receipt) => self.on_receipt(receipt).await,
        }
    }

    async fn connection_lost(&mut self, reason: String) {
        if matches!(
            self.state(),
            SessionState::Stopped | SessionState::LoggedOut
        ) {
            self.close_connection().await;
            return;
        }
        tracing::info!(session = %self.name, %reason, "disconnected; reconnecting");
        self.close_connection().await;
        self.schedule_reconnect(reason).await;
    }

    async fn schedule_reconnect(&mut self, reason: String) {
        // A start waiting on this connection gets the reason now rather than a timeout later.
        self.answer_waiting(|| {
            Err(SessionError::Engine(EngineError::Unavailable(format!(
                "the session cannot connect now ({reason}); it keeps retrying"
            ))))
        });
        let delay = retry_delay(self.attempts);
        self.attempts = self.attempts.saturating_add(1);
        self.reconnect_at = Some(Instant::now() + delay);
        self.set_state(SessionState::Disconnected, Some(reason), None)
            .await;
    }

    /// Sends `first` and every send already queued behind it, then records them in one
    /// transaction: under load a session waits on commits, not on the engine. Returns the first
    /// queued command that is not a send.
    async fn send_queued(
        &mut self,
        first: OutboundMessage,
        reply: SendReply,
        commands: &mut mpsc::Receiver<Command>,
    ) -> Option<Command> {
        let mut batch = vec![(first, reply)];
        let mut after = None;
        while batch.len() < MAX_SEND_BATCH {
            match commands.try_recv() {
                Ok(Command::Send { message, reply }) => batch.push((*message, reply)),
                Ok(other) => {
                    after = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        let mut outcomes = Vec::with_capacity(batch.len());
        for (message, reply) in batch {
            outcomes.push((reply, self.send(message).await));
        }
        let records: Vec<MessageRecord> = outcomes
            .iter()
            .filter_map(|(_, outcome)| outcome.as_ref().ok().cloned())
            .collect();
        let stored = if records.is_empty() {
            Ok(())
        } else {
            self.shared
                .db
                .call(move |c| store::messages::insert_all(c, &records))
                .await
        };
        for (reply, outcome) in outcomes {
            let outcome = match (&stored, outcome) {
                // Sent but not recorded: say so rather than report a clean success.
                (Err(error), Ok(_)) => Err(SessionError::Store(StoreError::Task(format!(
                    "the message was sent but could not be recorded: {error}"
                )))),
                (_, outcome) => outcome,
            };
            let _ = reply.send(outcome);
        }
        after
    }

    /// Sends one message through the engine and returns its record, not yet stored.
    async fn send(&mut self, message: OutboundMessage) -> Result<MessageRecord, SessionError> {
        let state = self.state();
        let connection = match (&mut self.connection, state) {
            (Some(connection), SessionState::Connected) => connection,
            _ => {
                return Err(SessionError::NotReady {
                    session: self.name.clone(),
                    state,
                });
            }
        };
        let sent = connection
            .send(message.clone())
            .await
            .map_err(SessionError::Engine)?;
        let own = self
            .snapshot
            .borrow()
            .phone
            .as_deref()
            .map(jid::phone_jid)
            .unwrap_or_default();
        let media = message.content.media();
        let record = MessageRecord {
            session: self.name.clone(),
            id: sent.id,
            chat: message.to.clone(),
            sender: own,
            from_me: true,
            kind: message.content.kind().to_string(),
            text: message.content.text().map(str::to_string),
            file_name: message.content.file_name().map(str::to_string),
            mimetype: media.map(|m| m.mimetype.clone()),
            sha256: None,
            length: media.map(|m| m.bytes.len() as i64),
            media_file: None,
            quoted_id: message.quoted.map(|q| q.id),
            push_name: None,
            timestamp: sent.timestamp,
            status: "server_ack".into(),
        };
        Ok(record)
    }

    async fn on_message(&mut self, message: InboundMessage) {
        let media_file = match (&message.media, &mut self.connection) {
            (Some(media), Some(connection)) => match connection.download(media).await {
                Ok(bytes) => {
                    match self
                        .shared
                        .media
                        .save(
                            &message.id,
                            &media.mimetype,
                            media.file_name.as_deref(),
                            &bytes,
                        )
                        .await
                    {
                        Ok(file) => Some(file),
                        Err(error) => {
                            tracing::error!(session = %self.name, %error, "cannot save received media");
                            None
                        }
                    }
                }
                Err(error) => {
                    tracing::error!(session = %self.name, %error, "cannot download received media");
                    None
                }
            },
            _ => None,
        };
        let facts = MessageFacts::of(&message);
        let record = MessageRecord {
            session: self.name.clone(),
            id: message.id,
            chat: message.chat,
            sender: message.sender_pn.unwrap_or(message.sender),
            from_me: false,
            kind: message.kind,
            text: message.text,
            file_name: message.media.as_ref().and_then(|m| m.file_name.clone()),
            mimetype: message.media.as_ref().map(|m| m.mimetype.clone()),
            sha256: None,
            length: None,
            media_file,
            quoted_id: message.quoted_id,
            push_name: message.push_name,
            timestamp: message.timestamp,
            status: "received".into(),
        };
        match self
            .shared
            .webhooks
            .record_message(record.clone(), facts)
            .await
        {
            Ok(true) => {
                crate::metrics::message_received(&record.kind);
                let _ = self.shared.bus.send(GatewayEvent::Message {
                    session: self.name.clone(),
                    message: Arc::new(record),
                });
            }
            Ok(false) => tracing::debug!(session = %self.name, "duplicate inbound message ignored"),
            Err(error) => {
                tracing::error!(session = %self.name, %error, "cannot record inbound message")
            }
        }
    }

    async fn on_receipt(&mut self, receipt: Receipt) {
        let name = self.name.clone();
        let ids = receipt.message_ids.clone();
        let status = receipt.status.clone();
        let result = self
            .shared
            .db
            .call(move |c| {
                for id in &ids {
                    store::messages::advance_status(c, &name, id, &status)?;
                }
                Ok::<_, store::StoreError>(())
            })
            .await;
        if let Err(error) = result {
            tracing::error!(session = %self.name, %error, "cannot record receipt");
        }
        let _ = self.shared.bus.send(GatewayEvent::Receipt {
            session: self.name.clone(),
            message_ids: receipt.message_ids,
            status: receipt.status,
        });
    }

    async fn logout(&mut self) -> Result<(), SessionError> {
        if let Some(connection) = &mut self.connection
            && let Err(error) = connection.logout().await
        {
            // The device may already be gone on the phone's side; local removal still happens.
            tracing::warn!(session = %self.name, %error, "logout on the network failed");
        }
        self.close_connection().await;
        self.shared
            .engine
            .remove_credentials(&self.name)
            .await
            .map_err(SessionError::Engine)?;
        self.shared.webhooks.record_removal(&self.name).await?;
        self.snapshot.send_replace(Snapshot::stopped());
        let _ = self.shared.bus.send(GatewayEvent::Status {
            session: self.name.clone(),
            status: SessionState::Stopped,
            reason: Some("logged out".into()),
            phone: None,
            timestamp: store::now(),
        });
        self.answer_waiting(|| {
            Err(SessionError::LinkFailed(
                "the session was logged out".into(),
            ))
        });
        Ok(())
    }

    /// Changes state, persists it and announces it; a repeat of the same state is not announced.
    async fn set_state(
        &mut self,
        state: SessionState,
        reason: Option<String>,
        phone: Option<String>,
    ) {
        let before = self.snapshot.borrow().clone();
        if before.state == state
            && before.reason == reason
            && (phone.is_none() || before.phone == phone)
        {
            return;
        }
        self.snapshot.send_modify(|s| {
            s.state = state;
            s.reason = reason.clone();
            if phone.is_some() {
                s.phone = phone.clone();
            }
            if state != SessionState::Qr {
                s.qr = None;
            }
        });
        let stored = self
            .shared
            .webhooks
            .record_status(&self.name, state, reason.clone(), phone)
            .await;
        if let Err(error) = stored {
            tracing::error!(session = %self.name, %error, "cannot record session status");
        }
        let _ = self.shared.bus.send(GatewayEvent::Status {
            session: self.name.clone(),
            status: state,
            reason,
            phone: self.snapshot.borrow().phone.clone(),
            timestamp: store::now(),
        });
    }

    fn answer_waiting(&mut self, outcome: impl Fn() -> Result<StartOutcome, SessionError>) {
        for reply in self.waiting.drain(..) {
            let _ = reply.send(outcome());
        }
    }
}
