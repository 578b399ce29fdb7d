-- Reverses django_pg_retention--0.1.sql (and every generated purge function with it).
DROP SCHEMA IF EXISTS retention CASCADE;
