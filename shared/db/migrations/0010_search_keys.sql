-- Phrase searches across a project (ListRecords: services/query/records.py _in_windows, search_keys.py; 0011 adds words).
--
-- GIN on records.search (0006) cannot check word positions, so a phrase made of common words
-- ("disconnect the": `disconnect` is in 9% of the records, `the` in 95%) was read by walking the
-- records newest first and testing each one: ~127,000 records (~55 ms) to find the 3,500 phrase
-- matches a page with two score conditions needs. This index holds, for each record:
--
-- * every pair of adjacent words of its vector ('disconnect the'): the pairs of a phrase find
--   exactly the records where its words stand side by side, as `<->` does (both read the vector's
--   positions);
-- * the time buckets its created_at falls in, at four widths (2^16 s ≈ 18 h, 2^19 s ≈ 6 days,
--   2^22 s ≈ 49 days, 2^25 s ≈ 1 year): 'b16:26731'. AND-ed with the pairs, a few buckets keep
--   only a window's matches in the bitmap, so a window costs its own matches, not the phrase's
--   whole posting list (the BRIN windows of 0007 AND a lossy bitmap instead).
--
-- The page then sorts only the window's matches and probes the score conditions on them:
-- 3,473 matches, bitmap ~2 ms, instead of the walk.
--
-- An expression index: the keys are not stored, so records stay as wide as they were. The
-- function costs ~80 µs per record, paid when a record is written (and by ANALYZE's sample), and
-- it is never evaluated by a read: GIN's `@>` and `&&` on arrays need no recheck, and the reads
-- keep the bitmap exact (see records.py). Its COST tells the planner so: a plan evaluating it per
-- row (a sequential scan) is never cheaper.
--
-- Creating the index on an existing database reads every record once (~200 s per 1M records on
-- 2 cores). Idempotent, like 0006–0009.
CREATE OR REPLACE FUNCTION record_search_keys(search tsvector, created_at timestamptz) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE COST 10000 AS $$
    SELECT coalesce(array_agg(w.l[i] || ' ' || w.l[i + 1]), '{}') || (
        -- epoch seconds do not depend on the time zone: the buckets are immutable
        SELECT array_agg('b' || k || ':' || floor(extract(epoch FROM created_at) / (2 ^ k)::numeric)::bigint)
        FROM unnest(ARRAY[16, 19, 22, 25]) k)
    FROM (SELECT array_agg(u.lexeme ORDER BY p) AS l, array_agg(p ORDER BY p) AS ps
          FROM unnest(search) u, unnest(u.positions) p) w,
         generate_series(1, cardinality(w.l) - 1) i
    WHERE w.ps[i + 1] = w.ps[i] + 1
$$;
CREATE INDEX IF NOT EXISTS records_search_keys ON records USING gin (record_search_keys(search, created_at));
