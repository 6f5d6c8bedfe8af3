//! The control API: a tonic service on a Unix socket, for the `wagw` CLI. Its callers act as
//! admin, so the socket is private (0600 in a 0700 directory we create) and every call checks
//! the caller's uid from the socket's peer credentials.

mod service;

use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::UdsConnectInfo;
use tonic::{Request, Status};
use wagw_proto::control::v1::control_server::ControlServer;

use crate::http::App;
use crate::http::error::ApiError;
pub use service::ControlService;

/// The bound control socket, ready to serve.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Binds the control socket at `path`: creates its directory (0700) if missing, replaces a stale
/// socket but nothing else, and makes the socket 0600.
pub fn bind(path: &Path) -> anyhow::Result<ControlSocket> {
    if let Some(parent) = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty() && !p.exists())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .with_context(|| format!("WAGW_SOCKET: cannot create {}", parent.display()))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            // A socket that answers belongs to a live daemon; taking it over would strand it.
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                bail!(
                    "WAGW_SOCKET: another wagwd is listening on {}; stop it or choose another path",
                    path.display()
                );
            }
            std::fs::remove_file(path).with_context(|| {
                format!(
                    "WAGW_SOCKET: cannot remove the stale socket {}",
                    path.display()
                )
            })?;
        }
        Ok(_) => bail!(
            "WAGW_SOCKET: {} exists and is not a socket; refusing to replace it",
            path.display()
        ),
        Err(error) if error.kind() == ErrorKind::NotFound => {}
        Err(error) => bail!("WAGW_SOCKET: cannot inspect {}: {error}", path.display()),
    }
    let listener = UnixListener::bind(path)
        .with_context(|| format!("WAGW_SOCKET: cannot listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("WAGW_SOCKET: cannot set the mode of {}", path.display()))?;
    Ok(ControlSocket {
        listener,
        path: path.to_path_buf(),
    })
}

/// Serves the control API until `stop` is cancelled, then removes the socket file.
pub async fn serve(app: Arc<App>, socket: ControlSocket, stop: CancellationToken) {
    let daemon_uid = wagw_proto::current_uid();
    let service = ControlServer::with_interceptor(
        ControlService::new(app, stop.clone()),
        move |request: Request<()>| {
            let peer = request
                .extensions()
                .get::<UdsConnectInfo>()
                .and_then(|info| info.peer_cred)
                .map(|cred| cred.uid());
            authorize(peer, daemon_uid)?;
            Ok(request)
        },
    );
    let ControlSocket { listener, path } = socket;
    let served = tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), stop.cancelled_owned())
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "the control socket failed");
    }
    remove_socket(&path);
}

/// Removes the socket file; a missing file is fine.
pub fn remove_socket(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == ErrorKind::NotFound => {}
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "cannot remove the control socket")
        }
    }
}

/// Admits root and the daemon's own uid; everyone else is refused.
pub fn authorize(peer_uid: Option<u32>, daemon_uid: u32) -> Result<(), Status> {
    match peer_uid {
        Some(0) => Ok(()),
        Some(uid) if uid == daemon_uid => Ok(()),
        Some(uid) => Err(Status::permission_denied(format!(
            "uid {uid} may not use the wagwd control socket; run wagw as root or as uid {daemon_uid}"
        ))),
        None => Err(Status::permission_denied(
            "the caller's credentials are unknown; the control API answers local Unix socket callers only",
        )),
    }
}

/// The gRPC status for an HTTP-edge error: same message, the nearest code.
pub fn status_of(error: ApiError) -> Status {
    use tonic::Code;
    let code = match error.status.as_u16() {
        400 | 415 | 422 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 if error.code.ends_with("_taken") => Code::AlreadyExists,
        409 => Code::FailedPrecondition,
        413 | 429 => Code::ResourceExhausted,
        502 | 503 => Code::Unavailable,
        504 => Code::DeadlineExceeded,
        _ => Code::Internal,
    };
    Status::new(code, error.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use tonic::Code;

    #[test]
    fn root_and_the_daemon_uid_are_admitted() {
        authorize(Some(0), 1000).unwrap();
        authorize(Some(1000), 1000).unwrap();
        authorize(Some(0), 0).unwrap();
    }

    #[test]
    fn other_uids_and_unknown_callers_are_refused() {
        let denied = authorize(Some(1001), 1000).unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert!(
            denied.message().contains("uid 1001"),
            "{}",
            denied.message()
        );
        assert_eq!(
            authorize(None, 1000).unwrap_err().code(),
            Code::PermissionDenied
        );
        assert_eq!(
            authorize(Some(1000), 0).unwrap_err().code(),
            Code::PermissionDenied
        );
    }

    #[test]
    fn errors_keep_their_message() {
        let status = status_of(ApiError::bad_request(
            "invalid_recipient",
            "to: not a number",
        ));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "to: not a number");
        let taken = status_of(ApiError::conflict("username_taken", "taken"));
        assert_eq!(taken.code(), Code::AlreadyExists);
        let missing = status_of(ApiError::new(
            StatusCode::NOT_FOUND,
            "user_not_found",
            "gone",
        ));
        assert_eq!(missing.code(), Code::NotFound);
    }

    #[tokio::test]
    async fn bind_replaces_a_stale_socket_but_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("wagw.sock");
        let socket = bind(&path).unwrap();
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A live socket is not taken over.
        let busy = bind(&path).err().unwrap().to_string();
        assert!(busy.contains("another wagwd"), "{busy}");
        drop(socket);
        // The listener is gone but the file stays: a stale socket, replaced.
        let again = bind(&path).unwrap();
        drop(again);
        remove_socket(&path);
        std::fs::write(&path, b"not a socket").unwrap();
        let refused = bind(&path).err().unwrap().to_string();
        assert!(
            refused.contains("WAGW_SOCKET") && refused.contains("not a socket"),
            "{refused}"
        );
    }
}
