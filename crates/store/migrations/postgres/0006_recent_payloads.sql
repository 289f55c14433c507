-- Issue 16. Recent payloads: the last raw webhook bodies per tenant as the ingress received
-- them (accepted or refused), for operators teaching the field map. Bounded by count
-- (BRIDGE_RECENT_PAYLOADS) and age (7 days); they go with their tenant.
CREATE TABLE recent_payloads (
    id           UUID PRIMARY KEY,
    tenant_id    UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    received_at  TIMESTAMPTZ NOT NULL,
    content_type TEXT NULL,
    -- NULL when the ingress could not read one (a refused body).
    event_id     TEXT NULL,
    body         BYTEA NOT NULL,
    -- `accepted` (queued) or `rejected` (answered 400; `error` says why).
    outcome      TEXT NOT NULL,
    error        TEXT NULL
);
CREATE INDEX recent_payloads_tenant ON recent_payloads (tenant_id, received_at DESC, id DESC);
CREATE INDEX recent_payloads_received ON recent_payloads (received_at);

-- Tenant health: what the ingress and the worker last saw of a tenant, written coalesced (at
-- most once a second per tenant and process), never per event. Goes with its tenant.
CREATE TABLE tenant_activity (
    tenant_id           UUID PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    last_accepted_at    TIMESTAMPTZ NULL,
    last_delivered_at   TIMESTAMPTZ NULL,
    last_error_class    TEXT NULL,
    last_error_mnemonic TEXT NULL,
    last_error_message  TEXT NULL,
    last_error_at       TIMESTAMPTZ NULL,
    -- CoMagic's `metadata.limits` as last seen, resets as absolute times.
    minute_limit        BIGINT NULL,
    minute_remaining    BIGINT NULL,
    minute_reset_at     TIMESTAMPTZ NULL,
    day_limit           BIGINT NULL,
    day_remaining       BIGINT NULL,
    day_reset_at        TIMESTAMPTZ NULL,
    limits_at           TIMESTAMPTZ NULL
);
