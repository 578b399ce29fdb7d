CREATE OR REPLACE FUNCTION "retention"."purge__rules__archive"(roots text[], dry_run boolean) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = "pg_catalog", "public", "pg_temp" AS $purge$
DECLARE
  "d0" bigint[] := roots::bigint[];  -- keys of rules_archive
  "d1" bigint[] := '{}';  -- keys of rules_archivepage
  "r1" text[];  -- keys of rules_archivepage its DELETE returned
  n bigint;
  size_before bigint;
  hold_reason text;
  retained_reason text;
  item bigint := nullif(current_setting('retention.item_id', true), '')::bigint;
  deleted jsonb;
  deleted_keys jsonb;
  updated jsonb := '{}';
BEGIN
  IF dry_run THEN
    "d1" := ARRAY(SELECT t."id" FROM "rules_archivepage" t WHERE "t"."archive_id" = ANY("d0") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_archivepage' AND g.pk = "t"."id"::text));
  ELSE
    NULL;
  END IF;
  IF EXISTS (SELECT 1 FROM retention.active_holds(ARRAY['rules.Archive', 'rules.ArchivePage']::text[])) THEN
    IF NOT dry_run THEN  -- leaves the closure left out
      "d1" := ARRAY(SELECT t."id" FROM "rules_archivepage" t WHERE "t"."archive_id" = ANY("d0"));
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Archive']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d0") > 0) OR h.object_pk = ANY("d0"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.ArchivePage']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d1") > 0) OR h.object_pk = ANY("d1"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
  END IF;
  IF dry_run THEN
    IF EXISTS (SELECT 1 FROM "rules_archivelock" r WHERE "r"."archive_id" = ANY("d0") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_archivelock' AND g.pk = "r"."id"::text)) THEN
    RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = 'PROTECT rules.ArchiveLock.archive';
  END IF;
  ELSE
    IF EXISTS (SELECT 1 FROM "rules_archivelock" r WHERE "r"."archive_id" = ANY("d0")) THEN
    RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = 'PROTECT rules.ArchiveLock.archive';
  END IF;
  END IF;
  IF dry_run THEN
    UPDATE "rules_memo" r SET "archive_id" = NULL WHERE "r"."archive_id" = ANY("d0") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_memo' AND g.pk = "r"."id"::text);
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n > 0 THEN updated := updated || jsonb_build_object('rules_memo.archive_id', n); END IF;
  ELSE
    UPDATE "rules_memo" r SET "archive_id" = NULL WHERE "r"."archive_id" = ANY("d0");
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n > 0 THEN updated := updated || jsonb_build_object('rules_memo.archive_id', n); END IF;
  END IF;
  IF dry_run THEN
    WITH
  -- x0: the deleted rows of rules_archive
  "x0" AS (DELETE FROM "rules_archive" t WHERE t."id" = ANY("d0") RETURNING t."id" AS k),
  -- x1: the deleted rows of rules_archivepage
  "x1" AS (DELETE FROM "rules_archivepage" t WHERE t."id" = ANY("d1") RETURNING t."id" AS k),
  keys(node, db_table, key_order, keys) AS (VALUES (0, 'rules_archive', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x0")::text[], '{}')), (1, 'rules_archivepage', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x1")::text[], '{}'))),
  proof AS (INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, ascending, keys)
    SELECT item, v.db_table, v.key_order, v.key_order = 'numeric', v.keys FROM keys v
     WHERE item IS NOT NULL AND NOT dry_run AND cardinality(v.keys) > 0)
  SELECT jsonb_object_agg(v.db_table, cardinality(v.keys)) FILTER (WHERE cardinality(v.keys) > 0),
         jsonb_object_agg(v.db_table, to_jsonb(v.keys)) FILTER (WHERE cardinality(v.keys) > 0)
    INTO deleted, deleted_keys FROM keys v;
  ELSE
    WITH
  -- x0: the deleted rows of rules_archive
  "x0" AS (DELETE FROM "rules_archive" t WHERE t."id" = ANY("d0") RETURNING t."id" AS k),
  -- x1: the deleted rows of rules_archivepage
  "x1" AS (DELETE FROM "rules_archivepage" t WHERE "t"."archive_id" = ANY("d0") RETURNING t."id" AS k),
  keys(node, db_table, key_order, keys) AS (VALUES (0, 'rules_archive', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x0")::text[], '{}')), (1, 'rules_archivepage', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x1")::text[], '{}'))),
  proof AS (INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, ascending, keys)
    SELECT item, v.db_table, v.key_order, v.key_order = 'numeric', v.keys FROM keys v
     WHERE item IS NOT NULL AND NOT dry_run AND cardinality(v.keys) > 0)
  SELECT jsonb_object_agg(v.db_table, cardinality(v.keys)) FILTER (WHERE cardinality(v.keys) > 0),
         (SELECT w.keys FROM keys w WHERE w.node = 1)
    INTO deleted, "r1" FROM keys v;
  END IF;
  -- Holds committed while a DELETE waited for a leaf's lock.
  IF EXISTS (SELECT 1 FROM retention.active_holds(ARRAY['rules.ArchivePage']::text[])) THEN
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.ArchivePage']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("r1") > 0) OR h.object_pk = ANY("r1"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
  END IF;
  RETURN jsonb_strip_nulls(jsonb_build_object('deleted', coalesce(deleted, '{}'), 'updated', updated, 'keys', deleted_keys));
END
$purge$;

CREATE OR REPLACE FUNCTION "retention"."select__rules__archive"(
  cutoff timestamptz, after_at timestamptz, after_pk text, lim integer, dry_run boolean,
  by_pk boolean DEFAULT false)
RETURNS TABLE(ids text[], blocked text[], last_at timestamptz, last_pk text)
LANGUAGE plpgsql VOLATILE SET search_path = "pg_catalog", "public", "pg_temp" AS $select$
DECLARE
  held jsonb;  -- {pk or '': reason} of this model's active legal holds, NULL without any
BEGIN
  SELECT jsonb_object_agg(h.object_pk, h.reason) INTO held
    FROM (SELECT DISTINCT ON (object_pk) object_pk, reason FROM retention.active_holds(ARRAY['rules.Archive']::text[]) ORDER BY object_pk, id) h;
  -- Two forms of each order, so that the planner gets the bound as an index condition, never as a
  -- filter. Keyset order (deleted_at, pk) on the purge index; for a backlog (most of the table
  -- eligible, see retention.batches_in_pk_order) primary-key order, so a batch's rows are neighbours.
  IF by_pk AND after_pk IS NULL THEN
    IF dry_run THEN
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."Deleted On" AS deleted_at
    FROM "rules_archive" t
    WHERE t."Deleted On" < cutoff AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_archive' AND g.pk = "t"."id"::text)
    ORDER BY t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."archive_id") r."archive_id" AS pk, 'PROTECT rules.ArchiveLock.archive' AS reason FROM "rules_archivelock" r
     WHERE r."archive_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND true AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_archivelock' AND g.pk = "r"."id"::text)
     ORDER BY r."archive_id"),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    ELSE
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."Deleted On" AS deleted_at
    FROM "rules_archive" t
    WHERE t."Deleted On" < cutoff
    ORDER BY t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."archive_id") r."archive_id" AS pk, 'PROTECT rules.ArchiveLock.archive' AS reason FROM "rules_archivelock" r
     WHERE r."archive_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND true
     ORDER BY r."archive_id"),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    END IF;
  ELSIF by_pk THEN
    IF dry_run THEN
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."Deleted On" AS deleted_at
    FROM "rules_archive" t
    WHERE t."Deleted On" < cutoff
      AND t."id" > after_pk::bigint AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_archive' AND g.pk = "t"."id"::text)
    ORDER BY t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."archive_id") r."archive_id" AS pk, 'PROTECT rules.ArchiveLock.archive' AS reason FROM "rules_archivelock" r
     WHERE r."archive_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND true AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_archivelock' AND g.pk = "r"."id"::text)
     ORDER BY r."archive_id"),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    ELSE
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."Deleted On" AS deleted_at
    FROM "rules_archive" t
    WHERE t."Deleted On" < cutoff
      AND t."id" > after_pk::bigint
    ORDER BY t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."archive_id") r."archive_id" AS pk, 'PROTECT rules.ArchiveLock.archive' AS reason FROM "rules_archivelock" r
     WHERE r."archive_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND true
     ORDER BY r."archive_id"),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    END IF;
  ELSIF after_at IS NULL THEN
    IF dry_run THEN
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."Deleted On" AS deleted_at
    FROM "rules_archive" t
    WHERE t."Deleted On" < cutoff AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_archive' AND g.pk = "t"."id"::text)
    ORDER BY t."Deleted On", t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY deleted_at DESC, pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."archive_id") r."archive_id" AS pk, 'PROTECT rules.ArchiveLock.archive' AS reason FROM "rules_archivelock" r
     WHERE r."archive_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND true AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_archivelock' AND g.pk = "r"."id"::text)
     ORDER BY r."archive_id"),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    ELSE
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."Deleted On" AS deleted_at
    FROM "rules_archive" t
    WHERE t."Deleted On" < cutoff
    ORDER BY t."Deleted On", t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY deleted_at DESC, pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."archive_id") r."archive_id" AS pk, 'PROTECT rules.ArchiveLock.archive' AS reason FROM "rules_archivelock" r
     WHERE r."archive_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND true
     ORDER BY r."archive_id"),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    END IF;
  ELSE
    IF dry_run THEN
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."Deleted On" AS deleted_at
    FROM "rules_archive" t
    WHERE t."Deleted On" < cutoff
      AND (t."Deleted On", t."id") > (after_at, after_pk::bigint) AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_archive' AND g.pk = "t"."id"::text)
    ORDER BY t."Deleted On", t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY deleted_at DESC, pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."archive_id") r."archive_id" AS pk, 'PROTECT rules.ArchiveLock.archive' AS reason FROM "rules_archivelock" r
     WHERE r."archive_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND true AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_archivelock' AND g.pk = "r"."id"::text)
     ORDER BY r."archive_id"),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    ELSE
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."Deleted On" AS deleted_at
    FROM "rules_archive" t
    WHERE t."Deleted On" < cutoff
      AND (t."Deleted On", t."id") > (after_at, after_pk::bigint)
    ORDER BY t."Deleted On", t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY deleted_at DESC, pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."archive_id") r."archive_id" AS pk, 'PROTECT rules.ArchiveLock.archive' AS reason FROM "rules_archivelock" r
     WHERE r."archive_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND true
     ORDER BY r."archive_id"),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    END IF;
  END IF;
END
$select$;