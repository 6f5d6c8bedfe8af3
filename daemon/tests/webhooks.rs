//! Webhooks end to end: the real wagwd (sandbox engine) delivering to real HTTP receivers, with
//! signatures checked by the official `standardwebhooks` package and OAuth tokens from
//! `oauth2-mock-server`. Both are installed by `scripts/setup.d/webhooks.sh`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Generous: a whole test's worth of waiting for one event on a loaded machine.
const WAIT: Duration = Duration::from_secs(30);

struct Daemon {
    child: Child,
    dir: PathBuf,
    base: String,
    http: reqwest::Client,
}

impl Daemon {
    fn start(dir: &Path, extra: &[(&str, &str)]) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("wagwd.log"))
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_wagwd"));
        command
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info,wagw_daemon=debug")
            .env("WAGW_ENGINE", "sandbox")
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("DB_PATH", dir.join("wagw.db"))
            .env("MEDIA_DIR", dir.join("media"))
            .env("CREDENTIALS_DIR", dir.join("credentials"))
            .env("WAGW_SOCKET", dir.join("wagw.sock"))
            .env("WAGW_WEBHOOK_FIRST_RETRY_MS", "100")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        for (key, value) in extra {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start wagwd");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("wagwd exited before listening")
                .unwrap();
            if let Some(address) = line.strip_prefix("wagwd listening on http://") {
                break address.rsplit(':').next().unwrap().to_string();
            }
        };
        // Keep draining stdout so wagwd never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Daemon {
            child,
            dir: dir.to_path_buf(),
            base: format!("http://127.0.0.1:{port}"),
            http: client(),
        }
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth("admin", Some("admin"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.admin(reqwest::Method::POST, path, body).await
    }

    /// Creates a user with a webhook and brings their session online as `phone`.
    async fn user_online(&self, name: &str, phone: &str, settings: Value) -> i64 {
        let mut body = json!({"username": name, "password": "pass1234"});
        body.as_object_mut()
            .unwrap()
            .extend(settings.as_object().unwrap().clone());
        let user = self.post("/admin/users", body).await;
        self.post("/session/start", json!({"session": name})).await;
        self.post("/sandbox/scan", json!({"session": name, "phone": phone}))
            .await;
        user["data"]["id"].as_i64().unwrap()
    }

    async fn inbound(&self, session: &str, text: &str) -> String {
        let answer = self
            .post(
                "/sandbox/inbound",
                json!({"session": session, "from": "628999000111", "text": text}),
            )
            .await;
        answer["data"]["messageId"].as_str().unwrap().to_string()
    }

    /// SIGTERM, and wait for the graceful stop.
    fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(
            self.child.wait().unwrap().success(),
            "wagwd stops cleanly on SIGTERM"
        );
    }

    fn kill(mut self) {
        // SIGKILL: no shutdown path runs.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("wagwd.log")).unwrap_or_default();
            eprintln!("--- wagwd.log ---\n{log}");
            if let Ok(db) = rusqlite::Connection::open(self.dir.join("wagw.db")) {
                let rows: Vec<String> = db
                    .prepare("SELECT kind, state, attempts, next_attempt_at, last_error FROM webhook_deliveries")
                    .and_then(|mut st| {
                        st.query_map([], |r| {
                            Ok(format!(
                                "{:?} {:?} {:?} {:?} {:?}",
                                r.get::<_, String>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, i64>(2)?,
                                r.get::<_, i64>(3)?,
                                r.get::<_, Option<String>>(4)?
                            ))
                        })?
                        .collect()
                    })
                    .unwrap_or_default();
                eprintln!("--- outbox ---\n{}", rows.join("\n"));
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// How a receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ok,
    Status(u16),
    /// Never answers.
    Hang,
}

#[derive(Clone)]
struct Receiver {
    mode: Arc<Mutex<Mode>>,
    /// Answers for the next message deliveries, before `mode` applies. Status events never
    /// take from it: a late one (deliveries may overtake each other) would steal the answer.
    script: Arc<Mutex<Vec<u16>>>,
    events: mpsc::UnboundedSender<Received>,
    /// Where `/oauth/token` is forwarded, so the token endpoint shares the receiver's origin.
    oauth: Option<String>,
    tokens: mpsc::UnboundedSender<String>,
}

struct ReceiverHandle {
    url: String,
    mode: Arc<Mutex<Mode>>,
    script: Arc<Mutex<Vec<u16>>>,
    events: mpsc::UnboundedReceiver<Received>,
    tokens: mpsc::UnboundedReceiver<String>,
}

impl ReceiverHandle {
    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    async fn next(&mut self) -> Received {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("no webhook arrived in time")
            .unwrap()
    }

    /// The next message event, skipping session status events.
    async fn next_message(&mut self) -> Received {
        loop {
            let received = self.next().await;
            if received.json()["type"] == "message" {
                return received;
            }
        }
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path() == "/oauth/token" {
        let _ = receiver
            .tokens
            .send(String::from_utf8_lossy(&body).into_owned());
        let Some(oauth) = &receiver.oauth else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let forwarded = client()
            .post(format!("{oauth}/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(forwarded.status().as_u16()).unwrap();
        return (
            status,
            [("content-type", "application/json")],
            forwarded.bytes().await.unwrap(),
        )
            .into_response();
    }
    let scripted = if uri.path().ends_with("/session") {
        None
    } else {
        let mut script = receiver.script.lock().unwrap();
        (!script.is_empty()).then(|| script.remove(0))
    };
    let mode = *receiver.mode.lock().unwrap();
    let _ = receiver.events.send(Received {
        path: uri.path().to_string(),
        headers,
        body,
    });
    match (scripted, mode) {
        (Some(status), _) => (
            StatusCode::from_u16(status).unwrap(),
            [("retry-after", "1")],
        )
            .into_response(),
        (None, Mode::Ok) => StatusCode::NO_CONTENT.into_response(),
        (None, Mode::Status(status)) => StatusCode::from_u16(status).unwrap().into_response(),
        (None, Mode::Hang) => std::future::pending().await,
    }
}

async fn receiver(oauth: Option<String>) -> ReceiverHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    receiver_on(listener, oauth)
}

fn receiver_on(listener: tokio::net::TcpListener, oauth: Option<String>) -> ReceiverHandle {
    let address: SocketAddr = listener.local_addr().unwrap();
    let (events_tx, events) = mpsc::unbounded_channel();
    let (tokens_tx, tokens) = mpsc::unbounded_channel();
    let mode = Arc::new(Mutex::new(Mode::Ok));
    let script = Arc::new(Mutex::new(Vec::new()));
    let state = Receiver {
        mode: mode.clone(),
        script: script.clone(),
        events: events_tx,
        oauth,
        tokens: tokens_tx,
    };
    let app = Router::new().fallback(receive).with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    ReceiverHandle {
        url: format!("http://{address}/hook"),
        mode,
        script,
        events,
        tokens,
    }
}

/// reqwest is built without a TLS provider of its own; wagw installs one.
fn client() -> reqwest::Client {
    wagw_daemon::media::install_tls_provider();
    reqwest::Client::new()
}

fn secret() -> String {
    use base64::Engine as _;
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode([42u8; 32])
    )
}

/// Verifies a delivery with the official Standard Webhooks library for Python.
fn verify_with_standardwebhooks(secret: &str, received: &Received) -> Result<(), String> {
    let headers = json!({
        "webhook-id": received.header("webhook-id"),
        "webhook-timestamp": received.header("webhook-timestamp"),
        "webhook-signature": received.header("webhook-signature"),
    });
    let script = "import sys, json\nfrom standardwebhooks.webhooks import Webhook\n\
                  Webhook(sys.argv[1]).verify(sys.stdin.buffer.read(), json.loads(sys.argv[2]))\nprint('verified')";
    let mut child = Command::new("python3")
        .args(["-c", script, secret, &headers.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3: {e}"))?;
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&received.body)
        .unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Checks a delivered body against a schema of wagwd's published OpenAPI document: the same
/// property names, every required one present, each value of a declared type (or enum value).
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .ok_or(format!("{at}: unexpected $ref {reference}"))?;
        return conforms(doc, &doc["components"]["schemas"][name], value, at);
    }
    if let Some(choices) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        return choices
            .iter()
            .any(|choice| conforms(doc, choice, value, at).is_ok())
            .then_some(())
            .ok_or(format!("{at}: {value} matches none of {choices:?}"));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => return Err(format!("{at}: the schema declares no type: {schema}")),
    };
    let fits = |kind: &str| match kind {
        "null" => value.is_null(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        _ => false,
    };
    if !types.iter().any(|kind| fits(kind)) {
        return Err(format!("{at}: {value} is not {types:?}"));
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !value.is_null()
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(properties), Some(object)) = (schema["properties"].as_object(), value.as_object())
    {
        let mut declared: Vec<&String> = properties.keys().collect();
        let mut sent: Vec<&String> = object.keys().collect();
        declared.sort();
        sent.sort();
        if declared != sent {
            return Err(format!("{at}: sent {sent:?}, documented {declared:?}"));
        }
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Err(format!("{at}: required {name} is missing"));
            }
        }
        for (name, property) in properties {
            conforms(doc, property, &object[name], &format!("{at}.{name}"))?;
        }
    }
    Ok(())
}

/// wagwd's OpenAPI document, as it serves it.
async fn openapi(daemon: &Daemon) -> Value {
    let doc: Value = client()
        .get(format!("{}/openapi.json", daemon.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    doc
}

/// Checks a delivered body against the schema the document publishes for that webhook.
fn assert_documented(doc: &Value, webhook: &str, body: &Value) {
    let schema =
        &doc["webhooks"][webhook]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "webhook '{webhook}' is documented");
    if let Err(problem) = conforms(doc, schema, body, webhook) {
        panic!("the delivered body does not match its schema: {problem}\n{body}");
    }
}

#[tokio::test]
async fn events_arrive_signed_with_the_documented_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let mut user_hook = receiver(None).await;
    let mut global_hook = receiver(None).await;
    let daemon = Daemon::start(
        dir.path(),
        &[("WEBHOOK_BASE_URL", &global_hook.url.clone())],
    );
    let doc = openapi(&daemon).await;
    let secret = secret();
    daemon
        .user_online(
            "john",
            "628111000001",
            json!({"callback_url": user_hook.url, "webhook_secret": secret}),
        )
        .await;

    // Session status events go to {callback_url}/session until the session is connected.
    loop {
        let event = user_hook.next().await;
        assert_eq!(event.path, "/hook/session");
        let body = event.json();
        assert_eq!(body["session"], "john");
        assert_eq!(body["type"], "session");
        assert!(body["id"].is_string() && body["timestamp"].is_i64());
        assert_documented(&doc, "session", &body);
        verify_with_standardwebhooks(&secret, &event).unwrap();
        if body["status"] == "connected" {
            assert_eq!(body["phone"], "628111000001");
            break;
        }
    }

    let message_id = daemon.inbound("john", "Hello World").await;
    let event = user_hook.next_message().await;
    assert_eq!(event.path, "/hook");
    let body = event.json();
    assert_eq!(body["session"], "john");
    assert_eq!(body["from"], "628999000111@s.whatsapp.net");
    assert_eq!(body["messageId"], message_id.as_str());
    assert_eq!(body["message"], "Hello World");
    assert_eq!(
        body["media"],
        json!({"image": null, "video": null, "document": null, "audio": null})
    );
    assert_eq!(body["chat"], "628999000111@s.whatsapp.net");
    assert_eq!(body["is_group"], false);
    assert_eq!(body["quoted_message_id"], Value::Null);
    assert_documented(&doc, "message", &body);
    assert_eq!(
        event.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        event.header("webhook-id"),
        body["id"].as_str().map(str::to_string)
    );
    assert!(
        event
            .header("webhook-signature")
            .unwrap()
            .starts_with("v1,")
    );
    verify_with_standardwebhooks(&secret, &event).unwrap();
    let mut tampered = event.clone();
    let mut changed = event.body.to_vec();
    changed.push(b' ');
    tampered.body = Bytes::from(changed);
    assert!(
        verify_with_standardwebhooks(&secret, &tampered).is_err(),
        "a changed body must not verify"
    );

    // The global webhook gets the same event, with the same event id, unsigned.
    let global = global_hook.next_message().await;
    assert_eq!(global.json()["id"], body["id"]);
    assert_eq!(global.header("webhook-signature"), None);

    // Events are listed for admin.
    let listed = daemon
        .admin(
            reqwest::Method::GET,
            "/admin/webhooks?limit=1000",
            Value::Null,
        )
        .await;
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["event_id"] == body["id"])
    );

    // Logging out is the session's last status event.
    daemon
        .post("/session/logout", json!({"session": "john"}))
        .await;
    loop {
        let event = user_hook.next().await;
        let body = event.json();
        if body["type"] == "session" && body["status"] == "stopped" {
            assert_eq!(event.path, "/hook/session");
            assert_eq!(body["reason"], "logged out");
            break;
        }
    }
}

#[tokio::test]
async fn media_events_link_the_saved_file_with_links_that_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut hook = receiver(None).await;
    let daemon = Daemon::start(dir.path(), &[]);
    daemon
        .user_online("mary", "628111000002", json!({"callback_url": hook.url}))
        .await;
    while hook.next().await.json()["status"] != "connected" {}
    // A real HTTP server to fetch the image from.
    let png = b"\x89PNG\r\n\x1a\nrest-of-a-png".to_vec();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let image_url = format!("http://{}/pic.png", listener.local_addr().unwrap());
    let served = png.clone();
    tokio::spawn(async move {
        let app = Router::new().fallback(move || {
            let body = served.clone();
            async move { ([("content-type", "image/png")], body) }
        });
        axum::serve(listener, app).await
    });
    daemon
        .post("/sandbox/inbound", json!({"session": "mary", "from": "628999000111", "image_url": image_url, "text": "pic"}))
        .await;
    let body = hook.next_message().await.json();
    assert_documented(&openapi(&daemon).await, "message", &body);
    let file = body["media"]["image"].as_str().unwrap().to_string();
    assert!(file.ends_with(".png"), "{file}");
    assert!(
        dir.path().join("media").join(&file).is_file(),
        "the named file exists under MEDIA_DIR"
    );
    // WAGW_PUBLIC_URL sets the link's origin; on port 0 the default cannot know the real port.
    let signed = url::Url::parse(body["media_url"].as_str().unwrap()).unwrap();
    let on = |daemon: &Daemon| {
        format!(
            "{}{}?{}",
            daemon.base,
            signed.path(),
            signed.query().unwrap()
        )
    };
    let link = on(&daemon);
    assert!(link.contains(&format!("/media/{file}?expires=")), "{link}");
    let fetched = client().get(&link).send().await.unwrap();
    assert_eq!(
        fetched.status(),
        200,
        "the signed link works without credentials"
    );
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), png);
    let forged = link.replace("signature=", "signature=x");
    assert_eq!(client().get(&forged).send().await.unwrap().status(), 401);

    // The link was handed to a receiver; it must keep working after wagwd restarts.
    daemon.terminate();
    let daemon = Daemon::start(dir.path(), &[]);
    let fetched = client().get(on(&daemon)).send().await.unwrap();
    assert_eq!(
        fetched.status(),
        200,
        "a signed link survives a restart (the key is kept in the database)"
    );
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), png);
}

#[tokio::test]
async fn a_receiver_that_fails_for_a_while_gets_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut hook = receiver(None).await;
    let daemon = Daemon::start(dir.path(), &[]);
    daemon
        .user_online("ann", "628111000003", json!({"callback_url": hook.url}))
        .await;
    while hook.next().await.json()["status"] != "connected" {}

    hook.set(Mode::Status(503));
    let mut sent = Vec::new();
    for n in 0..5 {
        sent.push(daemon.inbound("ann", &format!("m{n}")).await);
    }
    // Every event is tried at least once while the receiver is failing.
    let mut failed = std::collections::HashSet::new();
    while failed.len() < sent.len() {
        let body = hook.next_message().await.json();
        failed.insert(body["messageId"].as_str().unwrap().to_string());
    }
    hook.set(Mode::Ok);
    let mut delivered = std::collections::HashSet::new();
    while delivered.len() < sent.len() {
        let body = hook.next_message().await.json();
        delivered.insert(body["messageId"].as_str().unwrap().to_string());
    }
    assert_eq!(delivered, sent.into_iter().collect());
}

#[tokio::test]
async fn retry_after_is_honoured_and_4xx_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let mut hook = receiver(None).await;
    let daemon = Daemon::start(dir.path(), &[]);
    daemon
        .user_online("bob", "628111000004", json!({"callback_url": hook.url}))
        .await;
    while hook.next().await.json()["status"] != "connected" {}

    // 429 with Retry-After: 1, then success: the retry waits at least a second.
    hook.script.lock().unwrap().push(429);
    daemon.inbound("bob", "later").await;
    let first = hook.next_message().await;
    let refused_at = std::time::Instant::now();
    let second = hook.next_message().await;
    assert!(
        refused_at.elapsed() >= Duration::from_millis(900),
        "{:?}",
        refused_at.elapsed()
    );
    assert_eq!(first.json()["id"], second.json()["id"]);

    // A 404 is final: the event is kept as failed, and can be redelivered.
    hook.script.lock().unwrap().push(404);
    daemon.inbound("bob", "refused").await;
    let refused = hook.next_message().await.json();
    // A graceful stop records outcomes in flight, so the stored state can be read.
    daemon.terminate();
    let (state, attempts, status): (String, i64, i64) = rusqlite::Connection::open(dir.path().join("wagw.db"))
        .unwrap()
        .query_row(
            "SELECT state, attempts, last_status FROM webhook_deliveries WHERE event_id = ?1 AND target != 'global'",
            [refused["id"].as_str().unwrap()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((state.as_str(), attempts, status), ("failed", 1, 404));

    let daemon = Daemon::start(dir.path(), &[]);
    let failed = daemon
        .admin(
            reqwest::Method::GET,
            "/admin/webhooks?state=failed",
            Value::Null,
        )
        .await;
    let failed = failed["data"].as_array().unwrap().clone();
    let row = failed
        .iter()
        .find(|d| d["event_id"] == refused["id"])
        .expect("listed as failed");
    assert_eq!(row["last_status"], 404);
    let id = row["id"].as_str().unwrap();
    daemon
        .post(&format!("/admin/webhooks/{id}/redeliver"), Value::Null)
        .await;
    assert_eq!(hook.next_message().await.json()["id"], refused["id"]);
}

#[tokio::test]
async fn a_hanging_receiver_does_not_hold_up_another_user() {
    let dir = tempfile::tempdir().unwrap();
    let mut slow = receiver(None).await;
    let mut fast = receiver(None).await;
    let daemon = Daemon::start(dir.path(), &[]);
    daemon
        .user_online("slow", "628111000005", json!({"callback_url": slow.url}))
        .await;
    daemon
        .user_online("fast", "628111000006", json!({"callback_url": fast.url}))
        .await;
    while slow.next().await.json()["status"] != "connected" {}
    while fast.next().await.json()["status"] != "connected" {}

    slow.set(Mode::Hang);
    for n in 0..3 {
        daemon.inbound("slow", &format!("stuck {n}")).await;
    }
    slow.next_message().await;
    let started = std::time::Instant::now();
    let id = daemon.inbound("fast", "quick").await;
    assert_eq!(fast.next_message().await.json()["messageId"], id.as_str());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?} behind a hanging receiver",
        started.elapsed()
    );
}

#[tokio::test]
async fn sigkill_mid_delivery_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut hook = receiver(None).await;
    let daemon = Daemon::start(dir.path(), &[]);
    daemon
        .user_online("kim", "628111000007", json!({"callback_url": hook.url}))
        .await;
    while hook.next().await.json()["status"] != "connected" {}

    // The receiver holds every request open, so nothing can be marked delivered.
    hook.set(Mode::Hang);
    let mut sent = std::collections::HashSet::new();
    for n in 0..8 {
        sent.insert(daemon.inbound("kim", &format!("k{n}")).await);
    }
    // A request reaching the receiver proves its event was committed; wait for all of them.
    let mut seen = std::collections::HashSet::new();
    while seen.len() < sent.len() {
        seen.insert(
            hook.next_message().await.json()["messageId"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    daemon.kill();

    hook.set(Mode::Ok);
    let _daemon = Daemon::start(dir.path(), &[]);
    let mut delivered = std::collections::HashSet::new();
    while delivered.len() < sent.len() {
        delivered.insert(
            hook.next_message().await.json()["messageId"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(delivered, sent);
}

/// Starts oauth2-mock-server from tests/node; `None` when it is not installed.
fn oauth_server(expires_in: u64) -> Option<(Child, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/node");
    if !root.join("node_modules/oauth2-mock-server").is_dir() {
        return None;
    }
    let mut child = Command::new("node")
        .arg(root.join("oauth-server.mjs"))
        .arg(expires_in.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take()?)
        .read_line(&mut line)
        .ok()?;
    let port = line.trim().strip_prefix("oauth listening on ")?.to_string();
    Some((child, format!("http://127.0.0.1:{port}")))
}

struct Reaper(Child);
impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn oauth_user(daemon: &Daemon, hook: &ReceiverHandle, name: &str, phone: &str) {
    let settings =
        json!({"callback_url": hook.url, "oauth_login": "wagw-client", "oauth_password": "s3cret"});
    daemon.user_online(name, phone, settings).await;
}

#[tokio::test]
async fn oauth_tokens_are_fetched_and_renewed_near_expiry() {
    // Tokens that expire within the renewal margin: every delivery needs a fresh one.
    let (child, oauth) =
        oauth_server(60).expect("oauth2-mock-server: run scripts/setup.d/webhooks.sh");
    let _reaper = Reaper(child);
    let dir = tempfile::tempdir().unwrap();
    let mut hook = receiver(Some(oauth)).await;
    let daemon = Daemon::start(dir.path(), &[]);
    oauth_user(&daemon, &hook, "otto", "628111000008").await;

    let first = hook.next().await;
    let request = hook.tokens.recv().await.unwrap();
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(request.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        form.get("grant_type").map(String::as_str),
        Some("client_credentials")
    );
    assert_eq!(
        form.get("client_id").map(String::as_str),
        Some("wagw-client")
    );
    assert_eq!(
        form.get("client_secret").map(String::as_str),
        Some("s3cret")
    );
    let bearer = first.header("authorization").expect("a bearer token");
    assert!(
        bearer.starts_with("Bearer ey"),
        "a JWT from the mock server: {bearer}"
    );

    while hook.next().await.json()["status"] != "connected" {}
    while hook.tokens.try_recv().is_ok() {}
    daemon.inbound("otto", "renew").await;
    let renewed = hook.next_message().await;
    assert!(
        hook.tokens.try_recv().is_ok(),
        "a token near expiry was renewed"
    );
    assert!(
        renewed
            .header("authorization")
            .unwrap()
            .starts_with("Bearer ey")
    );
}

#[tokio::test]
async fn oauth_tokens_are_cached_and_dropped_on_401() {
    let (child, oauth) =
        oauth_server(3600).expect("oauth2-mock-server: run scripts/setup.d/webhooks.sh");
    let _reaper = Reaper(child);
    let dir = tempfile::tempdir().unwrap();
    let mut hook = receiver(Some(oauth)).await;
    let daemon = Daemon::start(dir.path(), &[]);
    oauth_user(&daemon, &hook, "olga", "628111000010").await;
    while hook.next().await.json()["status"] != "connected" {}
    hook.tokens.recv().await.unwrap();
    while hook.tokens.try_recv().is_ok() {}

    daemon.inbound("olga", "cached").await;
    let cached = hook.next_message().await;
    assert!(hook.tokens.try_recv().is_err(), "a valid token is reused");

    hook.script.lock().unwrap().push(401);
    daemon.inbound("olga", "refused once").await;
    let refused = hook.next_message().await;
    let retried = hook.next_message().await;
    assert_eq!(refused.json()["id"], retried.json()["id"]);
    assert_eq!(
        refused.header("authorization"),
        cached.header("authorization")
    );
    assert!(
        hook.tokens.try_recv().is_ok(),
        "the 401 dropped the token and a new one was fetched"
    );
}

#[tokio::test]
async fn a_failing_token_endpoint_still_delivers_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut hook = receiver(None).await;
    let daemon = Daemon::start(dir.path(), &[]);
    let settings = json!({"callback_url": hook.url, "oauth_login": "id", "oauth_password": "pw"});
    daemon.user_online("una", "628111000009", settings).await;
    let event = hook.next().await;
    assert_eq!(event.header("authorization"), None);
    let log = std::fs::read_to_string(dir.path().join("wagwd.log")).unwrap();
    assert!(!log.contains("pw\""), "secrets stay out of the log");
}
