-- A monitor's alert may also fire when too many of a window's calls errored (a failing AI system
-- is not "ok" because nothing was left to score): more than this share (0..1) of the window's
-- calls errored. NULL: no such threshold.
ALTER TABLE monitors ADD COLUMN IF NOT EXISTS alert_max_error_rate double precision;
