-- Transfers: balance locks in item order, and the database holding each step to what it may change.
--
-- Stock postings lock balance rows in item order (the Store locks a posting's balances with one
-- SELECT … ORDER BY item_id FOR UPDATE), so two postings never each hold a row the other waits
-- for. The receipt's release of the sender's in-transit now follows the same order: it used to
-- lock in whatever order its join produced, which could deadlock against a dispatch at the sender.
CREATE OR REPLACE FUNCTION app_transfer_arrived(p_transfer_id bigint) RETURNS void
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
    PERFORM 1 FROM stock_balances b
      WHERE b.tenant_id = transfer.tenant_id AND b.org_id = transfer.from_org_id
        AND b.item_id IN (SELECT l.item_id FROM transfer_lines l WHERE l.tenant_id = transfer.tenant_id AND l.transfer_id = p_transfer_id)
      ORDER BY b.item_id
      FOR UPDATE;
    UPDATE stock_balances b SET in_transit_scaled = b.in_transit_scaled - l.quantity_scaled, updated_at = now()
      FROM transfer_lines l
     WHERE l.tenant_id = transfer.tenant_id AND l.transfer_id = p_transfer_id
       AND b.tenant_id = l.tenant_id AND b.org_id = transfer.from_org_id AND b.item_id = l.item_id;
END
$$;

-- A transfer's price is fixed when it is created: neither party may rewrite it afterwards.
REVOKE UPDATE (estimate_total_fen) ON transfers FROM orgmatrix_app;
REVOKE UPDATE (unit_cost_fen, base_cost_fen, freight_fen, insurance_fen, loss_allowance_fen, timeliness_fen, markup_fen, total_fen,
    breakdown) ON transfer_lines FROM orgmatrix_app;

-- Each step changes only its own columns: dispatch and cancel their status and time; the receipt
-- its status, time, actual costs, pricing error and flag; HQ's true-up only the true-up. Before,
-- a party taking a legal step could rewrite the other step's columns in the same statement.
CREATE OR REPLACE FUNCTION transfers_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    poster record;
    unchanged boolean;
BEGIN
    SELECT * INTO poster FROM app_poster();
    IF OLD.status = 'received' AND NEW.status = 'received' AND OLD.flagged AND OLD.true_up_fen IS NULL
       AND NEW.true_up_fen IS NOT NULL
       AND (to_jsonb(NEW) - 'true_up_fen' - 'trued_up_by' - 'trued_up_at') = (to_jsonb(OLD) - 'true_up_fen' - 'trued_up_by' - 'trued_up_at')
       AND app_tenant_for_roles('{hq_admin}') = OLD.tenant_id THEN
        RETURN NEW;
    END IF;
    unchanged := (to_jsonb(NEW) - 'status' - 'dispatched_at' - 'cancelled_at') = (to_jsonb(OLD) - 'status' - 'dispatched_at' - 'cancelled_at');
    IF OLD.status = 'created' AND NEW.status IN ('dispatched', 'cancelled') AND poster.org_id = OLD.from_org_id AND unchanged THEN
        RETURN NEW;
    END IF;
    unchanged := (to_jsonb(NEW) - 'status' - 'received_at' - 'actual_freight_fen' - 'actual_insurance_fen' - 'actual_total_fen'
                  - 'error_ppm' - 'flagged')
               = (to_jsonb(OLD) - 'status' - 'received_at' - 'actual_freight_fen' - 'actual_insurance_fen' - 'actual_total_fen'
                  - 'error_ppm' - 'flagged');
    IF OLD.status = 'dispatched' AND NEW.status = 'received' AND poster.org_id = OLD.to_org_id AND unchanged THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'transfer % cannot go from % to % by this principal, or change what it changed', OLD.transfer_id, OLD.status, NEW.status
        USING ERRCODE = '42501';
END
$$;

-- A line's receipt columns are written once, by the receiver, while the transfer is in transit
-- (the Store books the lines before it marks the transfer received).
CREATE FUNCTION transfer_lines_booked_once() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    poster record;
    parent record;
BEGIN
    SELECT * INTO poster FROM app_poster();
    SELECT t.status, t.to_org_id INTO parent FROM transfers t WHERE t.tenant_id = OLD.tenant_id AND t.transfer_id = OLD.transfer_id;
    IF parent.status = 'dispatched' AND poster.tenant_id = OLD.tenant_id AND poster.org_id = parent.to_org_id
       AND OLD.lost_scaled IS NULL AND OLD.allowance_scaled IS NULL AND OLD.claim_scaled IS NULL AND OLD.claim_value_fen IS NULL
       AND OLD.landed_value_fen IS NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'line % of transfer % is booked by its receiver once, while in transit', OLD.line_no, OLD.transfer_id
        USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER transfer_lines_booked_once BEFORE UPDATE ON transfer_lines FOR EACH ROW EXECUTE FUNCTION transfer_lines_booked_once();
