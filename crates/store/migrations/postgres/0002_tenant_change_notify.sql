-- Every change to `tenants` (from the bridge or by hand) is announced on a channel, so processes
-- caching token → tenant routes (the ingress) drop their caches. NOTIFY is delivered at commit,
-- atomically with the change.
CREATE OR REPLACE FUNCTION leadback_bridge_tenants_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('leadback_bridge_tenants', TG_OP);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tenants_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION leadback_bridge_tenants_changed();
