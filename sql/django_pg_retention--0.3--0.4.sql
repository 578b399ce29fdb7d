-- django-pg-retention 0.3 -> 0.4: the retention_report view.

-- One row per active policy, counted from the partial index on deleted_at WHERE is_deleted that
-- SoftDeleteMixin gives every model: soft-deleted rows, eligible now, the oldest deletion, when
-- the next row becomes eligible, and the last real run of the model.
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
      'SELECT count(*), count(*) FILTER (WHERE deleted_at < $1), min(deleted_at),'
      '       min(deleted_at) FILTER (WHERE deleted_at >= $1)'
      '  FROM %I WHERE is_deleted', pol.db_table)
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
COMMENT ON FUNCTION retention.report() IS 'Per policy: soft-deleted, eligible, oldest, next eligible, last run';
REVOKE ALL ON FUNCTION retention.report() FROM PUBLIC;

CREATE OR REPLACE VIEW retention_report AS SELECT * FROM retention.report();
COMMENT ON VIEW retention_report IS 'django-pg-retention: the live retention report, one row per policy';
