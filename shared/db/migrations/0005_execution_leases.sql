-- A run's max_concurrency holds across every executor replica: each replica executing a run
-- leases a share of its slots here (written only by the system-executor). A lease not renewed
-- within its TTL (a killed replica) no longer counts.
CREATE TABLE execution_leases (
    run_id     uuid NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    -- One per replica executing the run (random each time it starts executing it).
    holder_id  uuid NOT NULL,
    -- Calls this holder may have in flight for the run (at least those it has in flight).
    slots      integer NOT NULL CHECK (slots >= 0),
    -- Calls it could start now if the limit allowed (work waiting, up to its own global cap).
    wanted     integer NOT NULL CHECK (wanted >= 0),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, holder_id)
);

-- Which replica is executing which chunk of a run. A chunk delivered twice (a redelivery while
-- the first delivery still waits or runs) is executed by the one holder of a live claim; the
-- other delivery waits until the chunk is finished (then it is acknowledged) or the claim lapses
-- (a killed holder: then it takes the chunk over and executes what has no record yet).
CREATE TABLE execution_chunks (
    run_id      uuid NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    chunk       integer NOT NULL,
    holder_id   uuid NOT NULL,
    expires_at  timestamptz NOT NULL,
    finished_at timestamptz,
    PRIMARY KEY (run_id, chunk)
);
