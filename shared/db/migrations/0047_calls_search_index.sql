-- The words of a logged call (the string and number values of its inputs and outputs), indexed:
-- ListCalls' search finds a rare word's calls through the index instead of reading a project's
-- calls newest first until a page is full (make bench-calls: a word over 30 days of a million calls
-- from ~460 ms to ~13 ms; storing a call costs PostgreSQL ~0.04 ms more CPU). The expression is
-- ListCalls' own (services/query/calls.py, _CALL_WORDS): the two must stay the same.
-- Building it holds off logging while it reads every call: on a large table, build it beforehand
-- with CREATE INDEX CONCURRENTLY (this name, this expression), and this does nothing.
CREATE INDEX IF NOT EXISTS logged_calls_words ON logged_calls USING gin (
    (jsonb_to_tsvector('simple', inputs, '["string", "numeric"]') || jsonb_to_tsvector('simple', outputs, '["string", "numeric"]'))
);
-- Its statistics at once: without them the planner takes any word for a common one and reads the
-- calls newest first anyway.
ANALYZE logged_calls;
