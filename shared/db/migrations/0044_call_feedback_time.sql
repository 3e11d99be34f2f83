-- Each feedback row keeps the logging time of its call (a call's logged_at never changes), so that
-- ListCalls' summary and trend of a time window with no other filter on the calls read the feedback
-- alone — a project's feedback rows rather than every call it logged in the window (1M calls, 30
-- days: from ~360 ms to a few tens; make bench-calls).
ALTER TABLE call_feedback ADD COLUMN IF NOT EXISTS call_logged_at timestamptz;
UPDATE call_feedback f SET call_logged_at = c.logged_at
    FROM logged_calls c WHERE c.project_id = f.project_id AND c.id = f.call_id AND f.call_logged_at IS NULL;
ALTER TABLE call_feedback ALTER COLUMN call_logged_at SET NOT NULL;
CREATE INDEX IF NOT EXISTS call_feedback_by_call_time ON call_feedback (project_id, call_logged_at);
-- Nothing reads feedback by the time it was given.
DROP INDEX IF EXISTS call_feedback_by_metric;
