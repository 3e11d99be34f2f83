-- A run webhook may tell only of runs where a metric is below a threshold (the nightly run that
-- fell under 90%): [{"metric_id": "…", "below": 0.9}] — a pass rate (0..1) of a boolean metric, the
-- mean of an int or float one. Empty: every run its statuses, sources and tags pick.
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS below jsonb NOT NULL DEFAULT '[]';
