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

/// A connection for the pool. Its commits never checkpoint: under a burst of writes the commit
/// that crossed SQLite's WAL threshold stalled for the whole checkpoint, which was the p99 of a
/// send. [`spawn_checkpointer`] does that work off the request path instead.
fn pool_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = open_connection(path)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

/// Checkpoints every [`CHECKPOINT_EVERY`] on its own thread and connection, until the pool is
/// gone. PASSIVE never blocks writers; a log grown past [`LONG_WAL_PAGES`] (readers kept it
/// from being reset) is truncated.
fn spawn_checkpointer(conn: Connection, pool: std::sync::Weak<Db>) -> Result<(), StoreError> {
    let checkpoint = move |mode: &str| -> rusqlite::Result<i64> {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            row.get::<_, i64>(1)
        })
    };
    std::thread::Builder::new()
        .name("wagw-checkpoint".into())
        .spawn(move || {
            while pool.strong_count() > 0 {
                std::thread::sleep(CHECKPOINT_EVERY);
                let outcome = match checkpoint("PASSIVE") {
                    Ok(pages) if pages > LONG_WAL_PAGES => checkpoint("TRUNCATE"),
                    other => other,
                };
                if let Err(error) = outcome {
                    tracing::warn!(%error, "checkpointing the database failed");
                }
            }
        })
        .map_err(|e| StoreError::Task(format!("cannot start the checkpointer: {e}")))?;
    Ok(())
}

/// A small pool of connections used from async code.
pub struct Db {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

/// How often the checkpointer moves the write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// A log this long (in 4 KiB pages, 64 MiB) is truncated even if writers must wait for it.
const LONG_WAL_PAGES: i64 = 16_384;

impl Db {
    const POOL_SIZE: usize = 4;

    /// Opens the database, applying migrations once, fills the pool and starts the checkpointer.
    pub fn open(path: &Path) -> Result<Arc<Db>, StoreError> {
        let mut idle = Vec::with_capacity(Self::POOL_SIZE);
        for _ in 0..Self::POOL_SIZE {
            idle.push(pool_connection(path)?);
        }
        let db = Arc::new(Db {
            path: path.to_path_buf(),
            idle: Mutex::new(idle),
            permits: Semaphore::new(Self::POOL_SIZE),
        });
        if path != Path::new(":memory:") {
            spawn_checkpointer(open_connection(path)?, Arc::downgrade(&db))?;
        }
        Ok(db)
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
            None => pool_connection(&self.path)?,
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

    #[tokio::test]
    async fn pool_commits_leave_checkpoints_to_the_checkpointer_thread() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("x.db")).unwrap();
        let automatic: i64 = db
            .call(|c| {
                c.pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
                    .map_err(StoreError::from)
            })
            .await
            .unwrap();
        assert_eq!(automatic, 0);
        let threads: Vec<String> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .collect();
        assert!(
            threads.iter().any(|name| name.trim() == "wagw-checkpoint"),
            "{threads:?}"
        );
    }

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
