//! `wagw session start|list|logout`.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use wagw_proto::control::v1::{
    ListSessionsRequest, LogoutRequest, SessionUpdate, StartSessionRequest,
};

use super::{Ctx, failed, field, interrupt, parse};
use crate::qr;

#[derive(Subcommand)]
pub enum SessionCommand {
    /// Start a session and link a phone: draws the QR code and waits until it is connected.
    Start {
        name: String,
        /// Link with a pairing code for this phone number instead of a QR code.
        #[arg(long)]
        pair_phone: Option<String>,
    },
    /// List sessions with their state.
    List {
        /// Print JSON for scripts (the objects of GET /session).
        #[arg(long)]
        json: bool,
    },
    /// Log a session out: unlink the device and delete its credentials.
    Logout { name: String },
}

pub async fn run(ctx: &Ctx, command: SessionCommand) -> anyhow::Result<()> {
    match command {
        SessionCommand::Start { name, pair_phone } => start(ctx, name, pair_phone).await,
        SessionCommand::List { json } => {
            let sessions = parse(
                ctx.client()
                    .await?
                    .list_sessions(ListSessionsRequest {})
                    .await
                    .map_err(failed)?,
            )?;
            if json {
                println!("{sessions}");
                return Ok(());
            }
            let rows = sessions.as_array().map(Vec::as_slice).unwrap_or_default();
            if rows.is_empty() {
                println!("no sessions");
            } else {
                println!("{:<20} {:<13} {:<16} REASON", "SESSION", "STATUS", "PHONE");
                for s in rows {
                    println!(
                        "{:<20} {:<13} {:<16} {}",
                        field(s, "session"),
                        field(s, "status"),
                        field(s, "phone"),
                        field(s, "reason")
                    );
                }
            }
            Ok(())
        }
        SessionCommand::Logout { name } => {
            let done = parse(
                ctx.client()
                    .await?
                    .logout(LogoutRequest { session: name })
                    .await
                    .map_err(failed)?,
            )?;
            println!("{}", field(&done, "message"));
            Ok(())
        }
    }
}

/// What the person at the terminal is waiting for, in their words.
fn label(state: &str) -> &str {
    match state {
        "qr" => "waiting for a scan",
        "connecting" => "pairing",
        "connected" => "connected",
        "disconnected" => "reconnecting",
        other => other,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The QR code on screen: redrawn in place on a terminal, printed anew otherwise.
struct Screen {
    terminal: bool,
    spinner: ProgressBar,
    drawn: usize,
    state: String,
    expires_at_ms: Option<i64>,
}

impl Screen {
    fn new() -> Screen {
        let spinner = ProgressBar::new_spinner();
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        spinner.enable_steady_tick(Duration::from_millis(120));
        Screen {
            terminal: std::io::stdout().is_terminal(),
            spinner,
            drawn: 0,
            state: "starting".into(),
            expires_at_ms: None,
        }
    }

    fn draw_qr(&mut self, code: &str) -> anyhow::Result<()> {
        let lines =
            qr::render(code).map_err(|e| anyhow::anyhow!("cannot draw the QR code: {e}"))?;
        let (terminal, drawn) = (self.terminal, self.drawn);
        let mut out = std::io::stdout().lock();
        self.spinner.suspend(|| -> std::io::Result<()> {
            if terminal {
                if drawn == 0 {
                    writeln!(
                        out,
                        "Scan with WhatsApp on the phone: Settings > Linked devices > Link a device"
                    )?;
                } else {
                    // Back to the top of the previous code and clear it: the new one replaces it.
                    write!(out, "\x1b[{drawn}A\x1b[J")?;
                }
                for line in &lines {
                    writeln!(out, "{}", qr::paint(line))?;
                }
            } else {
                for line in &lines {
                    writeln!(out, "{line}")?;
                }
                writeln!(
                    out,
                    "Scan with WhatsApp on the phone: Settings > Linked devices > Link a device"
                )?;
            }
            out.flush()
        })?;
        self.drawn = lines.len();
        Ok(())
    }

    fn show(&mut self, update: &SessionUpdate) -> anyhow::Result<()> {
        if let Some(code) = &update.qr {
            self.draw_qr(code)?;
            self.expires_at_ms = update.qr_expires_at_ms;
        }
        if let Some(code) = &update.pair_code {
            self.spinner.suspend(|| {
                println!("Pairing code: {code}");
                println!("On the phone: WhatsApp > Linked devices > Link a device > Link with phone number instead");
            });
        }
        if update.state != self.state && !self.terminal {
            eprintln!("{}", label(&update.state));
        }
        self.state = update.state.clone();
        self.tick();
        Ok(())
    }

    fn tick(&self) {
        let mut message = label(&self.state).to_string();
        if let (Some(expires), "qr") = (self.expires_at_ms, self.state.as_str()) {
            let left = (expires - now_ms()).max(0) / 1000;
            message.push_str(&format!(" — this code is replaced in {left}s"));
        }
        self.spinner.set_message(message);
    }
}

async fn start(ctx: &Ctx, name: String, pair_phone: Option<String>) -> anyhow::Result<()> {
    // Listening before anything is drawn, so a Ctrl-C at any moment cancels rather than kills.
    let mut interrupt = interrupt()?;
    let mut client = ctx.client().await?;
    let request = StartSessionRequest {
        session: name.clone(),
        pair_phone,
    };
    let mut updates = client
        .start_session(request)
        .await
        .map_err(failed)?
        .into_inner();
    let mut screen = Screen::new();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    loop {
        let update = tokio::select! {
            _ = interrupt.recv() => {
                screen.spinner.finish_and_clear();
                // Dropping the stream tells wagwd the caller is gone; the session keeps its state.
                anyhow::bail!("cancelled; session '{name}' was not linked");
            }
            _ = clock.tick() => {
                screen.tick();
                continue;
            }
            update = updates.message() => update,
        };
        match update {
            Ok(Some(update)) => {
                screen.show(&update)?;
                if update.state == "connected" {
                    screen.spinner.finish_and_clear();
                    match update.phone {
                        Some(phone) => println!("session '{name}' connected as {phone}"),
                        None => println!("session '{name}' connected"),
                    }
                    return Ok(());
                }
            }
            Ok(None) => {
                screen.spinner.finish_and_clear();
                anyhow::bail!("wagwd ended the stream before session '{name}' connected");
            }
            Err(status) => {
                screen.spinner.finish_and_clear();
                return Err(failed(status));
            }
        }
    }
}
