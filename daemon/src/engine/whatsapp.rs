//! The real WhatsApp network through whatsapp-rust: one `Bot` per session, each with its own
//! SQLite credential file `CREDENTIALS_DIR/{session}.db`, sharing one HTTP client.
//!
//! The library hands events to handlers on its dispatch path; a session's handler only pushes
//! them into an unbounded channel, and one task per session translates and forwards them, so
//! the session sees them in the order they happened.

mod events;
mod http;
mod inbound;
mod mime;
mod outbound;
mod runtime;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use whatsapp_rust::bot::Bot;
use whatsapp_rust::download::DownloadParams;
use whatsapp_rust::pair_code::PairCodeOptions;
use whatsapp_rust::store::SqliteStore;
use whatsapp_rust::transport::{Transport, TransportEvent, TransportFactory};
use whatsapp_rust::types::events::{Event, EventHandler, EventInterest};
use whatsapp_rust::{Client, UploadOptions};

use super::{
    Engine, EngineError, EngineEvent, EngineSession, InboundMedia, LinkMethod, MediaSource,
    OutboundMessage, SentMessage,
};
use crate::config::EngineKind;
use crate::store::now;

pub use http::ReqwestHttp;

/// Where and how sessions connect. The default is WhatsApp's servers over WebSocket.
pub struct WhatsappEngine {
    credentials_dir: PathBuf,
    http: ReqwestHttp,
    transport: Option<Arc<dyn TransportFactory>>,
    version: Option<(u32, u32, u32)>,
    speedup: u32,
}

impl WhatsappEngine {
    pub fn new(credentials_dir: &Path) -> anyhow::Result<WhatsappEngine> {
        Ok(WhatsappEngine {
            credentials_dir: credentials_dir.to_path_buf(),
            http: ReqwestHttp::new()?,
            transport: None,
            version: None,
            speedup: 1,
        })
    }

    /// Connects sessions through `transport` instead of WhatsApp's WebSocket, announcing
    /// `version` instead of fetching the current one. For a protocol mock in tests and benches.
    pub fn with_transport(
        mut self,
        transport: Arc<dyn TransportFactory>,
        version: (u32, u32, u32),
    ) -> WhatsappEngine {
        self.transport = Some(transport);
        self.version = Some(version);
        self
    }

    /// Runs every library timer `speedup` times faster (QR rotation, keepalive). Tests only.
    pub fn with_speedup(mut self, speedup: u32) -> WhatsappEngine {
        self.speedup = speedup.max(1);
        self
    }

    fn credentials_file(&self, session: &str) -> PathBuf {
        self.credentials_dir.join(format!("{session}.db"))
    }

    /// Creates the credential file private before SQLite opens it; SQLite gives its -wal and
    /// -shm files the same mode.
    fn prepare_credentials(&self, session: &str) -> Result<PathBuf, EngineError> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let path = self.credentials_file(session);
        let failed = |e: std::io::Error| {
            EngineError::Failed(format!("cannot prepare {}: {e}", path.display()))
        };
        std::fs::create_dir_all(&self.credentials_dir).map_err(failed)?;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(failed)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(failed)?;
        Ok(path)
    }
}

/// Lends the engine's shared transport factory to one bot, and reports when it cannot connect:
/// the library only logs that and retries, so a session would otherwise wait in silence.
struct SharedTransport {
    factory: Arc<dyn TransportFactory>,
    queue: mpsc::UnboundedSender<Raw>,
}

#[async_trait]
impl TransportFactory for SharedTransport {
    async fn create_transport(
        &self,
    ) -> anyhow::Result<(
        Arc<dyn Transport>,
        whatsapp_rust::async_channel::Receiver<TransportEvent>,
    )> {
        let created = self.factory.create_transport().await;
        if let Err(error) = &created {
            let _ = self.queue.send(Raw::Unreachable(format!("{error:#}")));
        }
        created
    }
}

/// What the library's dispatch path hands the session's forwarding task.
enum Raw {
    Event(Arc<Event>),
    /// The client's run loop returned.
    Ended,
    /// Opening a connection to WhatsApp failed.
    Unreachable(String),
}

/// Runs inline on the library's dispatch path, so it only queues.
struct Queue(mpsc::UnboundedSender<Raw>);

impl EventHandler for Queue {
    fn handle_event(&self, event: Arc<Event>) {
        let _ = self.0.send(Raw::Event(event));
    }

    fn interest(&self) -> EventInterest {
        events::interest()
    }
}

#[async_trait]
impl Engine for WhatsappEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Whatsapp
    }

    async fn open(
        &self,
        session: &str,
        link: LinkMethod,
        events: mpsc::Sender<EngineEvent>,
    ) -> Result<Box<dyn EngineSession>, EngineError> {
        let path = self.prepare_credentials(session)?;
        let span = tracing::info_span!("whatsapp", session = %session);
        let backend = SqliteStore::new(&path.to_string_lossy())
            .await
            .map_err(|e| {
                EngineError::Failed(format!("cannot open credentials {}: {e}", path.display()))
            })?;
        let transport = self.transport.clone().unwrap_or_else(|| {
            Arc::new(whatsapp_rust::transport::TokioWebSocketTransportFactory::new())
        });
        let (queue, raw) = mpsc::unbounded_channel();
        let mut builder = Bot::builder()
            .with_backend(backend)
            .with_transport_factory(SharedTransport {
                factory: transport,
                queue: queue.clone(),
            })
            .with_http_client(self.http.clone())
            .with_runtime(runtime::SessionRuntime::new(span.clone(), self.speedup))
            .with_event_handler(Queue(queue.clone()))
            // The gateway keeps no chat history; skipping it saves memory and bandwidth.
            .skip_history_sync();
        if let Some(version) = self.version {
            builder = builder.with_version(version);
        }
        let link_by_code = match &link {
            LinkMethod::Qr => false,
            LinkMethod::PhoneCode(phone) => {
                builder = builder.with_pair_code(PairCodeOptions {
                    phone_number: phone.clone(),
                    ..Default::default()
                });
                true
            }
        };
        let bot = builder
            .build()
            .instrument(span.clone())
            .await
            .map_err(|e| EngineError::Failed(format!("cannot start the WhatsApp client: {e}")))?;
        let client = bot.client();
        let handle = bot.spawn();
        tokio::spawn(
            async move {
                handle.await;
                let _ = queue.send(Raw::Ended);
            }
            .instrument(span.clone()),
        );
        let cancel = CancellationToken::new();
        tokio::spawn(
            forward(raw, events, client.clone(), link_by_code, cancel.clone()).instrument(span),
        );
        Ok(Box::new(WhatsappSession { client, cancel }))
    }

    fn is_linked(&self, session: &str) -> bool {
        self.credentials_file(session).exists()
    }

    async fn remove_credentials(&self, session: &str) -> Result<(), EngineError> {
        let base = self.credentials_file(session);
        for suffix in ["", "-wal", "-shm"] {
            let path = PathBuf::from(format!("{}{suffix}", base.display()));
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(EngineError::Failed(format!(
                        "cannot remove {}: {e}",
                        path.display()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Translates the session's library events in arrival order and hands them to the session.
async fn forward(
    mut raw: mpsc::UnboundedReceiver<Raw>,
    events: mpsc::Sender<EngineEvent>,
    client: Arc<Client>,
    link_by_code: bool,
    cancel: CancellationToken,
) {
    let mut finished = false;
    loop {
        let item = tokio::select! {
            () = cancel.cancelled() => return,
            item = raw.recv() => item,
        };
        let event = match item {
            None => return,
            Some(Raw::Ended) if finished => return,
            Some(Raw::Ended) => {
                let _ = events
                    .send(EngineEvent::Disconnected {
                        reason: "the WhatsApp client stopped".into(),
                    })
                    .await;
                return;
            }
            Some(Raw::Unreachable(error)) if !finished => {
                finished = true;
                let reason = format!("cannot reach WhatsApp: {error}");
                if events
                    .send(EngineEvent::Disconnected { reason })
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Some(Raw::Unreachable(_)) => continue,
            Some(Raw::Event(event)) => event,
        };
        if finished {
            continue;
        }
        let own_phone = || client.pn().map(|jid| jid.user.to_string());
        let out = match events::translate(&event, link_by_code, own_phone) {
            events::Translated::Nothing => continue,
            events::Translated::Event(event) => vec![event],
            events::Translated::Final(event) => {
                finished = true;
                vec![event]
            }
            events::Translated::Messages(messages) => {
                let mut out = Vec::with_capacity(messages.len());
                for mut message in messages {
                    if message.sender_pn.is_none() {
                        message.sender_pn = lookup_pn(&client, &message.sender).await;
                    }
                    out.push(EngineEvent::Message(Box::new(message)));
                }
                out
            }
        };
        for event in out {
            if events.send(event).await.is_err() {
                return;
            }
        }
    }
}

/// The phone-number JID the library learned for a `@lid` author, if any.
async fn lookup_pn(client: &Client, sender: &str) -> Option<String> {
    let jid = sender.parse::<whatsapp_rust::Jid>().ok()?;
    if !jid.is_lid() {
        return None;
    }
    match client.get_lid_pn_entry(&jid).await {
        Ok(Some(entry)) => Some(crate::jid::phone_jid(&entry.phone_number)),
        Ok(None) => None,
        Err(error) => {
            tracing::debug!(%error, "looking up the phone number of a lid failed");
            None
        }
    }
}

struct WhatsappSession {
    client: Arc<Client>,
    cancel: CancellationToken,
}

#[async_trait]
impl EngineSession for WhatsappSession {
    async fn send(&mut self, message: OutboundMessage) -> Result<SentMessage, EngineError> {
        if !self.client.is_logged_in() {
            return Err(EngineError::NotConnected);
        }
        outbound::check(&message.content)?;
        let to = outbound::parse_jid(&message.to)?;
        let context = match &message.quoted {
            Some(quoted) => Some(outbound::quote_context(quoted, &to)?),
            None => None,
        };
        let upload = match (
            outbound::upload_type(&message.content),
            message.content.media(),
        ) {
            (Some(media_type), Some(media)) => Some(
                self.client
                    .upload(media.bytes.to_vec(), media_type, UploadOptions::default())
                    .await
                    .map_err(|e| EngineError::Failed(format!("uploading the media failed: {e}")))?
                    .into(),
            ),
            _ => None,
        };
        let wa_message = outbound::build(&message.content, upload, context)?;
        let sent = self
            .client
            .send_message(to, wa_message)
            .await
            .map_err(|e| EngineError::Failed(format!("WhatsApp did not take the message: {e}")))?;
        Ok(SentMessage {
            id: sent.message_id,
            timestamp: now(),
        })
    }

    async fn download(&mut self, media: &InboundMedia) -> Result<Bytes, EngineError> {
        match &media.source {
            MediaSource::Inline(bytes) => Ok(bytes.clone()),
            MediaSource::Engine(any) => {
                let params = any.downcast_ref::<DownloadParams>().ok_or_else(|| {
                    EngineError::Failed("the media was received by another engine".into())
                })?;
                let bytes = self.client.download(params).await.map_err(|e| {
                    EngineError::Failed(format!("downloading the media failed: {e}"))
                })?;
                Ok(Bytes::from(bytes))
            }
        }
    }

    async fn logout(&mut self) -> Result<(), EngineError> {
        // The session removes the credentials itself; the library's own LoggedOut is not news.
        self.cancel.cancel();
        self.client.logout().await;
        Ok(())
    }

    async fn close(&mut self) {
        self.cancel.cancel();
        self.client.disconnect().await;
    }
}
