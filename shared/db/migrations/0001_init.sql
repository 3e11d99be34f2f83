-- Catalog (written by the run-orchestrator)
CREATE TABLE projects (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE testsets (
    id            uuid PRIMARY KEY,
    project_id    uuid NOT NULL REFERENCES projects(id),
    name          text NOT NULL,
    description   text NOT NULL DEFAULT '',
    json_schema   jsonb,
    field_mapping jsonb NOT NULL,
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX testsets_project ON testsets (project_id);

CREATE TABLE testcases (
    id                uuid PRIMARY KEY,
    testset_id        uuid NOT NULL REFERENCES testsets(id),
    position          integer NOT NULL,
    data              jsonb NOT NULL,
    inputs            jsonb NOT NULL,
    expected          jsonb NOT NULL,
    metadata          jsonb NOT NULL,
    validation_errors jsonb NOT NULL DEFAULT '[]',
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (testset_id, position)
);

CREATE TABLE metrics (
    id          uuid PRIMARY KEY,
    project_id  uuid NOT NULL REFERENCES projects(id),
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX metrics_project ON metrics (project_id);

-- Immutable: every edit of a metric makes a new version; runs pin versions.
CREATE TABLE metric_versions (
    id                uuid PRIMARY KEY,
    metric_id         uuid NOT NULL REFERENCES metrics(id),
    version           integer NOT NULL,
    eval_type         text NOT NULL CHECK (eval_type IN ('ai', 'heuristic', 'human')),
    output_type       text NOT NULL CHECK (output_type IN ('boolean', 'int', 'float')),
    guidelines        text NOT NULL DEFAULT '',
    passing_threshold double precision,
    config            jsonb NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (metric_id, version)
);

CREATE TABLE systems (
    id                    uuid PRIMARY KEY,
    project_id            uuid NOT NULL REFERENCES projects(id),
    name                  text NOT NULL,
    description           text NOT NULL DEFAULT '',
    production_version_id uuid,
    created_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);

-- Immutable once created.
CREATE TABLE system_versions (
    id         uuid PRIMARY KEY,
    system_id  uuid NOT NULL REFERENCES systems(id),
    name       text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('http', 'llm', 'sdk')),
    config     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (system_id, name)
);

-- Runs and records (written by the run-orchestrator)
CREATE TABLE runs (
    id                    uuid PRIMARY KEY,
    project_id            uuid NOT NULL REFERENCES projects(id),
    testset_id            uuid NOT NULL REFERENCES testsets(id),
    testset_version       integer NOT NULL,
    system_version_id     uuid REFERENCES system_versions(id),
    metric_version_ids    uuid[] NOT NULL,
    source                text NOT NULL CHECK (source IN ('api', 'kickoff', 'playground', 'monitor', 'ci')),
    status                text NOT NULL,
    trials                integer NOT NULL CHECK (trials >= 1),
    max_concurrency       integer,
    expected_records      integer NOT NULL,
    notes                 text NOT NULL DEFAULT '',
    error                 text NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL DEFAULT now(),
    started_at            timestamptz,
    finished_at           timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX runs_project_created ON runs (project_id, created_at DESC, id DESC);

CREATE TABLE run_status_transitions (
    run_id  uuid NOT NULL REFERENCES runs(id),
    status  text NOT NULL,
    at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX run_status_transitions_run ON run_status_transitions (run_id, at);

-- id = uuid5(run, testcase, trial): a redelivered record.produced finds its row.
CREATE TABLE records (
    id          uuid PRIMARY KEY,
    run_id      uuid NOT NULL REFERENCES runs(id),
    testcase_id uuid NOT NULL REFERENCES testcases(id),
    trial       integer NOT NULL,
    inputs      jsonb NOT NULL,
    expected    jsonb NOT NULL,
    outputs     jsonb NOT NULL,
    status      text NOT NULL CHECK (status IN ('pending', 'completed', 'errored')),
    error       text NOT NULL DEFAULT '',
    latency_ms  double precision NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, testcase_id, trial)
);
CREATE INDEX records_run_id ON records (run_id, id);

-- Record counts per run, spread over shards (shard = a hash of the record id) so that concurrent
-- record writes do not queue on one row; readers sum the shards.
CREATE TABLE run_record_counts (
    run_id  uuid NOT NULL REFERENCES runs(id),
    shard   smallint NOT NULL,
    records integer NOT NULL DEFAULT 0,
    errored integer NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, shard)
);

-- Scores and aggregates (written by the scorer). id = uuid5(record, metric version).
CREATE TABLE scores (
    id                uuid PRIMARY KEY,
    record_id         uuid NOT NULL REFERENCES records(id),
    run_id            uuid NOT NULL REFERENCES runs(id),
    metric_version_id uuid NOT NULL REFERENCES metric_versions(id),
    status            text NOT NULL CHECK (status IN ('pending', 'completed', 'errored')),
    value             jsonb,
    value_num         double precision,
    passed            boolean,
    reasoning         text NOT NULL DEFAULT '',
    error             text NOT NULL DEFAULT '',
    scored_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (record_id, metric_version_id)
);
CREATE INDEX scores_run_metric ON scores (run_id, metric_version_id);

-- Per run × metric version (sharded like run_record_counts), changed in the same transaction
-- as the score row.
CREATE TABLE run_metric_aggregates (
    run_id            uuid NOT NULL REFERENCES runs(id),
    metric_version_id uuid NOT NULL REFERENCES metric_versions(id),
    shard             smallint NOT NULL,
    scored            integer NOT NULL DEFAULT 0,
    passed            integer NOT NULL DEFAULT 0,
    sum               double precision NOT NULL DEFAULT 0,
    sum_sq            double precision NOT NULL DEFAULT 0,
    errored           integer NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, metric_version_id, shard)
);
