//! `/dashboard/*`: a regular user's own session and webhook settings.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};

use super::admin::present;
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
