-- django-pg-retention 0.6 -> 0.7: proof of deletion, the audit chain, own soft-delete columns.
--
-- * A policy names its model's soft-delete columns (retention_policy.deleted_at_column and
--   flag_column, empty when a set timestamp alone marks a row deleted, as in django-safedelete).
-- * The generated purge functions record the primary keys they delete in retention_deleted_keys
--   (keyed by the setting retention.item_id, set per batch); when an item finishes, its keys are
--   digested into retention_run_item.digests ({table: {count, sha256}}) and removed.
-- * Every finished run is sealed: chain_position, prev_hash and hash = sha256(prev_hash ||
--   retention.run_record(run)). `manage.py retention verify` recomputes the chain.
-- * drain_requests hands requested_by to run_cleanup through the setting retention.requested_by,
--   so a finished (sealed) run is never updated.
-- * prune_audit lifts the append-only triggers for its own transaction only.

-- The SQL condition "this row is soft-deleted" for a policy's columns.
CREATE OR REPLACE FUNCTION retention.soft_deleted_condition(deleted_at_column text, flag_column text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN coalesce(flag_column, '') = '' THEN format('%I IS NOT NULL', deleted_at_column)
              ELSE format('%I', flag_column) END
$$;
COMMENT ON FUNCTION retention.soft_deleted_condition(text, text) IS
  'The quoted SQL condition that marks a row soft-deleted, from a policy''s columns';

-- Per table: how many keys an item deleted and the SHA-256 (hex) of them sorted bytewise
-- (COLLATE "C"), each followed by a newline. Python: sha256("".join(k + "\n" for k in sorted(keys))).
CREATE OR REPLACE FUNCTION retention.item_digests(item bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_object_agg(s.db_table, jsonb_build_object('count', s.n, 'sha256', s.digest)), '{}'::jsonb)
  FROM (
    SELECT k.db_table, count(*) AS n,
           encode(sha256(convert_to(string_agg(key || E'\n', '' ORDER BY key COLLATE "C"), 'UTF8')), 'hex') AS digest
      FROM retention_deleted_keys k, unnest(k.keys) AS key
     WHERE k.run_item_id = item
     GROUP BY k.db_table
  ) s
$$;
COMMENT ON FUNCTION retention.item_digests(bigint) IS
  'Count and SHA-256 of the sorted primary keys an item deleted, per table';

-- A length-prefixed field ("5:hello,"), so that no value can pass for two.
CREATE OR REPLACE FUNCTION retention.netstring(value text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT octet_length(coalesce(value, '')) || ':' || coalesce(value, '') || ','
$$;
COMMENT ON FUNCTION retention.netstring(text) IS 'A length-prefixed field of the audit record';

CREATE OR REPLACE FUNCTION retention.epoch_us(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce((extract(epoch FROM ts) * 1000000)::bigint::text, '')
$$;
COMMENT ON FUNCTION retention.epoch_us(timestamptz) IS 'A timestamp as microseconds since 1970 (UTC), empty for NULL';

CREATE OR REPLACE FUNCTION retention.item_record(i retention_run_item) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT (SELECT string_agg(retention.netstring(u.f), '' ORDER BY u.o)
            FROM unnest(ARRAY['item', i.id::text, i.model_path, i.db_table, i.retention_days::text,
                              retention.epoch_us(i.cutoff), i.eligible::text, i.deleted::text, i.blocked::text,
                              i.skipped_locked::text, i.status, i.error,
                              (SELECT count(*) FROM jsonb_object_keys(i.digests))::text]) WITH ORDINALITY AS u(f, o))
      || coalesce((SELECT string_agg(retention.netstring(d.key) || retention.netstring(d.value->>'count')
                                     || retention.netstring(d.value->>'sha256'), '' ORDER BY d.key COLLATE "C")
                     FROM jsonb_each(i.digests) d), '')
$$;
COMMENT ON FUNCTION retention.item_record(retention_run_item) IS 'The canonical text of one run item (part of run_record)';

-- The canonical record of a run and its items that the chain hashes. docs/sql.md gives the
-- layout; django_pg_retention/audit.py computes the same record independently.
CREATE OR REPLACE FUNCTION retention.run_record(run bigint) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT (SELECT string_agg(retention.netstring(u.f), '' ORDER BY u.o)
            FROM retention_run r,
                 unnest(ARRAY['run', r.id::text, retention.epoch_us(r.started_at), retention.epoch_us(r.finished_at),
                              r.status, r.triggered_by, r.dry_run::text, r.model_filter,
                              coalesce(r.days_override::text, ''), r.rows_deleted::text, r.error, r.requested_by])
                   WITH ORDINALITY AS u(f, o)
           WHERE r.id = run)
      || coalesce((SELECT string_agg(retention.item_record(i), '' ORDER BY i.id)
                     FROM retention_run_item i WHERE i.run_id = run), '')
$$;
COMMENT ON FUNCTION retention.run_record(bigint) IS 'The canonical text of a run and its items, as the audit chain hashes it';

-- Append a finished run to the chain. Serialised by a transaction lock, so no two runs take
-- the same position; a run already sealed is left alone.
CREATE OR REPLACE FUNCTION retention.seal_run(run bigint) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  last_position bigint;
  last_hash text;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('django_pg_retention.chain'));
  SELECT r.chain_position, r.hash INTO last_position, last_hash
    FROM retention_run r WHERE r.chain_position IS NOT NULL ORDER BY r.chain_position DESC LIMIT 1;
  UPDATE retention_run r
     SET chain_position = coalesce(last_position, 0) + 1,
         prev_hash = coalesce(last_hash, ''),
         hash = encode(sha256(convert_to(coalesce(last_hash, '') || retention.run_record(run), 'UTF8')), 'hex')
   WHERE r.id = run AND r.hash = '' AND r.status <> 'running';
END
$$;
COMMENT ON FUNCTION retention.seal_run(bigint) IS 'Seals a finished run into the audit hash chain';

-- The entry point: what pg_cron calls, and what anyone can CALL from psql. As in 0.6, plus the
-- columns, digests, seal and requested_by above.
CREATE OR REPLACE PROCEDURE retention.run_cleanup(
  dry_run boolean DEFAULT false,
  model text DEFAULT NULL,
  days integer DEFAULT NULL,
  batch_size integer DEFAULT NULL,
  triggered_by text DEFAULT 'sql',
  force boolean DEFAULT false)
LANGUAGE plpgsql AS $$
DECLARE
  lock_key constant bigint := hashtext('django_pg_retention.run_cleanup');
  cfg_batch_size integer;
  cfg_max_time integer;
  cfg_lock_ms integer;
  cfg_target_ms integer;
  cfg_min_batch integer;
  cfg_max_batch integer;
  adaptive boolean;
  notify boolean;
  batch_started timestamptz;
  batch_ms integer;
  pol retention_policy;
  policies retention_policy[];
  run_id bigint;
  item_id bigint;
  deadline timestamptz;
  cutoff timestamptz;
  item_started timestamptz;
  effective_batch integer;
  n_eligible bigint;
  after_at timestamptz;
  after_pk text;
  ids text[];
  blocked_here text[];
  res jsonb;
  deleted_rows jsonb;
  updated_rows jsonb;
  reasons jsonb;
  n_blocked bigint;
  n_purged bigint;
  n_skipped bigint;
  n_batches integer;
  item_status text;
  item_error text;
  run_status text := 'succeeded';
  run_error text := '';
  total_deleted bigint := 0;
  timed_out boolean := false;
  soft_deleted text;
  stale bigint;
  requester text := coalesce(current_setting('retention.requested_by', true), '');
BEGIN
  IF days IS NOT NULL AND days < 1 THEN
    RAISE EXCEPTION 'retention.run_cleanup: days must be at least 1, not %', days;
  END IF;
  IF batch_size IS NOT NULL AND batch_size < 1 THEN
    RAISE EXCEPTION 'retention.run_cleanup: batch_size must be at least 1, not %', batch_size;
  END IF;

  -- One run at a time per database; a concurrent call is recorded as skipped.
  IF NOT pg_try_advisory_lock(lock_key) THEN
    INSERT INTO retention_run (started_at, finished_at, status, triggered_by, dry_run, model_filter,
                               days_override, rows_deleted, error, backend_pid, requested_by)
    VALUES (clock_timestamp(), clock_timestamp(), 'skipped', triggered_by, dry_run, coalesce(model, ''),
            days, 0, 'another run_cleanup holds the lock', pg_backend_pid(), requester)
    RETURNING id INTO run_id;
    PERFORM retention.seal_run(run_id);
    COMMIT;
    RETURN;
  END IF;

  -- A run still marked running was killed mid-way (its backend and lock are gone): its items
  -- keep the digests of their committed batches, and the run is sealed into the chain.
  UPDATE retention_run_item SET status = 'interrupted', finished_at = clock_timestamp(), digests = retention.item_digests(id)
   WHERE status = 'running';
  DELETE FROM retention_deleted_keys k
   WHERE NOT EXISTS (SELECT 1 FROM retention_run_item i WHERE i.id = k.run_item_id AND i.status = 'running');
  FOR stale IN UPDATE retention_run SET status = 'interrupted', finished_at = clock_timestamp(),
                      error = 'the run ended without finishing (backend terminated or server restarted)'
                WHERE status = 'running' RETURNING id
  LOOP
    PERFORM retention.seal_run(stale);
  END LOOP;

  -- RETENTION_CLEANUP_CONFIG as synced by `manage.py migrate` / `retention sync`.
  SELECT c.batch_size, c.max_execution_time, c.lock_timeout_ms, c.target_batch_ms, c.min_batch_size, c.max_batch_size
    INTO cfg_batch_size, cfg_max_time, cfg_lock_ms, cfg_target_ms, cfg_min_batch, cfg_max_batch
    FROM retention_config c WHERE c.id = 1;
  -- An explicit batch_size is kept as given; otherwise batches adapt to take about target_batch_ms.
  adaptive := batch_size IS NULL;
  cfg_target_ms := coalesce(cfg_target_ms, 200);
  cfg_min_batch := coalesce(cfg_min_batch, 100);
  cfg_max_batch := greatest(coalesce(cfg_max_batch, 10000), cfg_min_batch);
  SELECT coalesce(c.enable_notifications, true) INTO notify FROM retention_config c WHERE c.id = 1;
  deadline := clock_timestamp() + make_interval(secs => coalesce(cfg_max_time, 3600));

  INSERT INTO retention_run (started_at, status, triggered_by, dry_run, model_filter, days_override,
                             rows_deleted, error, backend_pid, requested_by)
  VALUES (clock_timestamp(), 'running', triggered_by, dry_run, coalesce(model, ''), days, 0, '', pg_backend_pid(),
          requester)
  RETURNING id INTO run_id;
  RAISE LOG 'django-pg-retention: run % started (dry_run=%, model=%, triggered_by=%)', run_id, dry_run, model, triggered_by;

  policies := ARRAY(SELECT p FROM retention_policy p
                    WHERE p.is_active AND (model IS NULL OR p.model_path = model)
                    ORDER BY p.position, p.model_path);
  IF model IS NOT NULL AND cardinality(policies) = 0 THEN
    run_status := 'failed';
    run_error := format('no active retention policy for model %L (expected app_label.ModelName of a soft-deletable model)', model);
  END IF;
  COMMIT;

  FOREACH pol IN ARRAY policies LOOP
    EXIT WHEN timed_out;
    item_started := clock_timestamp();
    cutoff := item_started - make_interval(days => coalesce(days, pol.retention_days));
    INSERT INTO retention_run_item (run_id, model_path, db_table, retention_days, policy_source, cutoff,
                                    eligible, deleted, blocked, skipped_locked, cascaded, updated,
                                    blocked_reasons, batches, batch_sizes, batch_durations_ms, started_at,
                                    status, error, digests)
    VALUES (run_id, pol.model_path, pol.db_table, coalesce(days, pol.retention_days),
            CASE WHEN days IS NULL THEN pol.policy_source ELSE 'override' END, cutoff,
            0, 0, 0, 0, '{}', '{}', '{}', 0, '[]', '[]', item_started, 'running', '', '{}')
    RETURNING id INTO item_id;
    COMMIT;

    item_status := 'succeeded';
    item_error := '';
    n_batches := 0;
    effective_batch := coalesce(batch_size, least(greatest(coalesce(cfg_batch_size, 1000), cfg_min_batch), cfg_max_batch));
    after_at := NULL;
    after_pk := NULL;
    BEGIN
      soft_deleted := retention.soft_deleted_condition(pol.deleted_at_column, pol.flag_column);
      EXECUTE format('SELECT count(*) FROM %I WHERE %s AND %I < $1', pol.db_table, soft_deleted, pol.deleted_at_column)
        INTO n_eligible USING cutoff;
      UPDATE retention_run_item SET eligible = n_eligible WHERE id = item_id;
      -- Guard rail: an unattended run deletes none of a model with more eligible rows than its
      -- limit (a policy typo, say 7 days for 2555); a person confirms with force.
      IF NOT dry_run AND NOT force AND pol.max_deletions_per_run IS NOT NULL
         AND n_eligible > pol.max_deletions_per_run THEN
        item_status := 'needs_confirmation';
        item_error := format('%s eligible rows exceed max_deletions_per_run (%s): nothing deleted; confirm with '
                             '`manage.py cleanup_soft_deleted --model %s --execute --force`',
                             n_eligible, pol.max_deletions_per_run, pol.model_path);
        IF coalesce(notify, true) THEN
          INSERT INTO retention_alert (run_id, kind, message, created_at)
          VALUES (run_id, 'needs_confirmation',
                  format('Retention run %s (%s): %s %s', run_id, triggered_by, pol.model_path, item_error),
                  clock_timestamp());
        END IF;
      END IF;
    EXCEPTION WHEN OTHERS THEN
      item_status := 'failed';
      item_error := SQLERRM;
    END;
    COMMIT;

    WHILE item_status = 'succeeded' LOOP
      IF clock_timestamp() >= deadline THEN
        timed_out := true;
        item_status := 'timed_out';
        EXIT;
      END IF;
      batch_started := clock_timestamp();
      ids := NULL;
      blocked_here := NULL;
      res := NULL;
      n_skipped := 0;
      BEGIN
        PERFORM set_config('lock_timeout', coalesce(cfg_lock_ms, 2000) || 'ms', true);
        -- The purge functions record the keys they delete under this item (this transaction only).
        PERFORM set_config('retention.item_id', item_id::text, true);
        SET CONSTRAINTS ALL IMMEDIATE;
        EXECUTE format('SELECT ids, blocked, last_at, last_pk FROM %s($1, $2, $3, $4)', format('%I.%I', 'retention', pol.select_function)::regproc)
          INTO ids, blocked_here, after_at, after_pk
          USING cutoff, after_at, after_pk, effective_batch;
        IF ids IS NULL AND blocked_here IS NULL THEN
          EXIT;  -- nothing left
        END IF;
        res := retention.purge_batch(format('%I.%I', 'retention', pol.purge_function)::regproc, ids, dry_run);
      EXCEPTION
        WHEN lock_not_available THEN
          -- Someone holds locks this batch needs: leave it for the next run.
          n_skipped := coalesce(cardinality(ids), 0);
          res := NULL;
        WHEN OTHERS THEN
          item_status := 'failed';
          item_error := SQLERRM;
          res := NULL;
      END;
      IF item_status <> 'succeeded' THEN
        EXIT;
      END IF;
      reasons := '{}';
      IF blocked_here IS NOT NULL THEN
        SELECT coalesce(jsonb_object_agg(r, c), '{}') INTO reasons
          FROM (SELECT r, count(*) AS c FROM unnest(blocked_here) r GROUP BY r) s;
      END IF;
      n_blocked := coalesce(cardinality(blocked_here), 0) + coalesce((res->>'blocked')::bigint, 0);
      n_purged := coalesce((res->>'purged')::bigint, 0);
      deleted_rows := coalesce(res->'deleted', '{}');
      updated_rows := coalesce(res->'updated', '{}');
      n_batches := n_batches + 1;
      batch_ms := ceil(extract(epoch FROM clock_timestamp() - batch_started) * 1000)::integer;
      UPDATE retention_run_item i
         SET deleted = i.deleted + n_purged,
             blocked = i.blocked + n_blocked,
             skipped_locked = i.skipped_locked + n_skipped,
             cascaded = retention.add_counts(i.cascaded, deleted_rows),
             updated = retention.add_counts(i.updated, updated_rows),
             blocked_reasons = retention.add_counts(retention.add_counts(i.blocked_reasons, reasons),
                                                    coalesce(res->'blocked_reasons', '{}')),
             batches = n_batches,
             batch_sizes = i.batch_sizes || to_jsonb(effective_batch),
             batch_durations_ms = i.batch_durations_ms || to_jsonb(batch_ms)
       WHERE i.id = item_id;
      IF adaptive THEN
        -- Aim the next batch at target_batch_ms: scale by the last timing, at most doubling or
        -- halving per step, within [min_batch_size, max_batch_size].
        effective_batch := least(cfg_max_batch, greatest(cfg_min_batch,
          least(effective_batch * 2, greatest(effective_batch / 2,
            (effective_batch::numeric * cfg_target_ms / greatest(batch_ms, 1))::integer))));
      END IF;
      IF NOT dry_run THEN
        total_deleted := total_deleted + (SELECT coalesce(sum(value::bigint), 0) FROM jsonb_each_text(deleted_rows));
        UPDATE retention_run SET rows_deleted = total_deleted WHERE id = run_id;
      END IF;
      COMMIT;
    END LOOP;

    UPDATE retention_run_item
       SET status = item_status, error = item_error, finished_at = clock_timestamp(),
           duration = clock_timestamp() - item_started, digests = retention.item_digests(item_id)
     WHERE id = item_id;
    DELETE FROM retention_deleted_keys k WHERE k.run_item_id = item_id;
    IF item_status = 'failed' THEN
      run_status := 'failed';
      run_error := concat_ws('; ', nullif(run_error, ''), pol.model_path || ': ' || item_error);
      RAISE LOG 'django-pg-retention: run % model % failed: %', run_id, pol.model_path, item_error;
    END IF;
    COMMIT;
  END LOOP;

  IF timed_out AND run_status = 'succeeded' THEN
    run_status := 'timed_out';
    run_error := format('max_execution_time (%s s) spent; the rest is left for the next run', coalesce(cfg_max_time, 3600));
  END IF;
  UPDATE retention_run SET status = run_status, error = run_error, finished_at = clock_timestamp(),
         rows_deleted = total_deleted
   WHERE id = run_id;
  PERFORM retention.seal_run(run_id);
  RAISE LOG 'django-pg-retention: run % finished: % (% rows deleted)', run_id, run_status, total_deleted;
  COMMIT;
  PERFORM pg_advisory_unlock(lock_key);
END
$$;
COMMENT ON PROCEDURE retention.run_cleanup(boolean, text, integer, integer, text, boolean) IS
  'Purges soft-deleted rows past their retention period in committed batches and records the run in retention_run';

REVOKE ALL ON PROCEDURE retention.run_cleanup(boolean, text, integer, integer, text, boolean) FROM PUBLIC;

-- As in 0.4, with each policy's own soft-delete columns.
CREATE OR REPLACE FUNCTION retention.report()
RETURNS TABLE(model_path text, db_table text, retention_days integer, policy_source text,
              soft_deleted bigint, eligible bigint, oldest_deleted_at timestamptz,
              next_eligible_at timestamptz, last_run_id bigint, last_run_at timestamptz,
              last_run_status text, last_deleted bigint, last_blocked bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  pol retention_policy;
  cutoff timestamptz;
BEGIN
  FOR pol IN SELECT * FROM retention_policy p WHERE p.is_active ORDER BY p.position, p.model_path LOOP
    cutoff := now() - make_interval(days => pol.retention_days);
    model_path := pol.model_path;
    db_table := pol.db_table;
    retention_days := pol.retention_days;
    policy_source := pol.policy_source;
    EXECUTE format(
      'SELECT count(*), count(*) FILTER (WHERE %1$I < $1), min(%1$I), min(%1$I) FILTER (WHERE %1$I >= $1)'
      '  FROM %2$I WHERE %3$s', pol.deleted_at_column, pol.db_table,
      retention.soft_deleted_condition(pol.deleted_at_column, pol.flag_column))
      INTO soft_deleted, eligible, oldest_deleted_at, next_eligible_at USING cutoff;
    next_eligible_at := next_eligible_at + make_interval(days => pol.retention_days);
    SELECT r.id, coalesce(r.finished_at, r.started_at), i.status, i.deleted, i.blocked
      INTO last_run_id, last_run_at, last_run_status, last_deleted, last_blocked
      FROM retention_run_item i JOIN retention_run r ON r.id = i.run_id
     WHERE i.model_path = pol.model_path AND NOT r.dry_run
     ORDER BY r.id DESC LIMIT 1;
    IF NOT FOUND THEN
      last_run_id := NULL; last_run_at := NULL; last_run_status := NULL; last_deleted := NULL; last_blocked := NULL;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$$;

-- As in 0.5, but requested_by reaches the run through a setting instead of a later UPDATE.
CREATE OR REPLACE PROCEDURE retention.drain_requests()
LANGUAGE plpgsql AS $$
DECLARE
  lock_key constant bigint := hashtext('django_pg_retention.drain_requests');
  req retention_request;
  run bigint;
BEGIN
  IF NOT pg_try_advisory_lock(lock_key) THEN
    RETURN;  -- another drain is at work
  END IF;
  -- A request left running was cut off (backend terminated, server restarted).
  UPDATE retention_request SET status = 'failed', finished_at = clock_timestamp(),
         error = 'the drain ended without finishing (backend terminated or server restarted)'
   WHERE status = 'running';
  COMMIT;
  LOOP
    SELECT * INTO req FROM retention_request WHERE status = 'pending' ORDER BY id LIMIT 1;
    EXIT WHEN NOT FOUND;
    UPDATE retention_request SET status = 'running', started_at = clock_timestamp() WHERE id = req.id;
    COMMIT;
    PERFORM set_config('retention.requested_by', req.requested_by, false);
    CALL retention.run_cleanup(dry_run => false, model => nullif(req.model_path, ''), days => req.days,
                               triggered_by => 'admin');
    PERFORM set_config('retention.requested_by', '', false);
    SELECT id INTO run FROM retention_run WHERE backend_pid = pg_backend_pid() ORDER BY id DESC LIMIT 1;
    UPDATE retention_request
       SET status = CASE WHEN (SELECT status FROM retention_run WHERE id = run) IN ('failed', 'skipped')
                         THEN 'failed' ELSE 'done' END,
           run_id = run, finished_at = clock_timestamp(),
           error = coalesce((SELECT error FROM retention_run WHERE id = run), '')
     WHERE id = req.id;
    COMMIT;
  END LOOP;
  PERFORM pg_advisory_unlock(lock_key);
END
$$;

-- As in 0.2, lifting the append-only triggers (pgtrigger.ignore) for this transaction only, and
-- taking the alerts of pruned runs with them.
CREATE OR REPLACE FUNCTION retention.prune_audit(older_than_days integer) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  prune_before constant timestamptz := now() - make_interval(days => older_than_days);
  pruned bigint;
BEGIN
  IF older_than_days IS NULL OR older_than_days < 1 THEN
    RAISE EXCEPTION 'retention.prune_audit: older_than_days must be at least 1, not %', older_than_days;
  END IF;
  PERFORM set_config('pgtrigger.ignore',
                     coalesce((SELECT '{' || string_agg(t.tgname, ',') || '}' FROM pg_trigger t
                                WHERE t.tgrelid IN ('retention_run'::regclass, 'retention_run_item'::regclass)
                                  AND t.tgname LIKE 'pgtrigger\_append\_only\_%'), '{}'),
                     true);
  DELETE FROM retention_alert a USING retention_run r
   WHERE a.run_id = r.id AND r.status <> 'running' AND coalesce(r.finished_at, r.started_at) < prune_before;
  UPDATE retention_request q SET run_id = NULL FROM retention_run r
   WHERE q.run_id = r.id AND r.status <> 'running' AND coalesce(r.finished_at, r.started_at) < prune_before;
  DELETE FROM retention_run_item i USING retention_run r
   WHERE i.run_id = r.id AND r.status <> 'running' AND coalesce(r.finished_at, r.started_at) < prune_before;
  DELETE FROM retention_run r
   WHERE r.status <> 'running' AND coalesce(r.finished_at, r.started_at) < prune_before;
  GET DIAGNOSTICS pruned = ROW_COUNT;
  PERFORM set_config('pgtrigger.ignore', '{}', true);
  RAISE LOG 'django-pg-retention: pruned % audit runs older than % days', pruned, older_than_days;
  RETURN pruned;
END
$$;

REVOKE ALL ON FUNCTION retention.soft_deleted_condition(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION retention.item_digests(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION retention.netstring(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION retention.epoch_us(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION retention.item_record(retention_run_item) FROM PUBLIC;
REVOKE ALL ON FUNCTION retention.run_record(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION retention.seal_run(bigint) FROM PUBLIC;

-- Runs finished before 0.7 join the chain as they are (their items carry no digests).
DO $$
DECLARE
  old_run bigint;
BEGIN
  FOR old_run IN SELECT id FROM retention_run WHERE status <> 'running' AND chain_position IS NULL ORDER BY id LOOP
    PERFORM retention.seal_run(old_run);
  END LOOP;
END
$$;
