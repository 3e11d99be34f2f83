-- Metrics engine: what a record cost, what a judge cost, and the aggregates behind std dev,
-- confidence intervals and precision / recall / F1.

-- The testcase's metadata travels with the record (judge templates read {{ metadata.* }});
-- usage and cost of the system call (NULL cost: the system did not say).
ALTER TABLE records ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}';
ALTER TABLE records ADD COLUMN prompt_tokens integer NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN completion_tokens integer NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN cost_usd double precision;

-- What scoring cost (an AI judge's usage; 0 / NULL for heuristics and humans).
ALTER TABLE scores ADD COLUMN prompt_tokens integer NOT NULL DEFAULT 0;
ALTER TABLE scores ADD COLUMN completion_tokens integer NOT NULL DEFAULT 0;
ALTER TABLE scores ADD COLUMN cost_usd double precision;

-- Aggregates are kept per trial as well (the confidence interval of a run with trials > 1 is
-- taken over the per-trial means), with the confusion counts of a boolean metric against the
-- testcase's expected label, and the judge's usage.
ALTER TABLE run_metric_aggregates ADD COLUMN trial integer NOT NULL DEFAULT 0;
ALTER TABLE run_metric_aggregates DROP CONSTRAINT run_metric_aggregates_pkey;
ALTER TABLE run_metric_aggregates ADD PRIMARY KEY (run_id, metric_version_id, trial, shard);
ALTER TABLE run_metric_aggregates ADD COLUMN true_pos integer NOT NULL DEFAULT 0;
ALTER TABLE run_metric_aggregates ADD COLUMN false_pos integer NOT NULL DEFAULT 0;
ALTER TABLE run_metric_aggregates ADD COLUMN false_neg integer NOT NULL DEFAULT 0;
ALTER TABLE run_metric_aggregates ADD COLUMN true_neg integer NOT NULL DEFAULT 0;
ALTER TABLE run_metric_aggregates ADD COLUMN prompt_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE run_metric_aggregates ADD COLUMN completion_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE run_metric_aggregates ADD COLUMN cost_usd double precision NOT NULL DEFAULT 0;
