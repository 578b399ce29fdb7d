-- Reverses django_pg_retention--0.1.sql (and every generated purge function with it).
DROP VIEW IF EXISTS retention_daily;
DROP VIEW IF EXISTS retention_report;
DROP TRIGGER IF EXISTS retention_run_alert ON retention_run;
DROP SCHEMA IF EXISTS retention CASCADE;
