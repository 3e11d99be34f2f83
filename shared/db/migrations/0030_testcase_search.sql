-- Searching a testset's testcases (TestsetService.ListTestcases' search, the testset page, `testsets
-- show --search`): their words stored and indexed, as records' are (0006), instead of computed from
-- the JSON of every testcase of the version at each search (~0.7 s for 100,000 testcases, whatever
-- the words). The words of inputs, expected and metadata, with the 'simple' configuration
-- (shared/edge/search.py).
ALTER TABLE testcase_revisions ADD COLUMN IF NOT EXISTS search tsvector GENERATED ALWAYS AS (
    jsonb_to_tsvector('simple', inputs, '["string", "numeric"]')
    || jsonb_to_tsvector('simple', expected, '["string", "numeric"]')
    || jsonb_to_tsvector('simple', metadata, '["string", "numeric"]')
) STORED;
CREATE INDEX IF NOT EXISTS testcase_revisions_search ON testcase_revisions USING gin (search);
