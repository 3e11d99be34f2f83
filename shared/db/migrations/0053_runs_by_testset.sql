-- A testset's runs, newest first: ListRuns filtered by testset, and each run's previous run
-- (shared/db/previous_run.py: the newest earlier run of its testset with scores) found without
-- walking a project's other runs — a monitor's window runs among them.
CREATE INDEX runs_testset_created ON runs (testset_id, created_at DESC, id DESC) WHERE testset_id IS NOT NULL;
