-- A monitor's alert on its calls' latency (MonitorAlert.max_latency_ms): it fires when the 95th
-- percentile of a window's call latencies is above it. Each window keeps the median and the 95th
-- percentile of its calls' latencies (those logged with one), computed once as it closes.
ALTER TABLE monitors ADD COLUMN IF NOT EXISTS alert_max_latency_ms double precision;
ALTER TABLE monitor_windows ADD COLUMN IF NOT EXISTS latency_p50_ms double precision;
ALTER TABLE monitor_windows ADD COLUMN IF NOT EXISTS latency_p95_ms double precision;
