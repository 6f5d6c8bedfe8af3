//! wagwd: a multi-user WhatsApp gateway daemon. `main.rs` is a thin shell over [`daemon::run`],
//! so integration tests and benches reach everything here.

pub mod accounts;
pub mod auth;
pub mod config;
pub mod control;
pub mod daemon;
pub mod engine;
pub mod http;
pub mod jid;
pub mod media;
pub mod metrics;
pub mod qr;
pub mod sessions;
pub mod store;
pub mod webhooks;
