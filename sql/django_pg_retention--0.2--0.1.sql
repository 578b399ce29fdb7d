-- Reverses django_pg_retention--0.1--0.2.sql.
DROP FUNCTION IF EXISTS retention.prune_audit(integer);
