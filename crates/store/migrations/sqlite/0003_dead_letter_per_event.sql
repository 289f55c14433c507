-- One dead letter per event: a second failure of the same (tenant, event id) updates the row
-- (attempts, error, time) instead of adding one, and a later successful delivery marks it
-- resolved (kept for audit, hidden from the default listing).
ALTER TABLE dead_letters ADD COLUMN resolved_at TEXT NULL;

-- Earlier versions could hold several rows per event: keep the newest, with every attempt
-- counted.
UPDATE dead_letters SET attempts = (
    SELECT SUM(o.attempts) FROM dead_letters o
    WHERE o.tenant_id = dead_letters.tenant_id AND o.event_id = dead_letters.event_id);
DELETE FROM dead_letters WHERE EXISTS (
    SELECT 1 FROM dead_letters n
    WHERE n.tenant_id = dead_letters.tenant_id AND n.event_id = dead_letters.event_id
      AND (n.dead_at > dead_letters.dead_at
           OR (n.dead_at = dead_letters.dead_at AND n.id > dead_letters.id)));

CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_event ON dead_letters (tenant_id, event_id);
