//! Keys wagwd generates once and keeps. They live in the database rather than in a file beside
//! it because the links they sign are stored in the webhook outbox: a backup, copy or move of
//! the database then carries the key that matches its queued bodies, and the database file is
//! already created 0600 in a 0700 directory.

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, now};

/// The key of signed `/media/...` links.
pub const MEDIA_LINK_KEY: &str = "media_link_key";

/// The 32-byte key named `name`, created from `generate` on first use and returned unchanged
/// ever after. Safe against concurrent first starts: the first insert wins, everyone reads it.
pub fn key32(
    conn: &Connection,
    name: &str,
    generate: impl FnOnce() -> [u8; 32],
) -> Result<[u8; 32], StoreError> {
    conn.execute(
        "INSERT INTO secrets (name, value, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
        params![name, generate().as_slice(), now()],
    )?;
    let stored: Option<Vec<u8>> = conn
        .query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?;
    stored
        .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
        .ok_or_else(|| StoreError::Damaged(format!("secret '{name}' is not 32 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory;

    #[test]
    fn a_key_is_made_once_and_kept() {
        let conn = memory();
        let first = key32(&conn, MEDIA_LINK_KEY, || [1; 32]).unwrap();
        assert_eq!(first, [1; 32]);
        let again = key32(&conn, MEDIA_LINK_KEY, || [2; 32]).unwrap();
        assert_eq!(again, [1; 32], "the stored key wins over a new one");
        assert_eq!(key32(&conn, "other", || [3; 32]).unwrap(), [3; 32]);
    }

    #[test]
    fn a_damaged_key_is_an_error_not_a_silent_new_key() {
        let conn = memory();
        conn.execute(
            "INSERT INTO secrets (name, value, created_at) VALUES (?1, x'0102', 0)",
            [MEDIA_LINK_KEY],
        )
        .unwrap();
        let error = key32(&conn, MEDIA_LINK_KEY, || [1; 32]).unwrap_err();
        assert!(error.to_string().contains("32 bytes"), "{error}");
    }
}
