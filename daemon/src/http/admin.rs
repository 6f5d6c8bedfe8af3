//! `/admin/users`: user management, for admin only.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, put};
use serde::{Deserialize, Deserializer, Serialize};

use super::error::Data;
use super::error::ErrorBody;
use super::error::{ApiError, ApiResult, Json, data};
use super::{AdminOnly, AppState};
use crate::accounts::{CreateUser, SettingsUpdate};
use crate::store::users::User;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(list).post(create))
        .route("/admin/users/{id}", axum::routing::delete(delete))
        .route("/admin/users/{id}/password", put(set_password))
        .route("/admin/users/{id}/session-config", put(session_config))
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

pub fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_id",
            format!("'{raw}' is not a user id; ids are positive integers"),
        )
    })
}

#[utoipa::path(
    get,
    path = "/admin/users",
    tag = "admin",
    summary = "List users (admin)",

    responses((status = 200, description = "Success", body = Data<Vec<User>>), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn list(State(app): State<AppState>, _: AdminOnly) -> ApiResult<Vec<User>> {
    Ok(data(app.accounts.list().await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateUserRequest {
    /// At least 3 characters: letters, digits, '_', '-' or '.'.
    pub username: String,
    /// At least 4 characters.
    pub password: String,
    pub session_name: Option<String>,
    pub callback_url: Option<String>,
    pub oauth_login: Option<String>,
    pub oauth_password: Option<String>,
    /// A Standard Webhooks secret (`whsec_…`); never returned.
    pub webhook_secret: Option<String>,
}

#[utoipa::path(
    post,
    path = "/admin/users",
    tag = "admin",
    summary = "Create a user (admin)",
    request_body = CreateUserRequest,
    responses((status = 201, description = "Success", body = Data<User>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 409, description = "Conflict", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn create(
    State(app): State<AppState>,
    _: AdminOnly,
    Json(request): Json<CreateUserRequest>,
) -> Result<(axum::http::StatusCode, axum::Json<super::error::Data<User>>), ApiError> {
    let user = app
        .accounts
        .create(CreateUser {
            username: request.username,
            password: request.password,
            session_name: request.session_name,
            callback_url: request.callback_url,
            oauth_login: request.oauth_login,
            oauth_password: request.oauth_password,
            webhook_secret: request.webhook_secret,
        })
        .await?;
    Ok((axum::http::StatusCode::CREATED, data(user)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordRequest {
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Done {
    pub message: String,
}

#[utoipa::path(
    put,
    path = "/admin/users/{id}/password",
    tag = "admin",
    summary = "Change a user's password (admin)",
    params(("id" = i64, Path, description = "User id")), request_body = PasswordRequest,
    responses((status = 200, description = "Success", body = Data<Done>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn set_password(
    State(app): State<AppState>,
    _: AdminOnly,
    Path(id): Path<String>,
    Json(request): Json<PasswordRequest>,
) -> ApiResult<Done> {
    app.accounts
        .set_password(parse_id(&id)?, request.password)
        .await?;
    Ok(data(Done {
        message: "Password updated".into(),
    }))
}

/// Fields absent from the body are left as they are; `null` or `""` clears one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct SessionConfigRequest {
    #[serde(default, deserialize_with = "present")]
    pub session_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub callback_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub oauth_login: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub oauth_password: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub webhook_secret: Option<Option<String>>,
}

impl From<SessionConfigRequest> for SettingsUpdate {
    fn from(r: SessionConfigRequest) -> Self {
        SettingsUpdate {
            session_name: r.session_name,
            callback_url: r.callback_url,
            oauth_login: r.oauth_login,
            oauth_password: r.oauth_password,
            webhook_secret: r.webhook_secret,
        }
    }
}

#[utoipa::path(
    put,
    path = "/admin/users/{id}/session-config",
    tag = "admin",
    summary = "Change a user's session name, webhook and OAuth settings (admin)",
    params(("id" = i64, Path, description = "User id")), request_body = SessionConfigRequest,
    responses((status = 200, description = "Success", body = Data<User>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 409, description = "Conflict", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn session_config(
    State(app): State<AppState>,
    _: AdminOnly,
    Path(id): Path<String>,
    Json(request): Json<SessionConfigRequest>,
) -> ApiResult<User> {
    Ok(data(
        app.accounts.update(parse_id(&id)?, request.into()).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/admin/users/{id}",
    tag = "admin",
    summary = "Delete a user, logging out their session (admin)",
    params(("id" = i64, Path, description = "User id")),
    responses((status = 200, description = "Success", body = Data<Done>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn delete(
    State(app): State<AppState>,
    _: AdminOnly,
    Path(id): Path<String>,
) -> ApiResult<Done> {
    let user = app.accounts.delete(parse_id(&id)?).await?;
    Ok(data(Done {
        message: format!(
            "User '{}' and session '{}' deleted",
            user.username, user.session
        ),
    }))
}
