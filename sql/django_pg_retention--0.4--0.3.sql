-- Reverses django_pg_retention--0.3--0.4.sql.
DROP VIEW IF EXISTS retention_report;
DROP FUNCTION IF EXISTS retention.report();
