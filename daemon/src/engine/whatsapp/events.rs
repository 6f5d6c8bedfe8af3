//! whatsapp-rust's events, translated to session events with reasons a person understands.

use whatsapp_rust::types::events::{ConnectFailureReason, Event, EventInterest, EventKind};

use super::inbound;
use crate::engine::{EngineEvent, InboundMessage};

/// The events a session listens to; the bus does not even build the others.
pub fn interest() -> EventInterest {
    EventInterest::of(&[
        EventKind::Connected,
        EventKind::Disconnected,
        EventKind::PairSuccess,
        EventKind::PairError,
        EventKind::LoggedOut,
        EventKind::PairingQrCode,
        EventKind::PairingCode,
        EventKind::PairingCodeError,
        EventKind::PairingQrCodesExhausted,
        EventKind::QrScannedWithoutMultidevice,
        EventKind::ClientOutdated,
        EventKind::Messages,
        EventKind::Receipt,
        EventKind::StreamReplaced,
        EventKind::TemporaryBan,
        EventKind::ConnectFailure,
    ])
}

/// What one library event means for the session.
#[derive(Debug)]
pub enum Translated {
    Nothing,
    Event(EngineEvent),
    /// The connection is over for good (until the next start); later events are noise.
    Final(EngineEvent),
    /// Inbound messages; `@lid` authors may still need their phone number looked up.
    Messages(Vec<InboundMessage>),
}

pub const QR_EXHAUSTED: &str =
    "the QR codes expired without a scan; start the session again for new codes";
pub const STREAM_REPLACED: &str = "another client connected with this session's credentials and \
    replaced it; stop the other client, then start this session again";
pub const CLIENT_OUTDATED: &str =
    "WhatsApp refused this client version as outdated; upgrade wagw, then start the session again";
pub const NOT_MULTIDEVICE: &str = "the phone that scanned the QR code does not support linked \
    devices; update WhatsApp on the phone and scan again";

/// Why the device lost its link, from WhatsApp's failure code.
pub fn logged_out_reason(reason: &ConnectFailureReason) -> String {
    match reason {
        ConnectFailureReason::LoggedOut => {
            "the device was unlinked from the phone (Linked devices); link it again".into()
        }
        ConnectFailureReason::AccountLocked => {
            "WhatsApp locked this account; open WhatsApp on the phone to see why".into()
        }
        ConnectFailureReason::UnknownLogout => {
            "WhatsApp ended this device's link without saying why; link it again".into()
        }
        other => format!("WhatsApp logged this device out (code {other:?}); link it again"),
    }
}

/// A temporary ban, with how long it lasts.
pub fn temporary_ban_reason(code: &impl std::fmt::Display, expire_secs: i64) -> String {
    let hours = (expire_secs.max(0) as u64).div_ceil(3600);
    format!("WhatsApp temporarily banned this account for about {hours} h (code {code})")
}

/// Translates one event. `link_by_code` hides the QR codes the library shows alongside a
/// pairing code; `own_phone` is asked only when the connection is up.
pub fn translate(
    event: &Event,
    link_by_code: bool,
    own_phone: impl FnOnce() -> Option<String>,
) -> Translated {
    use Translated::{Event as Emit, Final, Nothing};
    match event {
        Event::PairingQrCode(qr) if !link_by_code => Emit(EngineEvent::Qr {
            code: qr.code.clone(),
            ttl: qr.timeout,
        }),
        Event::PairingQrCode(_) => Nothing,
        Event::PairingCode(code) => Emit(EngineEvent::PairCode {
            code: code.code.clone(),
        }),
        Event::PairingCodeError(error) => Final(EngineEvent::Stopped {
            reason: format!("WhatsApp gave no pairing code: {}", error.error),
        }),
        Event::PairingQrCodesExhausted(exhausted) if exhausted.disconnected => {
            Final(EngineEvent::Stopped {
                reason: QR_EXHAUSTED.into(),
            })
        }
        Event::PairingQrCodesExhausted(_) => Nothing,
        Event::QrScannedWithoutMultidevice(_) => Final(EngineEvent::Stopped {
            reason: NOT_MULTIDEVICE.into(),
        }),
        Event::PairSuccess(success) => Emit(EngineEvent::Paired {
            phone: success.id.user.to_string(),
        }),
        Event::PairError(error) => Final(EngineEvent::Stopped {
            reason: format!("linking failed: {}", error.error),
        }),
        Event::Connected(_) => Emit(EngineEvent::Connected {
            phone: own_phone().unwrap_or_default(),
        }),
        Event::Disconnected(disconnected) => Emit(EngineEvent::Disconnected {
            reason: format!("the connection dropped ({})", disconnected.reason),
        }),
        Event::LoggedOut(logged_out) => Final(EngineEvent::LoggedOut {
            reason: logged_out_reason(&logged_out.reason),
        }),
        Event::StreamReplaced(_) => Final(EngineEvent::Stopped {
            reason: STREAM_REPLACED.into(),
        }),
        Event::TemporaryBan(ban) => Final(EngineEvent::Stopped {
            reason: temporary_ban_reason(&ban.code, ban.expire.num_seconds()),
        }),
        Event::ClientOutdated(_) => Final(EngineEvent::Stopped {
            reason: CLIENT_OUTDATED.into(),
        }),
        Event::ConnectFailure(failure) if failure.reason.is_logged_out() => {
            Final(EngineEvent::LoggedOut {
                reason: logged_out_reason(&failure.reason),
            })
        }
        Event::ConnectFailure(failure) => Emit(EngineEvent::Disconnected {
            reason: match &failure.message {
                Some(message) => format!("WhatsApp refused the connection: {message}"),
                None => format!("WhatsApp refused the connection ({:?})", failure.reason),
            },
        }),
        Event::Messages(batch) => Translated::Messages(
            batch
                .messages
                .iter()
                .filter_map(|m| inbound::map_message(&m.message, &m.info))
                .collect(),
        ),
        Event::Receipt(receipt) => {
            match inbound::map_receipt(&receipt.source.chat, &receipt.message_ids, &receipt.r#type)
            {
                Some(receipt) => Emit(EngineEvent::Receipt(receipt)),
                None => Nothing,
            }
        }
        _ => Nothing,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use whatsapp_rust::types::events::{
        LoggedOut, PairingQrCode, PairingQrCodesExhausted, StreamReplaced, TempBanReason,
        TemporaryBan,
    };

    use super::*;

    fn qr() -> Event {
        Event::PairingQrCode(
            PairingQrCode::builder()
                .code("2@ref,noise,identity,adv".to_string())
                .timeout(Duration::from_secs(60))
                .build(),
        )
    }

    #[test]
    fn qr_codes_carry_their_lifetime_unless_linking_by_code() {
        match translate(&qr(), false, || None) {
            Translated::Event(EngineEvent::Qr { code, ttl }) => {
                assert_eq!(code, "2@ref,noise,identity,adv");
                assert_eq!(ttl, Duration::from_secs(60));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            translate(&qr(), true, || None),
            Translated::Nothing
        ));
    }

    #[test]
    fn running_out_of_qr_codes_stops_the_session_with_a_reason() {
        let exhausted = Event::PairingQrCodesExhausted(
            PairingQrCodesExhausted::builder()
                .disconnected(true)
                .build(),
        );
        match translate(&exhausted, false, || None) {
            Translated::Final(EngineEvent::Stopped { reason }) => assert_eq!(reason, QR_EXHAUSTED),
            other => panic!("unexpected {other:?}"),
        }
        // A pairing code is still outstanding: the connection stays, nothing to report.
        let kept = Event::PairingQrCodesExhausted(
            PairingQrCodesExhausted::builder()
                .disconnected(false)
                .build(),
        );
        assert!(matches!(
            translate(&kept, true, || None),
            Translated::Nothing
        ));
    }

    #[test]
    fn connected_names_the_own_number() {
        let connected =
            Event::Connected(whatsapp_rust::types::events::Connected::builder().build());
        match translate(&connected, false, || Some("628111".into())) {
            Translated::Event(EngineEvent::Connected { phone }) => assert_eq!(phone, "628111"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn account_ending_events_have_human_reasons() {
        let logged_out = Event::LoggedOut(
            LoggedOut::builder()
                .on_connect(true)
                .reason(ConnectFailureReason::LoggedOut)
                .build(),
        );
        match translate(&logged_out, false, || None) {
            Translated::Final(EngineEvent::LoggedOut { reason }) => {
                assert!(reason.contains("unlinked from the phone"), "{reason}")
            }
            other => panic!("unexpected {other:?}"),
        }
        match translate(
            &Event::StreamReplaced(StreamReplaced::builder().build()),
            false,
            || None,
        ) {
            Translated::Final(EngineEvent::Stopped { reason }) => {
                assert_eq!(reason, STREAM_REPLACED)
            }
            other => panic!("unexpected {other:?}"),
        }
        let ban = Event::TemporaryBan(
            TemporaryBan::builder()
                .code(TempBanReason::BlockedByUsers)
                .expire(whatsapp_rust::chrono::TimeDelta::seconds(2 * 3600 + 1))
                .build(),
        );
        match translate(&ban, false, || None) {
            Translated::Final(EngineEvent::Stopped { reason }) => {
                assert!(reason.contains("about 3 h"), "{reason}");
                assert!(reason.contains("too many people blocked you"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
