-- django-pg-retention 0.4 -> 0.5: daily figures, runs requested in the admin, alerts.

-- Rows deleted per model per day by real runs (roots, and roots with their cascades).
CREATE OR REPLACE VIEW retention_daily AS
SELECT to_char(d.day, 'YYYY-MM-DD') || '|' || d.model_path AS id, d.day, d.model_path,
       sum(d.roots)::bigint AS roots_deleted, sum(d.rows)::bigint AS rows_deleted
  FROM (SELECT (r.started_at AT TIME ZONE 'UTC')::date AS day, i.model_path, i.deleted AS roots,
               (SELECT coalesce(sum(value::bigint), 0) FROM jsonb_each_text(i.cascaded)) AS rows
          FROM retention_run_item i JOIN retention_run r ON r.id = i.run_id
         WHERE NOT r.dry_run) d
 GROUP BY d.day, d.model_path;
COMMENT ON VIEW retention_daily IS 'django-pg-retention: rows deleted per model per day (UTC) by real runs';

-- Runs asked for in the admin (retention_request), executed here, never in a web request.
-- Run by the pg_cron job "requests" as its only statement, so that run_cleanup can commit.
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
    CALL retention.run_cleanup(dry_run => false, model => nullif(req.model_path, ''), days => req.days,
                               triggered_by => 'admin');
    SELECT id INTO run FROM retention_run WHERE backend_pid = pg_backend_pid() ORDER BY id DESC LIMIT 1;
    UPDATE retention_run SET requested_by = req.requested_by WHERE id = run;
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
COMMENT ON PROCEDURE retention.drain_requests() IS 'Runs the real runs requested in the admin, oldest first';
REVOKE ALL ON PROCEDURE retention.drain_requests() FROM PUBLIC;

-- An alert for every run that ends failed, timed out or interrupted, or deletes more rows than
-- notification_threshold; manage.py retention_notify mails them (enable_notifications).
CREATE OR REPLACE FUNCTION retention.raise_alert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  enabled boolean;
  threshold integer;
  alert_kind text;
  alert_message text;
BEGIN
  SELECT c.enable_notifications, c.notification_threshold INTO enabled, threshold
    FROM retention_config c WHERE c.id = 1;
  IF NOT coalesce(enabled, true) THEN
    RETURN NULL;
  END IF;
  IF NEW.status IN ('failed', 'timed_out', 'interrupted') THEN
    alert_kind := NEW.status;
    alert_message := format('Retention run %s (%s) %s: %s', NEW.id, NEW.triggered_by, replace(NEW.status, '_', ' '), NEW.error);
  ELSIF NOT NEW.dry_run AND NEW.rows_deleted > coalesce(threshold, 10000) THEN
    alert_kind := 'large_deletion';
    alert_message := format('Retention run %s (%s) deleted %s rows, more than the notification threshold of %s',
                            NEW.id, NEW.triggered_by, NEW.rows_deleted, coalesce(threshold, 10000));
  ELSE
    RETURN NULL;
  END IF;
  INSERT INTO retention_alert (run_id, kind, message, created_at)
  VALUES (NEW.id, alert_kind, alert_message, clock_timestamp());
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION retention.raise_alert() IS 'Trigger: records an alert when a run ends badly or deletes a lot';
REVOKE ALL ON FUNCTION retention.raise_alert() FROM PUBLIC;

DROP TRIGGER IF EXISTS retention_run_alert ON retention_run;
CREATE TRIGGER retention_run_alert AFTER UPDATE OF status ON retention_run
  FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status IS DISTINCT FROM 'running')
  EXECUTE FUNCTION retention.raise_alert();
