-- Transfer pricing: a lane's cost-plus markup, and the tenant's pricing rule versions.

ALTER TABLE relations ADD COLUMN markup_basis_points integer CHECK (markup_basis_points BETWEEN 0 AND 10000);
ALTER TABLE relations ADD CONSTRAINT relations_markup_on_lanes_only CHECK (kind = 'transfers_with' OR markup_basis_points IS NULL);

-- One row per version, stored as the tenant file wrote it (integers and strings only) so a
-- price can always be recomputed from the version it names. Versions never change.
CREATE TABLE pricing_rules (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    version text NOT NULL CHECK (version ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$'),
    effective_from timestamptz NOT NULL,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, version)
);
CREATE TRIGGER pricing_rules_immutable BEFORE UPDATE OR DELETE ON pricing_rules FOR EACH ROW EXECUTE FUNCTION reject_change();

ALTER TABLE pricing_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE pricing_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY pricing_rules_read ON pricing_rules FOR SELECT TO orgmatrix_app, orgmatrix_auditor
    USING (tenant_id = ANY ((SELECT ARRAY[app_tenant_id()])::uuid[]));
CREATE POLICY pricing_rules_owner ON pricing_rules FOR ALL TO orgmatrix_owner USING (true) WITH CHECK (true);
GRANT SELECT ON pricing_rules TO orgmatrix_app, orgmatrix_auditor;
