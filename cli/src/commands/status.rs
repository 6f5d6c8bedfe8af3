//! `wagw status`.

use clap::Args;
use wagw_proto::control::v1::StatusRequest;

use super::webhooks::age;
use super::{Ctx, failed};

#[derive(Args)]
pub struct StatusArgs {
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

pub async fn run(ctx: &Ctx, args: StatusArgs) -> anyhow::Result<()> {
    let status = ctx
        .client()
        .await?
        .status(StatusRequest {})
        .await
        .map_err(failed)?
        .into_inner();
    if args.json {
        let sessions: serde_json::Map<String, serde_json::Value> = status
            .sessions
            .iter()
            .map(|s| (s.state.clone(), s.count.into()))
            .collect();
        let value = serde_json::json!({
            "version": status.version,
            "uptime_seconds": status.uptime_seconds,
            "engine": status.engine,
            "sessions": sessions,
            "webhooks": {
                "pending": status.webhooks_pending,
                "failed": status.webhooks_failed,
                "oldest_pending_seconds": status.webhooks_oldest_pending_seconds,
            },
        });
        println!("{value}");
    } else {
        let up = status.uptime_seconds;
        println!(
            "wagwd {} (engine: {}), up {}h {:02}m {:02}s",
            status.version,
            status.engine,
            up / 3600,
            up / 60 % 60,
            up % 60
        );
        println!("sessions:");
        for count in status.sessions {
            println!("  {:<13} {}", count.state, count.count);
        }
        let oldest = status
            .webhooks_oldest_pending_seconds
            .map(|s| format!(" (oldest waiting {})", age(s as i64)))
            .unwrap_or_default();
        println!(
            "webhooks: {} pending{oldest}, {} failed",
            status.webhooks_pending, status.webhooks_failed
        );
        if status.webhooks_failed > 0 {
            println!("  see `wagw webhooks list --status failed`");
        }
    }
    Ok(())
}
