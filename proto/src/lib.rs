//! The wagw control API: generated gRPC code, the socket path both binaries agree on, and a
//! client connection that explains itself when wagwd is not there.

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

pub mod control {
    pub mod v1 {
        tonic::include_proto!("wagw.control.v1");
    }
}

/// Resolves the control socket path: `WAGW_SOCKET`, else `/run/wagw/wagw.sock` for root, else
/// `$XDG_RUNTIME_DIR/wagw/wagw.sock`, else a per-uid path under the temp dir.
pub fn socket_path() -> PathBuf {
    resolve_socket_path(
        std::env::var_os("WAGW_SOCKET").map(PathBuf::from),
        current_uid(),
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
    )
}

fn resolve_socket_path(
    explicit: Option<PathBuf>,
    uid: u32,
    runtime_dir: Option<PathBuf>,
) -> PathBuf {
    if let Some(path) = explicit.filter(|p| !p.as_os_str().is_empty()) {
        return path;
    }
    if uid == 0 {
        return PathBuf::from("/run/wagw/wagw.sock");
    }
    if let Some(dir) = runtime_dir.filter(|p| p.is_absolute()) {
        return dir.join("wagw").join("wagw.sock");
    }
    std::env::temp_dir()
        .join(format!("wagw-{uid}"))
        .join("wagw.sock")
}

fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    // The owner of /proc/self is the process's effective uid; no libc call needed.
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

/// A failure to reach wagwd, worded for the person at the terminal.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach wagwd at {path}: {reason} (is wagwd running? set --socket or WAGW_SOCKET)")]
pub struct ConnectError {
    pub path: PathBuf,
    pub reason: String,
}

/// Connects to the control socket at `path`.
pub async fn connect(path: &Path) -> Result<Channel, ConnectError> {
    let fail = |reason: String| ConnectError {
        path: path.to_path_buf(),
        reason,
    };
    if !path.exists() {
        return Err(fail("no socket at that path".into()));
    }
    let socket = path.to_path_buf();
    // The URI is ignored by the connector; tonic just needs a syntactically valid one.
    Endpoint::try_from("http://wagwd.local")
        .map_err(|e| fail(e.to_string()))?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .map_err(|e| fail(source_chain(&e)))
}

fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_socket_wins() {
        let path = resolve_socket_path(Some("/x/y.sock".into()), 0, Some("/run/user/1".into()));
        assert_eq!(path, PathBuf::from("/x/y.sock"));
    }

    #[test]
    fn root_uses_run() {
        assert_eq!(
            resolve_socket_path(None, 0, None),
            PathBuf::from("/run/wagw/wagw.sock")
        );
    }

    #[test]
    fn user_uses_runtime_dir_then_temp() {
        assert_eq!(
            resolve_socket_path(None, 1000, Some("/run/user/1000".into())),
            PathBuf::from("/run/user/1000/wagw/wagw.sock")
        );
        let fallback = resolve_socket_path(None, 1000, Some("relative".into()));
        assert!(fallback.ends_with("wagw-1000/wagw.sock"), "{fallback:?}");
    }
}
