-- Run webhooks (WebhookService; written by the run-orchestrator, except the delivery columns of
-- webhook_deliveries, which the system-executor writes as it POSTs).
--
-- A webhook is a project's URL told when its runs finish. The orchestrator adds a delivery, with
-- the JSON to send, in the transaction that moves a run to a status a webhook asks for (an outbox:
-- no finished run is missed and none is told twice); an executor replica claims it (the claim a
-- lease), POSTs it and records the outcome.
CREATE TABLE webhooks (
    id          uuid PRIMARY KEY,
    project_id  uuid NOT NULL REFERENCES projects(id),
    name        text NOT NULL,
    url         text NOT NULL,
    -- json (the whole document) | slack ({"text": …}, for an incoming webhook)
    format      text NOT NULL CHECK (format IN ('json', 'slack')),
    -- run statuses that are told: completed | failed | cancelled | awaiting_human_scoring
    statuses    text[] NOT NULL,
    -- empty: runs of every source; else runs of one of these
    sources     text[] NOT NULL DEFAULT '{}',
    -- empty: every run; else runs carrying one of these tags
    tags        text[] NOT NULL DEFAULT '{}',
    -- signs every POST (HMAC-SHA256); shown once, when the webhook is made
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_project ON webhooks (project_id, created_at DESC);

CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    webhook_id      uuid NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    -- run.finished | webhook.test
    event           text NOT NULL,
    run_id          uuid REFERENCES runs(id),
    run_status      text NOT NULL DEFAULT '',
    payload         jsonb NOT NULL,
    -- pending | sending (claimed until claimed_until) | retrying (at next_attempt_at) | delivered | failed
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'retrying', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_until   timestamptz,
    response_status integer,
    error           text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_of ON webhook_deliveries (webhook_id, created_at DESC);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'sending', 'retrying');
