//! The web pages: welcome, dashboard and admin panel, compiled into the binary.
//!
//! The HTML is served without auth on purpose: the pages hold no data of their own. They ask for
//! credentials in a form, keep them in memory only, and call the same JSON API as every other
//! client, so the API's auth and permission checks are the only ones there are.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::error::{ApiError, Query};
use super::{AppState, session_for};
use crate::auth::Caller;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { page(WELCOME) }))
        .route("/dashboard", get(|| async { page(DASHBOARD) }))
        .route("/admin", get(|| async { page(ADMIN) }))
        .route("/assets/{file}", get(asset))
        .route("/dashboard/qr.svg", get(qr_svg))
}

const WELCOME: &str = include_str!("../../assets/index.html");
const DASHBOARD: &str = include_str!("../../assets/dashboard.html");
const ADMIN: &str = include_str!("../../assets/admin.html");

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Every file under `/assets/`: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.css", CSS, include_bytes!("../../assets/app.css")),
    ("app.js", JS, include_bytes!("../../assets/app.js")),
    ("welcome.js", JS, include_bytes!("../../assets/welcome.js")),
    (
        "dashboard.js",
        JS,
        include_bytes!("../../assets/dashboard.js"),
    ),
    ("admin.js", JS, include_bytes!("../../assets/admin.js")),
    (
        "favicon.svg",
        SVG,
        include_bytes!("../../assets/favicon.svg"),
    ),
];

/// Scripts and styles come only from this origin, so an injected `<script>` in any user-supplied
/// text would not run; QR codes arrive as `data:` (PNG) or `blob:` (SVG fetched with auth) URLs.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
     connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

fn page(html: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CONTENT_SECURITY_POLICY, CSP),
            (X_FRAME_OPTIONS, "DENY"),
            (REFERRER_POLICY, "no-referrer"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // The pages change with the binary, which has no version in their URLs.
            (CACHE_CONTROL, "no-cache"),
        ],
        html,
    )
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [
                (CONTENT_TYPE, *content_type),
                (X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (CACHE_CONTROL, "no-cache"),
            ],
            *bytes,
        )
            .into_response(),
        None => ApiError::route_not_found().into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct QrQuery {
    /// Required for admin; a regular user always gets their own session.
    session: Option<String>,
}

/// The session's current QR code as SVG. The live event carries only the QR string, and the
/// pages have no QR encoder of their own, so they fetch the picture here when it rotates.
async fn qr_svg(
    State(app): State<AppState>,
    caller: Caller,
    Query(query): Query<QrQuery>,
) -> Result<Response, ApiError> {
    let target = session_for(&app, &caller, query.session.as_deref()).await?;
    let qr = app
        .sessions
        .snapshot(&target.name)
        .and_then(|s| s.qr)
        .ok_or_else(|| {
            ApiError::not_found(
                "no_qr",
                format!("session '{}' is not waiting for a QR scan", target.name),
            )
        })?;
    let svg = crate::qr::svg(&qr.code).map_err(ApiError::internal)?;
    Ok((
        [
            (CONTENT_TYPE, SVG),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // A QR code is a short-lived credential: keep it out of every cache.
            (CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::{ADMIN, ASSETS, DASHBOARD, WELCOME};

    /// A page that names an asset the table lacks would load without its script or style.
    #[test]
    fn every_asset_a_page_names_is_served() {
        for html in [WELCOME, DASHBOARD, ADMIN] {
            for piece in html.split("/assets/").skip(1) {
                let name: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
                    .collect();
                assert!(
                    ASSETS.iter().any(|(served, _, _)| *served == name),
                    "a page names /assets/{name}, which is not served"
                );
            }
        }
    }

    #[test]
    fn pages_load_no_outside_resources() {
        let texts = [WELCOME, DASHBOARD, ADMIN]
            .into_iter()
            .map(str::as_bytes)
            .chain(
                ASSETS
                    .iter()
                    .filter(|(name, _, _)| !name.ends_with(".svg"))
                    .map(|a| a.2),
            );
        for text in texts {
            let text = String::from_utf8_lossy(text);
            assert!(!text.contains("//cdn"), "a page or asset loads from a CDN");
            assert!(
                !text.contains("<script>"),
                "inline scripts are refused by the CSP"
            );
        }
    }
}
