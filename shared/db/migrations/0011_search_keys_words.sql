-- Word searches across a project read in windows of time too (ListRecords: services/query/records.py
-- _in_windows, search_keys.py).
--
-- records_search_keys (0010) held a record's adjacent word pairs and time buckets; now it holds its
-- words as well. Two words with a score condition ("merge contract", similarity < 0.3) were read
-- from the AND of records_search's bitmap (all 6,809 records with both words, 5.4 ms) and a
-- BRIN window of the newest 40% of the records (lossy, 6.0 ms), then 2,619 heap fetches: 28 ms of
-- SQL. With the words in this index, one GIN scan intersects them with a window's buckets, skipping
-- through the posting lists: the window's 1,072 matches in 1.8 ms, 7 ms for the statement.
--
-- The index grows by the records' words (~70 MB per 1M records built at once: 132 -> 201 MB), and
-- a write by ~2 µs for tsvector_to_array. records_search stays: it serves every other tsquery (an
-- OR, a NOT, a prefix) and searches within runs.
--
-- The function's value changes, so its index is built again (~160 s per 1M records on 2 cores).
-- Idempotent, like 0006–0010.
DROP INDEX IF EXISTS records_search_keys;
CREATE OR REPLACE FUNCTION record_search_keys(search tsvector, created_at timestamptz) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE COST 10000 AS $$
    SELECT tsvector_to_array(search) || coalesce(array_agg(w.l[i] || ' ' || w.l[i + 1]), '{}') || (
        -- epoch seconds do not depend on the time zone: the buckets are immutable
        SELECT array_agg('b' || k || ':' || floor(extract(epoch FROM created_at) / (2 ^ k)::numeric)::bigint)
        FROM unnest(ARRAY[16, 19, 22, 25]) k)
    FROM (SELECT array_agg(u.lexeme ORDER BY p) AS l, array_agg(p ORDER BY p) AS ps
          FROM unnest(search) u, unnest(u.positions) p) w,
         generate_series(1, cardinality(w.l) - 1) i
    WHERE w.ps[i + 1] = w.ps[i] + 1
$$;
CREATE INDEX records_search_keys ON records USING gin (record_search_keys(search, created_at));
