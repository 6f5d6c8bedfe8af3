//! The OpenAPI 3.1 document, generated from the handlers' own annotations so it cannot drift.

use axum::Router;
use axum::routing::get;
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HttpMethod, ObjectBuilder, PathItem, PathsBuilder, Ref, Required, Response,
    Type,
};
use utoipa::{Modify, OpenApi};

use super::{
    AppState, admin, dashboard, events, health, media, messages, sandbox, sessions, webhooks,
};
use crate::webhooks::payload;

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
    components(schemas(payload::MessageBody, payload::SessionBody, payload::MediaSlots)),
    modifiers(&BasicAuth, &WebhookEvents),
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

/// The requests wagwd sends to receivers, under OpenAPI 3.1's top-level `webhooks`.
struct WebhookEvents;

impl Modify for WebhookEvents {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let header = |name: &str, description: &str, required: bool| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .required(if required {
                    Required::True
                } else {
                    Required::False
                })
                .description(Some(description))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build()
        };
        let event = |schema: &str, summary: &str| {
            let body = RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(schema)))
                        .build(),
                )
                .build();
            let operation = OperationBuilder::new()
                .summary(Some(summary))
                .description(Some(
                    "Delivered at least once (deduplicate on `id`). A 2xx answer marks it \
                     delivered; timeouts, connection errors, 408, 429 and 5xx are retried with \
                     backoff, honouring Retry-After; any other answer fails it.",
                ))
                .parameter(header("webhook-id", "The event `id`.", true))
                .parameter(header("webhook-timestamp", "Unix seconds.", true))
                .parameter(header(
                    "webhook-signature",
                    "`v1,<base64 HMAC-SHA256>` (Standard Webhooks), when a signing secret is set.",
                    false,
                ))
                .parameter(header(
                    "authorization",
                    "`Bearer <token>` from the user's OAuth2 client credentials, when set.",
                    false,
                ))
                .request_body(Some(body))
                .response("2XX", Response::new("Received"));
            PathItem::new(HttpMethod::Post, operation)
        };
        openapi.webhooks = Some(
            PathsBuilder::new()
                .path(
                    "message",
                    event(
                        "MessageEvent",
                        "An inbound message, sent to POST {callback_url}",
                    ),
                )
                .path(
                    "session",
                    event(
                        "SessionEvent",
                        "A session status change, sent to POST {callback_url}/session",
                    ),
                )
                .build(),
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

    /// Keys of a JSON object, sorted.
    fn keys(value: &serde_json::Value) -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    #[test]
    fn webhook_schemas_name_exactly_the_fields_sent() {
        use crate::store::messages::MessageRecord;
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let record = MessageRecord {
            session: "john".into(),
            id: "3A50".into(),
            chat: "628111@s.whatsapp.net".into(),
            sender: "628111@s.whatsapp.net".into(),
            from_me: false,
            kind: "text".into(),
            text: Some("hi".into()),
            file_name: None,
            mimetype: None,
            sha256: None,
            length: None,
            media_file: None,
            quoted_id: None,
            push_name: None,
            timestamp: 1,
            status: "received".into(),
        };
        let facts = payload::MessageFacts::default();
        let message: serde_json::Value =
            serde_json::from_str(&payload::message("ev", &record, &facts, None)).unwrap();
        let session: serde_json::Value =
            serde_json::from_str(&payload::session("ev", "john", "connected", None, None, 1))
                .unwrap();
        for (name, sent) in [("MessageEvent", &message), ("SessionEvent", &session)] {
            let schema = &schemas[name];
            assert_eq!(keys(&schema["properties"]), keys(sent), "{name}");
            // Fields that are never null are required; the optional ones may be null.
            for field in schema["required"].as_array().unwrap() {
                assert!(!sent[field.as_str().unwrap()].is_null(), "{name}.{field}");
            }
        }
        assert_eq!(
            keys(&schemas["WebhookMedia"]["properties"]),
            keys(&message["media"])
        );
        let webhooks = &doc["webhooks"];
        assert_eq!(
            webhooks["message"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/MessageEvent"
        );
        assert_eq!(
            webhooks["session"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/SessionEvent"
        );
    }
}
