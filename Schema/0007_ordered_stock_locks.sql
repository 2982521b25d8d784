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
