CREATE OR REPLACE FUNCTION "retention"."purge__rules__shelf"(roots text[], dry_run boolean) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = "pg_catalog", "public", "pg_temp" AS $purge$
DECLARE
  "d0" bigint[] := roots::bigint[];  -- keys of rules_shelf
  "d1" bigint[] := '{}';  -- keys of rules_slot
  "r1" text[];  -- keys of rules_slot its DELETE returned
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
    "d1" := ARRAY(SELECT t."id" FROM "rules_slot" t WHERE "t"."shelf_id" = ANY("d0") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_slot' AND g.pk = "t"."id"::text));
  ELSE
    NULL;
  END IF;
  IF EXISTS (SELECT 1 FROM retention.active_holds(ARRAY['rules.Shelf', 'rules.Slot']::text[])) THEN
    IF NOT dry_run THEN  -- leaves the closure left out
      "d1" := ARRAY(SELECT t."id" FROM "rules_slot" t WHERE "t"."shelf_id" = ANY("d0"));
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Shelf']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d0") > 0) OR h.object_pk = ANY("d0"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Slot']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d1") > 0) OR h.object_pk = ANY("d1"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
  END IF;
  IF dry_run THEN
    SELECT CASE WHEN ("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) THEN 'RETAINED rules.Slot (live)' ELSE coalesce('RETAINED rules.Slot (' || p.days || ' days)', 'RETAINED rules.Slot (no active policy)') END INTO retained_reason FROM "rules_slot" t, (SELECT (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active) AS days) p
   WHERE t."id" = ANY("d1") AND NOT coalesce(("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) IS FALSE AND "t"."deleted_at" < now() - make_interval(days => p.days), false)
   ORDER BY ("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) DESC LIMIT 1;
  IF retained_reason IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = retained_reason;
  END IF;
  ELSE
    NULL;
  END IF;
  IF dry_run THEN
    WITH
  -- x0: the deleted rows of rules_shelf
  "x0" AS (DELETE FROM "rules_shelf" t WHERE t."id" = ANY("d0") RETURNING t."id" AS k),
  -- x1: the deleted rows of rules_slot
  "x1" AS (DELETE FROM "rules_slot" t WHERE t."id" = ANY("d1") RETURNING t."id" AS k),
  keys(node, db_table, key_order, keys) AS (VALUES (0, 'rules_shelf', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x0")::text[], '{}')), (1, 'rules_slot', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x1")::text[], '{}'))),
  proof AS (INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, ascending, keys)
    SELECT item, v.db_table, v.key_order, v.key_order = 'numeric', v.keys FROM keys v
     WHERE item IS NOT NULL AND NOT dry_run AND cardinality(v.keys) > 0)
  SELECT jsonb_object_agg(v.db_table, cardinality(v.keys)) FILTER (WHERE cardinality(v.keys) > 0),
         jsonb_object_agg(v.db_table, to_jsonb(v.keys)) FILTER (WHERE cardinality(v.keys) > 0)
    INTO deleted, deleted_keys FROM keys v;
  ELSE
    WITH
  -- x0: the deleted rows of rules_shelf
  "x0" AS (DELETE FROM "rules_shelf" t WHERE t."id" = ANY("d0") RETURNING t."id" AS k),
  -- x1: the deleted rows of rules_slot
  "x1" AS (DELETE FROM "rules_slot" t WHERE "t"."shelf_id" = ANY("d0") RETURNING t."id" AS k, CASE WHEN NOT coalesce(("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) IS FALSE AND "t"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active)), false) THEN CASE WHEN ("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) THEN 'RETAINED rules.Slot (live)' ELSE coalesce('RETAINED rules.Slot (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active) || ' days)', 'RETAINED rules.Slot (no active policy)') END END AS retained, ("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) AS live),
  keys(node, db_table, key_order, keys) AS (VALUES (0, 'rules_shelf', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x0")::text[], '{}')), (1, 'rules_slot', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x1")::text[], '{}'))),
  proof AS (INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, ascending, keys)
    SELECT item, v.db_table, v.key_order, v.key_order = 'numeric', v.keys FROM keys v
     WHERE item IS NOT NULL AND NOT dry_run AND cardinality(v.keys) > 0)
  SELECT jsonb_object_agg(v.db_table, cardinality(v.keys)) FILTER (WHERE cardinality(v.keys) > 0),
         (SELECT w.keys FROM keys w WHERE w.node = 1),
         coalesce((SELECT x.retained FROM "x1" x WHERE x.retained IS NOT NULL ORDER BY x.live DESC LIMIT 1))
    INTO deleted, "r1", retained_reason FROM keys v;
    IF retained_reason IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = retained_reason;
  END IF;
  END IF;
  -- Holds committed while a DELETE waited for a leaf's lock.
  IF EXISTS (SELECT 1 FROM retention.active_holds(ARRAY['rules.Slot']::text[])) THEN
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Slot']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("r1") > 0) OR h.object_pk = ANY("r1"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
  END IF;
  RETURN jsonb_strip_nulls(jsonb_build_object('deleted', coalesce(deleted, '{}'), 'updated', updated, 'keys', deleted_keys));
END
$purge$;

CREATE OR REPLACE FUNCTION "retention"."select__rules__shelf"(
  cutoff timestamptz, after_at timestamptz, after_pk text, lim integer, dry_run boolean,
  by_pk boolean DEFAULT false)
RETURNS TABLE(ids text[], blocked text[], last_at timestamptz, last_pk text)
LANGUAGE plpgsql VOLATILE SET search_path = "pg_catalog", "public", "pg_temp" AS $select$
DECLARE
  held jsonb;  -- {pk or '': reason} of this model's active legal holds, NULL without any
BEGIN
  SELECT jsonb_object_agg(h.object_pk, h.reason) INTO held
    FROM (SELECT DISTINCT ON (object_pk) object_pk, reason FROM retention.active_holds(ARRAY['rules.Shelf']::text[]) ORDER BY object_pk, id) h;
  -- Two forms of each order, so that the planner gets the bound as an index condition, never as a
  -- filter. Keyset order (deleted_at, pk) on the purge index; for a backlog (most of the table
  -- eligible, see retention.batches_in_pk_order) primary-key order, so a batch's rows are neighbours.
  IF by_pk AND after_pk IS NULL THEN
    IF dry_run THEN
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."deleted_at" AS deleted_at
    FROM "rules_shelf" t
    WHERE t."is_deleted" AND t."deleted_at" < cutoff AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_shelf' AND g.pk = "t"."id"::text)
    ORDER BY t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."shelf_id") r."shelf_id" AS pk, CASE WHEN ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) THEN 'RETAINED rules.Slot (live)' ELSE coalesce('RETAINED rules.Slot (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active) || ' days)', 'RETAINED rules.Slot (no active policy)') END AS reason FROM "rules_slot" r
     WHERE r."shelf_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND NOT coalesce(("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) IS FALSE AND "r"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active)), false) AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_slot' AND g.pk = "r"."id"::text)
     ORDER BY r."shelf_id", ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) DESC),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    ELSE
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."deleted_at" AS deleted_at
    FROM "rules_shelf" t
    WHERE t."is_deleted" AND t."deleted_at" < cutoff
    ORDER BY t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."shelf_id") r."shelf_id" AS pk, CASE WHEN ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) THEN 'RETAINED rules.Slot (live)' ELSE coalesce('RETAINED rules.Slot (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active) || ' days)', 'RETAINED rules.Slot (no active policy)') END AS reason FROM "rules_slot" r
     WHERE r."shelf_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND NOT coalesce(("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) IS FALSE AND "r"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active)), false)
     ORDER BY r."shelf_id", ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) DESC),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    END IF;
  ELSIF by_pk THEN
    IF dry_run THEN
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."deleted_at" AS deleted_at
    FROM "rules_shelf" t
    WHERE t."is_deleted" AND t."deleted_at" < cutoff
      AND t."id" > after_pk::bigint AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_shelf' AND g.pk = "t"."id"::text)
    ORDER BY t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."shelf_id") r."shelf_id" AS pk, CASE WHEN ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) THEN 'RETAINED rules.Slot (live)' ELSE coalesce('RETAINED rules.Slot (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active) || ' days)', 'RETAINED rules.Slot (no active policy)') END AS reason FROM "rules_slot" r
     WHERE r."shelf_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND NOT coalesce(("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) IS FALSE AND "r"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active)), false) AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_slot' AND g.pk = "r"."id"::text)
     ORDER BY r."shelf_id", ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) DESC),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    ELSE
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."deleted_at" AS deleted_at
    FROM "rules_shelf" t
    WHERE t."is_deleted" AND t."deleted_at" < cutoff
      AND t."id" > after_pk::bigint
    ORDER BY t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."shelf_id") r."shelf_id" AS pk, CASE WHEN ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) THEN 'RETAINED rules.Slot (live)' ELSE coalesce('RETAINED rules.Slot (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active) || ' days)', 'RETAINED rules.Slot (no active policy)') END AS reason FROM "rules_slot" r
     WHERE r."shelf_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND NOT coalesce(("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) IS FALSE AND "r"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active)), false)
     ORDER BY r."shelf_id", ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) DESC),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    END IF;
  ELSIF after_at IS NULL THEN
    IF dry_run THEN
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."deleted_at" AS deleted_at
    FROM "rules_shelf" t
    WHERE t."is_deleted" AND t."deleted_at" < cutoff AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_shelf' AND g.pk = "t"."id"::text)
    ORDER BY t."deleted_at", t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY deleted_at DESC, pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."shelf_id") r."shelf_id" AS pk, CASE WHEN ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) THEN 'RETAINED rules.Slot (live)' ELSE coalesce('RETAINED rules.Slot (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active) || ' days)', 'RETAINED rules.Slot (no active policy)') END AS reason FROM "rules_slot" r
     WHERE r."shelf_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND NOT coalesce(("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) IS FALSE AND "r"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active)), false) AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_slot' AND g.pk = "r"."id"::text)
     ORDER BY r."shelf_id", ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) DESC),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    ELSE
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."deleted_at" AS deleted_at
    FROM "rules_shelf" t
    WHERE t."is_deleted" AND t."deleted_at" < cutoff
    ORDER BY t."deleted_at", t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY deleted_at DESC, pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."shelf_id") r."shelf_id" AS pk, CASE WHEN ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) THEN 'RETAINED rules.Slot (live)' ELSE coalesce('RETAINED rules.Slot (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active) || ' days)', 'RETAINED rules.Slot (no active policy)') END AS reason FROM "rules_slot" r
     WHERE r."shelf_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND NOT coalesce(("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) IS FALSE AND "r"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active)), false)
     ORDER BY r."shelf_id", ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) DESC),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    END IF;
  ELSE
    IF dry_run THEN
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."deleted_at" AS deleted_at
    FROM "rules_shelf" t
    WHERE t."is_deleted" AND t."deleted_at" < cutoff
      AND (t."deleted_at", t."id") > (after_at, after_pk::bigint) AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_shelf' AND g.pk = "t"."id"::text)
    ORDER BY t."deleted_at", t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY deleted_at DESC, pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."shelf_id") r."shelf_id" AS pk, CASE WHEN ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) THEN 'RETAINED rules.Slot (live)' ELSE coalesce('RETAINED rules.Slot (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active) || ' days)', 'RETAINED rules.Slot (no active policy)') END AS reason FROM "rules_slot" r
     WHERE r."shelf_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND NOT coalesce(("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) IS FALSE AND "r"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active)), false) AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_slot' AND g.pk = "r"."id"::text)
     ORDER BY r."shelf_id", ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) DESC),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    ELSE
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."deleted_at" AS deleted_at
    FROM "rules_shelf" t
    WHERE t."is_deleted" AND t."deleted_at" < cutoff
      AND (t."deleted_at", t."id") > (after_at, after_pk::bigint)
    ORDER BY t."deleted_at", t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY deleted_at DESC, pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."shelf_id") r."shelf_id" AS pk, CASE WHEN ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) THEN 'RETAINED rules.Slot (live)' ELSE coalesce('RETAINED rules.Slot (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active) || ' days)', 'RETAINED rules.Slot (no active policy)') END AS reason FROM "rules_slot" r
     WHERE r."shelf_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND NOT coalesce(("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) IS FALSE AND "r"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Slot' AND p.is_active)), false)
     ORDER BY r."shelf_id", ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) DESC),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    END IF;
  END IF;
END
$select$;