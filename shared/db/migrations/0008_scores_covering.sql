-- ListRecords' score conditions (services/query/records.py) probe, for each candidate record, its
-- score of the metric version its run pins, by (record_id, metric_version_id). Through 0001's
-- UNIQUE index each probe then read the score's heap row for status, passed and value_num
-- (~5.5 µs; a search with two conditions probes ~3,000 scores for a page). This index carries the
-- three, so a probe is an index-only scan (~3.6 µs) wherever the visibility map is set, which
-- vacuum does for all but the newest scores.
--
-- It replaces 0001's UNIQUE (record_id, metric_version_id): the same keys and the same
-- uniqueness, so a score insert still writes one index for them, not two. The price: a score
-- update that changes status, passed or value_num (a retried errored score, a human verdict) is
-- no longer a HOT update. Scores are written once in the common case, so that is rare.
-- Idempotent, like 0006 and 0007.
CREATE UNIQUE INDEX IF NOT EXISTS scores_record_version
    ON scores (record_id, metric_version_id) INCLUDE (status, passed, value_num);
ALTER TABLE scores DROP CONSTRAINT IF EXISTS scores_record_id_metric_version_id_key;
