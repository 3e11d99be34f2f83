-- Feedback on logged calls (MonitorService.SendFeedback, the SDK's client.send_feedback): a verdict
-- given after the call — a user's thumbs up or down, a 1–5 rating, a support agent's "wrong" —
-- against a metric of the project that the platform does not score itself (eval type human or
-- code). One per call and metric: feedback given again replaces it (the latest counts), a null
-- value takes it back. Deleted with its call (retention).
CREATE TABLE IF NOT EXISTS call_feedback (
    project_id        uuid NOT NULL,
    call_id           uuid NOT NULL,
    metric_id         uuid NOT NULL REFERENCES metrics(id),
    -- The metric's version when it was given: its output type and threshold decided `passed`.
    metric_version_id uuid NOT NULL REFERENCES metric_versions(id),
    -- Booleans as 1 / 0.
    value             double precision NOT NULL,
    passed            boolean NOT NULL,
    comment           text NOT NULL DEFAULT '',
    -- Who gave it, as the sender said (an end user's id, a reviewer's name); may be empty.
    author            text NOT NULL DEFAULT '',
    given_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, call_id, metric_id),
    FOREIGN KEY (project_id, call_id) REFERENCES logged_calls (project_id, id) ON DELETE CASCADE
);
-- A project's feedback of one metric over time (ListCalls' summary and filters).
CREATE INDEX IF NOT EXISTS call_feedback_by_metric ON call_feedback (project_id, metric_id, given_at);
-- The calls page lists newest first with ties by id (read backwards); retention reads it oldest first.
CREATE INDEX IF NOT EXISTS logged_calls_by_time_id ON logged_calls (project_id, logged_at, id);
DROP INDEX IF EXISTS logged_calls_by_time;
