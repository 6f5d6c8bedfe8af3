//! `/media/{file}`: received media, for the session's owner, admin, or a signed link.

use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::AppState;
use super::error::ErrorBody;
use super::error::{ApiError, Query};
use crate::auth::Caller;
use crate::store;

pub fn routes() -> Router<AppState> {
    Router::new().route("/media/{file}", get(serve))
}

#[derive(Debug, Default, Deserialize)]
struct SignedLink {
    expires: Option<i64>,
    signature: Option<String>,
}

#[utoipa::path(
    get,
    path = "/media/{file}",
    tag = "media",
    summary = "A received media file: for its owner, admin, or a signed link",
    params(("file" = String, Path, description = "File name from the message event"), ("expires" = Option<i64>, Query, description = "Signed link expiry (Unix seconds)"), ("signature" = Option<String>, Query, description = "Signed link signature")),
    responses((status = 200, description = "Success", content_type = "application/octet-stream"), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No or wrong credentials", body = ErrorBody), (status = 429, description = "Too many failed logins", body = ErrorBody)),
    security(("basic" = []))
)]
async fn serve(
    State(app): State<AppState>,
    Path(file): Path<String>,
    Query(link): Query<SignedLink>,
    mut parts: Parts,
) -> Result<Response, ApiError> {
    let not_found =
        || ApiError::not_found("media_not_found", format!("no media file named '{file}'"));
    let path = app.media.path_of(&file).ok_or_else(not_found)?;
    let signed = match (link.expires, link.signature.as_deref()) {
        (Some(expires), Some(signature)) => app.media.verify(&file, expires, signature),
        _ => false,
    };
    if !signed {
        let caller = Caller::from_request_parts(&mut parts, &app)
            .await
            .map_err(|_| {
                ApiError::new(
                    axum::http::StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "send Basic credentials or use a valid signed link",
                )
            })?;
        if let Caller::User(user) = caller {
            let lookup = file.clone();
            let owner = app
                .db
                .call(move |c| store::messages::find_by_media_file(c, &lookup))
                .await?;
            if owner.is_none_or(|m| m.session != user.session) {
                // Other users' files look exactly like missing ones.
                return Err(not_found());
            }
        }
    }
    let bytes = tokio::fs::read(&path).await.map_err(|_| not_found())?;
    let mimetype = mime_guess::from_path(&path).first_or_octet_stream();
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(mimetype.as_ref()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(response)
}
