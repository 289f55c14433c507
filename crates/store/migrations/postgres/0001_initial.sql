-- Tenants, the delivery ledger and dead letters (PostgreSQL).

CREATE TABLE tenants (
    id                     UUID PRIMARY KEY,
    name                   TEXT NOT NULL,
    active                 BOOLEAN NOT NULL,
    settings               JSONB NOT NULL,
    -- CoMagic endpoint and auth kind stay readable; the secret part is encrypted
    -- (ChaCha20-Poly1305, nonce || ciphertext) with both bound in as associated data.
    api_url                TEXT NOT NULL,
    auth_kind              TEXT NOT NULL CHECK (auth_kind IN ('access_token', 'login')),
    credentials_ciphertext BYTEA NOT NULL,
    -- SHA-256 (hex) of the current webhook token; the token itself is never stored.
    token_hash             TEXT NOT NULL UNIQUE,
    created_at             TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL
);

-- No foreign key to tenants: ledger rows and dead letters outlive a deleted tenant for audit.
CREATE TABLE ledger (
    tenant_id    UUID NOT NULL,
    event_id     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    ext_id       TEXT NOT NULL,
    comagic_id   BIGINT NULL,
    attempts     BIGINT NOT NULL,
    tagged       JSONB NOT NULL DEFAULT '[]'::jsonb,
    complete     BOOLEAN NOT NULL DEFAULT FALSE,
    received_at  TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX ledger_tenant_delivered ON ledger (tenant_id, delivered_at DESC);

CREATE TABLE dead_letters (
    id               UUID PRIMARY KEY,
    tenant_id        UUID NOT NULL,
    event_id         TEXT NOT NULL,
    class            TEXT NOT NULL,
    mnemonic         TEXT NULL,
    message          TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    first_attempt_at TIMESTAMPTZ NULL,
    last_attempt_at  TIMESTAMPTZ NOT NULL,
    dead_at          TIMESTAMPTZ NOT NULL,
    envelope         JSONB NOT NULL
);
CREATE INDEX dead_letters_dead_at ON dead_letters (dead_at DESC, id DESC);
CREATE INDEX dead_letters_tenant ON dead_letters (tenant_id, dead_at DESC);
CREATE INDEX dead_letters_class ON dead_letters (class, dead_at DESC);
