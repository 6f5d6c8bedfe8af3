//! `/sandbox/*`: the control surface of the simulated network (admin only, sandbox engine only).
//! Outside tests depend on these shapes; keep them exactly as DESIGN.md states.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::error::Data;
use super::error::ErrorBody;
use super::error::{ApiError, ApiResult, Json, Query, data};
use super::{AdminOnly, App, AppState};
use crate::engine::sandbox::{OutboxEntry, SandboxError, SandboxNetwork};
use crate::engine::{InboundMedia, InboundMessage, MediaSource};
use crate::jid;
use crate::sessions::GatewayEvent;
use tokio::sync::broadcast::error::RecvError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sandbox/scan", post(scan))
        .route("/sandbox/inbound", post(inbound))
        .route("/sandbox/outbox", get(outbox))
        .route("/sandbox/groups", post(groups))
        .route("/sandbox/drop", post(drop_connection))
        .route("/sandbox/unlink", post(unlink))
}

impl From<SandboxError> for ApiError {
    fn from(error: SandboxError) -> Self {
        let message = error.to_string();
        match error {
            SandboxError::NotWaitingForScan(_)
            | SandboxError::NotConnected(_)
            | SandboxError::PhoneInUse { .. } => ApiError::conflict("sandbox_conflict", message),
            SandboxError::Invalid(_) => ApiError::bad_request("validation_failed", message),
            SandboxError::Io(_) => ApiError::internal(message),
        }
    }
}

fn network(app: &App) -> Result<&Arc<SandboxNetwork>, ApiError> {
    app.sandbox.as_ref().ok_or_else(ApiError::route_not_found)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ScanRequest {
    pub session: String,
    /// The phone that scans; defaults to the session's autoscan number.
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScanAnswer {
    pub session: String,
    pub phone: String,
}

#[utoipa::path(
    post,
    path = "/sandbox/scan",
    tag = "sandbox",
    summary = "Sandbox: a phone scans the session's QR code",
    request_body = ScanRequest,
    responses((status = 200, description = "Success", body = Data<ScanAnswer>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 409, description = "Conflict", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn scan(
    State(app): State<AppState>,
    _: AdminOnly,
    Json(request): Json<ScanRequest>,
) -> ApiResult<ScanAnswer> {
    let phone = network(&app)?.scan(&request.session, request.phone.as_deref())?;
    Ok(data(ScanAnswer {
        session: request.session,
        phone,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InboundRequest {
    pub session: String,
    /// The sender's phone number or JID.
    pub from: String,
    pub text: Option<String>,
    pub image_url: Option<String>,
    pub document_url: Option<String>,
    pub document_name: Option<String>,
    /// A group JID: the message arrives in that group, written by `from`.
    pub group: Option<String>,
    pub quoted_message_id: Option<String>,
    pub push_name: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InboundAnswer {
    #[serde(rename = "messageId")]
    pub message_id: String,
}

#[utoipa::path(
    post,
    path = "/sandbox/inbound",
    tag = "sandbox",
    summary = "Sandbox: deliver an incoming message",
    request_body = InboundRequest,
    responses((status = 200, description = "Success", body = Data<InboundAnswer>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 409, description = "Conflict", body = ErrorBody), (status = 502, description = "A media URL or WhatsApp failed", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn inbound(
    State(app): State<AppState>,
    _: AdminOnly,
    Json(request): Json<InboundRequest>,
) -> ApiResult<InboundAnswer> {
    let network = network(&app)?;
    let sender = jid::normalize_recipient(&request.from, false)?;
    let group = request
        .group
        .as_deref()
        .map(|g| jid::normalize_recipient(g, true))
        .transpose()?;
    let (kind, media) = match (&request.image_url, &request.document_url) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "validation_failed",
                "send either image_url or document_url, not both",
            ));
        }
        (Some(url), None) => {
            let fetched = app.media.fetch(url, true).await?;
            (
                "image",
                Some(InboundMedia {
                    mimetype: fetched.mimetype,
                    file_name: None,
                    source: MediaSource::Inline(fetched.bytes),
                }),
            )
        }
        (None, Some(url)) => {
            let fetched = app.media.fetch(url, true).await?;
            let name = request.document_name.clone().or(fetched.file_name);
            (
                "document",
                Some(InboundMedia {
                    mimetype: fetched.mimetype,
                    file_name: name,
                    source: MediaSource::Inline(fetched.bytes),
                }),
            )
        }
        (None, None) => {
            if request.text.as_deref().is_none_or(|t| t.is_empty()) {
                return Err(ApiError::bad_request(
                    "validation_failed",
                    "text: is required without image_url or document_url",
                ));
            }
            ("text", None)
        }
    };
    let message = InboundMessage {
        id: String::new(),
        chat: group.clone().unwrap_or_else(|| sender.clone()),
        sender,
        sender_pn: None,
        push_name: request.push_name,
        is_group: group.is_some(),
        kind: kind.into(),
        text: request.text,
        media,
        quoted_id: request.quoted_message_id,
        timestamp: crate::store::now(),
    };
    // Answer once the session has recorded the message, so the id can be quoted right away.
    let mut bus = app.sessions.subscribe();
    let message_id = network.inbound(&request.session, message).await?;
    let recorded = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match bus.recv().await {
                Ok(GatewayEvent::Message { message, .. }) if message.id == message_id => return,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    });
    if recorded.await.is_err() {
        tracing::warn!(session = %request.session, "inbound message not recorded within 10 s");
    }
    Ok(data(InboundAnswer { message_id }))
}

#[derive(Debug, Deserialize)]
struct OutboxQuery {
    session: String,
}

#[utoipa::path(
    get,
    path = "/sandbox/outbox",
    tag = "sandbox",
    summary = "Sandbox: what a session sent, oldest first",
    params(("session" = String, Query, description = "Session name")),
    responses((status = 200, description = "Success", body = Data<Vec<OutboxEntry>>), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn outbox(
    State(app): State<AppState>,
    _: AdminOnly,
    Query(query): Query<OutboxQuery>,
) -> ApiResult<Vec<OutboxEntry>> {
    Ok(data(network(&app)?.outbox(&query.session)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct GroupRequest {
    pub subject: String,
    /// Members' phone numbers.
    pub members: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GroupAnswer {
    pub id: String,
    pub jid: String,
    pub subject: String,
}

#[utoipa::path(
    post,
    path = "/sandbox/groups",
    tag = "sandbox",
    summary = "Sandbox: create a group",
    request_body = GroupRequest,
    responses((status = 200, description = "Success", body = Data<GroupAnswer>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn groups(
    State(app): State<AppState>,
    _: AdminOnly,
    Json(request): Json<GroupRequest>,
) -> ApiResult<GroupAnswer> {
    let jid = network(&app)?.create_group(&request.subject, &request.members)?;
    Ok(data(GroupAnswer {
        id: jid.clone(),
        jid,
        subject: request.subject,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SessionOnly {
    pub session: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SandboxDone {
    pub session: String,
    pub message: String,
}

#[utoipa::path(
    post,
    path = "/sandbox/drop",
    tag = "sandbox",
    summary = "Sandbox: drop a session's connection",
    request_body = SessionOnly,
    responses((status = 200, description = "Success", body = Data<SandboxDone>), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 409, description = "Conflict", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn drop_connection(
    State(app): State<AppState>,
    _: AdminOnly,
    Json(request): Json<SessionOnly>,
) -> ApiResult<SandboxDone> {
    network(&app)?.drop_connection(&request.session).await?;
    Ok(data(SandboxDone {
        session: request.session,
        message: "Connection dropped; the session reconnects by itself".into(),
    }))
}

#[utoipa::path(
    post,
    path = "/sandbox/unlink",
    tag = "sandbox",
    summary = "Sandbox: the phone unlinks the device",
    request_body = SessionOnly,
    responses((status = 200, description = "Success", body = Data<SandboxDone>), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 409, description = "Conflict", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn unlink(
    State(app): State<AppState>,
    _: AdminOnly,
    Json(request): Json<SessionOnly>,
) -> ApiResult<SandboxDone> {
    network(&app)?.unlink(&request.session).await?;
    Ok(data(SandboxDone {
        session: request.session,
        message: "The phone removed the device; the session is logged out".into(),
    }))
}
