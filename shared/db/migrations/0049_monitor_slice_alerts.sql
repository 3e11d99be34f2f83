-- Monitor alerts per slice: the alert's metric thresholds are judged also within each value of
-- these record fields ("metadata.lang": the French calls alone), a slice with at least
-- alert_min_slice_calls scored calls of the metric.
ALTER TABLE monitors ADD COLUMN IF NOT EXISTS alert_slice_fields text[] NOT NULL DEFAULT '{}';
ALTER TABLE monitors ADD COLUMN IF NOT EXISTS alert_min_slice_calls integer NOT NULL DEFAULT 20;

-- A decided window's slices below a threshold ([{field, field_value, metric_id, name, measure, value,
-- scored, below}], worst first); empty when none was, or its monitor judges no slice.
ALTER TABLE monitor_windows ADD COLUMN IF NOT EXISTS slices_below jsonb NOT NULL DEFAULT '[]';
