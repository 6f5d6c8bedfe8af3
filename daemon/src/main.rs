use std::process::ExitCode;

use clap::Parser;
use wagw_daemon::config::{Config, LogFormat};

/// wagwd: the wagw WhatsApp gateway daemon. Configured by environment variables and `.env`.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Validate the configuration, print a summary and exit.
    #[arg(long)]
    check_config: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::from_env().and_then(|c| c.prepare_directories().map(|()| c)) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("wagwd: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        println!(
            "configuration ok: engine={} listen={}:{} db={} media={} credentials={} socket={}",
            config.engine.as_str(),
            config.host,
            config.port,
            config.db_path.display(),
            config.media_dir.display(),
            config.credentials_dir.display(),
            config.socket_path.display()
        );
        return ExitCode::SUCCESS;
    }
    init_logging(config.log_format);
    if config.admin_uses_default_password() {
        tracing::warn!("ADMIN_PASSWORD is not set: admin/admin works from this machine only");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("wagwd: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(wagw_daemon::daemon::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wagwd: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
