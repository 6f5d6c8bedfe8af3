//! `wagw sandbox scan|inbound|outbox|drop|unlink`: the simulated network's controls, the same
//! verbs as `/sandbox/*`.

use clap::Subcommand;
use wagw_proto::control::v1::{SandboxInboundRequest, SandboxScanRequest, SandboxSessionRequest};

use super::{Ctx, failed, field, parse};

#[derive(Subcommand)]
pub enum SandboxCommand {
    /// Scan the session's pending QR code with a simulated phone.
    Scan {
        session: String,
        /// The phone that scans (default: a number derived from the session name).
        #[arg(long)]
        phone: Option<String>,
    },
    /// Deliver a message to the session as if --from had sent it; prints its id.
    Inbound {
        session: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        text: Option<String>,
        #[arg(long)]
        image_url: Option<String>,
        #[arg(long)]
        document_url: Option<String>,
        #[arg(long)]
        document_name: Option<String>,
        /// A group JID: the message arrives in that group.
        #[arg(long)]
        group: Option<String>,
        /// The id of a message this one quotes.
        #[arg(long)]
        quoted: Option<String>,
        #[arg(long)]
        push_name: Option<String>,
    },
    /// What the session has sent, oldest first.
    Outbox {
        session: String,
        /// Print JSON (the objects of GET /sandbox/outbox).
        #[arg(long)]
        json: bool,
    },
    /// Drop the session's connection; it reconnects by itself.
    Drop { session: String },
    /// The phone removes the device; the session is logged out.
    Unlink { session: String },
}

pub async fn run(ctx: &Ctx, command: SandboxCommand) -> anyhow::Result<()> {
    let mut client = ctx.client().await?;
    match command {
        SandboxCommand::Scan { session, phone } => {
            let done = parse(
                client
                    .sandbox_scan(SandboxScanRequest { session, phone })
                    .await
                    .map_err(failed)?,
            )?;
            println!(
                "session '{}' scanned by {}",
                field(&done, "session"),
                field(&done, "phone")
            );
        }
        SandboxCommand::Inbound {
            session,
            from,
            text,
            image_url,
            document_url,
            document_name,
            group,
            quoted,
            push_name,
        } => {
            let request = SandboxInboundRequest {
                session,
                from,
                text,
                image_url,
                document_url,
                document_name,
                group,
                quoted_message_id: quoted,
                push_name,
            };
            let done = parse(client.sandbox_inbound(request).await.map_err(failed)?)?;
            println!("{}", field(&done, "messageId"));
        }
        SandboxCommand::Outbox { session, json } => {
            let sent = parse(
                client
                    .sandbox_outbox(SandboxSessionRequest { session })
                    .await
                    .map_err(failed)?,
            )?;
            if json {
                println!("{sent}");
                return Ok(());
            }
            for entry in sent.as_array().map(Vec::as_slice).unwrap_or_default() {
                let body = match entry.get("text").and_then(|t| t.as_str()) {
                    Some(text) => text.to_string(),
                    None => format!(
                        "{} {} bytes sha256 {}",
                        field(entry, "mimetype"),
                        field(entry, "length"),
                        field(entry, "sha256")
                    ),
                };
                println!(
                    "{} to {} [{}] {body}",
                    field(entry, "id"),
                    field(entry, "to"),
                    field(entry, "type")
                );
            }
        }
        SandboxCommand::Drop { session } => {
            let done = parse(
                client
                    .sandbox_drop(SandboxSessionRequest { session })
                    .await
                    .map_err(failed)?,
            )?;
            println!("{}", field(&done, "message"));
        }
        SandboxCommand::Unlink { session } => {
            let done = parse(
                client
                    .sandbox_unlink(SandboxSessionRequest { session })
                    .await
                    .map_err(failed)?,
            )?;
            println!("{}", field(&done, "message"));
        }
    }
    Ok(())
}
