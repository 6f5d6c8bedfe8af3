//! One module per command group, each with its clap arguments and a `run`.

pub mod events;
pub mod sandbox;
pub mod send;
pub mod session;
pub mod status;
pub mod user;
pub mod webhooks;

use std::path::PathBuf;

use serde_json::Value;
use tonic::transport::Channel;
use wagw_proto::control::v1::JsonReply;
use wagw_proto::control::v1::control_client::ControlClient;

/// What every command needs: where wagwd listens.
pub struct Ctx {
    pub socket: PathBuf,
}

impl Ctx {
    pub async fn client(&self) -> anyhow::Result<ControlClient<Channel>> {
        let channel = wagw_proto::connect(&self.socket).await?;
        // Replies are small, but a long user or outbox listing must not trip the 4 MiB default.
        Ok(ControlClient::new(channel).max_decoding_message_size(64 * 1024 * 1024))
    }
}

/// The daemon's message, without gRPC framing: it is already written for people.
pub fn failed(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{}", status.message())
}

/// Parses a JSON answer; the daemon sends the same objects as its HTTP API.
pub fn parse(reply: tonic::Response<JsonReply>) -> anyhow::Result<Value> {
    let json = reply.into_inner().json;
    serde_json::from_str(&json)
        .map_err(|e| anyhow::anyhow!("wagwd sent an answer that is not JSON: {e}"))
}

/// A JSON value's field as display text: strings bare, null as "-".
pub fn field(value: &Value, key: &str) -> String {
    match value.get(key) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// Asks a yes/no question on the terminal; no terminal means no.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("{question} — no terminal to ask; pass --yes to confirm");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// Ctrl-C (SIGINT), listened for from now on.
pub fn interrupt() -> anyhow::Result<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::interrupt()).map_err(|e| anyhow::anyhow!("cannot listen for Ctrl-C: {e}"))
}
