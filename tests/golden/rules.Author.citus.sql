CREATE OR REPLACE FUNCTION "retention"."purge__rules__author"(roots text[], dry_run boolean) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = "pg_catalog", "public", "pg_temp" AS $refused$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'feature_not_supported', MESSAGE = 'retention cannot purge this model on Citus with its guarantees: the purge of rules_author reaches its own tables again (a self or cyclic relation, or multi-table inheritance), which the distributed purge does not follow; rules.Author.comments (rules_comment -> rules_author): generic relations and multi-table inheritance are not purged on Citus; rules.Edition.book (rules_edition -> rules_book): a foreign key to a column other than the primary key of rules_book; rules.Book.comments (rules_comment -> rules_book): generic relations and multi-table inheritance are not purged on Citus';
END
$refused$;

CREATE OR REPLACE FUNCTION "retention"."select__rules__author"(
  cutoff timestamptz, after_at timestamptz, after_pk text, lim integer, dry_run boolean,
  by_pk boolean DEFAULT false)
RETURNS TABLE(ids text[], blocked text[], last_at timestamptz, last_pk text)
LANGUAGE plpgsql VOLATILE SET search_path = "pg_catalog", "public", "pg_temp" AS $refused$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'feature_not_supported', MESSAGE = 'retention cannot purge this model on Citus with its guarantees: the purge of rules_author reaches its own tables again (a self or cyclic relation, or multi-table inheritance), which the distributed purge does not follow; rules.Author.comments (rules_comment -> rules_author): generic relations and multi-table inheritance are not purged on Citus; rules.Edition.book (rules_edition -> rules_book): a foreign key to a column other than the primary key of rules_book; rules.Book.comments (rules_comment -> rules_book): generic relations and multi-table inheritance are not purged on Citus';
END
$refused$;