//! The control API: a tonic service on a Unix socket, for the `wagw` CLI. Its callers act as
//! admin, so the socket is private (0600 in a 0700 directory we create; 0660 and group-owned with
//! WAGW_SOCKET_GROUP) and every call checks the caller from the socket's peer credentials.

pub mod access;
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

use crate::config::SocketGroup;
use crate::http::App;
use crate::http::error::ApiError;
pub use access::{Peer, authorize};
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

/// Binds the control socket at `path`: creates its directory if missing (0700, or 0750 owned by
/// the socket group), replaces a stale socket but nothing else, and makes the socket 0600, or
/// 0660 owned by the socket group.
pub fn bind(path: &Path, group: Option<&SocketGroup>) -> anyhow::Result<ControlSocket> {
    if let Some(parent) = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty() && !p.exists())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(if group.is_some() { 0o750 } else { 0o700 })
            .create(parent)
            .with_context(|| format!("WAGW_SOCKET: cannot create {}", parent.display()))?;
        if let Some(group) = group {
            give_to_group(parent, group)?;
        }
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
    // The group first, then the mode: the socket is never group-writable for another group.
    let mode = match group {
        Some(group) => {
            give_to_group(path, group)?;
            0o660
        }
        None => 0o600,
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("WAGW_SOCKET: cannot set the mode of {}", path.display()))?;
    Ok(ControlSocket {
        listener,
        path: path.to_path_buf(),
    })
}

fn give_to_group(path: &Path, group: &SocketGroup) -> anyhow::Result<()> {
    std::os::unix::fs::chown(path, None, Some(group.gid)).with_context(|| {
        format!(
            "WAGW_SOCKET_GROUP: cannot give {} to group '{}' (gid {}); wagwd must run as root or as a member of that group",
            path.display(),
            group.name,
            group.gid
        )
    })
}

/// Serves the control API until `stop` is cancelled, then removes the socket file.
pub async fn serve(app: Arc<App>, socket: ControlSocket, stop: CancellationToken) {
    let daemon_uid = wagw_proto::current_uid();
    let group = app.config.socket_group.clone();
    let service = ControlServer::with_interceptor(
        ControlService::new(app, stop.clone()),
        move |request: Request<()>| {
            let peer = request
                .extensions()
                .get::<UdsConnectInfo>()
                .and_then(|info| info.peer_cred)
                .map(|cred| Peer {
                    uid: cred.uid(),
                    gid: cred.gid(),
                });
            authorize(peer, daemon_uid, group.as_ref(), access::uid_in_group)?;
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
        let socket = bind(&path, None).unwrap();
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A live socket is not taken over.
        let busy = bind(&path, None).err().unwrap().to_string();
        assert!(busy.contains("another wagwd"), "{busy}");
        drop(socket);
        // The listener is gone but the file stays: a stale socket, replaced.
        let again = bind(&path, None).unwrap();
        drop(again);
        remove_socket(&path);
        std::fs::write(&path, b"not a socket").unwrap();
        let refused = bind(&path, None).err().unwrap().to_string();
        assert!(
            refused.contains("WAGW_SOCKET") && refused.contains("not a socket"),
            "{refused}"
        );
    }
}
