-- A tenant's field map (issue 16): meaning → dotted paths tried before the built-in alias
-- table. No row: the defaults. Goes with its tenant (foreign keys are on for every connection).
CREATE TABLE tenant_field_maps (
    tenant_id  BLOB PRIMARY KEY NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    field_map  TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
