//! `wagw events`: follows live events until Ctrl-C.

use clap::Args;
use wagw_proto::control::v1::WatchEventsRequest;

use super::{Ctx, failed, field};

#[derive(Args)]
pub struct EventsArgs {
    /// Only this session's events.
    #[arg(long)]
    session: Option<String>,
    /// One JSON object per line, as GET /events sends them.
    #[arg(long)]
    json: bool,
}

pub async fn run(ctx: &Ctx, args: EventsArgs) -> anyhow::Result<()> {
    let mut interrupt = super::interrupt()?;
    let mut client = ctx.client().await?;
    let mut events = client
        .watch_events(WatchEventsRequest {
            session: args.session.clone(),
        })
        .await
        .map_err(failed)?
        .into_inner();
    loop {
        let event = tokio::select! {
            _ = interrupt.recv() => return Ok(()),
            event = events.message() => event.map_err(failed)?,
        };
        let Some(event) = event else {
            anyhow::bail!("wagwd closed the event stream (is it shutting down?)");
        };
        if event.r#type == "ready" {
            // Everything from here on is followed: scripts may wait for this line.
            match &args.session {
                Some(session) => {
                    eprintln!("following events of session '{session}' (Ctrl-C to stop)")
                }
                None => eprintln!("following events (Ctrl-C to stop)"),
            }
            continue;
        }
        if args.json {
            println!("{}", event.json);
        } else {
            println!("{}", summary(&event.r#type, &event.session, &event.json));
        }
    }
}

/// One line for people: the session, the kind of event and what matters in it.
fn summary(kind: &str, session: &str, json: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let detail = match kind {
        "status" => {
            let mut text = field(&value, "status");
            if let Some(reason) = value.get("reason").and_then(|r| r.as_str()) {
                text.push_str(&format!(" ({reason})"));
            }
            text
        }
        "qr" => "new QR code".to_string(),
        "pair_code" => format!("pairing code {}", field(&value, "code")),
        "message" => {
            let message = value.get("message").cloned().unwrap_or_default();
            let direction = if message
                .get("from_me")
                .and_then(|f| f.as_bool())
                .unwrap_or(false)
            {
                "to"
            } else {
                "from"
            };
            let text = message.get("text").and_then(|t| t.as_str()).unwrap_or("");
            format!(
                "{} {direction} {} [{}] {text}",
                field(&message, "id"),
                field(&message, "chat"),
                field(&message, "kind")
            )
        }
        "receipt" => format!(
            "{} {}",
            field(&value, "status"),
            field(&value, "message_ids")
        ),
        "lagged" => format!("missed {} events", field(&value, "missed")),
        _ => json.to_string(),
    };
    format!("{session:<16} {kind:<10} {detail}")
}
