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

-- Append a finished run to the chain, saying which record format its hash covers (record_format,
-- migration 0008): django_pg_retention/audit.py recomputes each sealed run in its own format, so a
-- later format never turns an earlier run's proof into a false alarm. Format 1 is 0.1.0's record.
CREATE OR REPLACE FUNCTION retention.seal_run(run bigint) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  last_position bigint;
  last_hash text;
  sealed_position bigint;
  sealed_hash text;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('django_pg_retention.chain'));
  SELECT r.chain_position, r.hash INTO last_position, last_hash
    FROM retention_run r WHERE r.chain_position IS NOT NULL ORDER BY r.chain_position DESC LIMIT 1;
  UPDATE retention_run r
     SET chain_position = coalesce(last_position, 0) + 1,
         prev_hash = coalesce(last_hash, ''),
         record_format = 1,
         hash = encode(sha256(convert_to(coalesce(last_hash, '') || retention.run_record(run), 'UTF8'::name)), 'hex')
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
  PERFORM pg_advisory_xact_lock(hashtext('django_pg_retention.chain'));  -- no run is sealed meanwhile
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
  EXECUTE format('SELECT t.%1$I::text FROM %2$I.%3$I t WHERE t.%1$I OPERATOR(pg_catalog.=) $1::%4$s FOR KEY SHARE OF t',
                 target.pk_column, target.table_schema, target.db_table, key_type)
    INTO found_key USING canonical;
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
