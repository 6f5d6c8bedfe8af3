//! The async runtime each session's whatsapp-rust client runs on: tokio, with every task the
//! library spawns inside the session's tracing span, so its log lines name the session.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tracing::Instrument as _;
use whatsapp_rust::Runtime;
use whatsapp_rust::wacore::runtime::AbortHandle;

pub struct SessionRuntime {
    span: tracing::Span,
    /// Divides every timer. 1 in production; the protocol-mock tests raise it so QR rotation
    /// (60 s + 5 × 20 s) and keepalives happen in seconds.
    speedup: u32,
}

impl SessionRuntime {
    pub fn new(span: tracing::Span, speedup: u32) -> SessionRuntime {
        SessionRuntime {
            span,
            speedup: speedup.max(1),
        }
    }
}

impl Runtime for SessionRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) -> AbortHandle {
        let handle = tokio::spawn(future.instrument(self.span.clone()));
        AbortHandle::new(move || handle.abort())
    }

    fn spawn_detached(&self, future: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
        tokio::spawn(future.instrument(self.span.clone()));
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(duration / self.speedup))
    }

    fn spawn_blocking(
        &self,
        f: Box<dyn FnOnce() + Send + 'static>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let span = self.span.clone();
        Box::pin(async move {
            let _ = tokio::task::spawn_blocking(move || span.in_scope(f)).await;
        })
    }

    fn yield_now(&self) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
        // Multi-threaded tokio: other tasks run on other threads, no cooperative yield needed.
        None
    }
}
