//! Wiring: opens the store, builds the engine and the session manager, serves HTTP, restores
//! sessions, and shuts everything down in order on SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::accounts::Accounts;
use crate::auth::Authenticator;
use crate::config::{Config, EngineKind};
use crate::control;
use crate::engine::{Engine, sandbox::SandboxNetwork, whatsapp::WhatsappEngine};
use crate::http::{self, App};
use crate::media::MediaStore;
use crate::sessions::SessionManager;
use crate::store::{self, Db};
use crate::webhooks::Webhooks;

/// How long in-flight requests and sessions get to finish on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Builds the application state from a validated configuration.
pub fn build_app(config: Config) -> anyhow::Result<Arc<App>> {
    let (engine, sandbox): (Arc<dyn Engine>, _) = match config.engine {
        EngineKind::Sandbox => {
            let network = SandboxNetwork::new(
                &config.credentials_dir,
                config.sandbox_autoscan,
                config.sandbox_qr_ttl,
            );
            (network.clone(), Some(network))
        }
        EngineKind::Whatsapp => (
            Arc::new(WhatsappEngine::new(&config.credentials_dir).context("whatsapp engine")?),
            None,
        ),
    };
    assemble(config, engine, sandbox)
}

/// Builds the application state around a given engine, whatever `config.engine` says. For
/// tests and benches that run wagwd in-process against a protocol mock.
pub fn build_app_with_engine(config: Config, engine: Arc<dyn Engine>) -> anyhow::Result<Arc<App>> {
    assemble(config, engine, None)
}

fn assemble(
    config: Config,
    engine: Arc<dyn Engine>,
    sandbox: Option<Arc<SandboxNetwork>>,
) -> anyhow::Result<Arc<App>> {
    let db = Db::open(&config.db_path)
        .with_context(|| format!("DB_PATH: cannot open {}", config.db_path.display()))?;
    // Signed media links sit in queued webhook bodies and in receivers' hands for days, so
    // their key is made once and kept in the database (see store::secrets), not per process.
    let link_key = store::secrets::key32(
        &store::open_connection(&config.db_path)?,
        store::secrets::MEDIA_LINK_KEY,
        rand::random,
    )
    .context("the media link key")?;
    let media = Arc::new(MediaStore::new(&config, link_key).context("media")?);
    let webhooks = Webhooks::new(&config, db.clone(), media.clone());
    let sessions = SessionManager::new(
        engine,
        db.clone(),
        media.clone(),
        webhooks.clone(),
        config.restore_concurrency,
    );
    let auth = Arc::new(Authenticator::new(&config, db.clone()));
    let accounts = Accounts::new(db.clone(), auth.clone(), sessions.clone())
        .with_private_callbacks(config.webhooks.allow_private);
    Ok(Arc::new(App {
        config,
        db,
        auth,
        sessions,
        accounts,
        media,
        webhooks,
        sandbox,
        started: Instant::now(),
        ready: AtomicBool::new(false),
        shutdown: CancellationToken::new(),
    }))
}

/// Runs wagwd until SIGTERM or SIGINT.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let address = SocketAddr::new(config.host, config.port);
    crate::metrics::handle();
    let app = build_app(config)?;
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("PORT/HOST: cannot listen on {address}"))?;
    serve(app, listener).await
}

/// Serves a built app on `listener` until `app.shutdown` is cancelled (by SIGTERM or SIGINT, or
/// by an in-process caller), then shuts down in order.
pub async fn serve(app: Arc<App>, listener: TcpListener) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    tracing::info!(
        engine = app.config.engine.as_str(),
        "wagwd listening on http://{local}"
    );
    // A stable line on stdout for scripts and tests that start wagwd on port 0.
    println!("wagwd listening on http://{local}");

    let control_socket = control::bind(&app.config.socket_path, app.config.socket_group.as_ref())?;
    let control_path = control_socket.path().to_path_buf();
    // The second ready line: once it is printed, `wagw` can connect.
    println!("wagwd control socket at {}", control_path.display());

    let stop = app.shutdown.clone();
    tokio::spawn(wait_for_signal(stop.clone()));

    app.webhooks.start().context("webhooks")?;

    let restoring = app.clone();
    tokio::spawn(async move {
        match restoring.sessions.restore().await {
            Ok(0) => {}
            Ok(n) => tracing::info!("restored {n} sessions"),
            Err(error) => tracing::error!(%error, "restoring sessions failed"),
        }
        restoring.ready.store(true, Ordering::Release);
    });
    tokio::spawn(prune_messages(app.clone(), stop.clone()));

    let service = http::router(app.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let serving =
        axum::serve(listener, service).with_graceful_shutdown(stop.clone().cancelled_owned());
    let server = tokio::spawn(async move { serving.await });
    let control_server = tokio::spawn(control::serve(app.clone(), control_socket, stop.clone()));

    // Under systemd (Type=notify), say so once HTTP is up; elsewhere this does nothing.
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);

    stop.cancelled().await;
    tracing::info!("shutting down");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    let servers = async {
        let _ = server.await;
        let _ = control_server.await;
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, servers).await.is_err() {
        tracing::warn!("in-flight requests did not finish within {SHUTDOWN_GRACE:?}");
    }
    control::remove_socket(&control_path);
    app.sessions.shutdown(SHUTDOWN_GRACE).await;
    app.webhooks.shutdown(SHUTDOWN_GRACE).await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal(stop: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    stop.cancel();
}

/// Deletes messages past the retention period, hourly.
async fn prune_messages(app: Arc<App>, stop: CancellationToken) {
    let retention = app.config.message_retention.as_secs() as i64;
    loop {
        let before = store::now() - retention;
        match app
            .db
            .call(move |c| store::messages::prune(c, before))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!("pruned {n} messages past retention"),
            Err(error) => tracing::warn!(%error, "pruning messages failed"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(PRUNE_EVERY) => {}
        }
    }
}
