-- django-pg-retention 0.2 -> 0.1 (migrate django_pg_retention 0007): drops what
-- django_pg_retention--0.1--0.2.sql created or re-signed; django_pg_retention--0.1.sql is then
-- applied again and restores 0.1's definitions of everything else.
DROP FUNCTION IF EXISTS retention.sql_version();
-- Audit pruning: the record's function (0.1's prune_audit and audit_tables come back with 0.1's
-- file; migration 0008 then drops the table retention_audit_prune, with its triggers).
DROP FUNCTION IF EXISTS retention.prune_record(retention_audit_prune);
-- Legal holds (issues 28, 30).
DROP TRIGGER IF EXISTS retention_hold_check ON @app_schema@.retention_hold;
DROP FUNCTION IF EXISTS retention.check_hold();
DROP TABLE IF EXISTS @app_schema@.retention_hold_target;  -- and its trigger retention_hold_target_guard
DROP FUNCTION IF EXISTS retention.guard_hold_target();
