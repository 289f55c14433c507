-- A tenant's field map (issue 16): meaning → dotted paths tried before the built-in alias
-- table. No row: the defaults. Goes with its tenant.
CREATE TABLE tenant_field_maps (
    tenant_id  UUID PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    field_map  JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
