-- Reverses django_pg_retention--0.5--0.6.sql: back to the five-argument run_cleanup of 0.3
-- (the migration re-applies django_pg_retention--0.2--0.3.sql after this file).
DROP PROCEDURE IF EXISTS retention.run_cleanup(boolean, text, integer, integer, text, boolean);
