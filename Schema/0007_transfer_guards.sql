-- Transfers: the database holds each step to its party, its moment and its own columns, and
-- stock balances are locked in item order.
--
-- Before this, the policies let a principal insert a transfer in any state, add lines to another
-- org's transfer, release a sender's in-transit as often as it liked (app_transfer_arrived) and,
-- while taking a legal step, rewrite the other steps' columns. Each rule below closes one of those.

-- ---- creation: a new transfer is created, on a lane in force, by its sender, priced by its lines

CREATE FUNCTION transfers_created_as_created() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    poster record;
BEGIN
    SELECT * INTO poster FROM app_poster();
    -- The id must be the one the identity just drew: OVERRIDING SYSTEM VALUE could otherwise
    -- claim ids other orgs' transfers will need.
    IF NEW.transfer_id IS DISTINCT FROM currval(pg_get_serial_sequence('public.transfers', 'transfer_id'))
       OR NEW.tenant_id IS DISTINCT FROM poster.tenant_id OR NEW.from_org_id IS DISTINCT FROM poster.org_id
       OR NEW.created_by IS DISTINCT FROM poster.principal_id OR NEW.created_at <> now()
       OR NEW.status <> 'created' OR NEW.flagged
       OR num_nonnulls(NEW.actual_freight_fen, NEW.actual_insurance_fen, NEW.actual_total_fen, NEW.error_ppm, NEW.true_up_fen,
                       NEW.trued_up_by, NEW.trued_up_at, NEW.dispatched_at, NEW.received_at, NEW.cancelled_at) > 0
       OR NOT EXISTS (
           SELECT 1 FROM relations r
            WHERE r.tenant_id = NEW.tenant_id AND r.relation_id = NEW.relation_id AND r.kind = 'transfers_with'
              AND r.from_org_id = NEW.from_org_id AND r.to_org_id = NEW.to_org_id
              AND r.valid_from <= now() AND (r.valid_to IS NULL OR now() < r.valid_to))
    THEN
        RAISE EXCEPTION 'a transfer is created by its sender, as created, on a transfers_with lane in force' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER transfers_created_as_created BEFORE INSERT ON transfers FOR EACH ROW EXECUTE FUNCTION transfers_created_as_created();

-- Lines belong to the transaction that created their transfer: same parties, numbered 1, 2, …,
-- one line per item, nothing booked yet.
CREATE FUNCTION transfer_lines_with_their_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent record;
BEGIN
    SELECT t.from_org_id, t.to_org_id, t.status, t.xmin = pg_current_xact_id()::xid AS created_now INTO parent
      FROM transfers t WHERE t.tenant_id = NEW.tenant_id AND t.transfer_id = NEW.transfer_id;
    IF parent.created_now IS NOT TRUE OR parent.status <> 'created'
       OR NEW.from_org_id <> parent.from_org_id OR NEW.to_org_id <> parent.to_org_id
       OR NEW.line_no <> 1 + (SELECT count(*) FROM transfer_lines l WHERE l.tenant_id = NEW.tenant_id AND l.transfer_id = NEW.transfer_id)
       OR EXISTS (SELECT 1 FROM transfer_lines l
                   WHERE l.tenant_id = NEW.tenant_id AND l.transfer_id = NEW.transfer_id AND l.item_id = NEW.item_id)
       OR num_nonnulls(NEW.lost_scaled, NEW.allowance_scaled, NEW.claim_scaled, NEW.claim_value_fen, NEW.landed_value_fen) > 0
    THEN
        RAISE EXCEPTION 'lines are added to a transfer by the transaction that creates it, numbered in order, one per item'
            USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER transfer_lines_with_their_transfer BEFORE INSERT ON transfer_lines
    FOR EACH ROW EXECUTE FUNCTION transfer_lines_with_their_transfer();

ALTER TABLE transfer_lines ADD CONSTRAINT transfer_lines_total_is_its_components
    CHECK (total_fen = base_cost_fen + freight_fen + insurance_fen + loss_allowance_fen + timeliness_fen + markup_fen);

-- Checked at commit, when all lines are in: the estimate is the sum of the lines' prices.
CREATE FUNCTION transfers_priced_by_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.estimate_total_fen IS DISTINCT FROM
       (SELECT sum(l.total_fen) FROM transfer_lines l WHERE l.tenant_id = NEW.tenant_id AND l.transfer_id = NEW.transfer_id) THEN
        RAISE EXCEPTION 'transfer % is priced at %, not at the sum of its lines', NEW.transfer_id, NEW.estimate_total_fen
            USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER transfers_priced_by_lines AFTER INSERT ON transfers DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION transfers_priced_by_lines();

-- The price is fixed at creation: neither party may rewrite it afterwards.
REVOKE UPDATE (estimate_total_fen) ON transfers FROM orgmatrix_app;
REVOKE UPDATE (unit_cost_fen, base_cost_fen, freight_fen, insurance_fen, loss_allowance_fen, timeliness_fen, markup_fen, total_fen,
    breakdown) ON transfer_lines FROM orgmatrix_app;

-- ---- the steps: each by its party, now, changing only its own columns --------------------------

CREATE OR REPLACE FUNCTION transfers_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    poster record;
BEGIN
    SELECT * INTO poster FROM app_poster();
    IF OLD.status = 'received' AND NEW.status = 'received' AND OLD.flagged AND OLD.true_up_fen IS NULL
       AND NEW.true_up_fen = OLD.actual_total_fen - OLD.estimate_total_fen
       AND NEW.trued_up_by = poster.principal_id AND NEW.trued_up_at = now()
       AND (to_jsonb(NEW) - 'true_up_fen' - 'trued_up_by' - 'trued_up_at') = (to_jsonb(OLD) - 'true_up_fen' - 'trued_up_by' - 'trued_up_at')
       AND app_tenant_for_roles('{hq_admin}') = OLD.tenant_id THEN
        RETURN NEW;
    END IF;
    IF OLD.status = 'created' AND poster.org_id = OLD.from_org_id
       AND (to_jsonb(NEW) - 'status' - 'dispatched_at' - 'cancelled_at') = (to_jsonb(OLD) - 'status' - 'dispatched_at' - 'cancelled_at')
       AND ((NEW.status = 'dispatched' AND NEW.dispatched_at = now() AND NEW.cancelled_at IS NULL)
            OR (NEW.status = 'cancelled' AND NEW.cancelled_at = now() AND NEW.dispatched_at IS NULL)) THEN
        RETURN NEW;
    END IF;
    -- Received only once every line is booked (loss, allowance, claim, landed value).
    IF OLD.status = 'dispatched' AND NEW.status = 'received' AND poster.org_id = OLD.to_org_id AND NEW.received_at = now()
       AND (to_jsonb(NEW) - 'status' - 'received_at' - 'actual_freight_fen' - 'actual_insurance_fen' - 'actual_total_fen'
            - 'error_ppm' - 'flagged')
         = (to_jsonb(OLD) - 'status' - 'received_at' - 'actual_freight_fen' - 'actual_insurance_fen' - 'actual_total_fen'
            - 'error_ppm' - 'flagged')
       AND num_nonnulls(NEW.actual_freight_fen, NEW.actual_insurance_fen, NEW.actual_total_fen) = 3
       AND NOT EXISTS (SELECT 1 FROM transfer_lines l
                        WHERE l.tenant_id = OLD.tenant_id AND l.transfer_id = OLD.transfer_id AND l.landed_value_fen IS NULL) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'transfer % cannot go from % to % this way by this principal', OLD.transfer_id, OLD.status, NEW.status
        USING ERRCODE = '42501';
END
$$;

-- A line's receipt is booked once, by the receiver, while the transfer is in transit, all at
-- once and consistent: the claim is what was lost beyond the allowance, and no more arrives
-- than was sent.
CREATE FUNCTION transfer_lines_booked_once() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    poster record;
    parent record;
BEGIN
    SELECT * INTO poster FROM app_poster();
    SELECT t.status, t.to_org_id INTO parent FROM transfers t WHERE t.tenant_id = OLD.tenant_id AND t.transfer_id = OLD.transfer_id;
    IF parent.status = 'dispatched' AND poster.tenant_id = OLD.tenant_id AND poster.org_id = parent.to_org_id
       AND num_nonnulls(OLD.lost_scaled, OLD.allowance_scaled, OLD.claim_scaled, OLD.claim_value_fen, OLD.landed_value_fen) = 0
       AND num_nulls(NEW.lost_scaled, NEW.allowance_scaled, NEW.claim_scaled, NEW.claim_value_fen, NEW.landed_value_fen) = 0
       AND NEW.claim_scaled = greatest(0, NEW.lost_scaled - NEW.allowance_scaled)
       AND NEW.landed_value_fen <= NEW.total_fen THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'line % of transfer % is booked by its receiver once, while in transit', OLD.line_no, OLD.transfer_id
        USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER transfer_lines_booked_once BEFORE UPDATE ON transfer_lines FOR EACH ROW EXECUTE FUNCTION transfer_lines_booked_once();

-- ---- arrival: the goods leave the sender's in-transit exactly once, when the transfer is received

-- This replaces app_transfer_arrived, which a receiver could call any number of times. The
-- sender's balances are locked in item order, like every other posting's, so a receipt and a
-- dispatch at the sender never each hold a row the other waits for.
DROP FUNCTION app_transfer_arrived(bigint);

CREATE FUNCTION transfers_release_in_transit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM 1 FROM stock_balances b
      WHERE b.tenant_id = NEW.tenant_id AND b.org_id = NEW.from_org_id
        AND b.item_id IN (SELECT l.item_id FROM transfer_lines l WHERE l.tenant_id = NEW.tenant_id AND l.transfer_id = NEW.transfer_id)
      ORDER BY b.item_id
      FOR UPDATE;
    UPDATE stock_balances b SET in_transit_scaled = b.in_transit_scaled - l.quantity_scaled, updated_at = now()
      FROM transfer_lines l
     WHERE l.tenant_id = NEW.tenant_id AND l.transfer_id = NEW.transfer_id
       AND b.tenant_id = l.tenant_id AND b.org_id = NEW.from_org_id AND b.item_id = l.item_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER transfers_release_in_transit AFTER UPDATE ON transfers
    FOR EACH ROW WHEN (OLD.status = 'dispatched' AND NEW.status = 'received') EXECUTE FUNCTION transfers_release_in_transit();
