//! Load on the hot path: authenticated `POST /message/send-text` on the sandbox engine from 64
//! keep-alive connections, with the verified-credential cache on and off (bcrypt per request).
//! The load comes from `wrk` (Debian package `wrk`) on one thread, so wagwd keeps most of the two
//! cores; latencies are wrk's. Run: `cargo bench -p wagw-daemon --bench load` (or `scripts/bench`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use common::{ADMIN, Daemon};
use serde_json::json;

const CONNECTIONS: usize = 64;
const SECONDS: u64 = 10;

struct Run {
    requests_per_second: f64,
    p50: String,
    p99: String,
    non_2xx: u64,
}

/// A wrk script that posts one send-text request, authenticated as the bench user.
fn wrk_script(dir: &std::path::Path) -> std::path::PathBuf {
    let body = json!({ "session": "bench", "to": "628123456789", "text": "load test" });
    let token = base64::engine::general_purpose::STANDARD.encode("bench:bench-password");
    let script = format!(
        "wrk.method = \"POST\"\nwrk.body = '{body}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Basic {token}\"\n"
    );
    let path = dir.join("send-text.lua");
    std::fs::write(&path, script).expect("write wrk script");
    path
}

fn wrk(daemon: &Daemon, script: &std::path::Path, duration: Duration) -> Run {
    let output = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{CONNECTIONS}"),
            &format!("-d{}s", duration.as_secs()),
        ])
        .args(["--latency", "-s"])
        .arg(script)
        .arg(daemon.url("/message/send-text"))
        .output()
        .expect("wrk is not installed: apt-get install wrk (scripts/bench does it)");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "wrk failed: {report}");
    let field = |prefix: &str| {
        report
            .lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
    };
    Run {
        requests_per_second: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .expect("wrk printed no Requests/sec"),
        p50: field("50%").unwrap_or_default(),
        p99: field("99%").unwrap_or_default(),
        non_2xx: field("Non-2xx or 3xx responses:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    }
}

async fn scenario(cache_secs: &str) -> Run {
    let daemon = Daemon::start(&[("WAGW_AUTH_CACHE_SECS", cache_secs), ("RUST_LOG", "warn")]).await;
    daemon
        .ok(
            "/admin/users",
            ADMIN,
            json!({ "username": "bench", "password": "bench-password", "session_name": "bench" }),
        )
        .await;
    daemon.link("bench", "628900000001").await;
    let script = wrk_script(&daemon.dir);
    let daemon_ref = &daemon;
    // wrk blocks; run it off the runtime that serves nothing here but keeps the harness alive.
    tokio::task::block_in_place(|| {
        wrk(daemon_ref, &script, Duration::from_secs(2)); // warm-up
        wrk(daemon_ref, &script, Duration::from_secs(SECONDS))
    })
}

#[tokio::main]
async fn main() {
    println!("| credential cache | requests/s | p50 | p99 | non-2xx |");
    println!("| --- | --- | --- | --- | --- |");
    for (label, cache) in [("on (60 s)", "60"), ("off (bcrypt per request)", "0")] {
        let run = scenario(cache).await;
        println!(
            "| {label} | {:.0} | {} | {} | {} |",
            run.requests_per_second, run.p50, run.p99, run.non_2xx
        );
    }
}
