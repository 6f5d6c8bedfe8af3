//! Webhook deliveries: admin sees and redelivers all of them, a user their own.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde::Deserialize;

use super::error::{ApiError, ApiResult, Data, ErrorBody, Query, data};
use super::{AdminOnly, AppState, UserOnly};
use crate::store::outbox::Delivery;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/webhooks", get(admin_list))
        .route("/admin/webhooks/{id}/redeliver", post(admin_redeliver))
        .route(
            "/admin/webhooks/redeliver-failed",
            post(admin_redeliver_failed),
        )
        .route("/dashboard/webhooks", get(user_list))
        .route("/dashboard/webhooks/{id}/redeliver", post(user_redeliver))
}

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// `pending`, `delivered` or `failed`; all when absent.
    pub state: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<usize>,
    /// Admin only: just this user's deliveries (to their own callback URL), by username.
    pub user: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct UserFilter {
    /// Only this user's deliveries (to their own callback URL), by username.
    pub user: Option<String>,
}

/// The id of the user a filter names; `None` for no filter (blank counts as none).
async fn user_id_of(app: &AppState, user: Option<String>) -> Result<Option<i64>, ApiError> {
    match user.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(name) => Ok(Some(app.accounts.find(name).await?.id)),
        None => Ok(None),
    }
}

impl ListQuery {
    fn checked(self) -> Result<(Option<String>, usize), ApiError> {
        let state = self
            .state
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if let Some(state) = &state
            && !matches!(state.as_str(), "pending" | "delivered" | "failed")
        {
            return Err(ApiError::bad_request(
                "validation_failed",
                format!("state: '{state}' is not one of pending, delivered, failed"),
            ));
        }
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(
                "validation_failed",
                format!("limit: must be 1 to {MAX_LIMIT}"),
            ));
        }
        Ok((state, limit))
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("delivery_not_found", format!("no webhook delivery '{id}'"))
}

#[utoipa::path(
    get,
    path = "/admin/webhooks",
    tag = "admin",
    summary = "Webhook deliveries, newest first",
    params(ListQuery),
    responses((status = 200, description = "Success", body = Data<Vec<Delivery>>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
pub async fn admin_list(
    State(app): State<AppState>,
    _: AdminOnly,
    Query(query): Query<ListQuery>,
) -> ApiResult<Vec<Delivery>> {
    let user_id = user_id_of(&app, query.user.clone()).await?;
    let (state, limit) = query.checked()?;
    Ok(data(app.webhooks.list(state, user_id, limit).await?))
}

#[utoipa::path(
    post,
    path = "/admin/webhooks/{id}/redeliver",
    tag = "admin",
    summary = "Queue a webhook delivery again",
    params(("id" = String, Path, description = "Delivery id")),
    responses((status = 200, description = "Success", body = Data<Delivery>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 404, description = "No such delivery", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
pub async fn admin_redeliver(
    State(app): State<AppState>,
    _: AdminOnly,
    Path(id): Path<String>,
) -> ApiResult<Delivery> {
    let delivery = app
        .webhooks
        .redeliver(&id, None)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(data(delivery))
}

#[utoipa::path(
    post,
    path = "/admin/webhooks/redeliver-failed",
    tag = "admin",
    summary = "Queue every failed webhook delivery again (one user's with ?user=)",
    params(UserFilter),
    responses((status = 200, description = "The deliveries queued again", body = Data<Vec<Delivery>>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
pub async fn admin_redeliver_failed(
    State(app): State<AppState>,
    _: AdminOnly,
    Query(filter): Query<UserFilter>,
) -> ApiResult<Vec<Delivery>> {
    let user_id = user_id_of(&app, filter.user).await?;
    Ok(data(app.webhooks.redeliver_failed(user_id).await?))
}

#[utoipa::path(
    get,
    path = "/dashboard/webhooks",
    tag = "dashboard",
    summary = "Your webhook deliveries, newest first",
    params(ListQuery),
    responses((status = 200, description = "Success", body = Data<Vec<Delivery>>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn user_list(
    State(app): State<AppState>,
    UserOnly(user): UserOnly,
    Query(query): Query<ListQuery>,
) -> ApiResult<Vec<Delivery>> {
    if query.user.is_some() {
        return Err(ApiError::bad_request(
            "validation_failed",
            "user: only admin filters by user; you always see your own deliveries",
        ));
    }
    let (state, limit) = query.checked()?;
    Ok(data(app.webhooks.list(state, Some(user.id), limit).await?))
}

#[utoipa::path(
    post,
    path = "/dashboard/webhooks/{id}/redeliver",
    tag = "dashboard",
    summary = "Queue one of your webhook deliveries again",
    params(("id" = String, Path, description = "Delivery id")),
    responses((status = 200, description = "Success", body = Data<Delivery>), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not yours, or admin only", body = ErrorBody), (status = 404, description = "No such delivery", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn user_redeliver(
    State(app): State<AppState>,
    UserOnly(user): UserOnly,
    Path(id): Path<String>,
) -> ApiResult<Delivery> {
    // Another user's delivery answers exactly like a missing one.
    let delivery = app
        .webhooks
        .redeliver(&id, Some(user.id))
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(data(delivery))
}
