//! Sessions on the sandbox engine, end to end over HTTP against the real wagwd.

mod common;

use common::{ADMIN, Daemon};
use serde_json::json;

#[tokio::test]
async fn a_user_session_goes_from_qr_to_connected_by_scan() {
    let daemon = Daemon::start(&[]).await;
    daemon.create_user("john", "password123").await;
    let john = ("john", "password123");
    let mut events = daemon.events(john).await;

    let started = daemon
        .ok("/session/start", john, json!({ "session": "john" }))
        .await;
    assert_eq!(started["status"], "qr");
    let qr = started["qr"].as_str().unwrap().to_string();
    assert!(
        qr.starts_with("2@") && qr.split(',').count() == 4,
        "QR has WhatsApp's shape: {qr}"
    );
    assert!(
        started["qr_image"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );

    // Starting again while waiting for a scan returns the same QR, not a new one.
    let again = daemon
        .ok("/session/start", john, json!({ "session": "john" }))
        .await;
    assert_eq!(again["qr"], qr.as_str());

    daemon
        .ok(
            "/sandbox/scan",
            ADMIN,
            json!({ "session": "john", "phone": "628111111111" }),
        )
        .await;
    events.status("john", "connected").await;

    let (status, listed) = daemon.get("/session", john).await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"][0]["session"], "john");
    assert_eq!(listed["data"][0]["status"], "connected");
    assert_eq!(listed["data"][0]["phone"], "628111111111");

    let connected = daemon
        .ok("/session/start", john, json!({ "session": "john" }))
        .await;
    assert_eq!(connected["message"], "Connected");
}

#[tokio::test]
async fn two_sessions_exchange_messages_and_replies_quote() {
    let daemon = Daemon::start(&[]).await;
    daemon.link("alice", "628111000001").await;
    daemon.link("bob", "628111000002").await;
    let mut events = daemon.events(ADMIN).await;

    let sent = daemon
        .ok(
            "/message/send-text",
            ADMIN,
            json!({ "session": "alice", "to": "628111000002", "text": "hi bob" }),
        )
        .await;
    let id = sent["key"]["id"].as_str().unwrap().to_string();
    assert_eq!(sent["key"]["fromMe"], true);
    assert_eq!(sent["key"]["remoteJid"], "628111000002@s.whatsapp.net");

    let received = events.message("bob").await;
    assert_eq!(received["message"]["id"], id.as_str());
    assert_eq!(received["message"]["text"], "hi bob");
    assert_eq!(received["message"]["chat"], "628111000001@s.whatsapp.net");
    assert_eq!(received["message"]["sender"], "628111000001@s.whatsapp.net");

    // Bob replies quoting alice's message; alice receives the reply with the quote.
    let reply = daemon
        .ok(
            "/message/send-text",
            ADMIN,
            json!({ "session": "bob", "to": "628111000001", "text": "hi alice", "quoted_message_id": id }),
        )
        .await;
    let answer = events.message("alice").await;
    assert_eq!(answer["message"]["id"], reply["id"]);
    assert_eq!(answer["message"]["quoted_id"], id.as_str());
    let (_, outbox) = daemon.get("/sandbox/outbox?session=bob", ADMIN).await;
    assert_eq!(outbox["data"][0]["quoted_message_id"], id.as_str());

    // A quote of an unknown id is refused with the id named, and nothing is sent.
    let (status, error) = daemon
        .post(
            "/message/send-text",
            ADMIN,
            json!({ "session": "bob", "to": "628111000001", "text": "x", "quoted_message_id": "NOPE" }),
        )
        .await;
    assert_eq!(status, 404, "{error}");
    assert!(error["message"].as_str().unwrap().contains("NOPE"));
    let (_, outbox) = daemon.get("/sandbox/outbox?session=bob", ADMIN).await;
    assert_eq!(outbox["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_group_message_reaches_every_member_session() {
    let daemon = Daemon::start(&[]).await;
    for (name, phone) in [
        ("alice", "628222000001"),
        ("bob", "628222000002"),
        ("carol", "628222000003"),
    ] {
        daemon.link(name, phone).await;
    }
    let group = daemon
        .ok("/sandbox/groups", ADMIN, json!({ "subject": "team", "members": ["628222000001", "628222000002", "628222000003"] }))
        .await;
    let jid = group["jid"].as_str().unwrap().to_string();
    assert!(jid.ends_with("@g.us"));
    let mut events = daemon.events(ADMIN).await;
    daemon
        .ok(
            "/message/send-text",
            ADMIN,
            json!({ "session": "alice", "to": jid, "text": "hello team", "is_group": true }),
        )
        .await;
    // Members receive in no particular order: collect until both have it.
    let mut waiting = vec!["bob", "carol"];
    while !waiting.is_empty() {
        let event = events.until(|e| e["type"] == "message").await;
        let session = event["session"].as_str().unwrap().to_string();
        assert_ne!(
            session, "alice",
            "the author does not receive its own group message"
        );
        assert_eq!(event["message"]["chat"], jid.as_str());
        assert_eq!(event["message"]["sender"], "628222000001@s.whatsapp.net");
        assert_eq!(event["message"]["text"], "hello team");
        waiting.retain(|w| *w != session);
    }
}

#[tokio::test]
async fn a_drop_reconnects_without_a_new_qr() {
    let daemon = Daemon::start(&[]).await;
    daemon.link("sales", "628333000001").await;
    let mut events = daemon.events(ADMIN).await;
    daemon
        .ok("/sandbox/drop", ADMIN, json!({ "session": "sales" }))
        .await;
    events.status("sales", "disconnected").await;
    let next = events
        .until(|e| {
            e["session"] == "sales"
                && (e["type"] == "qr" || (e["type"] == "status" && e["status"] == "connected"))
        })
        .await;
    assert_eq!(next["type"], "status", "reconnected without a QR: {next}");
    assert_eq!(next["phone"], "628333000001");
}

#[tokio::test]
async fn an_unlink_logs_out_and_removes_credentials() {
    let daemon = Daemon::start(&[]).await;
    daemon.link("sales", "628333000002").await;
    let credentials = daemon.dir.join("credentials/sales.sandbox.json");
    assert!(credentials.exists());
    let mut events = daemon.events(ADMIN).await;
    daemon
        .ok("/sandbox/unlink", ADMIN, json!({ "session": "sales" }))
        .await;
    events.status("sales", "logged_out").await;
    assert!(!credentials.exists(), "credentials removed");
    let (_, listed) = daemon.get("/session", ADMIN).await;
    assert_eq!(listed["data"][0]["status"], "logged_out");
    // Sending now is a clear 503, not a hang.
    let (status, error) = daemon
        .post(
            "/message/send-text",
            ADMIN,
            json!({ "session": "sales", "to": "628123456789", "text": "x" }),
        )
        .await;
    assert_eq!(status, 503, "{error}");
    assert!(error["message"].as_str().unwrap().contains("logged_out"));
    // A new start needs a new link.
    let started = daemon
        .ok("/session/start", ADMIN, json!({ "session": "sales" }))
        .await;
    assert_eq!(started["status"], "qr");
}

#[tokio::test]
async fn logout_forgets_the_session() {
    let daemon = Daemon::start(&[]).await;
    daemon.link("sales", "628333000003").await;
    let (status, _) = daemon.get("/session/logout?session=sales", ADMIN).await;
    assert_eq!(status, 200);
    assert!(!daemon.dir.join("credentials/sales.sandbox.json").exists());
    let (_, listed) = daemon.get("/session", ADMIN).await;
    assert_eq!(listed["data"], json!([]));
    let (status, _) = daemon
        .post("/session/logout", ADMIN, json!({ "session": "sales" }))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_restart_brings_connected_sessions_back_without_a_qr() {
    let daemon_dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start_in(daemon_dir.path(), &[]).await;
    let names = ["one", "two", "three"];
    for (i, name) in names.iter().enumerate() {
        daemon.link(name, &format!("62844400000{i}")).await;
    }
    // One session waits for a scan and is left that way: it shows a QR again after restart.
    daemon
        .ok("/session/start", ADMIN, json!({ "session": "pending" }))
        .await;
    assert_eq!(daemon.stop().await, Some(0), "graceful exit");

    daemon.restart().await;
    let mut events = daemon.events(ADMIN).await;
    let (_, listed) = daemon.get("/session", ADMIN).await;
    // The never-linked session shows a new QR; it may have done so before we subscribed.
    let mut pending_shows_qr = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["session"] == "pending" && s["status"] == "qr");
    let mut waiting: Vec<String> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| names.contains(&s["session"].as_str().unwrap()) && s["status"] != "connected")
        .map(|s| s["session"].as_str().unwrap().to_string())
        .collect();
    while !waiting.is_empty() || !pending_shows_qr {
        let event = events.next().await;
        let session = event["session"].as_str().unwrap_or_default().to_string();
        if event["type"] == "qr" && session == "pending" {
            pending_shows_qr = true;
        }
        assert!(
            !(event["type"] == "qr" && names.contains(&session.as_str())),
            "a linked session asked for a QR: {event}"
        );
        if event["type"] == "status" && event["status"] == "connected" {
            waiting.retain(|w| *w != session);
        }
    }
    let (_, listed) = daemon.get("/session", ADMIN).await;
    for session in listed["data"].as_array().unwrap() {
        let expected = if session["session"] == "pending" {
            "qr"
        } else {
            "connected"
        };
        assert_eq!(session["status"], expected, "{session}");
    }
}

#[tokio::test]
async fn two_hundred_sessions_start_and_connect() {
    let daemon = Daemon::start(&[("WAGW_SANDBOX_AUTOSCAN_MS", "1")]).await;
    let mut events = daemon.events(ADMIN).await;
    let starts = (0..200).map(|i| {
        let daemon = &daemon;
        async move {
            daemon
                .post(
                    "/session/start",
                    ADMIN,
                    json!({ "session": format!("s{i:03}") }),
                )
                .await
        }
    });
    for (status, body) in futures_util::future::join_all(starts).await {
        assert_eq!(status, 200, "{body}");
    }
    let mut connected = std::collections::HashSet::new();
    while connected.len() < 200 {
        let event = events
            .until(|e| e["type"] == "status" && e["status"] == "connected")
            .await;
        connected.insert(event["session"].as_str().unwrap().to_string());
    }
    let (_, listed) = daemon.get("/session", ADMIN).await;
    let all = listed["data"].as_array().unwrap();
    assert_eq!(all.len(), 200);
    assert!(all.iter().all(|s| s["status"] == "connected"));
    // Autoscanned numbers are the documented derivation of the name.
    assert!(
        all.iter()
            .all(|s| s["phone"].as_str().unwrap().starts_with("99"))
    );
}

#[tokio::test]
async fn a_pairing_code_links_without_a_qr() {
    let daemon = Daemon::start(&[]).await;
    let mut events = daemon.events(ADMIN).await;
    let started = daemon
        .ok(
            "/session/start",
            ADMIN,
            json!({ "session": "coded", "phone": "+62 811-2222-3333" }),
        )
        .await;
    let code = started["pair_code"].as_str().expect("a pairing code");
    assert_eq!(code.len(), 9, "{code}");
    let connected = events.status("coded", "connected").await;
    assert_eq!(connected["phone"], "6281122223333");
}

#[tokio::test]
async fn receipts_move_a_sent_message_to_delivered() {
    let daemon = Daemon::start(&[]).await;
    daemon.link("alice", "628555000001").await;
    daemon.link("bob", "628555000002").await;
    let mut events = daemon.events(ADMIN).await;
    let sent = daemon
        .ok(
            "/message/send-text",
            ADMIN,
            json!({ "session": "alice", "to": "628555000002", "text": "ping" }),
        )
        .await;
    let id = sent["id"].as_str().unwrap().to_string();
    events
        .until(|e| {
            e["type"] == "receipt" && e["session"] == "alice" && e["message_ids"][0] == id.as_str()
        })
        .await;
    let (status, stored) = daemon
        .get(&format!("/message/{id}?session=alice"), ADMIN)
        .await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["data"]["status"], "delivered");
    assert_eq!(stored["data"]["text"], "ping");
    let (status, _) = daemon
        .get(&format!("/message/{id}?session=bob"), ADMIN)
        .await;
    assert_eq!(status, 200, "the recipient recorded it too");
    let (status, _) = daemon.get("/message/NOPE?session=alice", ADMIN).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn qr_codes_rotate_then_run_out_and_the_session_stops() {
    let daemon = Daemon::start(&[("WAGW_SANDBOX_QR_TTL_MS", "50")]).await;
    let mut events = daemon.events(ADMIN).await;
    let first = daemon
        .ok("/session/start", ADMIN, json!({ "session": "slow" }))
        .await;
    let (codes, stopped) = events
        .qr_codes_until_stopped("slow", first["qr"].as_str().unwrap())
        .await;
    assert_eq!(codes.len(), 6, "six distinct codes, as WhatsApp shows");
    assert!(
        stopped["reason"].as_str().unwrap().contains("expired"),
        "{stopped}"
    );
    let (_, listed) = daemon.get("/session", ADMIN).await;
    assert_eq!(listed["data"][0]["status"], "stopped");
    // A new start begins a new round of codes.
    let again = daemon
        .ok("/session/start", ADMIN, json!({ "session": "slow" }))
        .await;
    assert_eq!(again["status"], "qr");
    assert!(!codes.contains(&again["qr"].as_str().unwrap().to_string()));
}
