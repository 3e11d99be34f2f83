-- A monitor deleted (MonitorService.DeleteMonitor) keeps its row, so that the runs of its closed
-- windows still name it; it samples nothing, closes no window and is listed nowhere, and its name
-- can be given to another monitor.
ALTER TABLE monitors DROP CONSTRAINT IF EXISTS monitors_status_check;
ALTER TABLE monitors ADD CONSTRAINT monitors_status_check CHECK (status IN ('active', 'paused', 'deleted'));
ALTER TABLE monitors DROP CONSTRAINT IF EXISTS monitors_project_id_name_key;
CREATE UNIQUE INDEX monitors_project_name ON monitors (project_id, name) WHERE status <> 'deleted';
