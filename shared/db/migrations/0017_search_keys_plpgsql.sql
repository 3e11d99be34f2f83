-- record_search_keys (0011) in PL/pgSQL, with the same value for every record: the function runs
-- for each record inserted (it is records_search_keys' expression), and as a SQL function with
-- subqueries it was planned again for every INSERT statement. A batch insert of records (the
-- orchestrator's, 64 at a time) spends ~0.06 ms of PostgreSQL's CPU per record on this index with
-- the SQL function and ~0.04 with this one; make bench stores 1,000+ records a second.
--
-- The same keys in the same order: the words, the adjacent pairs (lexemes in position order,
-- paired where positions follow), then the time buckets. floor(epoch / 2^k) is floor(epoch) >> k
-- (bigint's >> shifts arithmetically, so negative epochs floor too). The index is not built
-- again: no key changes (tests/integration/test_search_keys_function.py compares the two).
CREATE OR REPLACE FUNCTION record_search_keys(search tsvector, created_at timestamptz) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE COST 10000 AS $$
DECLARE
    words text[];
    positions int[];
    pairs text[] := '{}';
    epoch bigint := floor(extract(epoch FROM created_at))::bigint;
BEGIN
    SELECT array_agg(u.lexeme ORDER BY p), array_agg(p ORDER BY p) INTO words, positions
    FROM unnest(search) u, unnest(u.positions) p;
    FOR i IN 1 .. coalesce(cardinality(words), 0) - 1 LOOP
        IF positions[i + 1] = positions[i] + 1 THEN
            pairs := pairs || (words[i] || ' ' || words[i + 1]);
        END IF;
    END LOOP;
    RETURN tsvector_to_array(search) || pairs
        || ARRAY['b16:' || (epoch >> 16), 'b19:' || (epoch >> 19), 'b22:' || (epoch >> 22), 'b25:' || (epoch >> 25)];
END
$$;
