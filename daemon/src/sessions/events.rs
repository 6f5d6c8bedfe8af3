//! Events on the daemon's bus: what webhooks, event streams, the dashboard and metrics follow.

use std::sync::Arc;

use serde::Serialize;

use super::state::SessionState;
use crate::store::messages::MessageRecord;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GatewayEvent {
    Status {
        session: String,
        status: SessionState,
        reason: Option<String>,
        phone: Option<String>,
        timestamp: i64,
    },
    Qr {
        session: String,
        qr: String,
        expires_at_ms: i64,
    },
    PairCode {
        session: String,
        code: String,
    },
    Message {
        session: String,
        message: Arc<MessageRecord>,
    },
    Receipt {
        session: String,
        message_ids: Vec<String>,
        status: String,
    },
}

impl GatewayEvent {
    pub fn session(&self) -> &str {
        match self {
            GatewayEvent::Status { session, .. }
            | GatewayEvent::Qr { session, .. }
            | GatewayEvent::PairCode { session, .. }
            | GatewayEvent::Message { session, .. }
            | GatewayEvent::Receipt { session, .. } => session,
        }
    }
}
