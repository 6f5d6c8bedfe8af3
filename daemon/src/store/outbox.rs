//! The webhook outbox: deliveries waiting, delivered, or given up on. Rows are inserted in the
//! transaction that records their event; the delivery worker moves them forward.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{StoreError, now};

/// Milliseconds since the Unix epoch, the unit of the scheduling columns.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One delivery as stored. The body stays out of API answers: it carries message content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    #[serde(skip)]
    pub target: String,
    pub url: String,
    /// `message` or `session`.
    pub kind: String,
    pub session: String,
    pub user_id: Option<i64>,
    #[serde(skip)]
    pub body: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    /// Unix milliseconds.
    pub next_attempt_at: i64,
    /// Unix milliseconds.
    pub retry_until: i64,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub delivered_at: Option<i64>,
}

/// A delivery to add, for one target of one event.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    pub event_id: &'a str,
    pub target: &'a str,
    pub url: &'a str,
    pub kind: &'a str,
    pub session: &'a str,
    pub user_id: Option<i64>,
    pub body: &'a str,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        status: u16,
    },
    Retry {
        status: Option<u16>,
        error: String,
        next_attempt_at: i64,
    },
    Failed {
        status: Option<u16>,
        error: String,
    },
}

const COLUMNS: &str = "id, event_id, target, url, kind, session, user_id, body, state, attempts, next_attempt_at, \
    retry_until, last_status, last_error, created_at, delivered_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: row.get(0)?,
        event_id: row.get(1)?,
        target: row.get(2)?,
        url: row.get(3)?,
        kind: row.get(4)?,
        session: row.get(5)?,
        user_id: row.get(6)?,
        body: row.get(7)?,
        state: row.get(8)?,
        attempts: row.get(9)?,
        next_attempt_at: row.get(10)?,
        retry_until: row.get(11)?,
        last_status: row.get(12)?,
        last_error: row.get(13)?,
        created_at: row.get(14)?,
        delivered_at: row.get(15)?,
    })
}

/// The outbox at a glance, for `/metrics` and `wagw status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Deliveries waiting for their first or next try.
    pub pending: i64,
    /// Deliveries given up on, kept for listing and redelivery.
    pub failed: i64,
    /// When the oldest pending delivery was created (Unix seconds).
    pub oldest_pending_at: Option<i64>,
}

impl Backlog {
    /// How long the oldest pending delivery has waited, in seconds; 0 with nothing pending.
    pub fn oldest_pending_age(&self, now: i64) -> i64 {
        self.oldest_pending_at
            .map_or(0, |created| (now - created).max(0))
    }
}

pub fn backlog(conn: &Connection) -> Result<Backlog, StoreError> {
    Ok(conn.query_row(
        "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'failed'), 0), \
         MIN(CASE WHEN state = 'pending' THEN created_at END) \
         FROM webhook_deliveries WHERE state IN ('pending', 'failed')",
        [],
        |r| {
            Ok(Backlog {
                pending: r.get(0)?,
                failed: r.get(1)?,
                oldest_pending_at: r.get(2)?,
            })
        },
    )?)
}

/// Adds a pending delivery, due at once, retried until `retry_until` (Unix ms); returns its id.
pub fn insert(
    conn: &Connection,
    new: &NewDelivery<'_>,
    retry_until: i64,
) -> Result<String, StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    let at = now();
    conn.execute(
        "INSERT INTO webhook_deliveries (id, event_id, target, url, kind, session, user_id, body, \
         next_attempt_at, retry_until, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
        params![
            id,
            new.event_id,
            new.target,
            new.url,
            new.kind,
            new.session,
            new.user_id,
            new.body,
            now_ms(),
            retry_until,
            at
        ],
    )?;
    Ok(id)
}

/// Every target with pending deliveries, with when its earliest one is due (Unix ms).
pub fn pending_targets(conn: &Connection) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT target, MIN(next_attempt_at) FROM webhook_deliveries WHERE state = 'pending' GROUP BY target",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Up to `limit` of a target's deliveries due by `now_ms`, oldest schedule first.
pub fn due(
    conn: &Connection,
    target: &str,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM webhook_deliveries WHERE target = ?1 AND state = 'pending' AND next_attempt_at <= ?2 \
         ORDER BY next_attempt_at, id LIMIT ?3"
    ))?;
    let rows = stmt
        .query_map(params![target, now_ms, limit as i64], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// When a target's next delivery not yet due (after `now_ms`) comes due.
pub fn next_due_after(
    conn: &Connection,
    target: &str,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT MIN(next_attempt_at) FROM webhook_deliveries \
             WHERE target = ?1 AND state = 'pending' AND next_attempt_at > ?2",
        )?
        .query_row(params![target, now_ms], |r| r.get(0))?)
}

/// Records the outcomes of a batch of attempts in one transaction.
pub fn record_outcomes(
    conn: &mut Connection,
    outcomes: &[(String, Outcome)],
) -> Result<(), StoreError> {
    let tx = super::write_transaction(conn)?;
    {
        let at = now();
        let mut delivered = tx.prepare_cached(
            "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, last_status = ?2, \
             last_error = NULL, delivered_at = ?3, updated_at = ?3 WHERE id = ?1 AND state = 'pending'",
        )?;
        let mut retry = tx.prepare_cached(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = ?2, last_error = ?3, \
             next_attempt_at = ?4, updated_at = ?5 WHERE id = ?1 AND state = 'pending'",
        )?;
        let mut failed = tx.prepare_cached(
            "UPDATE webhook_deliveries SET state = 'failed', attempts = attempts + 1, last_status = ?2, \
             last_error = ?3, updated_at = ?4 WHERE id = ?1 AND state = 'pending'",
        )?;
        for (id, outcome) in outcomes {
            match outcome {
                Outcome::Delivered { status } => delivered.execute(params![id, status, at])?,
                Outcome::Retry {
                    status,
                    error,
                    next_attempt_at,
                } => retry.execute(params![id, status, error, next_attempt_at, at])?,
                Outcome::Failed { status, error } => {
                    failed.execute(params![id, status, error, at])?
                }
            };
        }
    }
    tx.commit()?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<Delivery>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM webhook_deliveries WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

/// Which deliveries a listing shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter<'a> {
    pub state: Option<&'a str>,
    /// Only this user's deliveries (their own webhook, not the global one).
    pub user_id: Option<i64>,
    pub limit: usize,
}

/// Deliveries, newest first.
pub fn list(conn: &Connection, filter: &ListFilter<'_>) -> Result<Vec<Delivery>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM webhook_deliveries WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR user_id = ?2) \
         ORDER BY created_at DESC, id DESC LIMIT ?3"
    ))?;
    let rows = stmt
        .query_map(
            params![filter.state, filter.user_id, filter.limit as i64],
            from_row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Queues a delivery again, due now, with a fresh retry window; `only_user` restricts it to one
/// user's deliveries. Returns the updated row, or `None` when there is no such delivery.
pub fn redeliver(
    conn: &Connection,
    id: &str,
    only_user: Option<i64>,
    retry_until: i64,
) -> Result<Option<Delivery>, StoreError> {
    let changed = conn.execute(
        "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = ?3, retry_until = ?4, delivered_at = NULL, \
         updated_at = ?5 WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)",
        params![id, only_user, now_ms(), retry_until, now()],
    )?;
    if changed == 0 {
        return Ok(None);
    }
    get(conn, id)
}

/// Queues every failed delivery again (only `only_user`'s when given), due now, with a fresh
/// retry window; returns the rows queued.
pub fn redeliver_failed(
    conn: &Connection,
    only_user: Option<i64>,
    retry_until: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = ?2, retry_until = ?3, \
         updated_at = ?4 WHERE state = 'failed' AND (?1 IS NULL OR user_id = ?1) RETURNING {COLUMNS}"
    ))?;
    let rows = stmt
        .query_map(params![only_user, now_ms(), retry_until, now()], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Deletes delivered rows delivered before `before` (Unix seconds); returns how many went.
pub fn prune_delivered(conn: &Connection, before: i64) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM webhook_deliveries WHERE state = 'delivered' AND delivered_at < ?1",
        [before],
    )?)
}

/// What delivering to a user's webhook needs from their settings.
#[derive(Clone)]
pub struct ReceiverSettings {
    pub webhook_secret: Option<String>,
    pub oauth_login: Option<String>,
    pub oauth_password: Option<String>,
}

/// A user's signing and OAuth settings, read at delivery time so changes apply to queued
/// events; `None` when the user no longer exists.
pub fn receiver_settings(
    conn: &Connection,
    user_id: i64,
) -> Result<Option<ReceiverSettings>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT webhook_secret, oauth_login, oauth_password FROM users WHERE id = ?1",
        )?
        .query_row([user_id], |r| {
            Ok(ReceiverSettings {
                webhook_secret: r.get(0)?,
                oauth_login: r.get(1)?,
                oauth_password: r.get(2)?,
            })
        })
        .optional()?)
}

/// Forgets a deleted user's deliveries.
pub fn delete_user(conn: &Connection, user_id: i64) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM webhook_deliveries WHERE user_id = ?1",
        [user_id],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory;

    fn new<'a>(target: &'a str, user_id: Option<i64>) -> NewDelivery<'a> {
        NewDelivery {
            event_id: "ev1",
            target,
            url: "http://127.0.0.1:1/hook",
            kind: "message",
            session: "john",
            user_id,
            body: "{}",
        }
    }

    #[test]
    fn insert_and_find_due_by_target() {
        let conn = memory();
        let a = insert(&conn, &new("user:1", Some(1)), i64::MAX).unwrap();
        insert(&conn, &new("global", None), i64::MAX).unwrap();
        let targets = pending_targets(&conn).unwrap();
        assert_eq!(targets.len(), 2);
        let due_now = due(&conn, "user:1", now_ms() + 1, 10).unwrap();
        assert_eq!(due_now.len(), 1);
        assert_eq!(due_now[0].id, a);
        assert_eq!(due_now[0].state, "pending");
        assert!(
            due(&conn, "user:1", 0, 10).unwrap().is_empty(),
            "not due before its time"
        );
    }

    #[test]
    fn outcomes_move_rows_forward() {
        let mut conn = memory();
        let a = insert(&conn, &new("t", None), i64::MAX).unwrap();
        let b = insert(&conn, &new("t", None), i64::MAX).unwrap();
        let c = insert(&conn, &new("t", None), i64::MAX).unwrap();
        let later = now_ms() + 60_000;
        record_outcomes(
            &mut conn,
            &[
                (a.clone(), Outcome::Delivered { status: 200 }),
                (
                    b.clone(),
                    Outcome::Retry {
                        status: Some(503),
                        error: "busy".into(),
                        next_attempt_at: later,
                    },
                ),
                (
                    c.clone(),
                    Outcome::Failed {
                        status: Some(404),
                        error: "gone".into(),
                    },
                ),
            ],
        )
        .unwrap();
        let a = get(&conn, &a).unwrap().unwrap();
        assert_eq!(
            (a.state.as_str(), a.attempts, a.last_status),
            ("delivered", 1, Some(200))
        );
        assert!(a.delivered_at.is_some());
        let b = get(&conn, &b).unwrap().unwrap();
        assert_eq!(
            (b.state.as_str(), b.next_attempt_at, b.last_error.as_deref()),
            ("pending", later, Some("busy"))
        );
        assert_eq!(get(&conn, &c).unwrap().unwrap().state, "failed");
        assert!(due(&conn, "t", now_ms(), 10).unwrap().is_empty());
        assert_eq!(
            pending_targets(&conn).unwrap(),
            vec![("t".to_string(), later)]
        );
    }

    #[test]
    fn listing_filters_and_redelivery_checks_the_owner() {
        let mut conn = memory();
        let mine = insert(&conn, &new("user:1", Some(1)), i64::MAX).unwrap();
        insert(&conn, &new("user:2", Some(2)), i64::MAX).unwrap();
        record_outcomes(
            &mut conn,
            &[(
                mine.clone(),
                Outcome::Failed {
                    status: Some(400),
                    error: "no".into(),
                },
            )],
        )
        .unwrap();
        let failed = list(
            &conn,
            &ListFilter {
                state: Some("failed"),
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(failed.len(), 1);
        let own = list(
            &conn,
            &ListFilter {
                user_id: Some(2),
                limit: 10,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(own.len(), 1);
        assert!(
            redeliver(&conn, &mine, Some(2), i64::MAX)
                .unwrap()
                .is_none(),
            "not user 2's delivery"
        );
        let again = redeliver(&conn, &mine, Some(1), i64::MAX).unwrap().unwrap();
        assert_eq!(again.state, "pending");
        assert!(redeliver(&conn, "nope", None, i64::MAX).unwrap().is_none());
    }

    #[test]
    fn failed_deliveries_are_redelivered_together_and_counted() {
        let mut conn = memory();
        assert_eq!(backlog(&conn).unwrap(), Backlog::default());
        let fail = |id: &String| {
            (
                id.clone(),
                Outcome::Failed {
                    status: Some(400),
                    error: "no".into(),
                },
            )
        };
        let a = insert(&conn, &new("user:1", Some(1)), i64::MAX).unwrap();
        let b = insert(&conn, &new("user:2", Some(2)), i64::MAX).unwrap();
        let c = insert(&conn, &new("global", None), i64::MAX).unwrap();
        insert(&conn, &new("global", None), i64::MAX).unwrap();
        record_outcomes(&mut conn, &[fail(&a), fail(&b), fail(&c)]).unwrap();
        let counted = backlog(&conn).unwrap();
        assert_eq!((counted.pending, counted.failed), (1, 3));
        assert!(counted.oldest_pending_at.is_some());
        assert_eq!(counted.oldest_pending_age(now() - 10), 0, "never negative");

        let mine = redeliver_failed(&conn, Some(1), i64::MAX).unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(
            (mine[0].id.as_str(), mine[0].state.as_str()),
            (a.as_str(), "pending")
        );
        let rest = redeliver_failed(&conn, None, i64::MAX).unwrap();
        let mut ids: Vec<_> = rest.iter().map(|d| d.id.clone()).collect();
        ids.sort();
        let mut expected = vec![b, c];
        expected.sort();
        assert_eq!(ids, expected);
        assert!(redeliver_failed(&conn, None, i64::MAX).unwrap().is_empty());
        assert_eq!(
            backlog(&conn).unwrap(),
            Backlog {
                pending: 4,
                failed: 0,
                ..counted
            }
        );
    }

    #[test]
    fn pruning_keeps_pending_and_failed() {
        let mut conn = memory();
        let a = insert(&conn, &new("t", None), i64::MAX).unwrap();
        let b = insert(&conn, &new("t", None), i64::MAX).unwrap();
        insert(&conn, &new("t", None), i64::MAX).unwrap();
        record_outcomes(
            &mut conn,
            &[
                (a, Outcome::Delivered { status: 200 }),
                (
                    b,
                    Outcome::Failed {
                        status: None,
                        error: "x".into(),
                    },
                ),
            ],
        )
        .unwrap();
        assert_eq!(prune_delivered(&conn, now() + 1).unwrap(), 1);
        assert_eq!(
            list(
                &conn,
                &ListFilter {
                    limit: 10,
                    ..Default::default()
                }
            )
            .unwrap()
            .len(),
            2
        );
        assert_eq!(delete_user(&conn, 1).unwrap(), 0);
    }
}
