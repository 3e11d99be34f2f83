-- A schedule's cron is read in its own time zone (an IANA name; the ones made before: UTC).
ALTER TABLE schedules ADD COLUMN timezone text NOT NULL DEFAULT 'UTC';
