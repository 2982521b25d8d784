-- Stock moves are the only write: the database keeps every balance (on hand and its value, in
-- transit and its value) from them in the same transaction, so balance = Σ moves holds whoever
-- writes, and a transfer changes state only together with exactly its moves.
--
-- Before this, Swift wrote balances itself beside its moves. A count read the balance, found no
-- row for an item the warehouse never held, and wrote one with ON CONFLICT … SET on_hand =
-- counted: two such counts, or a count racing receipts, overwrote each other and left the
-- balance away from the sum of its moves (InventoryTests.concurrentCountsOfAnItemNeverHeld…,
-- aCountRacingReceipts…: 9 and 5 of 10 tries). In-transit stock was a number triggers moved on
-- dispatch and receipt, with no move behind it.
--
-- Moves now carry a bucket. A dispatch is −q on hand and +q in transit at the sender (at the
-- moving-average cost Core computed, the same value both ways); a receipt is −q in transit at
-- the sender (inserted here, the one cross-org stock write) and +arrived on hand at the
-- receiver at the landed value. Lost goods leave in-transit with their value; the claim for
-- them is the transfer line's.

-- ---- refuse to run on books that do not hold ------------------------------------------------------
-- Existing balances must already equal their moves, and transfers their lines. A mismatch means
-- postings were lost or overwritten (the race above); recomputing balances from the moves would
-- pick one side silently and hide which. Repair first: append correcting moves as the owner, or
-- set the balances to their moves, after looking at what happened.
DO $$
DECLARE
    wrong text;
BEGIN
    SELECT string_agg(format('tenant %s org %s item %s', tenant_id, org_id, item_id), '; ') INTO wrong FROM (
        SELECT coalesce(b.tenant_id, m.tenant_id) AS tenant_id, coalesce(b.org_id, m.org_id) AS org_id, coalesce(b.item_id, m.item_id) AS item_id
          FROM stock_balances b
          FULL JOIN (SELECT tenant_id, org_id, item_id, sum(quantity_scaled) AS quantity, sum(value_fen) AS value
                       FROM stock_moves GROUP BY tenant_id, org_id, item_id) m USING (tenant_id, org_id, item_id)
          FULL JOIN (SELECT l.tenant_id, l.from_org_id AS org_id, l.item_id, sum(l.quantity_scaled) AS quantity
                       FROM transfer_lines l JOIN transfers t USING (tenant_id, transfer_id)
                      WHERE t.status = 'dispatched' GROUP BY l.tenant_id, l.from_org_id, l.item_id) r
            ON r.tenant_id = coalesce(b.tenant_id, m.tenant_id) AND r.org_id = coalesce(b.org_id, m.org_id)
           AND r.item_id = coalesce(b.item_id, m.item_id)
         WHERE coalesce(b.on_hand_scaled, 0) <> coalesce(m.quantity, 0) OR coalesce(b.value_fen, 0) <> coalesce(m.value, 0)
            OR coalesce(b.in_transit_scaled, 0) <> coalesce(r.quantity, 0)
         LIMIT 20) bad;
    IF wrong IS NOT NULL THEN
        RAISE EXCEPTION 'stock balances differ from the sum of their moves (%); repair them before this migration', wrong;
    END IF;
    SELECT string_agg(format('tenant %s transfer %s item %s', tenant_id, transfer_id, item_id), '; ') INTO wrong FROM (
        SELECT t.tenant_id, t.transfer_id, l.item_id FROM transfers t JOIN transfer_lines l USING (tenant_id, transfer_id)
         WHERE coalesce((SELECT sum(m.quantity_scaled) FROM stock_moves m
                          WHERE m.tenant_id = t.tenant_id AND m.document_type = 'transfer_dispatch' AND m.document_id = t.transfer_id
                            AND m.org_id = t.from_org_id AND m.item_id = l.item_id), 0)
               <> CASE WHEN t.status IN ('dispatched', 'received') THEN -l.quantity_scaled ELSE 0 END
            OR coalesce((SELECT sum(m.quantity_scaled) FROM stock_moves m
                          WHERE m.tenant_id = t.tenant_id AND m.document_type = 'transfer_receipt' AND m.document_id = t.transfer_id
                            AND m.org_id = t.to_org_id AND m.item_id = l.item_id), 0)
               <> CASE WHEN t.status = 'received' THEN l.quantity_scaled - l.lost_scaled ELSE 0 END
         LIMIT 20) bad;
    IF wrong IS NOT NULL THEN
        RAISE EXCEPTION 'transfers whose moves are not their lines (%); repair them before this migration', wrong;
    END IF;
END
$$;

-- ---- in transit as moves ------------------------------------------------------------------------

ALTER TABLE stock_moves ADD COLUMN bucket text NOT NULL DEFAULT 'on_hand' CHECK (bucket IN ('on_hand', 'in_transit'));
-- 0008 grants INSERT on stock_moves column by column; the bucket is the poster's to say.
GRANT INSERT (bucket) ON stock_moves TO orgmatrix_app;
ALTER TABLE stock_moves ADD CONSTRAINT stock_moves_in_transit_by_transfers
    CHECK (bucket = 'on_hand' OR document_type IN ('transfer_dispatch', 'transfer_receipt'));
CREATE INDEX stock_moves_document ON stock_moves (tenant_id, document_id, document_type);

ALTER TABLE stock_balances ADD COLUMN in_transit_value_fen bigint NOT NULL DEFAULT 0 CHECK (in_transit_value_fen >= 0);
ALTER TABLE stock_balances ADD CONSTRAINT stock_balances_in_transit_valued CHECK (in_transit_scaled > 0 OR in_transit_value_fen = 0);

-- Transfers dispatched before this: their in-transit moves, at the value that left on hand, and
-- for those received since, the moves that took them out again.
INSERT INTO stock_moves (tenant_id, org_id, item_id, quantity_scaled, value_fen, unit_cost_fen, document_type, document_id, principal_id,
    occurred_at, bucket)
SELECT m.tenant_id, m.org_id, m.item_id, -m.quantity_scaled, -m.value_fen, m.unit_cost_fen, 'transfer_dispatch', m.document_id,
    m.principal_id, m.occurred_at, 'in_transit'
  FROM stock_moves m WHERE m.document_type = 'transfer_dispatch'
 ORDER BY m.move_id;
INSERT INTO stock_moves (tenant_id, org_id, item_id, quantity_scaled, value_fen, unit_cost_fen, document_type, document_id, principal_id,
    occurred_at, bucket)
SELECT m.tenant_id, m.org_id, m.item_id, -m.quantity_scaled, -m.value_fen, m.unit_cost_fen, 'transfer_receipt', m.document_id,
    coalesce((SELECT r.principal_id FROM stock_moves r WHERE r.tenant_id = m.tenant_id AND r.document_type = 'transfer_receipt'
               AND r.document_id = m.document_id ORDER BY r.move_id LIMIT 1), m.principal_id),
    t.received_at, 'in_transit'
  FROM stock_moves m JOIN transfers t ON t.tenant_id = m.tenant_id AND t.transfer_id = m.document_id
 WHERE m.document_type = 'transfer_dispatch' AND m.bucket = 'in_transit' AND t.status = 'received'
 ORDER BY m.move_id;
UPDATE stock_balances b SET in_transit_value_fen = m.value
  FROM (SELECT tenant_id, org_id, item_id, sum(value_fen) AS value FROM stock_moves WHERE bucket = 'in_transit'
         GROUP BY tenant_id, org_id, item_id) m
 WHERE (b.tenant_id, b.org_id, b.item_id) = (m.tenant_id, m.org_id, m.item_id) AND m.value <> 0;

-- ---- balances are the moves' ---------------------------------------------------------------------

-- Locks the balances of (tenant, org, items) in item order, creating those that do not exist
-- yet as zeros: INSERT … ON CONFLICT waits for a concurrent transaction creating the same row,
-- and DO UPDATE … WHERE false locks the row it conflicts with without writing it. So whoever
-- locks second sees what the first wrote, whether or not the row existed before either.
CREATE FUNCTION stock_balances_lock(p_tenant uuid, p_orgs bigint[], p_items bigint[]) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    INSERT INTO stock_balances (tenant_id, org_id, item_id)
    SELECT DISTINCT p_tenant, k.org_id, k.item_id FROM unnest(p_orgs, p_items) AS k (org_id, item_id)
     ORDER BY 2, 3
    ON CONFLICT (tenant_id, org_id, item_id) DO UPDATE SET updated_at = EXCLUDED.updated_at WHERE false
$$;
REVOKE EXECUTE ON FUNCTION stock_balances_lock(uuid, bigint[], bigint[]) FROM PUBLIC;

-- Every statement's moves, added to their balances: locked (or created) in (org, item) order,
-- then each balance changed once by the sum of its moves. The balances' CHECKs keep stock and
-- value from going negative.
CREATE FUNCTION stock_moves_to_balances() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    keys record;
BEGIN
    FOR keys IN SELECT m.tenant_id, array_agg(m.org_id) AS orgs, array_agg(m.item_id) AS items FROM new_moves m GROUP BY m.tenant_id LOOP
        PERFORM stock_balances_lock(keys.tenant_id, keys.orgs, keys.items);
    END LOOP;
    UPDATE stock_balances b
       SET on_hand_scaled = b.on_hand_scaled + d.on_hand, value_fen = b.value_fen + d.value,
           in_transit_scaled = b.in_transit_scaled + d.in_transit, in_transit_value_fen = b.in_transit_value_fen + d.in_transit_value,
           updated_at = now()
      FROM (SELECT m.tenant_id, m.org_id, m.item_id,
                   coalesce(sum(m.quantity_scaled) FILTER (WHERE m.bucket = 'on_hand'), 0) AS on_hand,
                   coalesce(sum(m.value_fen) FILTER (WHERE m.bucket = 'on_hand'), 0) AS value,
                   coalesce(sum(m.quantity_scaled) FILTER (WHERE m.bucket = 'in_transit'), 0) AS in_transit,
                   coalesce(sum(m.value_fen) FILTER (WHERE m.bucket = 'in_transit'), 0) AS in_transit_value
              FROM new_moves m GROUP BY m.tenant_id, m.org_id, m.item_id) d
     WHERE (b.tenant_id, b.org_id, b.item_id) = (d.tenant_id, d.org_id, d.item_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER stock_moves_to_balances AFTER INSERT ON stock_moves REFERENCING NEW TABLE AS new_moves
    FOR EACH STATEMENT EXECUTE FUNCTION stock_moves_to_balances();

-- Nobody else writes a balance, the owner included: a row is created as zeros (by the lock) and
-- changed only from inside the moves trigger.
CREATE FUNCTION stock_balances_from_moves_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    IF pg_trigger_depth() > 1
       OR (TG_OP = 'INSERT' AND NEW.on_hand_scaled = 0 AND NEW.value_fen = 0 AND NEW.in_transit_scaled = 0 AND NEW.in_transit_value_fen = 0) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'stock balances are written by the database from stock moves only; insert a move' USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER stock_balances_from_moves_only BEFORE INSERT OR UPDATE ON stock_balances
    FOR EACH ROW EXECUTE FUNCTION stock_balances_from_moves_only();

-- The application reads balances and locks its own org's; it writes none.
REVOKE INSERT, UPDATE ON stock_balances FROM orgmatrix_app;
DROP POLICY stock_balances_update ON stock_balances;
DROP POLICY post ON stock_balances;

-- A posting's lock on its own org's balances (created as zeros where missing), in item order, and
-- what they hold: the moving average a sale, count or dispatch computes from. Only a writing
-- role's principal, only for its own physical org.
CREATE FUNCTION app_lock_balances(p_items bigint[], OUT item_id bigint, OUT on_hand_scaled bigint, OUT value_fen bigint)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    poster record;
BEGIN
    SELECT * INTO poster FROM app_poster();
    IF NOT EXISTS (SELECT 1 FROM orgs o WHERE o.tenant_id = poster.tenant_id AND o.org_id = poster.org_id AND o.kind = 'physical') THEN
        RAISE EXCEPTION 'only a writing principal of a physical org locks its balances' USING ERRCODE = '42501';
    END IF;
    PERFORM stock_balances_lock(poster.tenant_id, array_fill(poster.org_id, ARRAY[cardinality(p_items)]), p_items);
    RETURN QUERY SELECT b.item_id, b.on_hand_scaled, b.value_fen FROM stock_balances b
                  WHERE b.tenant_id = poster.tenant_id AND b.org_id = poster.org_id AND b.item_id = ANY (p_items)
                  ORDER BY b.item_id;
END
$$;
REVOKE EXECUTE ON FUNCTION app_lock_balances(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_lock_balances(bigint[]) TO orgmatrix_app;

-- ---- transfers: each state with exactly its moves ------------------------------------------------

-- 0007 moved in-transit numbers on dispatch and receipt; now the sender's dispatch moves put the
-- goods in transit, and the receipt takes them out with moves of its own, inserted here: the
-- receiver may not write the sender's rows. Value leaves in transit as it entered.
DROP TRIGGER transfers_move_in_transit ON transfers;
DROP FUNCTION transfers_move_in_transit();

CREATE FUNCTION transfers_receipt_leaves_transit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO stock_moves (tenant_id, org_id, item_id, quantity_scaled, value_fen, unit_cost_fen, document_type, document_id,
        principal_id, bucket)
    SELECT m.tenant_id, m.org_id, m.item_id, -sum(m.quantity_scaled), -sum(m.value_fen), max(m.unit_cost_fen), 'transfer_receipt',
        NEW.transfer_id, (SELECT p.principal_id FROM app_poster() p), 'in_transit'
      FROM stock_moves m
     WHERE m.tenant_id = NEW.tenant_id AND m.document_id = NEW.transfer_id AND m.document_type = 'transfer_dispatch'
       AND m.bucket = 'in_transit' AND m.org_id = NEW.from_org_id
     GROUP BY m.tenant_id, m.org_id, m.item_id
    HAVING sum(m.quantity_scaled) <> 0
     ORDER BY m.item_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER transfers_receipt_leaves_transit AFTER UPDATE ON transfers
    FOR EACH ROW WHEN (OLD.status = 'dispatched' AND NEW.status = 'received')
    EXECUTE FUNCTION transfers_receipt_leaves_transit();

-- At commit, a transfer's moves are exactly those of its state: none while created or
-- cancelled; once dispatched, −q on hand and +q in transit at the sender for each line, the
-- value that left on hand entering transit; once received, also −q in transit at the sender at
-- that value and, for what arrived (q − lost), +arrived on hand at the receiver at the line's
-- landed value. Checked when its status changes and when any move names it, so neither a state
-- without its moves nor moves without their state commit.
CREATE FUNCTION transfer_moves_match(p_tenant uuid, p_transfer bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    WITH t AS (
        SELECT * FROM transfers WHERE tenant_id = p_tenant AND transfer_id = p_transfer
    ), actual AS (
        SELECT m.document_type AS doc, m.org_id, m.item_id, m.bucket, sum(m.quantity_scaled) AS quantity, sum(m.value_fen) AS value
          FROM stock_moves m
         WHERE m.tenant_id = p_tenant AND m.document_id = p_transfer AND m.document_type IN ('transfer_dispatch', 'transfer_receipt')
         GROUP BY 1, 2, 3, 4
    ), expected AS (
        SELECT 'transfer_dispatch' AS doc, t.from_org_id AS org_id, l.item_id, 'on_hand' AS bucket, -l.quantity_scaled AS quantity,
               NULL::numeric AS value
          FROM t JOIN transfer_lines l USING (tenant_id, transfer_id) WHERE t.status IN ('dispatched', 'received')
        UNION ALL
        SELECT 'transfer_dispatch', t.from_org_id, l.item_id, 'in_transit', l.quantity_scaled,
               -(SELECT a.value FROM actual a WHERE (a.doc, a.org_id, a.item_id, a.bucket) = ('transfer_dispatch', t.from_org_id, l.item_id, 'on_hand'))
          FROM t JOIN transfer_lines l USING (tenant_id, transfer_id) WHERE t.status IN ('dispatched', 'received')
        UNION ALL
        SELECT 'transfer_receipt', t.from_org_id, l.item_id, 'in_transit', -l.quantity_scaled,
               -(SELECT a.value FROM actual a WHERE (a.doc, a.org_id, a.item_id, a.bucket) = ('transfer_dispatch', t.from_org_id, l.item_id, 'in_transit'))
          FROM t JOIN transfer_lines l USING (tenant_id, transfer_id) WHERE t.status = 'received'
        UNION ALL
        SELECT 'transfer_receipt', t.to_org_id, l.item_id, 'on_hand', l.quantity_scaled - l.lost_scaled, l.landed_value_fen
          FROM t JOIN transfer_lines l USING (tenant_id, transfer_id) WHERE t.status = 'received' AND l.quantity_scaled > l.lost_scaled
    )
    SELECT EXISTS (SELECT 1 FROM t) AND NOT EXISTS (
        SELECT 1 FROM expected e FULL JOIN actual a USING (doc, org_id, item_id, bucket)
         WHERE e.quantity IS DISTINCT FROM a.quantity
            OR (e.value IS NOT NULL AND e.value IS DISTINCT FROM a.value)
            OR (a.doc = 'transfer_dispatch' AND a.bucket = 'on_hand' AND a.value > 0))
$$;
REVOKE EXECUTE ON FUNCTION transfer_moves_match(uuid, bigint) FROM PUBLIC;

CREATE FUNCTION transfers_with_their_moves() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    checked bigint;
BEGIN
    IF TG_TABLE_NAME = 'transfers' THEN
        checked := NEW.transfer_id;
    ELSE
        checked := NEW.document_id;
    END IF;
    IF NOT transfer_moves_match(NEW.tenant_id, checked) THEN
        RAISE EXCEPTION 'transfer % has not exactly the stock moves of its state: dispatched comes with dispatch moves equal to its lines, received with receipt moves equal to what arrived', checked
            USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER transfers_with_their_moves AFTER UPDATE OF status ON transfers DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION transfers_with_their_moves();
CREATE CONSTRAINT TRIGGER stock_moves_with_their_transfer AFTER INSERT ON stock_moves DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.document_type IN ('transfer_dispatch', 'transfer_receipt')) EXECUTE FUNCTION transfers_with_their_moves();

REVOKE EXECUTE ON FUNCTION stock_moves_to_balances(), stock_balances_from_moves_only(), transfers_receipt_leaves_transit(),
    transfers_with_their_moves() FROM PUBLIC;

-- ---- and they hold now ---------------------------------------------------------------------------
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM stock_balances b
          FULL JOIN (SELECT tenant_id, org_id, item_id,
                            coalesce(sum(quantity_scaled) FILTER (WHERE bucket = 'on_hand'), 0) AS on_hand,
                            coalesce(sum(value_fen) FILTER (WHERE bucket = 'on_hand'), 0) AS value,
                            coalesce(sum(quantity_scaled) FILTER (WHERE bucket = 'in_transit'), 0) AS in_transit,
                            coalesce(sum(value_fen) FILTER (WHERE bucket = 'in_transit'), 0) AS in_transit_value
                       FROM stock_moves GROUP BY tenant_id, org_id, item_id) m USING (tenant_id, org_id, item_id)
         WHERE (coalesce(b.on_hand_scaled, 0), coalesce(b.value_fen, 0), coalesce(b.in_transit_scaled, 0), coalesce(b.in_transit_value_fen, 0))
               <> (coalesce(m.on_hand, 0), coalesce(m.value, 0), coalesce(m.in_transit, 0), coalesce(m.in_transit_value, 0)))
       OR EXISTS (SELECT 1 FROM transfers t WHERE NOT transfer_moves_match(t.tenant_id, t.transfer_id)) THEN
        RAISE EXCEPTION 'after moving in-transit into moves, balances or transfers do not equal their moves';
    END IF;
END
$$;
