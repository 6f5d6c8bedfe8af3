//! The sandbox engine: a simulated WhatsApp network inside the daemon, for tests, demos and
//! application developers without a phone. Sessions link by a (simulated) QR scan, exchange
//! messages with each other by phone number, join groups, drop and get unlinked.
//!
//! Credentials are small files under `CREDENTIALS_DIR` (`{session}.sandbox.json`), so a linked
//! session comes back connected after a restart without a new QR, as on the real network.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{
    Content, Engine, EngineError, EngineEvent, EngineSession, InboundMedia, InboundMessage,
    LinkMethod, MediaSource, OutboundMessage, Receipt, SentMessage,
};
use crate::config::EngineKind;
use crate::jid;
use crate::store::now;

/// How long the first QR code lives, and each one after it (WhatsApp's own rhythm).
const FIRST_QR_TTL: Duration = Duration::from_secs(60);
const NEXT_QR_TTL: Duration = Duration::from_secs(20);
/// After this many codes without a scan, linking stops.
const QR_CODES: usize = 6;
/// Messages kept per session for `GET /sandbox/outbox`, and queued for an offline number.
const OUTBOX_LIMIT: usize = 10_000;
const OFFLINE_LIMIT: usize = 1_000;

/// One message a session sent, as `GET /sandbox/outbox` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutboxEntry {
    pub id: String,
    pub to: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub caption: Option<String>,
    pub file_name: Option<String>,
    pub mimetype: Option<String>,
    pub sha256: Option<String>,
    pub length: Option<u64>,
    pub quoted_message_id: Option<String>,
    pub timestamp: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Credentials {
    phone: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Group {
    subject: String,
    members: Vec<String>,
}

/// A session's live connection to the simulated network.
struct Device {
    connection: u64,
    phone: Option<String>,
    events: mpsc::Sender<EngineEvent>,
    /// Present while the session waits for a scan.
    pending_scan: Option<(String, oneshot::Sender<String>)>,
    cancel: CancellationToken,
}

#[derive(Default)]
struct NetworkState {
    devices: HashMap<String, Device>,
    /// Connected sessions by phone number.
    by_phone: HashMap<String, String>,
    groups: HashMap<String, Group>,
    outbox: HashMap<String, VecDeque<OutboxEntry>>,
    /// Messages for linked numbers that are not connected right now.
    offline: HashMap<String, VecDeque<InboundMessage>>,
    next_connection: u64,
}

/// Something the sandbox's control surface was asked to do that it cannot.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("session '{0}' is not waiting for a QR scan; start it first")]
    NotWaitingForScan(String),
    #[error("session '{0}' is not connected to the sandbox network")]
    NotConnected(String),
    #[error("phone {phone} is already linked to session '{session}'")]
    PhoneInUse { phone: String, session: String },
    #[error("{0}")]
    Invalid(String),
    #[error("cannot store sandbox state: {0}")]
    Io(String),
}

pub struct SandboxNetwork {
    me: std::sync::Weak<SandboxNetwork>,
    credentials_dir: PathBuf,
    autoscan: Option<Duration>,
    qr_ttl: Option<Duration>,
    state: Mutex<NetworkState>,
}

/// The phone number an autoscanned session links as: `99` followed by the first ten digits of
/// the decimal SHA-256 prefix of the session name. Stable across runs and machines.
pub fn autoscan_phone(session: &str) -> String {
    let digest = Sha256::digest(session.as_bytes());
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&digest[..8]);
    format!("99{:010}", u64::from_be_bytes(prefix) % 10_000_000_000)
}

/// A QR payload shaped like WhatsApp's: `ref,noise-key,identity-key,adv-secret`.
fn new_qr_code() -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let reference: [u8; 48] = rand::random();
    let keys: [[u8; 32]; 3] = rand::random();
    format!(
        "2@{},{},{},{}",
        b64(&reference),
        b64(&keys[0]),
        b64(&keys[1]),
        b64(&keys[2])
    )
}

fn hex_id(prefix: &str, random_bytes: usize) -> String {
    let bytes: Vec<u8> = (0..random_bytes).map(|_| rand::random::<u8>()).collect();
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    format!("{prefix}{hex}")
}

/// Ids of messages this device sends, like WhatsApp Web's (`3EB0…`).
fn new_sent_id() -> String {
    hex_id("3EB0", 9)
}

/// Ids of messages phones send (`3A…`, 20 hex digits).
pub fn new_inbound_id() -> String {
    hex_id("3A", 9)
}

impl SandboxNetwork {
    pub fn new(
        credentials_dir: &Path,
        autoscan: Option<Duration>,
        qr_ttl: Option<Duration>,
    ) -> Arc<SandboxNetwork> {
        let network = Arc::new_cyclic(|me| SandboxNetwork {
            me: me.clone(),
            credentials_dir: credentials_dir.to_path_buf(),
            autoscan,
            qr_ttl,
            state: Mutex::new(NetworkState::default()),
        });
        network.lock().groups = network.load_groups();
        network
    }

    fn lock(&self) -> MutexGuard<'_, NetworkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn credentials_file(&self, session: &str) -> PathBuf {
        self.credentials_dir.join(format!("{session}.sandbox.json"))
    }

    fn groups_file(&self) -> PathBuf {
        self.credentials_dir.join("sandbox-groups.json")
    }

    fn read_credentials(&self, session: &str) -> Option<Credentials> {
        let raw = std::fs::read(self.credentials_file(session)).ok()?;
        serde_json::from_slice(&raw).ok()
    }

    fn write_private(path: &Path, contents: &[u8]) -> Result<(), SandboxError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| SandboxError::Io(e.to_string()))?;
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(|e| SandboxError::Io(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| SandboxError::Io(e.to_string()))
    }

    fn load_groups(&self) -> HashMap<String, Group> {
        std::fs::read(self.groups_file())
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .unwrap_or_default()
    }

    /// The simulated phone scans the session's current QR code and links as `phone`.
    pub fn scan(&self, session: &str, phone: Option<&str>) -> Result<String, SandboxError> {
        let phone = match phone {
            Some(p) => jid::normalize_phone(p).map_err(|e| SandboxError::Invalid(e.to_string()))?,
            None => autoscan_phone(session),
        };
        let mut state = self.lock();
        if let Some(owner) = state
            .by_phone
            .get(&phone)
            .filter(|owner| owner.as_str() != session)
        {
            return Err(SandboxError::PhoneInUse {
                phone,
                session: owner.clone(),
            });
        }
        let device = state
            .devices
            .get_mut(session)
            .ok_or_else(|| SandboxError::NotWaitingForScan(session.into()))?;
        let (_, scanned) = device
            .pending_scan
            .take()
            .ok_or_else(|| SandboxError::NotWaitingForScan(session.into()))?;
        drop(state);
        let credentials = serde_json::to_vec(&Credentials {
            phone: phone.clone(),
        })
        .unwrap_or_default();
        Self::write_private(&self.credentials_file(session), &credentials)?;
        let _ = scanned.send(phone.clone());
        Ok(phone)
    }

    /// The QR code the session shows right now, if it waits for a scan.
    pub fn pending_qr(&self, session: &str) -> Option<String> {
        self.lock()
            .devices
            .get(session)?
            .pending_scan
            .as_ref()
            .map(|(qr, _)| qr.clone())
    }

    fn events_of(
        &self,
        session: &str,
    ) -> Result<(mpsc::Sender<EngineEvent>, String), SandboxError> {
        let state = self.lock();
        let device = state
            .devices
            .get(session)
            .ok_or_else(|| SandboxError::NotConnected(session.into()))?;
        let phone = device
            .phone
            .clone()
            .ok_or_else(|| SandboxError::NotConnected(session.into()))?;
        Ok((device.events.clone(), phone))
    }

    /// Delivers a message to `session` as if `from` had sent it; returns its id.
    pub async fn inbound(
        &self,
        session: &str,
        mut message: InboundMessage,
    ) -> Result<String, SandboxError> {
        let (events, _) = self.events_of(session)?;
        message.id = new_inbound_id();
        let id = message.id.clone();
        events
            .send(EngineEvent::Message(Box::new(message)))
            .await
            .map_err(|_| SandboxError::NotConnected(session.into()))?;
        Ok(id)
    }

    /// What `session` has sent, oldest first.
    pub fn outbox(&self, session: &str) -> Vec<OutboxEntry> {
        self.lock()
            .outbox
            .get(session)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Creates a group of phone numbers; returns its JID.
    pub fn create_group(&self, subject: &str, members: &[String]) -> Result<String, SandboxError> {
        let members = members
            .iter()
            .map(|m| jid::normalize_recipient(m, false).map(|j| jid::user_part(&j).to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SandboxError::Invalid(e.to_string()))?;
        if members.is_empty() {
            return Err(SandboxError::Invalid(
                "a group needs at least one member phone number".into(),
            ));
        }
        let id = format!(
            "120363{:012}@g.us",
            rand::random::<u64>() % 1_000_000_000_000
        );
        let snapshot = {
            let mut state = self.lock();
            state.groups.insert(
                id.clone(),
                Group {
                    subject: subject.to_string(),
                    members,
                },
            );
            serde_json::to_vec(&state.groups).unwrap_or_default()
        };
        Self::write_private(&self.groups_file(), &snapshot)?;
        Ok(id)
    }

    /// A network drop: the session's connection ends and the session reconnects by itself.
    pub async fn drop_connection(&self, session: &str) -> Result<(), SandboxError> {
        let (events, _) = self.events_of(session)?;
        events
            .send(EngineEvent::Disconnected {
                reason: "connection lost (sandbox network drop)".into(),
            })
            .await
            .map_err(|_| SandboxError::NotConnected(session.into()))
    }

    /// The phone removes the linked device: credentials are void, the session is logged out.
    pub async fn unlink(&self, session: &str) -> Result<(), SandboxError> {
        let (events, _) = self.events_of(session)?;
        let _ = std::fs::remove_file(self.credentials_file(session));
        events
            .send(EngineEvent::LoggedOut {
                reason: "the phone removed this linked device".into(),
            })
            .await
            .map_err(|_| SandboxError::NotConnected(session.into()))
    }

    /// Runs the QR rotation until a scan, exhaustion or cancellation.
    async fn link_by_qr(
        self: Arc<Self>,
        session: String,
        connection: u64,
        cancel: CancellationToken,
    ) {
        let events = match self.lock().devices.get(&session) {
            Some(d) if d.connection == connection => d.events.clone(),
            _ => return,
        };
        if let Some(delay) = self.autoscan {
            let network = self.clone();
            let session = session.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = cancel.cancelled() => {}
                    () = tokio::time::sleep(delay) => { let _ = network.scan(&session, None); }
                }
            });
        }
        for n in 0..QR_CODES {
            let ttl = self
                .qr_ttl
                .unwrap_or(if n == 0 { FIRST_QR_TTL } else { NEXT_QR_TTL });
            let code = new_qr_code();
            let (scanned_tx, scanned_rx) = oneshot::channel();
            match self.lock().devices.get_mut(&session) {
                Some(d) if d.connection == connection => {
                    d.pending_scan = Some((code.clone(), scanned_tx))
                }
                _ => return,
            }
            if events.send(EngineEvent::Qr { code, ttl }).await.is_err() {
                return;
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(ttl) => continue,
                scanned = scanned_rx => {
                    if let Ok(phone) = scanned {
                        let _ = events.send(EngineEvent::Paired { phone: phone.clone() }).await;
                        self.come_online(&session, connection, phone).await;
                    }
                    return;
                }
            }
        }
        if let Some(d) = self.lock().devices.get_mut(&session) {
            d.pending_scan = None;
        }
        let _ = events
            .send(EngineEvent::Stopped {
                reason: "the QR codes expired without a scan; start the session again".into(),
            })
            .await;
    }

    /// Marks the session connected as `phone` and hands it what was queued while it was away.
    async fn come_online(&self, session: &str, connection: u64, phone: String) {
        let (events, queued) = {
            let mut state = self.lock();
            let Some(device) = state
                .devices
                .get_mut(session)
                .filter(|d| d.connection == connection)
            else {
                return;
            };
            device.phone = Some(phone.clone());
            let events = device.events.clone();
            state.by_phone.insert(phone.clone(), session.to_string());
            (events, state.offline.remove(&phone).unwrap_or_default())
        };
        let _ = events.send(EngineEvent::Connected { phone }).await;
        for message in queued {
            let _ = events.send(EngineEvent::Message(Box::new(message))).await;
        }
    }

    /// Carries a sent message to every sandbox session it is addressed to.
    fn route(&self, sender_phone: &str, sent: &SentMessage, message: &OutboundMessage) -> bool {
        let sender_jid = jid::phone_jid(sender_phone);
        let is_group = jid::is_group_jid(&message.to);
        let recipients: Vec<String> = if is_group {
            let state = self.lock();
            match state.groups.get(&message.to) {
                Some(group) => group
                    .members
                    .iter()
                    .filter(|m| m.as_str() != sender_phone)
                    .cloned()
                    .collect(),
                None => Vec::new(),
            }
        } else {
            vec![jid::user_part(&message.to).to_string()]
        };
        let media = message.content.media().map(|m| InboundMedia {
            mimetype: m.mimetype.clone(),
            file_name: message.content.file_name().map(str::to_string),
            source: MediaSource::Inline(m.bytes.clone()),
        });
        let inbound = InboundMessage {
            id: sent.id.clone(),
            chat: if is_group {
                message.to.clone()
            } else {
                sender_jid.clone()
            },
            sender: sender_jid,
            sender_pn: None,
            push_name: None,
            is_group,
            kind: message.content.kind().to_string(),
            text: message.content.text().map(str::to_string),
            media,
            quoted_id: message.quoted.as_ref().map(|q| q.id.clone()),
            timestamp: sent.timestamp,
        };
        let mut delivered_live = false;
        let mut state = self.lock();
        for phone in recipients {
            let live = state
                .by_phone
                .get(&phone)
                .and_then(|s| state.devices.get(s))
                .map(|d| d.events.clone());
            match live {
                // try_send keeps the sender's task from waiting on a slow recipient; a full
                // queue falls back to the offline queue below.
                Some(events)
                    if events
                        .try_send(EngineEvent::Message(Box::new(inbound.clone())))
                        .is_ok() =>
                {
                    delivered_live = true;
                }
                _ => {
                    let queue = state.offline.entry(phone).or_default();
                    if queue.len() < OFFLINE_LIMIT {
                        queue.push_back(inbound.clone());
                    }
                }
            }
        }
        delivered_live
    }
}

#[async_trait]
impl Engine for SandboxNetwork {
    fn kind(&self) -> EngineKind {
        EngineKind::Sandbox
    }

    async fn open(
        &self,
        session: &str,
        link: LinkMethod,
        events: mpsc::Sender<EngineEvent>,
    ) -> Result<Box<dyn EngineSession>, EngineError> {
        let cancel = CancellationToken::new();
        let connection = {
            let mut state = self.lock();
            state.next_connection += 1;
            let connection = state.next_connection;
            if let Some(old) = state.devices.remove(session) {
                old.cancel.cancel();
                if let Some(phone) = old.phone {
                    state.by_phone.remove(&phone);
                }
            }
            let device = Device {
                connection,
                phone: None,
                events: events.clone(),
                pending_scan: None,
                cancel: cancel.clone(),
            };
            state.devices.insert(session.to_string(), device);
            connection
        };
        let network = self.arc_self();
        match (self.read_credentials(session), link) {
            (Some(credentials), _) => {
                let session = session.to_string();
                tokio::spawn(async move {
                    network
                        .come_online(&session, connection, credentials.phone)
                        .await
                });
            }
            (None, LinkMethod::Qr) => {
                tokio::spawn(network.link_by_qr(session.to_string(), connection, cancel));
            }
            (None, LinkMethod::PhoneCode(phone)) => {
                // The simulated phone accepts the code at once as that number.
                let code = format!(
                    "{:04}-{:04}",
                    rand::random::<u16>() % 10_000,
                    rand::random::<u16>() % 10_000
                );
                let session = session.to_string();
                tokio::spawn(async move {
                    let _ = events.send(EngineEvent::PairCode { code }).await;
                    let credentials = serde_json::to_vec(&Credentials {
                        phone: phone.clone(),
                    })
                    .unwrap_or_default();
                    if Self::write_private(&network.credentials_file(&session), &credentials)
                        .is_ok()
                    {
                        let _ = events
                            .send(EngineEvent::Paired {
                                phone: phone.clone(),
                            })
                            .await;
                        network.come_online(&session, connection, phone).await;
                    }
                });
            }
        }
        Ok(Box::new(SandboxSession {
            network: self.arc_self(),
            session: session.to_string(),
            connection,
        }))
    }

    fn is_linked(&self, session: &str) -> bool {
        self.credentials_file(session).exists()
    }

    async fn remove_credentials(&self, session: &str) -> Result<(), EngineError> {
        match tokio::fs::remove_file(self.credentials_file(session)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(EngineError::Failed(format!(
                "cannot remove sandbox credentials: {e}"
            ))),
        }
    }
}

impl SandboxNetwork {
    /// Sessions and spawned tasks keep a handle on the network.
    fn arc_self(&self) -> Arc<SandboxNetwork> {
        self.me
            .upgrade()
            .expect("the network outlives its sessions")
    }
}

struct SandboxSession {
    network: Arc<SandboxNetwork>,
    session: String,
    connection: u64,
}

impl SandboxSession {
    fn phone(&self) -> Result<String, EngineError> {
        let state = self.network.lock();
        state
            .devices
            .get(&self.session)
            .filter(|d| d.connection == self.connection)
            .and_then(|d| d.phone.clone())
            .ok_or(EngineError::NotConnected)
    }
}

fn entry_for(sent: &SentMessage, message: &OutboundMessage) -> OutboxEntry {
    let media = message.content.media();
    let is_text = matches!(message.content, Content::Text { .. });
    OutboxEntry {
        id: sent.id.clone(),
        to: message.to.clone(),
        kind: message.content.kind().to_string(),
        text: if is_text {
            message.content.text().map(str::to_string)
        } else {
            None
        },
        caption: if is_text {
            None
        } else {
            message.content.text().map(str::to_string)
        },
        file_name: message.content.file_name().map(str::to_string),
        mimetype: media.map(|m| m.mimetype.clone()),
        sha256: media.map(|m| {
            Sha256::digest(&m.bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        }),
        length: media.map(|m| m.bytes.len() as u64),
        quoted_message_id: message.quoted.as_ref().map(|q| q.id.clone()),
        timestamp: sent.timestamp,
    }
}

#[async_trait]
impl EngineSession for SandboxSession {
    async fn send(&mut self, message: OutboundMessage) -> Result<SentMessage, EngineError> {
        let phone = self.phone()?;
        let sent = SentMessage {
            id: new_sent_id(),
            timestamp: now(),
        };
        {
            let mut state = self.network.lock();
            let outbox = state.outbox.entry(self.session.clone()).or_default();
            if outbox.len() >= OUTBOX_LIMIT {
                outbox.pop_front();
            }
            outbox.push_back(entry_for(&sent, &message));
        }
        if self.network.route(&phone, &sent, &message) {
            let events = self
                .network
                .lock()
                .devices
                .get(&self.session)
                .map(|d| d.events.clone());
            if let Some(events) = events {
                let receipt = Receipt {
                    message_ids: vec![sent.id.clone()],
                    chat: message.to.clone(),
                    status: "delivered".into(),
                };
                let _ = events.try_send(EngineEvent::Receipt(receipt));
            }
        }
        Ok(sent)
    }

    async fn download(&mut self, media: &InboundMedia) -> Result<Bytes, EngineError> {
        match &media.source {
            MediaSource::Inline(bytes) => Ok(bytes.clone()),
            MediaSource::Engine(_) => {
                Err(EngineError::Failed("not a sandbox media reference".into()))
            }
        }
    }

    async fn logout(&mut self) -> Result<(), EngineError> {
        self.close().await;
        Ok(())
    }

    async fn close(&mut self) {
        let mut state = self.network.lock();
        if state
            .devices
            .get(&self.session)
            .is_some_and(|d| d.connection == self.connection)
            && let Some(device) = state.devices.remove(&self.session)
        {
            device.cancel.cancel();
            if let Some(phone) = device.phone {
                state.by_phone.remove(&phone);
            }
        }
    }
}
