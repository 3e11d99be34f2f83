-- API keys (written by the run-orchestrator, which owns the catalog): a key belongs to one
-- project with one role, or to no project as the instance admin key. Only a SHA-256 of the whole
-- key is kept: keys are 190 random bits, so a fast hash cannot be searched; the prefix is the
-- public part that finds the row.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    project_id  uuid REFERENCES projects(id),
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('read', 'write', 'admin', 'instance_admin')),
    prefix      text NOT NULL UNIQUE,
    secret_hash bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK ((project_id IS NULL) = (role = 'instance_admin'))
);
CREATE INDEX api_keys_project ON api_keys (project_id, created_at DESC);

-- When a key was last used, per service: each edge writes only its own rows (at most once a
-- minute per key), so no row has two writers.
CREATE TABLE api_key_usage (
    key_id       uuid NOT NULL REFERENCES api_keys(id),
    service      text NOT NULL,
    last_used_at timestamptz NOT NULL,
    PRIMARY KEY (key_id, service)
);

-- Revocations reach every replica's key cache at once (LISTEN api_keys_changed).
CREATE FUNCTION api_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('api_keys_changed', NEW.prefix);
    RETURN NULL;
END $$;
CREATE TRIGGER api_keys_changed AFTER UPDATE ON api_keys FOR EACH ROW EXECUTE FUNCTION api_keys_changed();
