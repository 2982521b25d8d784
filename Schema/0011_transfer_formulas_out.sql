-- Transfers: the formulas leave the database; what a database is for stays.
--
-- Every transfer figure is computed once, by the state machine in OrgMatrixCore (Transfers/), and
-- the ledger verifier recomputes each from the signed evidence, so a wrong figure is caught
-- whoever wrote it. 0007 computed them a second time in PL/pgSQL: the loss allowance
-- (transfer_line_allowance), the claim and its value and the landed value a receipt books, the
-- pricing error and flag of the receipt, and the true-up amount, all through half_even_div.
-- Those checks go; raw SQL by the receiver with figures the rules do not give is written as
-- given, and named by the verifier (InventoryTests.onlyTheRightPartyAdvancesATransferEvenInRawSQL).
--
-- What stays, and holds whoever writes: row-level security; who may write which table and
-- column; states only forward, each step by its party (the sender dispatches or cancels, the
-- receiver receives, hq_admin trues up and settles the claim), at now(), changing only its own
-- columns; lines booked once; an estimate that is the sum of its lines and a line total that is
-- the sum of its components (0007); a state with exactly its moves (0009); non-negative amounts.
--
-- New: HQ's settlement of a receipt's claim, once, for 0 … the claim's value (the sum of the
-- lines' claim values); and each line keeps the goods as they were priced (the item's weight,
-- category and shelf life then), so an item edited later changes no order or its receipt.

-- ---- the goods as priced ----------------------------------------------------------------------------

ALTER TABLE transfer_lines ADD COLUMN weight_grams_per_unit bigint, ADD COLUMN category text, ADD COLUMN shelf_life_days integer;
-- Lines written before this had no record of the item as priced: they take it as it is now.
-- Backfilling is the owner's one edit of booked lines; the step trigger refuses every other.
ALTER TABLE transfer_lines DISABLE TRIGGER transfer_lines_booked_once;
UPDATE transfer_lines l SET weight_grams_per_unit = i.weight_grams_per_unit, category = i.category, shelf_life_days = i.shelf_life_days
  FROM items i WHERE i.tenant_id = l.tenant_id AND i.item_id = l.item_id;
ALTER TABLE transfer_lines ENABLE TRIGGER transfer_lines_booked_once;
ALTER TABLE transfer_lines ALTER COLUMN weight_grams_per_unit SET NOT NULL, ALTER COLUMN category SET NOT NULL,
    ALTER COLUMN shelf_life_days SET NOT NULL;
-- transfer_lines keeps the table-wide INSERT of 0006, so the sender inserts these with the
-- line; nobody updates them (no UPDATE grant).

-- Lines belong to the transaction that created their transfer (its row's xmin; the Store uses
-- no savepoints): same parties, numbered 1, 2, …, one line per item, the item as it is now,
-- nothing booked yet.
CREATE OR REPLACE FUNCTION transfer_lines_with_their_transfer() RETURNS trigger
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
       OR NOT EXISTS (SELECT 1 FROM items i
                       WHERE i.tenant_id = NEW.tenant_id AND i.item_id = NEW.item_id AND i.weight_grams_per_unit = NEW.weight_grams_per_unit
                         AND i.category = NEW.category AND i.shelf_life_days = NEW.shelf_life_days)
       OR num_nonnulls(NEW.lost_scaled, NEW.allowance_scaled, NEW.claim_scaled, NEW.claim_value_fen, NEW.landed_value_fen) > 0
    THEN
        RAISE EXCEPTION 'lines are added to a transfer by the transaction that creates it, numbered in order, one per item, as the item is'
            USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;

-- ---- HQ's settlement of the claim -------------------------------------------------------------------

ALTER TABLE transfers ADD COLUMN claim_recovered_fen bigint CHECK (claim_recovered_fen >= 0), ADD COLUMN claim_settled_by bigint,
    ADD COLUMN claim_settled_at timestamptz;
GRANT UPDATE (claim_recovered_fen, claim_settled_by, claim_settled_at) ON transfers TO orgmatrix_app;

-- Created as created: no step's columns set, the claim settlement's included (transfers keeps
-- the table-wide INSERT of 0006). As 0010 has it otherwise.
CREATE OR REPLACE FUNCTION transfers_created_as_created() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    poster record;
BEGIN
    SELECT * INTO poster FROM app_poster();
    -- The id is the tenant's next (assign_tenant_id ran first, whatever the client sent).
    IF NEW.tenant_id IS DISTINCT FROM poster.tenant_id OR NEW.from_org_id IS DISTINCT FROM poster.org_id
       OR NEW.created_by IS DISTINCT FROM poster.principal_id OR NEW.created_at <> now()
       OR NEW.status <> 'created' OR NEW.flagged
       OR num_nonnulls(NEW.actual_freight_fen, NEW.actual_insurance_fen, NEW.actual_total_fen, NEW.error_ppm, NEW.true_up_fen,
                       NEW.trued_up_by, NEW.trued_up_at, NEW.dispatched_at, NEW.received_at, NEW.cancelled_at, NEW.claim_recovered_fen,
                       NEW.claim_settled_by, NEW.claim_settled_at) > 0
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

-- ---- the steps: each by its party, now, changing only its own columns, in order --------------------

-- The receiver's receipt, once every line is booked, with its actual figures stated (Core
-- computed them; the CHECKs of 0006 keep them non-negative). HQ's true-up of a flagged transfer,
-- once; HQ's settlement of a claim the receipt made, once, for no more than its value; the two
-- in either order.
CREATE OR REPLACE FUNCTION transfers_forward_only() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    poster record;
    booked boolean;
    claimed numeric;
BEGIN
    SELECT * INTO poster FROM app_poster();
    IF OLD.status = 'received' AND NEW.status = 'received' AND app_tenant_for_roles('{hq_admin}') IS NOT DISTINCT FROM OLD.tenant_id THEN
        IF OLD.flagged AND OLD.true_up_fen IS NULL
           AND NEW.true_up_fen IS NOT NULL AND NEW.trued_up_by = poster.principal_id AND NEW.trued_up_at = now()
           AND (to_jsonb(NEW) - 'true_up_fen' - 'trued_up_by' - 'trued_up_at') = (to_jsonb(OLD) - 'true_up_fen' - 'trued_up_by' - 'trued_up_at')
        THEN
            RETURN NEW;
        END IF;
        SELECT sum(l.claim_value_fen) INTO claimed
          FROM transfer_lines l WHERE l.tenant_id = OLD.tenant_id AND l.transfer_id = OLD.transfer_id;
        IF OLD.claim_recovered_fen IS NULL AND claimed > 0 AND NEW.claim_recovered_fen BETWEEN 0 AND claimed
           AND NEW.claim_settled_by = poster.principal_id AND NEW.claim_settled_at = now()
           AND (to_jsonb(NEW) - 'claim_recovered_fen' - 'claim_settled_by' - 'claim_settled_at')
             = (to_jsonb(OLD) - 'claim_recovered_fen' - 'claim_settled_by' - 'claim_settled_at') THEN
            RETURN NEW;
        END IF;
    END IF;
    IF OLD.status = 'created' AND poster.org_id = OLD.from_org_id
       AND (to_jsonb(NEW) - 'status' - 'dispatched_at' - 'cancelled_at') = (to_jsonb(OLD) - 'status' - 'dispatched_at' - 'cancelled_at')
       AND ((NEW.status = 'dispatched' AND NEW.dispatched_at = now() AND NEW.cancelled_at IS NULL)
            OR (NEW.status = 'cancelled' AND NEW.cancelled_at = now() AND NEW.dispatched_at IS NULL)) THEN
        RETURN NEW;
    END IF;
    SELECT count(*) > 0 AND count(*) = count(l.landed_value_fen) INTO booked
      FROM transfer_lines l WHERE l.tenant_id = OLD.tenant_id AND l.transfer_id = OLD.transfer_id;
    IF OLD.status = 'dispatched' AND NEW.status = 'received' AND poster.org_id = OLD.to_org_id AND NEW.received_at = now()
       AND (to_jsonb(NEW) - 'status' - 'received_at' - 'actual_freight_fen' - 'actual_insurance_fen' - 'actual_total_fen'
            - 'error_ppm' - 'flagged')
         = (to_jsonb(OLD) - 'status' - 'received_at' - 'actual_freight_fen' - 'actual_insurance_fen' - 'actual_total_fen'
            - 'error_ppm' - 'flagged')
       AND num_nonnulls(NEW.actual_freight_fen, NEW.actual_insurance_fen, NEW.actual_total_fen) = 3 AND booked THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'transfer % cannot go from % to % this way by this principal', OLD.transfer_id, OLD.status, NEW.status
        USING ERRCODE = '42501';
END
$$;

-- A line's receipt is booked once, by the receiver, while the transfer is in transit: what was
-- lost (0 … what was sent), and the allowance, claim, claim value and landed value Core computed
-- from it, all five together.
CREATE OR REPLACE FUNCTION transfer_lines_booked_once() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    poster record;
    parent record;
BEGIN
    SELECT * INTO poster FROM app_poster();
    SELECT t.status, t.to_org_id INTO parent FROM transfers t WHERE t.tenant_id = OLD.tenant_id AND t.transfer_id = OLD.transfer_id;
    IF parent.status = 'dispatched' AND poster.tenant_id = OLD.tenant_id AND poster.org_id = parent.to_org_id
       AND num_nonnulls(OLD.lost_scaled, OLD.allowance_scaled, OLD.claim_scaled, OLD.claim_value_fen, OLD.landed_value_fen) = 0
       AND num_nonnulls(NEW.lost_scaled, NEW.allowance_scaled, NEW.claim_scaled, NEW.claim_value_fen, NEW.landed_value_fen) = 5
       AND (to_jsonb(NEW) - 'lost_scaled' - 'allowance_scaled' - 'claim_scaled' - 'claim_value_fen' - 'landed_value_fen')
         = (to_jsonb(OLD) - 'lost_scaled' - 'allowance_scaled' - 'claim_scaled' - 'claim_value_fen' - 'landed_value_fen')
       AND NEW.lost_scaled BETWEEN 0 AND OLD.quantity_scaled THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'line % of transfer % is booked by its receiver once, while in transit, every figure together', OLD.line_no, OLD.transfer_id
        USING ERRCODE = '42501';
END
$$;

-- Nothing calls these any more.
DROP FUNCTION transfer_line_allowance(uuid, text, bigint, bigint);
DROP FUNCTION half_even_div(numeric, numeric);
