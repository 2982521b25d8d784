-- ops/sql/bootstrap.sql — create or repair the orgmatrix roles and database (idempotent).
-- Run as a superuser against any PostgreSQL:
--   psql "$ADMIN_URL" -v owner_password=... -v app_password=... -v auditor_password=... \
--        [-v dbname=orgmatrix] -f ops/sql/bootstrap.sql
-- Every run resets role attributes, passwords, database ownership and grants, so reruns fix drift.

\set ON_ERROR_STOP on
\if :{?owner_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'bootstrap.sql: pass -v owner_password=...'; END $$;
\endif
\if :{?app_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'bootstrap.sql: pass -v app_password=...'; END $$;
\endif
\if :{?auditor_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'bootstrap.sql: pass -v auditor_password=...'; END $$;
\endif
\if :{?dbname}
\else
\set dbname orgmatrix
\endif

-- Roles: owner runs migrations and owns everything; app and auditor only get what migrations grant.
SELECT format('CREATE ROLE %I', r)
  FROM unnest(ARRAY['orgmatrix_owner', 'orgmatrix_app', 'orgmatrix_auditor']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)
\gexec

ALTER ROLE orgmatrix_owner LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'owner_password';
ALTER ROLE orgmatrix_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT
  PASSWORD :'app_password';
ALTER ROLE orgmatrix_auditor LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT
  PASSWORD :'auditor_password';
ALTER ROLE orgmatrix_app SET statement_timeout = '30s';

-- Database, owned by the owner role; only the three roles may connect.
SELECT format('CREATE DATABASE %I OWNER orgmatrix_owner', :'dbname')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'dbname')
\gexec

ALTER DATABASE :"dbname" OWNER TO orgmatrix_owner;
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"dbname" TO orgmatrix_app, orgmatrix_auditor;

-- Schema public: only the owner creates objects in it.
\connect :"dbname"
ALTER SCHEMA public OWNER TO orgmatrix_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO orgmatrix_app, orgmatrix_auditor;
