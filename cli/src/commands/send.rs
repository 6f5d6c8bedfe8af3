//! `wagw send text|image|document|sticker`: a local file is streamed to wagwd in chunks, with a
//! progress bar; a URL is fetched by wagwd.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use wagw_proto::control::v1::send_part::Part;
use wagw_proto::control::v1::{SendHeader, SendPart};

use super::{Ctx, failed, field, parse};

/// Chunks small enough to keep the progress bar moving, large enough to keep overhead low.
const CHUNK: usize = 256 * 1024;

#[derive(Subcommand)]
pub enum SendCommand {
    /// A text message.
    Text {
        #[command(flatten)]
        target: Target,
        /// The message text.
        text: String,
    },
    /// An image, with an optional caption.
    Image {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        source: Source,
        #[arg(long)]
        caption: Option<String>,
    },
    /// A document, shown to the recipient under --name (default: the file's name).
    Document {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        source: Source,
        #[arg(long)]
        caption: Option<String>,
        /// The file name the recipient sees, with its extension.
        #[arg(long)]
        name: Option<String>,
    },
    /// A sticker: a WebP image.
    Sticker {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        source: Source,
    },
}

#[derive(Args)]
pub struct Target {
    /// The session that sends.
    #[arg(long)]
    session: String,
    /// Phone number with country code, a JID, or a group id with --group.
    #[arg(long)]
    to: String,
    /// Reply to (quote) this message id.
    #[arg(long)]
    reply_to: Option<String>,
    /// --to is a group.
    #[arg(long)]
    group: bool,
    /// Print the answer as JSON (the object of POST /message/send-*).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct Source {
    /// A local file, uploaded to wagwd.
    #[arg(long)]
    file: Option<PathBuf>,
    /// An http(s) URL that wagwd fetches.
    #[arg(long)]
    url: Option<String>,
}

pub async fn run(ctx: &Ctx, command: SendCommand) -> anyhow::Result<()> {
    let (target, kind, text, source, name) = match command {
        SendCommand::Text { target, text } => (target, "text", Some(text), None, None),
        SendCommand::Image {
            target,
            source,
            caption,
        } => (target, "image", caption, Some(source), None),
        SendCommand::Document {
            target,
            source,
            caption,
            name,
        } => (target, "document", caption, Some(source), name),
        SendCommand::Sticker { target, source } => (target, "sticker", None, Some(source), None),
    };
    let file = source.as_ref().and_then(|s| s.file.clone());
    let mut header = SendHeader {
        session: target.session,
        to: target.to,
        kind: kind.into(),
        text,
        reply_to: target.reply_to,
        group: target.group,
        file_name: name,
        url: source.and_then(|s| s.url),
        length: 0,
    };
    // Open the file before connecting, so a typo fails fast and says which path.
    let upload = match &file {
        Some(path) => {
            let opened = tokio::fs::File::open(path)
                .await
                .with_context(|| format!("cannot open {}", path.display()))?;
            let length = opened
                .metadata()
                .await
                .with_context(|| format!("cannot read {}", path.display()))?
                .len();
            header.length = length;
            if header.file_name.is_none() {
                header.file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            }
            Some((opened, length))
        }
        None => None,
    };
    let mut client = ctx.client().await?;
    let (tx, rx) = mpsc::channel(4);
    tx.send(SendPart {
        part: Some(Part::Header(header)),
    })
    .await
    .map_err(|_| anyhow::anyhow!("the upload stopped"))?;
    let progress = match upload {
        Some((opened, length)) => {
            let bar = ProgressBar::new(length);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let path = file.clone().unwrap_or_default();
            tokio::spawn(stream_file(opened, path, tx, bar.clone()));
            Some(bar)
        }
        None => {
            drop(tx);
            None
        }
    };
    let result = client.send(ReceiverStream::new(rx)).await;
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let sent = parse(result.map_err(failed)?)?;
    if target.json {
        println!("{sent}");
    } else {
        println!("{}", field(&sent, "id"));
    }
    Ok(())
}

/// Sends the file as chunks; stops quietly when wagwd has already answered (the receiver is gone).
async fn stream_file(
    mut file: tokio::fs::File,
    path: PathBuf,
    tx: mpsc::Sender<SendPart>,
    bar: ProgressBar,
) {
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let read = match file.read(&mut buffer).await {
            Ok(0) => return,
            Ok(read) => read,
            Err(error) => {
                bar.suspend(|| eprintln!("wagw: reading {} failed: {error}", display(&path)));
                return;
            }
        };
        let part = SendPart {
            part: Some(Part::Chunk(buffer[..read].to_vec())),
        };
        if tx.send(part).await.is_err() {
            return;
        }
        bar.inc(read as u64);
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
