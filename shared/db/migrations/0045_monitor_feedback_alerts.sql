-- A monitor's alert on its users' feedback (MonitorAlert.feedback_thresholds): per closed window,
-- the verdicts given between the window's start and end on a metric of eval type human or code
-- (SendFeedback) — their pass rate or mean against a threshold, judged once at least
-- alert_min_feedback of them were given.
ALTER TABLE monitors ADD COLUMN IF NOT EXISTS alert_feedback_thresholds jsonb NOT NULL DEFAULT '[]';
ALTER TABLE monitors ADD COLUMN IF NOT EXISTS alert_min_feedback integer NOT NULL DEFAULT 10;
-- A project's feedback of one metric by the time it was given (a window's feedback).
CREATE INDEX IF NOT EXISTS call_feedback_by_given ON call_feedback (project_id, metric_id, given_at);
