-- Archived metrics (CatalogService.ArchiveMetric, written by the run-orchestrator): a retired
-- metric left out of metric lists and refused for new runs; its versions and scores stay.
ALTER TABLE metrics ADD COLUMN archived_at timestamptz;
