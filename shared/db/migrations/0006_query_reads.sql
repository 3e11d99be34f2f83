-- The query service's read paths (it writes nothing): indexes matching its filters and orders, and
-- per-run usage totals kept with the record counts, so a run page never scans records.
-- Idempotent (IF NOT EXISTS), so it can be applied by hand ahead of a deploy on a large database.

-- Full-text search over a record's inputs, expected and outputs: the string and number values of
-- the JSON (not its keys), with the 'simple' configuration (no stemming, no stop words: exact
-- words in any language). A stored column rather than an expression index: a list walking the
-- newest records first tests each row's vector, and recomputing it from the JSON costs ~10x more.
ALTER TABLE records ADD COLUMN IF NOT EXISTS search tsvector GENERATED ALWAYS AS (
    jsonb_to_tsvector('simple', inputs, '["string", "numeric"]')
    || jsonb_to_tsvector('simple', expected, '["string", "numeric"]')
    || jsonb_to_tsvector('simple', outputs, '["string", "numeric"]')
) STORED;
CREATE INDEX IF NOT EXISTS records_search ON records USING gin (search);

-- Keyset orders of ListRecords (read forwards or backwards): within a run, and project-wide (the
-- project's runs are a filter on the scan, newest first).
CREATE INDEX IF NOT EXISTS records_run_created ON records (run_id, created_at, id);
CREATE INDEX IF NOT EXISTS records_created ON records (created_at, id);
CREATE INDEX IF NOT EXISTS records_latency ON records (latency_ms, id);
-- A testcase's records across runs.
CREATE INDEX IF NOT EXISTS records_testcase ON records (testcase_id, created_at);

-- Usage sums per run, on the same shard rows as the record counts (the orchestrator adds a
-- record's latency, tokens and cost in the transaction that counts it).
ALTER TABLE run_record_counts
    ADD COLUMN IF NOT EXISTS latency_ms double precision NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS prompt_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS completion_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS cost_usd double precision NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS costed integer NOT NULL DEFAULT 0;

-- Existing records: the shard is the record id modulo 16 (shared/ids.py counter_shard), i.e.
-- the value of the id's last hex digit.
UPDATE run_record_counts c
SET latency_ms = t.latency_ms, prompt_tokens = t.prompt_tokens, completion_tokens = t.completion_tokens,
    cost_usd = t.cost_usd, costed = t.costed
FROM (
    SELECT run_id, ('x' || right(id::text, 1))::bit(4)::int AS shard,
           sum(latency_ms) AS latency_ms, sum(prompt_tokens) AS prompt_tokens,
           sum(completion_tokens) AS completion_tokens, coalesce(sum(cost_usd), 0) AS cost_usd,
           count(cost_usd) AS costed
    FROM records GROUP BY 1, 2
) t
WHERE c.run_id = t.run_id AND c.shard = t.shard;
