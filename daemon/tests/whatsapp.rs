//! The whatsapp engine (real whatsapp-rust clients) inside an in-process wagwd, against the
//! protocol mock in `wa_mock`. The library's timers run 10× faster here, so a QR round that takes
//! 160 s on WhatsApp takes 16 s.

mod common;
mod wa_mock;

use std::collections::HashMap;
use std::sync::Arc;

use common::{ADMIN, Daemon, PATIENCE};
use serde_json::json;
use wa_mock::Mock;
use wagw_daemon::config::Config;
use wagw_daemon::engine::whatsapp::WhatsappEngine;
use wagw_daemon::http::App;

const SPEEDUP: u32 = 10;

struct Gateway {
    daemon: Daemon,
    app: Arc<App>,
    mock: Arc<Mock>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    dir: tempfile::TempDir,
}

/// wagwd with the whatsapp engine, served in this process, its sessions connected to a mock
/// that offers `refs` QR refs per connection.
async fn gateway(refs: usize) -> Gateway {
    gateway_on(tempfile::tempdir().unwrap(), Mock::new(refs)).await
}

async fn gateway_on(dir: tempfile::TempDir, mock: Arc<Mock>) -> Gateway {
    // Library and gateway logs, shown for failing tests (RUST_LOG picks the detail).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    wagw_daemon::media::install_tls_provider();
    let mut vars: HashMap<String, String> = common::base_env(dir.path()).into_iter().collect();
    vars.insert("WAGW_ENGINE".into(), "whatsapp".into());
    let config = Config::from_vars(&vars).unwrap();
    config.prepare_directories().unwrap();
    let engine = WhatsappEngine::new(&config.credentials_dir)
        .unwrap()
        .with_transport(mock.factory(), wa_mock::VERSION)
        .with_speedup(SPEEDUP);
    let app = wagw_daemon::daemon::build_app_with_engine(config, Arc::new(engine)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(wagw_daemon::daemon::serve(app.clone(), listener));
    Gateway {
        daemon: Daemon::attached(base, dir.path()),
        app,
        mock,
        server,
        dir,
    }
}

impl Gateway {
    /// Shuts wagwd down in order, then serves the same directory again with the same mock.
    async fn restart(self) -> Gateway {
        self.app.shutdown.cancel();
        let Gateway {
            server, dir, mock, ..
        } = self;
        tokio::time::timeout(PATIENCE, server)
            .await
            .expect("wagwd did not stop in time")
            .unwrap()
            .unwrap();
        gateway_on(dir, mock).await
    }

    /// Starts `session` and has the mock's phone scan its QR code as `phone`; returns once
    /// the session is connected.
    async fn link(&self, session: &str, phone: &str) {
        let mut events = self.daemon.events(ADMIN).await;
        let started = self
            .daemon
            .ok("/session/start", ADMIN, json!({ "session": session }))
            .await;
        self.mock
            .scan(started["qr"].as_str().unwrap(), phone)
            .unwrap();
        let connected = events.status(session, "connected").await;
        assert_eq!(connected["phone"], phone, "{connected}");
    }
}

/// A QR payload as WhatsApp's apps scan it: `ref,noise-key,identity-key,adv-secret,client-type`.
fn assert_qr_shape(qr: &str) {
    let parts: Vec<&str> = qr.split(',').collect();
    assert_eq!(parts.len(), 5, "{qr}");
    assert!(parts[0].starts_with("2@"), "{qr}");
    // Three 32-byte keys in base64.
    assert!(parts[1..4].iter().all(|p| p.len() == 44), "{qr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_session_shows_the_mocks_qr_code_through_the_api() {
    use std::os::unix::fs::PermissionsExt;
    let gw = gateway(6).await;
    let started = gw
        .daemon
        .ok("/session/start", ADMIN, json!({ "session": "sales" }))
        .await;
    assert_eq!(started["status"], "qr", "{started}");
    assert_qr_shape(started["qr"].as_str().unwrap());
    let stats = gw.mock.stats();
    assert_eq!((stats.handshakes, stats.pair_offers), (1, 1), "{stats:?}");

    let (_, listed) = gw.daemon.get("/session", ADMIN).await;
    assert_eq!(listed["data"][0]["session"], "sales", "{listed}");
    assert_eq!(listed["data"][0]["status"], "qr", "{listed}");

    let credentials = gw.daemon.dir.join("credentials/sales.db");
    let mode = std::fs::metadata(&credentials)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "credentials must be private");

    // Logging out an unlinked session leaves no credential files behind.
    gw.daemon
        .ok("/session/logout", ADMIN, json!({ "session": "sales" }))
        .await;
    for suffix in ["", "-wal", "-shm"] {
        let file = gw.daemon.dir.join(format!("credentials/sales.db{suffix}"));
        assert!(!file.exists(), "{} is left", file.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_codes_rotate_then_run_out_and_a_new_start_links_again() {
    let gw = gateway(3).await;
    let mut events = gw.daemon.events(ADMIN).await;
    let first = gw
        .daemon
        .ok("/session/start", ADMIN, json!({ "session": "slow" }))
        .await;
    let (codes, stopped) = events
        .qr_codes_until_stopped("slow", first["qr"].as_str().unwrap())
        .await;
    assert_eq!(codes.len(), 3, "one code per ref the mock offered");
    codes.iter().for_each(|code| assert_qr_shape(code));
    let reason = stopped["reason"].as_str().unwrap();
    assert!(reason.contains("expired"), "{stopped}");
    let (_, listed) = gw.daemon.get("/session", ADMIN).await;
    assert_eq!(listed["data"][0]["status"], "stopped", "{listed}");
    assert_eq!(listed["data"][0]["reason"], reason, "{listed}");

    // The library hung up on its own when the codes ran out.
    gw.mock.until(PATIENCE, |s| s.closed == 1).await;

    let again = gw
        .daemon
        .ok("/session/start", ADMIN, json!({ "session": "slow" }))
        .await;
    assert_eq!(again["status"], "qr", "{again}");
    let code = again["qr"].as_str().unwrap();
    assert!(!codes.iter().any(|c| c == code), "a fresh round of codes");
    assert_eq!(gw.mock.stats().handshakes, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_lasts_because_the_mock_answers_pings() {
    // Enough refs that QR rotation outlasts the test (6 s + 29 × 2 s).
    let gw = gateway(30).await;
    let started = gw
        .daemon
        .ok("/session/start", ADMIN, json!({ "session": "steady" }))
        .await;
    assert_eq!(started["status"], "qr");
    // The client pings only after 15 s (wall clock, not sped up) without traffic; an unanswered
    // ping ends the connection. Two answered pings span more than WhatsApp's 20 s dead-socket
    // limit.
    gw.mock
        .until(PATIENCE * 2, |s| s.pings >= 2 || s.closed > 0)
        .await;
    let stats = gw.mock.stats();
    assert_eq!((stats.connections, stats.closed), (1, 0), "{stats:?}");
    assert!(stats.pings >= 2, "{stats:?}");
    let (_, listed) = gw.daemon.get("/session", ADMIN).await;
    assert_eq!(listed["data"][0]["status"], "qr", "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_by_the_mocks_phone_links_and_connects_the_session() {
    let gw = gateway(6).await;
    let mut events = gw.daemon.events(ADMIN).await;
    let started = gw
        .daemon
        .ok("/session/start", ADMIN, json!({ "session": "linked" }))
        .await;
    let qr = started["qr"].as_str().unwrap();
    gw.mock.scan(qr, "15550001234").unwrap();
    // The client checked the phone's signature and the QR's secret, then countersigned.
    let paired = events
        .until(|e| e["type"] == "status" && e["session"] == "linked" && e["phone"] == "15550001234")
        .await;
    assert_eq!(paired["status"], "connecting", "{paired}");
    gw.mock.until(PATIENCE, |s| s.signed == 1).await;
    // Then it logged in on a new connection and the library said it is connected.
    let connected = events.status("linked", "connected").await;
    assert_eq!(connected["phone"], "15550001234", "{connected}");
    // The pairing connection, then at least one login. Usually exactly one; sometimes the
    // library reports the 515 hang-up as an unexpected drop and the session reconnects once
    // more, so the count is not fixed (and the listing may catch that reconnect).
    let stats = gw.mock.stats();
    assert!(
        stats.logins >= 1 && stats.handshakes > stats.logins,
        "{stats:?}"
    );
    let (_, listed) = gw.daemon.get("/session", ADMIN).await;
    assert_eq!(listed["data"][0]["phone"], "15550001234", "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_session_reconnects_after_a_restart_without_a_qr_code() {
    let gw = gateway(6).await;
    gw.link("kept", "15550002222").await;
    let logins = gw.mock.stats().logins;

    let gw = gw.restart().await;
    let mut events = gw.daemon.events(ADMIN).await;
    let first = events
        .until(|e| e["session"] == "kept" && (e["type"] == "qr" || e["status"] == "connected"))
        .await;
    assert_eq!(
        first["status"], "connected",
        "no QR code for a linked session: {first}"
    );
    assert_eq!(first["phone"], "15550002222", "{first}");
    let stats = gw.mock.stats();
    assert!(stats.logins > logins, "it logged in again: {stats:?}");
    assert_eq!(stats.pair_offers, 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlinking_on_the_phone_logs_the_session_out_and_removes_its_credentials() {
    let gw = gateway(6).await;
    gw.link("gone", "15550003333").await;
    let mut events = gw.daemon.events(ADMIN).await;
    gw.mock.unlink("15550003333").unwrap();
    let logged_out = events.status("gone", "logged_out").await;
    let reason = logged_out["reason"].as_str().unwrap();
    assert!(reason.contains("unlinked from the phone"), "{logged_out}");
    for suffix in ["", "-wal", "-shm"] {
        let file = gw.daemon.dir.join(format!("credentials/gone.db{suffix}"));
        assert!(!file.exists(), "{} is left", file.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_by_phone_number_shows_a_pairing_code_instead_of_a_qr() {
    let gw = gateway(6).await;
    let started = gw
        .daemon
        .ok(
            "/session/start",
            ADMIN,
            json!({ "session": "bycode", "phone": "+1 555 000 4444" }),
        )
        .await;
    assert_eq!(started["status"], "qr", "{started}");
    let code = started["pair_code"].as_str().unwrap();
    assert_eq!(code.len(), 8, "{started}");
    assert!(code.chars().all(|c| c.is_ascii_alphanumeric()), "{code}");
    assert_eq!(gw.mock.stats().code_requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_reported_and_the_session_reconnects() {
    let gw = gateway(6).await;
    gw.link("flaky", "15550005555").await;
    let mut events = gw.daemon.events(ADMIN).await;
    let logins = gw.mock.stats().logins;
    gw.mock.drop_connection("15550005555").unwrap();
    let dropped = events.status("flaky", "disconnected").await;
    assert!(
        dropped["reason"]
            .as_str()
            .unwrap()
            .contains("connection dropped"),
        "{dropped}"
    );
    let back = events.status("flaky", "connected").await;
    assert_eq!(back["phone"], "15550005555", "{back}");
    assert!(gw.mock.stats().logins > logins);
}
