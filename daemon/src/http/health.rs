//! `/health`: liveness, cheap and unauthenticated.

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health() -> axum::Json<Value> {
    axum::Json(json!({ "status": "ok" }))
}
