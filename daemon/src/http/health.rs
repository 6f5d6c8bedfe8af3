//! `/health`: liveness, cheap and unauthenticated.

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

#[utoipa::path(get, path = "/health", tag = "health", summary = "Liveness: answers while the process serves HTTP",
    responses((status = 200, description = "`{\"status\":\"ok\"}`", body = Object)))]
async fn health() -> axum::Json<Value> {
    axum::Json(json!({ "status": "ok" }))
}

/// Readiness: 503 until the store is open and stored sessions are restored.
#[utoipa::path(get, path = "/ready", tag = "health", summary = "Readiness: ready once stored sessions are restored",
    responses((status = 200, description = "`{\"status\":\"ready\"}`", body = Object),
              (status = 503, description = "Still restoring sessions", body = super::error::ErrorBody)))]
async fn ready(
    axum::extract::State(app): axum::extract::State<AppState>,
) -> Result<axum::Json<Value>, super::error::ApiError> {
    if app.ready.load(std::sync::atomic::Ordering::Acquire) {
        Ok(axum::Json(json!({ "status": "ready" })))
    } else {
        Err(super::error::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "wagwd is restoring sessions",
        ))
    }
}
