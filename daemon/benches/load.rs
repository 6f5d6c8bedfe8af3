//! Load on the hot path: authenticated `POST /message/send-text` on the sandbox engine from 64
//! keep-alive connections, with the verified-credential cache on and off (bcrypt per request).
//! Run: `cargo bench -p wagw-daemon --bench load`. The load generator shares the machine's cores
//! with wagwd, so read the figures as a floor.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{ADMIN, Daemon};
use serde_json::json;

const CONNECTIONS: usize = 64;

struct Run {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

async fn load(daemon: &Daemon, duration: Duration) -> Run {
    let url = daemon.url("/message/send-text");
    let body = json!({ "session": "bench", "to": "628123456789", "text": "load test" }).to_string();
    let started = Instant::now();
    let workers = (0..CONNECTIONS).map(|_| {
        let (url, body) = (url.clone(), body.clone());
        tokio::spawn(async move {
            // One client per worker: one keep-alive connection each.
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut latencies = Vec::new();
            let mut errors = 0;
            while started.elapsed() < duration {
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .basic_auth("bench", Some("bench-password"))
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        latencies.push(sent.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        })
    });
    let mut run = Run {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for worker in futures_util::future::join_all(workers).await {
        let (latencies, errors) = worker.expect("worker");
        run.requests += latencies.len();
        run.errors += errors;
        run.latencies.extend(latencies);
    }
    run.elapsed = started.elapsed();
    run.latencies.sort();
    run
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

async fn scenario(cache_secs: &str, duration: Duration) -> Run {
    let daemon = Daemon::start(&[("WAGW_AUTH_CACHE_SECS", cache_secs), ("RUST_LOG", "warn")]).await;
    daemon
        .ok(
            "/admin/users",
            ADMIN,
            json!({ "username": "bench", "password": "bench-password", "session_name": "bench" }),
        )
        .await;
    daemon.link("bench", "628900000001").await;
    // Warm up connections and caches, then measure.
    load(&daemon, Duration::from_secs(1)).await;
    load(&daemon, duration).await
}

#[tokio::main]
async fn main() {
    let duration = Duration::from_secs(10);
    println!("| credential cache | requests/s | p50 | p99 | errors |");
    println!("| --- | --- | --- | --- | --- |");
    for (label, cache) in [("on (60 s)", "60"), ("off (bcrypt per request)", "0")] {
        let run = scenario(cache, duration).await;
        println!(
            "| {label} | {:.0} | {:.2} ms | {:.2} ms | {} |",
            run.requests as f64 / run.elapsed.as_secs_f64(),
            percentile(&run.latencies, 0.50),
            percentile(&run.latencies, 0.99),
            run.errors
        );
    }
}
