-- The schedule a run was kicked off by (its firing, or its Run now), so that a schedule's runs are
-- listed and charted together (QueryService ListRuns / GetRunHistory `schedule_id`). No foreign
-- key: a schedule is deleted, its runs stay and keep the id. Runs made before this are found by
-- the name they were made under (runs.created_by, 0027), when the schedule still has it.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS schedule_id uuid;
UPDATE runs r SET schedule_id = s.id FROM schedules s
 WHERE r.source = 'schedule' AND r.schedule_id IS NULL AND s.project_id = r.project_id
   AND r.created_by = 'schedule ''' || s.name || '''';
CREATE INDEX IF NOT EXISTS runs_by_schedule ON runs (schedule_id, created_at DESC) WHERE schedule_id IS NOT NULL;
