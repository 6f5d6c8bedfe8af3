//! wagw: the operator CLI for wagwd. It speaks the control API on wagwd's Unix socket.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wagw_proto::control::v1::{StatusRequest, control_client::ControlClient};

#[derive(Parser)]
#[command(version, about = "Operate a wagwd daemon over its control socket")]
struct Cli {
    /// Control socket path (default: WAGW_SOCKET, /run/wagw/wagw.sock for root, else per-user).
    #[arg(long, global = true, env = "WAGW_SOCKET")]
    socket: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Daemon version, uptime, engine and sessions by state.
    Status {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let socket = cli.socket.unwrap_or_else(wagw_proto::socket_path);
    let result = match cli.command {
        Command::Status { json } => status(&socket, json).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wagw: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn status(socket: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let channel = wagw_proto::connect(socket).await?;
    let status = ControlClient::new(channel)
        .status(StatusRequest {})
        .await?
        .into_inner();
    if json {
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
        });
        println!("{value}");
    } else {
        println!(
            "wagwd {} (engine: {}), up {}s",
            status.version, status.engine, status.uptime_seconds
        );
        for count in status.sessions {
            println!("  {:<13} {}", count.state, count.count);
        }
    }
    Ok(())
}
