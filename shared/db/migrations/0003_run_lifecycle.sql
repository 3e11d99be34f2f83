-- Metric groups: a named set of metrics a run can be kicked off with.
CREATE TABLE metric_groups (
    id         uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects(id),
    name       text NOT NULL,
    metric_ids uuid[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);

-- Human review on scores.
ALTER TABLE scores ADD COLUMN reviewer text NOT NULL DEFAULT '';
ALTER TABLE scores ADD COLUMN comment text NOT NULL DEFAULT '';

-- Pending scores (human metrics waiting for a reviewer) in the aggregates.
ALTER TABLE run_metric_aggregates ADD COLUMN pending integer NOT NULL DEFAULT 0;

-- Record tags.
ALTER TABLE records ADD COLUMN tags text[] NOT NULL DEFAULT '{}';
CREATE INDEX records_tags ON records USING gin (tags);

-- Which metric versions of a run are human-scored (they hold the run in awaiting_human_scoring).
ALTER TABLE runs ADD COLUMN human_metric_version_ids uuid[] NOT NULL DEFAULT '{}';
