-- Spans of OpenTelemetry traces whose root span has not come yet (IngestTraces: an exporter sends
-- spans as they end, the root last), one row per export and trace; joined to the root when it
-- comes, dropped after an hour (services/run_orchestrator/monitors/otlp.py).
CREATE TABLE otlp_pending_spans (
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    trace_id    text NOT NULL,
    spans       jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX otlp_pending_spans_trace ON otlp_pending_spans (project_id, trace_id);
CREATE INDEX otlp_pending_spans_received ON otlp_pending_spans (received_at);
