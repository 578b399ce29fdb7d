-- django-pg-retention 0.5 -> 0.6: guard rails for unattended runs.
-- run_cleanup gains `force` (default false). Without it, a model with more eligible rows than its
-- retention_policy.max_deletions_per_run is not purged: its item ends `needs_confirmation` and an
-- alert is recorded. The old five-argument procedure is dropped: an overload would make named calls
-- ambiguous.

DROP PROCEDURE IF EXISTS retention.run_cleanup(boolean, text, integer, integer, text);

-- The entry point: what pg_cron calls, and what anyone can CALL from psql.
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
                               days_override, rows_deleted, error, backend_pid)
    VALUES (clock_timestamp(), clock_timestamp(), 'skipped', triggered_by, dry_run, coalesce(model, ''),
            days, 0, 'another run_cleanup holds the lock', pg_backend_pid());
    COMMIT;
    RETURN;
  END IF;

  -- A run still marked running was killed mid-way (its backend and lock are gone).
  UPDATE retention_run_item SET status = 'interrupted', finished_at = clock_timestamp()
   WHERE status = 'running';
  UPDATE retention_run SET status = 'interrupted', finished_at = clock_timestamp(),
         error = 'the run ended without finishing (backend terminated or server restarted)'
   WHERE status = 'running';

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
                             rows_deleted, error, backend_pid)
  VALUES (clock_timestamp(), 'running', triggered_by, dry_run, coalesce(model, ''), days, 0, '', pg_backend_pid())
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
                                    status, error)
    VALUES (run_id, pol.model_path, pol.db_table, coalesce(days, pol.retention_days),
            CASE WHEN days IS NULL THEN pol.policy_source ELSE 'override' END, cutoff,
            0, 0, 0, 0, '{}', '{}', '{}', 0, '[]', '[]', item_started, 'running', '')
    RETURNING id INTO item_id;
    COMMIT;

    item_status := 'succeeded';
    item_error := '';
    n_batches := 0;
    effective_batch := coalesce(batch_size, least(greatest(coalesce(cfg_batch_size, 1000), cfg_min_batch), cfg_max_batch));
    after_at := NULL;
    after_pk := NULL;
    BEGIN
      EXECUTE format('SELECT count(*) FROM %I WHERE is_deleted AND deleted_at < $1', pol.db_table)
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
           duration = clock_timestamp() - item_started
     WHERE id = item_id;
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
  RAISE LOG 'django-pg-retention: run % finished: % (% rows deleted)', run_id, run_status, total_deleted;
  COMMIT;
  PERFORM pg_advisory_unlock(lock_key);
END
$$;
COMMENT ON PROCEDURE retention.run_cleanup(boolean, text, integer, integer, text, boolean) IS
  'Purges soft-deleted rows past their retention period in committed batches and records the run in retention_run';

REVOKE ALL ON PROCEDURE retention.run_cleanup(boolean, text, integer, integer, text, boolean) FROM PUBLIC;
