-- Inventory: items, stock balances with moving-average cost, append-only stock moves, purchase
-- receipts and sales issues, and idempotent posting. Same tenancy rules as 0002: tenant_id
-- leads every key, FORCE RLS everywhere, reads limited to the visible set, stock writes to the
-- principal's own org and a writing role.

-- The acting org and principal for a role that may write (hq_admin, org_operator, integration);
-- nothing otherwise. One row subquery per statement checks tenant, org and principal at once.
CREATE FUNCTION app_poster(OUT tenant_id uuid, OUT org_id bigint, OUT principal_id bigint)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SECURITY DEFINER AS $$
BEGIN
    IF public.app_context_checked(false)
       AND pg_catalog.current_setting('app.role', true) OPERATOR(pg_catalog.=) ANY ('{hq_admin,org_operator,integration}'::text[]) THEN
        tenant_id := pg_catalog.current_setting('app.tenant_id')::uuid;
        org_id := pg_catalog.current_setting('app.org_id')::bigint;
        principal_id := pg_catalog.current_setting('app.principal_id')::bigint;
    END IF;
END
$$;
GRANT EXECUTE ON FUNCTION app_poster() TO orgmatrix_app;

-- Tenant master data: every principal of the tenant reads items; HQ maintains them.
CREATE TABLE items (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    item_id bigint GENERATED ALWAYS AS IDENTITY,
    code text NOT NULL CHECK (code ~ '^[A-Z0-9][A-Z0-9-]{1,39}$'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    base_unit text NOT NULL CHECK (length(base_unit) BETWEEN 1 AND 10),
    -- Quantities are integers in the base unit × scale (kg with scale 1000 counts grams).
    quantity_scale bigint NOT NULL CHECK (quantity_scale IN (1, 10, 100, 1000, 10000, 100000, 1000000)),
    weight_grams_per_unit bigint NOT NULL CHECK (weight_grams_per_unit BETWEEN 0 AND 100000000),
    category text NOT NULL CHECK (category ~ '^[a-z][a-z0-9_]{1,39}$'),
    shelf_life_days integer NOT NULL CHECK (shelf_life_days BETWEEN 1 AND 36500),
    tax_code text NOT NULL CHECK (tax_code ~ '^[0-9]{19}$'),
    tax_rate_basis_points integer NOT NULL CHECK (tax_rate_basis_points BETWEEN 0 AND 10000),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, item_id),
    UNIQUE (tenant_id, code)
);

-- One balance per (org, item): on hand and in transit in scaled units, and the total value of
-- what is on hand, so that the moving-average unit cost is value / on hand with no drift.
CREATE TABLE stock_balances (
    tenant_id uuid NOT NULL,
    org_id bigint NOT NULL,
    item_id bigint NOT NULL,
    on_hand_scaled bigint NOT NULL DEFAULT 0 CHECK (on_hand_scaled >= 0),
    in_transit_scaled bigint NOT NULL DEFAULT 0 CHECK (in_transit_scaled >= 0),
    value_fen bigint NOT NULL DEFAULT 0 CHECK (value_fen >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, org_id, item_id),
    FOREIGN KEY (tenant_id, org_id) REFERENCES orgs (tenant_id, org_id),
    FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, item_id),
    CHECK (on_hand_scaled > 0 OR value_fen = 0)
);

-- Every change of a balance, append-only: signed quantity and value, and the document behind it.
CREATE TABLE stock_moves (
    tenant_id uuid NOT NULL,
    move_id bigint GENERATED ALWAYS AS IDENTITY,
    org_id bigint NOT NULL,
    item_id bigint NOT NULL,
    quantity_scaled bigint NOT NULL CHECK (quantity_scaled <> 0),
    value_fen bigint NOT NULL,
    unit_cost_fen bigint NOT NULL CHECK (unit_cost_fen >= 0),
    document_type text NOT NULL CHECK (document_type IN ('purchase_receipt', 'sales_issue')),
    document_id bigint NOT NULL,
    principal_id bigint NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, move_id),
    FOREIGN KEY (tenant_id, org_id) REFERENCES orgs (tenant_id, org_id),
    FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, item_id)
);
CREATE INDEX stock_moves_org ON stock_moves (tenant_id, org_id, move_id);

CREATE TABLE purchase_receipts (
    tenant_id uuid NOT NULL,
    receipt_id bigint GENERATED ALWAYS AS IDENTITY,
    org_id bigint NOT NULL,
    supplier text NOT NULL CHECK (length(supplier) BETWEEN 1 AND 200),
    principal_id bigint NOT NULL,
    request_id text,
    posted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, receipt_id),
    FOREIGN KEY (tenant_id, org_id) REFERENCES orgs (tenant_id, org_id)
);

CREATE TABLE purchase_receipt_lines (
    tenant_id uuid NOT NULL,
    receipt_id bigint NOT NULL,
    line_no integer NOT NULL CHECK (line_no >= 1),
    org_id bigint NOT NULL,
    item_id bigint NOT NULL,
    quantity_scaled bigint NOT NULL CHECK (quantity_scaled > 0),
    unit_cost_fen bigint NOT NULL CHECK (unit_cost_fen >= 0),
    amount_fen bigint NOT NULL CHECK (amount_fen >= 0),
    PRIMARY KEY (tenant_id, receipt_id, line_no),
    FOREIGN KEY (tenant_id, receipt_id) REFERENCES purchase_receipts (tenant_id, receipt_id),
    FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, item_id)
);

-- A sale fulfilled by a physical org and booked by the settlement org that settles its sales
-- (一地结算、多地履约): revenue belongs to settlement_org_id, the goods leave org_id.
CREATE TABLE sales_issues (
    tenant_id uuid NOT NULL,
    issue_id bigint GENERATED ALWAYS AS IDENTITY,
    org_id bigint NOT NULL,
    settlement_org_id bigint NOT NULL,
    customer text NOT NULL CHECK (length(customer) BETWEEN 1 AND 200),
    principal_id bigint NOT NULL,
    request_id text,
    posted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, issue_id),
    FOREIGN KEY (tenant_id, org_id) REFERENCES orgs (tenant_id, org_id),
    FOREIGN KEY (tenant_id, settlement_org_id) REFERENCES orgs (tenant_id, org_id)
);

CREATE TABLE sales_issue_lines (
    tenant_id uuid NOT NULL,
    issue_id bigint NOT NULL,
    line_no integer NOT NULL CHECK (line_no >= 1),
    org_id bigint NOT NULL,
    item_id bigint NOT NULL,
    quantity_scaled bigint NOT NULL CHECK (quantity_scaled > 0),
    unit_price_fen bigint NOT NULL CHECK (unit_price_fen >= 0),
    revenue_fen bigint NOT NULL CHECK (revenue_fen >= 0),
    cost_fen bigint NOT NULL CHECK (cost_fen >= 0),
    PRIMARY KEY (tenant_id, issue_id, line_no),
    FOREIGN KEY (tenant_id, issue_id) REFERENCES sales_issues (tenant_id, issue_id),
    FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, item_id)
);

-- Idempotent posting: the first response to (principal, Idempotency-Key) is kept with a hash of
-- the request; the same key with the same body gets it again, with another body a 409.
CREATE TABLE idempotency_keys (
    tenant_id uuid NOT NULL,
    principal_id bigint NOT NULL,
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    org_id bigint NOT NULL,
    request_hash text NOT NULL,
    response_status integer NOT NULL,
    response_body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, principal_id, idempotency_key)
);

CREATE TRIGGER stock_moves_append_only BEFORE UPDATE OR DELETE ON stock_moves FOR EACH ROW EXECUTE FUNCTION reject_change();
CREATE TRIGGER purchase_receipts_append_only BEFORE UPDATE OR DELETE ON purchase_receipts
    FOR EACH ROW EXECUTE FUNCTION reject_change();
CREATE TRIGGER purchase_receipt_lines_append_only BEFORE UPDATE OR DELETE ON purchase_receipt_lines
    FOR EACH ROW EXECUTE FUNCTION reject_change();
CREATE TRIGGER sales_issues_append_only BEFORE UPDATE OR DELETE ON sales_issues FOR EACH ROW EXECUTE FUNCTION reject_change();
CREATE TRIGGER sales_issue_lines_append_only BEFORE UPDATE OR DELETE ON sales_issue_lines
    FOR EACH ROW EXECUTE FUNCTION reject_change();
CREATE TRIGGER idempotency_keys_append_only BEFORE UPDATE OR DELETE ON idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION reject_change();
CREATE TRIGGER items_no_delete BEFORE DELETE ON items FOR EACH ROW EXECUTE FUNCTION reject_change();
CREATE TRIGGER stock_balances_no_delete BEFORE DELETE ON stock_balances FOR EACH ROW EXECUTE FUNCTION reject_change();

-- ---- policies (forms as in 0002: one getter call per statement, index conditions kept) ---------

ALTER TABLE items ENABLE ROW LEVEL SECURITY;
ALTER TABLE items FORCE ROW LEVEL SECURITY;
CREATE POLICY items_read ON items FOR SELECT TO orgmatrix_app, orgmatrix_auditor
    USING (tenant_id = ANY ((SELECT ARRAY[app_tenant_id()])::uuid[]));
CREATE POLICY items_admin_insert ON items FOR INSERT TO orgmatrix_app
    WITH CHECK (tenant_id = (SELECT app_tenant_for_roles('{hq_admin}')));
CREATE POLICY items_admin_update ON items FOR UPDATE TO orgmatrix_app
    USING (tenant_id = (SELECT app_tenant_for_roles('{hq_admin}')))
    WITH CHECK (tenant_id = (SELECT app_tenant_for_roles('{hq_admin}')));
CREATE POLICY items_owner ON items FOR ALL TO orgmatrix_owner USING (true) WITH CHECK (true);

-- Org-owned tables are declared once, here: read within the visible set, insert only as the
-- acting org with a writing role, the owner unrestricted. Later migrations call it too.
CREATE FUNCTION declare_org_owned_table(p_table regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_table);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', p_table);
    EXECUTE format($p$CREATE POLICY read ON %s FOR SELECT TO orgmatrix_app, orgmatrix_auditor
        USING (tenant_id = ANY ((SELECT ARRAY[app_tenant_id()])::uuid[])
            AND org_id = ANY ((SELECT app_visible_orgs())::bigint[]))$p$, p_table);
    EXECUTE format($p$CREATE POLICY post ON %s FOR INSERT TO orgmatrix_app
        WITH CHECK ((tenant_id, org_id) = (SELECT p.tenant_id, p.org_id FROM app_poster() p))$p$, p_table);
    EXECUTE format('CREATE POLICY owner ON %s FOR ALL TO orgmatrix_owner USING (true) WITH CHECK (true)', p_table);
END
$$;

SELECT declare_org_owned_table(t) FROM unnest(ARRAY['stock_balances', 'stock_moves', 'purchase_receipts', 'purchase_receipt_lines',
    'sales_issues', 'sales_issue_lines', 'idempotency_keys']::regclass[]) t;
CREATE POLICY stock_balances_update ON stock_balances FOR UPDATE TO orgmatrix_app
    USING ((tenant_id, org_id) = (SELECT p.tenant_id, p.org_id FROM app_poster() p))
    WITH CHECK ((tenant_id, org_id) = (SELECT p.tenant_id, p.org_id FROM app_poster() p));

GRANT SELECT ON items, stock_balances, stock_moves, purchase_receipts, purchase_receipt_lines, sales_issues,
    sales_issue_lines TO orgmatrix_app, orgmatrix_auditor;
GRANT SELECT, INSERT ON idempotency_keys TO orgmatrix_app;
GRANT INSERT ON items, stock_balances, stock_moves, purchase_receipts, purchase_receipt_lines, sales_issues,
    sales_issue_lines TO orgmatrix_app;
GRANT UPDATE (name, weight_grams_per_unit, category, shelf_life_days, tax_code, tax_rate_basis_points) ON items TO orgmatrix_app;
GRANT UPDATE (on_hand_scaled, in_transit_scaled, value_fen, updated_at) ON stock_balances TO orgmatrix_app;
