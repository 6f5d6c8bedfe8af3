//! `/message/send-*`: text, image, document and sticker, each optionally quoting a message.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult, Data, ErrorBody, Json, data};
use super::{App, AppState, session_for};
use crate::auth::Caller;
use crate::engine::{Content, MediaPayload};
use crate::jid;
use crate::media::{Fetched, is_webp};
use crate::sessions::{SessionError, SessionState};
use crate::store::messages::MessageRecord;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/message/send-text", post(send_text))
        .route("/message/send-image", post(send_image))
        .route("/message/send-document", post(send_document))
        .route("/message/send-sticker", post(send_sticker))
        .route("/message/{id}", axum::routing::get(message_status))
}

/// The body of every send route; which fields are required depends on the route.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct SendRequest {
    /// Your session name (regular users may omit it).
    pub session: Option<String>,
    /// Phone number with country code (628123456789), a JID, or a group id with `is_group`.
    pub to: Option<String>,
    /// The text, or the caption of an image or document.
    pub text: Option<String>,
    /// http(s) URL of the image or sticker (`file://` for admin under WAGW_FILE_URL_ROOT).
    pub image_url: Option<String>,
    pub document_url: Option<String>,
    /// File name shown to the recipient, with its extension.
    pub document_name: Option<String>,
    #[serde(default)]
    pub is_group: bool,
    /// Id of a message this session sent or received, to reply to.
    pub quoted_message_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageKey {
    pub remote_jid: String,
    pub from_me: bool,
    pub id: String,
}

/// A sent message, shaped so code written for the Node gateway reads `data.key.id`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SendAnswer {
    pub id: String,
    pub key: MessageKey,
    /// Unix seconds.
    #[serde(rename = "messageTimestamp")]
    pub message_timestamp: i64,
    pub status: String,
}

impl From<MessageRecord> for SendAnswer {
    fn from(record: MessageRecord) -> Self {
        SendAnswer {
            id: record.id.clone(),
            key: MessageKey {
                remote_jid: record.chat,
                from_me: true,
                id: record.id,
            },
            message_timestamp: record.timestamp,
            status: record.status.to_ascii_uppercase(),
        }
    }
}

fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, ApiError> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request("validation_failed", format!("{field}: is required")))
}

fn optional(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .map(str::to_string)
}

/// Checks the request and the session before any media is fetched, then sends.
async fn send(
    app: &App,
    caller: &Caller,
    request: &SendRequest,
    build: impl AsyncFnOnce() -> Result<Content, ApiError>,
) -> ApiResult<SendAnswer> {
    let target = session_for(app, caller, request.session.as_deref()).await?;
    let to = jid::normalize_recipient(required(&request.to, "to")?, request.is_group)?;
    let state = app.sessions.snapshot(&target.name).map(|s| s.state);
    if let Some(state) = state.filter(|s| *s != SessionState::Connected) {
        return Err(SessionError::NotReady {
            session: target.name,
            state,
        }
        .into());
    }
    let content = build().await?;
    let quoted = optional(&request.quoted_message_id);
    let record = app.sessions.send(&target.name, to, content, quoted).await?;
    Ok(data(SendAnswer::from(record)))
}

async fn fetch(app: &App, caller: &Caller, url: &str) -> Result<Fetched, ApiError> {
    Ok(app.media.fetch(url, caller.is_admin()).await?)
}

#[utoipa::path(
    post,
    path = "/message/send-text",
    tag = "messages",
    summary = "Send a text message",
    request_body = SendRequest,
    responses((status = 200, description = "Success", body = Data<SendAnswer>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 503, description = "Session not connected", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn send_text(
    State(app): State<AppState>,
    caller: Caller,
    Json(request): Json<SendRequest>,
) -> ApiResult<SendAnswer> {
    let text = required(&request.text, "text")?.to_string();
    send(&app, &caller, &request, async || Ok(Content::Text { text })).await
}

#[utoipa::path(
    post,
    path = "/message/send-image",
    tag = "messages",
    summary = "Send an image from a URL, with `text` as caption",
    request_body = SendRequest,
    responses((status = 200, description = "Success", body = Data<SendAnswer>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 413, description = "Too large", body = ErrorBody), (status = 415, description = "Wrong media type", body = ErrorBody), (status = 502, description = "A media URL or WhatsApp failed", body = ErrorBody), (status = 503, description = "Session not connected", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn send_image(
    State(app): State<AppState>,
    caller: Caller,
    Json(request): Json<SendRequest>,
) -> ApiResult<SendAnswer> {
    let url = required(&request.image_url, "image_url")?.to_string();
    send(&app, &caller, &request, async || {
        let fetched = fetch(&app, &caller, &url).await?;
        if !fetched.mimetype.starts_with("image/") {
            return Err(ApiError::from(crate::media::MediaError::WrongKind(
                format!(
                    "image_url must point to an image; it returned {}",
                    fetched.mimetype
                ),
            )));
        }
        let media = MediaPayload {
            bytes: fetched.bytes,
            mimetype: fetched.mimetype,
        };
        Ok(Content::Image {
            media,
            caption: optional(&request.text),
        })
    })
    .await
}

#[utoipa::path(
    post,
    path = "/message/send-document",
    tag = "messages",
    summary = "Send a document from a URL",
    request_body = SendRequest,
    responses((status = 200, description = "Success", body = Data<SendAnswer>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 413, description = "Too large", body = ErrorBody), (status = 502, description = "A media URL or WhatsApp failed", body = ErrorBody), (status = 503, description = "Session not connected", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn send_document(
    State(app): State<AppState>,
    caller: Caller,
    Json(request): Json<SendRequest>,
) -> ApiResult<SendAnswer> {
    let url = required(&request.document_url, "document_url")?.to_string();
    let name = required(&request.document_name, "document_name")?.to_string();
    send(&app, &caller, &request, async || {
        let fetched = fetch(&app, &caller, &url).await?;
        // The name the recipient sees decides the type when the server did not say.
        let mimetype = match mime_guess::from_path(&name).first_raw() {
            Some(by_name) if fetched.mimetype == "application/octet-stream" => by_name.to_string(),
            _ => fetched.mimetype,
        };
        let media = MediaPayload {
            bytes: fetched.bytes,
            mimetype,
        };
        Ok(Content::Document {
            media,
            file_name: name,
            caption: optional(&request.text),
        })
    })
    .await
}

#[utoipa::path(
    post,
    path = "/message/send-sticker",
    tag = "messages",
    summary = "Send a WebP sticker from a URL",
    request_body = SendRequest,
    responses((status = 200, description = "Success", body = Data<SendAnswer>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 413, description = "Too large", body = ErrorBody), (status = 415, description = "Wrong media type", body = ErrorBody), (status = 502, description = "A media URL or WhatsApp failed", body = ErrorBody), (status = 503, description = "Session not connected", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn send_sticker(
    State(app): State<AppState>,
    caller: Caller,
    Json(request): Json<SendRequest>,
) -> ApiResult<SendAnswer> {
    let url = required(&request.image_url, "image_url")?.to_string();
    send(&app, &caller, &request, async || {
        let fetched = fetch(&app, &caller, &url).await?;
        if !is_webp(&fetched.bytes) {
            return Err(ApiError::from(crate::media::MediaError::WrongKind(format!(
                "stickers must be WebP images; image_url returned {}. Convert it to WebP (512x512) first",
                fetched.mimetype
            ))));
        }
        Ok(Content::Sticker { media: MediaPayload { bytes: fetched.bytes, mimetype: "image/webp".into() } })
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StatusQuery {
    /// The session that sent or received the message (regular users may omit it).
    pub session: Option<String>,
}

/// A stored message with its delivery status (pending, server_ack, delivered, read; or received).
#[utoipa::path(
    get,
    path = "/message/{id}",
    tag = "messages",
    summary = "A sent or received message and its delivery status",
    params(("id" = String, Path, description = "Message id"), StatusQuery),
    responses(
        (status = 200, description = "Success", body = Data<MessageRecord>),
        (status = 403, description = "Not yours", body = ErrorBody),
        (status = 404, description = "Unknown message", body = ErrorBody),
        (status = 401, description = "No or wrong credentials", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub(super) async fn message_status(
    State(app): State<AppState>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
    super::error::Query(query): super::error::Query<StatusQuery>,
) -> ApiResult<MessageRecord> {
    let target = session_for(&app, &caller, query.session.as_deref()).await?;
    let (session, lookup) = (target.name.clone(), id.clone());
    let found = app
        .db
        .call(move |c| crate::store::messages::find(c, &session, &lookup))
        .await?;
    let record = found.ok_or_else(|| {
        ApiError::not_found(
            "message_not_found",
            format!("session '{}' has no message '{id}'", target.name),
        )
    })?;
    Ok(data(record))
}
