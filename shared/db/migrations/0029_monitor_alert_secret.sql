-- A monitor's alerts are signed like run webhooks' deliveries (X-Scorekeeper-Signature, HMAC-SHA256
-- keyed by this secret). The secret is in CreateMonitor's answer, and UpdateMonitor's when a new one
-- is drawn (rotate_alert_secret); nowhere else. Monitors made before this get one of their own, which
-- their owners see by drawing a new one (the default draws them; the run-orchestrator gives new
-- monitors theirs, as webhooks get theirs).
ALTER TABLE monitors ADD COLUMN alert_secret text NOT NULL
    DEFAULT 'whsec_' || encode(sha256((gen_random_uuid()::text || gen_random_uuid()::text)::bytea), 'hex');
