-- A run of part of its testset version (CreateRun's testcase_ids / metadata_filter / sample,
-- written by the run-orchestrator): how the testcases were chosen, as the run shows it, and — in
-- a table of their own, a row each, so that reading runs never carries them and the executor
-- finds each by its key — the testcases it executes. A run without rows executes every testcase
-- of its version.
ALTER TABLE runs ADD COLUMN subset jsonb;
CREATE TABLE run_subsets (
    run_id      uuid NOT NULL REFERENCES runs(id),
    testcase_id uuid NOT NULL,
    PRIMARY KEY (run_id, testcase_id)
);
