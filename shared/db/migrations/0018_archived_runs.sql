-- Archived runs (RunService.ArchiveRun, written by the run-orchestrator): a finished run hidden
-- from run lists, the run history, the Records page and the review queues; nothing is deleted.
ALTER TABLE runs ADD COLUMN archived_at timestamptz;
