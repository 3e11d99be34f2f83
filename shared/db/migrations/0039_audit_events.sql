-- The audit log: every change a key made through the API (gRPC or HTTP) and every refused attempt
-- at one, written by the edge after the call answered. No foreign keys: an event outlives what it
-- names (a revoked key, a deleted testset) and is kept for SCOREKEEPER_AUDIT_RETENTION_DAYS.
CREATE TABLE IF NOT EXISTS audit_events (
    id uuid PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    -- The project acted on (the key's; the instance admin's: the one its request named). NULL when
    -- none could be told (an id of nothing).
    project_id uuid,
    -- The key: NULL id for the instance admin key (it has no row); name, prefix and role as it acted.
    key_id uuid,
    key_name text NOT NULL,
    key_prefix text NOT NULL,
    key_role text NOT NULL,
    -- The RPC (CreateMonitor, RevokeApiKey …) and the edge it came through: grpc | http.
    action text NOT NULL,
    edge text NOT NULL,
    -- The ids the request named, by field in the request's order ([{"field": "monitor_id", "ids":
    -- ["…"], "count": 1}], at most 10 ids each, count all of them), then {"field": "created", …}:
    -- the id of what the call made.
    targets jsonb NOT NULL DEFAULT '[]',
    -- The name the request gave (CreateMonitor's "checkout"), when it gave one.
    name text NOT NULL DEFAULT '',
    -- OK, or the error's code (PERMISSION_DENIED, INVALID_ARGUMENT …) and its message.
    outcome text NOT NULL,
    error text NOT NULL DEFAULT ''
);

CREATE INDEX IF NOT EXISTS audit_events_project_at ON audit_events (project_id, at DESC, id DESC);
CREATE INDEX IF NOT EXISTS audit_events_at ON audit_events (at);
