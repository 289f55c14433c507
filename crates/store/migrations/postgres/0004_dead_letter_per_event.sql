-- One dead letter per event: a second failure of the same (tenant, event id) updates the row
-- (attempts, error, time) instead of adding one, and a later successful delivery marks it
-- resolved (kept for audit, hidden from the default listing).
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS resolved_at TIMESTAMPTZ NULL;

-- Earlier versions could hold several rows per event: keep the newest, with every attempt
-- counted.
UPDATE dead_letters d SET attempts = s.total
FROM (SELECT tenant_id, event_id, SUM(attempts) AS total, COUNT(*) AS n
      FROM dead_letters GROUP BY tenant_id, event_id) s
WHERE s.n > 1 AND d.tenant_id = s.tenant_id AND d.event_id = s.event_id;
DELETE FROM dead_letters d USING dead_letters n
WHERE d.tenant_id = n.tenant_id AND d.event_id = n.event_id
  AND (d.dead_at, d.id) < (n.dead_at, n.id);

CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_event ON dead_letters (tenant_id, event_id);
