//! wagw: the operator CLI for wagwd, over the control socket. Exit codes scripts can trust:
//! 0 done, 1 failed (the message says why), 2 usage error.

pub mod commands;
pub mod qr;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::Ctx;

#[derive(Parser)]
#[command(version, about = "Operate a wagwd daemon over its control socket")]
struct Cli {
    /// Control socket path (default: WAGW_SOCKET, /run/wagw/wagw.sock for root, else per-user).
    #[arg(long, global = true, env = "WAGW_SOCKET")]
    socket: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Daemon version, uptime, engine and sessions by state.
    Status(commands::status::StatusArgs),
    /// Manage users: add, list, passwd, set, rm.
    #[command(subcommand)]
    User(commands::user::UserCommand),
    /// Link, list and log out WhatsApp sessions.
    #[command(subcommand)]
    Session(commands::session::SessionCommand),
    /// Send a text, image, document or sticker; prints the message id.
    #[command(subcommand)]
    Send(commands::send::SendCommand),
    /// Follow live events until Ctrl-C.
    Events(commands::events::EventsArgs),
    /// List webhook deliveries and queue them again.
    #[command(subcommand)]
    Webhooks(commands::webhooks::WebhooksCommand),
    /// Drive the simulated network (WAGW_ENGINE=sandbox only).
    #[command(subcommand)]
    Sandbox(commands::sandbox::SandboxCommand),
}

/// Parses the command line, runs the command and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    // clap exits with 2 on usage errors and 0 for --help and --version.
    let cli = Cli::parse();
    let ctx = Ctx {
        socket: cli.socket.unwrap_or_else(wagw_proto::socket_path),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("wagw: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Status(args) => commands::status::run(&ctx, args).await,
            Command::User(command) => commands::user::run(&ctx, command).await,
            Command::Session(command) => commands::session::run(&ctx, command).await,
            Command::Send(command) => commands::send::run(&ctx, command).await,
            Command::Events(args) => commands::events::run(&ctx, args).await,
            Command::Webhooks(command) => commands::webhooks::run(&ctx, command).await,
            Command::Sandbox(command) => commands::sandbox::run(&ctx, command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wagw: {error:#}");
            ExitCode::FAILURE
        }
    }
}
