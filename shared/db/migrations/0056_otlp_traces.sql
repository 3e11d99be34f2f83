-- The calls OpenTelemetry traces were logged as, kept an hour after (otlp.PENDING_MINUTES): a span
-- that comes after its trace's call was logged (a step that ended after the call did, a later
-- export) is added to the call holding its parent (services/run_orchestrator/monitors/trace_store.py).
CREATE TABLE otlp_traces (
    project_id    uuid NOT NULL,
    trace_id      text NOT NULL,
    call_id       uuid NOT NULL,
    -- What IngestTraces answered as its call id: the trace id, or "<trace id>-<span id>".
    call_key      text NOT NULL,
    root_start_ns bigint NOT NULL,
    -- The spans the call was made of (a JSON array of span ids), those added since among them.
    span_ids      jsonb NOT NULL,
    logged_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, trace_id, call_id),
    FOREIGN KEY (project_id, call_id) REFERENCES logged_calls (project_id, id) ON DELETE CASCADE
);
CREATE INDEX otlp_traces_logged ON otlp_traces (logged_at);
