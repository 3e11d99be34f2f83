-- A logged call's id as its caller gave it when that was not a UUID ("req_01HX…", "chatcmpl-…"):
-- the call's id is then uuid5 of it (shared/ids.call_id_of: the same text, the same call), and the
-- text is kept here and travels into the record of a monitor run as metadata.call_id. Empty for
-- calls whose id was a UUID (or generated).
ALTER TABLE logged_calls ADD COLUMN IF NOT EXISTS call_key text NOT NULL DEFAULT '';
