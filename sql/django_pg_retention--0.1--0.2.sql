-- django-pg-retention 0.1 -> 0.2. Applied by migration 0008 to databases installed from 0.1.0
-- and, after django_pg_retention--0.1.sql, to every fresh install, so both end the same.
-- Until 0.2.0 is released this file may change; from then on it is frozen like 0.1's.
-- django_pg_retention--0.2--0.1.sql reverses it: it drops what this file creates or re-signs.
-- Rules for whoever adds to it: CREATE OR REPLACE resets a function's settings, so the loop at the
-- end pins search_path again; a function whose signature or return type changes is dropped first;
-- a removed function is dropped here; a REVOKE ... FROM PUBLIC follows every new routine.

-- Which version of this SQL the database holds (retention status prints it).
CREATE OR REPLACE FUNCTION retention.sql_version() RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT '0.2' $$;
COMMENT ON FUNCTION retention.sql_version() IS 'The version of django-pg-retention''s SQL installed in this database';
REVOKE ALL ON FUNCTION retention.sql_version() FROM PUBLIC;

-- Append a finished run to the chain, saying which record format its hash covers (record_format,
-- migration 0008): django_pg_retention/audit.py recomputes each sealed run in its own format, so a
-- later format never turns an earlier run's proof into a false alarm. Format 1 is 0.1.0's record.
CREATE OR REPLACE FUNCTION retention.seal_run(run bigint) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  last_position bigint;
  last_hash text;
  sealed_position bigint;
  sealed_hash text;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('django_pg_retention.chain'));
  SELECT r.chain_position, r.hash INTO last_position, last_hash
    FROM retention_run r WHERE r.chain_position IS NOT NULL ORDER BY r.chain_position DESC LIMIT 1;
  UPDATE retention_run r
     SET chain_position = coalesce(last_position, 0) + 1,
         prev_hash = coalesce(last_hash, ''),
         record_format = 1,
         hash = encode(sha256(convert_to(coalesce(last_hash, '') || retention.run_record(run), 'UTF8'::name)), 'hex')
   WHERE r.id = run AND r.hash = '' AND r.status <> 'running'
  RETURNING r.chain_position, r.hash INTO sealed_position, sealed_hash;
  IF sealed_position IS NOT NULL THEN
    -- A witness outside the tables: a shipped server log keeps every head (retention verify --head).
    RAISE LOG 'django-pg-retention: sealed run % as chain head %:%', run, sealed_position, sealed_hash;
  END IF;
END
$$;
COMMENT ON FUNCTION retention.seal_run(bigint) IS 'Seals a finished run into the audit hash chain';
REVOKE ALL ON FUNCTION retention.seal_run(bigint) FROM PUBLIC;

-- Every function of the schema resolves names in pg_catalog first, then the app's schema (as in 0.1).
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'retention'::regnamespace AND p.prokind = 'f'
              AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')
  LOOP
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, %I, pg_temp', f,
                             pg_catalog.current_schema());
  END LOOP;
END
$$;
