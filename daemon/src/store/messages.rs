//! Messages sent and received, kept so a reply can quote by id and delivery status can be shown.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MessageRecord {
    pub session: String,
    pub id: String,
    /// The chat JID: the other party, or the group.
    pub chat: String,
    /// The author's JID (the session's own JID for messages it sent).
    pub sender: String,
    pub from_me: bool,
    /// text, image, document, sticker, video, audio, …
    pub kind: String,
    /// Text, or the caption of a media message.
    pub text: Option<String>,
    pub file_name: Option<String>,
    pub mimetype: Option<String>,
    pub sha256: Option<String>,
    pub length: Option<i64>,
    /// For received media: the file name under MEDIA_DIR.
    pub media_file: Option<String>,
    pub quoted_id: Option<String>,
    pub push_name: Option<String>,
    pub timestamp: i64,
    /// pending, server_ack, delivered, read, received, failed
    pub status: String,
}

const COLUMNS: &str = "session, id, chat, sender, from_me, kind, text, file_name, mimetype, sha256, length, \
    media_file, quoted_id, push_name, timestamp, status";

fn from_row(row: &Row<'_>) -> rusqlite::Result<MessageRecord> {
    Ok(MessageRecord {
        session: row.get(0)?,
        id: row.get(1)?,
        chat: row.get(2)?,
        sender: row.get(3)?,
        from_me: row.get(4)?,
        kind: row.get(5)?,
        text: row.get(6)?,
        file_name: row.get(7)?,
        mimetype: row.get(8)?,
        sha256: row.get(9)?,
        length: row.get(10)?,
        media_file: row.get(11)?,
        quoted_id: row.get(12)?,
        push_name: row.get(13)?,
        timestamp: row.get(14)?,
        status: row.get(15)?,
    })
}

/// Records a message; a redelivered id (the network may repeat itself) is ignored.
pub fn insert(conn: &Connection, m: &MessageRecord) -> Result<bool, StoreError> {
    let mut statement = conn.prepare_cached(&format!(
        "INSERT OR IGNORE INTO messages ({COLUMNS}) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
    ))?;
    let inserted = statement.execute(params![
        m.session,
        m.id,
        m.chat,
        m.sender,
        m.from_me,
        m.kind,
        m.text,
        m.file_name,
        m.mimetype,
        m.sha256,
        m.length,
        m.media_file,
        m.quoted_id,
        m.push_name,
        m.timestamp,
        m.status
    ])?;
    Ok(inserted == 1)
}

/// Records several messages in one transaction.
pub fn insert_all(conn: &mut Connection, records: &[MessageRecord]) -> Result<(), StoreError> {
    let transaction = conn.transaction()?;
    for record in records {
        insert(&transaction, record)?;
    }
    transaction.commit()?;
    Ok(())
}

pub fn find(
    conn: &Connection,
    session: &str,
    id: &str,
) -> Result<Option<MessageRecord>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM messages WHERE session = ?1 AND id = ?2"),
            [session, id],
            from_row,
        )
        .optional()?)
}

/// The owner session of a received media file, for access checks.
pub fn find_by_media_file(
    conn: &Connection,
    file: &str,
) -> Result<Option<MessageRecord>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM messages WHERE media_file = ?1"),
            [file],
            from_row,
        )
        .optional()?)
}

fn status_rank(status: &str) -> i32 {
    match status {
        "failed" => 0,
        "pending" => 1,
        "server_ack" => 2,
        "delivered" => 3,
        "read" => 4,
        "played" => 5,
        _ => -1,
    }
}

/// Moves a message's status forward; receipts may arrive out of order, and never move it back.
pub fn advance_status(
    conn: &Connection,
    session: &str,
    id: &str,
    status: &str,
) -> Result<bool, StoreError> {
    let Some(current) = find(conn, session, id)? else {
        return Ok(false);
    };
    if status_rank(status) <= status_rank(&current.status) {
        return Ok(false);
    }
    conn.execute(
        "UPDATE messages SET status = ?3 WHERE session = ?1 AND id = ?2",
        params![session, id, status],
    )?;
    Ok(true)
}

/// Deletes messages older than `before` (Unix seconds); returns how many went.
pub fn prune(conn: &Connection, before: i64) -> Result<usize, StoreError> {
    Ok(conn.execute("DELETE FROM messages WHERE timestamp < ?1", [before])?)
}

/// Forgets a session's messages, when the session itself is removed.
pub fn delete_session(conn: &Connection, session: &str) -> Result<usize, StoreError> {
    Ok(conn.execute("DELETE FROM messages WHERE session = ?1", [session])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory;

    fn record(id: &str, timestamp: i64) -> MessageRecord {
        MessageRecord {
            session: "john".into(),
            id: id.into(),
            chat: "628111@s.whatsapp.net".into(),
            sender: "628222@s.whatsapp.net".into(),
            from_me: true,
            kind: "text".into(),
            text: Some("hi".into()),
            file_name: None,
            mimetype: None,
            sha256: None,
            length: None,
            media_file: None,
            quoted_id: None,
            push_name: None,
            timestamp,
            status: "pending".into(),
        }
    }

    #[test]
    fn insert_find_and_ignore_duplicates() {
        let conn = memory();
        assert!(insert(&conn, &record("A", 10)).unwrap());
        assert!(!insert(&conn, &record("A", 10)).unwrap());
        assert_eq!(
            find(&conn, "john", "A").unwrap().unwrap().text.as_deref(),
            Some("hi")
        );
        assert!(
            find(&conn, "mary", "A").unwrap().is_none(),
            "ids are per session"
        );
    }

    #[test]
    fn status_only_moves_forward() {
        let conn = memory();
        insert(&conn, &record("A", 10)).unwrap();
        assert!(advance_status(&conn, "john", "A", "read").unwrap());
        assert!(!advance_status(&conn, "john", "A", "delivered").unwrap());
        assert_eq!(find(&conn, "john", "A").unwrap().unwrap().status, "read");
    }

    #[test]
    fn prune_keeps_recent_messages() {
        let conn = memory();
        insert(&conn, &record("old", 10)).unwrap();
        insert(&conn, &record("new", 1000)).unwrap();
        assert_eq!(prune(&conn, 500).unwrap(), 1);
        assert!(find(&conn, "john", "new").unwrap().is_some());
    }
}
