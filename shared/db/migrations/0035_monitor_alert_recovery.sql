-- A monitor's alert may also tell of the recovery: the first window at or above every threshold
-- after a window below one is decided 'recovered' (not 'ok'), with a `monitor.recovered` document
-- the system-executor delivers as it delivers alerts (alert_deliveries, signed, once).
ALTER TABLE monitors ADD COLUMN IF NOT EXISTS alert_recovery boolean NOT NULL DEFAULT false;
ALTER TABLE monitor_windows DROP CONSTRAINT IF EXISTS monitor_windows_alert_state_check;
ALTER TABLE monitor_windows ADD CONSTRAINT monitor_windows_alert_state_check
    CHECK (alert_state IN ('none', 'waiting', 'below', 'ok', 'skipped', 'recovered'));
-- The windows whose POST is due (below or recovered), as the executors look for them.
CREATE INDEX IF NOT EXISTS monitor_windows_alert_due ON monitor_windows (closed_at)
    WHERE alert_state IN ('below', 'recovered');
DROP INDEX IF EXISTS monitor_windows_alert_below;
