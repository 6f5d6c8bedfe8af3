//! Session states and the snapshot other parts of the daemon read without asking the task.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Not running; started sessions come back here when linking gives up.
    Stopped,
    /// Waiting for a QR scan (or a pairing code to be typed).
    Qr,
    Connecting,
    Connected,
    /// Transient: reconnecting with backoff.
    Disconnected,
    /// The phone unlinked the device; credentials are gone and a new link is needed.
    LoggedOut,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Stopped => "stopped",
            SessionState::Qr => "qr",
            SessionState::Connecting => "connecting",
            SessionState::Connected => "connected",
            SessionState::Disconnected => "disconnected",
            SessionState::LoggedOut => "logged_out",
        }
    }

    pub fn parse(text: &str) -> SessionState {
        match text {
            "qr" => SessionState::Qr,
            "connecting" => SessionState::Connecting,
            "connected" => SessionState::Connected,
            "disconnected" => SessionState::Disconnected,
            "logged_out" => SessionState::LoggedOut,
            _ => SessionState::Stopped,
        }
    }

    pub const ALL: [SessionState; 6] = [
        SessionState::Stopped,
        SessionState::Qr,
        SessionState::Connecting,
        SessionState::Connected,
        SessionState::Disconnected,
        SessionState::LoggedOut,
    ];
}

/// A QR code being shown, with when it is replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QrCode {
    pub code: String,
    /// Unix milliseconds.
    pub expires_at_ms: i64,
}

/// What a session looks like right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub state: SessionState,
    pub phone: Option<String>,
    pub reason: Option<String>,
    pub qr: Option<QrCode>,
    pub pair_code: Option<String>,
}

impl Snapshot {
    pub fn stopped() -> Snapshot {
        Snapshot {
            state: SessionState::Stopped,
            phone: None,
            reason: None,
            qr: None,
            pair_code: None,
        }
    }
}
