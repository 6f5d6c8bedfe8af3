//! Test harness: starts the real `wagwd` binary on a temp directory and talks to it over HTTP,
//! as an application would. Waiting is done on events (stdout lines, server-sent events), never
//! on fixed sleeps.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const ADMIN: (&str, &str) = ("admin", "admin");
/// Upper bound for anything a test waits for; reached only when something is broken.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct Daemon {
    child: Option<Child>,
    pub base: String,
    pub dir: PathBuf,
    env: Vec<(String, String)>,
    pub http: reqwest::Client,
    _temp: Option<tempfile::TempDir>,
}

pub fn wagwd() -> &'static str {
    env!("CARGO_BIN_EXE_wagwd")
}

/// The environment every test daemon gets: sandbox engine, a free port, files in `dir`.
pub fn base_env(dir: &Path) -> Vec<(String, String)> {
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    [
        ("WAGW_ENGINE", "sandbox".to_string()),
        ("PORT", "0".to_string()),
        ("HOST", "127.0.0.1".to_string()),
        ("DB_PATH", path("wa_gateway.db")),
        ("MEDIA_DIR", path("media")),
        ("CREDENTIALS_DIR", path("credentials")),
        ("WAGW_SOCKET", path("wagw.sock")),
        ("RUST_LOG", "info".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

impl Daemon {
    /// Starts wagwd on a fresh temp directory with extra environment variables.
    pub async fn start(extra: &[(&str, &str)]) -> Daemon {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().to_path_buf();
        let mut daemon = Daemon::start_in(&dir, extra).await;
        daemon._temp = Some(temp);
        daemon
    }

    /// Starts wagwd on an existing directory (for restarts); the caller keeps the directory.
    pub async fn start_in(dir: &Path, extra: &[(&str, &str)]) -> Daemon {
        wagw_daemon::media::install_tls_provider();
        let mut env = base_env(dir);
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        let mut daemon = Daemon {
            child: None,
            base: String::new(),
            dir: dir.to_path_buf(),
            env,
            http: reqwest::Client::new(),
            _temp: None,
        };
        daemon.spawn().await;
        daemon
    }

    /// A handle on a wagwd served in-process at `base` (see `daemon::serve`); it cannot be
    /// restarted through this handle.
    pub fn attached(base: String, dir: &Path) -> Daemon {
        Daemon {
            child: None,
            base,
            dir: dir.to_path_buf(),
            env: Vec::new(),
            http: reqwest::Client::new(),
            _temp: None,
        }
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("wagwd.log"))
            .expect("log file");
        let mut child = Command::new(wagwd())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("start wagwd");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(address) = line.strip_prefix("wagwd listening on http://") {
                    return address.rsplit(':').next().map(str::to_string);
                }
            }
            None
        })
        .await
        .expect("wagwd did not start in time")
        .unwrap_or_else(|| panic!("wagwd exited early; log:\n{}", self.log()));
        // Keep draining stdout so the daemon never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.base = format!("http://127.0.0.1:{port}");
        self.child = Some(child);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("wagwd.log")).unwrap_or_default()
    }

    /// Stops wagwd with SIGTERM and waits for it; returns its exit status code.
    pub async fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let pid = child.id()?;
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let status = tokio::time::timeout(PATIENCE, child.wait())
            .await
            .expect("wagwd did not stop");
        status.ok()?.code()
    }

    /// Kills wagwd with SIGKILL: no chance to clean up.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts wagwd again on the same directory and environment.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    /// Starts wagwd again after it was stopped or killed.
    pub async fn restart_without_stop(&mut self) {
        assert!(self.child.is_none(), "wagwd is still running");
        self.spawn().await;
    }

    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .and_then(Child::id)
            .expect("wagwd is running")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<(&str, &str)>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, self.url(path));
        if let Some((user, password)) = auth {
            request = request.basic_auth(user, Some(password));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str, auth: (&str, &str)) -> (u16, Value) {
        self.call("GET", path, Some(auth), None).await
    }

    pub async fn post(&self, path: &str, auth: (&str, &str), body: Value) -> (u16, Value) {
        self.call("POST", path, Some(auth), Some(body)).await
    }

    /// POST that must succeed; returns `data`.
    pub async fn ok(&self, path: &str, auth: (&str, &str), body: Value) -> Value {
        let (status, value) = self.post(path, auth, body).await;
        assert!(
            (200..300).contains(&status),
            "POST {path} -> {status}: {value}"
        );
        value["data"].clone()
    }

    pub async fn create_user(&self, username: &str, password: &str) -> Value {
        self.ok(
            "/admin/users",
            ADMIN,
            json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Subscribes to `/events` as `auth`; returns once the stream is open.
    pub async fn events(&self, auth: (&str, &str)) -> Events {
        let response = self
            .http
            .get(self.url("/events"))
            .basic_auth(auth.0, Some(auth.1))
            .send()
            .await
            .expect("events");
        assert_eq!(response.status(), 200, "GET /events");
        Events {
            stream: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// Starts `session` as admin and links it by a sandbox scan as `phone`; returns once connected.
    pub async fn link(&self, session: &str, phone: &str) {
        let mut events = self.events(ADMIN).await;
        let started = self
            .ok("/session/start", ADMIN, json!({ "session": session }))
            .await;
        assert_eq!(started["status"], "qr", "{started}");
        self.ok(
            "/sandbox/scan",
            ADMIN,
            json!({ "session": session, "phone": phone }),
        )
        .await;
        events.status(session, "connected").await;
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
        }
    }
}

type ByteStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// A server-sent event stream from `/events`.
pub struct Events {
    stream: ByteStream,
    buffer: String,
}

impl Events {
    /// The next event's JSON.
    pub async fn next(&mut self) -> Value {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let data: String = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect::<Vec<_>>()
                    .join("\n");
                if data.is_empty() {
                    continue; // keep-alive comment
                }
                return serde_json::from_str(&data).unwrap_or(Value::String(data));
            }
            let chunk = tokio::time::timeout(PATIENCE, self.stream.next())
                .await
                .expect("no event in time")
                .expect("event stream ended")
                .expect("event stream failed");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Waits for the first event matching `wanted`; returns it.
    /// Bounded as a whole, since keep-alives would otherwise renew a per-read limit forever.
    pub async fn until(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        let wait = async {
            loop {
                let event = self.next().await;
                if wanted(&event) {
                    return event;
                }
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .expect("the awaited event did not come in time")
    }

    /// Reads until the server ends the stream; false if it is still open after [`PATIENCE`].
    pub async fn ends(&mut self) -> bool {
        tokio::time::timeout(PATIENCE, async {
            while let Some(Ok(_)) = self.stream.next().await {}
        })
        .await
        .is_ok()
    }

    /// Follows `session`'s QR codes until it stops. Returns the distinct codes shown, starting
    /// with `first` (the one `start` answered), and the `stopped` status event.
    pub async fn qr_codes_until_stopped(
        &mut self,
        session: &str,
        first: &str,
    ) -> (Vec<String>, Value) {
        let mut codes = vec![first.to_string()];
        loop {
            let event = self
                .until(|e| e["session"] == session && (e["type"] == "qr" || e["type"] == "status"))
                .await;
            if event["type"] == "qr" {
                let code = event["qr"].as_str().unwrap_or_default().to_string();
                if !codes.contains(&code) {
                    codes.push(code);
                }
            } else if event["status"] == "stopped" {
                return (codes, event);
            }
        }
    }

    pub async fn status(&mut self, session: &str, status: &str) -> Value {
        self.until(|e| e["type"] == "status" && e["session"] == session && e["status"] == status)
            .await
    }

    pub async fn message(&mut self, session: &str) -> Value {
        self.until(|e| e["type"] == "message" && e["session"] == session)
            .await
    }
}

/// A local HTTP server serving fixed files, standing in for the internet in media tests.
pub struct Files {
    pub base: String,
}

impl Files {
    pub async fn serve(files: Vec<(&'static str, &'static str, Vec<u8>)>) -> Files {
        use axum::http::header;
        let mut router = axum::Router::new();
        for (path, mimetype, body) in files {
            router = router.route(
                path,
                axum::routing::get(move || {
                    let body = body.clone();
                    async move { ([(header::CONTENT_TYPE, mimetype)], body) }
                }),
            );
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Files { base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

/// A tiny valid PNG (1x1), and a WebP header good enough for the sandbox.
pub fn png() -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
        .expect("png")
}

pub fn webp() -> Vec<u8> {
    let mut body =
        b"RIFF\x1a\0\0\0WEBPVP8L\x0d\0\0\0\x2f\0\0\0\x10\x07\x10\x11\x11\x88\x88\xfe\x07\0"
            .to_vec();
    body.resize(34, 0);
    body
}
