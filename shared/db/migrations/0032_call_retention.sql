-- How long a project keeps its logged production calls (MonitorService.LogCalls): 0 keeps them for
-- ever; N > 0 has the run-orchestrator delete the calls logged more than N days ago, except those
-- still waiting in a monitor's open window. The runs of closed windows keep their records (copies of
-- the calls they sampled) whatever the retention.
ALTER TABLE projects ADD COLUMN IF NOT EXISTS call_retention_days integer NOT NULL DEFAULT 0
    CHECK (call_retention_days >= 0);
CREATE INDEX IF NOT EXISTS logged_calls_by_time ON logged_calls (project_id, logged_at);
-- "Is this call still waiting in an open window?" for the calls a retention pass deletes.
CREATE INDEX IF NOT EXISTS monitor_samples_by_call ON monitor_samples (call_id);
