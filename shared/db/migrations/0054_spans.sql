-- The steps of a call (spans: shared/spans.py), kept beside what they explain: read one record or
-- one call at a time, never by the lists, so they stay out of the wide tables the lists scan.
-- A record's steps (ingested with it: the SDK's run_and_evaluate); a record of a monitor's run
-- shows its call's.
CREATE TABLE record_spans (
    record_id uuid PRIMARY KEY,
    spans     jsonb NOT NULL
);
-- A logged call's steps: gone with the call (retention).
CREATE TABLE call_spans (
    project_id uuid NOT NULL,
    call_id    uuid NOT NULL,
    spans      jsonb NOT NULL,
    PRIMARY KEY (project_id, call_id),
    FOREIGN KEY (project_id, call_id) REFERENCES logged_calls (project_id, id) ON DELETE CASCADE
);
