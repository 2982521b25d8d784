-- Transfer orders between two physical orgs on a transfers_with lane: created (priced) →
-- dispatched (stock leaves the sender into its in-transit) → received (stock arrives at the
-- receiver at landed cost; actual freight, insurance and loss recorded) or cancelled before
-- dispatch. One inter-org object: the sender and the receiver read the same rows; each writes
-- only the transitions that are its own.

CREATE TABLE transfers (
    tenant_id uuid NOT NULL,
    transfer_id bigint GENERATED ALWAYS AS IDENTITY,
    from_org_id bigint NOT NULL,
    from_code text NOT NULL,
    to_org_id bigint NOT NULL,
    to_code text NOT NULL,
    relation_id bigint NOT NULL,
    status text NOT NULL CHECK (status IN ('created', 'dispatched', 'received', 'cancelled')),
    rules_version text NOT NULL,
    estimate_total_fen bigint NOT NULL CHECK (estimate_total_fen >= 0),
    actual_freight_fen bigint CHECK (actual_freight_fen >= 0),
    actual_insurance_fen bigint CHECK (actual_insurance_fen >= 0),
    actual_total_fen bigint CHECK (actual_total_fen >= 0),
    error_ppm bigint,
    flagged boolean NOT NULL DEFAULT false,
    -- HQ's true-up of a flagged transfer: actual − estimate, settled between the two orgs.
    true_up_fen bigint,
    trued_up_by bigint,
    trued_up_at timestamptz,
    created_by bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    dispatched_at timestamptz,
    received_at timestamptz,
    cancelled_at timestamptz,
    PRIMARY KEY (tenant_id, transfer_id),
    FOREIGN KEY (tenant_id, from_org_id, from_code) REFERENCES orgs (tenant_id, org_id, code),
    FOREIGN KEY (tenant_id, to_org_id, to_code) REFERENCES orgs (tenant_id, org_id, code),
    FOREIGN KEY (tenant_id, relation_id) REFERENCES relations (tenant_id, relation_id),
    FOREIGN KEY (tenant_id, rules_version) REFERENCES pricing_rules (tenant_id, version),
    CHECK (from_org_id <> to_org_id)
);
CREATE INDEX transfers_from ON transfers (tenant_id, from_org_id, transfer_id);
CREATE INDEX transfers_to ON transfers (tenant_id, to_org_id, transfer_id);

CREATE TABLE transfer_lines (
    tenant_id uuid NOT NULL,
    transfer_id bigint NOT NULL,
    line_no integer NOT NULL CHECK (line_no >= 1),
    from_org_id bigint NOT NULL,
    to_org_id bigint NOT NULL,
    item_id bigint NOT NULL,
    quantity_scaled bigint NOT NULL CHECK (quantity_scaled > 0),
    unit_cost_fen bigint NOT NULL CHECK (unit_cost_fen >= 0),
    -- The estimate, component by component (fen), and its words for finance.
    base_cost_fen bigint NOT NULL,
    freight_fen bigint NOT NULL,
    insurance_fen bigint NOT NULL,
    loss_allowance_fen bigint NOT NULL,
    timeliness_fen bigint NOT NULL,
    markup_fen bigint NOT NULL,
    total_fen bigint NOT NULL,
    breakdown jsonb NOT NULL,
    -- Set at receipt: what was lost, how much of it the tolerance absorbs, the rest claimed.
    lost_scaled bigint CHECK (lost_scaled >= 0),
    allowance_scaled bigint CHECK (allowance_scaled >= 0),
    claim_scaled bigint CHECK (claim_scaled >= 0),
    claim_value_fen bigint CHECK (claim_value_fen >= 0),
    landed_value_fen bigint CHECK (landed_value_fen >= 0),
    PRIMARY KEY (tenant_id, transfer_id, line_no),
    FOREIGN KEY (tenant_id, transfer_id) REFERENCES transfers (tenant_id, transfer_id),
    FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, item_id),
    CHECK (lost_scaled IS NULL OR lost_scaled <= quantity_scaled)
);

CREATE TRIGGER transfers_no_delete BEFORE DELETE ON transfers FOR EACH ROW EXECUTE FUNCTION reject_change();
CREATE TRIGGER transfer_lines_no_delete BEFORE DELETE ON transfer_lines FOR EACH ROW EXECUTE FUNCTION reject_change();

-- Status only moves forward, and each step by its own party: the sender dispatches or cancels a
-- created transfer, the receiver receives a dispatched one, and HQ trues up a received, flagged
-- one once. The policies let either party update the row; this trigger decides the step.
CREATE FUNCTION transfers_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    poster record;
BEGIN
    SELECT * INTO poster FROM app_poster();
    IF OLD.status = 'received' AND NEW.status = 'received' AND OLD.flagged AND OLD.true_up_fen IS NULL
       AND NEW.true_up_fen IS NOT NULL
       AND (to_jsonb(NEW) - 'true_up_fen' - 'trued_up_by' - 'trued_up_at') = (to_jsonb(OLD) - 'true_up_fen' - 'trued_up_by' - 'trued_up_at')
       AND app_tenant_for_roles('{hq_admin}') = OLD.tenant_id THEN
        RETURN NEW;
    END IF;
    IF OLD.status = 'created' AND NEW.status IN ('dispatched', 'cancelled') AND poster.org_id = OLD.from_org_id THEN
        RETURN NEW;
    END IF;
    IF OLD.status = 'dispatched' AND NEW.status = 'received' AND poster.org_id = OLD.to_org_id THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'transfer % cannot go from % to % by this principal', OLD.transfer_id, OLD.status, NEW.status
        USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER transfers_forward_only BEFORE UPDATE ON transfers FOR EACH ROW EXECUTE FUNCTION transfers_forward_only();

ALTER TABLE stock_moves DROP CONSTRAINT stock_moves_document_type_check;
ALTER TABLE stock_moves ADD CONSTRAINT stock_moves_document_type_check
    CHECK (document_type IN ('purchase_receipt', 'sales_issue', 'stock_count', 'transfer_dispatch', 'transfer_receipt'));

-- Both parties read; the sender creates; either party updates (Swift and the trigger decide
-- which transition is whose).
DO $$
DECLARE
    transfer_table text;
BEGIN
    FOREACH transfer_table IN ARRAY ARRAY['transfers', 'transfer_lines'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', transfer_table);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', transfer_table);
        EXECUTE format($p$CREATE POLICY %I ON %I FOR SELECT TO orgmatrix_app, orgmatrix_auditor
            USING (tenant_id = ANY ((SELECT ARRAY[app_tenant_id()])::uuid[])
                AND (from_org_id = ANY ((SELECT app_visible_orgs())::bigint[]) OR to_org_id = ANY ((SELECT app_visible_orgs())::bigint[])))$p$,
            transfer_table || '_read', transfer_table);
        EXECUTE format($p$CREATE POLICY %I ON %I FOR INSERT TO orgmatrix_app
            WITH CHECK ((tenant_id, from_org_id) = (SELECT p.tenant_id, p.org_id FROM app_poster() p))$p$,
            transfer_table || '_create', transfer_table);
        EXECUTE format($p$CREATE POLICY %I ON %I FOR UPDATE TO orgmatrix_app
            USING ((tenant_id, from_org_id) = (SELECT p.tenant_id, p.org_id FROM app_poster() p)
                OR (tenant_id, to_org_id) = (SELECT p.tenant_id, p.org_id FROM app_poster() p))
            WITH CHECK ((tenant_id, from_org_id) = (SELECT p.tenant_id, p.org_id FROM app_poster() p)
                OR (tenant_id, to_org_id) = (SELECT p.tenant_id, p.org_id FROM app_poster() p))$p$,
            transfer_table || '_advance', transfer_table);
        EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO orgmatrix_owner USING (true) WITH CHECK (true)',
            transfer_table || '_owner', transfer_table);
    END LOOP;
END
$$;

-- HQ trues up flagged transfers of orgs it can see.
CREATE POLICY transfers_true_up ON transfers FOR UPDATE TO orgmatrix_app
    USING (tenant_id = ANY ((SELECT ARRAY[app_tenant_for_roles('{hq_admin}')])::uuid[])
        AND (from_org_id = ANY ((SELECT app_visible_orgs())::bigint[]) OR to_org_id = ANY ((SELECT app_visible_orgs())::bigint[])))
    WITH CHECK (tenant_id = ANY ((SELECT ARRAY[app_tenant_for_roles('{hq_admin}')])::uuid[]));

GRANT SELECT, INSERT ON transfers, transfer_lines TO orgmatrix_app;
GRANT SELECT ON transfers, transfer_lines TO orgmatrix_auditor;
GRANT UPDATE (status, actual_freight_fen, actual_insurance_fen, actual_total_fen, error_ppm, flagged, dispatched_at, received_at,
    cancelled_at, estimate_total_fen, true_up_fen, trued_up_by, trued_up_at) ON transfers TO orgmatrix_app;
GRANT UPDATE (unit_cost_fen, base_cost_fen, freight_fen, insurance_fen, loss_allowance_fen, timeliness_fen, markup_fen, total_fen,
    breakdown, lost_scaled, allowance_scaled, claim_scaled, claim_value_fen, landed_value_fen) ON transfer_lines TO orgmatrix_app;

-- The one cross-org stock write: when the receiver receives a dispatched transfer, the goods
-- leave the sender's in-transit. Only the receiver's principal, only for that transfer, only
-- while it is dispatched.
CREATE FUNCTION app_transfer_arrived(p_transfer_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    poster record;
    transfer record;
BEGIN
    SELECT * INTO poster FROM app_poster();
    SELECT * INTO transfer FROM transfers t WHERE t.tenant_id = poster.tenant_id AND t.transfer_id = p_transfer_id;
    IF poster.tenant_id IS NULL OR transfer.transfer_id IS NULL OR transfer.to_org_id <> poster.org_id OR transfer.status <> 'dispatched' THEN
        RAISE EXCEPTION 'transfer % is not in transit to your org', p_transfer_id USING ERRCODE = '42501';
    END IF;
    UPDATE stock_balances b SET in_transit_scaled = b.in_transit_scaled - l.quantity_scaled, updated_at = now()
      FROM transfer_lines l
     WHERE l.tenant_id = transfer.tenant_id AND l.transfer_id = p_transfer_id
       AND b.tenant_id = l.tenant_id AND b.org_id = transfer.from_org_id AND b.item_id = l.item_id;
END
$$;
GRANT EXECUTE ON FUNCTION app_transfer_arrived(bigint) TO orgmatrix_app;
