//! `/health`: liveness, cheap and unauthenticated.

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

#[utoipa::path(get, path = "/health", tag = "health", summary = "Liveness: answers while the process serves HTTP",
    responses((status = 200, description = "`{\"status\":\"ok\"}`", body = Object)))]
async fn health() -> axum::Json<Value> {
    axum::Json(json!({ "status": "ok" }))
}
