-- Testset versions. Every change to a testset's content makes a new immutable version; a run
-- pins one (runs.testset_version) and executes exactly the testcases of that version.
--
-- testcases stays the identity table (records reference testcases(id), and an id survives
-- updates); the content lives in testcase_revisions, each valid for the versions
-- [from_version, to_version). Version v of a testset = its revisions with
-- from_version <= v < coalesce(to_version, infinity).

ALTER TABLE testsets ADD COLUMN deleted_at timestamptz;
ALTER TABLE testsets ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
DROP INDEX testsets_project;
CREATE INDEX testsets_project_created ON testsets (project_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- One row per version: the schema and mapping it was derived with, and its counts.
CREATE TABLE testset_versions (
    testset_id             uuid NOT NULL REFERENCES testsets(id),
    version                integer NOT NULL CHECK (version >= 1),
    change                 text NOT NULL,
    json_schema            jsonb,
    field_mapping          jsonb NOT NULL,
    testcase_count         integer NOT NULL,
    invalid_testcase_count integer NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (testset_id, version)
);

CREATE TABLE testcase_revisions (
    testcase_id       uuid NOT NULL REFERENCES testcases(id),
    testset_id        uuid NOT NULL REFERENCES testsets(id),
    from_version      integer NOT NULL,
    to_version        integer,
    position          integer NOT NULL,
    data              jsonb NOT NULL,
    inputs            jsonb NOT NULL,
    expected          jsonb NOT NULL,
    metadata          jsonb NOT NULL,
    validation_errors jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (testcase_id, from_version),
    CHECK (to_version IS NULL OR to_version > from_version)
);
-- "Testcases of testset T at version v, in position order" (the executor's and the lists'
-- keyset query): an index range scan on (T, position > after), the version filter on the index.
CREATE INDEX testcase_revisions_by_position
    ON testcase_revisions (testset_id, position, from_version, to_version);
-- The latest version (writes close these rows): small, and unique per position.
CREATE UNIQUE INDEX testcase_revisions_current
    ON testcase_revisions (testset_id, position) WHERE to_version IS NULL;

-- Existing testcases become the revisions of their testset's current version.
INSERT INTO testcase_revisions
    (testcase_id, testset_id, from_version, to_version, position, data, inputs, expected, metadata, validation_errors)
SELECT c.id, c.testset_id, t.version, NULL, c.position, c.data, c.inputs, c.expected, c.metadata, c.validation_errors
FROM testcases c JOIN testsets t ON t.id = c.testset_id;

INSERT INTO testset_versions
    (testset_id, version, change, json_schema, field_mapping, testcase_count, invalid_testcase_count, created_at)
SELECT t.id, t.version, 'created', t.json_schema, t.field_mapping,
       (SELECT count(*) FROM testcases c WHERE c.testset_id = t.id),
       (SELECT count(*) FROM testcases c WHERE c.testset_id = t.id AND c.validation_errors <> '[]'::jsonb),
       t.created_at
FROM testsets t;

ALTER TABLE testcases
    DROP COLUMN position,
    DROP COLUMN data,
    DROP COLUMN inputs,
    DROP COLUMN expected,
    DROP COLUMN metadata,
    DROP COLUMN validation_errors;
CREATE INDEX testcases_testset ON testcases (testset_id);
