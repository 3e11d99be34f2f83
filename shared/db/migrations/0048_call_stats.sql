-- A project's traffic per hour: how many calls it logged, how many errored, how long they took (a
-- histogram of their latencies) and what they cost — what the Calls page charts over 24 hours or 30
-- days without reading a million calls. LogCalls adds the calls it stores, in its transaction, to
-- one of 8 rows of the hour (its shard: concurrent requests of a project seldom wait on each other).
-- The figures stay when retention deletes the calls.
CREATE TABLE IF NOT EXISTS call_stats (
    project_id        uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    hour              timestamptz NOT NULL,
    shard             smallint NOT NULL,
    calls             bigint NOT NULL,
    errored           bigint NOT NULL,
    -- Calls logged with a latency (above 0), their sum, and how many fell in each bucket
    -- (call_latency_bucket: 0 below 1 ms, i for 1.25^(i-1) <= ms < 1.25^i, 62 for 10 minutes and more).
    latency_n         bigint NOT NULL,
    latency_sum       double precision NOT NULL,
    latency_hist      bigint[] NOT NULL,
    prompt_tokens     bigint NOT NULL,
    completion_tokens bigint NOT NULL,
    cost_usd          double precision NOT NULL,
    PRIMARY KEY (project_id, hour, shard)
);

-- The bucket of a latency (ms > 0), 0..62; services/query/call_stats.py reads them back with the
-- same bounds.
CREATE OR REPLACE FUNCTION call_latency_bucket(ms double precision) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN ms < 1 THEN 0 ELSE least(62, floor(ln(ms) / ln(1.25))::int + 1) END
$$;

-- The histogram (63 counts) of the latencies given, those above 0.
CREATE OR REPLACE FUNCTION call_latency_hist(latencies double precision[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(coalesce(n, 0) ORDER BY b) FROM generate_series(0, 62) AS b
    LEFT JOIN (SELECT call_latency_bucket(ms) AS bucket, count(*) AS n FROM unnest(latencies) AS ms
               WHERE ms > 0 GROUP BY 1) c ON c.bucket = b
$$;

-- Two histograms added bucket by bucket.
CREATE OR REPLACE FUNCTION call_hist_add(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(x + y ORDER BY i) FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i)
$$;

-- The calls logged before this migration, counted once.
INSERT INTO call_stats (project_id, hour, shard, calls, errored, latency_n, latency_sum, latency_hist,
                        prompt_tokens, completion_tokens, cost_usd)
SELECT project_id, date_trunc('hour', logged_at, 'UTC'), 0, count(*), count(*) FILTER (WHERE status = 'errored'),
       count(*) FILTER (WHERE latency_ms > 0), coalesce(sum(latency_ms) FILTER (WHERE latency_ms > 0), 0),
       call_latency_hist(array_agg(latency_ms)), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),
       coalesce(sum(cost_usd), 0)
FROM logged_calls GROUP BY 1, 2
ON CONFLICT DO NOTHING;
