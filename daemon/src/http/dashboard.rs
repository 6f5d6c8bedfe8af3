//! `/dashboard/*`: a regular user's own session and webhook settings.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};

use super::admin::present;
use super::error::Data;
use super::error::ErrorBody;
use super::error::{ApiResult, Json, data};
use super::sessions::{LogoutAnswer, SessionRequest, StartAnswer, logout_for, start_for};
use super::{AppState, UserOnly};
use crate::accounts::SettingsUpdate;
use crate::auth::Caller;
use crate::sessions::{SessionState, Snapshot};
use crate::store::users::User;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard/session-info", get(session_info))
        .route("/dashboard/start-session", post(start_session))
        .route("/dashboard/disconnect-session", post(disconnect_session))
        .route("/dashboard/callback", put(callback))
        .route("/dashboard/oauth", put(oauth))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub user: User,
    pub session: String,
    pub status: SessionState,
    pub phone: Option<String>,
    pub reason: Option<String>,
    pub qr: Option<String>,
    pub qr_expires_at: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/dashboard/session-info",
    tag = "dashboard",
    summary = "Your account and session state",

    responses((status = 200, description = "Success", body = Data<SessionInfo>), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn session_info(
    State(app): State<AppState>,
    UserOnly(user): UserOnly,
) -> ApiResult<SessionInfo> {
    let snapshot = match app.sessions.snapshot(&user.session) {
        Some(live) => live,
        None => app
            .sessions
            .list()
            .await?
            .into_iter()
            .find(|s| s.name == user.session)
            .map(|s| s.snapshot)
            .unwrap_or_else(Snapshot::stopped),
    };
    Ok(data(SessionInfo {
        session: user.session.clone(),
        status: snapshot.state,
        phone: snapshot.phone,
        reason: snapshot.reason,
        qr_expires_at: snapshot.qr.as_ref().map(|q| q.expires_at_ms),
        qr: snapshot.qr.map(|q| q.code),
        user,
    }))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct StartSessionRequest {
    /// Link by pairing code for this phone number instead of a QR code.
    pub phone: Option<String>,
}

#[utoipa::path(
    post,
    path = "/dashboard/start-session",
    tag = "dashboard",
    summary = "Start your session",
    request_body(content = StartSessionRequest, description = "Optional"),
    responses((status = 200, description = "Success", body = Data<StartAnswer>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 409, description = "Conflict", body = ErrorBody), (status = 503, description = "Session not connected", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn start_session(
    State(app): State<AppState>,
    UserOnly(user): UserOnly,
    body: axum::body::Bytes,
) -> ApiResult<StartAnswer> {
    let request: StartSessionRequest = super::sessions::optional_body(&body)?;
    let caller = Caller::User(user);
    start_for(
        &app,
        &caller,
        SessionRequest {
            session: None,
            phone: request.phone,
        },
    )
    .await
}

#[utoipa::path(
    post,
    path = "/dashboard/disconnect-session",
    tag = "dashboard",
    summary = "Log your session out",

    responses((status = 200, description = "Success", body = Data<LogoutAnswer>), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn disconnect_session(
    State(app): State<AppState>,
    UserOnly(user): UserOnly,
) -> ApiResult<LogoutAnswer> {
    logout_for(&app, &Caller::User(user), None).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CallbackRequest {
    /// The webhook URL; `null` or `""` removes it.
    #[serde(default, deserialize_with = "present")]
    pub callback_url: Option<Option<String>>,
    /// A Standard Webhooks secret (`whsec_…`) to sign deliveries; never returned.
    #[serde(default, deserialize_with = "present")]
    pub webhook_secret: Option<Option<String>>,
}

#[utoipa::path(
    put,
    path = "/dashboard/callback",
    tag = "dashboard",
    summary = "Set your webhook URL and signing secret",
    request_body = CallbackRequest,
    responses((status = 200, description = "Success", body = Data<User>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn callback(
    State(app): State<AppState>,
    UserOnly(user): UserOnly,
    Json(request): Json<CallbackRequest>,
) -> ApiResult<User> {
    let update = SettingsUpdate {
        callback_url: request.callback_url,
        webhook_secret: request.webhook_secret,
        ..SettingsUpdate::default()
    };
    Ok(data(app.accounts.update(user.id, update).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct OauthRequest {
    #[serde(default, deserialize_with = "present")]
    pub oauth_login: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub oauth_password: Option<Option<String>>,
}

#[utoipa::path(
    put,
    path = "/dashboard/oauth",
    tag = "dashboard",
    summary = "Set OAuth client credentials for your webhook",
    request_body = OauthRequest,
    responses((status = 200, description = "Success", body = Data<User>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn oauth(
    State(app): State<AppState>,
    UserOnly(user): UserOnly,
    Json(request): Json<OauthRequest>,
) -> ApiResult<User> {
    let update = SettingsUpdate {
        oauth_login: request.oauth_login,
        oauth_password: request.oauth_password,
        ..SettingsUpdate::default()
    };
    Ok(data(app.accounts.update(user.id, update).await?))
}
