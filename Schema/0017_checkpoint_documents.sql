-- A checkpoint row's columns are what its signed document says. The columns decide the order
-- and who may sign (signer_org_ids); the document is what the signers sign and what verifiers
-- read. Without this, a writer with SQL of its own could store a document naming every org and
-- columns naming fewer, so that only those could sign. After the insert, so that a writer the
-- policies refuse is refused as such whatever its row says.
CREATE FUNCTION ledger_checkpoint_is_its_document() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
    signer_codes text[];
BEGIN
    BEGIN
        doc := convert_from(NEW.canonical, 'UTF8')::jsonb;
    EXCEPTION WHEN others THEN
        RAISE EXCEPTION 'checkpoint %''s document is not JSON', NEW.number USING ERRCODE = '23514';
    END;
    SELECT coalesce(array_agg(o.code ORDER BY o.code COLLATE "C"), '{}') INTO signer_codes
      FROM orgs o WHERE o.tenant_id = NEW.tenant_id AND o.org_id = ANY (NEW.signer_org_ids);
    IF jsonb_typeof(doc) IS DISTINCT FROM 'object' OR jsonb_typeof(doc -> 'signers') IS DISTINCT FROM 'array'
       OR doc ->> 'tenant' IS DISTINCT FROM (SELECT t.code FROM tenants t WHERE t.tenant_id = NEW.tenant_id)
       OR doc ->> 'number' IS DISTINCT FROM NEW.number::text
       OR doc ->> 'period' IS DISTINCT FROM NEW.period
       OR doc ->> 'at' IS DISTINCT FROM to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
       OR doc ->> 'log_size' IS DISTINCT FROM NEW.log_size::text
       OR doc ->> 'previous_log_size' IS DISTINCT FROM NEW.previous_log_size::text
       OR doc ->> 'last_block' IS DISTINCT FROM NEW.last_block::text
       OR doc ->> 'last_block_hash' IS DISTINCT FROM encode(NEW.last_block_hash, 'hex')
       OR cardinality(NEW.signer_org_ids) IS DISTINCT FROM cardinality(signer_codes)
       OR ARRAY(SELECT s FROM jsonb_array_elements_text(doc -> 'signers') s ORDER BY s COLLATE "C") IS DISTINCT FROM signer_codes THEN
        RAISE EXCEPTION 'checkpoint %''s columns are not what its document says (tenant, number, period, at, log, block, signers)',
            NEW.number USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER checkpoint_is_its_document AFTER INSERT ON ledger_checkpoints
    FOR EACH ROW EXECUTE FUNCTION ledger_checkpoint_is_its_document();
