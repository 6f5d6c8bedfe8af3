//! The OpenAPI 3.1 document, generated from the handlers' own annotations so it cannot drift.

use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    AppState, admin, dashboard, events, health, media, messages, sandbox, sessions, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wagw",
        description = "Self-hosted multi-user WhatsApp gateway. Success bodies are `{\"data\": …}`; \
            errors are `{\"message\", \"code\"}`. Every route but /health takes HTTP Basic auth.",
    ),
    paths(
        health::health, health::ready, events::events,
        sessions::start_post, sessions::start_get, sessions::list, sessions::logout_post, sessions::logout_get,
        messages::send_text, messages::send_image, messages::send_document, messages::send_sticker, messages::message_status,
        admin::list, admin::create, admin::set_password, admin::session_config, admin::delete,
        dashboard::session_info, dashboard::start_session, dashboard::disconnect_session,
        dashboard::callback, dashboard::oauth,
        media::serve,
        sandbox::scan, sandbox::inbound, sandbox::outbox, sandbox::groups, sandbox::drop_connection,
        sandbox::unlink,
        webhooks::admin_list, webhooks::admin_redeliver, webhooks::admin_redeliver_failed, webhooks::user_list, webhooks::user_redeliver,
    ),
    modifiers(&BasicAuth),
    tags(
        (name = "health", description = "Liveness"),
        (name = "sessions", description = "Start, list and log out WhatsApp sessions"),
        (name = "messages", description = "Send messages"),
        (name = "admin", description = "User management (admin only)"),
        (name = "dashboard", description = "A regular user's own session and settings"),
        (name = "media", description = "Received media files"),
        (name = "sandbox", description = "The simulated network (WAGW_ENGINE=sandbox only, admin only)"),
    )
)]
pub struct ApiDoc;

struct BasicAuth;

impl Modify for BasicAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
    }
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(document))
}

async fn document() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_with_basic_auth() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        for path in [
            "/session/start",
            "/message/send-text",
            "/admin/users/{id}/session-config",
            "/sandbox/inbound",
        ] {
            assert!(paths.contains_key(path), "{path} missing");
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["basic"]["scheme"],
            "basic"
        );
        assert!(doc["components"]["schemas"]["SendRequest"].is_object());
    }
}
