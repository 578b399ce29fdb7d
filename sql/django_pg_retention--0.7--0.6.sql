-- Reverses django_pg_retention--0.6--0.7.sql (the migration then re-applies the 0.6 run_cleanup,
-- the 0.4 report(), the 0.5 drain_requests() and the 0.2 prune_audit()).
DROP FUNCTION IF EXISTS retention.seal_run(bigint);
DROP FUNCTION IF EXISTS retention.run_record(bigint);
DROP FUNCTION IF EXISTS retention.item_record(retention_run_item);
DROP FUNCTION IF EXISTS retention.epoch_us(timestamptz);
DROP FUNCTION IF EXISTS retention.netstring(text);
DROP FUNCTION IF EXISTS retention.item_digests(bigint);
DROP FUNCTION IF EXISTS retention.soft_deleted_condition(text, text);
