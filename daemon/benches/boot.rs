//! Boot and footprint figures on the sandbox engine, against the release wagwd:
//! time to healthy and RSS of an idle daemon, then 1,000 linked sessions restored at boot
//! (time until all are connected, RSS, RSS per session). Run: `cargo bench -p wagw-daemon --bench boot`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::time::Instant;

use common::{ADMIN, Daemon};
use serde_json::json;

const SESSIONS: usize = 1000;
const RUNS: usize = 5;

/// A KiB figure from /proc/PID/status: `VmRSS`, or its parts `RssAnon` (the process's own
/// memory) and `RssFile` (mapped pages of the binary and libraries, shared and reclaimable).
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| {
                    l.strip_prefix(field)
                        .is_some_and(|rest| rest.starts_with(':'))
                })
                .map(str::to_string)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    // Idle daemon: start to healthy, and resident memory with no sessions.
    let mut healthy_ms = Vec::new();
    let mut idle_rss = Vec::new();
    let mut idle_anon = Vec::new();
    let mut idle_file = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut daemon = Daemon::start(&[]).await;
        let (status, _) = daemon.call("GET", "/health", None, None).await;
        assert_eq!(status, 200);
        healthy_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        idle_rss.push(rss_kib(daemon.pid()) as f64);
        idle_anon.push(status_kib(daemon.pid(), "RssAnon") as f64);
        idle_file.push(status_kib(daemon.pid(), "RssFile") as f64);
        daemon.stop().await;
    }

    // 1,000 linked sessions, then a restart that restores them all.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut daemon = Daemon::start_in(dir.path(), &[("WAGW_SANDBOX_AUTOSCAN_MS", "1")]).await;
    let mut events = daemon.events(ADMIN).await;
    for chunk in (0..SESSIONS).collect::<Vec<_>>().chunks(100) {
        let starts = chunk.iter().map(|i| {
            daemon.post(
                "/session/start",
                ADMIN,
                json!({ "session": format!("s{i:04}") }),
            )
        });
        futures_util::future::join_all(starts).await;
    }
    let mut connected = HashSet::new();
    while connected.len() < SESSIONS {
        let event = events
            .until(|e| e["type"] == "status" && e["status"] == "connected")
            .await;
        connected.insert(event["session"].as_str().unwrap_or_default().to_string());
    }
    drop(events);

    let mut restore_ms = Vec::new();
    let mut loaded_rss = Vec::new();
    for _ in 0..RUNS {
        daemon.stop().await;
        let started = Instant::now();
        daemon.restart_without_stop().await;
        let mut events = daemon.events(ADMIN).await;
        let (_, listed) = daemon.get("/session", ADMIN).await;
        let mut up: HashSet<String> = listed["data"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|s| s["status"] == "connected")
                    .map(|s| s["session"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        while up.len() < SESSIONS {
            let event = events
                .until(|e| e["type"] == "status" && e["status"] == "connected")
                .await;
            up.insert(event["session"].as_str().unwrap_or_default().to_string());
        }
        restore_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        loaded_rss.push(rss_kib(daemon.pid()) as f64);
    }
    daemon.stop().await;

    let idle = median(idle_rss);
    let loaded = median(loaded_rss);
    println!("| measure (median of {RUNS}) | value |");
    println!("| --- | --- |");
    println!(
        "| idle daemon: start to healthy | {:.1} ms |",
        median(healthy_ms)
    );
    println!("| idle daemon: RSS | {:.1} MiB |", idle / 1024.0);
    println!(
        "| idle daemon: RSS of its own memory (RssAnon) | {:.1} MiB |",
        median(idle_anon) / 1024.0
    );
    println!(
        "| idle daemon: RSS of mapped binary and libraries (RssFile) | {:.1} MiB |",
        median(idle_file) / 1024.0
    );
    println!(
        "| restore {SESSIONS} linked sandbox sessions: start to all connected | {:.0} ms |",
        median(restore_ms)
    );
    println!(
        "| RSS with {SESSIONS} connected sandbox sessions | {:.1} MiB |",
        loaded / 1024.0
    );
    println!(
        "| RSS per connected sandbox session | {:.1} KiB |",
        (loaded - idle) / SESSIONS as f64
    );
}
