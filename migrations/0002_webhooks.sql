-- The webhook outbox: one row per (event, target). Rows are written in the same transaction
-- that records the event, so an event is never recorded without its deliveries.
CREATE TABLE webhook_deliveries (
    -- Delivery id (UUID v7), used by the redeliver routes.
    id              TEXT PRIMARY KEY,
    -- Event id (UUID v7), shared by every target of one event: the body's `id` and the
    -- `webhook-id` header, so receivers can deduplicate.
    event_id        TEXT NOT NULL,
    -- Groups deliveries by receiver, so one slow receiver delays only its own: 'user:{id}' or 'global'.
    target          TEXT NOT NULL,
    url             TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('message', 'session')),
    session         TEXT NOT NULL,
    -- NULL for the global webhook. No foreign key: a deleted user's pending rows fail at their next try.
    user_id         INTEGER,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Unix milliseconds.
    next_attempt_at INTEGER NOT NULL,
    -- Unix milliseconds after which no retry is scheduled.
    retry_until     INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    -- Unix seconds.
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_by_target ON webhook_deliveries (target, state, next_attempt_at);
CREATE INDEX webhook_deliveries_by_user ON webhook_deliveries (user_id, created_at);
