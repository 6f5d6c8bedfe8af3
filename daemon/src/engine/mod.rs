//! The seam between wagw and WhatsApp. Everything the daemon needs from a WhatsApp network is in
//! [`Engine`] and [`EngineSession`]; the session manager cannot tell the implementations apart.

pub mod sandbox;
pub mod whatsapp;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::config::EngineKind;

/// What an engine reports about one session, in order, on the channel given to [`Engine::open`].
#[derive(Debug)]
pub enum EngineEvent {
    /// A QR code to show; it is replaced after `ttl`.
    Qr {
        code: String,
        ttl: Duration,
    },
    /// A pairing code to type on the phone (linking by phone number).
    PairCode {
        code: String,
    },
    /// The phone accepted the link; `phone` is the linked account's number.
    Paired {
        phone: String,
    },
    /// Connected and ready to send, as `phone`.
    Connected {
        phone: String,
    },
    /// The connection dropped; the session manager reconnects.
    Disconnected {
        reason: String,
    },
    /// The device was unlinked on the phone or the account is unusable; credentials are void.
    LoggedOut {
        reason: String,
    },
    /// The engine gave up without an error on the session's credentials (e.g. QR codes ran out).
    Stopped {
        reason: String,
    },
    Message(Box<InboundMessage>),
    Receipt(Receipt),
}

/// How a fresh session is linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkMethod {
    Qr,
    /// A pairing code for this phone number (digits only).
    PhoneCode(String),
}

#[derive(Debug, Clone)]
pub struct MediaPayload {
    pub bytes: Bytes,
    pub mimetype: String,
}

/// The content of an outgoing message. Video, audio and reactions fit here when needed.
#[derive(Debug, Clone)]
pub enum Content {
    Text {
        text: String,
    },
    Image {
        media: MediaPayload,
        caption: Option<String>,
    },
    Document {
        media: MediaPayload,
        file_name: String,
        caption: Option<String>,
    },
    Sticker {
        media: MediaPayload,
    },
}

impl Content {
    pub fn kind(&self) -> &'static str {
        match self {
            Content::Text { .. } => "text",
            Content::Image { .. } => "image",
            Content::Document { .. } => "document",
            Content::Sticker { .. } => "sticker",
        }
    }

    /// The text, or the caption of a media message.
    pub fn text(&self) -> Option<&str> {
        match self {
            Content::Text { text } => Some(text),
            Content::Image { caption, .. } | Content::Document { caption, .. } => {
                caption.as_deref()
            }
            Content::Sticker { .. } => None,
        }
    }

    pub fn media(&self) -> Option<&MediaPayload> {
        match self {
            Content::Text { .. } => None,
            Content::Image { media, .. }
            | Content::Document { media, .. }
            | Content::Sticker { media } => Some(media),
        }
    }

    pub fn file_name(&self) -> Option<&str> {
        match self {
            Content::Document { file_name, .. } => Some(file_name),
            _ => None,
        }
    }
}

/// The stored original of a message being replied to; WhatsApp needs its content to quote it.
#[derive(Debug, Clone)]
pub struct QuotedMessage {
    pub id: String,
    pub chat: String,
    pub sender: String,
    pub from_me: bool,
    pub kind: String,
    pub text: Option<String>,
}

#[derive(Debug, Clone)]
pub struct OutboundMessage {
    /// A normalized JID (see [`crate::jid`]).
    pub to: String,
    pub content: Content,
    pub quoted: Option<QuotedMessage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub id: String,
    /// Unix seconds.
    pub timestamp: i64,
}

/// Where an engine keeps a received file until the gateway downloads it.
#[derive(Clone)]
pub enum MediaSource {
    Inline(Bytes),
    /// Engine-specific download information.
    Engine(Arc<dyn Any + Send + Sync>),
}

impl std::fmt::Debug for MediaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MediaSource::Inline(bytes) => write!(f, "Inline({} bytes)", bytes.len()),
            MediaSource::Engine(_) => f.write_str("Engine(..)"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct InboundMedia {
    pub mimetype: String,
    pub file_name: Option<String>,
    pub source: MediaSource,
}

#[derive(Debug, Clone)]
pub struct InboundMessage {
    pub id: String,
    /// The chat: the sender for direct messages, the group for group messages.
    pub chat: String,
    /// The author.
    pub sender: String,
    /// The phone-number JID of a `@lid` sender, when known.
    pub sender_pn: Option<String>,
    pub push_name: Option<String>,
    pub is_group: bool,
    /// text, image, video, audio, document, sticker
    pub kind: String,
    pub text: Option<String>,
    pub media: Option<InboundMedia>,
    pub quoted_id: Option<String>,
    pub timestamp: i64,
}

#[derive(Debug, Clone)]
pub struct Receipt {
    pub message_ids: Vec<String>,
    pub chat: String,
    /// delivered, read, played
    pub status: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the session is not connected")]
    NotConnected,
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Failed(String),
}

/// A WhatsApp network: opens sessions and owns their stored credentials.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    fn kind(&self) -> EngineKind;

    /// Opens a session: from its stored credentials when it was linked before, otherwise a fresh
    /// link with `link`. Events arrive on `events` until the session is closed.
    async fn open(
        &self,
        session: &str,
        link: LinkMethod,
        events: mpsc::Sender<EngineEvent>,
    ) -> Result<Box<dyn EngineSession>, EngineError>;

    /// Whether the session has stored credentials (was linked and not logged out).
    fn is_linked(&self, session: &str) -> bool;

    /// Deletes the session's stored credentials.
    async fn remove_credentials(&self, session: &str) -> Result<(), EngineError>;
}

/// One open session. Owned by exactly one session task.
#[async_trait]
pub trait EngineSession: Send {
    async fn send(&mut self, message: OutboundMessage) -> Result<SentMessage, EngineError>;

    /// Fetches the bytes of a received file.
    async fn download(&mut self, media: &InboundMedia) -> Result<Bytes, EngineError>;

    /// Unlinks the device on the phone's side; credentials are removed by the caller.
    async fn logout(&mut self) -> Result<(), EngineError>;

    /// Closes the connection, keeping credentials.
    async fn close(&mut self);
}
