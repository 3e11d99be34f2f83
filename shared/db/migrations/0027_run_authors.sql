-- Who kicked off a run: the name of the API key (a person, a CI job) and its public prefix, or
-- what did for them ("schedule 'nightly'", "monitor 'checkout'"). Runs made before: ''.
ALTER TABLE runs ADD COLUMN created_by text NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN created_by_key_prefix text NOT NULL DEFAULT '';
