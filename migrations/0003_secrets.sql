-- Keys wagwd makes for itself on first start and must keep across restarts (e.g. the key that
-- signs media links already sent in webhook bodies). Created once, never rotated silently.
CREATE TABLE secrets (
    name            TEXT PRIMARY KEY,
    value           BLOB NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
