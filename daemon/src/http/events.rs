//! `/events`: live session events as server-sent events, for dashboards and tests that wait for
//! something to happen instead of polling.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use serde::Deserialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use super::AppState;
use super::error::{ApiError, Query};
use crate::auth::Caller;

pub fn routes() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

#[derive(Debug, Default, Deserialize)]
struct Filter {
    session: Option<String>,
}

#[utoipa::path(
    get,
    path = "/events",
    tag = "sessions",
    summary = "Live events (server-sent events): status changes, QR codes, messages, receipts",
    params(("session" = Option<String>, Query, description = "Only this session's events")),
    responses(
        (status = 200, description = "A text/event-stream; each event's data is a JSON object with a `type`", content_type = "text/event-stream"),
        (status = 403, description = "Not your session", body = super::error::ErrorBody),
        (status = 401, description = "No or wrong credentials", body = super::error::ErrorBody)
    ),
    security(("basic" = []))
)]
async fn events(
    State(app): State<AppState>,
    caller: Caller,
    Query(filter): Query<Filter>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let only = match (&caller, filter.session) {
        (Caller::User(user), Some(asked)) if asked != user.session => {
            return Err(ApiError::forbidden(format!(
                "you may only follow your own session '{}'",
                user.session
            )));
        }
        (Caller::User(user), _) => Some(user.session.clone()),
        (Caller::Admin, asked) => asked,
    };
    let stream = BroadcastStream::new(app.sessions.subscribe()).filter_map(move |item| {
        let event = match item {
            Ok(event) => event,
            // A slow reader missed events; say so rather than pretend the stream is whole.
            Err(lagged) => {
                return Some(Ok(Event::default()
                    .event("lagged")
                    .data(lagged.to_string())));
            }
        };
        if only.as_deref().is_some_and(|s| s != event.session()) {
            return None;
        }
        let json = serde_json::to_string(&event).ok()?;
        Some(Ok(Event::default().data(json)))
    });
    // Open streams would otherwise hold a graceful shutdown until its deadline.
    let stream =
        futures_util::StreamExt::take_until(stream, app.shutdown.clone().cancelled_owned());
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
