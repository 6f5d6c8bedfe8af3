//! Webhook bodies. The seed gateway's fields come first and keep their names and meaning;
//! wagw's additions sit beside them, so receivers written for the seed keep working.

use serde::Serialize;
use url::Url;

use crate::engine::InboundMessage;
use crate::store::messages::MessageRecord;

/// Facts about an inbound message that its stored record does not keep.
#[derive(Debug, Clone, Default)]
pub struct MessageFacts {
    pub is_group: bool,
    /// The author as the network named them (possibly an `@lid`).
    pub sender: String,
    /// The author's phone-number JID, when the network gave one besides an `@lid`.
    pub sender_pn: Option<String>,
}

impl MessageFacts {
    pub fn of(message: &InboundMessage) -> MessageFacts {
        MessageFacts {
            is_group: message.is_group,
            sender: message.sender.clone(),
            sender_pn: message.sender_pn.clone(),
        }
    }
}

/// The seed's `media` object: the saved file name (`{messageId}.{ext}` under MEDIA_DIR) in the
/// slot of its kind, the others null. Stickers use `image`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = WebhookMedia)]
pub struct MediaSlots {
    pub image: Option<String>,
    pub video: Option<String>,
    pub document: Option<String>,
    pub audio: Option<String>,
}

impl MediaSlots {
    fn of(kind: &str, file: Option<&str>) -> MediaSlots {
        let mut slots = MediaSlots::default();
        let Some(file) = file.map(str::to_string) else {
            return slots;
        };
        match kind {
            "video" => slots.video = Some(file),
            "audio" | "ptt" | "voice" => slots.audio = Some(file),
            "document" => slots.document = Some(file),
            // Images, stickers and anything else a receiver can show as a picture.
            _ => slots.image = Some(file),
        }
        slots
    }
}

// The struct is both what is sent and, through its schema, what the OpenAPI document says.
/// An inbound message, `POST {callback_url}`. The seed gateway's fields first, wagw's after.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = MessageEvent)]
pub struct MessageBody<'a> {
    /// The session (linked device) that received the message.
    pub session: &'a str,
    /// The chat the message arrived in (the seed's `remoteJid`); the group for group messages.
    pub from: &'a str,
    /// WhatsApp's message id.
    #[serde(rename = "messageId")]
    pub message_id: &'a str,
    /// Text, or the caption of a media message.
    pub message: Option<&'a str>,
    pub media: MediaSlots,
    /// The event id (UUID v7), the same at every target and in the `webhook-id` header.
    pub id: &'a str,
    /// Always `message`.
    #[serde(rename = "type")]
    #[schema(pattern = "^message$", example = "message")]
    pub event_type: &'static str,
    /// When the message was sent, Unix seconds.
    pub timestamp: i64,
    /// The chat, as `from`.
    pub chat: &'a str,
    /// The author, possibly an `@lid`.
    pub sender: &'a str,
    /// The author's phone-number JID, when known.
    pub sender_pn: Option<&'a str>,
    /// The author's display name.
    pub push_name: Option<&'a str>,
    pub is_group: bool,
    /// The id of the message this one replies to.
    pub quoted_message_id: Option<&'a str>,
    /// text, image, document, video, audio, sticker, …
    pub message_type: &'a str,
    pub mimetype: Option<&'a str>,
    /// A document's own file name.
    pub file_name: Option<&'a str>,
    /// A signed link to the saved media file, valid 7 days, that needs no credentials.
    pub media_url: Option<&'a str>,
}

pub fn message(
    event_id: &str,
    record: &MessageRecord,
    facts: &MessageFacts,
    media_url: Option<&str>,
) -> String {
    let sender = if facts.sender.is_empty() {
        record.sender.as_str()
    } else {
        facts.sender.as_str()
    };
    let sender_pn = facts
        .sender_pn
        .as_deref()
        .or_else(|| sender.ends_with("@s.whatsapp.net").then_some(sender));
    let body = MessageBody {
        session: &record.session,
        from: &record.chat,
        message_id: &record.id,
        message: record.text.as_deref(),
        media: MediaSlots::of(&record.kind, record.media_file.as_deref()),
        id: event_id,
        event_type: "message",
        timestamp: record.timestamp,
        chat: &record.chat,
        sender,
        sender_pn,
        push_name: record.push_name.as_deref(),
        is_group: facts.is_group,
        quoted_message_id: record.quoted_id.as_deref(),
        message_type: &record.kind,
        mimetype: record.mimetype.as_deref(),
        file_name: record.file_name.as_deref(),
        media_url,
    };
    // Serializing plain strings and numbers cannot fail.
    serde_json::to_string(&body).unwrap_or_default()
}

/// A session status change, `POST {callback_url}/session`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SessionEvent)]
pub struct SessionBody<'a> {
    pub session: &'a str,
    /// The new state.
    #[schema(value_type = crate::sessions::SessionState)]
    pub status: &'a str,
    /// The event id (UUID v7), the same at every target and in the `webhook-id` header.
    pub id: &'a str,
    /// Always `session`.
    #[serde(rename = "type")]
    #[schema(pattern = "^session$", example = "session")]
    pub event_type: &'static str,
    /// When the state changed, Unix seconds.
    pub timestamp: i64,
    /// Why, for `disconnected`, `stopped` and `logged_out`.
    pub reason: Option<&'a str>,
    /// The linked phone number, when known.
    pub phone: Option<&'a str>,
}

pub fn session(
    event_id: &str,
    session: &str,
    status: &str,
    reason: Option<&str>,
    phone: Option<&str>,
    at: i64,
) -> String {
    let body = SessionBody {
        session,
        status,
        id: event_id,
        event_type: "session",
        timestamp: at,
        reason,
        phone,
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// Where session events go: `{callback_url}/session`, keeping any query string in place.
pub fn session_url(callback: &Url) -> Url {
    let mut url = callback.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push("session");
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> MessageRecord {
        MessageRecord {
            session: "john".into(),
            id: "3A50".into(),
            chat: "120363@g.us".into(),
            sender: "628222@s.whatsapp.net".into(),
            from_me: false,
            kind: "image".into(),
            text: Some("look".into()),
            file_name: None,
            mimetype: Some("image/jpeg".into()),
            sha256: None,
            length: None,
            media_file: Some("3A50.jpg".into()),
            quoted_id: None,
            push_name: Some("Ann".into()),
            timestamp: 1700000000,
            status: "received".into(),
        }
    }

    #[test]
    fn message_body_keeps_the_seed_fields() {
        let facts = MessageFacts {
            is_group: true,
            sender: "123@lid".into(),
            sender_pn: Some("628222@s.whatsapp.net".into()),
        };
        let body: serde_json::Value = serde_json::from_str(&message(
            "ev",
            &record(),
            &facts,
            Some("http://x/media/3A50.jpg?s=1"),
        ))
        .unwrap();
        assert_eq!(body["session"], "john");
        assert_eq!(body["from"], "120363@g.us");
        assert_eq!(body["messageId"], "3A50");
        assert_eq!(body["message"], "look");
        assert_eq!(
            body["media"],
            serde_json::json!({"image": "3A50.jpg", "video": null, "document": null, "audio": null})
        );
        assert_eq!(body["id"], "ev");
        assert_eq!(body["type"], "message");
        assert_eq!(body["sender"], "123@lid");
        assert_eq!(body["sender_pn"], "628222@s.whatsapp.net");
        assert_eq!(body["is_group"], true);
        assert_eq!(body["media_url"], "http://x/media/3A50.jpg?s=1");
    }

    #[test]
    fn session_urls_append_a_segment() {
        let cases = [
            ("http://h/hook", "http://h/hook/session"),
            ("http://h/hook/", "http://h/hook/session"),
            ("http://h", "http://h/session"),
            ("http://h/hook?k=v", "http://h/hook/session?k=v"),
        ];
        for (from, to) in cases {
            assert_eq!(session_url(&Url::parse(from).unwrap()).as_str(), to);
        }
    }
}
