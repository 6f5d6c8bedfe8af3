//! Durable webhook deliveries per second to a local receiver: each event is committed to the
//! outbox in its own transaction (as a session would), then delivered and marked delivered.
//! Run with `cargo bench -p wagw-daemon --bench webhooks`; `WAGW_BENCH_EVENTS` sets the count.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use axum::Router;
use axum::http::StatusCode;
use tokio::sync::Notify;
use wagw_daemon::config::Config;
use wagw_daemon::media::MediaStore;
use wagw_daemon::sessions::SessionState;
use wagw_daemon::store::{self, Db};
use wagw_daemon::webhooks::Webhooks;

const WRITERS: usize = 8;

fn main() -> anyhow::Result<()> {
    let events: usize = std::env::var("WAGW_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(events))
}

async fn run(events: usize) -> anyhow::Result<()> {
    let received = Arc::new(AtomicUsize::new(0));
    let all_in = Arc::new(Notify::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let (counter, done) = (received.clone(), all_in.clone());
    let app = Router::new().fallback(move || {
        let (counter, done) = (counter.clone(), done.clone());
        async move {
            if counter.fetch_add(1, Ordering::Relaxed) + 1 == events {
                done.notify_one();
            }
            StatusCode::NO_CONTENT
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir()?;
    let vars: HashMap<String, String> = [
        ("DB_PATH", dir.path().join("bench.db").display().to_string()),
        ("MEDIA_DIR", dir.path().join("media").display().to_string()),
        ("WEBHOOK_BASE_URL", url),
        (
            "WAGW_WEBHOOK_CONCURRENCY",
            std::env::var("WAGW_WEBHOOK_CONCURRENCY").unwrap_or_else(|_| "32".into()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::from_vars(&vars)?;
    config.prepare_directories()?;
    let db = Db::open(&config.db_path)?;
    db.call(|c| store::sessions::mark_running(c, "bench", None))
        .await?;
    let media = Arc::new(MediaStore::new(&config, [1; 32])?);
    let hooks = Webhooks::new(&config, db.clone(), media);
    hooks.start()?;

    let started = Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let hooks = hooks.clone();
        writers.spawn(async move {
            for n in (writer..events).step_by(WRITERS) {
                let state = if n % 2 == 0 {
                    SessionState::Connected
                } else {
                    SessionState::Disconnected
                };
                hooks.record_status("bench", state, None, None).await?;
            }
            Ok::<_, store::StoreError>(())
        });
    }
    while let Some(result) = writers.join_next().await {
        result??;
    }
    let committed = started.elapsed();
    all_in.notified().await;
    let delivered = started.elapsed();
    // Outcomes are written right after the responses; give the last batch its commit.
    hooks.shutdown(std::time::Duration::from_secs(10)).await;
    let pending = hooks.list(Some("pending".into()), None, 1000).await?.len();
    println!(
        "webhooks: {events} events committed in {:.2}s ({:.0}/s); delivered in {:.2}s: {:.0} durable deliveries/s ({pending} still pending at stop)",
        committed.as_secs_f64(),
        events as f64 / committed.as_secs_f64(),
        delivered.as_secs_f64(),
        events as f64 / delivered.as_secs_f64()
    );
    Ok(())
}
