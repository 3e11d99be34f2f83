-- A run's tags (CreateRun's tags, RunService.UpdateRunTags; written by the run-orchestrator):
-- labels the run lists and the run history filter by ("nightly", a branch).
ALTER TABLE runs ADD COLUMN tags text[] NOT NULL DEFAULT '{}';
CREATE INDEX runs_tags ON runs USING gin (tags);
