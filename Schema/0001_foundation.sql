-- Foundation: who may connect and create, and the tenants directory under row-level security.
-- Roles are cluster-wide and created by ops/sql/bootstrap.sql before any migration runs:
--   orgmatrix_owner    owns every object and runs migrations and tenant administration
--   orgmatrix_app      what the server connects as: NOBYPASSRLS, no DDL
--   orgmatrix_auditor  read-only

-- Only our roles may connect; nobody but the owner may create objects, temporary ones included.
DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO orgmatrix_app, orgmatrix_auditor', current_database());
END
$$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO orgmatrix_app, orgmatrix_auditor;

-- /readyz compares the applied migrations with the files of the running build.
GRANT SELECT ON schema_migrations TO orgmatrix_app, orgmatrix_auditor;

-- One row per tenant (a corporate group). The directory of tenants is the one table keyed by
-- tenant_id alone; every other table leads its keys with tenant_id.
CREATE TABLE tenants (
    tenant_id uuid PRIMARY KEY,
    code text NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z0-9-]{1,62}$'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;

-- The principal's tenant is set per transaction with set_config('app.tenant_id', …, true).
-- An unset or empty setting reads as NULL, which equals nothing: no principal, no rows.
CREATE POLICY tenants_read_own ON tenants FOR SELECT TO orgmatrix_app, orgmatrix_auditor
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- The owner administers tenants (`orgmatrix tenant apply`). It owns the table and could switch
-- RLS off anyway, so this policy grants it nothing it lacks; it keeps FORCE meaningful for the rest.
CREATE POLICY tenants_owner_admin ON tenants FOR ALL TO orgmatrix_owner USING (true) WITH CHECK (true);

GRANT SELECT ON tenants TO orgmatrix_app, orgmatrix_auditor;
