-- Retrying what errored, and the review queue of human metrics.

-- Retry: a finished run's errored records are executed again (services/run_orchestrator/runs/retry.py).
-- Each retry of a run has a number (runs.retries counts them); the records it executes again are
-- set 'pending' (and uncounted) until the executor's new answer replaces them, and what each
-- of them was before is kept in record_attempts: the old error stays readable.
ALTER TABLE runs ADD COLUMN retries integer NOT NULL DEFAULT 0;

CREATE TABLE record_attempts (
    record_id         uuid NOT NULL REFERENCES records(id),
    -- 1: the first execution; the record itself is attempt (number of its attempts here) + 1.
    attempt           integer NOT NULL CHECK (attempt >= 1),
    run_id            uuid NOT NULL REFERENCES runs(id),
    status            text NOT NULL,
    outputs           jsonb NOT NULL,
    error             text NOT NULL,
    latency_ms        double precision NOT NULL,
    prompt_tokens     integer NOT NULL,
    completion_tokens integer NOT NULL,
    cost_usd          double precision,
    -- The retry of the run that replaced this attempt, and when.
    retry             integer NOT NULL,
    replaced_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (record_id, attempt)
);

-- The records a retry waits for (few, and only while it runs): the executor plans the retry's
-- chunks from them.
CREATE INDEX records_pending ON records (run_id) WHERE status = 'pending';

-- A chunk of a retry is claimed apart from the same chunk of the first execution (which is
-- finished by then).
ALTER TABLE execution_chunks ADD COLUMN retry integer NOT NULL DEFAULT 0;
ALTER TABLE execution_chunks DROP CONSTRAINT execution_chunks_pkey;
ALTER TABLE execution_chunks ADD PRIMARY KEY (run_id, retry, chunk);

-- Review queue (services/run_orchestrator/reviews/): the pending scores of a human metric's
-- pinned versions, oldest first. Pending scores are few (they wait for people), so the index is small.
CREATE INDEX scores_pending_review ON scores (metric_version_id, scored_at, id) WHERE status = 'pending';

-- Who holds which item of a queue. A lease lapses at expires_at (the item returns to the queue);
-- a submitted review keeps its lease for a short while as `submitted`, so the item is not offered
-- again while the scorer writes the verdict.
CREATE TABLE review_leases (
    score_id   uuid PRIMARY KEY REFERENCES scores(id),
    metric_id  uuid NOT NULL REFERENCES metrics(id),
    run_id     uuid NOT NULL REFERENCES runs(id),
    record_id  uuid NOT NULL REFERENCES records(id),
    reviewer   text NOT NULL,
    expires_at timestamptz NOT NULL,
    submitted  boolean NOT NULL DEFAULT false
);
-- A reviewer holds at most one item of a queue at a time.
CREATE UNIQUE INDEX review_leases_held ON review_leases (metric_id, reviewer) WHERE NOT submitted;

-- What each reviewer last did with an item (reviewed or skipped) and when: skipped items come
-- last in that reviewer's queue, and "back" walks this log newest first.
CREATE TABLE review_log (
    score_id  uuid NOT NULL REFERENCES scores(id),
    reviewer  text NOT NULL,
    metric_id uuid NOT NULL REFERENCES metrics(id),
    run_id    uuid NOT NULL REFERENCES runs(id),
    record_id uuid NOT NULL REFERENCES records(id),
    action    text NOT NULL CHECK (action IN ('reviewed', 'skipped')),
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (score_id, reviewer)
);
CREATE INDEX review_log_by_reviewer ON review_log (metric_id, reviewer, at DESC);
