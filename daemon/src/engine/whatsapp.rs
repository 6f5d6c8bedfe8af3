//! The real WhatsApp network through whatsapp-rust. Not implemented yet: every open is refused
//! with a message that points to the sandbox engine, so nothing pretends to work.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{Engine, EngineError, EngineEvent, EngineSession, LinkMethod};
use crate::config::EngineKind;

pub struct WhatsappEngine {
    credentials_dir: PathBuf,
}

impl WhatsappEngine {
    pub fn new(credentials_dir: &Path) -> WhatsappEngine {
        WhatsappEngine {
            credentials_dir: credentials_dir.to_path_buf(),
        }
    }

    fn credentials_file(&self, session: &str) -> PathBuf {
        self.credentials_dir.join(format!("{session}.db"))
    }
}

#[async_trait]
impl Engine for WhatsappEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Whatsapp
    }

    async fn open(
        &self,
        _session: &str,
        _link: LinkMethod,
        _events: mpsc::Sender<EngineEvent>,
    ) -> Result<Box<dyn EngineSession>, EngineError> {
        Err(EngineError::Unavailable(
            "the whatsapp engine is not available in this build yet; run wagwd with WAGW_ENGINE=sandbox".into(),
        ))
    }

    fn is_linked(&self, session: &str) -> bool {
        self.credentials_file(session).exists()
    }

    async fn remove_credentials(&self, session: &str) -> Result<(), EngineError> {
        let base = self.credentials_file(session);
        for suffix in ["", "-wal", "-shm"] {
            let path = PathBuf::from(format!("{}{suffix}", base.display()));
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(EngineError::Failed(format!(
                        "cannot remove {}: {e}",
                        path.display()
                    )));
                }
            }
        }
        Ok(())
    }
}
