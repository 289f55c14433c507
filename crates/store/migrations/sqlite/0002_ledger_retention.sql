-- Ledger retention: the worker deletes complete entries older than BRIDGE_LEDGER_RETENTION_DAYS,
-- oldest first, in small chunks. This index lets each chunk start at the oldest entry instead of
-- scanning the table.
CREATE INDEX IF NOT EXISTS ledger_delivered ON ledger (delivered_at);
