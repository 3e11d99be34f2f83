-- Monitors: production calls logged through the API (LogCalls, the SDK's client.log), sampled by
-- monitors into windows; each window's sample becomes a run with source 'monitor', scored like
-- any other run. Written by the run-orchestrator, except alert_deliveries (the system-executor).

-- Every logged call, as it was logged. The id is the caller's call id (or a generated one), unique
-- per project: logging a call again changes nothing.
CREATE TABLE logged_calls (
    project_id        uuid NOT NULL REFERENCES projects(id),
    id                uuid NOT NULL,
    logged_at         timestamptz NOT NULL DEFAULT now(),
    inputs            jsonb NOT NULL,
    outputs           jsonb NOT NULL,
    metadata          jsonb NOT NULL,
    status            text NOT NULL CHECK (status IN ('completed', 'errored')),
    error             text NOT NULL DEFAULT '',
    latency_ms        double precision NOT NULL DEFAULT 0,
    prompt_tokens     integer NOT NULL DEFAULT 0,
    completion_tokens integer NOT NULL DEFAULT 0,
    cost_usd          double precision,
    trace_id          text NOT NULL DEFAULT '',
    session_id        text NOT NULL DEFAULT '',
    PRIMARY KEY (project_id, id)
);

CREATE TABLE monitors (
    id                       uuid PRIMARY KEY,
    project_id               uuid NOT NULL REFERENCES projects(id),
    name                     text NOT NULL,
    -- The metric versions every window's run is scored with (pinned when the monitor is made).
    metric_version_ids       uuid[] NOT NULL,
    human_metric_version_ids uuid[] NOT NULL DEFAULT '{}',
    metric_group_id          uuid REFERENCES metric_groups(id),
    -- Percent of the calls sampled, by a hash of the call id (shared with every monitor).
    sample_rate              double precision NOT NULL CHECK (sample_rate > 0 AND sample_rate <= 100),
    -- A call is sampled only when its metadata holds each of these keys with this value.
    metadata_filter          jsonb NOT NULL DEFAULT '{}',
    -- A window closes every window_minutes, or every window_calls sampled calls.
    window_minutes           integer CHECK (window_minutes > 0),
    window_calls             integer CHECK (window_calls > 0),
    status                   text NOT NULL CHECK (status IN ('active', 'paused')),
    -- Alert: a POST to this URL when a metric of a window's run falls below its threshold.
    alert_url                text NOT NULL DEFAULT '',
    -- [{"metric_id", "metric_version_id", "below"}]
    alert_thresholds         jsonb NOT NULL DEFAULT '[]',
    -- The open window: its start, and how many windows were closed before it.
    window_started_at        timestamptz NOT NULL DEFAULT now(),
    windows_closed           integer NOT NULL DEFAULT 0,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name),
    CHECK ((window_minutes IS NULL) <> (window_calls IS NULL))
);

-- The calls sampled into each monitor's open window: a queue. Closing a window deletes its rows
-- in the transaction that makes them the records of the window's run, so a sample is in exactly
-- one window; a call logged again finds its logged_calls row and is not sampled twice.
CREATE TABLE monitor_samples (
    monitor_id uuid NOT NULL REFERENCES monitors(id),
    call_id    uuid NOT NULL,
    logged_at  timestamptz NOT NULL,
    PRIMARY KEY (monitor_id, call_id)
);
CREATE INDEX monitor_samples_in_order ON monitor_samples (monitor_id, logged_at, call_id);

-- Runs without a testset: a monitor run's records are logged calls (records.testcase_id is the
-- call id), so records no longer reference testcases (the orchestrator checks a record's testcase
-- against its run's testset before storing it).
ALTER TABLE runs ALTER COLUMN testset_id DROP NOT NULL;
ALTER TABLE runs ADD COLUMN monitor_id uuid REFERENCES monitors(id);
ALTER TABLE runs ADD CONSTRAINT runs_testset_or_monitor CHECK (testset_id IS NOT NULL OR monitor_id IS NOT NULL);
CREATE INDEX runs_monitor_created ON runs (monitor_id, created_at DESC, id DESC) WHERE monitor_id IS NOT NULL;
ALTER TABLE records DROP CONSTRAINT IF EXISTS records_testcase_id_fkey;

-- Each closed window that sampled something, with its run.
CREATE TABLE monitor_windows (
    id               uuid PRIMARY KEY,
    monitor_id       uuid NOT NULL REFERENCES monitors(id),
    number           integer NOT NULL,
    run_id           uuid NOT NULL UNIQUE REFERENCES runs(id),
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz NOT NULL,
    calls            integer NOT NULL,
    closed_at        timestamptz NOT NULL DEFAULT now(),
    -- The run's score requests were all published (a closer that died before may not have);
    -- until then, the replica publishing them holds the window since scores_claimed_at.
    scores_requested boolean NOT NULL DEFAULT false,
    scores_claimed_at timestamptz NOT NULL DEFAULT now(),
    -- none (no alert) | waiting (the run is not finished) | below (a metric fell below its
    -- threshold: the webhook is due) | ok | skipped (the run failed or was cancelled)
    alert_state      text NOT NULL CHECK (alert_state IN ('none', 'waiting', 'below', 'ok', 'skipped')),
    -- What the webhook sends (for 'below').
    alert            jsonb,
    UNIQUE (monitor_id, number)
);
CREATE INDEX monitor_windows_unrequested ON monitor_windows (scores_claimed_at) WHERE NOT scores_requested;
CREATE INDEX monitor_windows_alert_waiting ON monitor_windows (closed_at) WHERE alert_state = 'waiting';
CREATE INDEX monitor_windows_alert_below ON monitor_windows (closed_at) WHERE alert_state = 'below';

-- Webhook deliveries of alerts (written by the system-executor, which calls out): one row per
-- window whose alert is due, claimed by one replica at a time.
CREATE TABLE alert_deliveries (
    window_id       uuid PRIMARY KEY REFERENCES monitor_windows(id),
    -- sending (claimed until claimed_until) | retrying (at next_attempt_at) | delivered | failed
    status          text NOT NULL CHECK (status IN ('sending', 'retrying', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    claimed_until   timestamptz,
    next_attempt_at timestamptz,
    response_status integer,
    error           text NOT NULL DEFAULT '',
    delivered_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
