//! Prometheus metrics: one process-wide recorder, rendered by `GET /metrics`. Counters are
//! incremented where things happen; gauges that are cheaper to read than to track (sessions by
//! state) are filled in at scrape time.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets in seconds, from sub-millisecond sandbox sends to slow media uploads.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Installs the recorder once per process; later calls return the same handle.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(error) => {
                    tracing::warn!(%error, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

pub fn message_sent(kind: &str, took: Duration) {
    metrics::counter!("wagw_messages_sent_total", "type" => kind.to_string()).increment(1);
    metrics::histogram!("wagw_send_duration_seconds").record(took.as_secs_f64());
}

pub fn message_received(kind: &str) {
    metrics::counter!("wagw_messages_received_total", "type" => kind.to_string()).increment(1);
}

pub fn auth_failure(reason: &'static str) {
    metrics::counter!("wagw_auth_failures_total", "reason" => reason).increment(1);
}

/// Counts bcrypt verifications, so the work a flood of wrong passwords causes is observable.
pub fn bcrypt_verification() {
    metrics::counter!("wagw_auth_bcrypt_verifications_total").increment(1);
}

pub fn http_request(route: &str, method: &str, status: u16, took: Duration) {
    let labels = [
        ("route", route.to_string()),
        ("method", method.to_string()),
        ("status", status.to_string()),
    ];
    metrics::counter!("wagw_http_requests_total", &labels).increment(1);
    metrics::histogram!("wagw_http_request_duration_seconds", "route" => route.to_string())
        .record(took.as_secs_f64());
}

pub fn sessions_in_state(state: &'static str, count: usize) {
    metrics::gauge!("wagw_sessions", "state" => state).set(count as f64);
}

pub fn webhook_delivery(outcome: &'static str) {
    metrics::counter!("wagw_webhook_deliveries_total", "outcome" => outcome).increment(1);
}

pub fn webhook_backlog(backlog: &crate::store::outbox::Backlog, now: i64) {
    metrics::gauge!("wagw_webhook_backlog").set(backlog.pending as f64);
    metrics::gauge!("wagw_webhook_failed").set(backlog.failed as f64);
    metrics::gauge!("wagw_webhook_oldest_pending_seconds")
        .set(backlog.oldest_pending_age(now) as f64);
}
