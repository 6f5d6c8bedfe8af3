//! `GET /metrics` (Prometheus text format, admin or the metrics bearer token) and the request
//! counting middleware behind it.

use std::time::Instant;

use axum::Router;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::error::ApiError;
use crate::auth::Caller;
use crate::sessions::SessionState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

/// Counts every request by its route template (never the raw path, which would explode labels).
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = request.method().to_string();
    let response = next.run(request).await;
    crate::metrics::http_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn render(State(app): State<AppState>, mut parts: Parts) -> Result<Response, ApiError> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let token_ok = match (&app.config.metrics_token, bearer) {
        (Some(expected), Some(given)) => constant_time_eq(expected.as_bytes(), given.as_bytes()),
        _ => false,
    };
    if !token_ok {
        match Caller::from_request_parts(&mut parts, &app).await {
            Ok(Caller::Admin) => {}
            Ok(Caller::User(_)) => {
                return Err(ApiError::forbidden(
                    "metrics are for admin or the WAGW_METRICS_TOKEN bearer",
                ));
            }
            Err(response) => return Ok(response),
        }
    }
    let Some(handle) = crate::metrics::handle() else {
        return Err(ApiError::internal("the metrics recorder is not installed"));
    };
    let counts = app.sessions.count_by_state();
    for state in SessionState::ALL {
        crate::metrics::sessions_in_state(state.as_str(), counts.get(&state).copied().unwrap_or(0));
    }
    let backlog = app.webhooks.backlog().await?;
    crate::metrics::webhook_backlog(&backlog, crate::store::now());
    handle.run_upkeep();
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
