-- A monitor's test alerts (MonitorService.TestMonitorAlert): a `monitor.test` document POSTed to
-- its alert URL, signed and formatted as its alerts are, so its owner sees the receiver take one
-- before a window falls below a threshold. Written by the run-orchestrator (the row, pending) and
-- by the system-executor (the claim and the outcome: the service that calls out). Tried once; a
-- claim is a lease, taken again only when the replica holding it died.
CREATE TABLE monitor_test_alerts (
    id              uuid PRIMARY KEY,
    monitor_id      uuid NOT NULL REFERENCES monitors(id),
    payload         jsonb NOT NULL,
    -- pending | sending (claimed until claimed_until) | delivered | failed
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    claimed_until   timestamptz,
    response_status integer,
    error           text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX monitor_test_alerts_latest ON monitor_test_alerts (monitor_id, created_at DESC);
CREATE INDEX monitor_test_alerts_due ON monitor_test_alerts (created_at) WHERE status IN ('pending', 'sending');
