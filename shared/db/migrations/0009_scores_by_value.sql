-- ListRecords across a project sorted by a metric's value (order_by "score.<metric>",
-- services/query/records.py). Without an index in that order, every record of the project was
-- joined to its score and sorted for each page: ~5 s on 1M records. With this one, a page walks
-- each version of the metric in value order (a Merge Append of one index scan per version), keeps
-- the scores of the version their run pins, and reads only the page's records: ~3 ms.
--
-- Only completed scores with a number: the others (pending, errored, no numeric value) sort last,
-- with the records that have no score, and are read by the records' own order (records_pkey).
-- run_id is carried so the pinned-version check (runs) needs no heap fetch of the score.
--
-- Writes: one more index entry per completed numeric score (~33 MB per 1M scores).
-- Idempotent, like 0006–0008.
CREATE INDEX IF NOT EXISTS scores_by_value ON scores (metric_version_id, value_num, record_id) INCLUDE (run_id)
    WHERE status = 'completed' AND value_num IS NOT NULL;
