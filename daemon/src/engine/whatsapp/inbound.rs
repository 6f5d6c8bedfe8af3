//! Incoming messages and receipts from whatsapp-rust, mapped to the gateway's types. Wrappers
//! (ephemeral, view-once, device-sent, document-with-caption) are unwrapped first; stanzas that
//! carry no user content (protocol messages, reactions, key distribution) map to nothing.

use std::sync::Arc;

use whatsapp_rust::Jid;
use whatsapp_rust::download::{DownloadParams, MediaType};
use whatsapp_rust::proto_helpers::MessageExt;
use whatsapp_rust::types::message::MessageInfo;
use whatsapp_rust::types::presence::ReceiptType;
use whatsapp_rust::waproto::whatsapp as wa;

use super::mime;
use crate::engine::{InboundMedia, InboundMessage, MediaSource, Receipt};

/// What a media message says about its file; enough to download and decrypt it later.
struct MediaFields<'a> {
    kind: &'static str,
    media_type: MediaType,
    direct_path: Option<&'a str>,
    media_key: Option<&'a [u8]>,
    file_sha256: Option<&'a [u8]>,
    file_enc_sha256: Option<&'a [u8]>,
    file_length: Option<u64>,
    mimetype: Option<&'a str>,
    file_name: Option<&'a str>,
    caption: Option<&'a str>,
    context: Option<&'a wa::ContextInfo>,
}

macro_rules! media_fields {
    ($m:expr, $kind:expr, $media_type:expr, $caption:expr, $file_name:expr) => {
        MediaFields {
            kind: $kind,
            media_type: $media_type,
            direct_path: $m.direct_path.as_deref(),
            media_key: $m.media_key.as_deref(),
            file_sha256: $m.file_sha256.as_deref(),
            file_enc_sha256: $m.file_enc_sha256.as_deref(),
            file_length: $m.file_length,
            mimetype: $m.mimetype.as_deref(),
            file_name: $file_name,
            caption: $caption,
            context: $m.context_info.as_option(),
        }
    };
}

fn media_of(message: &wa::Message) -> Option<MediaFields<'_>> {
    if let Some(m) = message.image_message.as_option() {
        return Some(media_fields!(
            m,
            "image",
            MediaType::Image,
            m.caption.as_deref(),
            None
        ));
    }
    if let Some(m) = message.video_message.as_option() {
        return Some(media_fields!(
            m,
            "video",
            MediaType::Video,
            m.caption.as_deref(),
            None
        ));
    }
    if let Some(m) = message.audio_message.as_option() {
        return Some(media_fields!(m, "audio", MediaType::Audio, None, None));
    }
    if let Some(m) = message.document_message.as_option() {
        return Some(media_fields!(
            m,
            "document",
            MediaType::Document,
            m.caption.as_deref(),
            m.file_name.as_deref()
        ));
    }
    if let Some(m) = message.sticker_message.as_option() {
        return Some(media_fields!(m, "sticker", MediaType::Sticker, None, None));
    }
    None
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The phone-number JID of a `@lid` author when the stanza carried it.
fn sender_pn(info: &MessageInfo) -> Option<String> {
    let sender = &info.source.sender;
    if !sender.is_lid() {
        return None;
    }
    info.source
        .sender_alt
        .as_ref()
        .filter(|alt| alt.is_pn())
        .map(Jid::to_non_ad_string)
}

/// Maps one decrypted message; `None` for what is not a user message, and for messages this
/// account sent from another device (they are not inbound).
pub fn map_message(message: &wa::Message, info: &MessageInfo) -> Option<InboundMessage> {
    if info.source.is_from_me {
        return None;
    }
    let base = message.get_base_message();
    let (kind, text, quoted_id, media) = if let Some(media) = media_of(base) {
        let quoted = media.context.and_then(|c| c.stanza_id.clone());
        let download = DownloadParams {
            direct_path: media.direct_path?.to_string(),
            media_key: media.media_key.map(<[u8]>::to_vec),
            file_sha256: media.file_sha256.map(<[u8]>::to_vec).unwrap_or_default(),
            file_enc_sha256: media.file_enc_sha256.map(<[u8]>::to_vec),
            file_length: media.file_length.unwrap_or_default(),
            media_type: media.media_type,
        };
        let inbound = InboundMedia {
            mimetype: mime::inbound_mimetype(media.kind, media.mimetype),
            file_name: media.file_name.and_then(non_empty),
            source: MediaSource::Engine(Arc::new(download)),
        };
        (
            media.kind,
            media.caption.and_then(non_empty),
            quoted,
            Some(inbound),
        )
    } else if let Some(text) = base.text_content() {
        let quoted = base
            .extended_text_message
            .as_option()
            .and_then(|m| m.context_info.as_option())
            .and_then(|c| c.stanza_id.clone());
        ("text", Some(text.to_string()), quoted, None)
    } else {
        return None;
    };

    let sender_pn = sender_pn(info);
    let is_group = info.source.is_group;
    // A direct chat is named by the phone number when WhatsApp told us the author's.
    let chat = match (&sender_pn, is_group) {
        (Some(pn), false) if info.source.chat.is_lid() => pn.clone(),
        _ => info.source.chat.to_non_ad_string(),
    };
    Some(InboundMessage {
        id: info.id.clone(),
        chat,
        sender: info.source.sender.to_non_ad_string(),
        sender_pn,
        push_name: non_empty(&info.push_name),
        is_group,
        kind: kind.to_string(),
        text,
        media,
        quoted_id,
        timestamp: info.timestamp.timestamp(),
    })
}

/// Maps a receipt to a status the gateway stores; other receipt kinds (retries, self-reads,
/// server errors) are internal to WhatsApp and map to nothing.
pub fn map_receipt(
    chat: &Jid,
    message_ids: &[String],
    receipt_type: &ReceiptType,
) -> Option<Receipt> {
    let status = match receipt_type {
        ReceiptType::Delivered => "delivered",
        ReceiptType::Read => "read",
        ReceiptType::Played => "played",
        _ => return None,
    };
    if message_ids.is_empty() {
        return None;
    }
    Some(Receipt {
        message_ids: message_ids.to_vec(),
        chat: chat.to_non_ad_string(),
        status: status.into(),
    })
}

#[cfg(test)]
mod tests {
    use whatsapp_rust::buffa::MessageField;
    use whatsapp_rust::proto_helpers::MessageBuilderExt;
    use whatsapp_rust::types::message::MessageSource;

    use super::*;

    fn jid(s: &str) -> Jid {
        s.parse().unwrap()
    }

    fn info(chat: &str, sender: &str, is_group: bool) -> MessageInfo {
        MessageInfo {
            id: "3A00000000000000AAAA".into(),
            source: MessageSource {
                chat: jid(chat),
                sender: jid(sender),
                is_group,
                ..Default::default()
            },
            push_name: "Ann".into(),
            timestamp: whatsapp_rust::chrono::DateTime::from_timestamp(1_700_000_123, 0).unwrap(),
            ..Default::default()
        }
    }

    fn image(caption: &str) -> wa::Message {
        wa::Message {
            image_message: MessageField::some(wa::message::ImageMessage {
                caption: Some(caption.into()),
                mimetype: Some("image/png".into()),
                direct_path: Some("/v/t62/abc".into()),
                media_key: Some(vec![7; 32]),
                file_sha256: Some(vec![8; 32]),
                file_enc_sha256: Some(vec![9; 32]),
                file_length: Some(42),
                context_info: MessageField::some(wa::ContextInfo {
                    stanza_id: Some("3EB0QUOTED".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_direct_text_message_maps_its_author_and_text() {
        let info = info("628111@s.whatsapp.net", "628111:3@s.whatsapp.net", false);
        let m = map_message(&wa::Message::text("hello"), &info).unwrap();
        assert_eq!(m.kind, "text");
        assert_eq!(m.text.as_deref(), Some("hello"));
        assert_eq!(m.chat, "628111@s.whatsapp.net");
        assert_eq!(m.sender, "628111@s.whatsapp.net", "device part dropped");
        assert_eq!(m.push_name.as_deref(), Some("Ann"));
        assert_eq!(m.timestamp, 1_700_000_123);
        assert!(!m.is_group);
        assert!(m.media.is_none() && m.quoted_id.is_none());
    }

    #[test]
    fn a_reply_in_a_group_carries_the_quoted_id() {
        let info = info("120363000000000001@g.us", "628222@s.whatsapp.net", true);
        let reply = wa::Message::text_with_context(
            "yes",
            wa::ContextInfo {
                stanza_id: Some("3EB0ORIGINAL".into()),
                ..Default::default()
            },
        );
        let m = map_message(&reply, &info).unwrap();
        assert!(m.is_group);
        assert_eq!(m.chat, "120363000000000001@g.us");
        assert_eq!(m.sender, "628222@s.whatsapp.net");
        assert_eq!(m.quoted_id.as_deref(), Some("3EB0ORIGINAL"));
    }

    #[test]
    fn wrapped_media_is_unwrapped_with_caption_and_download_descriptor() {
        let wrapped = wa::Message {
            ephemeral_message: MessageField::some(wa::message::FutureProofMessage {
                message: MessageField::some(wa::Message {
                    view_once_message: MessageField::some(wa::message::FutureProofMessage {
                        message: MessageField::some(image("a cat")),
                    }),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        let info = info("628111@s.whatsapp.net", "628111@s.whatsapp.net", false);
        let m = map_message(&wrapped, &info).unwrap();
        assert_eq!(m.kind, "image");
        assert_eq!(m.text.as_deref(), Some("a cat"));
        assert_eq!(m.quoted_id.as_deref(), Some("3EB0QUOTED"));
        let media = m.media.unwrap();
        assert_eq!(media.mimetype, "image/png");
        let MediaSource::Engine(any) = media.source else {
            panic!("expected an engine download descriptor")
        };
        let params = any.downcast_ref::<DownloadParams>().unwrap();
        assert_eq!(params.direct_path, "/v/t62/abc");
        assert_eq!(params.file_length, 42);
        assert!(matches!(params.media_type, MediaType::Image));
    }

    #[test]
    fn a_document_keeps_its_file_name_and_a_sticker_gets_webp() {
        let doc = wa::Message {
            document_message: MessageField::some(wa::message::DocumentMessage {
                file_name: Some("invoice.pdf".into()),
                direct_path: Some("/d".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let info = info("628111@s.whatsapp.net", "628111@s.whatsapp.net", false);
        let m = map_message(&doc, &info).unwrap();
        assert_eq!(m.kind, "document");
        let media = m.media.unwrap();
        assert_eq!(media.file_name.as_deref(), Some("invoice.pdf"));
        assert_eq!(media.mimetype, "application/octet-stream");

        let sticker = wa::Message {
            sticker_message: MessageField::some(wa::message::StickerMessage {
                direct_path: Some("/s".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let m = map_message(&sticker, &info).unwrap();
        assert_eq!(m.kind, "sticker");
        assert_eq!(m.media.unwrap().mimetype, "image/webp");
    }

    #[test]
    fn a_lid_author_gets_the_phone_number_form_when_known() {
        let mut info = info("100000012345678@lid", "100000012345678@lid", false);
        info.source.sender_alt = Some(jid("628333@s.whatsapp.net"));
        let m = map_message(&wa::Message::text("hi"), &info).unwrap();
        assert_eq!(m.sender, "100000012345678@lid");
        assert_eq!(m.sender_pn.as_deref(), Some("628333@s.whatsapp.net"));
        assert_eq!(m.chat, "628333@s.whatsapp.net");

        info.source.sender_alt = None;
        let m = map_message(&wa::Message::text("hi"), &info).unwrap();
        assert_eq!(m.sender_pn, None);
        assert_eq!(m.chat, "100000012345678@lid");
    }

    #[test]
    fn own_messages_and_protocol_stanzas_map_to_nothing() {
        let mut own = info("628111@s.whatsapp.net", "628999@s.whatsapp.net", false);
        own.source.is_from_me = true;
        assert!(map_message(&wa::Message::text("mine"), &own).is_none());

        let info = info("628111@s.whatsapp.net", "628111@s.whatsapp.net", false);
        let protocol = wa::Message {
            protocol_message: MessageField::some(wa::message::ProtocolMessage::default()),
            ..Default::default()
        };
        assert!(map_message(&protocol, &info).is_none());
    }

    #[test]
    fn delivery_read_and_played_receipts_map_to_statuses() {
        let chat = jid("628111@s.whatsapp.net");
        let ids = vec!["3EB0A".to_string(), "3EB0B".to_string()];
        let r = map_receipt(&chat, &ids, &ReceiptType::Read).unwrap();
        assert_eq!(r.status, "read");
        assert_eq!(r.message_ids, ids);
        assert_eq!(r.chat, "628111@s.whatsapp.net");
        assert_eq!(
            map_receipt(&chat, &ids, &ReceiptType::Delivered)
                .unwrap()
                .status,
            "delivered"
        );
        assert!(map_receipt(&chat, &ids, &ReceiptType::Retry).is_none());
        assert!(map_receipt(&chat, &[], &ReceiptType::Read).is_none());
    }
}
