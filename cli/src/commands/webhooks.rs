//! `wagw webhooks list|redeliver`.

use clap::{Subcommand, ValueEnum};
use serde_json::Value;
use wagw_proto::control::v1::{
    ListWebhooksRequest, RedeliverFailedWebhooksRequest, RedeliverWebhookRequest,
};

use super::{Ctx, failed, field, parse};

#[derive(Clone, Copy, ValueEnum)]
pub enum DeliveryState {
    Pending,
    Failed,
    Delivered,
}

impl DeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Failed => "failed",
            DeliveryState::Delivered => "delivered",
        }
    }
}

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// List webhook deliveries, newest first.
    List {
        /// Only deliveries in this state.
        #[arg(long, value_enum)]
        status: Option<DeliveryState>,
        /// Only this user's deliveries (to their own callback URL).
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// At most this many (1-1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON for scripts (the objects of GET /admin/webhooks).
        #[arg(long)]
        json: bool,
    },
    /// Queue deliveries again, with a fresh retry window. Exits 1 if any id is unknown (the
    /// others are still queued).
    Redeliver {
        /// Delivery ids, as `wagw webhooks list` shows them.
        #[arg(required_unless_present = "all_failed", conflicts_with = "all_failed")]
        ids: Vec<String>,
        /// Every failed delivery instead of named ones.
        #[arg(long)]
        all_failed: bool,
        /// With --all-failed: only this user's.
        #[arg(long, value_name = "NAME", requires = "all_failed")]
        user: Option<String>,
        /// Print the queued deliveries as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(ctx: &Ctx, command: WebhooksCommand) -> anyhow::Result<()> {
    match command {
        WebhooksCommand::List {
            status,
            user,
            limit,
            json,
        } => {
            let request = ListWebhooksRequest {
                state: status.map(|s| s.as_str().to_string()),
                user,
                limit: Some(limit),
            };
            let deliveries = parse(
                ctx.client()
                    .await?
                    .list_webhooks(request)
                    .await
                    .map_err(failed)?,
            )?;
            if json {
                println!("{deliveries}");
            } else {
                print_table(&deliveries, unix_now());
            }
        }
        WebhooksCommand::Redeliver {
            ids,
            all_failed,
            user,
            json,
        } => {
            let mut client = ctx.client().await?;
            if all_failed {
                let queued = parse(
                    client
                        .redeliver_failed_webhooks(RedeliverFailedWebhooksRequest { user })
                        .await
                        .map_err(failed)?,
                )?;
                let count = queued.as_array().map_or(0, Vec::len);
                if json {
                    println!("{queued}");
                } else if count == 0 {
                    println!("no failed deliveries");
                } else {
                    println!("{count} failed deliveries queued again");
                }
                return Ok(());
            }
            let (mut queued, mut unknown) = (Vec::new(), 0usize);
            for id in ids {
                match client
                    .redeliver_webhook(RedeliverWebhookRequest { id: id.clone() })
                    .await
                {
                    Ok(reply) => {
                        let delivery = parse(reply)?;
                        if !json {
                            println!(
                                "{} queued ({} to {})",
                                field(&delivery, "id"),
                                field(&delivery, "kind"),
                                field(&delivery, "url")
                            );
                        }
                        queued.push(delivery);
                    }
                    // An unknown id is reported and the rest still go; the exit code tells.
                    Err(status) if status.code() == tonic::Code::NotFound => {
                        eprintln!("wagw: {}", status.message());
                        unknown += 1;
                    }
                    Err(status) => return Err(failed(status)),
                }
            }
            if json {
                println!("{}", Value::Array(queued));
            }
            if unknown > 0 {
                anyhow::bail!("{unknown} of the given deliveries do not exist");
            }
        }
    }
    Ok(())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A duration in seconds as a short age: 42s, 5m, 3h, 2d.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn print_table(deliveries: &Value, now: i64) {
    let rows = deliveries.as_array().map(Vec::as_slice).unwrap_or_default();
    if rows.is_empty() {
        println!("no webhook deliveries");
        return;
    }
    println!(
        "{:<36} {:<9} {:<7} {:<16} {:>4} {:>5} {:<24} URL",
        "ID", "STATE", "KIND", "SESSION", "TRY", "AGE", "LAST"
    );
    for delivery in rows {
        // The receiver's status when it answered, else why there was no answer.
        let last = match (delivery.get("last_status"), delivery.get("last_error")) {
            (Some(Value::Number(status)), _) => format!("HTTP {status}"),
            (_, Some(Value::String(error))) => error.clone(),
            _ => "-".into(),
        };
        let created = delivery
            .get("created_at")
            .and_then(Value::as_i64)
            .map_or_else(|| "-".into(), |at| age(now - at));
        println!(
            "{:<36} {:<9} {:<7} {:<16} {:>4} {:>5} {:<24} {}",
            field(delivery, "id"),
            field(delivery, "state"),
            field(delivery, "kind"),
            field(delivery, "session"),
            field(delivery, "attempts"),
            created,
            clip(&last, 24),
            field(delivery, "url")
        );
    }
}

/// At most `max` characters, marking a cut with an ellipsis.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max - 1).collect();
    format!("{kept}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_clipping() {
        assert_eq!(age(-3), "0s");
        assert_eq!(age(59), "59s");
        assert_eq!(age(61), "1m");
        assert_eq!(age(7200), "2h");
        assert_eq!(age(3 * 86_400 + 5), "3d");
        assert_eq!(clip("short", 24), "short");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
