-- A monitor's alerts muted for a while (an incident being handled): a window decided below (or
-- recovered) while muted is 'muted' and POSTs nothing. Recoveries look past muted windows to the
-- last window whose decision was told, so a receiver hears "recovered" only after "below".
ALTER TABLE monitors ADD COLUMN IF NOT EXISTS alert_muted_until timestamptz;
ALTER TABLE monitor_windows DROP CONSTRAINT IF EXISTS monitor_windows_alert_state_check;
ALTER TABLE monitor_windows ADD CONSTRAINT monitor_windows_alert_state_check
    CHECK (alert_state IN ('none', 'waiting', 'below', 'ok', 'skipped', 'recovered', 'muted'));
