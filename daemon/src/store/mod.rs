//! The SQLite store. Functions in the submodules are synchronous over `&Connection`;
//! [`Db::call`] is the one place where async code reaches them, on the blocking pool.

pub mod messages;
pub mod outbox;
pub mod secrets;
pub mod sessions;
pub mod users;

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};
use tokio::sync::Semaphore;

/// Every migration, in order. Landed files are never edited; changes come as new files.
const MIGRATION_FILES: &[M<'static>] = &[
    M::up(include_str!("../../../migrations/0001_init.sql")),
    M::up(include_str!("../../../migrations/0002_webhooks.sql")),
    M::up(include_str!("../../../migrations/0003_secrets.sql")),
];

static MIGRATIONS: LazyLock<Migrations<'static>> =
    LazyLock::new(|| Migrations::from_slice(MIGRATION_FILES));

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("cannot prepare database file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database task failed: {0}")]
    Task(String),
    #[error("the database holds a damaged value: {0}")]
    Damaged(String),
}

/// Seconds since the Unix epoch, the unit of every timestamp column.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl StoreError {
    /// SQLite could not write because the disk (or the file size limit) is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DiskFull)
    }
}

/// Begins a transaction that will write. IMMEDIATE takes the write lock up front: a deferred
/// transaction that reads first and then writes cannot upgrade once another connection has
/// committed meanwhile, and SQLite then fails it at once ("database is locked") without
/// waiting out the busy timeout.
pub fn write_transaction(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// Settings every connection gets; pragmas are per connection, so they live outside migrations.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Opens (creating 0600 if needed) and migrates a database file; for tests, `:memory:`.
pub fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    if path != Path::new(":memory:") && !path.exists() {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|source| StoreError::File {
                path: path.to_path_buf(),
                source,
            })?;
    }
    let mut conn = Connection::open(path)?;
    configure(&conn)?;
    MIGRATIONS.to_latest(&mut conn)?;
    Ok(conn)
}

/// A small pool of connections used from async code.
pub struct Db {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Db {
    const POOL_SIZE: usize = 4;

    /// Opens the database, applying migrations once, and fills the pool.
    pub fn open(path: &Path) -> Result<Arc<Db>, StoreError> {
        let mut idle = Vec::with_capacity(Self::POOL_SIZE);
        for _ in 0..Self::POOL_SIZE {
            idle.push(open_connection(path)?);
        }
        Ok(Arc::new(Db {
            path: path.to_path_buf(),
            idle: Mutex::new(idle),
            permits: Semaphore::new(Self::POOL_SIZE),
        }))
    }

    /// Runs `f` with a connection on the blocking pool; never holds a connection across an await.
    pub async fn call<F, R, E>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut Connection) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?;
        let mut conn = match self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            Some(conn) => conn,
            None => open_connection(&self.path)?,
        };
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = f(&mut conn);
            (conn, result)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        result
    }
}

#[cfg(test)]
pub(crate) fn memory() -> Connection {
    open_connection(Path::new(":memory:")).expect("in-memory database")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        MIGRATIONS.validate().unwrap();
    }

    #[test]
    fn database_file_is_private_and_in_wal_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let conn = open_connection(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let journal: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        let fk: i64 = conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        // Re-opening an existing, migrated file is a no-op.
        drop(conn);
        open_connection(&path).unwrap();
    }
}
