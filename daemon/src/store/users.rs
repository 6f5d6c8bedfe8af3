//! Regular users. Secrets (password hash, OAuth secret, webhook secret) stay in this module's
//! records and are never part of what the API serializes.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{StoreError, now};

/// A user as the API shows it: no password, no secrets, only whether they are set.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    /// The configured session name, or null when the session is named after the username.
    pub session_name: Option<String>,
    /// The name of the user's one session.
    pub session: String,
    pub callback_url: Option<String>,
    pub oauth_login: Option<String>,
    pub has_oauth_password: bool,
    pub has_webhook_secret: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The secrets of one user, for authentication and webhook delivery only.
#[derive(Debug, Clone)]
pub struct UserSecrets {
    pub password_hash: String,
    pub oauth_password: Option<String>,
    pub webhook_secret: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub session_name: Option<String>,
    pub callback_url: Option<String>,
    pub oauth_login: Option<String>,
    pub oauth_password: Option<String>,
    pub webhook_secret: Option<String>,
}

/// A partial update: `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub session_name: Option<Option<String>>,
    pub callback_url: Option<Option<String>>,
    pub oauth_login: Option<Option<String>>,
    pub oauth_password: Option<Option<String>>,
    pub webhook_secret: Option<Option<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum UserStoreError {
    #[error("username '{0}' is already taken")]
    UsernameTaken(String),
    #[error("session name '{0}' is already used by another user or an admin session")]
    SessionNameTaken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for UserStoreError {
    fn from(e: rusqlite::Error) -> Self {
        UserStoreError::Store(StoreError::Sqlite(e))
    }
}

const COLUMNS: &str = "id, username, session_name, callback_url, oauth_login, \
    oauth_password IS NOT NULL, webhook_secret IS NOT NULL, created_at, updated_at";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    let username: String = row.get(1)?;
    let session_name: Option<String> = row.get(2)?;
    Ok(User {
        id: row.get(0)?,
        session: session_name.clone().unwrap_or_else(|| username.clone()),
        username,
        session_name,
        callback_url: row.get(3)?,
        oauth_login: row.get(4)?,
        has_oauth_password: row.get(5)?,
        has_webhook_secret: row.get(6)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
    })
}

/// Whether `session` would collide with another user's session or an admin-owned session.
fn session_name_in_use(
    conn: &Connection,
    session: &str,
    except_user: Option<i64>,
) -> rusqlite::Result<bool> {
    let by_user: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM users WHERE COALESCE(session_name, username) = ?1 AND id IS NOT ?2)",
        params![session, except_user],
        |r| r.get(0),
    )?;
    let by_admin: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM sessions WHERE name = ?1 AND owner_user_id IS NULL)",
        [session],
        |r| r.get(0),
    )?;
    Ok(by_user || by_admin)
}

pub fn create(conn: &mut Connection, new: &NewUser) -> Result<User, UserStoreError> {
    let tx = super::write_transaction(conn)?;
    let exists: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM users WHERE username = ?1)",
        [&new.username],
        |r| r.get(0),
    )?;
    if exists {
        return Err(UserStoreError::UsernameTaken(new.username.clone()));
    }
    let session = new.session_name.as_deref().unwrap_or(&new.username);
    if session_name_in_use(&tx, session, None)? {
        return Err(UserStoreError::SessionNameTaken(session.to_string()));
    }
    let at = now();
    tx.execute(
        "INSERT INTO users (username, password_hash, session_name, callback_url, oauth_login, \
         oauth_password, webhook_secret, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        params![
            new.username,
            new.password_hash,
            new.session_name,
            new.callback_url,
            new.oauth_login,
            new.oauth_password,
            new.webhook_secret,
            at
        ],
    )?;
    let id = tx.last_insert_rowid();
    let user = get(&tx, id)?.ok_or(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))?;
    tx.commit()?;
    Ok(user)
}

pub fn list(conn: &Connection) -> Result<Vec<User>, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY id"))?;
    let users = stmt
        .query_map([], user_from_row)?
        .collect::<Result<_, _>>()?;
    Ok(users)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<User>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
            [id],
            user_from_row,
        )
        .optional()?)
}

pub fn find_by_username(
    conn: &Connection,
    username: &str,
) -> Result<Option<(User, UserSecrets)>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS}, password_hash, oauth_password, webhook_secret FROM users WHERE username = ?1"),
            [username],
            |row| {
                Ok((
                    user_from_row(row)?,
                    UserSecrets { password_hash: row.get(9)?, oauth_password: row.get(10)?, webhook_secret: row.get(11)? },
                ))
            },
        )
        .optional()?)
}

/// The user whose one session is named `session`, if any.
pub fn find_by_session(
    conn: &Connection,
    session: &str,
) -> Result<Option<(User, UserSecrets)>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS}, password_hash, oauth_password, webhook_secret FROM users \
                 WHERE COALESCE(session_name, username) = ?1"
            ),
            [session],
            |row| {
                Ok((
                    user_from_row(row)?,
                    UserSecrets {
                        password_hash: row.get(9)?,
                        oauth_password: row.get(10)?,
                        webhook_secret: row.get(11)?,
                    },
                ))
            },
        )
        .optional()?)
}

/// Returns false when no such user exists.
pub fn set_password_hash(conn: &Connection, id: i64, hash: &str) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, hash, now()],
    )?;
    Ok(changed == 1)
}

/// Applies `changes`; `Ok(None)` when no such user exists.
pub fn update(
    conn: &mut Connection,
    id: i64,
    changes: &UserChanges,
) -> Result<Option<User>, UserStoreError> {
    let tx = super::write_transaction(conn)?;
    let Some(current) = get(&tx, id)? else {
        return Ok(None);
    };
    if let Some(session_name) = &changes.session_name {
        let session = session_name.as_deref().unwrap_or(&current.username);
        if session != current.session && session_name_in_use(&tx, session, Some(id))? {
            return Err(UserStoreError::SessionNameTaken(session.to_string()));
        }
    }
    let fields = [
        ("session_name", &changes.session_name),
        ("callback_url", &changes.callback_url),
        ("oauth_login", &changes.oauth_login),
        ("oauth_password", &changes.oauth_password),
        ("webhook_secret", &changes.webhook_secret),
    ];
    for (column, change) in fields {
        if let Some(value) = change {
            // Column names come from the fixed list above, never from input.
            tx.execute(
                &format!("UPDATE users SET {column} = ?2 WHERE id = ?1"),
                params![id, value],
            )?;
        }
    }
    tx.execute(
        "UPDATE users SET updated_at = ?2 WHERE id = ?1",
        params![id, now()],
    )?;
    let user = get(&tx, id)?;
    tx.commit()?;
    Ok(user)
}

/// Deletes the user; their session row goes with them (foreign key cascade).
pub fn delete(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM users WHERE id = ?1", [id])? == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory;

    fn new_user(name: &str) -> NewUser {
        NewUser {
            username: name.into(),
            password_hash: "hash".into(),
            ..NewUser::default()
        }
    }

    #[test]
    fn create_list_and_find() {
        let mut conn = memory();
        let john = create(&mut conn, &new_user("john")).unwrap();
        assert_eq!(john.session, "john");
        assert!(!john.has_oauth_password);
        let found = find_by_session(&conn, "john").unwrap().unwrap();
        assert_eq!(found.0.id, john.id);
        assert_eq!(found.1.password_hash, "hash");
        assert_eq!(list(&conn).unwrap().len(), 1);
    }

    #[test]
    fn usernames_and_session_names_are_unique() {
        let mut conn = memory();
        create(&mut conn, &new_user("john")).unwrap();
        assert!(matches!(
            create(&mut conn, &new_user("john")),
            Err(UserStoreError::UsernameTaken(_))
        ));
        let clash = NewUser {
            session_name: Some("john".into()),
            ..new_user("mary")
        };
        assert!(matches!(
            create(&mut conn, &clash),
            Err(UserStoreError::SessionNameTaken(_))
        ));
        let mary = create(&mut conn, &new_user("mary")).unwrap();
        let rename = UserChanges {
            session_name: Some(Some("john".into())),
            ..Default::default()
        };
        assert!(matches!(
            update(&mut conn, mary.id, &rename),
            Err(UserStoreError::SessionNameTaken(_))
        ));
    }

    #[test]
    fn update_sets_and_clears_fields() {
        let mut conn = memory();
        let john = create(&mut conn, &new_user("john")).unwrap();
        let set = UserChanges {
            callback_url: Some(Some("http://x/hook".into())),
            oauth_password: Some(Some("s3cret".into())),
            session_name: Some(Some("sales".into())),
            ..Default::default()
        };
        let updated = update(&mut conn, john.id, &set).unwrap().unwrap();
        assert_eq!(updated.session, "sales");
        assert!(updated.has_oauth_password);
        assert_eq!(updated.callback_url.as_deref(), Some("http://x/hook"));
        let clear = UserChanges {
            callback_url: Some(None),
            ..Default::default()
        };
        let cleared = update(&mut conn, john.id, &clear).unwrap().unwrap();
        assert_eq!(cleared.callback_url, None);
        assert_eq!(cleared.session, "sales", "untouched fields stay");
        assert!(update(&mut conn, 999, &clear).unwrap().is_none());
    }

    #[test]
    fn delete_removes_the_user() {
        let mut conn = memory();
        let john = create(&mut conn, &new_user("john")).unwrap();
        assert!(delete(&conn, john.id).unwrap());
        assert!(!delete(&conn, john.id).unwrap());
        assert!(find_by_username(&conn, "john").unwrap().is_none());
    }
}
