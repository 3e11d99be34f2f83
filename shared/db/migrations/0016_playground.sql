-- Playground tries (written by the run-orchestrator). A try is a run of its own: source
-- 'playground', flagged playground_try so that run lists, the run history and the Records page
-- leave it out; it executes a scratch testset holding just the try's cases (flagged the same way,
-- so testset lists leave it out) and, unless it names a saved version, the prompt it was given.

-- The try's prompt when it runs no saved system version: an llm system config, executed as a
-- version of kind llm would be. (No CHECK that a run names a system: runs of results uploaded
-- by the SDK and monitor windows execute none.)
ALTER TABLE runs ADD COLUMN llm_config jsonb;
ALTER TABLE runs ADD COLUMN playground_try boolean NOT NULL DEFAULT false;

ALTER TABLE testsets ADD COLUMN playground_try boolean NOT NULL DEFAULT false;

CREATE TABLE playground_tries (
    id                    uuid PRIMARY KEY,
    project_id            uuid NOT NULL REFERENCES projects(id),
    -- The run holding the try's prompt (runs.llm_config), cases (its scratch testset), pinned
    -- metric versions, records and scores.
    run_id                uuid NOT NULL UNIQUE REFERENCES runs(id),
    -- The saved version the prompt started from; NULL for a prompt written in the playground.
    system_version_id     uuid REFERENCES system_versions(id),
    -- The testset the picked testcases came from, and those testcases in the try's order (the
    -- scratch testset holds their copies first, then the typed cases).
    testset_id            uuid REFERENCES testsets(id),
    testcase_ids          uuid[] NOT NULL DEFAULT '{}',
    -- Who tried: the API key's name and public prefix.
    created_by            text NOT NULL,
    created_by_key_prefix text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX playground_tries_project_created ON playground_tries (project_id, created_at DESC, id DESC);
