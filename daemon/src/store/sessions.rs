//! Session rows: who owns a session, whether it should run, and its last known status.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{StoreError, now};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub name: String,
    /// `None` for admin-owned sessions.
    pub owner_user_id: Option<i64>,
    pub running: bool,
    pub status: String,
    pub status_reason: Option<String>,
    pub phone: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "name, owner_user_id, desired_state = 'running', status, status_reason, phone, created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        name: row.get(0)?,
        owner_user_id: row.get(1)?,
        running: row.get(2)?,
        status: row.get(3)?,
        status_reason: row.get(4)?,
        phone: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
    })
}

/// Creates the row if missing and marks the session as one to keep running.
pub fn mark_running(
    conn: &Connection,
    name: &str,
    owner_user_id: Option<i64>,
) -> Result<(), StoreError> {
    let at = now();
    conn.execute(
        "INSERT INTO sessions (name, owner_user_id, desired_state, created_at, updated_at) \
         VALUES (?1, ?2, 'running', ?3, ?3) \
         ON CONFLICT (name) DO UPDATE SET desired_state = 'running', updated_at = ?3",
        params![name, owner_user_id, at],
    )?;
    Ok(())
}

/// Marks the session as not to be restored at boot.
pub fn mark_stopped(conn: &Connection, name: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sessions SET desired_state = 'stopped', updated_at = ?2 WHERE name = ?1",
        params![name, now()],
    )?;
    Ok(())
}

pub fn record_status(
    conn: &Connection,
    name: &str,
    status: &str,
    reason: Option<&str>,
    phone: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sessions SET status = ?2, status_reason = ?3, phone = COALESCE(?4, phone), updated_at = ?5 \
         WHERE name = ?1",
        params![name, status, reason, phone, now()],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, name: &str) -> Result<Option<SessionRow>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM sessions WHERE name = ?1"),
            [name],
            from_row,
        )
        .optional()?)
}

pub fn list(conn: &Connection) -> Result<Vec<SessionRow>, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM sessions ORDER BY name"))?;
    let rows = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Sessions to bring back at boot.
pub fn running(conn: &Connection) -> Result<Vec<SessionRow>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE desired_state = 'running' ORDER BY name"
    ))?;
    let rows = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn delete(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM sessions WHERE name = ?1", [name])? == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory;

    #[test]
    fn lifecycle() {
        let conn = memory();
        mark_running(&conn, "sales", None).unwrap();
        record_status(&conn, "sales", "connected", None, Some("628111")).unwrap();
        record_status(&conn, "sales", "disconnected", Some("network"), None).unwrap();
        let row = get(&conn, "sales").unwrap().unwrap();
        assert_eq!(row.status, "disconnected");
        assert_eq!(
            row.phone.as_deref(),
            Some("628111"),
            "phone survives a status without one"
        );
        assert_eq!(running(&conn).unwrap().len(), 1);
        mark_stopped(&conn, "sales").unwrap();
        assert!(running(&conn).unwrap().is_empty());
        assert!(delete(&conn, "sales").unwrap());
        assert!(list(&conn).unwrap().is_empty());
    }
}
