//! The HTTP API: one module per resource, all answering in wagw's envelope and error shape.

pub mod admin;
mod dashboard;
pub mod error;
mod events;
mod health;
mod media;
pub mod messages;
mod metrics;
mod openapi;
mod pages;
pub mod sandbox;
pub mod sessions;
pub mod webhooks;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Request, header};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::accounts::{Accounts, validate_session_name};
use crate::auth::{Authenticator, Caller};
use crate::config::Config;
use crate::engine::sandbox::SandboxNetwork;
use crate::media::MediaStore;
use crate::sessions::SessionManager;
use crate::store::{self, Db};
use error::ApiError;

/// Everything handlers need, shared by all requests.
pub struct App {
    pub config: Config,
    pub db: Arc<Db>,
    pub auth: Arc<Authenticator>,
    pub sessions: Arc<SessionManager>,
    pub accounts: Accounts,
    pub media: Arc<MediaStore>,
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    /// Present only under the sandbox engine.
    pub sandbox: Option<Arc<SandboxNetwork>>,
    pub started: Instant,
    /// Set once the store is open and stored sessions are restored; `/ready` reports it.
    pub ready: std::sync::atomic::AtomicBool,
    /// Cancelled when wagwd begins to shut down; long-lived streams end on it.
    pub shutdown: tokio_util::sync::CancellationToken,
}

pub type AppState = Arc<App>;

/// JSON bodies are small; media travels by URL. Larger bodies get a 413.
const BODY_LIMIT: usize = 1024 * 1024;

pub fn router(app: AppState) -> Router {
    let mut routes = Router::new()
        .merge(health::routes())
        .merge(sessions::routes())
        .merge(messages::routes())
        .merge(admin::routes())
        .merge(dashboard::routes())
        .merge(media::routes())
        .merge(events::routes())
        .merge(openapi::routes())
        .merge(metrics::routes())
        .merge(pages::routes())
        .merge(webhooks::routes());
    if app.sandbox.is_some() {
        routes = routes.merge(sandbox::routes());
    }
    routes
        .fallback(|| async { ApiError::route_not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed on this route")
        })
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(|_| ApiError::internal("a request handler panicked").into_response()))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(app)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        app.auth
            .authenticate(header, peer)
            .await
            .map_err(|e| ApiError::from(e).into_response())
    }
}

/// Admin only, as an extractor: `_: AdminOnly` in a handler's arguments.
pub struct AdminOnly;

impl FromRequestParts<AppState> for AdminOnly {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, app).await? {
            Caller::Admin => Ok(AdminOnly),
            Caller::User(_) => {
                Err(ApiError::forbidden("this route is for admin only").into_response())
            }
        }
    }
}

/// A regular user only, as an extractor; admin is told why not.
pub struct UserOnly(pub crate::store::users::User);

impl FromRequestParts<AppState> for UserOnly {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, app).await? {
            Caller::User(user) => Ok(UserOnly(user)),
            Caller::Admin => Err(ApiError::forbidden(
                "the dashboard routes are for regular users; admin manages users through /admin",
            )
            .into_response()),
        }
    }
}

/// The session a request acts on, checked against who is asking. Admin names any session; a
/// regular user has exactly one and may omit its name.
pub async fn session_for(
    app: &App,
    caller: &Caller,
    requested: Option<&str>,
) -> Result<SessionTarget, ApiError> {
    let requested = requested.map(str::trim).filter(|s| !s.is_empty());
    match caller {
        Caller::User(user) => match requested {
            Some(name) if name != user.session => Err(ApiError::forbidden(format!(
                "you may only use your own session '{}'",
                user.session
            ))),
            _ => Ok(SessionTarget {
                name: user.session.clone(),
                owner_user_id: Some(user.id),
            }),
        },
        Caller::Admin => {
            let name = requested.ok_or_else(|| {
                ApiError::bad_request("validation_failed", "session: is required")
            })?;
            validate_session_name("session", name)?;
            let lookup = name.to_string();
            let owner = app
                .db
                .call(move |c| store::users::find_by_session(c, &lookup))
                .await?;
            Ok(SessionTarget {
                name: name.to_string(),
                owner_user_id: owner.map(|(u, _)| u.id),
            })
        }
    }
}

pub struct SessionTarget {
    pub name: String,
    /// The user the session belongs to; `None` for admin's own sessions.
    pub owner_user_id: Option<i64>,
}
