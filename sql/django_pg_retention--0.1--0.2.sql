-- django-pg-retention 0.1 -> 0.2. Applied by migration 0008 to databases installed from 0.1.0
-- and, after django_pg_retention--0.1.sql, to every fresh install, so both end the same.
-- Until 0.2.0 is released this file may change; from then on it is frozen like 0.1's.
-- django_pg_retention--0.2--0.1.sql reverses it: it drops what this file creates or re-signs.
-- Rules for whoever adds to it: CREATE OR REPLACE resets a function's settings, so the loop at the
-- end pins search_path again; a function whose signature or return type changes is dropped first;
-- a removed function is dropped here; a REVOKE ... FROM PUBLIC follows every new routine.

-- Which version of this SQL the database holds (retention status prints it).
CREATE OR REPLACE FUNCTION retention.sql_version() RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT '0.2' $$;
COMMENT ON FUNCTION retention.sql_version() IS 'The version of django-pg-retention''s SQL installed in this database';
REVOKE ALL ON FUNCTION retention.sql_version() FROM PUBLIC;

-- The locks of the definer code: row locks on this table of the owner's, granted to nobody, instead
-- of 0.1's advisory locks, which every role that may connect can take (holding one made every run
-- skip silently, held back every legal hold, or left a purged run unsealed). Transaction-scoped,
-- as the advisory locks were.
CREATE TABLE retention.locks (name text PRIMARY KEY);
INSERT INTO retention.locks (name) VALUES ('chain'), ('record_seal'), ('run_cleanup'), ('real_run_waiting'),
                                          ('drain_requests');
COMMENT ON TABLE retention.locks IS 'django-pg-retention: one row per lock of its definer code (retention.take_lock)';
REVOKE ALL ON TABLE retention.locks FROM PUBLIC;

-- mode 'wait': waits for the lock; 'try': false when another transaction holds it; 'try_shared': a
-- shared lock, false when another transaction holds it exclusively. Held until this transaction
-- ends. Runs with its caller's rights: only the owner's code can lock these rows.
CREATE OR REPLACE FUNCTION retention.take_lock(lock_name text, mode text DEFAULT 'wait') RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF mode OPERATOR(pg_catalog.=) 'wait' THEN
    PERFORM 1 FROM retention.locks l WHERE l.name OPERATOR(pg_catalog.=) lock_name FOR UPDATE;
  ELSIF mode OPERATOR(pg_catalog.=) 'try' THEN
    PERFORM 1 FROM retention.locks l WHERE l.name OPERATOR(pg_catalog.=) lock_name FOR UPDATE SKIP LOCKED;
  ELSIF mode OPERATOR(pg_catalog.=) 'try_shared' THEN
    PERFORM 1 FROM retention.locks l WHERE l.name OPERATOR(pg_catalog.=) lock_name FOR SHARE SKIP LOCKED;
  ELSE
    RAISE EXCEPTION 'retention.take_lock: unknown mode %, expected wait, try or try_shared', pg_catalog.quote_literal(mode);
  END IF;
  IF FOUND THEN
    RETURN true;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM retention.locks l WHERE l.name OPERATOR(pg_catalog.=) lock_name) THEN
    RAISE EXCEPTION 'retention.locks has no row %: reinstall with manage.py migrate', pg_catalog.quote_literal(lock_name);
  END IF;
  RETURN false;
END
$$;
COMMENT ON FUNCTION retention.take_lock(text, text) IS 'Locks a row of retention.locks until the transaction ends';
REVOKE ALL ON FUNCTION retention.take_lock(text, text) FROM PUBLIC;

-- The audit record in a given format (record_format). Format 1 is 0.1.0's (retention.run_record(run),
-- 0.1's file); format 2 adds each digest's "chunk" (the keys per chunk, item_digests below) after its
-- order. django_pg_retention/audit.py computes both independently.
CREATE OR REPLACE FUNCTION retention.item_record(i retention_run_item, record_format integer) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT (SELECT string_agg(retention.netstring(u.f), '' ORDER BY u.o)
            FROM unnest(ARRAY['item', i.id::text, i.model_path, i.db_table, i.retention_days::text,
                              i.policy_source, retention.epoch_us(i.cutoff), i.eligible::text, i.deleted::text,
                              i.blocked::text, i.skipped_locked::text, i.status, i.error,
                              retention.epoch_us(i.started_at), retention.epoch_us(i.finished_at),
                              coalesce((extract(epoch FROM i.duration) * 1000000)::bigint::text, ''),
                              i.throttled_ms::text, coalesce(i.replica_lag_bytes::text, ''),
                              (SELECT count(*) FROM jsonb_object_keys(i.digests))::text]) WITH ORDINALITY AS u(f, o))
      || coalesce((SELECT string_agg(retention.netstring(d.key) || retention.netstring(d.value->>'count')
                                     || retention.netstring(d.value->>'sha256')
                                     || retention.netstring(d.value->>'order')
                                     || CASE WHEN record_format >= 2 THEN retention.netstring(d.value->>'chunk') ELSE '' END,
                                     '' ORDER BY d.key COLLATE "C")
                     FROM jsonb_each(i.digests) d), '')
      || retention.counts_record(i.cascaded) || retention.counts_record(i.updated)
      || retention.counts_record(i.blocked_reasons)
      || retention.netstring(jsonb_array_length(i.batch_durations_ms)::text)
      || coalesce((SELECT string_agg(retention.netstring(b.value #>> '{}'), '' ORDER BY b.o)
                     FROM jsonb_array_elements(i.batch_durations_ms) WITH ORDINALITY AS b(value, o)), '')
$$;
COMMENT ON FUNCTION retention.item_record(retention_run_item, integer) IS
  'The canonical text of one run item in a record format (part of run_record)';
REVOKE ALL ON FUNCTION retention.item_record(retention_run_item, integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION retention.run_record(run bigint, record_format integer) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT (SELECT string_agg(retention.netstring(u.f), '' ORDER BY u.o)
            FROM retention_run r,
                 unnest(ARRAY['run', r.id::text, retention.epoch_us(r.started_at), retention.epoch_us(r.finished_at),
                              r.status, r.triggered_by, r.dry_run::text, r.model_filter,
                              coalesce(r.days_override::text, ''), r.rows_deleted::text, r.error, r.requested_by])
                   WITH ORDINALITY AS u(f, o)
           WHERE r.id = run)
      || coalesce((SELECT string_agg(retention.item_record(i, record_format), '' ORDER BY i.id)
                     FROM retention_run_item i WHERE i.run_id = run), '')
$$;
COMMENT ON FUNCTION retention.run_record(bigint, integer) IS
  'The canonical text of a run and its items in a record format, as the audit chain hashes it';
REVOKE ALL ON FUNCTION retention.run_record(bigint, integer) FROM PUBLIC;

-- Append a finished run to the chain, saying which record format its hash covers (record_format,
-- migration 0008): django_pg_retention/audit.py recomputes each sealed run in its own format, so a
-- later format never turns an earlier run's proof into a false alarm. Runs are sealed in format 2.
CREATE OR REPLACE FUNCTION retention.seal_run(run bigint) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  last_position bigint;
  last_hash text;
  sealed_position bigint;
  sealed_hash text;
BEGIN
  PERFORM retention.take_lock('chain');
  SELECT r.chain_position, r.hash INTO last_position, last_hash
    FROM retention_run r WHERE r.chain_position IS NOT NULL ORDER BY r.chain_position DESC LIMIT 1;
  UPDATE retention_run r
     SET chain_position = coalesce(last_position, 0) + 1,
         prev_hash = coalesce(last_hash, ''),
         record_format = 2,
         hash = encode(sha256(convert_to(coalesce(last_hash, '') || retention.run_record(run, 2), 'UTF8'::name)), 'hex')
   WHERE r.id = run AND r.hash = '' AND r.status <> 'running'
  RETURNING r.chain_position, r.hash INTO sealed_position, sealed_hash;
  IF sealed_position IS NOT NULL THEN
    -- A witness outside the tables: a shipped server log keeps every head (retention verify --head).
    RAISE LOG 'django-pg-retention: sealed run % as chain head %:%', run, sealed_position, sealed_hash;
  END IF;
END
$$;
COMMENT ON FUNCTION retention.seal_run(bigint) IS 'Seals a finished run into the audit hash chain';
REVOKE ALL ON FUNCTION retention.seal_run(bigint) FROM PUBLIC;

-- A database taken back to 0.1.0 (migrate django_pg_retention 0007) loses record_format with its
-- column, and upgraded again gets 1 for every run: a run sealed in format 2 before the downgrade gets
-- its number back, by the record its hash covers. A run that matches neither format stays 1 and
-- verify reports it; a run whose two records are the same text (no digests) needs no number.
DO $$
BEGIN
  PERFORM set_config('pgtrigger.ignore',
                     coalesce((SELECT '{' || string_agg(t.tgname, ',') || '}' FROM pg_trigger t
                                WHERE t.tgrelid = 'retention_run'::regclass
                                  AND t.tgname LIKE 'pgtrigger\_append\_only\_update%'), '{}'),
                     true);
  UPDATE retention_run r SET record_format = 2
   WHERE r.hash <> '' AND r.record_format = 1
     AND r.hash <> encode(sha256(convert_to(r.prev_hash || retention.run_record(r.id), 'UTF8'::name)), 'hex')
     AND r.hash = encode(sha256(convert_to(r.prev_hash || retention.run_record(r.id, 2), 'UTF8'::name)), 'hex');
  PERFORM set_config('pgtrigger.ignore', '{}', true);
END
$$;

-- Audit pruning (issue 30.4): housekeeping records what it removes (retention_audit_prune, a
-- Django model created by migration 0008 before this file runs), so that a missing start of the
-- chain counts as pruned only when a record says so. Each record names the last position and hash
-- it removed, when, under which period, and the newest run it removed; the records are chained
-- among themselves (hash = sha256(prev_hash || record)) and append-only like the other audit tables
-- (django-pgtrigger's triggers, and the guard below). `retention verify` checks that the chain
-- starts right after the latest record, and that its runs were older than its period.
CREATE OR REPLACE FUNCTION retention.prune_record(p retention_audit_prune) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT retention.netstring('prune') || retention.netstring(p.id::text) || retention.netstring(retention.epoch_us(p.pruned_at))
      || retention.netstring(p.older_than_days::text) || retention.netstring(p.through_position::text)
      || retention.netstring(p.through_hash) || retention.netstring(p.runs_removed::text)
      || retention.netstring(retention.epoch_us(p.newest_removed_at)) || retention.netstring(p.at_upgrade::text)
$$;
COMMENT ON FUNCTION retention.prune_record(retention_audit_prune) IS
  'The canonical text of a pruning record, as its hash covers it (audit.py computes the same)';
REVOKE ALL ON FUNCTION retention.prune_record(retention_audit_prune) FROM PUBLIC;

CREATE OR REPLACE FUNCTION retention.audit_tables() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT ARRAY['retention_run', 'retention_run_item', 'retention_policy_history', 'retention_hold',
               'retention_audit_prune']
$$;
COMMENT ON FUNCTION retention.audit_tables() IS 'The append-only audit tables';
REVOKE ALL ON FUNCTION retention.audit_tables() FROM PUBLIC;

-- Housekeeping (the pg_cron job "housekeeping"): removes the oldest sealed runs, with their items
-- and alerts, up to the first run that is not older than the period: always a start of the chain,
-- never a run in the middle of it. Records what it removed (retention_audit_prune) in the same
-- transaction. The append-only triggers are lifted (pgtrigger.ignore) for this transaction only.
CREATE OR REPLACE FUNCTION retention.prune_audit(older_than_days integer) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  prune_before constant timestamptz := now() - make_interval(days => older_than_days);
  first_kept bigint;
  through bigint;
  through_hash text;
  newest timestamptz;
  pruned bigint;
  chained bigint;
  last_id bigint;
  last_hash text;
  entry retention_audit_prune;
BEGIN
  IF older_than_days IS NULL OR older_than_days < 1 THEN
    RAISE EXCEPTION 'retention.prune_audit: older_than_days must be at least 1, not %', older_than_days;
  END IF;
  -- The audit is the proof of every purge: never pruned sooner than the setting says to keep it.
  IF older_than_days < (retention.config()).audit_retention_days THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('retention.prune_audit: older_than_days %s is shorter than audit_retention_days (%s)',
                       older_than_days, (retention.config()).audit_retention_days),
      HINT = 'Change RETENTION_CLEANUP_CONFIG["audit_retention_days"] and run manage.py retention sync first.';
  END IF;
  PERFORM retention.take_lock('chain');  -- no run is sealed meanwhile
  SELECT min(r.chain_position) INTO first_kept FROM retention_run r
   WHERE r.chain_position IS NOT NULL AND coalesce(r.finished_at, r.started_at) >= prune_before;
  SELECT max(r.chain_position) INTO through FROM retention_run r
   WHERE r.chain_position IS NOT NULL AND (first_kept IS NULL OR r.chain_position < first_kept);
  through := coalesce(through, 0);
  SELECT r.hash INTO through_hash FROM retention_run r WHERE r.chain_position = through;
  SELECT max(coalesce(r.finished_at, r.started_at)), count(*) INTO newest, chained
    FROM retention_run r WHERE r.chain_position <= through;
  PERFORM set_config('pgtrigger.ignore',
                     coalesce((SELECT '{' || string_agg(t.tgname, ',') || '}' FROM pg_trigger t
                                WHERE t.tgrelid IN ('retention_run'::regclass, 'retention_run_item'::regclass)
                                  AND t.tgname LIKE 'pgtrigger\_append\_only\_%'), '{}'),
                     true);
  -- The chain's start, and finished runs outside the chain (verify reports those) as old as it.
  DELETE FROM retention_alert a USING retention_run r
   WHERE a.run_id = r.id AND (r.chain_position <= through OR (r.chain_position IS NULL AND r.status <> 'running'
         AND coalesce(r.finished_at, r.started_at) < prune_before));
  UPDATE retention_request q SET run_id = NULL FROM retention_run r
   WHERE q.run_id = r.id AND (r.chain_position <= through OR (r.chain_position IS NULL AND r.status <> 'running'
         AND coalesce(r.finished_at, r.started_at) < prune_before));
  DELETE FROM retention_run_item i USING retention_run r
   WHERE i.run_id = r.id AND (r.chain_position <= through OR (r.chain_position IS NULL AND r.status <> 'running'
         AND coalesce(r.finished_at, r.started_at) < prune_before));
  DELETE FROM retention_run r
   WHERE r.chain_position <= through OR (r.chain_position IS NULL AND r.status <> 'running'
         AND coalesce(r.finished_at, r.started_at) < prune_before);
  GET DIAGNOSTICS pruned = ROW_COUNT;
  PERFORM set_config('pgtrigger.ignore', '{}', true);
  IF through = 0 THEN
    RETURN pruned;
  END IF;
  SELECT p.id, p.hash INTO last_id, last_hash FROM retention_audit_prune p ORDER BY p.id DESC LIMIT 1;
  entry.id := coalesce(last_id, 0) + 1;
  entry.pruned_at := now();
  entry.older_than_days := older_than_days;
  entry.through_position := through;
  entry.through_hash := through_hash;
  entry.runs_removed := chained;
  entry.newest_removed_at := newest;
  entry.prev_hash := coalesce(last_hash, '');
  entry.at_upgrade := false;
  entry.hash := encode(sha256(convert_to(entry.prev_hash || retention.prune_record(entry), 'UTF8'::name)), 'hex');
  INSERT INTO retention_audit_prune SELECT entry.*;
  RAISE LOG 'django-pg-retention: pruned % audit runs, the chain through position % (older than % days)',
    pruned, through, older_than_days;
  RETURN pruned;
END
$$;
COMMENT ON FUNCTION retention.prune_audit(integer) IS
  'Deletes the oldest sealed runs (a start of the chain) older than the given days, and records it';
REVOKE ALL ON FUNCTION retention.prune_audit(integer) FROM PUBLIC;

-- A database pruned under 0.1.0, which kept no record, has a chain that starts after position 1:
-- note that gap once, as pruned before records existed (at_upgrade; the age of those runs is not
-- known), so that verify accepts it and nothing later. Fresh installs have no runs: nothing here.
DO $$
DECLARE
  oldest retention_run;
  entry retention_audit_prune;
BEGIN
  SELECT r.* INTO oldest FROM retention_run r WHERE r.chain_position IS NOT NULL ORDER BY r.chain_position LIMIT 1;
  IF oldest.chain_position IS NULL OR oldest.chain_position = 1 OR EXISTS (SELECT 1 FROM retention_audit_prune) THEN
    RETURN;
  END IF;
  entry.id := 1;
  entry.pruned_at := now();
  entry.older_than_days := coalesce((SELECT c.audit_retention_days FROM retention_config c LIMIT 1), 1);
  entry.through_position := oldest.chain_position - 1;
  entry.through_hash := oldest.prev_hash;
  entry.runs_removed := oldest.chain_position - 1;
  entry.newest_removed_at := oldest.started_at;  -- an upper bound: they were sealed before it
  entry.prev_hash := '';
  entry.at_upgrade := true;
  entry.hash := encode(sha256(convert_to(retention.prune_record(entry), 'UTF8'::name)), 'hex');
  INSERT INTO retention_audit_prune SELECT entry.*;
  RAISE LOG 'django-pg-retention: chain positions 1-% were pruned before 0.2 recorded pruning', entry.through_position;
END
$$;
-- Legal holds (issues 28, 30): a hold names a row one way, and only a row that exists.
-- retention_hold_target lists every model a purge of this database deletes rows of (the policies'
-- models and what their cascades reach), with its table and primary key: retention sync rewrites
-- it. The trigger retention_hold_check, BEFORE INSERT on retention_hold, whichever path writes
-- the hold (place_hold, the admin, an INSERT in psql):
--   * refuses a model that no purge of this database deletes (a hold sent to the wrong database, or a
--     model with no policy here, would protect nothing);
--   * stores the canonical text of the key: object_pk is cast to the key column's type and back to
--     text ('007' and ' 7 ' become '7', an upper-case UUID lower case), a key that is not one of
--     that type is refused (SQLSTATE 22P02);
--   * locks the held row FOR KEY SHARE (waiting, up to the session's lock_timeout, for a purge batch
--     that has it locked to commit) and refuses a row that does not exist (SQLSTATE 23503), so a
--     row hold that commits is in force for every batch, and a hold never lands on a purged row.
-- A whole-model hold (object_pk '') locks nothing: it is in force for batches that start after it
-- commits (docs/operations.md, "When is a hold in force?"). SECURITY INVOKER: the inserting role
-- needs SELECT on retention_hold_target and SELECT with UPDATE on the held table (the lock).
CREATE TABLE IF NOT EXISTS @app_schema@.retention_hold_target (
  model_path text PRIMARY KEY,
  table_schema text NOT NULL,
  db_table text NOT NULL,
  pk_column text NOT NULL,
  pk_type text NOT NULL
);
COMMENT ON TABLE @app_schema@.retention_hold_target IS
  'The models a purge of this database deletes rows of, with their table and key type (written by retention sync; read by retention_hold_check)';

CREATE OR REPLACE FUNCTION retention.check_hold() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  target retention_hold_target;
  key_type text;
  canonical text;
  found_key text;
  dist_column text;
  dist_type text;
  dist_value text;
BEGIN
  SELECT t.* INTO target FROM retention_hold_target t WHERE t.model_path = NEW.model_path;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('retention_hold: %s is not purged in this database (no retention policy here deletes its rows), '
                       'so a hold on it would protect nothing', NEW.model_path),
      HINT = 'Place the hold in the database that holds the model''s rows (Django''s router), once manage.py migrate '
             '(or retention sync) has run there.';
  END IF;
  IF NEW.object_pk = '' THEN
    RETURN NEW;  -- the whole model: in force for every batch that starts after this commits
  END IF;
  key_type := target.pk_type::regtype::text;
  BEGIN
    EXECUTE format('SELECT ($1::%s)::text', key_type) INTO canonical USING NEW.object_pk;
  EXCEPTION WHEN data_exception THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_text_representation',
      MESSAGE = format('retention_hold: %L is not a primary key of %s (%s %s): %s',
                       NEW.object_pk, NEW.model_path, target.pk_column, key_type, SQLERRM);
  END;
  -- Citus locks a row only through its distribution column (issue 27): read that value first,
  -- then lock the row on its shard.
  -- (Inline, not retention.distribution_column: the inserting role need not use schema retention.)
  IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
    EXECUTE 'SELECT pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) FROM pg_catalog.pg_dist_partition p'
            ' WHERE p.logicalrelid = $1 AND p.partmethod = ''h'''
      INTO dist_column USING format('%I.%I', target.table_schema, target.db_table)::regclass;
  END IF;
  IF dist_column IS NULL OR dist_column = target.pk_column THEN
    EXECUTE format('SELECT t.%1$I::text FROM %2$I.%3$I t WHERE t.%1$I OPERATOR(pg_catalog.=) $1::%4$s FOR KEY SHARE OF t',
                   target.pk_column, target.table_schema, target.db_table, key_type)
      INTO found_key USING canonical;
  ELSE
    SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) INTO dist_type FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = format('%I.%I', target.table_schema, target.db_table)::regclass AND a.attname = dist_column;
    EXECUTE format('SELECT t.%1$I::text FROM %2$I.%3$I t WHERE t.%5$I OPERATOR(pg_catalog.=) $1::%4$s',
                   dist_column, target.table_schema, target.db_table, key_type, target.pk_column)
      INTO dist_value USING canonical;
    IF dist_value IS NOT NULL THEN
      EXECUTE format('SELECT t.%1$I::text FROM %2$I.%3$I t WHERE t.%5$I OPERATOR(pg_catalog.=) $2::%6$s'
                     ' AND t.%1$I OPERATOR(pg_catalog.=) $1::%4$s FOR KEY SHARE OF t',
                     target.pk_column, target.table_schema, target.db_table, key_type, dist_column, dist_type)
        INTO found_key USING canonical, dist_value;
    END IF;
  END IF;
  IF found_key IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('retention_hold: %s has no row with primary key %s (it was purged, or never existed)',
                       NEW.model_path, canonical);
  END IF;
  NEW.object_pk := canonical;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION retention.check_hold() IS
  'retention_hold_check: a hold names a model this database purges and an existing row, by its canonical key (locked FOR KEY SHARE)';
REVOKE ALL ON FUNCTION retention.check_hold() FROM PUBLIC;
CREATE OR REPLACE TRIGGER retention_hold_check BEFORE INSERT ON @app_schema@.retention_hold
  FOR EACH ROW EXECUTE FUNCTION retention.check_hold();

-- retention_hold_target decides how every hold is read, so only its owner (retention sync) writes
-- it, even for a role that was granted DML on every table of the schema.
-- The owner check is written out in this guard and in each one below (refuse_foreign_writes, the
-- row guards): they run with the writer's rights, and the roles they refuse have no USAGE on schema
-- retention, so a shared helper there fails them with "permission denied" instead of refusing them.
CREATE OR REPLACE FUNCTION retention.guard_hold_target() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT pg_has_role(current_user, (SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'MEMBER') THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('%I is written by retention sync (its owner) only, not by role %I', TG_TABLE_NAME, current_user);
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION retention.guard_hold_target() IS
  'Trigger: refuses INSERT, UPDATE, DELETE and TRUNCATE of retention_hold_target to roles that do not own it';
REVOKE ALL ON FUNCTION retention.guard_hold_target() FROM PUBLIC;
CREATE OR REPLACE TRIGGER retention_hold_target_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
  ON @app_schema@.retention_hold_target FOR EACH STATEMENT EXECUTE FUNCTION retention.guard_hold_target();
-- ===================================================================================================
-- Security (issue 30). docs/security.md is the threat model; tests/test_security.py the attacks.
-- 1. Definer code never reads or writes an object a caller can create: the dry-run ledger is
--    retention.dry_gone (the owner's, keyed by run), no longer a pg_temp table that begin_run
--    created IF NOT EXISTS and truncated (a caller's own temp table of that name ran its triggers
--    with the owner's rights); a session that may CREATE in a schema the definer code resolves
--    names in (PostgreSQL 14's public) is refused, since an overload planted there would be chosen.
-- 2. The executor cannot shorten retention: days shorter than a policy needs the owner's session.
-- 3. run_cleanup's numbers are range-checked before a run row is written.
-- 4. Every INSERT, UPDATE or DELETE of retention_policy writes retention_policy_history (trigger).
-- 5. Grants follow the setting: retention.revoke_executor for a role no longer named.
-- 6. pgtrigger.ignore set inside a statement is refused to non-owners row by row (guard_audit_row).
-- Also refused while planted: look-alikes of pg_catalog routines where the definer code resolves
-- names (refuse_planting_sessions); begin_run's preview_wait is bounded.
-- ===================================================================================================

-- The ledger of a dry run: the rows it counted as gone, which its later batches treat as absent.
-- Owned by the role that migrates, in schema retention, granted to nobody, always named with its
-- schema. UNLOGGED: scratch of a preview, never needed after a crash; finish_run and
-- recover_interrupted_runs remove a run's rows.
CREATE UNLOGGED TABLE retention.dry_gone (
  run_id bigint NOT NULL,
  db_table text NOT NULL,
  pk text NOT NULL,
  PRIMARY KEY (run_id, db_table, pk)
);
COMMENT ON TABLE retention.dry_gone IS
  'django-pg-retention: per dry run, the rows it counted as gone (removed when the run ends)';
REVOKE ALL ON TABLE retention.dry_gone FROM PUBLIC;

-- The longest retention a run may be given (days => ...), 100 years: now() - days must stay a
-- timestamp, and no legal period is longer. django_pg_retention.config.MAX_DAYS says the same.
CREATE OR REPLACE FUNCTION retention.max_days() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 36500 $$;
COMMENT ON FUNCTION retention.max_days() IS 'The longest retention, in days, a run or a policy may have';
REVOKE ALL ON FUNCTION retention.max_days() FROM PUBLIC;

-- run_cleanup's numbers, refused with the argument's name and range before anything is written.
-- bigint, so that any whole number a caller gives reaches this check (an integer signature made
-- days => 99999999999 "procedure does not exist").
-- The largest batch is the synced max_batch_size: an explicit batch_size does not bypass it.
CREATE OR REPLACE FUNCTION retention.check_run_arguments(days bigint, batch_size bigint) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
  largest integer;
BEGIN
  IF days IS NOT NULL AND (days < 1 OR days > retention.max_days()) THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('retention.run_cleanup: days must be between 1 and %s, not %s', retention.max_days(), days);
  END IF;
  IF batch_size IS NOT NULL THEN
    largest := (retention.config()).max_batch_size;
    IF batch_size < 1 OR batch_size > largest THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('retention.run_cleanup: batch_size must be between 1 and %s (max_batch_size), not %s',
                         largest, batch_size);
    END IF;
  END IF;
END
$$;
COMMENT ON FUNCTION retention.check_run_arguments(bigint, bigint) IS
  'Refuses a days or batch_size of run_cleanup outside its range, naming it';
REVOKE ALL ON FUNCTION retention.check_run_arguments(bigint, bigint) FROM PUBLIC;

-- Called first by the definer steps (begin_run, and own_run that every other step calls). Their
-- search_path is pg_catalog, the app's schema, pg_temp (the generated functions': pg_catalog, the
-- schemas of the migrating connection's path, pg_temp; all of them are checked): a function or operator in the app's schema
-- (or in schema retention) with the name of one of pg_catalog's can be preferred to it by
-- best-match resolution (cardinality(text[]) over cardinality(anyarray), ||(integer, text) over
-- anynonarray || text) and would run with the owner's rights. So:
-- 1. a session whose login role is not the owner (a member of it, or a superuser) and may CREATE in
--    one of those schemas (PostgreSQL 14's public, or a cluster upgraded from it) is refused;
-- 2. any session, the owner's too, is refused while such a look-alike exists there that a role
--    other than the owner (its members, superusers, CREATEROLE roles) owns: someone planted it for
--    the owner's runs.
-- Its own path is pg_catalog and pg_temp only, and every call in it is qualified.
-- A trigger on a table of those schemas whose function another role owns (one granted TRIGGER, as
-- GRANT ALL does) runs that function with the rights of whoever deletes: the steps, as the owner.
-- SECURITY DEFINER ones too: such a function runs as its owner but may still SET the session's
-- search_path (a plain SET outlives the SET clauses of the functions around it), so that the
-- step's next statement resolved a name to the caller's temporary view.
-- Checked before every step (refuse_planting_sessions) and again after a batch's purge, before its
-- commit (a trigger created meanwhile cannot be dropped while the batch holds its table).
CREATE OR REPLACE FUNCTION retention.refuse_foreign_triggers(schemas oid[]) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  planted text;
BEGIN
  SELECT pg_catalog.format('trigger %I on %s runs %s, owned by role %I', t.tgname, t.tgrelid::pg_catalog.regclass,
                           f.oid::pg_catalog.regprocedure, pg_catalog.pg_get_userbyid(f.proowner)) INTO planted
    FROM pg_catalog.pg_trigger t  -- a few hundred rows; its tables by key, not a scan of pg_class
    JOIN pg_catalog.pg_proc f ON f.oid OPERATOR(pg_catalog.=) t.tgfoid
   WHERE t.tgenabled OPERATOR(pg_catalog.<>) 'D'
     AND (SELECT c.relnamespace FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) t.tgrelid)
         OPERATOR(pg_catalog.=) ANY (schemas)
     AND NOT pg_catalog.pg_has_role(f.proowner, current_user, 'MEMBER'::text)
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                      WHERE r.oid OPERATOR(pg_catalog.=) f.proowner AND (r.rolsuper OR r.rolcreaterole))
   ORDER BY 1 LIMIT 1;
  IF planted IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = pg_catalog.format('retention: %s: a purge would run it with the rights of role %I, so no run starts '
                                  'or goes on', planted, current_user),
      HINT = 'Drop the trigger (or have role ' || current_user || ' own its function), and grant the application''s '
             'role SELECT, INSERT, UPDATE, DELETE on its tables, not TRIGGER (GRANT ALL gives it).';
  END IF;
END
$$;
COMMENT ON FUNCTION retention.refuse_foreign_triggers(oid[]) IS
  'Refuses a purge while a table of those schemas has a trigger whose function a role the owner does not trust owns';
REVOKE ALL ON FUNCTION retention.refuse_foreign_triggers(oid[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION retention.refuse_planting_sessions() RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  schemas oid[];
  writable name;
  planted text;
BEGIN
  SELECT pg_catalog.array_agg(s.oid) INTO schemas
    FROM pg_catalog.pg_namespace s
   WHERE s.nspname OPERATOR(pg_catalog.<>) 'pg_catalog'::name
     AND (s.nspname OPERATOR(pg_catalog.=) 'retention'::name
          OR pg_catalog.quote_ident(s.nspname) OPERATOR(pg_catalog.=) ANY (
               SELECT pg_catalog.unnest(pg_catalog.string_to_array(pg_catalog.substr(c, 13), ', '::text))
                 FROM pg_catalog.pg_proc p, pg_catalog.unnest(p.proconfig) c
                WHERE p.pronamespace OPERATOR(pg_catalog.=) 'retention'::pg_catalog.regnamespace
                  AND c OPERATOR(pg_catalog.~~) 'search\_path=%'::text));
  IF NOT pg_catalog.pg_has_role(session_user, current_user, 'MEMBER'::text) THEN
    SELECT n.nspname INTO writable FROM pg_catalog.pg_namespace n
     WHERE n.oid OPERATOR(pg_catalog.=) ANY (schemas)
       AND pg_catalog.has_schema_privilege(session_user, n.oid, 'CREATE'::text)
     ORDER BY n.nspname LIMIT 1;
    IF writable IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = pg_catalog.format('retention: role %I may CREATE in schema %I, where the SECURITY DEFINER steps of '
                                    'run_cleanup resolve names: a function or operator planted there would run with '
                                    'the rights of role %I, so this session may not run them',
                                    session_user, writable, current_user),
        HINT = pg_catalog.format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC (the default since PostgreSQL 15), and from '
                                 'role %I.', writable, session_user);
    END IF;
  END IF;
  SELECT pg_catalog.format('%s %s.%s (owned by role %I)', l.kind, l.nspname, l.signature, l.owner) INTO planted
    FROM (SELECT 'function'::text AS kind, n.nspname::text, p.oid::pg_catalog.regprocedure::text AS signature,
                 p.proowner AS owner_oid, pg_catalog.pg_get_userbyid(p.proowner)::text AS owner
            FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
           WHERE p.pronamespace OPERATOR(pg_catalog.=) ANY (schemas)
             AND EXISTS (SELECT 1 FROM pg_catalog.pg_proc c
                          WHERE c.proname OPERATOR(pg_catalog.=) p.proname
                            AND c.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace)
          UNION ALL
          SELECT 'operator', n.nspname::text, o.oid::pg_catalog.regoperator::text, o.oprowner,
                 pg_catalog.pg_get_userbyid(o.oprowner)::text
            FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) o.oprnamespace
           WHERE o.oprnamespace OPERATOR(pg_catalog.=) ANY (schemas)) l
   WHERE NOT pg_catalog.pg_has_role(l.owner_oid, current_user, 'MEMBER'::text)
     -- Trusted besides the owner's members: superusers, and roles with CREATEROLE, which can make
     -- themselves members of the owner anyway (the master user of a managed service, who installs
     -- extensions such as hstore, whose || operators have pg_catalog's name).
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                      WHERE r.oid OPERATOR(pg_catalog.=) l.owner_oid AND (r.rolsuper OR r.rolcreaterole))
   ORDER BY 1 LIMIT 1;
  IF planted IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = pg_catalog.format('retention: %s shadows a pg_catalog name where the SECURITY DEFINER steps of '
                                  'run_cleanup resolve names; it could run with the rights of role %I, so no run '
                                  'starts or goes on', planted, current_user),
      HINT = 'Drop it (or have role ' || current_user || ' own it), and REVOKE CREATE ON SCHEMA ... FROM PUBLIC.';
  END IF;
  PERFORM retention.refuse_foreign_triggers(schemas);
END
$$;
COMMENT ON FUNCTION retention.refuse_planting_sessions() IS
  'Refuses the definer steps to a non-owner session that may CREATE where they resolve names, and to every session while a look-alike of a pg_catalog routine planted by another role is there';
REVOKE ALL ON FUNCTION retention.refuse_planting_sessions() FROM PUBLIC;

-- The executor may not shorten retention: a days shorter than the policy of a model the run
-- covers needs a session of the owner (who could change the policy anyway). Called by begin_run.
CREATE OR REPLACE FUNCTION retention.refuse_shorter_retention(model text, days integer) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
  pol retention_policy;
BEGIN
  IF days IS NULL OR pg_has_role(session_user, current_user, 'MEMBER') THEN
    RETURN;
  END IF;
  SELECT * INTO pol FROM retention_policy p
   WHERE p.is_active AND (model IS NULL OR p.model_path = model) AND p.retention_days > days
   ORDER BY p.position, p.model_path LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('retention.run_cleanup: days => %s is shorter than the policy of %s (%s days); only a session '
                       'of role %I may shorten retention, not role %I', days, pol.model_path, pol.retention_days,
                       current_user, session_user),
      HINT = 'Leave days out (the policy applies), or give a longer one.';
  END IF;
END
$$;
COMMENT ON FUNCTION retention.refuse_shorter_retention(text, integer) IS
  'Refuses a days override shorter than a policy to sessions that are not the owner''s';
REVOKE ALL ON FUNCTION retention.refuse_shorter_retention(text, integer) FROM PUBLIC;

-- The steps of run_cleanup, as in 0.1 but for the ledger (retention.dry_gone) and the checks above.

-- purge_isolating: the ledger rows go to retention.dry_gone under the run purge_batch names.
CREATE OR REPLACE FUNCTION retention.purge_isolating(purge_function regproc, ids text[], dry_run boolean)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  result jsonb;
  half integer;
  reason text;
BEGIN
  IF ids IS NULL OR cardinality(ids) = 0 THEN
    RETURN jsonb_build_object('deleted', '{}'::jsonb, 'updated', '{}'::jsonb, 'blocked', 0,
                              'blocked_reasons', '{}'::jsonb, 'purged', 0);
  END IF;
  BEGIN
    EXECUTE format('SELECT %s($1, $2)', purge_function) INTO result USING ids, dry_run;
    result := result || jsonb_build_object('blocked', 0, 'blocked_reasons', '{}'::jsonb, 'purged', cardinality(ids));
    IF dry_run THEN
      RAISE EXCEPTION USING ERRCODE = 'RT002', MESSAGE = result::text;
    END IF;
    RETURN result;
  EXCEPTION
    WHEN SQLSTATE 'RT002' THEN
      result := SQLERRM::jsonb;
      INSERT INTO retention.dry_gone (run_id, db_table, pk)
      SELECT nullif(current_setting('retention.run_id', true), '')::bigint, k.key, jsonb_array_elements_text(k.value)
        FROM jsonb_each(coalesce(result->'keys', '{}')) k
      ON CONFLICT DO NOTHING;
      RETURN result - 'keys';
    WHEN SQLSTATE 'RT001' OR foreign_key_violation OR restrict_violation THEN
      IF cardinality(ids) = 1 THEN
        reason := CASE WHEN SQLSTATE = 'RT001' THEN SQLERRM ELSE 'foreign key: ' || SQLERRM END;
        RETURN jsonb_build_object('deleted', '{}'::jsonb, 'updated', '{}'::jsonb, 'blocked', 1,
                                  'blocked_reasons', jsonb_build_object(reason, 1), 'purged', 0);
      END IF;
      half := cardinality(ids) / 2;
      result := retention.purge_isolating(purge_function, ids[1:half], dry_run);
      RETURN retention.merge_results(result, retention.purge_isolating(purge_function, ids[half + 1:], dry_run));
  END;
END
$$;

-- own_run: refuse_direct_step_call and refuse_planting_sessions first.
CREATE OR REPLACE FUNCTION retention.own_run(run bigint) RETURNS retention_run
LANGUAGE plpgsql STABLE AS $$
DECLARE
  r retention_run;
BEGIN
  PERFORM retention.refuse_direct_step_call();
  PERFORM retention.refuse_planting_sessions();
  SELECT * INTO r FROM retention_run x WHERE x.id = run;
  IF NOT FOUND OR r.status <> 'running' OR r.backend_pid IS DISTINCT FROM pg_backend_pid() THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('retention: run %s is not a run this session is running', run),
      HINT = 'Purge with CALL retention.run_cleanup(...); its steps are not called on their own.';
  END IF;
  RETURN r;
END
$$;

-- recover_interrupted_runs: a preview's ledger rows are deleted with its run.
CREATE OR REPLACE FUNCTION retention.recover_interrupted_runs() RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  stale bigint;
  stale_item bigint;
  recovered integer := 0;
BEGIN
  FOR stale IN SELECT r.id FROM retention_run r
                WHERE r.status = 'running'
                  AND (r.backend_pid IS NULL OR r.backend_pid = pg_backend_pid()
                       OR NOT retention.backend_is_running(r.backend_pid, r.started_at))
                ORDER BY r.id
  LOOP
    FOR stale_item IN SELECT i.id FROM retention_run_item i WHERE i.run_id = stale AND i.status = 'running' LOOP
      UPDATE retention_run_item SET status = 'interrupted', finished_at = clock_timestamp(),
                                    digests = retention.item_digests(id)
       WHERE id = stale_item;
      DELETE FROM retention_deleted_keys k WHERE k.run_item_id = stale_item;
    END LOOP;
    UPDATE retention_run SET status = 'interrupted', finished_at = clock_timestamp(),
           error = 'the run ended without finishing (backend terminated, server restarted, or the call failed or was cancelled)'
     WHERE id = stale;
    PERFORM retention.seal_run(stale);
    DELETE FROM retention.dry_gone g WHERE g.run_id = stale;  -- a preview's ledger
    recovered := recovered + 1;
  END LOOP;
  RETURN recovered;
END
$$;

-- begin_run: the checks first; no temporary table.
CREATE OR REPLACE FUNCTION retention.begin_run(dry_run boolean, model text, days integer, triggered_by text,
                                               preview_wait interval DEFAULT '10 seconds')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS $$
DECLARE
  running bigint;
  waited_until timestamptz := clock_timestamp() + preview_wait;
BEGIN
  -- Before anything is locked or written: who calls, from where, and with which numbers.
  PERFORM retention.refuse_direct_step_call();
  PERFORM retention.refuse_planting_sessions();
  PERFORM retention.check_run_arguments(days, NULL);
  PERFORM retention.refuse_shorter_retention(model, days);
  -- How long a real run waits for a preview to yield: a caller could otherwise hold the start lock
  -- (and a backend of the owner) for as long as it likes.
  IF preview_wait IS NULL OR preview_wait < interval '0' OR preview_wait > interval '1 minute' THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('retention.begin_run: preview_wait must be between 0 and 1 minute, not %s', preview_wait);
  END IF;
  -- A row another role keeps locked (it may, with UPDATE rights on the run table) fails the start
  -- after lock_timeout_ms, instead of holding every later run back unrecorded.
  PERFORM set_config('lock_timeout', (retention.config()).lock_timeout_ms || 'ms', true);
  IF NOT retention.take_lock('run_cleanup', 'try') THEN
    PERFORM retention.start_run(dry_run, model, days, triggered_by, 'skipped', 'another run_cleanup is starting');
    RETURN NULL;
  END IF;
  PERFORM retention.recover_interrupted_runs();
  IF NOT dry_run AND EXISTS (SELECT 1 FROM retention_run r WHERE r.status = 'running' AND r.dry_run) THEN
    PERFORM retention.take_lock('real_run_waiting');
    WHILE clock_timestamp() < waited_until
          AND EXISTS (SELECT 1 FROM retention_run r WHERE r.status = 'running' AND r.dry_run) LOOP
      PERFORM pg_sleep(0.02);
      PERFORM retention.recover_interrupted_runs();
    END LOOP;
  END IF;
  SELECT min(r.id) INTO running FROM retention_run r WHERE r.status = 'running';
  IF running IS NOT NULL THEN
    PERFORM retention.start_run(dry_run, model, days, triggered_by, 'skipped', format('run %s is running', running));
    RETURN NULL;
  END IF;
  RETURN retention.start_run(dry_run, model, days, triggered_by);
END
$$;

-- start_item: a dry run's count leaves out its own ledger rows (retention.dry_gone).
CREATE OR REPLACE FUNCTION retention.start_item(run bigint, model_path text, force boolean DEFAULT false)
RETURNS retention_run_item
LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS $$
DECLARE
  this_run constant retention_run := retention.own_run(run);
  days constant integer := this_run.days_override;
  dry_run constant boolean := this_run.dry_run;
  notify constant boolean := (retention.config()).enable_notifications;
  pol retention_policy;
  item retention_run_item;
  started constant timestamptz := clock_timestamp();
  n_eligible bigint;
  gone text[];
BEGIN
  SELECT * INTO pol FROM retention_policy p WHERE p.model_path = start_item.model_path AND p.is_active;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'retention.start_item: no active retention policy for model %', model_path;
  END IF;
  INSERT INTO retention_run_item (run_id, model_path, db_table, retention_days, policy_source, cutoff,
                                  eligible, deleted, blocked, skipped_locked, cascaded, updated,
                                  blocked_reasons, batches, batch_sizes, batch_durations_ms, started_at,
                                  status, error, digests)
  VALUES (run, pol.model_path, pol.db_table, coalesce(days, pol.retention_days),
          CASE WHEN days IS NULL THEN pol.policy_source ELSE 'override' END,
          started - make_interval(days => coalesce(days, pol.retention_days)),
          0, 0, 0, 0, '{}', '{}', '{}', 0, '[]', '[]', started, 'running', '', '{}')
  RETURNING * INTO item;
  BEGIN
    -- A dry run leaves out its ledger's rows: by a join on one server, by the keys themselves on
    -- a Citus table (Citus joins no local table to a distributed one), issue 27.
    IF dry_run THEN
      gone := ARRAY(SELECT g.pk FROM retention.dry_gone g WHERE g.run_id = run AND g.db_table = pol.db_table);
    END IF;
    EXECUTE format('SELECT count(*) FROM %I t WHERE %s AND t.%I < $1', pol.db_table,
                   retention.soft_deleted_condition(pol.deleted_at_column, pol.flag_column), pol.deleted_at_column)
         || CASE WHEN coalesce(cardinality(gone), 0) = 0 THEN ''
                 WHEN retention.distribution_column(quote_ident(pol.db_table)::regclass) IS NOT NULL
                   THEN format(' AND NOT (t.%I::text = ANY ($4))', pol.pk_column)
                 ELSE format(' AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g'
                             ' WHERE g.run_id = $3 AND g.db_table = $2 AND g.pk = t.%I::text)', pol.pk_column) END
      INTO n_eligible USING item.cutoff, pol.db_table, run, gone;
    item.eligible := n_eligible;
    IF NOT dry_run AND NOT force AND pol.max_deletions_per_run IS NOT NULL AND n_eligible > pol.max_deletions_per_run THEN
      item.status := 'needs_confirmation';
      item.error := format('%s eligible rows exceed max_deletions_per_run (%s): nothing deleted; confirm with '
                           '`manage.py cleanup_soft_deleted --model %s --execute --force`',
                           n_eligible, pol.max_deletions_per_run, pol.model_path);
      IF notify THEN
        INSERT INTO retention_alert (run_id, kind, message, created_at)
        SELECT run, 'needs_confirmation', format('Retention run %s (%s): %s %s', run, r.triggered_by, pol.model_path, item.error),
               clock_timestamp()
          FROM retention_run r WHERE r.id = run;
      END IF;
    END IF;
  EXCEPTION WHEN OTHERS THEN
    item.status := 'failed';
    item.error := SQLERRM;
  END;
  UPDATE retention_run_item SET eligible = item.eligible WHERE id = item.id;
  RETURN item;
END
$$;

-- purge_batch: names the run (setting retention.run_id) for the ledger.
CREATE OR REPLACE FUNCTION retention.purge_batch(item bigint, after_at timestamptz, after_pk text, size integer,
                                                 by_pk boolean, OUT status text, OUT error text,
                                                 OUT last_at timestamptz, OUT last_pk text, OUT taken bigint,
                                                 OUT purged bigint, OUT batch_ms integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS $$
DECLARE
  i constant retention_run_item := retention.own_item(item);
  dry_run constant boolean := (SELECT r.dry_run FROM retention_run r WHERE r.id = i.run_id);
  pol retention_policy;
  started constant timestamptz := clock_timestamp();
  pinned constant text := pg_catalog.current_setting('search_path');  -- its SET clause's
  ids text[];
  blocked_early text[];
  res jsonb;
  skipped bigint := 0;
BEGIN
  status := 'running'; error := ''; last_at := after_at; last_pk := after_pk; taken := 0; purged := 0;
  SELECT * INTO pol FROM retention_policy p WHERE p.model_path = i.model_path;
  BEGIN
    PERFORM set_config('lock_timeout', (retention.config()).lock_timeout_ms || 'ms', true);
    -- No JIT for the batch's statements: a select whose LIMIT sits over a large table's estimate
    -- passes jit_above_cost and compiled its expressions again on every execution (22-38 ms a
    -- batch of bench/benchkept's parents, more as the table grows), for a statement of a few ms.
    PERFORM set_config('jit', 'off', true);
    -- The purge functions record the keys they delete under this item (this transaction only).
    PERFORM set_config('retention.item_id', item::text, true);
    -- A dry run's ledger (retention.dry_gone) is keyed by its run.
    PERFORM set_config('retention.run_id', i.run_id::text, true);
    -- The days of this item, for the rows of its own table that its cascades reach.
    PERFORM set_config('retention.days', i.retention_days::text, true);
    IF dry_run THEN
      SET CONSTRAINTS ALL DEFERRED;  -- rolled back unchecked; the purge function checks DO_NOTHING itself
    ELSE
      SET CONSTRAINTS ALL IMMEDIATE;
    END IF;
    EXECUTE format('SELECT ids, blocked, last_at, last_pk FROM %I.%I($1, $2, $3, $4, $5, $6)', 'retention', pol.select_function)
      INTO ids, blocked_early, last_at, last_pk
      USING i.cutoff, after_at, after_pk, size, dry_run, by_pk;
    IF ids IS NULL AND blocked_early IS NULL THEN
      status := 'succeeded';  -- nothing left
      RETURN;
    END IF;
    res := retention.purge_isolating(format('%I.%I', 'retention', pol.purge_function)::regproc, ids, dry_run);
    -- A trigger of another role's created since this step began has fired as the owner: undone here,
    -- after this function's own search_path is back (such a trigger may have SET the session's).
    PERFORM pg_catalog.set_config('search_path', pinned, true);
    PERFORM retention.refuse_foreign_triggers(ARRAY[(SELECT c.relnamespace FROM pg_catalog.pg_class c
                                                      WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.quote_ident(pol.db_table)::pg_catalog.regclass)]);
  EXCEPTION
    WHEN lock_not_available THEN
      -- Someone holds locks this batch needs: leave it for the next run.
      IF last_pk IS NULL THEN
        status := 'failed';  -- the batch could not even be selected
        error := SQLERRM;
        RETURN;
      END IF;
      skipped := coalesce(cardinality(ids), 0);
      res := NULL;
    WHEN OTHERS THEN
      status := 'failed';
      error := SQLERRM;
      RETURN;
  END;
  batch_ms := ceil(extract(epoch FROM clock_timestamp() - started) * 1000)::integer;
  purged := retention.record_batch(item, res, blocked_early, skipped, size, batch_ms, dry_run);
  taken := coalesce(cardinality(ids), 0) + coalesce(cardinality(blocked_early), 0);
END
$$;

-- finish_run: deletes the ledger rows of its run.
CREATE OR REPLACE FUNCTION retention.finish_run(run bigint, timed_out boolean, max_execution_time integer,
                                                error text DEFAULT '', yielded boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS $$
DECLARE
  this_run constant retention_run := retention.own_run(run);
  open_item bigint;
  run_status text;
  run_error text := error;
BEGIN
  FOR open_item IN SELECT i.id FROM retention_run_item i WHERE i.run_id = run AND i.status = 'running' LOOP
    PERFORM retention.finish_item(open_item, 'succeeded', '');
  END LOOP;
  SELECT concat_ws('; ', nullif(run_error, ''), string_agg(i.model_path || ': ' || i.error, '; ' ORDER BY i.id))
    INTO run_error FROM retention_run_item i WHERE i.run_id = run AND i.status = 'failed';
  run_status := CASE WHEN yielded THEN 'interrupted'
                     WHEN run_error <> '' THEN 'failed'
                     WHEN timed_out THEN 'timed_out'
                     ELSE 'succeeded' END;
  IF yielded THEN
    run_error := 'the preview yielded to a real run that was starting';
  ELSIF run_status = 'timed_out' THEN
    run_error := format('max_execution_time (%s s) spent; the rest is left for the next run', max_execution_time);
  END IF;
  UPDATE retention_run r SET status = run_status, error = run_error, finished_at = clock_timestamp() WHERE r.id = run;
  PERFORM retention.seal_run(run);
  RAISE LOG 'django-pg-retention: run % finished: % (% rows deleted)', run, run_status,
    (SELECT x.rows_deleted FROM retention_run x WHERE x.id = run);
  DELETE FROM retention.dry_gone g WHERE g.run_id = run;  -- a preview's ledger
  RETURN run_status;
END
$$;

-- ===================================================================================================
-- Whole partitions (issue 26 items 3-4). A policy whose table is RANGE-partitioned on the policy's
-- own column (a timestamp policy's field, or a soft-delete policy's deleted_at) has each leaf
-- partition whose whole range is past the item's cutoff dropped instead of deleted row by row,
-- when that is exactly what the batches would do: run_cleanup calls drop_partition for each one
-- (expired_partitions), in a transaction of its own, before the batches; a partition it keeps is
-- left to the batches. A dry run takes the batched path (the counts are the same). docs/models.md,
-- "Partitioned tables".
-- ===================================================================================================

-- The upper bound of a range partition as a timestamptz (a date or timestamp bound read in the
-- session's time zone, as PostgreSQL compares such a column with the cutoff); NULL for a DEFAULT
-- partition, a MAXVALUE bound, or anything that is not a range partition.
CREATE OR REPLACE FUNCTION retention.partition_upper_bound(part regclass) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
  bound text;
BEGIN
  SELECT substring(pg_catalog.pg_get_expr(c.relpartbound, c.oid) FROM ' TO \(''(.*)''\)$') INTO bound
    FROM pg_catalog.pg_class c WHERE c.oid = part AND c.relispartition;
  RETURN bound::timestamptz;
EXCEPTION WHEN data_exception THEN
  RETURN NULL;  -- a bound that is not a point in time
END
$$;
COMMENT ON FUNCTION retention.partition_upper_bound(regclass) IS
  'The upper bound of a range partition, NULL for a DEFAULT partition or a MAXVALUE bound';
REVOKE ALL ON FUNCTION retention.partition_upper_bound(regclass) FROM PUBLIC;

-- Whether a table is partitioned BY RANGE on that column alone (and is no Citus table).
-- (PL/pgSQL: distribution_column is created further down this file.)
CREATE OR REPLACE FUNCTION retention.range_partitioned_on(tbl regclass, column_name text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM pg_catalog.pg_partitioned_table pt
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
                  WHERE pt.partrelid = tbl AND pt.partstrat = 'r' AND pt.partnatts = 1 AND a.attname = column_name)
     AND retention.distribution_column(tbl) IS NULL;
END
$$;
COMMENT ON FUNCTION retention.range_partitioned_on(regclass, text) IS
  'Whether a table is partitioned BY RANGE on that column alone (and is no Citus table)';
REVOKE ALL ON FUNCTION retention.range_partitioned_on(regclass, text) FROM PUBLIC;

-- The leaf partitions of an item's table whose whole range is past its cutoff, oldest first; none
-- unless the table is range-partitioned on the policy's column alone (and is no Citus table).
CREATE OR REPLACE FUNCTION retention.expired_partitions(item bigint) RETURNS regclass[]
LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
DECLARE
  i constant retention_run_item := retention.own_item(item);
  pol retention_policy;
  parent regclass;
BEGIN
  SELECT * INTO pol FROM retention_policy p WHERE p.model_path = i.model_path;
  parent := pg_catalog.to_regclass(format('%I', pol.db_table));
  IF parent IS NULL OR NOT retention.range_partitioned_on(parent, pol.deleted_at_column) THEN
    RETURN '{}';
  END IF;
  RETURN ARRAY(SELECT b.part
                 FROM (SELECT c.oid::regclass AS part, retention.partition_upper_bound(c.oid) AS upper
                         FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class c ON c.oid = h.inhrelid
                        WHERE h.inhparent = parent AND c.relkind = 'r') b
                WHERE b.upper <= i.cutoff
                ORDER BY b.upper, b.part);
END
$$;
COMMENT ON FUNCTION retention.expired_partitions(bigint) IS
  'The leaf partitions of an item''s table (range-partitioned on the policy''s column) wholly past its cutoff';
REVOKE ALL ON FUNCTION retention.expired_partitions(bigint) FROM PUBLIC;

-- Drops one expired partition of an item's table when that is exact, in the caller's transaction
-- (run_cleanup commits after it). Under LOCK TABLE ONLY part IN EXCLUSIVE MODE (no new row, no
-- update, no row lock: a hold's check_hold and a foreign key check take FOR KEY SHARE) it keeps
-- the partition (returns 'kept: why') when a hold is in force on its model or one of its rows, or
-- (soft delete) a row is not flagged deleted; else it purges the rows something refers to
-- (the function the policy's partition_refs names, compiler.partition_refs_function, which sync
-- creates like the purge functions: the column holds a name, never SQL) through the purge function,
-- as a batch would, and keeps the partition when one of them is blocked (that purge is then undone:
-- the batches try those rows, and count them once). The rows left are recorded as deleted (their
-- keys in the proof, as a batch's), then the partition is detached and dropped. A plain DETACH
-- (CONCURRENTLY cannot run in a transaction block) holds ACCESS EXCLUSIVE on the table from there
-- to the commit; under lock_timeout, a lock it cannot get keeps the partition for later.
CREATE OR REPLACE FUNCTION retention.drop_partition(item bigint, part regclass) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS $$
DECLARE
  i constant retention_run_item := retention.own_item(item);
  started constant timestamptz := clock_timestamp();
  pol retention_policy;
  parent regclass;
  reason text;
  referenced text[];
  res jsonb;
  keys text[];
  n bigint;
  key_order text;
BEGIN
  SELECT * INTO pol FROM retention_policy p WHERE p.model_path = i.model_path;
  parent := pg_catalog.to_regclass(format('%I', pol.db_table));
  IF parent IS NULL OR NOT retention.range_partitioned_on(parent, pol.deleted_at_column)
     OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class c ON c.oid = h.inhrelid
                     WHERE h.inhrelid = part AND h.inhparent = parent AND c.relkind = 'r')
     OR NOT coalesce(retention.partition_upper_bound(part) <= i.cutoff, false) THEN
    RETURN format('kept: %s is not a partition of %I wholly past the cutoff', part, pol.db_table);
  END IF;
  BEGIN
    PERFORM set_config('lock_timeout', (retention.config()).lock_timeout_ms || 'ms', true);
    PERFORM set_config('retention.item_id', item::text, true);
    PERFORM set_config('retention.run_id', i.run_id::text, true);
    PERFORM set_config('retention.days', i.retention_days::text, true);
    SET CONSTRAINTS ALL IMMEDIATE;
    EXECUTE format('LOCK TABLE ONLY %s IN EXCLUSIVE MODE', part);
    EXECUTE format('SELECT array_agg(t.%1$I::text ORDER BY t.%1$I) FROM ONLY %2$s t', pol.pk_column, part) INTO keys;
    SELECT h.reason INTO reason FROM retention.active_holds(ARRAY[pol.model_path]) h
     WHERE h.object_pk = '' OR h.object_pk = ANY (keys) ORDER BY h.id LIMIT 1;
    IF reason IS NOT NULL THEN
      RETURN 'kept: ' || reason;
    END IF;
    IF pol.flag_column <> '' THEN
      EXECUTE format('SELECT format(''kept: row %%s is not flagged %%s'', t.%I, %L) FROM ONLY %s t'
                     ' WHERE NOT coalesce(t.%I, false) LIMIT 1', pol.pk_column, pol.flag_column, part, pol.flag_column)
        INTO reason;
      IF reason IS NOT NULL THEN
        RETURN reason;
      END IF;
    END IF;
    IF pol.partition_refs <> '' AND cardinality(keys) > 0 THEN
      EXECUTE format('SELECT %I.%I($1)', 'retention', pol.partition_refs) INTO referenced USING keys;
    END IF;
    IF cardinality(referenced) > 0 THEN
      BEGIN
        res := retention.purge_isolating(format('%I.%I', 'retention', pol.purge_function)::regproc, referenced, false);
        IF (res->>'blocked')::bigint > 0 THEN
          RAISE EXCEPTION USING ERRCODE = 'RT003', MESSAGE = format('kept: %s referenced rows blocked (%s)',
                                                                     res->>'blocked', res->'blocked_reasons');
        END IF;
      EXCEPTION WHEN SQLSTATE 'RT003' THEN
        RETURN SQLERRM;  -- the purge above is undone; the batches try these rows
      END;
      PERFORM retention.record_batch(item, res, NULL, 0, cardinality(referenced),
                                     ceil(extract(epoch FROM clock_timestamp() - started) * 1000)::integer, false);
      EXECUTE format('SELECT array_agg(t.%1$I::text ORDER BY t.%1$I) FROM ONLY %2$s t', pol.pk_column, part) INTO keys;
    END IF;
    n := coalesce(cardinality(keys), 0);
    IF n > 0 THEN
      SELECT CASE WHEN a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN 'numeric' ELSE 'bytewise' END
        INTO key_order FROM pg_catalog.pg_attribute a WHERE a.attrelid = parent AND a.attname = pol.pk_column;
      INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, ascending, keys)
      VALUES (item, pol.db_table, key_order, key_order = 'numeric', keys);
      PERFORM retention.record_batch(item, jsonb_build_object('deleted', jsonb_build_object(pol.db_table, n),
                                                              'updated', '{}'::jsonb, 'blocked', 0,
                                                              'blocked_reasons', '{}'::jsonb, 'purged', n),
                                     NULL, 0, n::integer,
                                     ceil(extract(epoch FROM clock_timestamp() - started) * 1000)::integer, false);
    END IF;
    UPDATE retention_run_item x
       SET partitions_dropped = coalesce(x.partitions_dropped, '[]') || jsonb_build_array(jsonb_build_object('partition', part::text, 'rows', n))
     WHERE x.id = item;
    RAISE LOG 'django-pg-retention: run % drops partition % of % (% rows)', i.run_id, part, pol.db_table, n;
    EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', parent, part);
    EXECUTE format('DROP TABLE %s', part);
    RETURN 'dropped';
  EXCEPTION
    WHEN lock_not_available OR deadlock_detected THEN
      RETURN 'kept: ' || SQLERRM;  -- everything above is undone; the batches or the next run take it
    WHEN OTHERS THEN
      RAISE LOG 'django-pg-retention: run % kept partition % of %: %', i.run_id, part, pol.db_table, SQLERRM;
      RETURN 'kept: ' || SQLERRM;
  END;
END
$$;
COMMENT ON FUNCTION retention.drop_partition(bigint, regclass) IS
  'Drops an expired partition of an item''s table when that is what its batches would do; else keeps it for them';
REVOKE ALL ON FUNCTION retention.drop_partition(bigint, regclass) FROM PUBLIC;

-- run_cleanup's passes: a model whose pass ended with blocked rows joins `waiting`
-- ({model_path: {"tables": [...], "freed": false}}), and every waiting model (itself included) is
-- freed once an item's pass deleted rows of one of its tables. Only a purge of a table that blocks
-- by reference (retention_policy.blocking_tables: PROTECT, RESTRICT, DO_NOTHING; null, or a foreign
-- key the model graph does not know: any table) can free a blocked row within the run; a row kept by
-- its own policy's child or a legal hold cannot, and another pass would reread the whole eligible
-- range for nothing (3.8 s of 52.7 at 4M parents).
CREATE OR REPLACE FUNCTION retention.pass_waiting(waiting jsonb, item bigint, cascaded_before jsonb, ended boolean)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
  WITH this AS (
    SELECT waiting || CASE WHEN ended AND i.blocked > 0 THEN jsonb_build_object(i.model_path, jsonb_build_object(
             'tables', CASE WHEN EXISTS (SELECT FROM jsonb_object_keys(i.blocked_reasons) k WHERE k LIKE 'foreign key: %')
                            THEN 'null'
                            ELSE coalesce((SELECT to_jsonb(p)->'blocking_tables' FROM retention_policy p
                                            WHERE p.model_path = i.model_path), 'null') END,
             'freed', false)) ELSE '{}' END AS waiting,
           ARRAY(SELECT c.key FROM jsonb_each_text(i.cascaded) c
                  WHERE c.value::bigint > coalesce((cascaded_before->>c.key)::bigint, 0)) AS purged
      FROM retention_run_item i WHERE i.id = item)
  SELECT coalesce(jsonb_object_agg(w.key, CASE WHEN cardinality(t.purged) > 0
                                                    AND (w.value->'tables' = 'null' OR w.value->'tables' ?| t.purged)
                                               THEN jsonb_set(w.value, '{freed}', 'true') ELSE w.value END), '{}')
    FROM this t, jsonb_each(t.waiting) w
$$;
COMMENT ON FUNCTION retention.pass_waiting(jsonb, bigint, jsonb, boolean) IS
  'run_cleanup''s passes: the models left with blocked rows, and whether a purge since may have freed them';
REVOKE ALL ON FUNCTION retention.pass_waiting(jsonb, bigint, jsonb, boolean) FROM PUBLIC;

-- run_cleanup: check_run_arguments before anything; days and batch_size bigint (any whole number
-- reaches the range check). The roles granted the old signature are granted the new one below.
DO $$
BEGIN
  PERFORM set_config('retention.upgrade_executors',
                     coalesce(string_agg(DISTINCT a.grantee::text, ','), ''), true)
     FROM pg_proc p, aclexplode(p.proacl) a
    WHERE p.oid = to_regprocedure('retention.run_cleanup(boolean, text, integer, integer, text, boolean)')
      AND a.grantee <> p.proowner AND a.grantee <> 0 AND a.privilege_type = 'EXECUTE';
END
$$;
DROP PROCEDURE IF EXISTS retention.run_cleanup(boolean, text, integer, integer, text, boolean);
-- Not SECURITY DEFINER and no pinned search_path (it commits), so it resolves names through its
-- caller's path: every type, operator and function it names is written with its schema (a type is
-- looked up in the caller's pg_temp before pg_catalog; an operator of the caller's, planted even
-- after the run began, ran inside it, where the steps took that code for run_cleanup's own).
CREATE OR REPLACE PROCEDURE retention.run_cleanup(
  dry_run boolean DEFAULT false,
  model text DEFAULT NULL,
  days bigint DEFAULT NULL,
  batch_size bigint DEFAULT NULL,
  triggered_by text DEFAULT 'sql',
  force boolean DEFAULT false)
LANGUAGE plpgsql AS $$
DECLARE
  cfg @app_schema@.retention_config;
  run_id bigint;
  deadline pg_catalog.timestamptz;
  pending @app_schema@.retention_policy[];  -- the models of this pass
  retry @app_schema@.retention_policy[];  -- the models that ended this pass with blocked rows
  waiting pg_catalog.jsonb;  -- of those, what could free them and whether it happened (pass_waiting)
  cascaded_before pg_catalog.jsonb;  -- the item's rows deleted per table when this pass of it began
  item_ids pg_catalog.jsonb := '{}';  -- model_path: item id
  pol @app_schema@.retention_policy;
  item @app_schema@.retention_run_item;
  size integer;
  min_size integer;
  max_size integer;
  after_at pg_catalog.timestamptz;
  after_pk pg_catalog.text;
  taken bigint;
  batch_ms integer;
  run_error pg_catalog.text := '';
  timed_out boolean := false;
  yielded boolean := false;
  by_pk boolean;  seen bigint;  -- a backlog in primary-key order, and the rows its batches took
  part pg_catalog.regclass;  -- an expired partition (drop_partition)
BEGIN
  -- Bad numbers are refused before anything is locked or written (no run row, no 'running' left).
  PERFORM retention.check_run_arguments(days, batch_size);

  -- It commits after every batch, which a transaction block forbids: before anything is locked, a
  -- block that has written is named (timestamps cannot tell one, under the extended protocol); any
  -- other fails on the COMMIT below ("invalid transaction termination"), holding nothing either.
  IF pg_catalog.pg_current_xact_id_if_assigned() IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'active_sql_transaction',
      MESSAGE = 'retention.run_cleanup cannot run inside a transaction block: it commits after every batch',
      HINT = 'Call it as a statement of its own with autocommit on: psql -c "CALL retention.run_cleanup()", '
             'AUTOCOMMIT on in psql or your SQL client, psycopg.connect(..., autocommit=True), or '
             'django_pg_retention.manager.call_run_cleanup() outside transaction.atomic().';
  END IF;
  cfg := retention.config();  -- RETENTION_CLEANUP_CONFIG as synced by `manage.py migrate` / `retention sync`
  COMMIT;

  run_id := retention.begin_run(dry_run, model, days::integer, triggered_by);
  IF run_id IS NULL THEN
    COMMIT;  -- recorded as skipped
    RETURN;
  END IF;

  min_size := cfg.min_batch_size;
  max_size := cfg.max_batch_size;
  deadline := pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => cfg.max_execution_time);
  pending := ARRAY(SELECT p FROM @app_schema@.retention_policy p
                   WHERE p.is_active AND (model IS NULL OR p.model_path OPERATOR(pg_catalog.=) model)
                   ORDER BY p.position, p.model_path);
  IF model IS NOT NULL AND pg_catalog.cardinality(pending) OPERATOR(pg_catalog.=) 0 THEN
    run_error := pg_catalog.format('no active retention policy for model %L (expected app_label.ModelName of a soft-deletable model)', model);
  END IF;
  COMMIT;

  WHILE pg_catalog.cardinality(pending) OPERATOR(pg_catalog.>) 0 LOOP
    retry := '{}'; waiting := '{}';
    FOREACH pol IN ARRAY pending LOOP
      EXIT WHEN timed_out OR yielded;
      IF item_ids OPERATOR(pg_catalog.?) pol.model_path THEN
        item := retention.begin_pass((item_ids OPERATOR(pg_catalog.->>) pol.model_path)::bigint);
        cascaded_before := item.cascaded;
      ELSE
        item := retention.start_item(run_id, pol.model_path, force);
        cascaded_before := '{}';
        item_ids := item_ids OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(pol.model_path, item.id);
        -- A table range-partitioned on the policy's column: whole partitions past the cutoff are
        -- dropped first, one transaction each (issue 26); a dry run counts them in batches.
        IF NOT dry_run AND item.status OPERATOR(pg_catalog.=) 'running' THEN
          COMMIT;
          FOREACH part IN ARRAY retention.expired_partitions(item.id) LOOP
            EXIT WHEN pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>=) deadline;
            PERFORM retention.drop_partition(item.id, part);
            COMMIT;
          END LOOP;
          -- The batches then take what is left in keyset order (a drop counts as a batch): the
          -- primary-key order of a backlog would read the whole rest of the table.
          SELECT * INTO item FROM @app_schema@.retention_run_item i WHERE i.id OPERATOR(pg_catalog.=) item.id;
        END IF;
      END IF;
      COMMIT;
      -- An explicit batch_size is kept as given; otherwise batches adapt to take about target_batch_ms.
      size := coalesce(batch_size, least(greatest(cfg.batch_size, min_size), max_size));
      after_at := NULL; after_pk := NULL; seen := 0;
      by_pk := item.batches OPERATOR(pg_catalog.=) 0 AND retention.batches_in_pk_order(item.eligible, pol.db_table);
      WHILE item.status OPERATOR(pg_catalog.=) 'running' LOOP
        IF pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>=) deadline THEN
          timed_out := true;
          item.status := 'timed_out';
          EXIT;
        END IF;
        IF dry_run AND retention.real_run_waiting() THEN
          yielded := true;  -- a preview never makes a real run skip
          item.status := 'interrupted';
          EXIT;
        END IF;
        IF NOT dry_run AND cfg.max_replica_lag_bytes IS NOT NULL AND NOT retention.wait_for_replicas(item.id, deadline) THEN
          timed_out := true;
          item.status := 'timed_out';
          item.error := pg_catalog.format('a standby lagged more than max_replica_lag_bytes (%s) until the time budget ran out',
                                          cfg.max_replica_lag_bytes);
          EXIT;
        END IF;
        SELECT b.status, b.error, b.last_at, b.last_pk, b.taken, b.batch_ms
          INTO item.status, item.error, after_at, after_pk, taken, batch_ms
          FROM retention.purge_batch(item.id, after_at, after_pk, size, by_pk) b;
        EXIT WHEN item.status OPERATOR(pg_catalog.<>) 'running';
        seen := seen OPERATOR(pg_catalog.+) taken;
        IF by_pk AND seen OPERATOR(pg_catalog.>=) item.eligible THEN item.status := 'succeeded'; END IF;  -- no tail to scan
        IF batch_size IS NULL THEN
          size := retention.next_batch_size(size, batch_ms, cfg.target_batch_ms, min_size, max_size);
        END IF;
        COMMIT;
        IF cfg.batch_pause_ms OPERATOR(pg_catalog.>) 0 THEN
          PERFORM pg_catalog.pg_sleep(cfg.batch_pause_ms OPERATOR(pg_catalog./) 1000.0);  -- between transactions
        END IF;
      END LOOP;

      waiting := retention.pass_waiting(waiting, item.id, cascaded_before, item.status OPERATOR(pg_catalog.=) 'succeeded');
      IF waiting OPERATOR(pg_catalog.?) pol.model_path THEN
        retry := retry OPERATOR(pg_catalog.||) pol;  -- the item stays open for another pass
      ELSE
        PERFORM retention.finish_item(item.id, item.status, item.error);
        IF item.status OPERATOR(pg_catalog.=) 'failed' THEN
          RAISE LOG 'django-pg-retention: run % model % failed: %', run_id, pol.model_path, item.error;
        END IF;
      END IF;
      COMMIT;
    END LOOP;
    pending := ARRAY(SELECT p FROM pg_catalog.unnest(retry) p
                      WHERE ((waiting OPERATOR(pg_catalog.->) p.model_path) OPERATOR(pg_catalog.->>) 'freed')::boolean AND NOT timed_out AND NOT yielded);
  END LOOP;

  PERFORM retention.finish_run(run_id, timed_out, cfg.max_execution_time, run_error, yielded);
  COMMIT;
END
$$;
COMMENT ON PROCEDURE retention.run_cleanup(boolean, text, bigint, bigint, text, boolean) IS
  'Purges eligible soft-deleted rows in committed batches and records the run (what pg_cron calls)';
REVOKE ALL ON PROCEDURE retention.run_cleanup(boolean, text, bigint, bigint, text, boolean) FROM PUBLIC;

-- What the executor role may do (as in 0.1, with check_run_arguments and max_days, which
-- run_cleanup now calls with the caller's rights).
CREATE OR REPLACE FUNCTION retention.grant_executor(executor regrole) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('REVOKE ALL ON ALL ROUTINES IN SCHEMA retention FROM %s', executor);
  EXECUTE format('GRANT USAGE ON SCHEMA retention TO %s', executor);
  EXECUTE format('GRANT EXECUTE ON PROCEDURE retention.run_cleanup(boolean, text, bigint, bigint, text, boolean) TO %s',
                 executor);
  EXECUTE format('GRANT EXECUTE ON FUNCTION retention.begin_run(boolean, text, integer, text, interval),'
                 ' retention.start_item(bigint, text, boolean), retention.begin_pass(bigint),'
                 ' retention.purge_batch(bigint, timestamptz, text, integer, boolean),'
                 ' retention.finish_item(bigint, text, text), retention.finish_run(bigint, boolean, integer, text, boolean),'
                 ' retention.real_run_waiting(), retention.batches_in_pk_order(bigint, text),'
                 ' retention.next_batch_size(integer, integer, integer, integer, integer), retention.report(),'
                 ' retention.config(), retention.wait_for_replicas(bigint, timestamptz),'
                 ' retention.check_run_arguments(bigint, bigint), retention.max_days(),'
                 ' retention.expired_partitions(bigint), retention.drop_partition(bigint, regclass),'
                 ' retention.pass_waiting(jsonb, bigint, jsonb, boolean) TO %s',
                 executor);
  EXECUTE format('GRANT SELECT ON retention_config, retention_policy, retention_run, retention_run_item TO %s', executor);
END
$$;
COMMENT ON FUNCTION retention.grant_executor(regrole) IS 'Grants a role what running purges needs, and nothing more';

-- The reverse, for a role that RETENTION_CLEANUP_CONFIG["executor_role"] no longer names (sync).
CREATE OR REPLACE FUNCTION retention.revoke_executor(executor regrole) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('REVOKE ALL ON ALL ROUTINES IN SCHEMA retention FROM %s', executor);
  EXECUTE format('REVOKE ALL ON SCHEMA retention FROM %s', executor);
  EXECUTE format('REVOKE SELECT ON retention_config, retention_policy, retention_run, retention_run_item FROM %s',
                 executor);
END
$$;
COMMENT ON FUNCTION retention.revoke_executor(regrole) IS 'Takes back what grant_executor gave a role';
REVOKE ALL ON FUNCTION retention.revoke_executor(regrole) FROM PUBLIC;

-- The roles that hold what grant_executor gives (EXECUTE on run_cleanup), but its owner.
CREATE OR REPLACE FUNCTION retention.executor_roles() RETURNS SETOF regrole
LANGUAGE sql STABLE AS $$
  SELECT DISTINCT a.grantee::regrole
    FROM pg_proc p, aclexplode(p.proacl) a
   WHERE p.oid = 'retention.run_cleanup(boolean, text, bigint, bigint, text, boolean)'::regprocedure
     AND a.grantee <> p.proowner AND a.grantee <> 0 AND a.privilege_type = 'EXECUTE'
$$;
COMMENT ON FUNCTION retention.executor_roles() IS 'Roles granted EXECUTE on run_cleanup, other than its owner';
REVOKE ALL ON FUNCTION retention.executor_roles() FROM PUBLIC;

-- Every change of a policy row, by any role and any path (retention sync, the admin, psql), is
-- written to retention_policy_history with the role that made it: retention sync writes no
-- history rows itself. updated_at, sql_hash and position are bookkeeping, not a change. Not
-- SECURITY DEFINER: a role that may change a policy but not write its history cannot change it.
-- changed_by and detail are columns of migration 0009 (after this file): read when it runs; actor
-- (a later migration) is what the application said it acts for, set_config('retention.actor', ...,
-- true) in the transaction (django_pg_retention.sync.acting_as): a claim, beside the role.
CREATE OR REPLACE FUNCTION retention.record_policy_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  kind text;
  fields text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    kind := 'created';
  ELSIF TG_OP = 'DELETE' THEN
    kind := 'deleted';
  ELSE
    SELECT string_agg(n.key, ', ' ORDER BY n.key) INTO fields
      FROM jsonb_each(to_jsonb(NEW)) n JOIN jsonb_each(to_jsonb(OLD)) o ON o.key = n.key
     WHERE n.value IS DISTINCT FROM o.value AND n.key NOT IN ('updated_at', 'sql_hash', 'position', 'partition_refs',
                                                                  'blocking_tables');
    IF fields IS NULL THEN
      RETURN NULL;
    END IF;
    kind := CASE WHEN NOT OLD.is_active AND NEW.is_active THEN 'reactivated'
                 WHEN OLD.is_active AND NOT NEW.is_active THEN 'deactivated'
                 WHEN OLD.retention_days <> NEW.retention_days THEN 'days_changed'
                 WHEN OLD.policy_source <> NEW.policy_source THEN 'source_changed'
                 ELSE 'updated' END;
  END IF;
  INSERT INTO retention_policy_history (model_path, change, old_days, new_days, old_source, new_source, changed_at,
                                        changed_by, detail, actor)
  VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.model_path ELSE NEW.model_path END, kind,
          CASE WHEN TG_OP <> 'INSERT' THEN OLD.retention_days END,
          CASE WHEN TG_OP <> 'DELETE' AND kind NOT IN ('deactivated') THEN NEW.retention_days END,
          CASE WHEN TG_OP <> 'INSERT' THEN OLD.policy_source ELSE '' END,
          CASE WHEN TG_OP <> 'DELETE' AND kind NOT IN ('deactivated') THEN NEW.policy_source ELSE '' END,
          clock_timestamp(), current_user, coalesce(fields, ''),
          left(coalesce(current_setting('retention.actor', true), ''), 200));
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION retention.record_policy_change() IS
  'Trigger: writes every change of a retention_policy row to retention_policy_history, with the role';
REVOKE ALL ON FUNCTION retention.record_policy_change() FROM PUBLIC;

CREATE TRIGGER retention_policy_history AFTER INSERT OR UPDATE OR DELETE ON retention_policy
  FOR EACH ROW EXECUTE FUNCTION retention.record_policy_change();

-- The append-only triggers are pgtrigger's row triggers, which read pgtrigger.ignore for each row;
-- retention_audit_guard (0.1) is a statement trigger that refuses a lifting non-owner, but it fires
-- before the statement runs, so a set_config('pgtrigger.ignore', ..., true) in the statement's own
-- WHERE or SET lifted them for the rows after it. A row trigger now checks the same for every row.
CREATE OR REPLACE FUNCTION retention.guard_audit_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  lifted text[];
BEGIN
  IF pg_has_role(current_user, (SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'MEMBER') THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  BEGIN
    lifted := current_setting('pgtrigger.ignore', true)::text[];
  EXCEPTION WHEN OTHERS THEN
    lifted := NULL;  -- a value pgtrigger cannot read lifts nothing
  END;
  IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = TG_RELID AND t.tgname = ANY(lifted)) THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('pgtrigger.ignore lifts the append-only triggers of %I only for its owner, not for role %I',
                       TG_TABLE_NAME, current_user);
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION retention.guard_audit_row() IS
  'Row trigger: refuses pgtrigger.ignore of an audit table''s append-only triggers to roles that do not own it, row by row';
REVOKE ALL ON FUNCTION retention.guard_audit_row() FROM PUBLIC;

-- Installs (or enables again) both guards on every audit table; migrate and retention sync call it.
CREATE OR REPLACE FUNCTION retention.install_audit_guards() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  audit_table text;
BEGIN
  FOREACH audit_table IN ARRAY retention.audit_tables() LOOP
    EXECUTE format('CREATE OR REPLACE TRIGGER retention_audit_guard BEFORE UPDATE OR DELETE OR TRUNCATE ON %I'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION retention.guard_audit_table()', audit_table);
    EXECUTE format('ALTER TABLE %I ENABLE TRIGGER retention_audit_guard', audit_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER retention_audit_guard_row BEFORE UPDATE OR DELETE ON %I'
                   ' FOR EACH ROW EXECUTE FUNCTION retention.guard_audit_row()', audit_table);
    EXECUTE format('ALTER TABLE %I ENABLE TRIGGER retention_audit_guard_row', audit_table);
  END LOOP;
END
$$;
COMMENT ON FUNCTION retention.install_audit_guards() IS
  'Installs the retention_audit_guard (statement) and retention_audit_guard_row triggers on every audit table';
SELECT retention.install_audit_guards();

-- ===================================================================================================
-- Security, the rest of issue 30 (holds and policy history in the proof; the steps of run_cleanup
-- only through it; bigint numbers). docs/security.md names the tests.
-- ===================================================================================================

-- Holds, their releases and the policy history are sealed by the database when written: each
-- INSERT or UPDATE of a retention_hold row, and each INSERT of a retention_policy_history row,
-- appends a seal to retention.record_seal (the owner's table, granted to nobody, so append-only for
-- every other role): which row, the sha256 of the row's canonical text as written, and a hash
-- chained over the seals (hash = sha256(prev_hash || seal)). `retention verify` recomputes the
-- chain and compares every row with its latest seal, so a deleted hold, a backdated release or an
-- edited history row shows, even when done by the owner with the triggers off.
CREATE TABLE retention.record_seal (
  position bigint PRIMARY KEY,
  kind text NOT NULL,
  row_id bigint NOT NULL,
  sealed_at timestamptz NOT NULL,
  row_digest text NOT NULL,
  at_upgrade boolean NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL
);
COMMENT ON TABLE retention.record_seal IS
  'django-pg-retention: a hash chain over every written hold and policy history row (retention verify)';
REVOKE ALL ON TABLE retention.record_seal FROM PUBLIC;

-- The canonical text of a sealed row: its kind, then each field as a netstring, timestamps as
-- microseconds since 1970, NULL as ''. A field the table does not have (yet) is '' too, so rows
-- sealed before a migration added a column keep their digest. audit.py computes the same.
CREATE OR REPLACE FUNCTION retention.sealed_record(kind text, row_values jsonb) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  names text[] := CASE kind
    WHEN 'hold' THEN ARRAY['id', 'model_path', 'object_pk', 'reason', 'created_by', 'created_at', 'until',
                           'released_at', 'released_by']
    WHEN 'policy_history' THEN ARRAY['id', 'model_path', 'change', 'old_days', 'new_days', 'old_source',
                                     'new_source', 'changed_at', 'changed_by', 'detail', 'actor']
  END;
  name text;
  value text;
  record text := concat(octet_length(kind), ':', kind, ',');
BEGIN
  IF names IS NULL THEN
    RAISE EXCEPTION 'retention.sealed_record: unknown kind %', kind;
  END IF;
  FOREACH name IN ARRAY names LOOP
    value := coalesce(row_values ->> name, '');
    IF value <> '' AND name IN ('created_at', 'until', 'released_at', 'changed_at') THEN
      value := (extract(epoch FROM value::timestamptz) * 1000000)::bigint::text;
    END IF;
    record := concat(record, octet_length(value), ':', value, ',');
  END LOOP;
  RETURN record;
END
$$;
COMMENT ON FUNCTION retention.sealed_record(text, jsonb) IS
  'The canonical text of a hold or policy history row, as its seal''s row_digest covers it';
REVOKE ALL ON FUNCTION retention.sealed_record(text, jsonb) FROM PUBLIC;

-- Appends a seal (under a lock, so positions follow commit order). Only the owner may call it: the
-- trigger below runs it with the owner's rights; it reads nothing but its arguments and its table.
CREATE OR REPLACE FUNCTION retention.seal_record(kind text, row_id bigint, row_values jsonb, at_upgrade boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  last_position bigint;
  last_hash text;
  entry retention.record_seal;
BEGIN
  PERFORM retention.take_lock('record_seal');
  SELECT s.position, s.hash INTO last_position, last_hash FROM retention.record_seal s
   ORDER BY s.position DESC LIMIT 1;
  entry.position := coalesce(last_position, 0) + 1;
  entry.kind := kind;
  entry.row_id := row_id;
  entry.sealed_at := clock_timestamp();
  entry.row_digest := encode(sha256(convert_to(retention.sealed_record(kind, row_values), 'UTF8')), 'hex');
  entry.at_upgrade := at_upgrade;
  entry.prev_hash := coalesce(last_hash, '');
  entry.hash := encode(sha256(convert_to(entry.prev_hash || (
      SELECT string_agg(concat(octet_length(f), ':', f, ','), '' ORDER BY n)
        FROM unnest(ARRAY['seal', entry.position::text, kind, row_id::text,
                          (extract(epoch FROM entry.sealed_at) * 1000000)::bigint::text, entry.row_digest,
                          at_upgrade::text]) WITH ORDINALITY AS u(f, n)), 'UTF8')), 'hex');
  INSERT INTO retention.record_seal SELECT entry.*;
END
$$;
COMMENT ON FUNCTION retention.seal_record(text, bigint, jsonb, boolean) IS
  'Appends a seal of a hold or policy history row to retention.record_seal';
REVOKE ALL ON FUNCTION retention.seal_record(text, bigint, jsonb, boolean) FROM PUBLIC;

-- The trigger: SECURITY DEFINER so that any role that may write a hold (the admin's) seals it,
-- without any right on retention.record_seal. NEW is data only (sealed, never executed). No path
-- lifts the append-only triggers of these tables (housekeeping lifts the run tables' only), so a
-- write under pgtrigger.ignore is refused, by the owner too: it would seal a rewritten release.
CREATE OR REPLACE FUNCTION retention.seal_audit_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  lifted text[];
BEGIN
  BEGIN
    lifted := current_setting('pgtrigger.ignore', true)::text[];
  EXCEPTION WHEN OTHERS THEN
    lifted := NULL;
  END;
  IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = TG_RELID AND t.tgname = ANY (lifted)) THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('%I rows are never written with their append-only triggers lifted (pgtrigger.ignore), '
                       'not even by role %I', TG_TABLE_NAME, session_user);
  END IF;
  PERFORM retention.seal_record(CASE TG_TABLE_NAME WHEN 'retention_hold' THEN 'hold' ELSE 'policy_history' END,
                                NEW.id, to_jsonb(NEW), false);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION retention.seal_audit_row() IS
  'Trigger: seals each written hold and policy history row into retention.record_seal';
REVOKE ALL ON FUNCTION retention.seal_audit_row() FROM PUBLIC;
CREATE TRIGGER retention_seal AFTER INSERT OR UPDATE ON @app_schema@.retention_hold
  FOR EACH ROW EXECUTE FUNCTION retention.seal_audit_row();
CREATE TRIGGER retention_seal AFTER INSERT OR UPDATE ON @app_schema@.retention_policy_history
  FOR EACH ROW EXECUTE FUNCTION retention.seal_audit_row();

-- A database upgraded from 0.1.0 has holds and history rows written before seals existed: each is
-- sealed now as it is, noted at_upgrade (verify says so). Fresh installs have none.
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT h.id, to_jsonb(h) AS j FROM @app_schema@.retention_hold h ORDER BY h.id LOOP
    PERFORM retention.seal_record('hold', r.id, r.j, true);
  END LOOP;
  FOR r IN SELECT h.id, to_jsonb(h) AS j FROM @app_schema@.retention_policy_history h ORDER BY h.id LOOP
    PERFORM retention.seal_record('policy_history', r.id, r.j, true);
  END LOOP;
END
$$;

-- The steps of run_cleanup (begin_run, and through own_run every other) are SECURITY DEFINER and
-- take values (triggered_by, an item's status and error, a run's error) that run_cleanup computes:
-- a session that is not the owner's may reach them only from run_cleanup, called as a statement
-- (CALL, as pg_cron and django_pg_retention.manager do). run_cleanup cannot be SECURITY DEFINER
-- (it commits), so the call stack tells: its outermost frame must be run_cleanup's. The server
-- writes each frame from the routine's oid; a routine name with a line break is quoted, so no
-- frame of a caller's own routine can end like run_cleanup's. Unqualified (a search_path naming
-- schema retention when run_cleanup was compiled) it counts only while no other routine has its name.
CREATE OR REPLACE FUNCTION retention.refuse_direct_step_call() RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  stack text;
  frames text[];
  outermost text;
  match text[];
BEGIN
  IF pg_has_role(session_user, current_user, 'MEMBER') THEN
    RETURN;  -- the owner may write the audit anyway
  END IF;
  GET DIAGNOSTICS stack = PG_CONTEXT;
  frames := regexp_split_to_array(rtrim(stack, E'\n'), E'\n');
  outermost := frames[cardinality(frames)];
  -- (its signature as compiled in the caller's session: text is pg_catalog.text where the caller has
  -- a type of that name)
  match := regexp_match(outermost, '^PL/pgSQL function (retention\.)?run_cleanup\(boolean,(?:pg_catalog\.)?text,bigint,bigint,(?:pg_catalog\.)?text,boolean\) line [0-9]+ at [A-Za-z ]+$');
  IF cardinality(frames) >= 3 AND match IS NOT NULL
     -- and every routine between it and this step is one of retention's PL/pgSQL functions: code of
     -- the caller's that run_cleanup reached (a domain's check, an operator) is no run_cleanup.
     AND NOT EXISTS (SELECT 1 FROM unnest(frames[1:cardinality(frames) - 1]) f
                      WHERE f ~ '^[^"]*function ' AND f !~ '^PL/pgSQL function retention\.')
     AND (match[1] IS NOT NULL
          OR NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.proname = 'run_cleanup'
                                                   AND p.pronamespace <> 'retention'::regnamespace)) THEN
    RETURN;
  END IF;
  RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
    MESSAGE = format('retention: role %I may run the steps of run_cleanup (begin_run, start_item, begin_pass, '
                     'purge_batch, finish_item, finish_run, ...) only through CALL retention.run_cleanup(...): the audit '
                     'records what the database computed, not a caller''s triggered_by, status or error', session_user),
    HINT = 'CALL retention.run_cleanup(dry_run => ..., model => ..., days => ..., batch_size => ...) as a statement of its own.';
END
$$;
COMMENT ON FUNCTION retention.refuse_direct_step_call() IS
  'Refuses the steps of run_cleanup to a non-owner session that calls them other than through run_cleanup';
REVOKE ALL ON FUNCTION retention.refuse_direct_step_call() FROM PUBLIC;

-- run_cleanup's days and batch_size became bigint (above): the roles granted the old signature get
-- the new one.
DO $$
BEGIN
  PERFORM retention.grant_executor(r::regrole)
     FROM unnest(string_to_array(nullif(current_setting('retention.upgrade_executors', true), ''), ',')) r;
  PERFORM set_config('retention.upgrade_executors', '', true);
END
$$;

-- ===================================================================================================
-- Citus (issue 27). On a Citus coordinator the generated functions of a graph with Citus tables are
-- the distributed ones (django_pg_retention/compiler.py, _DistributedPurge; docs/architecture.md).
-- What the static SQL needs to know: a table's distribution column (check_hold locks a held row
-- through it; start_item's dry-run count names its ledger's keys instead of joining the ledger).
-- ===================================================================================================

-- NULL for a table Citus does not know (every table without Citus), '' for a reference or Citus
-- local table, else the column a distributed table is sharded by.
CREATE OR REPLACE FUNCTION retention.distribution_column(tbl regclass) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  col text;
BEGIN
  IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
    RETURN NULL;
  END IF;
  EXECUTE 'SELECT CASE WHEN p.partmethod = ''h'' THEN pg_catalog.column_to_column_name(p.logicalrelid, p.partkey)'
          ' ELSE '''' END FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1'
    INTO col USING tbl;
  RETURN col;
END
$$;
COMMENT ON FUNCTION retention.distribution_column(regclass) IS
  'Citus: the column a distributed table is sharded by, '''' for a reference table, NULL for a table Citus does not know';
REVOKE ALL ON FUNCTION retention.distribution_column(regclass) FROM PUBLIC;

-- End of the security section (issue 30).

-- ===================================================================================================
-- Flat memory for the digests (issue 25). 0.1's item_digests held every table's keys at once, as
-- arrays and texts copied three times, and hashed one text of all of a table's keys: 603 MiB of
-- backend memory for one table of 6M keys not in order, 122 MiB for 2M keys in each of three tables in
-- order (bench/digest_memory.py), and no digest at all past PostgreSQL's 1 GB limit on a value (about
-- 100M integer keys, 29M UUIDs). Now one table at a time, and a table of more keys than a chunk
-- (65,536) is hashed chunk by chunk: its sorted keys in runs of 65,536, each run's lines hashed, and
-- the digest is the SHA-256 of those hex digests, one per line (audit.keys_digest with the entry's
-- "chunk"). Up to a chunk the digest is the plain SHA-256 of the lines, as 0.1's. The backend holds one
-- chunk and 65 bytes a chunk, and sorts spill to disk past 16 MB, whatever the number of keys.
-- ===================================================================================================
CREATE OR REPLACE FUNCTION retention.lines_sha256(keys text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(array_to_string(keys, E'\n') || E'\n', 'UTF8'::name)), 'hex')
$$;
COMMENT ON FUNCTION retention.lines_sha256(text[]) IS 'SHA-256 (hex) of the keys in the given order, each followed by a newline';
REVOKE ALL ON FUNCTION retention.lines_sha256(text[]) FROM PUBLIC;

-- The digest of a table's keys past one chunk. Batches in key order (in_order) are joined as they
-- were stored; any other keys come sorted from one query, one at a time.
CREATE OR REPLACE FUNCTION retention.chunked_keys_digest(item bigint, db_table text, key_order text,
                                                         in_order boolean, chunk integer) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  batch text[];
  key text;
  pending text[] := '{}';
  hashes text := '';
BEGIN
  IF in_order THEN
    FOR batch IN SELECT k.keys FROM retention_deleted_keys k
                  WHERE k.run_item_id = item AND k.db_table = chunked_keys_digest.db_table ORDER BY k.id LOOP
      pending := pending || batch;
      WHILE cardinality(pending) >= chunk LOOP
        hashes := hashes || retention.lines_sha256(pending[1:chunk]) || E'\n';
        pending := pending[chunk + 1:];
      END LOOP;
    END LOOP;
  ELSE
    FOR key IN SELECT coalesce(s.n::text, t)
                 FROM retention_deleted_keys k, unnest(k.keys) AS t,
                      LATERAL (SELECT CASE WHEN chunked_keys_digest.key_order = 'numeric' THEN t::bigint END) AS s(n)
                WHERE k.run_item_id = item AND k.db_table = chunked_keys_digest.db_table
                ORDER BY s.n, t COLLATE "C" LOOP
      pending := array_append(pending, key);
      IF cardinality(pending) = chunk THEN
        hashes := hashes || retention.lines_sha256(pending) || E'\n';
        pending := '{}';
      END IF;
    END LOOP;
  END IF;
  IF cardinality(pending) > 0 THEN
    hashes := hashes || retention.lines_sha256(pending) || E'\n';
  END IF;
  RETURN encode(sha256(convert_to(hashes, 'UTF8'::name)), 'hex');
END
$$;
COMMENT ON FUNCTION retention.chunked_keys_digest(bigint, text, text, boolean, integer) IS
  'SHA-256 of the chunk digests of a table''s sorted keys (an item that deleted more than one chunk of them)';
REVOKE ALL ON FUNCTION retention.chunked_keys_digest(bigint, text, text, boolean, integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION retention.item_digests(item bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET work_mem = '16MB'
AS $$
DECLARE
  chunk constant integer := 65536;
  t record;
  digest text;
  digests jsonb := '{}';
BEGIN
  FOR t IN
    WITH batches AS (
      SELECT k.db_table, k.key_order, cardinality(k.keys) AS n,
             k.key_order = 'numeric' AND k.ascending
               AND coalesce((lag(k.keys[cardinality(k.keys)]) OVER w)::bigint < k.keys[1]::bigint, true) AS follows
        FROM retention_deleted_keys k WHERE k.run_item_id = item
      WINDOW w AS (PARTITION BY k.db_table ORDER BY k.id)
    )
    SELECT b.db_table, min(b.key_order) AS key_order, bool_and(b.follows) AS in_order, sum(b.n) AS n
      FROM batches b GROUP BY b.db_table
  LOOP
    IF t.n > chunk THEN
      digest := retention.chunked_keys_digest(item, t.db_table, t.key_order, t.in_order, chunk);
    -- One chunk: one text, hashed in the statement that builds it.
    ELSIF t.in_order THEN  -- a backlog in primary-key order: the batches joined as they are
      SELECT encode(sha256(convert_to(string_agg(array_to_string(k.keys, E'\n') || E'\n', '' ORDER BY k.id),
                                      'UTF8'::name)), 'hex') INTO digest
        FROM retention_deleted_keys k WHERE k.run_item_id = item AND k.db_table = t.db_table;
    ELSIF t.key_order = 'numeric' THEN
      SELECT encode(sha256(convert_to(string_agg(key::text || E'\n', '' ORDER BY key), 'UTF8'::name)), 'hex') INTO digest
        FROM retention_deleted_keys k, unnest(k.keys::bigint[]) AS key
       WHERE k.run_item_id = item AND k.db_table = t.db_table;
    ELSE
      SELECT encode(sha256(convert_to(string_agg(key || E'\n', '' ORDER BY key COLLATE "C"), 'UTF8'::name)), 'hex')
        INTO digest
        FROM retention_deleted_keys k, unnest(k.keys) AS key
       WHERE k.run_item_id = item AND k.db_table = t.db_table;
    END IF;
    digests := digests || jsonb_build_object(t.db_table, jsonb_build_object(
      'count', t.n, 'order', t.key_order, 'sha256', digest, 'chunk', chunk));
  END LOOP;
  RETURN digests;
END
$$;
COMMENT ON FUNCTION retention.item_digests(bigint) IS
  'Count and SHA-256 of the sorted primary keys an item deleted, per table (chunk by chunk past "chunk" keys)';
REVOKE ALL ON FUNCTION retention.item_digests(bigint) FROM PUBLIC;

-- ===================================================================================================
-- Security review of 0.2 before its release: what the application role's table rights, a role that
-- may only connect, and the executor's own objects could do around a run. docs/security.md names the
-- tests (tests/test_security.py, "review of 0.2").
-- ===================================================================================================

-- Runs, their items, their proof of deletion and the audit's pruning records are written by the
-- owner's code only (the definer steps, housekeeping), whatever table rights a role was granted:
-- the application role could rewrite a running item's cutoff or a preview's dry_run and cover it
-- up before the seal, delete the proof's keys before they were digested, or append a run it sealed
-- itself. The config is RETENTION_CLEANUP_CONFIG as sync wrote it (a batch_pause_ms of 24 days,
-- written by another role, stalled every run unrecorded). Alerts and outbox rows are raised by the
-- database: others may mark them done, not add one.
CREATE OR REPLACE FUNCTION retention.refuse_foreign_writes() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  owner_oid oid := (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) TG_RELID);
BEGIN
  IF pg_catalog.pg_has_role(current_user, owner_oid, 'MEMBER') THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
    MESSAGE = pg_catalog.format('%I is written by django-pg-retention''s own steps (role %I) only: %s is refused to role %I, '
                                'whatever its table rights', TG_TABLE_NAME, pg_catalog.pg_get_userbyid(owner_oid), TG_OP,
                                current_user),
    HINT = 'Purge with CALL retention.run_cleanup(...) (the executor role), or request a run in the admin.';
END
$$;
COMMENT ON FUNCTION retention.refuse_foreign_writes() IS
  'Statement trigger: refuses writes to the run, proof and alert tables to roles that are not members of their owner';
REVOKE ALL ON FUNCTION retention.refuse_foreign_writes() FROM PUBLIC;

CREATE OR REPLACE FUNCTION retention.install_write_guards() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  guarded record;
BEGIN
  FOR guarded IN SELECT * FROM (VALUES ('retention_run', 'INSERT OR UPDATE OR DELETE'),
                                       ('retention_run_item', 'INSERT OR UPDATE OR DELETE'),
                                       ('retention_deleted_keys', 'INSERT OR UPDATE OR DELETE OR TRUNCATE'),
                                       ('retention_audit_prune', 'INSERT OR UPDATE OR DELETE'),
                                       ('retention_config', 'INSERT OR UPDATE OR DELETE'),
                                       ('retention_alert', 'INSERT'),
                                       ('retention_outbox', 'INSERT')) AS g(tbl, ops) LOOP
    EXECUTE format('CREATE OR REPLACE TRIGGER retention_owner_writes BEFORE %s ON %I'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION retention.refuse_foreign_writes()', guarded.ops, guarded.tbl);
    EXECUTE format('ALTER TABLE %I ENABLE TRIGGER retention_owner_writes', guarded.tbl);
  END LOOP;
END
$$;
COMMENT ON FUNCTION retention.install_write_guards() IS
  'Installs the retention_owner_writes trigger on the tables only the owner''s code writes';
REVOKE ALL ON FUNCTION retention.install_write_guards() FROM PUBLIC;
SELECT retention.install_write_guards();

-- A policy row names the tables and functions the definer code reads and calls (db_table,
-- select_function, purge_function, partition_refs, ...): only the owner (retention sync) writes
-- those. Another role with rights on the table may change what docs/security.md says it may, the
-- days and whether the policy is active (recorded in retention_policy_history and warned by
-- check W006), nothing else: pointing db_table at a temporary view of its own made the owner's
-- count run that view's functions with the owner's rights.
CREATE OR REPLACE FUNCTION retention.guard_policy_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  changed text;
BEGIN
  IF pg_has_role(current_user, (SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'MEMBER') THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF TG_OP <> 'UPDATE' THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('retention_policy rows are written by retention sync (manage.py migrate): %s is refused to role %I',
                       TG_OP, current_user),
      HINT = 'Change SOFT_DELETE_RETENTION_POLICIES and run manage.py migrate; another role may change retention_days '
             'and is_active only.';
  END IF;
  SELECT string_agg(n.key, ', ' ORDER BY n.key) INTO changed
    FROM jsonb_each(to_jsonb(NEW)) n JOIN jsonb_each(to_jsonb(OLD)) o ON o.key = n.key
   WHERE n.value IS DISTINCT FROM o.value AND n.key NOT IN ('retention_days', 'is_active', 'updated_at');
  IF changed IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('role %I may change the retention_days and is_active of a retention policy, not %s (%s)',
                       current_user, changed, NEW.model_path),
      HINT = 'The other columns are the compiled policy: manage.py migrate (retention sync) writes them.';
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION retention.guard_policy_row() IS
  'Row trigger: a role other than the owner may change a policy''s retention_days and is_active only';
REVOKE ALL ON FUNCTION retention.guard_policy_row() FROM PUBLIC;
CREATE OR REPLACE TRIGGER retention_policy_guard BEFORE INSERT OR UPDATE OR DELETE ON retention_policy
  FOR EACH ROW EXECUTE FUNCTION retention.guard_policy_row();

-- Outbox rows and alerts are worked off by other roles (retention_drain, retention_notify through
-- Django's connection): such a role may mark one done (the first argument, a timestamp set once)
-- and change the columns named after it, nothing else, and may not delete one. An outbox row
-- rewritten to name another model's live file, or drained again, had the drain delete that file.
CREATE OR REPLACE FUNCTION retention.guard_marked_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  changed text;
BEGIN
  IF pg_has_role(current_user, (SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'MEMBER') THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('%I rows are removed by housekeeping: DELETE is refused to role %I', TG_TABLE_NAME, current_user);
  END IF;
  SELECT string_agg(n.key, ', ' ORDER BY n.key) INTO changed
    FROM jsonb_each(to_jsonb(NEW)) n JOIN jsonb_each(to_jsonb(OLD)) o ON o.key = n.key
   WHERE n.value IS DISTINCT FROM o.value AND n.key <> ALL (TG_ARGV);
  IF changed IS NULL AND (to_jsonb(OLD)->>TG_ARGV[0] IS NULL
                          OR to_jsonb(NEW)->>TG_ARGV[0] IS NOT DISTINCT FROM to_jsonb(OLD)->>TG_ARGV[0]) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
    MESSAGE = format('role %I may set %s of a %I row once and change %s, not %s', current_user, TG_ARGV[0],
                     TG_TABLE_NAME, array_to_string(TG_ARGV[1:], ', '),
                     coalesce(changed, TG_ARGV[0] || ' once set'));
END
$$;
COMMENT ON FUNCTION retention.guard_marked_row() IS
  'Row trigger: another role than the owner marks an outbox row or alert done once (and its attempts), nothing else';
REVOKE ALL ON FUNCTION retention.guard_marked_row() FROM PUBLIC;
CREATE OR REPLACE TRIGGER retention_marked_guard BEFORE UPDATE OR DELETE ON retention_outbox
  FOR EACH ROW EXECUTE FUNCTION retention.guard_marked_row('done_at', 'attempts', 'last_error');
CREATE OR REPLACE TRIGGER retention_marked_guard BEFORE UPDATE OR DELETE ON retention_alert
  FOR EACH ROW EXECUTE FUNCTION retention.guard_marked_row('sent_at');

-- A policy history row says who changed a policy and when, as the database saw it: a role other than
-- the owner writes one only through record_policy_change (a trigger of retention_policy, so from
-- depth 2 on), with its own role and the time of the change, whatever it would say instead.
CREATE OR REPLACE FUNCTION retention.guard_history_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF pg_has_role(current_user, (SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'MEMBER') THEN
    RETURN NEW;
  END IF;
  IF pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('retention_policy_history rows are written by the database when a policy changes: an INSERT '
                       'is refused to role %I', current_user);
  END IF;
  NEW.changed_by := current_user;
  NEW.changed_at := clock_timestamp();
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION retention.guard_history_row() IS
  'Row trigger: another role than the owner writes policy history only through a policy change, as itself and now';
REVOKE ALL ON FUNCTION retention.guard_history_row() FROM PUBLIC;
CREATE OR REPLACE TRIGGER retention_history_guard BEFORE INSERT ON retention_policy_history
  FOR EACH ROW EXECUTE FUNCTION retention.guard_history_row();

-- The owner's pg_cron job runs every pending request (drain_requests), in the owner's session, which
-- may shorten retention: a request is added pending and untouched, and one that would shorten a
-- policy only by the owner. Before, the application role's INSERT of days => 1 made the owner's
-- job purge rows their policy keeps, with no policy change recorded.
CREATE OR REPLACE FUNCTION retention.guard_request_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  pol retention_policy;
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.added_by := current_user;  -- whoever the row says (migration 0016's column)
  END IF;
  IF pg_has_role(current_user, (SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID), 'MEMBER') THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF TG_OP <> 'INSERT' THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('retention_request rows are run by the database (retention.drain_requests): role %I may add '
                       'one, not %s one', current_user, lower(TG_OP));
  END IF;
  IF NEW.status <> 'pending' OR NEW.run_id IS NOT NULL OR NEW.started_at IS NOT NULL OR NEW.finished_at IS NOT NULL
     OR NEW.backend_pid IS NOT NULL OR NEW.error <> '' THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('a new retention_request is pending, with no run, start, end, backend or error (role %I)',
                       current_user);
  END IF;
  IF NEW.days IS NOT NULL THEN
    -- Active or not: a policy switched off for the INSERT and on again would have let it through.
    SELECT * INTO pol FROM retention_policy p
     WHERE (NEW.model_path = '' OR p.model_path = NEW.model_path) AND p.retention_days > NEW.days
     ORDER BY p.position, p.model_path LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = format('a request with days %s is shorter than the policy of %s (%s days): only role %I may request '
                         'a shorter retention, not role %I', NEW.days, pol.model_path, pol.retention_days,
                         (SELECT c.relowner::regrole FROM pg_class c WHERE c.oid = TG_RELID), current_user),
        HINT = 'Leave days empty (the policies apply), or give a longer one.';
    END IF;
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION retention.guard_request_row() IS
  'Row trigger: another role than the owner adds pending requests only, and none shorter than a policy';
REVOKE ALL ON FUNCTION retention.guard_request_row() FROM PUBLIC;
CREATE OR REPLACE TRIGGER retention_request_guard BEFORE INSERT OR UPDATE OR DELETE ON retention_request
  FOR EACH ROW EXECUTE FUNCTION retention.guard_request_row();

-- A run's backend counts as running unless the owner can see it is not: pg_stat_activity shows the
-- state and start of another role's session (the executor's) only to superusers and members of
-- pg_read_all_stats (else NULL), and 0.1 took that for "not running", so a second call sealed a
-- live run as interrupted and started its own beside it. A hidden session with the run's pid counts
-- as running (a reused pid included) until it disconnects.
CREATE OR REPLACE FUNCTION retention.backend_is_running(pid integer, since timestamptz) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                  WHERE a.pid OPERATOR(pg_catalog.=) backend_is_running.pid
                    AND (a.backend_start IS NULL OR a.backend_start OPERATOR(pg_catalog.<=) since)
                    AND (a.state IS NULL OR a.state OPERATOR(pg_catalog.=) 'active'))
$$;
COMMENT ON FUNCTION retention.backend_is_running(integer, timestamptz) IS
  'Whether the backend of a running retention run may still be executing it (a state it cannot see counts as running)';
REVOKE ALL ON FUNCTION retention.backend_is_running(integer, timestamptz) FROM PUBLIC;

-- The two 0.1 routines that took advisory locks, on retention.locks instead. real_run_waiting runs
-- in the executor's run_cleanup: SECURITY DEFINER, so that it may lock the owner's row; its names
-- are qualified and its path has no schema a caller may CREATE in.
CREATE OR REPLACE FUNCTION retention.real_run_waiting() RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT NOT retention.take_lock('real_run_waiting', 'try_shared')
$$;
COMMENT ON FUNCTION retention.real_run_waiting() IS 'Whether a real run that is starting waits for a preview to yield';
REVOKE ALL ON FUNCTION retention.real_run_waiting() FROM PUBLIC;

-- drain_requests: its claim lock on retention.locks; a request another role added is checked
-- against the policies again when it runs.
CREATE OR REPLACE PROCEDURE retention.drain_requests()
LANGUAGE plpgsql AS $$
DECLARE
  req @app_schema@.retention_request;
  run bigint;
  refused text;
BEGIN
  LOOP
    -- Claim the next request under a transaction lock (no session lock: a cancelled or failed call
    -- would keep one). A request still 'running' in a backend that executes it means another drain
    -- is at work; one whose backend does not was cut off (terminated, cancelled, server restarted).
    PERFORM retention.take_lock('drain_requests');
    IF EXISTS (SELECT 1 FROM @app_schema@.retention_request q
                WHERE q.status = 'running' AND q.backend_pid IS DISTINCT FROM pg_catalog.pg_backend_pid()
                  AND retention.backend_is_running(q.backend_pid, q.started_at)) THEN
      COMMIT;
      RETURN;
    END IF;
    UPDATE @app_schema@.retention_request SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),
           error = 'the drain ended without finishing (backend terminated, call cancelled, or server restarted)'
     WHERE status = 'running';
    SELECT * INTO req FROM @app_schema@.retention_request WHERE status = 'pending' ORDER BY id LIMIT 1;
    IF NOT FOUND THEN
      COMMIT;
      RETURN;
    END IF;
    -- A request another role added (guard_request_row records added_by) runs no shorter than the
    -- policies as they are now: at its INSERT the days could have been lowered for that transaction.
    -- Who it names is that role's claim.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = req.added_by
                                                       AND pg_catalog.pg_has_role(r.oid, current_user, 'MEMBER')) THEN
      refused := (SELECT pg_catalog.format('days %s is shorter than the policy of %s (%s days), and role %s that added '
                                           'the request may not shorten retention', req.days, p.model_path,
                                           p.retention_days, coalesce(nullif(req.added_by, ''), '(unknown)'))
                    FROM @app_schema@.retention_policy p
                   WHERE req.days IS NOT NULL AND (req.model_path = '' OR p.model_path = req.model_path)
                     AND p.retention_days > req.days
                   ORDER BY p.position, p.model_path LIMIT 1);
      IF refused IS NOT NULL THEN
        UPDATE @app_schema@.retention_request
           SET status = 'failed', started_at = pg_catalog.clock_timestamp(), finished_at = pg_catalog.clock_timestamp(),
               error = refused
         WHERE id = req.id;
        COMMIT;
        CONTINUE;
      END IF;
      req.requested_by := pg_catalog.format('%s (said role %s)', req.requested_by, coalesce(nullif(req.added_by, ''), '?'));
    END IF;
    UPDATE @app_schema@.retention_request
       SET status = 'running', started_at = pg_catalog.clock_timestamp(), backend_pid = pg_catalog.pg_backend_pid()
     WHERE id = req.id;
    COMMIT;
    PERFORM pg_catalog.set_config('retention.requested_by', pg_catalog.left(req.requested_by, 150), false);
    CALL retention.run_cleanup(dry_run => false, model => nullif(req.model_path, ''), days => req.days,
                               triggered_by => 'admin');
    PERFORM pg_catalog.set_config('retention.requested_by', '', false);
    SELECT id INTO run FROM @app_schema@.retention_run
     WHERE backend_pid = pg_catalog.pg_backend_pid() ORDER BY id DESC LIMIT 1;
    UPDATE @app_schema@.retention_request
       SET status = CASE WHEN (SELECT status FROM @app_schema@.retention_run WHERE id = run) IN ('failed', 'skipped')
                         THEN 'failed' ELSE 'done' END,
           run_id = run, finished_at = pg_catalog.clock_timestamp(),
           error = coalesce((SELECT error FROM @app_schema@.retention_run WHERE id = run), '')
     WHERE id = req.id;
    COMMIT;
  END LOOP;
END
$$;
COMMENT ON PROCEDURE retention.drain_requests() IS 'Runs the real runs requested in the admin, oldest first';
REVOKE ALL ON PROCEDURE retention.drain_requests() FROM PUBLIC;

-- start_run: retention.requested_by is who the session says it acts for (the admin's user). A
-- session of another role than the owner's sets it as it likes: its claim is recorded as its own.
CREATE OR REPLACE FUNCTION retention.start_run(dry_run boolean, model text, days integer, triggered_by text,
                                               status text DEFAULT 'running', error text DEFAULT '')
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  run bigint;
  requested_by text := coalesce(current_setting('retention.requested_by', true), '');
BEGIN
  IF requested_by <> '' AND NOT pg_has_role(session_user, current_user, 'MEMBER') THEN
    requested_by := format('%s (said role %s)', requested_by, session_user);
  END IF;
  INSERT INTO retention_run (started_at, finished_at, status, triggered_by, dry_run, model_filter, days_override,
                             rows_deleted, error, backend_pid, requested_by)
  VALUES (clock_timestamp(), CASE WHEN status <> 'running' THEN clock_timestamp() END, status, triggered_by,
          dry_run, coalesce(model, ''), days, 0, error, pg_backend_pid(), left(requested_by, 150))
  RETURNING id INTO run;
  IF status <> 'running' THEN
    PERFORM retention.seal_run(run);
  ELSE
    RAISE LOG 'django-pg-retention: run % started (dry_run=%, model=%, triggered_by=%)', run, dry_run, model, triggered_by;
  END IF;
  RETURN run;
END
$$;
COMMENT ON FUNCTION retention.start_run(boolean, text, integer, text, text, text) IS
  'Records the start of a run (or a run that ended at once, such as a skipped one)';
REVOKE ALL ON FUNCTION retention.start_run(boolean, text, integer, text, text, text) FROM PUBLIC;


-- Every function of the schema resolves names in pg_catalog first, then the app's schema (as in 0.1).
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'retention'::regnamespace AND p.prokind = 'f'
              AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')
  LOOP
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, %I, pg_temp', f,
                             pg_catalog.current_schema());
  END LOOP;
END
$$;

SELECT retention.install_audit_guards();
