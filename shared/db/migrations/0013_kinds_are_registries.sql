-- System kinds and eval types are registries (shared/system_kinds.py, shared/scoring/eval_types.py),
-- checked where versions are made: adding one needs no migration.
ALTER TABLE system_versions DROP CONSTRAINT IF EXISTS system_versions_kind_check;
ALTER TABLE metric_versions DROP CONSTRAINT IF EXISTS metric_versions_eval_type_check;
