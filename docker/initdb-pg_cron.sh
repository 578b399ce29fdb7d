#!/usr/bin/env bash
# pg_cron lives in the `postgres` database (cron.database_name); the app gets its own database.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -c "CREATE EXTENSION IF NOT EXISTS pg_cron"
if [ "${POSTGRES_DB:-postgres}" = postgres ]; then
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -c "CREATE DATABASE retention"
fi
