//! `/session`: start (QR or pairing code), list and log out sessions.

use axum::extract::State;
use axum::routing::get;
use axum::{Router, body::Bytes};
use serde::{Deserialize, Serialize};

use super::error::Data;
use super::error::ErrorBody;
use super::error::{ApiError, ApiResult, Query, data};
use super::{App, AppState, session_for};
use crate::auth::Caller;
use crate::engine::LinkMethod;
use crate::jid;
use crate::sessions::{SessionInfo, SessionState, StartOutcome};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/session", get(list))
        .route("/session/start", get(start_get).post(start_post))
        .route("/session/logout", get(logout_get).post(logout_post))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
pub struct SessionRequest {
    /// Session name. Required for admin; regular users may omit it (their one session is used).
    pub session: Option<String>,
    /// Link by pairing code for this phone number instead of a QR code.
    pub phone: Option<String>,
}

/// Parses an optional JSON body: the seed's clients sometimes send none at all.
pub fn optional_body<T: Default + for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::bad_request("malformed_json", "the body is not valid JSON")
        } else {
            ApiError::bad_request("invalid_body", format!("invalid body: {e}"))
        }
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StartAnswer {
    pub session: String,
    pub status: SessionState,
    /// "Connected" when the session is already linked and online.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The raw QR string, to render yourself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr: Option<String>,
    /// The QR code as a PNG `data:` URL, ready for an `<img src>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_image: Option<String>,
    /// When the QR code is replaced (Unix milliseconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_expires_at: Option<i64>,
    /// The pairing code to type on the phone, when linking by phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pair_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// Starts a session as `caller`; shared by `/session/start` and `/dashboard/start-session`.
pub async fn start_for(
    app: &App,
    caller: &Caller,
    request: SessionRequest,
) -> ApiResult<StartAnswer> {
    let target = session_for(app, caller, request.session.as_deref()).await?;
    let link = match request
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(phone) => LinkMethod::PhoneCode(jid::normalize_phone(phone)?),
        None => LinkMethod::Qr,
    };
    let outcome = app
        .sessions
        .start(&target.name, target.owner_user_id, link)
        .await?;
    let mut answer = StartAnswer {
        session: target.name,
        status: SessionState::Qr,
        message: None,
        qr: None,
        qr_image: None,
        qr_expires_at: None,
        pair_code: None,
        phone: None,
    };
    match outcome {
        StartOutcome::Qr(qr) => {
            answer.qr_image = Some(crate::qr::png_data_url(&qr.code).map_err(ApiError::internal)?);
            answer.qr = Some(qr.code);
            answer.qr_expires_at = Some(qr.expires_at_ms);
        }
        StartOutcome::PairCode(code) => answer.pair_code = Some(code),
        StartOutcome::Connected { phone } => {
            answer.status = SessionState::Connected;
            answer.message = Some("Connected".into());
            answer.phone = phone;
        }
    }
    Ok(data(answer))
}

#[utoipa::path(
    post,
    path = "/session/start",
    tag = "sessions",
    summary = "Start a session: its QR code, a pairing code, or Connected",
    request_body(content = SessionRequest, description = "Optional for regular users"),
    responses((status = 200, description = "Success", body = Data<StartAnswer>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 409, description = "Conflict", body = ErrorBody), (status = 503, description = "Session not connected", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn start_post(
    State(app): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<StartAnswer> {
    start_for(&app, &caller, optional_body(&body)?).await
}

#[utoipa::path(
    get,
    path = "/session/start",
    tag = "sessions",
    summary = "Start a session (query form)",
    params(SessionRequest),
    responses((status = 200, description = "Success", body = Data<StartAnswer>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 409, description = "Conflict", body = ErrorBody), (status = 503, description = "Session not connected", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn start_get(
    State(app): State<AppState>,
    caller: Caller,
    Query(request): Query<SessionRequest>,
) -> ApiResult<StartAnswer> {
    start_for(&app, &caller, request).await
}

/// One session as `GET /session` lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub session: String,
    pub status: SessionState,
    /// The linked phone number, once linked.
    pub phone: Option<String>,
    /// Why the session is in its state (disconnect or logout reason), if known.
    pub reason: Option<String>,
    /// The owning user's id; null for admin's sessions.
    pub owner_user_id: Option<i64>,
    /// The QR string while waiting for a scan.
    pub qr: Option<String>,
    pub updated_at: i64,
}

impl From<SessionInfo> for SessionView {
    fn from(info: SessionInfo) -> Self {
        SessionView {
            session: info.name,
            status: info.snapshot.state,
            phone: info.snapshot.phone,
            reason: info.snapshot.reason,
            owner_user_id: info.owner_user_id,
            qr: info.snapshot.qr.map(|q| q.code),
            updated_at: info.updated_at,
        }
    }
}

#[utoipa::path(
    get,
    path = "/session",
    tag = "sessions",
    summary = "List sessions: all for admin, your own for a user",

    responses((status = 200, description = "Success", body = Data<Vec<SessionView>>), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn list(State(app): State<AppState>, caller: Caller) -> ApiResult<Vec<SessionView>> {
    let sessions = app.sessions.list().await?;
    let visible = sessions.into_iter().filter(|s| match &caller {
        Caller::Admin => true,
        Caller::User(user) => s.name == user.session,
    });
    Ok(data(visible.map(SessionView::from).collect()))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogoutAnswer {
    pub session: String,
    pub message: String,
}

pub async fn logout_for(
    app: &App,
    caller: &Caller,
    session: Option<&str>,
) -> ApiResult<LogoutAnswer> {
    let target = session_for(app, caller, session).await?;
    app.sessions.logout(&target.name).await?;
    Ok(data(LogoutAnswer {
        session: target.name,
        message: "Logged out; the session and its credentials are removed".into(),
    }))
}

#[utoipa::path(
    post,
    path = "/session/logout",
    tag = "sessions",
    summary = "Log a session out and remove it",
    request_body = SessionRequest,
    responses((status = 200, description = "Success", body = Data<LogoutAnswer>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn logout_post(
    State(app): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<LogoutAnswer> {
    let request: SessionRequest = optional_body(&body)?;
    logout_for(&app, &caller, request.session.as_deref()).await
}

#[utoipa::path(
    get,
    path = "/session/logout",
    tag = "sessions",
    summary = "Log a session out (query form)",
    params(SessionRequest),
    responses((status = 200, description = "Success", body = Data<LogoutAnswer>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn logout_get(
    State(app): State<AppState>,
    caller: Caller,
    Query(request): Query<SessionRequest>,
) -> ApiResult<LogoutAnswer> {
    logout_for(&app, &caller, request.session.as_deref()).await
}
