-- no-transaction
-- Ledger retention: the worker deletes complete entries older than BRIDGE_LEDGER_RETENTION_DAYS,
-- oldest first, in small chunks. This index lets each chunk start at the oldest entry instead of
-- scanning the table. Built CONCURRENTLY (outside a transaction, hence the directive above) so
-- upgrading a database with a large ledger does not block deliveries while it builds.
CREATE INDEX CONCURRENTLY IF NOT EXISTS ledger_delivered ON ledger (delivered_at);
