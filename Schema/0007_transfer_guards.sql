-- Transfers: the database holds each step to its party, its moment, its own columns and its
-- arithmetic, and moves in-transit stock itself.
--
-- Before this, raw SQL as the application role could insert a transfer in any state, add lines
-- to another org's transfer, release a sender's in-transit as often as it liked
-- (app_transfer_arrived), rewrite prices, book a receipt with any figures, and while taking a
-- legal step rewrite the other steps' columns. Each rule below closes one of those, and was
-- tried with raw SQL (InventoryTests.onlyTheRightPartyAdvancesATransferEvenInRawSQL).
--
-- The trigger functions are SECURITY DEFINER: they read the transfer, its lines, items and
-- rules as the owner, so a principal whose own view is empty (say, with a broken visible-set
-- MAC) cannot make a check pass by seeing nothing. Who acts is still app_poster(), from the
-- signed context. Trigger functions cannot be called directly.

-- Transfers written before these rules must already satisfy them.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM transfer_lines l JOIN transfers t USING (tenant_id, transfer_id)
                WHERE l.from_org_id <> t.from_org_id OR l.to_org_id <> t.to_org_id)
       OR EXISTS (SELECT 1 FROM transfers t
                   WHERE t.estimate_total_fen <> (SELECT coalesce(sum(l.total_fen), 0) FROM transfer_lines l
                                                   WHERE l.tenant_id = t.tenant_id AND l.transfer_id = t.transfer_id)) THEN
        RAISE EXCEPTION 'existing transfers have lines of other orgs or estimates that are not their lines'' sum; repair them first';
    END IF;
END
$$;

-- Integer division rounded half to even, as OrgMatrixCore's Rounding.halfEven does.
CREATE FUNCTION half_even_div(p_numerator numeric, p_denominator numeric) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (CASE WHEN abs(r) * 2 > abs(p_denominator) OR (abs(r) * 2 = abs(p_denominator) AND mod(q, 2) <> 0)
                 THEN q + sign(p_numerator) * sign(p_denominator) ELSE q END)::bigint
      FROM (SELECT div(p_numerator, p_denominator) AS q, mod(p_numerator, p_denominator) AS r) parts
$$;

-- ---- creation: as created, by its sender, on a lane in force, priced by its lines ---------------

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

-- Lines belong to the transaction that created their transfer (its row's xmin; the Store uses
-- no savepoints): same parties, numbered 1, 2, …, one line per item, nothing booked yet.
CREATE FUNCTION transfer_lines_with_their_transfer() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    poster record;
    parent record;
BEGIN
    SELECT * INTO poster FROM app_poster();
    SELECT t.from_org_id, t.to_org_id, t.status, t.xmin = pg_current_xact_id()::xid AS created_now INTO parent
      FROM transfers t WHERE t.tenant_id = NEW.tenant_id AND t.transfer_id = NEW.transfer_id;
    IF parent.created_now IS NOT TRUE OR parent.status <> 'created' OR poster.org_id IS DISTINCT FROM parent.from_org_id
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

ALTER TABLE transfer_lines ADD CONSTRAINT transfer_lines_price_components
    CHECK (base_cost_fen >= 0 AND freight_fen >= 0 AND insurance_fen >= 0 AND loss_allowance_fen >= 0 AND timeliness_fen >= 0
           AND markup_fen >= 0
           AND total_fen = base_cost_fen + freight_fen + insurance_fen + loss_allowance_fen + timeliness_fen + markup_fen);

-- The estimate is the sum of the lines' prices. Checked after the header and after every line
-- (at commit, or at once after SET CONSTRAINTS … IMMEDIATE), so the last state is always checked.
CREATE FUNCTION transfers_priced_by_lines() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    estimate bigint;
BEGIN
    SELECT t.estimate_total_fen INTO estimate FROM transfers t WHERE t.tenant_id = NEW.tenant_id AND t.transfer_id = NEW.transfer_id;
    IF estimate IS DISTINCT FROM
       (SELECT sum(l.total_fen) FROM transfer_lines l WHERE l.tenant_id = NEW.tenant_id AND l.transfer_id = NEW.transfer_id) THEN
        RAISE EXCEPTION 'transfer % is priced at %, not at the sum of its lines', NEW.transfer_id, estimate USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER transfers_priced_by_lines AFTER INSERT ON transfers DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION transfers_priced_by_lines();
CREATE CONSTRAINT TRIGGER transfer_lines_price_their_transfer AFTER INSERT ON transfer_lines DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION transfers_priced_by_lines();

-- The price is fixed at creation: neither party may rewrite it afterwards.
REVOKE UPDATE (estimate_total_fen) ON transfers FROM orgmatrix_app;
REVOKE UPDATE (unit_cost_fen, base_cost_fen, freight_fen, insurance_fen, loss_allowance_fen, timeliness_fen, markup_fen, total_fen,
    breakdown) ON transfer_lines FROM orgmatrix_app;

-- In-transit stock is the database's: dispatch adds a transfer's lines to the sender's, receipt
-- takes them off (triggers below). No principal writes it directly.
REVOKE UPDATE (in_transit_scaled) ON stock_balances FROM orgmatrix_app;
REVOKE INSERT ON stock_balances FROM orgmatrix_app;
GRANT INSERT (tenant_id, org_id, item_id, on_hand_scaled, value_fen, updated_at) ON stock_balances TO orgmatrix_app;

-- ---- the steps: each by its party, now, changing only its own columns, with the arithmetic -----

-- The category's tolerated loss for a line, in the transfer's rule version (absorbed, not claimed).
CREATE FUNCTION transfer_line_allowance(p_tenant uuid, p_rules_version text, p_item bigint, p_quantity bigint) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT half_even_div(p_quantity::numeric * (
               (r.body -> 'categories' -> i.category ->> 'loss_ppm')::bigint
               + CASE WHEN i.shelf_life_days <= (r.body ->> 'short_shelf_life_days')::int
                      THEN coalesce((r.body -> 'categories' -> i.category ->> 'short_shelf_life_extra_loss_ppm')::bigint, 0) ELSE 0 END),
           1000000)
      FROM pricing_rules r JOIN items i ON i.tenant_id = r.tenant_id
     WHERE r.tenant_id = p_tenant AND r.version = p_rules_version AND i.item_id = p_item
$$;
REVOKE EXECUTE ON FUNCTION transfer_line_allowance(uuid, text, bigint, bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION transfers_forward_only() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    poster record;
    tolerance bigint;
    booked boolean;
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
    -- Received once every line is booked, with the pricing error of the actual cost and the
    -- flag the rule version's tolerance gives it (TransferPricing.errorPartsPerMillion; the
    -- tolerance defaults to 8,000 ppm as in TenantFile.PricingEntry).
    SELECT coalesce((r.body ->> 'error_tolerance_ppm')::bigint, 8000) INTO tolerance
      FROM pricing_rules r WHERE r.tenant_id = OLD.tenant_id AND r.version = OLD.rules_version;
    SELECT count(*) > 0 AND count(*) = count(l.landed_value_fen) INTO booked
      FROM transfer_lines l WHERE l.tenant_id = OLD.tenant_id AND l.transfer_id = OLD.transfer_id;
    IF OLD.status = 'dispatched' AND NEW.status = 'received' AND poster.org_id = OLD.to_org_id AND NEW.received_at = now()
       AND (to_jsonb(NEW) - 'status' - 'received_at' - 'actual_freight_fen' - 'actual_insurance_fen' - 'actual_total_fen'
            - 'error_ppm' - 'flagged')
         = (to_jsonb(OLD) - 'status' - 'received_at' - 'actual_freight_fen' - 'actual_insurance_fen' - 'actual_total_fen'
            - 'error_ppm' - 'flagged')
       AND NEW.actual_freight_fen >= 0 AND NEW.actual_insurance_fen >= 0 AND NEW.actual_total_fen >= 0
       AND NEW.error_ppm IS NOT DISTINCT FROM
           (CASE WHEN NEW.actual_total_fen = 0 THEN NULL
                 ELSE half_even_div((OLD.estimate_total_fen - NEW.actual_total_fen)::numeric * 1000000, NEW.actual_total_fen) END)
       AND NEW.flagged = coalesce(abs(NEW.error_ppm) > tolerance, false)
       AND tolerance IS NOT NULL AND booked THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'transfer % cannot go from % to % this way by this principal', OLD.transfer_id, OLD.status, NEW.status
        USING ERRCODE = '42501';
END
$$;

-- A line's receipt is booked once, by the receiver, while the transfer is in transit. Only the
-- lost quantity is the receiver's to say; the rest follows from it: the category's allowance,
-- the claim beyond it and its value at the line's unit cost, and the landed value of what
-- arrived (the line's price pro rata), each rounded half-even as the Store rounds it.
CREATE FUNCTION transfer_lines_booked_once() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    poster record;
    parent record;
    scale bigint;
    allowance bigint;
BEGIN
    SELECT * INTO poster FROM app_poster();
    SELECT t.status, t.to_org_id, t.rules_version INTO parent
      FROM transfers t WHERE t.tenant_id = OLD.tenant_id AND t.transfer_id = OLD.transfer_id;
    SELECT i.quantity_scale INTO scale FROM items i WHERE i.tenant_id = OLD.tenant_id AND i.item_id = OLD.item_id;
    allowance := transfer_line_allowance(OLD.tenant_id, parent.rules_version, OLD.item_id, OLD.quantity_scaled);
    IF parent.status = 'dispatched' AND poster.tenant_id = OLD.tenant_id AND poster.org_id = parent.to_org_id
       AND num_nonnulls(OLD.lost_scaled, OLD.allowance_scaled, OLD.claim_scaled, OLD.claim_value_fen, OLD.landed_value_fen) = 0
       AND (to_jsonb(NEW) - 'lost_scaled' - 'allowance_scaled' - 'claim_scaled' - 'claim_value_fen' - 'landed_value_fen')
         = (to_jsonb(OLD) - 'lost_scaled' - 'allowance_scaled' - 'claim_scaled' - 'claim_value_fen' - 'landed_value_fen')
       AND NEW.lost_scaled BETWEEN 0 AND OLD.quantity_scaled
       AND NEW.allowance_scaled = allowance
       AND NEW.claim_scaled = greatest(0, NEW.lost_scaled - allowance)
       AND NEW.claim_value_fen = half_even_div(OLD.unit_cost_fen::numeric * NEW.claim_scaled, scale)
       AND NEW.landed_value_fen = half_even_div(OLD.total_fen::numeric * (OLD.quantity_scaled - NEW.lost_scaled), OLD.quantity_scaled) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'line % of transfer % is booked by its receiver once, while in transit, from what was lost', OLD.line_no, OLD.transfer_id
        USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER transfer_lines_booked_once BEFORE UPDATE ON transfer_lines FOR EACH ROW EXECUTE FUNCTION transfer_lines_booked_once();

-- ---- in transit: on the road from dispatch to receipt, exactly once each way ---------------------

-- This replaces app_transfer_arrived, which a receiver could call any number of times.
DROP FUNCTION app_transfer_arrived(bigint);

-- Dispatch puts the lines in the sender's in-transit, receipt takes them out. The sender's
-- balances are locked in item order, like every other posting's.
CREATE FUNCTION transfers_move_in_transit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    direction integer := CASE WHEN NEW.status = 'dispatched' THEN 1 ELSE -1 END;
BEGIN
    PERFORM 1 FROM stock_balances b
      WHERE b.tenant_id = NEW.tenant_id AND b.org_id = NEW.from_org_id
        AND b.item_id IN (SELECT l.item_id FROM transfer_lines l WHERE l.tenant_id = NEW.tenant_id AND l.transfer_id = NEW.transfer_id)
      ORDER BY b.item_id
      FOR UPDATE;
    UPDATE stock_balances b SET in_transit_scaled = b.in_transit_scaled + direction * l.quantity_scaled, updated_at = now()
      FROM transfer_lines l
     WHERE l.tenant_id = NEW.tenant_id AND l.transfer_id = NEW.transfer_id
       AND b.tenant_id = l.tenant_id AND b.org_id = NEW.from_org_id AND b.item_id = l.item_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER transfers_move_in_transit AFTER UPDATE ON transfers
    FOR EACH ROW WHEN ((OLD.status = 'created' AND NEW.status = 'dispatched') OR (OLD.status = 'dispatched' AND NEW.status = 'received'))
    EXECUTE FUNCTION transfers_move_in_transit();

REVOKE EXECUTE ON FUNCTION transfers_created_as_created(), transfer_lines_with_their_transfer(), transfers_priced_by_lines(),
    transfers_forward_only(), transfer_lines_booked_once(), transfers_move_in_transit() FROM PUBLIC;
