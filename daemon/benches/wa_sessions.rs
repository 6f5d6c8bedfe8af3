//! Resident memory per real whatsapp-rust session: an in-process wagwd with the whatsapp engine
//! opens N sessions (default 100, `WAGW_BENCH_SESSIONS`) against the protocol mock, each up to
//! its first QR code, and reports the growth of this process's RSS divided by N. The figure
//! includes the gateway's share (session task, store rows, events) and also the mock's
//! per-connection state, so it overstates the gateway alone slightly.
//! Run: `cargo bench -p wagw-daemon --bench wa_sessions`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/wa_mock/mod.rs"]
mod wa_mock;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;
use wagw_daemon::config::Config;
use wagw_daemon::engine::LinkMethod;
use wagw_daemon::engine::whatsapp::WhatsappEngine;
use wagw_daemon::sessions::StartOutcome;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let sessions: usize = std::env::var("WAGW_BENCH_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    wagw_daemon::media::install_tls_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut vars: HashMap<String, String> = common::base_env(dir.path()).into_iter().collect();
    vars.insert("WAGW_ENGINE".into(), "whatsapp".into());
    let config = Config::from_vars(&vars).expect("config");
    config.prepare_directories().expect("directories");
    let mock = wa_mock::Mock::new(6);
    let engine = WhatsappEngine::new(&config.credentials_dir)
        .expect("engine")
        .with_transport(mock.factory(), wa_mock::VERSION);
    let app = wagw_daemon::daemon::build_app_with_engine(config, Arc::new(engine)).expect("app");

    // One session first, so lazily built process-wide state is not counted per session.
    start(&app, "warmup").await;
    let before = rss_kib();
    let started = Instant::now();
    for chunk in (0..sessions).collect::<Vec<_>>().chunks(20) {
        let names: Vec<String> = chunk.iter().map(|i| format!("s{i:04}")).collect();
        join_all(names.iter().map(|name| start(&app, name))).await;
    }
    let elapsed = started.elapsed();
    let after = rss_kib();
    let stats = mock.stats();
    assert_eq!(
        stats.pair_offers,
        sessions + 1,
        "every session got its QR refs"
    );
    let per_session = after.saturating_sub(before) as f64 / sessions as f64;
    println!(
        "whatsapp-rust sessions at the QR stage: {sessions} in {:.1} s; RSS {before} KiB before, \
         {after} KiB after; {per_session:.0} KiB ({:.2} MiB) per session",
        elapsed.as_secs_f64(),
        per_session / 1024.0
    );
    app.sessions
        .shutdown(std::time::Duration::from_secs(10))
        .await;
}

async fn start(app: &wagw_daemon::http::App, name: &str) {
    match app.sessions.start(name, None, LinkMethod::Qr).await {
        Ok(StartOutcome::Qr(_)) => {}
        other => panic!("session {name} did not reach its QR code: {other:?}"),
    }
}
