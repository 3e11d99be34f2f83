-- Scheduled runs (ScheduleService; written by the run-orchestrator). A schedule kicks off a run
-- of its testset, system and metrics each time its cron expression (UTC, minutes) comes due:
-- a replica takes the due schedule (FOR UPDATE SKIP LOCKED), kicks off the run with an id drawn
-- from the schedule and the due time (so a replica taking over after a crash finds the run
-- instead of making a second), then moves next_run_at on.
CREATE TABLE schedules (
    id                uuid PRIMARY KEY,
    project_id        uuid NOT NULL REFERENCES projects(id),
    name              text NOT NULL,
    cron              text NOT NULL,
    testset_id        uuid NOT NULL REFERENCES testsets(id),
    -- a pinned system version, or a system whose production version at each run is run
    system_version_id uuid REFERENCES system_versions(id),
    system_id         uuid REFERENCES systems(id),
    metric_ids        uuid[] NOT NULL DEFAULT '{}',
    metric_group_id   uuid REFERENCES metric_groups(id),
    trials            integer NOT NULL DEFAULT 1 CHECK (trials >= 1),
    tags              text[] NOT NULL DEFAULT '{}',
    paused_at         timestamptz,
    next_run_at       timestamptz NOT NULL,
    last_fired_at     timestamptz,
    last_run_id       uuid,
    -- why the last firing made no run ('' when it made one)
    last_error        text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name),
    CHECK ((system_version_id IS NULL) <> (system_id IS NULL))
);
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE paused_at IS NULL;

-- Runs a schedule kicked off have the source 'schedule'.
ALTER TABLE runs DROP CONSTRAINT IF EXISTS runs_source_check;
ALTER TABLE runs ADD CONSTRAINT runs_source_check
    CHECK (source IN ('api', 'kickoff', 'playground', 'monitor', 'ci', 'schedule'));
