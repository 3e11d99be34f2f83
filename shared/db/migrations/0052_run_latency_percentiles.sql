-- A run's latency percentiles (ms), exact, over its records that reported a latency (above 0):
-- kept once its records are all in and it waits for reviewers or has finished, cleared while it
-- executes (shared/db/latency.py); NULL before, or without a timed record. The runs finished
-- before this migration get theirs here.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS latency_p50_ms double precision;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS latency_p95_ms double precision;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS latency_p99_ms double precision;

UPDATE runs SET latency_p50_ms = t.p[1], latency_p95_ms = t.p[2], latency_p99_ms = t.p[3]
FROM (
    SELECT run_id, percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms) AS p
    FROM records WHERE latency_ms > 0 GROUP BY run_id
) AS t
WHERE t.run_id = runs.id AND runs.status IN ('awaiting_human_scoring', 'completed', 'failed', 'cancelled');
