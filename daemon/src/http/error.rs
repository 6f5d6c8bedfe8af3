//! The one error type of the HTTP edge: every failure becomes `{"message", "code"}` with the
//! right status, and nothing internal leaks into a 5xx body.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::accounts::AccountError;
use crate::auth::AuthError;
use crate::engine::EngineError;
use crate::jid::JidError;
use crate::media::MediaError;
use crate::sessions::SessionError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    retry_after: Option<u64>,
}

/// The error body, as documented in the OpenAPI document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong and what to do about it.
    pub message: String,
    /// A stable snake_case code for programs.
    pub code: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error; see the wagwd log",
        )
    }

    pub fn route_not_found() -> ApiError {
        ApiError::not_found("not_found", "Route not found")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            message: self.message,
            code: self.code.to_string(),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"wagw\", charset=\"UTF-8\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let message = error.to_string();
        match error {
            AuthError::Missing | AuthError::Malformed | AuthError::Invalid => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
            }
            AuthError::DefaultAdminRemote => {
                ApiError::new(StatusCode::UNAUTHORIZED, "default_admin_remote", message)
            }
            AuthError::LockedOut { retry_after } => ApiError {
                retry_after: Some(retry_after.as_secs().max(1)),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_failed_logins",
                    message,
                )
            },
            AuthError::Store(e) => ApiError::internal(e),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        if error.is_disk_full() {
            // The operator can fix this one; say what it is instead of "internal error".
            tracing::error!(%error, "cannot write the database: the disk is full");
            return ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "disk_full",
                "wagwd cannot write its database because the disk is full; \
                 free space on the volume that holds DB_PATH, then retry",
            );
        }
        ApiError::internal(error)
    }
}

impl From<JidError> for ApiError {
    fn from(error: JidError) -> Self {
        ApiError::bad_request("invalid_recipient", error.to_string())
    }
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        let message = error.to_string();
        match error {
            AccountError::Invalid { .. } => ApiError::bad_request("validation_failed", message),
            AccountError::UsernameTaken(_) => ApiError::conflict("username_taken", message),
            AccountError::SessionNameTaken(_) => ApiError::conflict("session_name_taken", message),
            AccountError::UserNotFound(_) => ApiError::not_found("user_not_found", message),
            AccountError::Session(e) => e.into(),
            AccountError::Store(e) => e.into(),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        let message = error.to_string();
        match error {
            SessionError::NotFound(_) => ApiError::not_found("session_not_found", message),
            SessionError::NotReady { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "session_not_ready",
                message,
            ),
            SessionError::QuotedNotFound(_) => {
                ApiError::not_found("quoted_message_not_found", message)
            }
            SessionError::LinkFailed(_) => ApiError::conflict("link_failed", message),
            SessionError::Timeout(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "session_busy", message)
            }
            SessionError::ShuttingDown => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", message)
            }
            SessionError::Engine(e) => e.into(),
            SessionError::Store(e) => e.into(),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        let message = error.to_string();
        match error {
            EngineError::NotConnected => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "session_not_ready",
                message,
            ),
            EngineError::Rejected(_) => ApiError::bad_request("rejected_by_whatsapp", message),
            EngineError::Unavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "engine_unavailable",
                message,
            ),
            EngineError::Failed(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "whatsapp_error", message)
            }
        }
    }
}

impl From<MediaError> for ApiError {
    fn from(error: MediaError) -> Self {
        let message = error.to_string();
        match error {
            MediaError::InvalidUrl(_) => ApiError::bad_request("invalid_media_url", message),
            MediaError::Refused(_) => ApiError::forbidden(message),
            MediaError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "media_too_large", message)
            }
            MediaError::Unreachable { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "media_unreachable", message)
            }
            MediaError::WrongKind(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "wrong_media_type",
                message,
            ),
            MediaError::Io(_) => ApiError::internal(message),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match &rejection {
            // Wrong types and missing fields are the caller's to fix: a 400 naming the field.
            JsonRejection::JsonDataError(e) => {
                let detail = e.body_text();
                let detail = detail
                    .strip_prefix("Failed to deserialize the JSON body into the target type: ")
                    .unwrap_or(&detail);
                ApiError::bad_request("invalid_body", format!("invalid body: {detail}"))
            }
            JsonRejection::JsonSyntaxError(_) => {
                ApiError::bad_request("malformed_json", "the body is not valid JSON")
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ),
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is larger than 1 MiB; send media by URL",
            ),
            _ => ApiError::bad_request("invalid_body", rejection.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", rejection.body_text())
    }
}

/// `axum::Json` with rejections in wagw's error shape.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` with rejections in wagw's error shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The success envelope: `{"data": …}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Data<T> {
    pub data: T,
}

pub fn data<T: Serialize>(value: T) -> axum::Json<Data<T>> {
    axum::Json(Data { data: value })
}

pub type ApiResult<T> = Result<axum::Json<Data<T>>, ApiError>;
