-- What a monitor's alert POSTs: the whole JSON document (json), or its text alone (slack: what
-- Slack's and Mattermost's incoming webhooks take), as run webhooks do.
ALTER TABLE monitors ADD COLUMN IF NOT EXISTS alert_format text NOT NULL DEFAULT 'json'
    CHECK (alert_format IN ('json', 'slack'));
