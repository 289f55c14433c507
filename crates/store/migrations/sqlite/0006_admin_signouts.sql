-- Signed-out admin sessions (issue 18): sessions are signed cookies every replica accepts, so
-- signing out must be recorded where every replica looks. The session id's SHA-256 only (the
-- cookie itself is a bearer credential); rows are useless after `expires_at` and pruned then.
CREATE TABLE admin_signouts (
    session_hash TEXT PRIMARY KEY NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX admin_signouts_expires ON admin_signouts (expires_at);
