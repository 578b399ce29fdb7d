-- django-pg-retention 0.1 -> 0.2: housekeeping of the audit tables (the pg_cron "housekeeping" job).

-- Delete finished runs (and their items) older than the audit retention. Running runs are kept.
CREATE OR REPLACE FUNCTION retention.prune_audit(older_than_days integer) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  prune_before constant timestamptz := now() - make_interval(days => older_than_days);
  pruned bigint;
BEGIN
  IF older_than_days IS NULL OR older_than_days < 1 THEN
    RAISE EXCEPTION 'retention.prune_audit: older_than_days must be at least 1, not %', older_than_days;
  END IF;
  DELETE FROM retention_run_item i USING retention_run r
   WHERE i.run_id = r.id AND r.status <> 'running' AND coalesce(r.finished_at, r.started_at) < prune_before;
  DELETE FROM retention_run r
   WHERE r.status <> 'running' AND coalesce(r.finished_at, r.started_at) < prune_before;
  GET DIAGNOSTICS pruned = ROW_COUNT;
  RAISE LOG 'django-pg-retention: pruned % audit runs older than % days', pruned, older_than_days;
  RETURN pruned;
END
$$;
COMMENT ON FUNCTION retention.prune_audit(integer) IS
  'Deletes finished retention runs and their items older than the given number of days';
REVOKE ALL ON FUNCTION retention.prune_audit(integer) FROM PUBLIC;
