-- A decided window's slices (of its monitor's alert.slice_fields) whose calls' 95th percentile
-- latency is above alert.max_latency_ms ([{field, field_value, p95_ms, calls, above}], slowest first).
ALTER TABLE monitor_windows ADD COLUMN IF NOT EXISTS latency_slices jsonb NOT NULL DEFAULT '[]';
