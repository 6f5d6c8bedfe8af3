//! The control service. Each call goes through the same operations as its HTTP route (acting as
//! admin), so the two APIs share every rule, message and JSON shape.

use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{Path, State};
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};
use wagw_proto::control::v1 as pb;
use wagw_proto::control::v1::control_server::Control;
use wagw_proto::control::v1::send_part::Part;

use super::status_of;
use crate::auth::Caller;
use crate::http::error::{ApiError, ApiResult, Json, Query};
use crate::http::{AdminOnly, App, admin, messages, sandbox, sessions, webhooks};
use crate::media::{Fetched, MediaError, guess_mimetype};
use crate::sessions::{GatewayEvent, SessionState};

type Reply = Result<Response<pb::JsonReply>, Status>;
type Updates = Pin<Box<dyn Stream<Item = Result<pb::SessionUpdate, Status>> + Send>>;
type Events = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

pub struct ControlService {
    app: Arc<App>,
    /// Cancelled on shutdown: long streams end so the server can stop.
    stop: CancellationToken,
}

impl ControlService {
    pub fn new(app: Arc<App>, stop: CancellationToken) -> ControlService {
        ControlService { app, stop }
    }

    fn state(&self) -> State<Arc<App>> {
        State(self.app.clone())
    }

    async fn user_id(&self, username: &str) -> Result<Path<String>, Status> {
        let user = self
            .app
            .accounts
            .find(username)
            .await
            .map_err(|e| status_of(e.into()))?;
        Ok(Path(user.id.to_string()))
    }

    fn sandbox_engine(&self) -> Result<(), Status> {
        match self.app.sandbox {
            Some(_) => Ok(()),
            None => Err(Status::failed_precondition(format!(
                "the sandbox commands need WAGW_ENGINE=sandbox; this wagwd runs the {} engine",
                self.app.config.engine.as_str()
            ))),
        }
    }
}

fn json<T: Serialize>(value: &T) -> Reply {
    let json = serde_json::to_string(value).map_err(|e| Status::internal(e.to_string()))?;
    Ok(Response::new(pb::JsonReply { json }))
}

/// The `data` of an HTTP answer, as JSON.
fn answer<T: Serialize>(result: ApiResult<T>) -> Reply {
    json(&result.map_err(status_of)?.0.data)
}

fn update_of(state: SessionState) -> pb::SessionUpdate {
    pb::SessionUpdate {
        state: state.as_str().to_string(),
        ..Default::default()
    }
}

#[tonic::async_trait]
impl Control for ControlService {
    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let listed = self
            .app
            .sessions
            .list()
            .await
            .map_err(|e| status_of(e.into()))?;
        let sessions = SessionState::ALL
            .iter()
            .map(|state| pb::SessionCount {
                state: state.as_str().to_string(),
                count: listed.iter().filter(|s| s.snapshot.state == *state).count() as u64,
            })
            .collect();
        // The same figures /metrics exports as wagw_webhook_backlog and friends.
        let backlog = self
            .app
            .webhooks
            .backlog()
            .await
            .map_err(|e| status_of(e.into()))?;
        let oldest = backlog
            .oldest_pending_at
            .map(|_| backlog.oldest_pending_age(crate::store::now()) as u64);
        Ok(Response::new(pb::StatusResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_seconds: self.app.started.elapsed().as_secs(),
            engine: self.app.config.engine.as_str().to_string(),
            sessions,
            webhooks_pending: backlog.pending as u64,
            webhooks_failed: backlog.failed as u64,
            webhooks_oldest_pending_seconds: oldest,
        }))
    }

    async fn add_user(&self, request: Request<pb::AddUserRequest>) -> Reply {
        let r = request.into_inner();
        let body = admin::CreateUserRequest {
            username: r.username,
            password: r.password,
            session_name: r.session_name,
            callback_url: r.callback_url,
            oauth_login: None,
            oauth_password: None,
            webhook_secret: None,
        };
        let (_, created) = admin::create(self.state(), AdminOnly, Json(body))
            .await
            .map_err(status_of)?;
        json(&created.0.data)
    }

    async fn list_users(&self, _: Request<pb::ListUsersRequest>) -> Reply {
        answer(admin::list(self.state(), AdminOnly).await)
    }

    async fn set_password(&self, request: Request<pb::SetPasswordRequest>) -> Reply {
        let r = request.into_inner();
        let id = self.user_id(&r.username).await?;
        let body = admin::PasswordRequest {
            password: r.password,
        };
        answer(admin::set_password(self.state(), AdminOnly, id, Json(body)).await)
    }

    async fn update_user(&self, request: Request<pb::UpdateUserRequest>) -> Reply {
        let r = request.into_inner();
        let id = self.user_id(&r.username).await?;
        let body = admin::SessionConfigRequest {
            session_name: r.session_name.map(Some),
            callback_url: r.callback_url.map(Some),
            oauth_login: r.oauth_login.map(Some),
            oauth_password: r.oauth_password.map(Some),
            webhook_secret: r.webhook_secret.map(Some),
        };
        answer(admin::session_config(self.state(), AdminOnly, id, Json(body)).await)
    }

    async fn remove_user(&self, request: Request<pb::RemoveUserRequest>) -> Reply {
        let id = self.user_id(&request.into_inner().username).await?;
        answer(admin::delete(self.state(), AdminOnly, id).await)
    }

    type StartSessionStream = Updates;

    async fn start_session(
        &self,
        request: Request<pb::StartSessionRequest>,
    ) -> Result<Response<Updates>, Status> {
        let r = request.into_inner();
        // Subscribed before starting, so no step between the start and the stream is missed.
        let bus = self.app.sessions.subscribe();
        let body = sessions::SessionRequest {
            session: Some(r.session),
            phone: r.pair_phone,
        };
        let started = sessions::start_for(&self.app, &Caller::Admin, body)
            .await
            .map_err(status_of)?
            .0
            .data;
        let first = pb::SessionUpdate {
            state: started.status.as_str().to_string(),
            qr: started.qr,
            qr_expires_at_ms: started.qr_expires_at,
            pair_code: started.pair_code,
            phone: started.phone,
            reason: None,
        };
        let (tx, rx) = mpsc::channel(16);
        let follow = FollowLink {
            app: self.app.clone(),
            session: started.session,
            tx,
            stop: self.stop.clone(),
        };
        tokio::spawn(follow.run(bus, first));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list_sessions(&self, _: Request<pb::ListSessionsRequest>) -> Reply {
        let listed = self
            .app
            .sessions
            .list()
            .await
            .map_err(|e| status_of(e.into()))?;
        json(
            &listed
                .into_iter()
                .map(sessions::SessionView::from)
                .collect::<Vec<_>>(),
        )
    }

    async fn logout(&self, request: Request<pb::LogoutRequest>) -> Reply {
        let session = request.into_inner().session;
        answer(sessions::logout_for(&self.app, &Caller::Admin, Some(&session)).await)
    }

    async fn send(&self, request: Request<Streaming<pb::SendPart>>) -> Reply {
        let mut parts = request.into_inner();
        let header = match parts.message().await? {
            Some(pb::SendPart {
                part: Some(Part::Header(header)),
            }) => header,
            _ => return Err(Status::invalid_argument("a send starts with its header")),
        };
        let url = header.url.clone().filter(|u| !u.trim().is_empty());
        let mut body = messages::SendRequest {
            session: Some(header.session.clone()),
            to: Some(header.to.clone()),
            text: header.text.clone(),
            image_url: None,
            document_url: None,
            document_name: header.file_name.clone(),
            is_group: header.group,
            quoted_message_id: header.reply_to.clone(),
        };
        let (state, app) = (self.state(), &self.app);
        let result = match (header.kind.as_str(), url) {
            ("text", _) => messages::send_text(state, Caller::Admin, Json(body)).await,
            ("image", Some(url)) => {
                body.image_url = Some(url);
                messages::send_image(state, Caller::Admin, Json(body)).await
            }
            ("sticker", Some(url)) => {
                body.image_url = Some(url);
                messages::send_sticker(state, Caller::Admin, Json(body)).await
            }
            ("document", Some(url)) => {
                body.document_url = Some(url);
                messages::send_document(state, Caller::Admin, Json(body)).await
            }
            (kind @ ("image" | "sticker" | "document"), None) => {
                let limit = app.config.media_max_bytes;
                let name = header.file_name.clone().filter(|n| !n.trim().is_empty());
                let label = name.clone().unwrap_or_else(|| "the uploaded file".into());
                if header.length > limit {
                    return Err(status_of(MediaError::TooLarge { url: label, limit }.into()));
                }
                // The file is read only after the session and recipient are checked.
                messages::send(app, &Caller::Admin, &body, async || {
                    let bytes = receive_upload(&mut parts, limit, &label).await?;
                    let mimetype = guess_mimetype(name.as_deref(), &bytes);
                    let fetched = Fetched {
                        bytes: bytes.into(),
                        mimetype,
                        file_name: name.clone(),
                    };
                    let caption = header.text.clone().filter(|t| !t.trim().is_empty());
                    match kind {
                        "image" => messages::image_content(fetched, caption),
                        "sticker" => messages::sticker_content(fetched),
                        _ => {
                            let name = name.clone().ok_or_else(|| {
                                ApiError::bad_request(
                                    "validation_failed",
                                    "document_name: is required",
                                )
                            })?;
                            Ok(messages::document_content(fetched, name, caption))
                        }
                    }
                })
                .await
            }
            (kind, _) => {
                return Err(Status::invalid_argument(format!(
                    "'{kind}' is not a message kind; use text, image, document or sticker"
                )));
            }
        };
        answer(result)
    }

    type WatchEventsStream = Events;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Events>, Status> {
        let only = request.into_inner().session.filter(|s| !s.is_empty());
        let mut bus = self.app.sessions.subscribe();
        let (tx, rx) = mpsc::channel(64);
        let stop = self.stop.clone();
        tokio::spawn(async move {
            let ready = pb::Event {
                r#type: "ready".into(),
                session: only.clone().unwrap_or_default(),
                json: "{}".into(),
            };
            if tx.send(Ok(ready)).await.is_err() {
                return;
            }
            loop {
                let event = tokio::select! {
                    () = stop.cancelled() => return,
                    () = tx.closed() => return,
                    event = bus.recv() => event,
                };
                let event = match event {
                    Ok(event) => event,
                    // A slow reader missed events; say so rather than pretend the stream is whole.
                    Err(RecvError::Lagged(missed)) => {
                        let json = format!("{{\"missed\":{missed}}}");
                        let lagged = pb::Event {
                            r#type: "lagged".into(),
                            session: String::new(),
                            json,
                        };
                        if tx.send(Ok(lagged)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
                if only.as_deref().is_some_and(|s| s != event.session()) {
                    continue;
                }
                let Ok(value) = serde_json::to_value(&event) else {
                    continue;
                };
                let kind = value
                    .get("type")
                    .and_then(|t| t.as_str())
                    .unwrap_or_default()
                    .to_string();
                let out = pb::Event {
                    r#type: kind,
                    session: event.session().to_string(),
                    json: value.to_string(),
                };
                if tx.send(Ok(out)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list_webhooks(&self, request: Request<pb::ListWebhooksRequest>) -> Reply {
        let r = request.into_inner();
        let query = webhooks::ListQuery {
            state: r.state,
            limit: r.limit.map(|n| n as usize),
            user: r.user,
        };
        answer(webhooks::admin_list(self.state(), AdminOnly, Query(query)).await)
    }

    async fn redeliver_webhook(&self, request: Request<pb::RedeliverWebhookRequest>) -> Reply {
        let id = Path(request.into_inner().id);
        answer(webhooks::admin_redeliver(self.state(), AdminOnly, id).await)
    }

    async fn redeliver_failed_webhooks(
        &self,
        request: Request<pb::RedeliverFailedWebhooksRequest>,
    ) -> Reply {
        let filter = webhooks::UserFilter {
            user: request.into_inner().user,
        };
        answer(webhooks::admin_redeliver_failed(self.state(), AdminOnly, Query(filter)).await)
    }

    async fn sandbox_scan(&self, request: Request<pb::SandboxScanRequest>) -> Reply {
        self.sandbox_engine()?;
        let r = request.into_inner();
        let body = sandbox::ScanRequest {
            session: r.session,
            phone: r.phone,
        };
        answer(sandbox::scan(self.state(), AdminOnly, Json(body)).await)
    }

    async fn sandbox_inbound(&self, request: Request<pb::SandboxInboundRequest>) -> Reply {
        self.sandbox_engine()?;
        let r = request.into_inner();
        let body = sandbox::InboundRequest {
            session: r.session,
            from: r.from,
            text: r.text,
            image_url: r.image_url,
            document_url: r.document_url,
            document_name: r.document_name,
            group: r.group,
            quoted_message_id: r.quoted_message_id,
            push_name: r.push_name,
        };
        answer(sandbox::inbound(self.state(), AdminOnly, Json(body)).await)
    }

    async fn sandbox_outbox(&self, request: Request<pb::SandboxSessionRequest>) -> Reply {
        self.sandbox_engine()?;
        let query = sandbox::OutboxQuery {
            session: request.into_inner().session,
        };
        answer(sandbox::outbox(self.state(), AdminOnly, Query(query)).await)
    }

    async fn sandbox_drop(&self, request: Request<pb::SandboxSessionRequest>) -> Reply {
        self.sandbox_engine()?;
        let body = sandbox::SessionOnly {
            session: request.into_inner().session,
        };
        answer(sandbox::drop_connection(self.state(), AdminOnly, Json(body)).await)
    }

    async fn sandbox_unlink(&self, request: Request<pb::SandboxSessionRequest>) -> Reply {
        self.sandbox_engine()?;
        let body = sandbox::SessionOnly {
            session: request.into_inner().session,
        };
        answer(sandbox::unlink(self.state(), AdminOnly, Json(body)).await)
    }
}

/// Reads the file chunks that follow a send's header, within `limit` bytes.
async fn receive_upload(
    parts: &mut Streaming<pb::SendPart>,
    limit: u64,
    label: &str,
) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    loop {
        let part = parts.message().await.map_err(|e| {
            ApiError::bad_request(
                "upload_failed",
                format!("the upload broke off: {}", e.message()),
            )
        })?;
        match part {
            None => break,
            Some(pb::SendPart {
                part: Some(Part::Chunk(chunk)),
            }) => {
                if (bytes.len() + chunk.len()) as u64 > limit {
                    return Err(MediaError::TooLarge {
                        url: label.to_string(),
                        limit,
                    }
                    .into());
                }
                bytes.extend_from_slice(&chunk);
            }
            Some(_) => {
                return Err(ApiError::bad_request(
                    "upload_failed",
                    "only file chunks may follow the header",
                ));
            }
        }
    }
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "validation_failed",
            format!("{label} is empty"),
        ));
    }
    Ok(bytes)
}

/// Follows one session's linking on the event bus for a `StartSession` stream.
struct FollowLink {
    app: Arc<App>,
    session: String,
    tx: mpsc::Sender<Result<pb::SessionUpdate, Status>>,
    stop: CancellationToken,
}

impl FollowLink {
    async fn run(
        self,
        mut bus: tokio::sync::broadcast::Receiver<GatewayEvent>,
        first: pb::SessionUpdate,
    ) {
        let mut last_qr = first.qr.clone();
        if self.emit(first).await {
            return;
        }
        loop {
            let event = tokio::select! {
                () = self.stop.cancelled() => {
                    let _ = self.tx.send(Err(Status::unavailable("wagwd is shutting down"))).await;
                    return;
                }
                () = self.tx.closed() => return,
                event = bus.recv() => event,
            };
            let update = match event {
                Ok(GatewayEvent::Qr {
                    session,
                    qr,
                    expires_at_ms,
                }) if session == self.session => {
                    if last_qr.as_deref() == Some(qr.as_str()) {
                        continue;
                    }
                    last_qr = Some(qr.clone());
                    pb::SessionUpdate {
                        qr: Some(qr),
                        qr_expires_at_ms: Some(expires_at_ms),
                        ..update_of(SessionState::Qr)
                    }
                }
                Ok(GatewayEvent::PairCode { session, code }) if session == self.session => {
                    pb::SessionUpdate {
                        pair_code: Some(code),
                        ..update_of(SessionState::Qr)
                    }
                }
                Ok(GatewayEvent::Status {
                    session,
                    status,
                    reason,
                    phone,
                    ..
                }) if session == self.session => pb::SessionUpdate {
                    phone,
                    reason,
                    ..update_of(status)
                },
                Ok(_) => continue,
                // Missed events: the snapshot says where the session is now.
                Err(RecvError::Lagged(_)) => match self.app.sessions.snapshot(&self.session) {
                    Some(now) => pb::SessionUpdate {
                        qr: now.qr.as_ref().map(|q| q.code.clone()),
                        qr_expires_at_ms: now.qr.as_ref().map(|q| q.expires_at_ms),
                        pair_code: now.pair_code,
                        phone: now.phone,
                        reason: now.reason,
                        ..update_of(now.state)
                    },
                    None => continue,
                },
                Err(RecvError::Closed) => return,
            };
            if self.emit(update).await {
                return;
            }
        }
    }

    /// Sends one update; true when the stream is over (linked, failed, or the caller left).
    async fn emit(&self, update: pb::SessionUpdate) -> bool {
        let state = SessionState::parse(&update.state);
        let failed = matches!(state, SessionState::Stopped | SessionState::LoggedOut);
        if failed {
            let reason = update
                .reason
                .clone()
                .unwrap_or_else(|| format!("the session is {}", state.as_str()));
            let message = format!("session '{}' did not link: {reason}", self.session);
            let _ = self.tx.send(Err(Status::aborted(message))).await;
            return true;
        }
        self.tx.send(Ok(update)).await.is_err() || state == SessionState::Connected
    }
}
