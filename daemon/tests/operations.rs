//! Running wagwd in production: metrics, readiness, graceful shutdown and what logs never hold.

mod common;

use common::{ADMIN, Daemon};
use serde_json::json;

async fn metrics(
    daemon: &Daemon,
    auth: Option<(&str, &str)>,
    bearer: Option<&str>,
) -> (u16, String) {
    let mut request = daemon.http.get(daemon.url("/metrics"));
    if let Some((user, password)) = auth {
        request = request.basic_auth(user, Some(password));
    }
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_count_sessions_messages_requests_and_failures() {
    let daemon = Daemon::start(&[("WAGW_METRICS_TOKEN", "scrape-token-1")]).await;
    daemon.create_user("john", "password123").await;
    daemon.link("sales", "628700000001").await;
    daemon
        .ok(
            "/message/send-text",
            ADMIN,
            json!({ "session": "sales", "to": "628123456789", "text": "hi" }),
        )
        .await;
    daemon.get("/session", ("john", "wrong-password")).await;

    let (status, text) = metrics(&daemon, Some(ADMIN), None).await;
    assert_eq!(status, 200, "{text}");
    for expected in [
        "wagw_sessions{state=\"connected\"} 1",
        "wagw_messages_sent_total{type=\"text\"} 1",
        "wagw_auth_failures_total{reason=\"invalid_credentials\"} 1",
        "wagw_http_requests_total{route=\"/message/send-text\",method=\"POST\",status=\"200\"} 1",
        "wagw_send_duration_seconds_bucket",
        "wagw_webhook_backlog 0",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    assert_eq!(metrics(&daemon, None, Some("scrape-token-1")).await.0, 200);
    assert_eq!(metrics(&daemon, None, Some("wrong")).await.0, 401);
    assert_eq!(metrics(&daemon, None, None).await.0, 401);
    assert_eq!(
        metrics(&daemon, Some(("john", "password123")), None)
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn ready_once_sessions_are_restored() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start_in(dir.path(), &[]).await;
    daemon.link("sales", "628700000004").await;
    daemon.restart().await;
    // There is no event for readiness; ask until it turns, bounded by the harness's patience.
    let ready = tokio::time::timeout(common::PATIENCE, async {
        loop {
            let (status, body) = daemon.call("GET", "/ready", None, None).await;
            match status {
                200 => return body,
                503 => tokio::task::yield_now().await,
                other => panic!("/ready answered {other}: {body}"),
            }
        }
    })
    .await
    .expect("ready in time");
    assert_eq!(ready["status"], "ready");
    let (_, listed) = daemon.get("/session", ADMIN).await;
    assert_ne!(
        listed["data"][0]["status"], "stopped",
        "restored before ready: {listed}"
    );
}

#[tokio::test]
async fn sigterm_ends_streams_and_exits_zero_without_logging_out() {
    let mut daemon = Daemon::start(&[]).await;
    daemon.link("sales", "628700000002").await;
    let mut events = daemon.events(ADMIN).await;
    let stream = tokio::spawn(async move { events.ends().await });
    assert_eq!(daemon.stop().await, Some(0));
    assert!(stream.await.unwrap(), "the event stream was closed");
    assert!(
        daemon.dir.join("credentials/sales.sandbox.json").exists(),
        "a stop is not a logout"
    );
    assert!(daemon.log().contains("stopped"), "{}", daemon.log());
}

#[tokio::test]
async fn logs_never_hold_secrets_or_message_bodies() {
    let admin_password = "Adm1n-Canary-Pass";
    let mut daemon = Daemon::start(&[
        ("ADMIN_PASSWORD", admin_password),
        (
            "RUST_LOG",
            "debug,hyper=info,h2=info,reqwest=info,rustls=info",
        ),
        ("LOG_FORMAT", "json"),
    ])
    .await;
    let admin = ("admin", admin_password);
    let user_password = "User-Canary-Pass";
    let oauth_secret = "OAuth-Canary-Secret";
    let webhook_secret = "whsec_Q2FuYXJ5LVNpZ25pbmctU2VjcmV0LTEyMzQ1Njc4OTA=";
    let body_text = "Body-Canary-Text";
    daemon
        .ok(
            "/admin/users",
            admin,
            json!({ "username": "john", "password": user_password }),
        )
        .await;
    let john = ("john", user_password);
    let (status, _) = daemon
        .call(
            "PUT",
            "/dashboard/oauth",
            Some(john),
            Some(json!({ "oauth_login": "client", "oauth_password": oauth_secret })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = daemon
        .call(
            "PUT",
            "/dashboard/callback",
            Some(john),
            Some(json!({ "webhook_secret": webhook_secret })),
        )
        .await;
    assert_eq!(status, 200);
    daemon.ok("/session/start", john, json!({})).await;
    let mut events = daemon.events(admin).await;
    daemon
        .ok(
            "/sandbox/scan",
            admin,
            json!({ "session": "john", "phone": "628700000003" }),
        )
        .await;
    events.status("john", "connected").await;
    daemon
        .ok(
            "/message/send-text",
            john,
            json!({ "to": "628123456789", "text": body_text }),
        )
        .await;
    daemon
        .ok(
            "/sandbox/inbound",
            admin,
            json!({ "session": "john", "from": "628123456789", "text": body_text }),
        )
        .await;
    daemon.get("/session", ("john", "Wrong-Canary-Pass")).await;
    daemon.stop().await;

    let log = daemon.log();
    assert!(log.lines().count() > 10, "the run was logged");
    assert!(
        log.lines().all(|l| l.starts_with('{')),
        "LOG_FORMAT=json gives JSON lines"
    );
    assert!(
        log.contains("\"session\":\"john\""),
        "lines about a session carry its name"
    );
    for secret in [
        admin_password,
        user_password,
        oauth_secret,
        webhook_secret,
        body_text,
        "Wrong-Canary-Pass",
    ] {
        assert!(!log.contains(secret), "the log holds '{secret}'");
    }
}
