-- Reverses django_pg_retention--0.4--0.5.sql.
DROP TRIGGER IF EXISTS retention_run_alert ON retention_run;
DROP FUNCTION IF EXISTS retention.raise_alert();
DROP PROCEDURE IF EXISTS retention.drain_requests();
DROP VIEW IF EXISTS retention_daily;
