-- Tenants, the delivery ledger and dead letters (SQLite). The embedded queue shares the file
-- with `queue_`-prefixed tables, so none of these names may start with `queue_`.
-- UUIDs are 16-byte BLOBs, timestamps RFC 3339 UTC text (sorts in time order), JSON is TEXT.

CREATE TABLE tenants (
    id                     BLOB PRIMARY KEY NOT NULL,
    name                   TEXT NOT NULL,
    active                 INTEGER NOT NULL CHECK (active IN (0, 1)),
    settings               TEXT NOT NULL,
    -- CoMagic endpoint and auth kind stay readable; the secret part is encrypted
    -- (ChaCha20-Poly1305, nonce || ciphertext) with both bound in as associated data.
    api_url                TEXT NOT NULL,
    auth_kind              TEXT NOT NULL CHECK (auth_kind IN ('access_token', 'login')),
    credentials_ciphertext BLOB NOT NULL,
    -- SHA-256 (hex) of the current webhook token; the token itself is never stored.
    token_hash             TEXT NOT NULL UNIQUE,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
);

-- No foreign key to tenants: ledger rows and dead letters outlive a deleted tenant for audit.
CREATE TABLE ledger (
    tenant_id    BLOB NOT NULL,
    event_id     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    ext_id       TEXT NOT NULL,
    comagic_id   INTEGER NULL,
    attempts     INTEGER NOT NULL,
    tagged       TEXT NOT NULL DEFAULT '[]',
    complete     INTEGER NOT NULL DEFAULT 0 CHECK (complete IN (0, 1)),
    received_at  TEXT NOT NULL,
    delivered_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
) WITHOUT ROWID;
CREATE INDEX ledger_tenant_delivered ON ledger (tenant_id, delivered_at DESC);

CREATE TABLE dead_letters (
    id               BLOB PRIMARY KEY NOT NULL,
    tenant_id        BLOB NOT NULL,
    event_id         TEXT NOT NULL,
    class            TEXT NOT NULL,
    mnemonic         TEXT NULL,
    message          TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    first_attempt_at TEXT NULL,
    last_attempt_at  TEXT NOT NULL,
    dead_at          TEXT NOT NULL,
    envelope         TEXT NOT NULL
);
CREATE INDEX dead_letters_dead_at ON dead_letters (dead_at DESC, id DESC);
CREATE INDEX dead_letters_tenant ON dead_letters (tenant_id, dead_at DESC);
CREATE INDEX dead_letters_class ON dead_letters (class, dead_at DESC);
