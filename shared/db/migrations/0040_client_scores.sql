-- Scores a client computed with its own code (metrics of eval type `code`), sent with the records it
-- ingests (IngestRecords' `scores`): written by the orchestrator before the records are published,
-- read by the scorer when it scores the record with that metric. The first score sent for a record
-- and metric stays (a replayed ingest changes nothing). `value` is a JSON boolean or number; a
-- scorer that raised leaves `error` instead.
CREATE TABLE IF NOT EXISTS client_scores (
    record_id uuid NOT NULL,
    metric_id uuid NOT NULL,
    value jsonb,
    reasoning text NOT NULL DEFAULT '',
    error text NOT NULL DEFAULT '',
    PRIMARY KEY (record_id, metric_id)
);
