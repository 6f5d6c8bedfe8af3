//! The HTTP API as the Node gateway's README uses it (its own bodies), who may call what, and
//! what bad input gets. Against the real wagwd on the sandbox engine.

mod common;

use common::{ADMIN, Daemon, Files, png, webp};
use serde_json::{Value, json};

const JOHN: (&str, &str) = ("john", "password123");
const MARY: (&str, &str) = ("mary", "password456");

/// wagwd with users john and mary, both linked; plus a phone-less recipient number.
async fn gateway() -> Daemon {
    let daemon = Daemon::start(&[]).await;
    daemon.create_user("john", "password123").await;
    daemon.create_user("mary", "password456").await;
    for (user, phone) in [(JOHN, "628100000001"), (MARY, "628100000002")] {
        let mut events = daemon.events(user).await;
        daemon
            .ok("/session/start", user, json!({ "session": user.0 }))
            .await;
        daemon
            .ok(
                "/sandbox/scan",
                ADMIN,
                json!({ "session": user.0, "phone": phone }),
            )
            .await;
        events.status(user.0, "connected").await;
    }
    daemon
}

fn assert_sent(answer: &Value, to: &str) {
    let id = answer["key"]["id"].as_str().expect("key.id");
    assert_eq!(answer["id"], id);
    assert_eq!(answer["key"]["remoteJid"], to);
    assert_eq!(answer["key"]["fromMe"], true);
    assert!(answer["messageTimestamp"].as_i64().unwrap() > 1_600_000_000);
    assert!(answer["status"].is_string());
}

async fn outbox(daemon: &Daemon, session: &str) -> Vec<Value> {
    let (status, body) = daemon
        .get(&format!("/sandbox/outbox?session={session}"), ADMIN)
        .await;
    assert_eq!(status, 200);
    body["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_seed_readme_examples_work_unchanged() {
    let daemon = gateway().await;
    // The README's URLs point to the internet; the same bodies point here to local files.
    let files = Files::serve(vec![
        ("/600x400", "image/png", png()),
        ("/image.jpg", "image/png", png()),
        (
            "/report.pdf",
            "application/pdf",
            b"%PDF-1.4 report".to_vec(),
        ),
        ("/file.pdf", "application/pdf", b"%PDF-1.4 file".to_vec()),
        ("/sticker.webp", "image/webp", webp()),
    ])
    .await;

    // curl: send a text message
    let text = daemon
        .ok(
            "/message/send-text",
            JOHN,
            json!({ "session": "john", "to": "628123456789", "text": "Hello World!" }),
        )
        .await;
    assert_sent(&text, "628123456789@s.whatsapp.net");

    // curl: reply to a message (the id comes from a webhook: here, an inbound message)
    let inbound = daemon
        .ok(
            "/sandbox/inbound",
            ADMIN,
            json!({ "session": "john", "from": "628123456789", "text": "question?" }),
        )
        .await;
    let message_id = inbound["messageId"].as_str().unwrap();
    let reply = daemon
        .ok(
            "/message/send-text",
            JOHN,
            json!({ "session": "john", "to": "628123456789", "text": "This is a reply!", "quoted_message_id": message_id }),
        )
        .await;
    assert_sent(&reply, "628123456789@s.whatsapp.net");

    // curl / axios / python: send an image with a caption
    let image = daemon
        .ok(
            "/message/send-image",
            JOHN,
            json!({ "session": "john", "to": "628123456789", "text": "Check out this image!", "image_url": files.url("/600x400") }),
        )
        .await;
    assert_sent(&image, "628123456789@s.whatsapp.net");

    // curl: send a document
    let document = daemon
        .ok(
            "/message/send-document",
            JOHN,
            json!({
                "session": "john", "to": "628123456789", "text": "Here is the document",
                "document_url": files.url("/file.pdf"), "document_name": "report.pdf"
            }),
        )
        .await;
    assert_sent(&document, "628123456789@s.whatsapp.net");

    // sticker
    let sticker = daemon
        .ok("/message/send-sticker", JOHN, json!({ "session": "john", "to": "628123456789", "image_url": files.url("/sticker.webp") }))
        .await;
    assert_sent(&sticker, "628123456789@s.whatsapp.net");

    // curl: sending to a group
    let group = daemon
        .ok(
            "/message/send-text",
            JOHN,
            json!({ "session": "john", "to": "120363123456789012@g.us", "text": "Hello Group!", "is_group": true }),
        )
        .await;
    assert_sent(&group, "120363123456789012@g.us");

    // What the network saw, in order, with media fetched and measured.
    let sent = outbox(&daemon, "john").await;
    let kinds: Vec<&str> = sent.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["text", "text", "image", "document", "sticker", "text"]
    );
    assert_eq!(sent[1]["quoted_message_id"], message_id);
    assert_eq!(sent[2]["caption"], "Check out this image!");
    assert_eq!(sent[2]["length"], png().len());
    assert_eq!(sent[2]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(sent[3]["file_name"], "report.pdf");
    assert_eq!(sent[3]["mimetype"], "application/pdf");

    // Admin creates a custom session and sends with it.
    let started = daemon
        .ok("/session/start", ADMIN, json!({ "session": "sales_team" }))
        .await;
    assert_eq!(started["status"], "qr");
    daemon
        .ok(
            "/sandbox/scan",
            ADMIN,
            json!({ "session": "sales_team", "phone": "628100000003" }),
        )
        .await;
    let mut events = daemon.events(ADMIN).await;
    let (_, listed) = daemon.get("/session", ADMIN).await;
    if listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["session"] == "sales_team" && s["status"] != "connected")
    {
        events.status("sales_team", "connected").await;
    }
    let sales = daemon
        .ok(
            "/message/send-text",
            ADMIN,
            json!({ "session": "sales_team", "to": "628123456789", "text": "Hello from sales team" }),
        )
        .await;
    assert_sent(&sales, "628123456789@s.whatsapp.net");

    // Webhook and OAuth configuration, by the user and by admin.
    let (status, user) = daemon
        .call(
            "PUT",
            "/dashboard/callback",
            Some(JOHN),
            Some(json!({ "callback_url": "https://your-domain.com/webhook" })),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(
        user["data"]["callback_url"],
        "https://your-domain.com/webhook"
    );
    let (status, user) = daemon
        .call(
            "PUT",
            "/dashboard/oauth",
            Some(JOHN),
            Some(
                json!({ "oauth_login": "your_client_id", "oauth_password": "your_client_secret" }),
            ),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(user["data"]["oauth_login"], "your_client_id");
    assert_eq!(user["data"]["has_oauth_password"], true);
    assert!(
        !user.to_string().contains("your_client_secret"),
        "secrets are never returned"
    );
    let john_id = user["data"]["id"].as_i64().unwrap();
    let (status, user) = daemon
        .call(
            "PUT",
            &format!("/admin/users/{john_id}/session-config"),
            Some(ADMIN),
            Some(json!({ "callback_url": "https://your-domain.com/webhook", "oauth_login": "client_id", "oauth_password": "client_secret" })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(user["data"]["oauth_login"], "client_id");

    // Listing: admin sees every session, a user only their own.
    let (_, all) = daemon.get("/session", ADMIN).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 3);
    let (_, own) = daemon.get("/session", JOHN).await;
    let own = own["data"].as_array().unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["session"], "john");
    assert_eq!(own[0]["status"], "connected");

    // Admin user management, passwords never returned.
    let (_, users) = daemon.get("/admin/users", ADMIN).await;
    assert_eq!(users["data"].as_array().unwrap().len(), 2);
    assert!(!users.to_string().contains("password_hash") && !users.to_string().contains("$2"));

    // Log out with the GET form (a 404 in the Node gateway, working here).
    let (status, _) = daemon
        .get("/session/logout?session=sales_team", ADMIN)
        .await;
    assert_eq!(status, 200);

    // Deleting a user logs out and removes their session.
    let (status, _) = daemon
        .call(
            "DELETE",
            &format!("/admin/users/{john_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, all) = daemon.get("/session", ADMIN).await;
    let names: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mary"]);
    assert!(!daemon.dir.join("credentials/john.sandbox.json").exists());
    let (status, _) = daemon.get("/session", JOHN).await;
    assert_eq!(status, 401, "a deleted user's cached login is forgotten");
}

#[tokio::test]
async fn received_media_is_saved_and_served_to_its_owner_only() {
    let daemon = gateway().await;
    let files = Files::serve(vec![("/photo.png", "image/png", png())]).await;
    let mut events = daemon.events(JOHN).await;
    daemon
        .ok("/sandbox/inbound", ADMIN, json!({ "session": "john", "from": "628123456789", "image_url": files.url("/photo.png"), "text": "look" }))
        .await;
    let event = events.message("john").await;
    let file = event["message"]["media_file"]
        .as_str()
        .expect("saved media file")
        .to_string();
    assert!(file.ends_with(".png"), "{file}");
    let response = daemon
        .http
        .get(daemon.url(&format!("/media/{file}")))
        .basic_auth("john", Some("password123"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.bytes().await.unwrap().as_ref(), png().as_slice());
    let (status, _) = daemon.get(&format!("/media/{file}"), MARY).await;
    assert_eq!(status, 404, "another user's media looks missing");
    let (status, _) = daemon.get(&format!("/media/{file}"), ADMIN).await;
    assert_eq!(status, 200);
    let (status, _) = daemon
        .call("GET", &format!("/media/{file}"), None, None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = daemon.get("/media/..%2Fwa_gateway.db", ADMIN).await;
    assert_eq!(status, 404);
}

/// Every route as anonymous, john, mary and admin: the status each gets.
#[tokio::test]
async fn permission_matrix() {
    let daemon = gateway().await;
    let mary_id = {
        let (_, users) = daemon.get("/admin/users", ADMIN).await;
        users["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == "mary")
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let text = |session: &str| json!({ "session": session, "to": "628123456789", "text": "hi" });
    // (method, path, body, anonymous, john, mary, admin); john acts on john's or mary's things.
    let cases: Vec<(&str, String, Option<Value>, [u16; 4])> = vec![
        ("GET", "/health".into(), None, [200, 200, 200, 200]),
        ("GET", "/session".into(), None, [401, 200, 200, 200]),
        (
            "POST",
            "/session/start".into(),
            Some(json!({ "session": "john" })),
            [401, 200, 403, 200],
        ),
        (
            "GET",
            "/session/start?session=mary".into(),
            None,
            [401, 403, 200, 200],
        ),
        (
            "POST",
            "/message/send-text".into(),
            Some(text("john")),
            [401, 200, 403, 200],
        ),
        (
            "POST",
            "/message/send-text".into(),
            Some(text("mary")),
            [401, 403, 200, 200],
        ),
        ("GET", "/admin/users".into(), None, [401, 403, 403, 200]),
        (
            "POST",
            "/admin/users".into(),
            Some(json!({ "username": "zed", "password": "zzzz" })),
            [401, 403, 403, 201],
        ),
        (
            "PUT",
            format!("/admin/users/{mary_id}/password"),
            Some(json!({ "password": "password456" })),
            [401, 403, 403, 200],
        ),
        (
            "PUT",
            format!("/admin/users/{mary_id}/session-config"),
            Some(json!({ "callback_url": "http://x.test/h" })),
            [401, 403, 403, 200],
        ),
        (
            "GET",
            "/dashboard/session-info".into(),
            None,
            [401, 200, 200, 403],
        ),
        (
            "PUT",
            "/dashboard/callback".into(),
            Some(json!({ "callback_url": "http://x.test/h" })),
            [401, 200, 200, 403],
        ),
        (
            "PUT",
            "/dashboard/oauth".into(),
            Some(json!({ "oauth_login": "a" })),
            [401, 200, 200, 403],
        ),
        (
            "POST",
            "/dashboard/start-session".into(),
            Some(json!({})),
            [401, 200, 200, 403],
        ),
        (
            "GET",
            "/sandbox/outbox?session=john".into(),
            None,
            [401, 403, 403, 200],
        ),
        (
            "POST",
            "/sandbox/drop".into(),
            Some(json!({ "session": "nobody" })),
            [401, 403, 403, 409],
        ),
        (
            "GET",
            "/events?session=mary".into(),
            None,
            [401, 403, 200, 200],
        ),
        (
            "POST",
            "/session/logout".into(),
            Some(json!({ "session": "mary" })),
            [401, 403, 200, 404],
        ),
    ];
    for (method, path, body, expected) in cases {
        let callers = [None, Some(JOHN), Some(MARY), Some(ADMIN)];
        for (caller, want) in callers.into_iter().zip(expected) {
            let got = if path.starts_with("/events") && want == 200 {
                // A stream: only its status matters here.
                let mut request = daemon.http.get(daemon.url(&path));
                if let Some((user, password)) = caller {
                    request = request.basic_auth(user, Some(password));
                }
                request.send().await.unwrap().status().as_u16()
            } else {
                daemon.call(method, &path, caller, body.clone()).await.0
            };
            assert_eq!(got, want, "{method} {path} as {:?}", caller.map(|c| c.0));
        }
    }
}

/// (method, path, caller, body, expected status, a word the message must contain)
type BadInput = (
    &'static str,
    &'static str,
    (&'static str, &'static str),
    Value,
    u16,
    &'static str,
);

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let daemon = gateway().await;
    let before_users = daemon.get("/admin/users", ADMIN).await.1;
    let cases: Vec<BadInput> = vec![
        (
            "POST",
            "/message/send-text",
            JOHN,
            json!({ "session": "john", "to": "628123456789" }),
            400,
            "text",
        ),
        (
            "POST",
            "/message/send-text",
            JOHN,
            json!({ "session": "john", "text": "x" }),
            400,
            "to",
        ),
        (
            "POST",
            "/message/send-text",
            JOHN,
            json!({ "session": "john", "to": 628123456789u64, "text": "x" }),
            400,
            "to",
        ),
        (
            "POST",
            "/message/send-text",
            JOHN,
            json!({ "session": "john", "to": "0812", "text": "x" }),
            400,
            "country code",
        ),
        (
            "POST",
            "/message/send-text",
            JOHN,
            json!({ "session": "john", "to": "628123456789", "text": "x", "is_group": "yes" }),
            400,
            "is_group",
        ),
        (
            "POST",
            "/message/send-text",
            ADMIN,
            json!({ "session": "ghost", "to": "628123456789", "text": "x" }),
            404,
            "ghost",
        ),
        (
            "POST",
            "/message/send-text",
            ADMIN,
            json!({ "to": "628123456789", "text": "x" }),
            400,
            "session",
        ),
        (
            "POST",
            "/message/send-image",
            JOHN,
            json!({ "session": "john", "to": "628123456789", "text": "x" }),
            400,
            "image_url",
        ),
        (
            "POST",
            "/message/send-image",
            JOHN,
            json!({ "session": "john", "to": "628123456789", "image_url": "ftp://x" }),
            400,
            "URL",
        ),
        (
            "POST",
            "/message/send-image",
            JOHN,
            json!({ "session": "john", "to": "628123456789", "image_url": "file:///etc/passwd" }),
            403,
            "admin",
        ),
        (
            "POST",
            "/message/send-image",
            JOHN,
            json!({ "session": "john", "to": "628123456789", "image_url": "http://127.0.0.1:9/x.png" }),
            502,
            "127.0.0.1:9",
        ),
        (
            "POST",
            "/message/send-document",
            JOHN,
            json!({ "session": "john", "to": "628123456789", "document_url": "http://x.test/a" }),
            400,
            "document_name",
        ),
        (
            "POST",
            "/admin/users",
            ADMIN,
            json!({ "username": "ab", "password": "abcd" }),
            400,
            "username",
        ),
        (
            "POST",
            "/admin/users",
            ADMIN,
            json!({ "username": "abc", "password": "abc" }),
            400,
            "password",
        ),
        (
            "POST",
            "/admin/users",
            ADMIN,
            json!({ "username": "john", "password": "abcd" }),
            409,
            "taken",
        ),
        (
            "POST",
            "/admin/users",
            ADMIN,
            json!({ "username": "admin", "password": "abcd" }),
            409,
            "taken",
        ),
        (
            "POST",
            "/admin/users",
            ADMIN,
            json!({ "username": "../x", "password": "abcd" }),
            400,
            "username",
        ),
        (
            "POST",
            "/admin/users",
            ADMIN,
            json!({ "username": "newbie" }),
            400,
            "password",
        ),
        (
            "PUT",
            "/admin/users/abc/password",
            ADMIN,
            json!({ "password": "abcd" }),
            400,
            "abc",
        ),
        (
            "PUT",
            "/admin/users/999/password",
            ADMIN,
            json!({ "password": "abcd" }),
            404,
            "999",
        ),
        ("DELETE", "/admin/users/999", ADMIN, json!(null), 404, "999"),
        (
            "PUT",
            "/dashboard/callback",
            JOHN,
            json!({ "callback_url": "javascript:alert(1)" }),
            400,
            "callback_url",
        ),
        (
            "PUT",
            "/dashboard/callback",
            JOHN,
            json!({ "webhook_secret": "short" }),
            400,
            "webhook_secret",
        ),
        (
            "POST",
            "/session/start",
            ADMIN,
            json!({ "session": "../../etc" }),
            400,
            "session",
        ),
        (
            "POST",
            "/session/start",
            ADMIN,
            json!({ "session": "x", "phone": "abc" }),
            400,
            "phone",
        ),
        (
            "POST",
            "/sandbox/scan",
            ADMIN,
            json!({ "session": "john" }),
            409,
            "not waiting",
        ),
    ];
    for (method, path, auth, body, want, mentions) in cases {
        let body = if body.is_null() { None } else { Some(body) };
        let (status, answer) = daemon.call(method, path, Some(auth), body.clone()).await;
        assert_eq!(status, want, "{method} {path} {body:?}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(mentions),
            "{method} {path}: '{message}' should mention '{mentions}'"
        );
        assert!(answer["code"].is_string(), "{answer}");
    }

    // Malformed JSON, a non-JSON content type and a huge body.
    // A client of their own: the server closes a connection whose body it refused unread.
    let client = reqwest::Client::new();
    let raw = |body: Vec<u8>, content_type: &'static str| {
        client
            .post(daemon.url("/message/send-text"))
            .basic_auth("john", Some("password123"))
            .header("content-type", content_type)
            .body(body)
    };
    let response = raw(b"{\"session\": ".to_vec(), "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "malformed_json"
    );
    let response = raw(
        b"session=john".to_vec(),
        "application/x-www-form-urlencoded",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 415);
    let huge = format!(
        "{{\"session\":\"john\",\"to\":\"628123456789\",\"text\":\"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let response = raw(huge.into_bytes(), "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(response.json::<Value>().await.unwrap()["message"].is_string());

    // Nothing changed: no user added, nothing sent.
    assert_eq!(daemon.get("/admin/users", ADMIN).await.1, before_users);
    assert!(outbox(&daemon, "john").await.is_empty());
}

#[tokio::test]
async fn media_urls_are_checked_for_size_kind_and_place() {
    let outgoing = tempfile::tempdir().unwrap();
    std::fs::write(outgoing.path().join("local.png"), png()).unwrap();
    let root = outgoing.path().to_str().unwrap().to_string();
    let daemon = Daemon::start(&[
        ("WAGW_MEDIA_MAX_BYTES", "4096"),
        ("WAGW_FILE_URL_ROOT", &root),
    ])
    .await;
    daemon.link("sales", "628600000001").await;
    let files = Files::serve(vec![
        ("/big.png", "image/png", vec![0u8; 10_000]),
        ("/doc.pdf", "application/pdf", b"%PDF-1.4".to_vec()),
        ("/photo.png", "image/png", png()),
    ])
    .await;
    let image = |url: String| json!({ "session": "sales", "to": "628123456789", "image_url": url });
    let cases = [
        (
            "/message/send-image",
            image(files.url("/big.png")),
            413,
            "4096",
        ),
        (
            "/message/send-image",
            image(files.url("/doc.pdf")),
            415,
            "application/pdf",
        ),
        (
            "/message/send-sticker",
            image(files.url("/photo.png")),
            415,
            "WebP",
        ),
        (
            "/message/send-image",
            image("file:///etc/hostname".into()),
            403,
            "WAGW_FILE_URL_ROOT",
        ),
        (
            "/message/send-image",
            image(format!("file://{root}/../{}", "etc")),
            403,
            "WAGW_FILE_URL_ROOT",
        ),
    ];
    for (path, body, want, mentions) in cases {
        let (status, answer) = daemon.post(path, ADMIN, body.clone()).await;
        assert_eq!(status, want, "{path} {body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(mentions),
            "{answer}"
        );
    }
    assert!(outbox(&daemon, "sales").await.is_empty(), "nothing sent");
    let local = daemon
        .ok(
            "/message/send-image",
            ADMIN,
            image(format!("file://{root}/local.png")),
        )
        .await;
    assert_sent(&local, "628123456789@s.whatsapp.net");
    assert_eq!(outbox(&daemon, "sales").await[0]["length"], png().len());
}

#[tokio::test]
async fn the_whatsapp_engine_says_when_whatsapp_cannot_be_reached() {
    // Tests have no internet: the real engine cannot reach WhatsApp and must say so at once.
    let daemon = Daemon::start(&[("WAGW_ENGINE", "whatsapp")]).await;
    let (status, answer) = daemon
        .post("/session/start", ADMIN, json!({ "session": "real" }))
        .await;
    assert_eq!(status, 503, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("cannot reach WhatsApp"), "{answer}");
    assert!(message.contains("keeps retrying"), "{answer}");
    let (_, listed) = daemon.get("/session", ADMIN).await;
    assert_eq!(listed["data"][0]["status"], "disconnected", "{listed}");
    let (status, _) = daemon
        .post("/sandbox/scan", ADMIN, json!({ "session": "real" }))
        .await;
    assert_eq!(
        status, 404,
        "sandbox routes exist only under the sandbox engine"
    );
}

/// Sends that queue up behind each other on one session are recorded together; every one of
/// them must still get its own id and be stored with its own text.
#[tokio::test]
async fn concurrent_sends_on_one_session_are_each_answered_and_recorded() {
    let daemon = gateway().await;
    let sends = (0..200).map(|n| {
        let daemon = &daemon;
        async move {
            let answer = daemon
                .ok(
                    "/message/send-text",
                    JOHN,
                    json!({ "to": "628100000002", "text": format!("burst {n}") }),
                )
                .await;
            (n, answer["id"].as_str().expect("id").to_string())
        }
    });
    let sent = futures_util::future::join_all(sends).await;
    let ids: std::collections::HashSet<&str> = sent.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids.len(), sent.len(), "every send has its own id");
    for (n, id) in &sent {
        let (status, stored) = daemon.get(&format!("/message/{id}"), JOHN).await;
        assert_eq!(status, 200, "{stored}");
        assert_eq!(stored["data"]["text"], format!("burst {n}"));
    }
}
