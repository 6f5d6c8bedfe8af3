//! The real `wagw` binary against a real `wagwd` (sandbox engine, temp dir, port 0, temp socket).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::mpsc;

const WAGW: &str = env!("CARGO_BIN_EXE_wagw");

/// wagwd sits next to wagw in the target directory; built once if a lone `cargo test -p
/// wagw-cli` did not build it.
fn wagwd() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let path = Path::new(WAGW).with_file_name("wagwd");
        if !path.exists() {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("the workspace root");
            let status = std::process::Command::new(env!("CARGO"))
                .args(["build", "-p", "wagw-daemon", "--bin", "wagwd"])
                .current_dir(workspace)
                .status()
                .expect("run cargo build for wagwd");
            assert!(status.success(), "building wagwd failed");
        }
        path
    })
}

struct Daemon {
    _child: Child,
    _stdout: Lines<BufReader<ChildStdout>>,
    dir: tempfile::TempDir,
    socket: PathBuf,
    base: String,
    http: reqwest::Client,
}

impl Daemon {
    async fn start() -> Daemon {
        Daemon::start_with(&[]).await
    }

    async fn start_with(env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("wagw.sock");
        let log = std::fs::File::create(dir.path().join("wagwd.log")).expect("log file");
        let mut command = Command::new(wagwd());
        command
            .current_dir(dir.path())
            .env("WAGW_ENGINE", "sandbox")
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("DB_PATH", dir.path().join("wagw.db"))
            .env("MEDIA_DIR", dir.path().join("media"))
            .env("CREDENTIALS_DIR", dir.path().join("credentials"))
            .env("WAGW_SOCKET", &socket)
            .env_remove("ADMIN_PASSWORD")
            .env_remove("ADMIN_USER")
            .env_remove("WAGW_SANDBOX_AUTOSCAN_MS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start wagwd");
        let mut stdout = BufReader::new(child.stdout.take().expect("wagwd stdout")).lines();
        let log_path = dir.path().join("wagwd.log");
        let mut next_line = async |what: &str| -> String {
            match stdout.next_line().await {
                Ok(Some(line)) => line,
                _ => panic!(
                    "wagwd exited before printing {what} (is target/debug/wagwd stale? cargo build -p wagw-daemon); log:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                ),
            }
        };
        let listening = next_line("its HTTP address").await;
        let base = listening
            .strip_prefix("wagwd listening on ")
            .expect("the listening line")
            .to_string();
        let ready = next_line("its control socket").await;
        assert_eq!(
            ready,
            format!("wagwd control socket at {}", socket.display())
        );
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        Daemon {
            _child: child,
            _stdout: stdout,
            dir,
            socket,
            base,
            http,
        }
    }

    fn wagw(&self) -> Command {
        let mut command = Command::new(WAGW);
        command
            .env("WAGW_SOCKET", &self.socket)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.wagw().args(args).output().await.expect("run wagw")
    }

    async fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .wagw()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wagw");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input.as_bytes())
            .await
            .expect("write stdin");
        drop(stdin);
        child.wait_with_output().await.expect("wagw output")
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .basic_auth("admin", Some("admin"))
            .send()
            .await
            .expect("GET");
        response.json().await.expect("JSON")
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .basic_auth("admin", Some("admin"))
            .json(&body)
            .send()
            .await
            .expect("POST");
        response.json().await.expect("JSON")
    }

    /// Starts a session that the sandbox pairs by itself (WAGW_SANDBOX_AUTOSCAN_MS).
    async fn connected_session(&self, name: &str) {
        let out = self.run(&["session", "start", name]).await;
        assert_ok(&out);
        assert!(stdout(&out).contains("connected"), "{}", stdout(&out));
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

fn assert_fails(out: &Output, code: i32, message: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    assert!(
        stderr(out).contains(message),
        "expected {message:?} in stderr: {}",
        stderr(out)
    );
}

fn json_of(out: &Output) -> Value {
    assert_ok(out);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

#[tokio::test]
async fn user_lifecycle() {
    let daemon = Daemon::start().await;
    assert_ok(
        &daemon
            .run_with_stdin(
                &["user", "add", "alice", "--password-stdin"],
                "first-pass\n",
            )
            .await,
    );

    let listed = json_of(&daemon.run(&["user", "list", "--json"]).await);
    let over_http = daemon.get("/admin/users").await;
    assert_eq!(
        listed, over_http["data"],
        "--json prints what the HTTP API returns under data"
    );
    assert_eq!(listed[0]["username"], "alice");

    assert_ok(
        &daemon
            .run_with_stdin(
                &["user", "passwd", "alice", "--password-stdin"],
                "second-pass\n",
            )
            .await,
    );
    let as_alice = daemon
        .http
        .get(format!("{}/session", daemon.base))
        .basic_auth("alice", Some("second-pass"))
        .send()
        .await
        .expect("GET as alice");
    assert_eq!(as_alice.status(), 200, "the new password works");

    let updated = json_of(
        &daemon
            .run(&[
                "user",
                "set",
                "alice",
                "--callback",
                "https://example.com/hook",
                "--json",
            ])
            .await,
    );
    assert_eq!(updated["callback_url"], "https://example.com/hook");
    let oauth = daemon
        .run_with_stdin(
            &[
                "user",
                "set",
                "alice",
                "--oauth-login",
                "client",
                "--oauth-password-stdin",
                "--json",
            ],
            "s3cret",
        )
        .await;
    assert_eq!(json_of(&oauth)["has_oauth_password"], true);

    let refused = daemon.run(&["user", "rm", "alice"]).await;
    assert_fails(&refused, 1, "--yes");
    assert_ok(&daemon.run(&["user", "rm", "alice", "--yes"]).await);
    assert_eq!(
        json_of(&daemon.run(&["user", "list", "--json"]).await),
        json!([])
    );

    assert_fails(
        &daemon.run(&["user", "rm", "bob", "--yes"]).await,
        1,
        "user 'bob' does not exist",
    );
    assert_fails(
        &daemon
            .run_with_stdin(&["user", "add", "al", "--password-stdin"], "pass")
            .await,
        1,
        "at least 3 characters",
    );
}

/// Reads a QR code drawn with half blocks back into modules and decodes it.
fn decode_terminal_qr(lines: &[String]) -> String {
    const SCALE: usize = 4;
    const MARGIN: usize = 8;
    let rows: Vec<Vec<char>> = lines.iter().map(|l| l.chars().collect()).collect();
    let modules_wide = rows[0].len();
    let modules_high = rows.len() * 2;
    let dark = |x: usize, y: usize| match rows[y / 2][x] {
        '█' => true,
        '▀' => y.is_multiple_of(2),
        '▄' => !y.is_multiple_of(2),
        _ => false,
    };
    let (width, height) = (
        modules_wide * SCALE + 2 * MARGIN,
        modules_high * SCALE + 2 * MARGIN,
    );
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        let inside =
            (MARGIN..width - MARGIN).contains(&x) && (MARGIN..height - MARGIN).contains(&y);
        if inside && dark((x - MARGIN) / SCALE, (y - MARGIN) / SCALE) {
            0
        } else {
            255
        }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in:\n{}", lines.join("\n"));
    let (_, content) = grids[0].decode().expect("the QR code decodes");
    content
}

fn is_qr_line(line: &str) -> bool {
    !line.is_empty() && line.chars().all(|c| matches!(c, ' ' | '▀' | '▄' | '█'))
}

#[tokio::test]
async fn session_start_draws_a_qr_that_decodes_and_connects_when_scanned() {
    let daemon = Daemon::start().await;
    let mut child = daemon
        .wagw()
        .args(["session", "start", "demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wagw");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut qr = Vec::new();
    while let Some(line) = lines.next_line().await.expect("read wagw") {
        if is_qr_line(&line) {
            qr.push(line);
        } else if !qr.is_empty() {
            break;
        }
    }
    assert!(qr.len() > 10, "a QR code was drawn");
    let width = qr[0].chars().count();
    assert!(
        qr.iter().all(|l| l.chars().count() == width),
        "the QR lines are even"
    );
    assert!(qr[0].chars().all(|c| c == ' '), "a quiet zone on top");
    let decoded = decode_terminal_qr(&qr);

    let sessions = daemon.get("/session").await;
    let demo = sessions["data"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["session"] == "demo")
        .expect("demo listed");
    assert_eq!(demo["status"], "qr");
    assert_eq!(
        decoded,
        demo["qr"].as_str().expect("the current QR"),
        "the drawn QR is the session's QR"
    );

    let scanned = daemon
        .post(
            "/sandbox/scan",
            json!({"session": "demo", "phone": "628111222333"}),
        )
        .await;
    assert_eq!(scanned["data"]["phone"], "628111222333", "{scanned}");
    let mut rest = String::new();
    while let Some(line) = lines.next_line().await.expect("read wagw") {
        rest.push_str(&line);
        rest.push('\n');
    }
    let status = child.wait().await.expect("wagw exits");
    assert!(
        status.success(),
        "exit {status:?}; output after the QR: {rest}"
    );
    assert!(
        rest.contains("session 'demo' connected as 628111222333"),
        "{rest}"
    );

    let listed = json_of(&daemon.run(&["session", "list", "--json"]).await);
    assert_eq!(
        listed,
        daemon.get("/session").await["data"],
        "--json prints what GET /session returns under data"
    );
    assert_eq!(listed[0]["status"], "connected");
}

#[tokio::test]
async fn session_start_with_a_pairing_code() {
    let daemon = Daemon::start().await;
    let out = daemon
        .run(&[
            "session",
            "start",
            "paired",
            "--pair-phone",
            "+62 811-1111-2222",
        ])
        .await;
    assert_ok(&out);
    assert!(stdout(&out).contains("Pairing code: "), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("connected as 6281111112222"),
        "{}",
        stdout(&out)
    );
    assert_fails(
        &daemon
            .run(&["session", "start", "bad", "--pair-phone", "12ab"])
            .await,
        1,
        "is not a valid phone number",
    );
}

#[tokio::test]
async fn send_uploads_a_large_file_and_text() {
    let daemon = Daemon::start_with(&[("WAGW_SANDBOX_AUTOSCAN_MS", "20")]).await;
    daemon.connected_session("sender").await;

    // Pseudo-random bytes, so nothing along the way can compress them away.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let body: Vec<u8> = (0..5 * 1024 * 1024 + 123)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let file = daemon.dir.path().join("report.pdf");
    std::fs::write(&file, &body).expect("write the file");
    let file_arg = file.to_str().expect("utf-8 path");
    let out = daemon
        .run(&[
            "send",
            "document",
            "--session",
            "sender",
            "--to",
            "628123456789",
            "--file",
            file_arg,
            "--caption",
            "the report",
        ])
        .await;
    assert_ok(&out);
    let id = stdout(&out).trim().to_string();
    assert!(!id.is_empty(), "prints the message id");

    let text = daemon
        .run(&[
            "send",
            "text",
            "--session",
            "sender",
            "--to",
            "628123456789",
            "--reply-to",
            &id,
            "hello there",
        ])
        .await;
    assert_ok(&text);
    let text_id = stdout(&text).trim().to_string();

    let outbox = daemon.get("/sandbox/outbox?session=sender").await;
    let entries = outbox["data"].as_array().expect("outbox");
    let document = entries
        .iter()
        .find(|e| e["id"] == id.as_str())
        .expect("the document was sent");
    let digest: String = Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(document["sha256"], digest.as_str());
    assert_eq!(document["length"], body.len() as u64);
    assert_eq!(document["file_name"], "report.pdf");
    assert_eq!(document["mimetype"], "application/pdf");
    assert_eq!(document["caption"], "the report");
    let reply = entries
        .iter()
        .find(|e| e["id"] == text_id.as_str())
        .expect("the text was sent");
    assert_eq!(reply["text"], "hello there");
    assert_eq!(reply["quoted_message_id"], id.as_str());

    let via_cli = json_of(&daemon.run(&["sandbox", "outbox", "sender", "--json"]).await);
    assert_eq!(via_cli, outbox["data"]);

    // The normalizer's own words, as the HTTP API gives them.
    let http = daemon
        .post(
            "/message/send-text",
            json!({"session": "sender", "to": "12ab", "text": "hi"}),
        )
        .await;
    let message = http["message"]
        .as_str()
        .expect("an error message")
        .to_string();
    let bad = daemon
        .run(&["send", "text", "--session", "sender", "--to", "12ab", "hi"])
        .await;
    assert_fails(&bad, 1, &message);
    let missing = daemon
        .run(&[
            "send",
            "image",
            "--session",
            "sender",
            "--to",
            "628123456789",
            "--file",
            "/nonexistent.png",
        ])
        .await;
    assert_fails(&missing, 1, "/nonexistent.png");
    let not_linked = daemon
        .run(&[
            "send",
            "text",
            "--session",
            "nobody",
            "--to",
            "628123456789",
            "hi",
        ])
        .await;
    assert_fails(&not_linked, 1, "session 'nobody' does not exist");
}

#[tokio::test]
async fn events_follow_an_inbound_message() {
    let daemon = Daemon::start_with(&[("WAGW_SANDBOX_AUTOSCAN_MS", "20")]).await;
    daemon.connected_session("listener").await;
    let mut child = daemon
        .wagw()
        .args(["events", "--session", "listener", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wagw events");
    let mut errors = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let ready = errors
        .next_line()
        .await
        .expect("read stderr")
        .expect("a ready line");
    assert!(ready.contains("following events"), "{ready}");

    let inbound = daemon
        .run(&[
            "sandbox",
            "inbound",
            "listener",
            "--from",
            "628999888777",
            "--text",
            "ping",
        ])
        .await;
    assert_ok(&inbound);
    let id = stdout(&inbound).trim().to_string();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    loop {
        let line = lines
            .next_line()
            .await
            .expect("read events")
            .expect("an event before the stream ends");
        let event: Value = serde_json::from_str(&line).expect("an event is JSON");
        if event["type"] == "message" {
            assert_eq!(event["session"], "listener");
            assert_eq!(event["message"]["id"], id.as_str());
            assert_eq!(event["message"]["text"], "ping");
            break;
        }
    }
    child.kill().await.expect("stop wagw events");
}

#[tokio::test]
async fn status_names_the_engine() {
    let daemon = Daemon::start().await;
    let out = daemon.run(&["status"]).await;
    assert_ok(&out);
    assert!(stdout(&out).contains("engine: sandbox"), "{}", stdout(&out));
    let status = json_of(&daemon.run(&["status", "--json"]).await);
    assert_eq!(status["engine"], "sandbox");
    assert_eq!(status["sessions"]["connected"], 0);
}

#[tokio::test]
async fn a_missing_daemon_is_explained() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("absent.sock");
    let out = Command::new(WAGW)
        .arg("status")
        .env("WAGW_SOCKET", &socket)
        .output()
        .await
        .expect("run wagw");
    assert_fails(&out, 1, &socket.display().to_string());
    assert!(
        stderr(&out).contains("is wagwd running?"),
        "{}",
        stderr(&out)
    );
    let flag = Command::new(WAGW)
        .args(["--socket", socket.to_str().expect("utf-8"), "user", "list"])
        .output()
        .await
        .expect("run wagw");
    assert_fails(&flag, 1, "is wagwd running?");
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let out = Command::new(WAGW)
        .args(["user", "add"])
        .output()
        .await
        .expect("run wagw");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let both = Command::new(WAGW)
        .args([
            "send",
            "image",
            "--session",
            "s",
            "--to",
            "1",
            "--file",
            "a",
            "--url",
            "b",
        ])
        .output()
        .await
        .expect("run wagw");
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
}

/// The positions and line counts of the in-place redraws (`ESC[nA ESC[J`) in terminal output.
fn redraws(output: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = output[from..].find("A\x1b[J").map(|i| i + from) {
        let start = output[..at].rfind("\x1b[").expect("an escape before A");
        if let Ok(lines) = output[start + 2..at].parse::<usize>() {
            found.push((start, lines));
        }
        from = at + 4;
    }
    found
}

#[tokio::test]
async fn a_rotating_qr_is_redrawn_in_place_on_a_terminal_until_the_codes_run_out() {
    let daemon = Daemon::start_with(&[("WAGW_SANDBOX_QR_TTL_MS", "300")]).await;
    // util-linux `script` gives wagw a real terminal and copies what it draws to our pipe.
    let out = Command::new("script")
        .args([
            "-q",
            "-e",
            "-f",
            "-c",
            &format!("{WAGW} session start rotating"),
            "/dev/null",
        ])
        .env("WAGW_SOCKET", &daemon.socket)
        .env("TERM", "xterm-256color")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run wagw under script(1)");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "exhausted codes fail:\n{screen}"
    );
    assert!(
        screen.contains("QR codes expired"),
        "the reason is given:\n{screen}"
    );

    let painted = "\x1b[30;107m";
    let moves = redraws(&screen);
    assert!(
        moves.len() >= 2,
        "the code rotated and was redrawn:\n{screen:?}"
    );
    let mut previous = 0;
    for (at, lines) in &moves {
        let drawn_before = screen[previous..*at].matches(painted).count();
        assert_eq!(
            *lines, drawn_before,
            "each redraw moves up exactly over the previous code"
        );
        previous = *at;
    }
    let total = screen.matches(painted).count();
    assert_eq!(
        total,
        moves[0].1 * (moves.len() + 1),
        "every code has the same height; nothing else is painted"
    );
}

#[tokio::test]
async fn sandbox_verbs_and_logout() {
    let daemon = Daemon::start_with(&[("WAGW_SANDBOX_AUTOSCAN_MS", "20")]).await;
    daemon.connected_session("verbs").await;
    let status = json_of(&daemon.run(&["status", "--json"]).await);
    assert_eq!(status["sessions"]["connected"], 1);

    let dropped = daemon.run(&["sandbox", "drop", "verbs"]).await;
    assert_ok(&dropped);
    assert!(
        stdout(&dropped).contains("reconnects by itself"),
        "{}",
        stdout(&dropped)
    );

    let inbound = daemon
        .run(&[
            "sandbox",
            "inbound",
            "nobody",
            "--from",
            "628999888777",
            "--text",
            "hi",
        ])
        .await;
    assert_fails(&inbound, 1, "nobody");
    let scan = daemon.run(&["sandbox", "scan", "nobody"]).await;
    assert_fails(&scan, 1, "nobody");

    let out = daemon.run(&["session", "logout", "verbs"]).await;
    assert_ok(&out);
    assert!(stdout(&out).contains("Logged out"), "{}", stdout(&out));
    assert_fails(
        &daemon.run(&["session", "logout", "verbs"]).await,
        1,
        "session 'verbs' does not exist",
    );
    assert_fails(
        &daemon.run(&["session", "start", "../etc"]).await,
        1,
        "is not a valid session name",
    );
}

#[tokio::test]
async fn ctrl_c_cancels_session_start() {
    let daemon = Daemon::start().await;
    let mut child = daemon
        .wagw()
        .args(["session", "start", "impatient"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wagw");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    while let Some(line) = lines.next_line().await.expect("read wagw") {
        if line.starts_with("Scan with WhatsApp") {
            break;
        }
    }
    let pid = child.id().expect("a running wagw").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let out = child.wait_with_output().await.expect("wagw exits");
    assert_fails(&out, 1, "cancelled; session 'impatient' was not linked");
}

/// A real HTTP receiver for webhooks: answers every request with the current status and hands
/// each JSON body to the test.
struct Hook {
    url: String,
    status: Arc<AtomicU16>,
    bodies: mpsc::UnboundedReceiver<Value>,
}

impl Hook {
    async fn start(status: u16) -> Hook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let status = Arc::new(AtomicU16::new(status));
        let (tx, bodies) = mpsc::unbounded_channel();
        let answer = status.clone();
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let (tx, answer) = (tx.clone(), answer.clone());
            async move {
                let _ = tx.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
                axum::http::StatusCode::from_u16(answer.load(Ordering::SeqCst))
                    .expect("a status code")
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Hook {
            url,
            status,
            bodies,
        }
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    async fn next(&mut self) -> Value {
        tokio::time::timeout(PATIENCE, self.bodies.recv())
            .await
            .expect("a webhook within the patience timeout")
            .expect("the receiver is running")
    }

    /// Bodies until one for which `wanted` holds; returns them all, that one last.
    async fn until(&mut self, wanted: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let body = self.next().await;
            let found = wanted(&body);
            seen.push(body);
            if found {
                return seen;
            }
        }
    }
}

/// Bounds every wait on wagwd; generous for a loaded machine.
const PATIENCE: Duration = Duration::from_secs(30);

impl Daemon {
    /// wagwd records a delivery's outcome just after the receiver answers and announces nothing
    /// when it does, so this re-reads a `--json` listing until `done` holds (bounded).
    async fn until_json(&self, args: &[&str], done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let value = json_of(&self.run(args).await);
            if done(&value) {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "wagw {args:?} never showed what was expected; last: {value}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn ids_of(rows: &Value, key: &str) -> Vec<String> {
    let mut ids: Vec<String> = rows
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|row| row[key].as_str().expect("a string id").to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn webhooks_refused_by_a_receiver_are_listed_and_redelivered() {
    let mut hook = Hook::start(400).await;
    let daemon = Daemon::start_with(&[("WAGW_SANDBOX_AUTOSCAN_MS", "20")]).await;
    assert_ok(
        &daemon
            .run_with_stdin(
                &[
                    "user",
                    "add",
                    "ann",
                    "--password-stdin",
                    "--callback",
                    &hook.url,
                ],
                "ann-pass-1",
            )
            .await,
    );
    daemon.connected_session("ann").await;
    let inbound = daemon
        .run(&[
            "sandbox",
            "inbound",
            "ann",
            "--from",
            "628999888777",
            "--text",
            "lost?",
        ])
        .await;
    assert_ok(&inbound);
    let message_id = stdout(&inbound).trim().to_string();
    let mut tried = hook.until(|b| b["messageId"] == message_id.as_str()).await;

    // A 400 is final: once nothing is pending, every event the receiver saw is failed.
    daemon
        .until_json(
            &["webhooks", "list", "--status", "pending", "--json"],
            |rows| rows.as_array().is_some_and(Vec::is_empty),
        )
        .await;
    while let Ok(body) = hook.bodies.try_recv() {
        tried.push(body);
    }
    let failed = json_of(
        &daemon
            .run(&["webhooks", "list", "--status", "failed", "--json"])
            .await,
    );
    assert_eq!(
        ids_of(&failed, "event_id"),
        ids_of(&Value::Array(tried.clone()), "id")
    );
    assert!(
        failed
            .as_array()
            .expect("rows")
            .iter()
            .all(|d| d["last_status"] == 400)
    );
    assert_eq!(
        failed,
        daemon.get("/admin/webhooks?state=failed").await["data"],
        "--json prints what the HTTP API returns under data"
    );
    let status = json_of(&daemon.run(&["status", "--json"]).await);
    assert_eq!(
        status["webhooks"],
        json!({"pending": 0, "failed": failed.as_array().expect("rows").len(), "oldest_pending_seconds": null})
    );
    let human = daemon.run(&["status"]).await;
    assert!(
        stdout(&human).contains(&format!("webhooks: 0 pending, {} failed", tried.len())),
        "{}",
        stdout(&human)
    );
    let mine = json_of(
        &daemon
            .run(&["webhooks", "list", "--user", "ann", "--json"])
            .await,
    );
    assert_eq!(ids_of(&mine, "id"), ids_of(&failed, "id"));
    let table = daemon
        .run(&["webhooks", "list", "--status", "failed"])
        .await;
    assert_ok(&table);
    assert!(stdout(&table).contains("HTTP 400"), "{}", stdout(&table));
    assert_fails(
        &daemon.run(&["webhooks", "list", "--user", "nobody"]).await,
        1,
        "user 'nobody' does not exist",
    );

    // The receiver is fixed. An unknown id fails the command but not the known one beside it.
    hook.answer(204);
    let message_delivery = failed
        .as_array()
        .expect("rows")
        .iter()
        .find(|d| d["kind"] == "message")
        .expect("the message delivery");
    let delivery_id = message_delivery["id"].as_str().expect("an id");
    let mixed = daemon
        .run(&["webhooks", "redeliver", delivery_id, "no-such-delivery"])
        .await;
    assert_fails(&mixed, 1, "no webhook delivery 'no-such-delivery'");
    assert!(
        stdout(&mixed).contains(&format!("{delivery_id} queued")),
        "{}",
        stdout(&mixed)
    );
    let again = hook.next().await;
    assert_eq!(again["messageId"], message_id.as_str());
    assert_eq!(again["id"], message_delivery["event_id"]);

    // Every other failed delivery (the session's status events), in one command.
    let all = daemon
        .run(&["webhooks", "redeliver", "--all-failed", "--user", "ann"])
        .await;
    assert_ok(&all);
    let rest = failed.as_array().expect("rows").len() - 1;
    assert!(
        stdout(&all).contains(&format!("{rest} failed deliveries queued again")),
        "{}",
        stdout(&all)
    );
    let mut redelivered = vec![again];
    for _ in 0..rest {
        redelivered.push(hook.next().await);
    }
    assert_eq!(
        ids_of(&Value::Array(redelivered), "id"),
        ids_of(&failed, "event_id")
    );
    let delivered = daemon
        .until_json(
            &["webhooks", "list", "--status", "delivered", "--json"],
            |rows| rows.as_array().is_some_and(|r| r.len() == rest + 1),
        )
        .await;
    assert_eq!(ids_of(&delivered, "id"), ids_of(&failed, "id"));
    let none = daemon.run(&["webhooks", "redeliver", "--all-failed"]).await;
    assert_ok(&none);
    assert!(
        stdout(&none).contains("no failed deliveries"),
        "{}",
        stdout(&none)
    );

    // Usage errors are exit 2: no ids, or ids with --all-failed.
    assert_eq!(
        daemon.run(&["webhooks", "redeliver"]).await.status.code(),
        Some(2)
    );
    let both = daemon
        .run(&["webhooks", "redeliver", "x", "--all-failed"])
        .await;
    assert_eq!(both.status.code(), Some(2));
    let bad_state = daemon.run(&["webhooks", "list", "--status", "lost"]).await;
    assert_eq!(bad_state.status.code(), Some(2));
}

#[tokio::test]
async fn status_shows_the_webhook_backlog() {
    // 503 is retried, and the first retry is an hour away: every event stays pending.
    let mut hook = Hook::start(503).await;
    let daemon = Daemon::start_with(&[
        ("WAGW_SANDBOX_AUTOSCAN_MS", "20"),
        ("WAGW_WEBHOOK_FIRST_RETRY_MS", "3600000"),
    ])
    .await;
    assert_ok(
        &daemon
            .run_with_stdin(
                &[
                    "user",
                    "add",
                    "bea",
                    "--password-stdin",
                    "--callback",
                    &hook.url,
                ],
                "bea-pass-1",
            )
            .await,
    );
    daemon.connected_session("bea").await;
    // The first 503 pauses the user's queue until its retry: later events wait untried.
    hook.next().await;
    assert_ok(
        &daemon
            .run(&[
                "sandbox",
                "inbound",
                "bea",
                "--from",
                "628999888777",
                "--text",
                "wait",
            ])
            .await,
    );
    let pending = daemon
        .until_json(
            &["webhooks", "list", "--status", "pending", "--json"],
            |rows| {
                rows.as_array()
                    .is_some_and(|r| r.iter().any(|d| d["kind"] == "message"))
            },
        )
        .await;
    let count = pending.as_array().expect("rows").len();
    assert!(count >= 2, "status events and the message wait: {pending}");
    let status = json_of(&daemon.run(&["status", "--json"]).await);
    assert_eq!(status["webhooks"]["pending"], count);
    assert_eq!(status["webhooks"]["failed"], 0);
    let oldest = status["webhooks"]["oldest_pending_seconds"]
        .as_u64()
        .expect("an age while events wait");
    // Both are whole seconds, counted from slightly different instants.
    assert!(oldest <= status["uptime_seconds"].as_u64().expect("uptime") + 1);
    let human = stdout(&daemon.run(&["status"]).await);
    assert!(
        human.contains(&format!("webhooks: {count} pending (oldest waiting ")),
        "{human}"
    );

    // The same figures as /metrics.
    let metrics = daemon
        .http
        .get(format!("{}/metrics", daemon.base))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains(&format!("wagw_webhook_backlog {count}")),
        "{metrics}"
    );
    assert!(metrics.contains("wagw_webhook_failed 0"), "{metrics}");
}

/// The gid of a group by name, from /etc/group.
fn gid_of(name: &str) -> Option<u32> {
    std::fs::read_to_string("/etc/group")
        .ok()?
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            (fields.next()? == name).then(|| fields.nth(1)?.parse().ok())?
        })
}

#[tokio::test]
async fn a_socket_group_opens_the_socket_to_that_group() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let as_root = wagw_proto::current_uid() == 0;
    // As root, a system group wagwd itself is not in; otherwise our own primary group, the
    // only kind an unprivileged wagwd may give a file to (by number, which is accepted too).
    let (group, gid) = if as_root {
        (
            "daemon".to_string(),
            gid_of("daemon").expect("the daemon group in /etc/group"),
        )
    } else {
        let gid = std::fs::metadata("/proc/self").expect("/proc/self").gid();
        (gid.to_string(), gid)
    };
    let daemon = Daemon::start_with(&[("WAGW_SOCKET_GROUP", &group)]).await;
    let meta = std::fs::metadata(&daemon.socket).expect("the socket");
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), gid);
    assert_ok(&daemon.run(&["status"]).await);

    if !as_root {
        return;
    }
    // Root can become a stranger (uid 65534, in no group by the user database).
    std::fs::set_permissions(daemon.dir.path(), std::fs::Permissions::from_mode(0o711))
        .expect("let others reach the socket");
    let as_stranger = async |groups: &[&str]| {
        Command::new("setpriv")
            .arg("--reuid=65534")
            .args(groups)
            .args([WAGW, "status"])
            .env("WAGW_SOCKET", &daemon.socket)
            .output()
            .await
            .expect("run setpriv")
    };
    // Running with the group as its gid: admitted by the peer credentials.
    assert_ok(&as_stranger(&[&format!("--regid={gid}"), "--clear-groups"]).await);
    // The group only as a supplementary group of the process opens the file, but the peer
    // credentials carry no supplementary groups and the user is no member: refused by wagwd.
    let refused = as_stranger(&["--regid=65534", &format!("--groups={gid}")]).await;
    assert_fails(
        &refused,
        1,
        "uid 65534 may not use the wagwd control socket",
    );
    assert!(
        stderr(&refused).contains("member of group 'daemon'"),
        "{}",
        stderr(&refused)
    );
    // Without the group the socket file's mode already refuses.
    let outside = as_stranger(&["--regid=65534", "--clear-groups"]).await;
    assert_fails(&outside, 1, "Permission denied");
}

#[tokio::test]
async fn an_unknown_socket_group_stops_wagwd() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(wagwd())
        .current_dir(dir.path())
        .env("WAGW_ENGINE", "sandbox")
        .env("PORT", "0")
        .env("WAGW_SOCKET", dir.path().join("wagw.sock"))
        .env("WAGW_SOCKET_GROUP", "no-such-group-wagw")
        .output()
        .await
        .expect("run wagwd");
    assert_fails(
        &out,
        2,
        "WAGW_SOCKET_GROUP: there is no group 'no-such-group-wagw'",
    );
}
