//! Outgoing messages: the WhatsApp protobuf for each kind of [`Content`], and the quote context
//! rebuilt from the stored original a reply points to.

use whatsapp_rust::Jid;
use whatsapp_rust::buffa::MessageField;
use whatsapp_rust::download::MediaType;
use whatsapp_rust::proto_helpers::{MessageBuilderExt, build_quote_context_with_info};
use whatsapp_rust::upload::UploadResponse;
use whatsapp_rust::waproto::whatsapp as wa;

use super::mime;
use crate::engine::{Content, EngineError, QuotedMessage};

/// The upload type a content needs, or `None` for text. Stickers have their own type: WhatsApp
/// derives the media keys from it, so an image upload would not decrypt as a sticker.
pub fn upload_type(content: &Content) -> Option<MediaType> {
    match content {
        Content::Text { .. } => None,
        Content::Image { .. } => Some(MediaType::Image),
        Content::Document { .. } => Some(MediaType::Document),
        Content::Sticker { .. } => Some(MediaType::Sticker),
    }
}

/// Refuses content WhatsApp would accept but show broken, with what to fix.
pub fn check(content: &Content) -> Result<(), EngineError> {
    if let Content::Sticker { media } = content
        && !mime::is_webp(&media.bytes)
    {
        return Err(EngineError::Rejected(
            "a sticker must be a WebP image; convert it to .webp (512x512) first".into(),
        ));
    }
    Ok(())
}

/// Parses a normalized JID from the gateway (see [`crate::jid`]).
pub fn parse_jid(jid: &str) -> Result<Jid, EngineError> {
    jid.parse::<Jid>()
        .map_err(|_| EngineError::Rejected(format!("'{jid}' is not a WhatsApp address")))
}

/// The stored original as WhatsApp needs it inside a quote: its kind and text, without media.
pub fn quoted_original(quoted: &QuotedMessage) -> wa::Message {
    let text = quoted.text.clone();
    match quoted.kind.as_str() {
        "image" => wa::Message {
            image_message: MessageField::some(wa::message::ImageMessage {
                caption: text,
                ..Default::default()
            }),
            ..Default::default()
        },
        "video" => wa::Message {
            video_message: MessageField::some(wa::message::VideoMessage {
                caption: text,
                ..Default::default()
            }),
            ..Default::default()
        },
        "audio" => wa::Message {
            audio_message: MessageField::some(wa::message::AudioMessage::default()),
            ..Default::default()
        },
        "document" => wa::Message {
            document_message: MessageField::some(wa::message::DocumentMessage {
                caption: text,
                ..Default::default()
            }),
            ..Default::default()
        },
        "sticker" => wa::Message {
            sticker_message: MessageField::some(wa::message::StickerMessage::default()),
            ..Default::default()
        },
        _ => wa::Message::text(text.unwrap_or_default()),
    }
}

/// The context that makes a message a reply to `quoted`, sent to `target`.
pub fn quote_context(quoted: &QuotedMessage, target: &Jid) -> Result<wa::ContextInfo, EngineError> {
    let chat = parse_jid(&quoted.chat)?;
    // Stored messages always name their author; fall back to the chat for direct messages.
    let sender = parse_jid(&quoted.sender).unwrap_or_else(|_| chat.clone());
    Ok(build_quote_context_with_info(
        quoted.id.clone(),
        &sender,
        &chat,
        target,
        &quoted_original(quoted),
    ))
}

/// Where an upload put the encrypted file, and the keys to it.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub url: String,
    pub direct_path: String,
    pub media_key: [u8; 32],
    pub file_enc_sha256: [u8; 32],
    pub file_sha256: [u8; 32],
    pub file_length: u64,
    pub media_key_timestamp: i64,
}

impl From<UploadResponse> for Uploaded {
    fn from(r: UploadResponse) -> Uploaded {
        Uploaded {
            url: r.url,
            direct_path: r.direct_path,
            media_key: r.media_key,
            file_enc_sha256: r.file_enc_sha256,
            file_sha256: r.file_sha256,
            file_length: r.file_length,
            media_key_timestamp: r.media_key_timestamp,
        }
    }
}

/// Fills the CDN and key fields every media message type has under the same names.
macro_rules! media_message {
    ($ty:ty, $upload:expr, $mimetype:expr, $context:expr, { $($field:ident: $value:expr),* $(,)? }) => {{
        let upload = $upload;
        <$ty>::default_with(|m: &mut $ty| {
            m.url = Some(upload.url);
            m.direct_path = Some(upload.direct_path);
            m.media_key = Some(upload.media_key.to_vec());
            m.file_sha256 = Some(upload.file_sha256.to_vec());
            m.file_enc_sha256 = Some(upload.file_enc_sha256.to_vec());
            m.file_length = Some(upload.file_length);
            m.media_key_timestamp = Some(upload.media_key_timestamp);
            m.mimetype = Some($mimetype);
            m.context_info = $context.map(MessageField::some).unwrap_or_default();
            $(m.$field = $value;)*
        })
    }};
}

/// `Default` then a closure: keeps the macro above free of struct-literal field lists.
trait DefaultWith: Default {
    fn default_with(fill: impl FnOnce(&mut Self)) -> Self {
        let mut value = Self::default();
        fill(&mut value);
        value
    }
}

impl<T: Default> DefaultWith for T {}

/// Builds the message for `content`; media kinds need the result of uploading their bytes.
/// whatsapp-rust has no sticker builder, so all three media kinds are built here alike.
pub fn build(
    content: &Content,
    upload: Option<Uploaded>,
    context: Option<wa::ContextInfo>,
) -> Result<wa::Message, EngineError> {
    let missing = || EngineError::Failed("the media was not uploaded".into());
    let message = match content {
        Content::Text { text } => match context {
            Some(context) => wa::Message::text_with_context(text.clone(), context),
            None => wa::Message::text(text.clone()),
        },
        Content::Image { media, caption } => wa::Message {
            image_message: MessageField::some(media_message!(
                wa::message::ImageMessage,
                upload.ok_or_else(missing)?,
                media.mimetype.clone(),
                context,
                { caption: caption.clone() }
            )),
            ..Default::default()
        },
        Content::Document {
            media,
            file_name,
            caption,
        } => wa::Message {
            document_message: MessageField::some(media_message!(
                wa::message::DocumentMessage,
                upload.ok_or_else(missing)?,
                mime::document_mimetype(file_name, &media.mimetype),
                context,
                {
                    file_name: Some(file_name.clone()),
                    title: Some(file_name.clone()),
                    caption: caption.clone(),
                }
            )),
            ..Default::default()
        },
        Content::Sticker { .. } => wa::Message {
            sticker_message: MessageField::some(media_message!(
                wa::message::StickerMessage,
                upload.ok_or_else(missing)?,
                "image/webp".to_string(),
                context,
                {}
            )),
            ..Default::default()
        },
    };
    Ok(message)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::engine::MediaPayload;

    fn upload() -> Uploaded {
        Uploaded {
            url: "https://mmg.whatsapp.net/x".into(),
            direct_path: "/v/t62/x".into(),
            media_key: [1; 32],
            file_enc_sha256: [2; 32],
            file_sha256: [3; 32],
            file_length: 12,
            media_key_timestamp: 1_700_000_000,
        }
    }

    fn media(mimetype: &str, bytes: &'static [u8]) -> MediaPayload {
        MediaPayload {
            bytes: Bytes::from_static(bytes),
            mimetype: mimetype.into(),
        }
    }

    fn quoted(kind: &str, text: Option<&str>) -> QuotedMessage {
        QuotedMessage {
            id: "3A0123456789ABCDEF01".into(),
            chat: "628111@s.whatsapp.net".into(),
            sender: "628111@s.whatsapp.net".into(),
            from_me: false,
            kind: kind.into(),
            text: text.map(str::to_string),
        }
    }

    const WEBP: &[u8] = b"RIFF\x04\x00\x00\x00WEBP";

    #[test]
    fn plain_text_is_a_conversation_and_a_reply_is_extended_text() {
        let text = Content::Text { text: "hi".into() };
        let plain = build(&text, None, None).unwrap();
        assert_eq!(plain.conversation.as_deref(), Some("hi"));

        let target = parse_jid("628111@s.whatsapp.net").unwrap();
        let context = quote_context(&quoted("text", Some("original")), &target).unwrap();
        let reply = build(&text, None, Some(context)).unwrap();
        let ext = reply.extended_text_message.as_option().unwrap();
        assert_eq!(ext.text.as_deref(), Some("hi"));
        let ctx = ext.context_info.as_option().unwrap();
        assert_eq!(ctx.stanza_id.as_deref(), Some("3A0123456789ABCDEF01"));
        assert_eq!(ctx.participant.as_deref(), Some("628111@s.whatsapp.net"));
        // Same chat: WhatsApp Web leaves the remote JID out.
        assert_eq!(ctx.remote_jid, None);
        let original = ctx.quoted_message.as_option().unwrap();
        assert_eq!(original.conversation.as_deref(), Some("original"));
    }

    #[test]
    fn a_reply_in_another_chat_names_the_quoted_chat() {
        let target = parse_jid("120363000000000001@g.us").unwrap();
        let ctx = quote_context(&quoted("text", Some("x")), &target).unwrap();
        assert_eq!(ctx.remote_jid.as_deref(), Some("628111@s.whatsapp.net"));
    }

    #[test]
    fn quoted_media_keeps_its_kind_and_caption() {
        let image = quoted_original(&quoted("image", Some("a cat")));
        assert_eq!(
            image.image_message.as_option().unwrap().caption.as_deref(),
            Some("a cat")
        );
        let sticker = quoted_original(&quoted("sticker", None));
        assert!(sticker.sticker_message.as_option().is_some());
        let document = quoted_original(&quoted("document", Some("invoice")));
        assert_eq!(
            document
                .document_message
                .as_option()
                .unwrap()
                .caption
                .as_deref(),
            Some("invoice")
        );
    }

    #[test]
    fn an_image_carries_the_upload_caption_and_mimetype() {
        let content = Content::Image {
            media: media("image/png", b"png"),
            caption: Some("look".into()),
        };
        assert!(matches!(upload_type(&content), Some(MediaType::Image)));
        let message = build(&content, Some(upload()), None).unwrap();
        let image = message.image_message.as_option().unwrap();
        assert_eq!(image.caption.as_deref(), Some("look"));
        assert_eq!(image.mimetype.as_deref(), Some("image/png"));
        assert_eq!(image.direct_path.as_deref(), Some("/v/t62/x"));
        assert_eq!(image.file_length, Some(12));
        assert_eq!(image.media_key.as_deref(), Some(&[1u8; 32][..]));
    }

    #[test]
    fn a_document_is_named_and_typed_from_its_file_name() {
        let content = Content::Document {
            media: media("application/octet-stream", b"%PDF"),
            file_name: "invoice.pdf".into(),
            caption: None,
        };
        assert!(matches!(upload_type(&content), Some(MediaType::Document)));
        let message = build(&content, Some(upload()), None).unwrap();
        let doc = message.document_message.as_option().unwrap();
        assert_eq!(doc.file_name.as_deref(), Some("invoice.pdf"));
        assert_eq!(doc.mimetype.as_deref(), Some("application/pdf"));
    }

    #[test]
    fn a_sticker_is_webp_from_a_sticker_upload_and_can_quote() {
        let content = Content::Sticker {
            media: media("image/webp", WEBP),
        };
        assert!(matches!(upload_type(&content), Some(MediaType::Sticker)));
        check(&content).unwrap();
        let target = parse_jid("628111@s.whatsapp.net").unwrap();
        let context = quote_context(&quoted("text", Some("q")), &target).unwrap();
        let message = build(&content, Some(upload()), Some(context)).unwrap();
        let sticker = message.sticker_message.as_option().unwrap();
        assert_eq!(sticker.mimetype.as_deref(), Some("image/webp"));
        assert_eq!(sticker.file_enc_sha256.as_deref(), Some(&[2u8; 32][..]));
        assert!(sticker.context_info.as_option().is_some());
    }

    #[test]
    fn a_sticker_that_is_not_webp_is_refused_with_a_fix() {
        let content = Content::Sticker {
            media: media("image/png", b"\x89PNG\r\n\x1a\n0000"),
        };
        let error = check(&content).unwrap_err().to_string();
        assert!(error.contains("WebP"), "{error}");
    }

    #[test]
    fn media_without_an_upload_is_an_error_not_an_empty_message() {
        let content = Content::Image {
            media: media("image/jpeg", b"jpg"),
            caption: None,
        };
        assert!(build(&content, None, None).is_err());
    }
}
