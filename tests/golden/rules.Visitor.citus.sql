CREATE OR REPLACE FUNCTION "retention"."purge__rules__visitor"(roots text[], dry_run boolean) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = "pg_catalog", "public", "pg_temp" AS $purge$
DECLARE
  "d0" bigint[] := '{}';  -- keys of rules_visitor
  "days0" integer := coalesce(nullif(current_setting('retention.days', true), '')::integer, (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Visitor' AND p.is_active));
  "cut0" timestamptz := now() - make_interval(days => "days0");
  "d1" bigint[] := '{}';  -- keys of rules_visit
  "d2" bigint[] := '{}';  -- keys of rules_visitnote
  "days2" integer := (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.VisitNote' AND p.is_active);
  "cut2" timestamptz := now() - make_interval(days => "days2");
  "d3" bigint[] := '{}';  -- keys of rules_visitdetail
  hit text[];
  hold_reason text;
  retained_reason text;
  run bigint := nullif(current_setting('retention.run_id', true), '')::bigint;
  item bigint := nullif(current_setting('retention.item_id', true), '')::bigint;
  deleted jsonb := '{}';
  deleted_keys jsonb := CASE WHEN dry_run THEN '{}'::jsonb END;
  updated jsonb := '{}';
BEGIN
  hit := roots;
  IF dry_run THEN
    hit := ARRAY(SELECT k FROM unnest(hit) k WHERE NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = run AND g.db_table = 'rules_visitor' AND g.pk = k));
  END IF;
  -- The roots still eligible, re-checked under each shard's row lock.
  WITH retention_keys AS MATERIALIZED (SELECT unnest(hit::bigint[]) AS id),
    x AS (DELETE FROM "rules_visitor" t WHERE t."id" IN (SELECT rk.id FROM retention_keys rk) AND NOT (NOT coalesce(("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) IS FALSE AND "t"."deleted_at" < "cut0", false)) RETURNING t."id")
  SELECT coalesce(array_agg(x."id"), '{}') INTO "d0" FROM x;
  -- rules.Visit.visitor: CASCADE
  WITH retention_keys AS MATERIALIZED (SELECT unnest("d0") AS id),
    x AS (DELETE FROM "rules_visit" t WHERE t."visitor_id" IN (SELECT rk.id FROM retention_keys rk) RETURNING t."id")
  SELECT coalesce(array_agg(t."id"::text), '{}'), (array_agg(NULL::text ORDER BY false DESC) FILTER (WHERE NULL::text IS NOT NULL))[1]
    INTO hit, retained_reason FROM x t;
  IF dry_run THEN
    hit := ARRAY(SELECT k FROM unnest(hit) k WHERE NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = run AND g.db_table = 'rules_visit' AND g.pk = k));
  END IF;
  "d1" := "d1" || hit::bigint[];
  WITH retention_keys AS MATERIALIZED (SELECT unnest("d1") AS id)
  SELECT coalesce(array_agg(r."id"::text), '{}') INTO hit FROM "rules_visitlock" r WHERE r."visit_id" IN (SELECT rk.id FROM retention_keys rk);
  IF dry_run THEN
    hit := ARRAY(SELECT k FROM unnest(hit) k WHERE NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = run AND g.db_table = 'rules_visitlock' AND g.pk = k));
  END IF;
  IF cardinality(hit) > 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = 'PROTECT rules.VisitLock.visit';
  END IF;
  -- rules.VisitNote.visit: CASCADE
  WITH retention_keys AS MATERIALIZED (SELECT unnest("d1") AS id),
    x AS (DELETE FROM "rules_visitnote" t WHERE t."visit_id" IN (SELECT rk.id FROM retention_keys rk) RETURNING t."id", t."deleted_at", t."is_deleted")
  SELECT coalesce(array_agg(t."id"::text), '{}'), (array_agg(CASE WHEN NOT coalesce(("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) IS FALSE AND "t"."deleted_at" < "cut2", false) THEN CASE WHEN ("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) THEN 'RETAINED rules.VisitNote (live)' ELSE coalesce('RETAINED rules.VisitNote (' || "days2" || ' days)', 'RETAINED rules.VisitNote (no active policy)') END END ORDER BY ("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) DESC) FILTER (WHERE CASE WHEN NOT coalesce(("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) IS FALSE AND "t"."deleted_at" < "cut2", false) THEN CASE WHEN ("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) THEN 'RETAINED rules.VisitNote (live)' ELSE coalesce('RETAINED rules.VisitNote (' || "days2" || ' days)', 'RETAINED rules.VisitNote (no active policy)') END END IS NOT NULL))[1]
    INTO hit, retained_reason FROM x t;
  IF dry_run THEN
    hit := ARRAY(SELECT k FROM unnest(hit) k WHERE NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = run AND g.db_table = 'rules_visitnote' AND g.pk = k));
  END IF;
  "d2" := "d2" || hit::bigint[];
  IF retained_reason IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = retained_reason;
  END IF;
  -- rules.VisitDetail.visit: CASCADE
  WITH retention_keys AS MATERIALIZED (SELECT unnest("d1") AS id),
    x AS (DELETE FROM "rules_visitdetail" t WHERE t."visit_id" IN (SELECT rk.id FROM retention_keys rk) RETURNING t."id")
  SELECT coalesce(array_agg(t."id"::text), '{}'), (array_agg(NULL::text ORDER BY false DESC) FILTER (WHERE NULL::text IS NOT NULL))[1]
    INTO hit, retained_reason FROM x t;
  IF dry_run THEN
    hit := ARRAY(SELECT k FROM unnest(hit) k WHERE NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = run AND g.db_table = 'rules_visitdetail' AND g.pk = k));
  END IF;
  "d3" := "d3" || hit::bigint[];
  WITH retention_keys AS MATERIALIZED (SELECT unnest("d1") AS id),
    x AS (UPDATE "rules_visitmark" r SET "visit_id" = NULL WHERE r."visit_id" IN (SELECT rk.id FROM retention_keys rk) RETURNING r."id"::text AS updated_pk)
  SELECT coalesce(array_agg(x.updated_pk), '{}') INTO hit FROM x;
  IF dry_run THEN
    hit := ARRAY(SELECT k FROM unnest(hit) k WHERE NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = run AND g.db_table = 'rules_visitmark' AND g.pk = k));
  END IF;
  IF cardinality(hit) > 0 THEN updated := updated || jsonb_build_object('rules_visitmark.visit_id', cardinality(hit)); END IF;
  IF EXISTS (SELECT 1 FROM retention.active_holds(ARRAY['rules.Visit', 'rules.VisitDetail', 'rules.VisitNote', 'rules.Visitor']::text[])) THEN
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Visitor']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d0") > 0) OR h.object_pk = ANY("d0"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Visit']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d1") > 0) OR h.object_pk = ANY("d1"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.VisitNote']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d2") > 0) OR h.object_pk = ANY("d2"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.VisitDetail']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d3") > 0) OR h.object_pk = ANY("d3"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
  END IF;
  IF cardinality("d0") > 0 THEN
    deleted := deleted || jsonb_build_object('rules_visitor', cardinality("d0"));
    IF dry_run THEN
      deleted_keys := deleted_keys || jsonb_build_object('rules_visitor', to_jsonb("d0"::text[]));
    ELSIF item IS NOT NULL THEN
      INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, ascending, keys)
      VALUES (item, 'rules_visitor', 'numeric', true, ARRAY(SELECT k::text FROM unnest("d0") k ORDER BY k));
    END IF;
  END IF;
  IF cardinality("d1") > 0 THEN
    deleted := deleted || jsonb_build_object('rules_visit', cardinality("d1"));
    IF dry_run THEN
      deleted_keys := deleted_keys || jsonb_build_object('rules_visit', to_jsonb("d1"::text[]));
    ELSIF item IS NOT NULL THEN
      INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, ascending, keys)
      VALUES (item, 'rules_visit', 'numeric', true, ARRAY(SELECT k::text FROM unnest("d1") k ORDER BY k));
    END IF;
  END IF;
  IF cardinality("d2") > 0 THEN
    deleted := deleted || jsonb_build_object('rules_visitnote', cardinality("d2"));
    IF dry_run THEN
      deleted_keys := deleted_keys || jsonb_build_object('rules_visitnote', to_jsonb("d2"::text[]));
    ELSIF item IS NOT NULL THEN
      INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, ascending, keys)
      VALUES (item, 'rules_visitnote', 'numeric', true, ARRAY(SELECT k::text FROM unnest("d2") k ORDER BY k));
    END IF;
  END IF;
  IF cardinality("d3") > 0 THEN
    deleted := deleted || jsonb_build_object('rules_visitdetail', cardinality("d3"));
    IF dry_run THEN
      deleted_keys := deleted_keys || jsonb_build_object('rules_visitdetail', to_jsonb("d3"::text[]));
    ELSIF item IS NOT NULL THEN
      INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, ascending, keys)
      VALUES (item, 'rules_visitdetail', 'numeric', true, ARRAY(SELECT k::text FROM unnest("d3") k ORDER BY k));
    END IF;
  END IF;
  RETURN jsonb_strip_nulls(jsonb_build_object('deleted', deleted, 'updated', updated, 'keys', deleted_keys));
END
$purge$;

CREATE OR REPLACE FUNCTION "retention"."select__rules__visitor"(
  cutoff timestamptz, after_at timestamptz, after_pk text, lim integer, dry_run boolean,
  by_pk boolean DEFAULT false)
RETURNS TABLE(ids text[], blocked text[], last_at timestamptz, last_pk text)
LANGUAGE plpgsql VOLATILE SET search_path = "pg_catalog", "public", "pg_temp" AS $select$
DECLARE
  held jsonb;  -- {pk or '': reason} of this model's active legal holds, NULL without any
  run bigint := nullif(current_setting('retention.run_id', true), '')::bigint;
  cand text[];
  cand_at timestamptz[];
  hit text[];
  bound_at timestamptz;  -- the bound of the batch (_SAMPLE)
  bound_pk text;
BEGIN
  SELECT jsonb_object_agg(h.object_pk, h.reason) INTO held
    FROM (SELECT DISTINCT ON (object_pk) object_pk, reason FROM retention.active_holds(ARRAY['rules.Visitor']::text[]) ORDER BY object_pk, id) h;
  LOOP
    IF after_at IS NULL THEN
      SELECT t."deleted_at", t."id"::text INTO bound_at, bound_pk FROM "rules_visitor" t
       WHERE t."is_deleted" AND t."deleted_at" < cutoff AND hashtext(t."id"::text) & 31 = 0
       ORDER BY t."deleted_at", t."id" OFFSET greatest(lim / 32, 1) - 1 LIMIT 1;
      SELECT array_agg(c.pk::text ORDER BY c.deleted_at, c.pk), array_agg(c.deleted_at ORDER BY c.deleted_at, c.pk) INTO cand, cand_at
        FROM (SELECT t."id" AS pk, t."deleted_at" AS deleted_at FROM "rules_visitor" t
               WHERE t."is_deleted" AND t."deleted_at" < cutoff AND (bound_pk IS NULL OR (t."deleted_at", t."id") <= (bound_at, bound_pk::bigint)) ORDER BY t."deleted_at", t."id" LIMIT lim) c;
    ELSE
      SELECT t."deleted_at", t."id"::text INTO bound_at, bound_pk FROM "rules_visitor" t
       WHERE t."is_deleted" AND t."deleted_at" < cutoff AND (t."deleted_at", t."id") > (after_at, after_pk::bigint) AND hashtext(t."id"::text) & 31 = 0
       ORDER BY t."deleted_at", t."id" OFFSET greatest(lim / 32, 1) - 1 LIMIT 1;
      SELECT array_agg(c.pk::text ORDER BY c.deleted_at, c.pk), array_agg(c.deleted_at ORDER BY c.deleted_at, c.pk) INTO cand, cand_at
        FROM (SELECT t."id" AS pk, t."deleted_at" AS deleted_at FROM "rules_visitor" t
               WHERE t."is_deleted" AND t."deleted_at" < cutoff AND (t."deleted_at", t."id") > (after_at, after_pk::bigint) AND (bound_pk IS NULL OR (t."deleted_at", t."id") <= (bound_at, bound_pk::bigint)) ORDER BY t."deleted_at", t."id" LIMIT lim) c;
    END IF;
    IF cand IS NULL AND bound_pk IS NOT NULL THEN  -- the rows up to the bound went meanwhile
      after_at := bound_at;
      after_pk := bound_pk;
      CONTINUE;
    END IF;
    IF cand IS NULL THEN
      RETURN QUERY SELECT NULL::text[], NULL::text[], NULL::timestamptz, NULL::text;
      RETURN;
    END IF;
    after_at := cand_at[cardinality(cand_at)];
    after_pk := cand[cardinality(cand)];
    hit := cand;
  IF dry_run THEN
    hit := ARRAY(SELECT k FROM unnest(hit) k WHERE NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = run AND g.db_table = 'rules_visitor' AND g.pk = k));
  END IF;
    IF cardinality(hit) > 0 THEN
      RETURN QUERY SELECT array_agg(k) FILTER (WHERE coalesce(held->>k, held->>'') IS NULL),
                          array_agg(coalesce(held->>k, held->>''))
                            FILTER (WHERE coalesce(held->>k, held->>'') IS NOT NULL),
                          after_at, after_pk FROM unnest(hit) k;
      RETURN;
    END IF;
  END LOOP;
END
$select$;