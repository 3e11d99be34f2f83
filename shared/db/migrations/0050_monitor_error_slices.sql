-- A decided window's slices (of its monitor's alert.slice_fields) with more of their calls errored
-- than alert.max_error_rate ([{field, field_value, errored, calls, rate, above}], highest share first).
ALTER TABLE monitor_windows ADD COLUMN IF NOT EXISTS error_slices jsonb NOT NULL DEFAULT '[]';
