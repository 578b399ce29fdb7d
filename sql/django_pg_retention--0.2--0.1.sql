-- django-pg-retention 0.2 -> 0.1 (migrate django_pg_retention 0007): drops what
-- django_pg_retention--0.1--0.2.sql created or re-signed; django_pg_retention--0.1.sql is then
-- applied again and restores 0.1's definitions of everything else.
DROP FUNCTION IF EXISTS retention.sql_version();
-- Record format 2 and the chunked digests (0.1's seal_run and item_digests come back with 0.1's file).
DROP FUNCTION IF EXISTS retention.run_record(bigint, integer);
DROP FUNCTION IF EXISTS retention.item_record(retention_run_item, integer);
DROP FUNCTION IF EXISTS retention.chunked_keys_digest(bigint, text, text, boolean, integer);
DROP FUNCTION IF EXISTS retention.lines_sha256(text[]);
-- Audit pruning: the record's function (0.1's prune_audit and audit_tables come back with 0.1's
-- file; migration 0008 then drops the table retention_audit_prune, with its triggers).
DROP FUNCTION IF EXISTS retention.prune_record(retention_audit_prune);
-- Legal holds (issues 28, 30).
DROP TRIGGER IF EXISTS retention_hold_check ON @app_schema@.retention_hold;
DROP FUNCTION IF EXISTS retention.check_hold();
DROP TABLE IF EXISTS @app_schema@.retention_hold_target;  -- and its trigger retention_hold_target_guard
DROP FUNCTION IF EXISTS retention.guard_hold_target();

-- Security (issue 30): what that section created; the functions it replaced come back with 0.1.
DROP TRIGGER IF EXISTS retention_policy_history ON retention_policy;
DROP FUNCTION IF EXISTS retention.record_policy_change();
DROP FUNCTION IF EXISTS retention.executor_roles();
DROP FUNCTION IF EXISTS retention.revoke_executor(regrole);
DROP FUNCTION IF EXISTS retention.refuse_shorter_retention(text, integer);
DROP FUNCTION IF EXISTS retention.refuse_planting_sessions();
DROP FUNCTION IF EXISTS retention.refuse_foreign_triggers(oid[]);
DROP FUNCTION IF EXISTS retention.check_run_arguments(bigint, bigint);
DROP FUNCTION IF EXISTS retention.max_days();
DROP TABLE IF EXISTS retention.dry_gone;
DO $$
DECLARE
  audit_table text;
BEGIN
  FOREACH audit_table IN ARRAY retention.audit_tables() LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS retention_audit_guard_row ON %I', audit_table);
  END LOOP;
END
$$;
DROP FUNCTION IF EXISTS retention.guard_audit_row();

-- The rest of issue 30: seals of holds and policy history, the direct-call check, bigint numbers
-- (0.1's file creates run_cleanup with integer ones again; grant_executor then grants it).
DROP TRIGGER IF EXISTS retention_seal ON @app_schema@.retention_hold;
DROP TRIGGER IF EXISTS retention_seal ON @app_schema@.retention_policy_history;
DROP FUNCTION IF EXISTS retention.seal_audit_row();
DROP FUNCTION IF EXISTS retention.seal_record(text, bigint, jsonb, boolean);
DROP FUNCTION IF EXISTS retention.sealed_record(text, jsonb);
DROP TABLE IF EXISTS retention.record_seal;
DROP FUNCTION IF EXISTS retention.refuse_direct_step_call();
DROP PROCEDURE IF EXISTS retention.run_cleanup(boolean, text, bigint, bigint, text, boolean);

-- The review of 0.2: write guards, the policy and request guards, and the
-- locks table (0.1's file brings back backend_is_running, real_run_waiting and drain_requests as
-- they were, with advisory locks).
DO $$
DECLARE
  guarded text;
BEGIN
  FOREACH guarded IN ARRAY ARRAY['retention_run', 'retention_run_item', 'retention_deleted_keys', 'retention_audit_prune',
                                 'retention_config', 'retention_alert', 'retention_outbox'] LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS retention_owner_writes ON %I', guarded);
  END LOOP;
END
$$;
DROP FUNCTION IF EXISTS retention.install_write_guards();
DROP FUNCTION IF EXISTS retention.refuse_foreign_writes();
DROP TRIGGER IF EXISTS retention_policy_guard ON retention_policy;
DROP FUNCTION IF EXISTS retention.guard_policy_row();
DROP TRIGGER IF EXISTS retention_request_guard ON retention_request;
DROP TRIGGER IF EXISTS retention_history_guard ON retention_policy_history;
DROP TRIGGER IF EXISTS retention_marked_guard ON retention_outbox;
DROP TRIGGER IF EXISTS retention_marked_guard ON retention_alert;
DROP FUNCTION IF EXISTS retention.guard_marked_row();
DROP FUNCTION IF EXISTS retention.guard_history_row();
DROP FUNCTION IF EXISTS retention.guard_request_row();
DROP FUNCTION IF EXISTS retention.take_lock(text, text);
DROP TABLE IF EXISTS retention.locks;

-- Citus (issue 27).
DROP FUNCTION IF EXISTS retention.distribution_column(regclass);


-- Passes that only a purge of a blocking table starts (issue 25); migration 0015's column goes with its reversal.
DROP FUNCTION IF EXISTS retention.pass_waiting(jsonb, bigint, jsonb, boolean);

-- Whole partitions (issue 26); migration 0012's columns go with its reversal.
DROP FUNCTION IF EXISTS retention.drop_partition(bigint, regclass);
DROP FUNCTION IF EXISTS retention.expired_partitions(bigint);
DROP FUNCTION IF EXISTS retention.partition_upper_bound(regclass);
DROP FUNCTION IF EXISTS retention.range_partitioned_on(regclass, text);
-- The generated refs__<app>__<model>(text[]) functions that sync created for drop_partition.
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'retention'::regnamespace AND p.proname ~ '^refs__'
              AND pg_catalog.pg_get_function_identity_arguments(p.oid) = 'text[]'
  LOOP
    EXECUTE pg_catalog.format('DROP FUNCTION %s', f);
  END LOOP;
END
$$;
