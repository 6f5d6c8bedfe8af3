-- Regular users. Admin is configured by environment and never stored.
CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,
    -- NULL means the session is named after the username.
    session_name    TEXT UNIQUE,
    callback_url    TEXT,
    oauth_login     TEXT,
    oauth_password  TEXT,
    webhook_secret  TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

-- One row per WhatsApp session (linked device). owner_user_id NULL means admin owns it.
CREATE TABLE sessions (
    name            TEXT PRIMARY KEY,
    owner_user_id   INTEGER REFERENCES users(id) ON DELETE CASCADE,
    -- 'running' sessions are restored at boot; 'stopped' ones are not.
    desired_state   TEXT NOT NULL DEFAULT 'stopped' CHECK (desired_state IN ('running', 'stopped')),
    status          TEXT NOT NULL DEFAULT 'stopped',
    status_reason   TEXT,
    phone           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

-- Every message sent or received, so replies can quote by id and status can be reported.
CREATE TABLE messages (
    session         TEXT NOT NULL,
    id              TEXT NOT NULL,
    chat            TEXT NOT NULL,
    sender          TEXT NOT NULL,
    from_me         INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    text            TEXT,
    file_name       TEXT,
    mimetype        TEXT,
    sha256          TEXT,
    length          INTEGER,
    media_file      TEXT,
    quoted_id       TEXT,
    push_name       TEXT,
    timestamp       INTEGER NOT NULL,
    status          TEXT NOT NULL,
    PRIMARY KEY (session, id)
) STRICT;

CREATE INDEX messages_by_time ON messages (timestamp);
