CREATE OR REPLACE FUNCTION "retention"."purge__rules__author"(roots text[], dry_run boolean) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = "pg_catalog", "public", "pg_temp" AS $purge$
DECLARE
  "d0" bigint[] := roots::bigint[];  -- keys of rules_author
  "d1" bigint[] := '{}';  -- keys of rules_author_followers
  "d2" bigint[] := '{}';  -- keys of rules_book
  "d3" bigint[] := '{}';  -- keys of rules_song
  "d4" bigint[] := '{}';  -- keys of rules_fan
  "d5" bigint[] := '{}';  -- keys of rules_shipment
  "d6" bigint[] := '{}';  -- keys of rules_comment
  "d7" bigint[] := '{}';  -- keys of rules_book_tags
  "d8" bigint[] := '{}';  -- keys of rules_chapter
  "d9" bigint[] := '{}';  -- keys of rules_edition
  "d10" bigint[] := '{}';  -- keys of rules_parcel
  n bigint;
  size_before bigint;
  hold_reason text;
  retained_reason text;
  item bigint := nullif(current_setting('retention.item_id', true), '')::bigint;
  deleted jsonb;
  deleted_keys jsonb;
  updated jsonb := '{}';
BEGIN
  PERFORM set_config('pgtrigger.ignore', '{pgtrigger_protect_deletes_208ab}', true);
  IF dry_run THEN
    LOOP
      size_before := coalesce(cardinality("d0"), 0) + coalesce(cardinality("d1"), 0) + coalesce(cardinality("d2"), 0) + coalesce(cardinality("d3"), 0) + coalesce(cardinality("d4"), 0) + coalesce(cardinality("d5"), 0) + coalesce(cardinality("d6"), 0) + coalesce(cardinality("d7"), 0) + coalesce(cardinality("d8"), 0) + coalesce(cardinality("d9"), 0) + coalesce(cardinality("d10"), 0);
      "d0" := ARRAY(SELECT DISTINCT x FROM unnest("d0" || ARRAY(SELECT t."id" FROM "rules_author" t WHERE "t"."mentor_id" = ANY("d0") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_author' AND g.pk = "t"."id"::text))) x);
      "d5" := ARRAY(SELECT DISTINCT x FROM unnest("d5" || ARRAY(SELECT t."id" FROM "rules_shipment" t WHERE "t"."author_id" = ANY("d0") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_shipment' AND g.pk = "t"."id"::text))) x);
      "d10" := ARRAY(SELECT DISTINCT x FROM unnest("d10" || ARRAY(SELECT t."id" FROM "rules_parcel" t WHERE "t"."shipment_id" = ANY("d5") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_parcel' AND g.pk = "t"."id"::text))) x);
      "d4" := ARRAY(SELECT DISTINCT x FROM unnest("d4" || ARRAY(SELECT t."id" FROM "rules_fan" t WHERE "t"."favourite_id" = ANY("d0") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_fan' AND g.pk = "t"."id"::text))) x);
      "d3" := ARRAY(SELECT DISTINCT x FROM unnest("d3" || ARRAY(SELECT t."id" FROM "rules_song" t WHERE "t"."author_id" = ANY("d0") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_song' AND g.pk = "t"."id"::text))) x);
      "d2" := ARRAY(SELECT DISTINCT x FROM unnest("d2" || ARRAY(SELECT t."id" FROM "rules_book" t WHERE "t"."author_id" = ANY("d0") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_book' AND g.pk = "t"."id"::text))) x);
      "d6" := ARRAY(SELECT DISTINCT x FROM unnest("d6" || ARRAY(SELECT t."id" FROM "rules_comment" t WHERE "t"."content_type_id" = (SELECT id FROM django_content_type WHERE app_label = 'rules' AND model = 'author') AND "t"."object_id" = ANY("d0") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_comment' AND g.pk = "t"."id"::text))) x);
      "d6" := ARRAY(SELECT DISTINCT x FROM unnest("d6" || ARRAY(SELECT t."id" FROM "rules_comment" t WHERE "t"."content_type_id" = (SELECT id FROM django_content_type WHERE app_label = 'rules' AND model = 'book') AND "t"."object_id" = ANY("d2") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_comment' AND g.pk = "t"."id"::text))) x);
      "d9" := ARRAY(SELECT DISTINCT x FROM unnest("d9" || ARRAY(SELECT t."id" FROM "rules_edition" t WHERE "t"."book_id" IN (SELECT s."isbn" FROM "rules_book" s WHERE s."id" = ANY("d2")) AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_edition' AND g.pk = "t"."id"::text))) x);
      "d8" := ARRAY(SELECT DISTINCT x FROM unnest("d8" || ARRAY(SELECT t."id" FROM "rules_chapter" t WHERE "t"."book_id" = ANY("d2") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_chapter' AND g.pk = "t"."id"::text))) x);
      "d7" := ARRAY(SELECT DISTINCT x FROM unnest("d7" || ARRAY(SELECT t."id" FROM "rules_book_tags" t WHERE "t"."book_id" = ANY("d2") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_book_tags' AND g.pk = "t"."id"::text))) x);
      "d1" := ARRAY(SELECT DISTINCT x FROM unnest("d1" || ARRAY(SELECT t."id" FROM "rules_author_followers" t WHERE "t"."from_author_id" = ANY("d0") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_author_followers' AND g.pk = "t"."id"::text))) x);
      "d1" := ARRAY(SELECT DISTINCT x FROM unnest("d1" || ARRAY(SELECT t."id" FROM "rules_author_followers" t WHERE "t"."to_author_id" = ANY("d0") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_author_followers' AND g.pk = "t"."id"::text))) x);
      EXIT WHEN coalesce(cardinality("d0"), 0) + coalesce(cardinality("d1"), 0) + coalesce(cardinality("d2"), 0) + coalesce(cardinality("d3"), 0) + coalesce(cardinality("d4"), 0) + coalesce(cardinality("d5"), 0) + coalesce(cardinality("d6"), 0) + coalesce(cardinality("d7"), 0) + coalesce(cardinality("d8"), 0) + coalesce(cardinality("d9"), 0) + coalesce(cardinality("d10"), 0) = size_before;
    END LOOP;
  ELSE
    LOOP
      size_before := coalesce(cardinality("d0"), 0) + coalesce(cardinality("d1"), 0) + coalesce(cardinality("d2"), 0) + coalesce(cardinality("d3"), 0) + coalesce(cardinality("d4"), 0) + coalesce(cardinality("d5"), 0) + coalesce(cardinality("d6"), 0) + coalesce(cardinality("d7"), 0) + coalesce(cardinality("d8"), 0) + coalesce(cardinality("d9"), 0) + coalesce(cardinality("d10"), 0);
      "d0" := ARRAY(SELECT DISTINCT x FROM unnest("d0" || ARRAY(SELECT t."id" FROM "rules_author" t WHERE "t"."mentor_id" = ANY("d0") FOR UPDATE OF t)) x);
      "d5" := ARRAY(SELECT DISTINCT x FROM unnest("d5" || ARRAY(SELECT t."id" FROM "rules_shipment" t WHERE "t"."author_id" = ANY("d0") FOR UPDATE OF t)) x);
      "d10" := ARRAY(SELECT DISTINCT x FROM unnest("d10" || ARRAY(SELECT t."id" FROM "rules_parcel" t WHERE "t"."shipment_id" = ANY("d5") FOR UPDATE OF t)) x);
      "d4" := ARRAY(SELECT DISTINCT x FROM unnest("d4" || ARRAY(SELECT t."id" FROM "rules_fan" t WHERE "t"."favourite_id" = ANY("d0") FOR UPDATE OF t)) x);
      "d3" := ARRAY(SELECT DISTINCT x FROM unnest("d3" || ARRAY(SELECT t."id" FROM "rules_song" t WHERE "t"."author_id" = ANY("d0") FOR UPDATE OF t)) x);
      "d2" := ARRAY(SELECT DISTINCT x FROM unnest("d2" || ARRAY(SELECT t."id" FROM "rules_book" t WHERE "t"."author_id" = ANY("d0") FOR UPDATE OF t)) x);
      "d6" := ARRAY(SELECT DISTINCT x FROM unnest("d6" || ARRAY(SELECT t."id" FROM "rules_comment" t WHERE "t"."content_type_id" = (SELECT id FROM django_content_type WHERE app_label = 'rules' AND model = 'author') AND "t"."object_id" = ANY("d0") FOR UPDATE OF t)) x);
      "d6" := ARRAY(SELECT DISTINCT x FROM unnest("d6" || ARRAY(SELECT t."id" FROM "rules_comment" t WHERE "t"."content_type_id" = (SELECT id FROM django_content_type WHERE app_label = 'rules' AND model = 'book') AND "t"."object_id" = ANY("d2") FOR UPDATE OF t)) x);
      "d9" := ARRAY(SELECT DISTINCT x FROM unnest("d9" || ARRAY(SELECT t."id" FROM "rules_edition" t WHERE "t"."book_id" IN (SELECT s."isbn" FROM "rules_book" s WHERE s."id" = ANY("d2")) FOR UPDATE OF t)) x);
      "d8" := ARRAY(SELECT DISTINCT x FROM unnest("d8" || ARRAY(SELECT t."id" FROM "rules_chapter" t WHERE "t"."book_id" = ANY("d2") FOR UPDATE OF t)) x);
      "d7" := ARRAY(SELECT DISTINCT x FROM unnest("d7" || ARRAY(SELECT t."id" FROM "rules_book_tags" t WHERE "t"."book_id" = ANY("d2") FOR UPDATE OF t)) x);
      "d1" := ARRAY(SELECT DISTINCT x FROM unnest("d1" || ARRAY(SELECT t."id" FROM "rules_author_followers" t WHERE "t"."from_author_id" = ANY("d0") FOR UPDATE OF t)) x);
      "d1" := ARRAY(SELECT DISTINCT x FROM unnest("d1" || ARRAY(SELECT t."id" FROM "rules_author_followers" t WHERE "t"."to_author_id" = ANY("d0") FOR UPDATE OF t)) x);
      EXIT WHEN coalesce(cardinality("d0"), 0) + coalesce(cardinality("d1"), 0) + coalesce(cardinality("d2"), 0) + coalesce(cardinality("d3"), 0) + coalesce(cardinality("d4"), 0) + coalesce(cardinality("d5"), 0) + coalesce(cardinality("d6"), 0) + coalesce(cardinality("d7"), 0) + coalesce(cardinality("d8"), 0) + coalesce(cardinality("d9"), 0) + coalesce(cardinality("d10"), 0) = size_before;
    END LOOP;
  END IF;
  IF EXISTS (SELECT 1 FROM retention.active_holds(ARRAY['rules.Author', 'rules.Author_followers', 'rules.Book', 'rules.Book_tags', 'rules.Chapter', 'rules.Comment', 'rules.Edition', 'rules.Fan', 'rules.Parcel', 'rules.Shipment', 'rules.Song']::text[])) THEN
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Author']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d0") > 0) OR h.object_pk = ANY("d0"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Author_followers']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d1") > 0) OR h.object_pk = ANY("d1"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Book']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d2") > 0) OR h.object_pk = ANY("d2"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Song']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d3") > 0) OR h.object_pk = ANY("d3"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Fan']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d4") > 0) OR h.object_pk = ANY("d4"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Shipment']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d5") > 0) OR h.object_pk = ANY("d5"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Comment']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d6") > 0) OR h.object_pk = ANY("d6"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Book_tags']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d7") > 0) OR h.object_pk = ANY("d7"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Chapter']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d8") > 0) OR h.object_pk = ANY("d8"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Edition']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d9") > 0) OR h.object_pk = ANY("d9"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
    SELECT h.reason INTO hold_reason FROM retention.active_holds(ARRAY['rules.Parcel']::text[]) h
     WHERE (h.object_pk = '' AND cardinality("d10") > 0) OR h.object_pk = ANY("d10"::text[])
     ORDER BY h.id LIMIT 1;
    IF hold_reason IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = hold_reason;
    END IF;
  END IF;
  SELECT CASE WHEN ("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) THEN 'RETAINED rules.Author (live)' ELSE coalesce('RETAINED rules.Author (' || p.days || ' days)', 'RETAINED rules.Author (no active policy)') END INTO retained_reason FROM "rules_author" t, (SELECT coalesce(nullif(current_setting('retention.days', true), '')::integer, (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Author' AND p.is_active)) AS days) p
   WHERE t."id" = ANY("d0") AND NOT coalesce(("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) IS FALSE AND "t"."deleted_at" < now() - make_interval(days => p.days), false)
   ORDER BY ("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) DESC LIMIT 1;
  IF retained_reason IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = retained_reason;
  END IF;
  SELECT CASE WHEN ("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) THEN 'RETAINED rules.Shipment (live)' ELSE coalesce('RETAINED rules.Shipment (' || p.days || ' days)', 'RETAINED rules.Shipment (no active policy)') END INTO retained_reason FROM "rules_shipment" t, (SELECT (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active) AS days) p
   WHERE t."id" = ANY("d5") AND NOT coalesce(("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) IS FALSE AND "t"."deleted_at" < now() - make_interval(days => p.days), false)
   ORDER BY ("t"."deleted_at" IS NULL OR NOT coalesce("t"."is_deleted", false)) DESC LIMIT 1;
  IF retained_reason IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = retained_reason;
  END IF;
  IF dry_run THEN
    IF EXISTS (SELECT 1 FROM "rules_song" r WHERE "r"."book_id" = ANY("d2") AND NOT ("r"."id" = ANY("d3")) AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_song' AND g.pk = "r"."id"::text)) THEN
    RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = 'RESTRICT rules.Song.book';
  END IF;
    IF EXISTS (SELECT 1 FROM "rules_royalty" r WHERE "r"."book_id" = ANY("d2") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_royalty' AND g.pk = "r"."id"::text)) THEN
    RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = 'PROTECT rules.Royalty.book';
  END IF;
  ELSE
    IF EXISTS (SELECT 1 FROM "rules_song" r WHERE "r"."book_id" = ANY("d2") AND NOT ("r"."id" = ANY("d3"))) THEN
    RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = 'RESTRICT rules.Song.book';
  END IF;
    IF EXISTS (SELECT 1 FROM "rules_royalty" r WHERE "r"."book_id" = ANY("d2")) THEN
    RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = 'PROTECT rules.Royalty.book';
  END IF;
  END IF;
  IF dry_run THEN
    UPDATE "rules_review" r SET "book_id" = NULL WHERE "r"."book_id" = ANY("d2") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_review' AND g.pk = "r"."id"::text);
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n > 0 THEN updated := updated || jsonb_build_object('rules_review.book_id', n); END IF;
    IF EXISTS (SELECT 1 FROM "rules_note" r WHERE "r"."author_id" = ANY("d0") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_note' AND g.pk = "r"."id"::text)) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', MESSAGE = format(
      'update or delete on table "%s" violates foreign key constraint "%s" on table "%s"',
      'rules_author', (SELECT c.conname FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] WHERE c.contype = 'f' AND c.conrelid = '"rules_note"'::regclass AND c.confrelid = '"rules_author"'::regclass AND a.attname = 'author_id' LIMIT 1), 'rules_note');
  END IF;
    IF EXISTS (SELECT 1 FROM "rules_booknote" r WHERE "r"."book_id" = ANY("d2") AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_booknote' AND g.pk = "r"."id"::text)) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', MESSAGE = format(
      'update or delete on table "%s" violates foreign key constraint "%s" on table "%s"',
      'rules_book', (SELECT c.conname FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] WHERE c.contype = 'f' AND c.conrelid = '"rules_booknote"'::regclass AND c.confrelid = '"rules_book"'::regclass AND a.attname = 'book_id' LIMIT 1), 'rules_booknote');
  END IF;
  ELSE
    UPDATE "rules_review" r SET "book_id" = NULL WHERE "r"."book_id" = ANY("d2");
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n > 0 THEN updated := updated || jsonb_build_object('rules_review.book_id', n); END IF;
  END IF;
  IF dry_run THEN
    WITH
  -- x0: the deleted rows of rules_author
  "x0" AS (DELETE FROM "rules_author" t WHERE t."id" = ANY("d0") RETURNING t."id" AS k),
  -- x1: the deleted rows of rules_author_followers
  "x1" AS (DELETE FROM "rules_author_followers" t WHERE t."id" = ANY("d1") RETURNING t."id" AS k),
  -- x2: the deleted rows of rules_book
  "x2" AS (DELETE FROM "rules_book" t WHERE t."id" = ANY("d2") RETURNING t."id" AS k),
  -- x3: the deleted rows of rules_song
  "x3" AS (DELETE FROM "rules_song" t WHERE t."id" = ANY("d3") RETURNING t."id" AS k),
  -- x4: the deleted rows of rules_fan
  "x4" AS (DELETE FROM "rules_fan" t WHERE t."id" = ANY("d4") RETURNING t."id" AS k),
  -- x5: the deleted rows of rules_shipment
  "x5" AS (DELETE FROM "rules_shipment" t WHERE t."id" = ANY("d5") RETURNING t."id" AS k),
  -- x6: the deleted rows of rules_comment
  "x6" AS (DELETE FROM "rules_comment" t WHERE t."id" = ANY("d6") RETURNING t."id" AS k),
  -- x7: the deleted rows of rules_book_tags
  "x7" AS (DELETE FROM "rules_book_tags" t WHERE t."id" = ANY("d7") RETURNING t."id" AS k),
  -- x8: the deleted rows of rules_chapter
  "x8" AS (DELETE FROM "rules_chapter" t WHERE t."id" = ANY("d8") RETURNING t."id" AS k),
  -- x9: the deleted rows of rules_edition
  "x9" AS (DELETE FROM "rules_edition" t WHERE t."id" = ANY("d9") RETURNING t."id" AS k),
  -- x10: the deleted rows of rules_parcel
  "x10" AS (DELETE FROM "rules_parcel" t WHERE t."id" = ANY("d10") RETURNING t."id" AS k),
  keys(node, db_table, key_order, keys) AS (VALUES (0, 'rules_author', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x0")::text[], '{}')), (1, 'rules_author_followers', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x1")::text[], '{}')), (2, 'rules_book', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x2")::text[], '{}')), (3, 'rules_song', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x3")::text[], '{}')), (4, 'rules_fan', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x4")::text[], '{}')), (5, 'rules_shipment', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x5")::text[], '{}')), (6, 'rules_comment', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x6")::text[], '{}')), (7, 'rules_book_tags', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x7")::text[], '{}')), (8, 'rules_chapter', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x8")::text[], '{}')), (9, 'rules_edition', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x9")::text[], '{}')), (10, 'rules_parcel', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x10")::text[], '{}'))),
  proof AS (INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, ascending, keys)
    SELECT item, v.db_table, v.key_order, v.key_order = 'numeric', v.keys FROM keys v
     WHERE item IS NOT NULL AND NOT dry_run AND cardinality(v.keys) > 0)
  SELECT jsonb_object_agg(v.db_table, cardinality(v.keys)) FILTER (WHERE cardinality(v.keys) > 0),
         jsonb_object_agg(v.db_table, to_jsonb(v.keys)) FILTER (WHERE cardinality(v.keys) > 0)
    INTO deleted, deleted_keys FROM keys v;
  ELSE
    WITH
  -- x0: the deleted rows of rules_author
  "x0" AS (DELETE FROM "rules_author" t WHERE t."id" = ANY("d0") RETURNING t."id" AS k),
  -- x1: the deleted rows of rules_author_followers
  "x1" AS (DELETE FROM "rules_author_followers" t WHERE t."id" = ANY("d1") RETURNING t."id" AS k),
  -- x2: the deleted rows of rules_book
  "x2" AS (DELETE FROM "rules_book" t WHERE t."id" = ANY("d2") RETURNING t."id" AS k),
  -- x3: the deleted rows of rules_song
  "x3" AS (DELETE FROM "rules_song" t WHERE t."id" = ANY("d3") RETURNING t."id" AS k),
  -- x4: the deleted rows of rules_fan
  "x4" AS (DELETE FROM "rules_fan" t WHERE t."id" = ANY("d4") RETURNING t."id" AS k),
  -- x5: the deleted rows of rules_shipment
  "x5" AS (DELETE FROM "rules_shipment" t WHERE t."id" = ANY("d5") RETURNING t."id" AS k),
  -- x6: the deleted rows of rules_comment
  "x6" AS (DELETE FROM "rules_comment" t WHERE t."id" = ANY("d6") RETURNING t."id" AS k),
  -- x7: the deleted rows of rules_book_tags
  "x7" AS (DELETE FROM "rules_book_tags" t WHERE t."id" = ANY("d7") RETURNING t."id" AS k),
  -- x8: the deleted rows of rules_chapter
  "x8" AS (DELETE FROM "rules_chapter" t WHERE t."id" = ANY("d8") RETURNING t."id" AS k),
  -- x9: the deleted rows of rules_edition
  "x9" AS (DELETE FROM "rules_edition" t WHERE t."id" = ANY("d9") RETURNING t."id" AS k),
  -- x10: the deleted rows of rules_parcel
  "x10" AS (DELETE FROM "rules_parcel" t WHERE t."id" = ANY("d10") RETURNING t."id" AS k),
  keys(node, db_table, key_order, keys) AS (VALUES (0, 'rules_author', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x0")::text[], '{}')), (1, 'rules_author_followers', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x1")::text[], '{}')), (2, 'rules_book', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x2")::text[], '{}')), (3, 'rules_song', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x3")::text[], '{}')), (4, 'rules_fan', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x4")::text[], '{}')), (5, 'rules_shipment', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x5")::text[], '{}')), (6, 'rules_comment', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x6")::text[], '{}')), (7, 'rules_book_tags', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x7")::text[], '{}')), (8, 'rules_chapter', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x8")::text[], '{}')), (9, 'rules_edition', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x9")::text[], '{}')), (10, 'rules_parcel', 'numeric', coalesce((SELECT array_agg(k ORDER BY k) FROM "x10")::text[], '{}'))),
  proof AS (INSERT INTO retention_deleted_keys (run_item_id, db_table, key_order, ascending, keys)
    SELECT item, v.db_table, v.key_order, v.key_order = 'numeric', v.keys FROM keys v
     WHERE item IS NOT NULL AND NOT dry_run AND cardinality(v.keys) > 0)
  SELECT jsonb_object_agg(v.db_table, cardinality(v.keys)) FILTER (WHERE cardinality(v.keys) > 0)
    INTO deleted FROM keys v;
  END IF;
  RETURN jsonb_strip_nulls(jsonb_build_object('deleted', coalesce(deleted, '{}'), 'updated', updated, 'keys', deleted_keys));
END
$purge$;

CREATE OR REPLACE FUNCTION "retention"."select__rules__author"(
  cutoff timestamptz, after_at timestamptz, after_pk text, lim integer, dry_run boolean,
  by_pk boolean DEFAULT false)
RETURNS TABLE(ids text[], blocked text[], last_at timestamptz, last_pk text)
LANGUAGE plpgsql VOLATILE SET search_path = "pg_catalog", "public", "pg_temp" AS $select$
DECLARE
  held jsonb;  -- {pk or '': reason} of this model's active legal holds, NULL without any
BEGIN
  SELECT jsonb_object_agg(h.object_pk, h.reason) INTO held
    FROM (SELECT DISTINCT ON (object_pk) object_pk, reason FROM retention.active_holds(ARRAY['rules.Author']::text[]) ORDER BY object_pk, id) h;
  -- Two forms of each order, so that the planner gets the bound as an index condition, never as a
  -- filter. Keyset order (deleted_at, pk) on the purge index; for a backlog (most of the table
  -- eligible, see retention.batches_in_pk_order) primary-key order, so a batch's rows are neighbours.
  IF by_pk AND after_pk IS NULL THEN
    IF dry_run THEN
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."deleted_at" AS deleted_at
    FROM "rules_author" t
    WHERE t."is_deleted" AND t."deleted_at" < cutoff AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_author' AND g.pk = "t"."id"::text)
    ORDER BY t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."author_id") r."author_id" AS pk, 'DO_NOTHING rules.Note.author' AS reason FROM "rules_note" r
     WHERE r."author_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND true AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_note' AND g.pk = "r"."id"::text)
     ORDER BY r."author_id"),
  "b1" AS (SELECT DISTINCT ON (r."author_id") r."author_id" AS pk, CASE WHEN ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) THEN 'RETAINED rules.Shipment (live)' ELSE coalesce('RETAINED rules.Shipment (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active) || ' days)', 'RETAINED rules.Shipment (no active policy)') END AS reason FROM "rules_shipment" r
     WHERE r."author_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND NOT coalesce(("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) IS FALSE AND "r"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active)), false) AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_shipment' AND g.pk = "r"."id"::text)
     ORDER BY r."author_id", ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) DESC),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason, "b1".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk LEFT JOIN "b1" ON "b1".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    ELSE
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."deleted_at" AS deleted_at
    FROM "rules_author" t
    WHERE t."is_deleted" AND t."deleted_at" < cutoff
    ORDER BY t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."author_id") r."author_id" AS pk, 'DO_NOTHING rules.Note.author' AS reason FROM "rules_note" r
     WHERE r."author_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND true
     ORDER BY r."author_id"),
  "b1" AS (SELECT DISTINCT ON (r."author_id") r."author_id" AS pk, CASE WHEN ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) THEN 'RETAINED rules.Shipment (live)' ELSE coalesce('RETAINED rules.Shipment (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active) || ' days)', 'RETAINED rules.Shipment (no active policy)') END AS reason FROM "rules_shipment" r
     WHERE r."author_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND NOT coalesce(("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) IS FALSE AND "r"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active)), false)
     ORDER BY r."author_id", ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) DESC),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason, "b1".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk LEFT JOIN "b1" ON "b1".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    END IF;
  ELSIF by_pk THEN
    IF dry_run THEN
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."deleted_at" AS deleted_at
    FROM "rules_author" t
    WHERE t."is_deleted" AND t."deleted_at" < cutoff
      AND t."id" > after_pk::bigint AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_author' AND g.pk = "t"."id"::text)
    ORDER BY t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."author_id") r."author_id" AS pk, 'DO_NOTHING rules.Note.author' AS reason FROM "rules_note" r
     WHERE r."author_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND true AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_note' AND g.pk = "r"."id"::text)
     ORDER BY r."author_id"),
  "b1" AS (SELECT DISTINCT ON (r."author_id") r."author_id" AS pk, CASE WHEN ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) THEN 'RETAINED rules.Shipment (live)' ELSE coalesce('RETAINED rules.Shipment (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active) || ' days)', 'RETAINED rules.Shipment (no active policy)') END AS reason FROM "rules_shipment" r
     WHERE r."author_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND NOT coalesce(("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) IS FALSE AND "r"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active)), false) AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_shipment' AND g.pk = "r"."id"::text)
     ORDER BY r."author_id", ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) DESC),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason, "b1".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk LEFT JOIN "b1" ON "b1".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    ELSE
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."deleted_at" AS deleted_at
    FROM "rules_author" t
    WHERE t."is_deleted" AND t."deleted_at" < cutoff
      AND t."id" > after_pk::bigint
    ORDER BY t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."author_id") r."author_id" AS pk, 'DO_NOTHING rules.Note.author' AS reason FROM "rules_note" r
     WHERE r."author_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND true
     ORDER BY r."author_id"),
  "b1" AS (SELECT DISTINCT ON (r."author_id") r."author_id" AS pk, CASE WHEN ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) THEN 'RETAINED rules.Shipment (live)' ELSE coalesce('RETAINED rules.Shipment (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active) || ' days)', 'RETAINED rules.Shipment (no active policy)') END AS reason FROM "rules_shipment" r
     WHERE r."author_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND NOT coalesce(("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) IS FALSE AND "r"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active)), false)
     ORDER BY r."author_id", ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) DESC),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason, "b1".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk LEFT JOIN "b1" ON "b1".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    END IF;
  ELSIF after_at IS NULL THEN
    IF dry_run THEN
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."deleted_at" AS deleted_at
    FROM "rules_author" t
    WHERE t."is_deleted" AND t."deleted_at" < cutoff AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_author' AND g.pk = "t"."id"::text)
    ORDER BY t."deleted_at", t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY deleted_at DESC, pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."author_id") r."author_id" AS pk, 'DO_NOTHING rules.Note.author' AS reason FROM "rules_note" r
     WHERE r."author_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND true AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_note' AND g.pk = "r"."id"::text)
     ORDER BY r."author_id"),
  "b1" AS (SELECT DISTINCT ON (r."author_id") r."author_id" AS pk, CASE WHEN ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) THEN 'RETAINED rules.Shipment (live)' ELSE coalesce('RETAINED rules.Shipment (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active) || ' days)', 'RETAINED rules.Shipment (no active policy)') END AS reason FROM "rules_shipment" r
     WHERE r."author_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND NOT coalesce(("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) IS FALSE AND "r"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active)), false) AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_shipment' AND g.pk = "r"."id"::text)
     ORDER BY r."author_id", ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) DESC),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason, "b1".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk LEFT JOIN "b1" ON "b1".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    ELSE
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."deleted_at" AS deleted_at
    FROM "rules_author" t
    WHERE t."is_deleted" AND t."deleted_at" < cutoff
    ORDER BY t."deleted_at", t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY deleted_at DESC, pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."author_id") r."author_id" AS pk, 'DO_NOTHING rules.Note.author' AS reason FROM "rules_note" r
     WHERE r."author_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND true
     ORDER BY r."author_id"),
  "b1" AS (SELECT DISTINCT ON (r."author_id") r."author_id" AS pk, CASE WHEN ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) THEN 'RETAINED rules.Shipment (live)' ELSE coalesce('RETAINED rules.Shipment (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active) || ' days)', 'RETAINED rules.Shipment (no active policy)') END AS reason FROM "rules_shipment" r
     WHERE r."author_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND NOT coalesce(("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) IS FALSE AND "r"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active)), false)
     ORDER BY r."author_id", ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) DESC),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason, "b1".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk LEFT JOIN "b1" ON "b1".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    END IF;
  ELSE
    IF dry_run THEN
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."deleted_at" AS deleted_at
    FROM "rules_author" t
    WHERE t."is_deleted" AND t."deleted_at" < cutoff
      AND (t."deleted_at", t."id") > (after_at, after_pk::bigint) AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_author' AND g.pk = "t"."id"::text)
    ORDER BY t."deleted_at", t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY deleted_at DESC, pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."author_id") r."author_id" AS pk, 'DO_NOTHING rules.Note.author' AS reason FROM "rules_note" r
     WHERE r."author_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND true AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_note' AND g.pk = "r"."id"::text)
     ORDER BY r."author_id"),
  "b1" AS (SELECT DISTINCT ON (r."author_id") r."author_id" AS pk, CASE WHEN ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) THEN 'RETAINED rules.Shipment (live)' ELSE coalesce('RETAINED rules.Shipment (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active) || ' days)', 'RETAINED rules.Shipment (no active policy)') END AS reason FROM "rules_shipment" r
     WHERE r."author_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND NOT coalesce(("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) IS FALSE AND "r"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active)), false) AND NOT EXISTS (SELECT 1 FROM retention.dry_gone g WHERE g.run_id = nullif(current_setting('retention.run_id', true), '')::bigint AND g.db_table = 'rules_shipment' AND g.pk = "r"."id"::text)
     ORDER BY r."author_id", ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) DESC),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason, "b1".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk LEFT JOIN "b1" ON "b1".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    ELSE
      RETURN QUERY WITH c AS (
    SELECT t."id" AS pk, t."deleted_at" AS deleted_at
    FROM "rules_author" t
    WHERE t."is_deleted" AND t."deleted_at" < cutoff
      AND (t."deleted_at", t."id") > (after_at, after_pk::bigint)
    ORDER BY t."deleted_at", t."id"
    LIMIT lim
    FOR UPDATE OF t SKIP LOCKED
  ), last AS (SELECT deleted_at, pk FROM c ORDER BY deleted_at DESC, pk DESC LIMIT 1),
  "b0" AS (SELECT DISTINCT ON (r."author_id") r."author_id" AS pk, 'DO_NOTHING rules.Note.author' AS reason FROM "rules_note" r
     WHERE r."author_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND true
     ORDER BY r."author_id"),
  "b1" AS (SELECT DISTINCT ON (r."author_id") r."author_id" AS pk, CASE WHEN ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) THEN 'RETAINED rules.Shipment (live)' ELSE coalesce('RETAINED rules.Shipment (' || (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active) || ' days)', 'RETAINED rules.Shipment (no active policy)') END AS reason FROM "rules_shipment" r
     WHERE r."author_id" = ANY (ARRAY(SELECT c.pk FROM c)) AND NOT coalesce(("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) IS FALSE AND "r"."deleted_at" < now() - make_interval(days => (SELECT p.retention_days FROM retention_policy p WHERE p.model_path = 'rules.Shipment' AND p.is_active)), false)
     ORDER BY r."author_id", ("r"."deleted_at" IS NULL OR NOT coalesce("r"."is_deleted", false)) DESC),
  j AS (SELECT c.pk, c.deleted_at, coalesce(held->>(c.pk::text), held->>'', "b0".reason, "b1".reason) AS blocked_by FROM c LEFT JOIN "b0" ON "b0".pk = c.pk LEFT JOIN "b1" ON "b1".pk = c.pk)
  SELECT array_agg(j.pk::text ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NULL),
         array_agg(j.blocked_by ORDER BY j.deleted_at, j.pk) FILTER (WHERE j.blocked_by IS NOT NULL),
         (SELECT deleted_at FROM last), (SELECT pk::text FROM last)
  FROM j;
    END IF;
  END IF;
END
$select$;