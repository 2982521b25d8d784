-- A checkpoint's signers are every org with a key valid at its moment (docs/LEDGER.md,
-- "Checkpoints"), so what decides that set must not move under it:
--
-- 1. A quarter's checkpoint is cut once the quarter has ended by the database's clock, not by
--    a server's clock that runs ahead: its moment is at or after the quarter's end (the first
--    instant of the next quarter, UTC).
-- 2. A key registered or revoked while a checkpoint is cut would change who was valid at its
--    moment after the cut read the keys: registrations and revocations queue on the cut's lock,
--    and one whose moment (its transaction's start) is not after the newest checkpoint's is
--    refused, to be retried.

CREATE OR REPLACE FUNCTION ledger_checkpoint_in_order() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    last record;
    block record;
    quarter_end timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(NEW.tenant_id::text || ' checkpoints', 1237));
    SELECT c.number, c.log_size, c.at INTO last
      FROM ledger_checkpoints c WHERE c.tenant_id = NEW.tenant_id ORDER BY c.number DESC LIMIT 1;
    SELECT b.block_hash, b.log_size INTO block FROM ledger_blocks b WHERE b.tenant_id = NEW.tenant_id AND b.number = NEW.last_block;
    IF NEW.number IS DISTINCT FROM coalesce(last.number + 1, 0)
       OR NEW.previous_log_size IS DISTINCT FROM coalesce(last.log_size, 0)
       OR NEW.at < coalesce(last.at, '-infinity') OR NEW.at > clock_timestamp() THEN
        RAISE EXCEPTION 'checkpoint % does not follow checkpoint % (number, previous log size or time)', NEW.number, last.number
            USING ERRCODE = '23514';
    END IF;
    IF NEW.log_size IS DISTINCT FROM block.log_size OR NEW.last_block_hash IS DISTINCT FROM block.block_hash THEN
        RAISE EXCEPTION 'checkpoint % must state block %''s log size and hash', NEW.number, NEW.last_block USING ERRCODE = '23514';
    END IF;
    IF NEW.period <> 'on-demand' THEN
        -- In UTC whatever the session's TimeZone (timestamptz + interval adds months in the session's zone).
        quarter_end := (make_timestamp(substr(NEW.period, 1, 4)::int, substr(NEW.period, 7, 1)::int * 3 - 2, 1, 0, 0, 0)
            + interval '3 months') AT TIME ZONE 'UTC';
        IF NEW.at < quarter_end THEN
            RAISE EXCEPTION 'quarter % ends at %: its checkpoint cannot be cut at %', NEW.period, quarter_end, NEW.at
                USING ERRCODE = '23514';
        END IF;
    END IF;
    RETURN NEW;
END
$$;

-- Called by the key triggers below: waits for a cut of the tenant's checkpoint to end, then
-- refuses a moment not after the newest checkpoint's.
CREATE FUNCTION ledger_key_change_after_checkpoints(p_tenant uuid, p_moment timestamptz) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    newest record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_tenant::text || ' checkpoints', 1237));
    SELECT c.number, c.at INTO newest FROM ledger_checkpoints c WHERE c.tenant_id = p_tenant ORDER BY c.number DESC LIMIT 1;
    IF newest.at IS NOT NULL AND p_moment <= newest.at THEN
        RAISE EXCEPTION 'checkpoint % was cut at % while this key change (from %) ran: retry it', newest.number, newest.at, p_moment
            USING ERRCODE = '40001';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION org_keys_as_registered() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    previous record;
BEGIN
    PERFORM ledger_key_change_after_checkpoints(NEW.tenant_id, now());
    PERFORM pg_advisory_xact_lock(hashtext('orgmatrix.org-keys'), hashtext(NEW.tenant_id::text || '|' || NEW.owner));
    SELECT k.version, k.valid_from INTO previous FROM org_keys k
     WHERE k.tenant_id = NEW.tenant_id AND k.owner = NEW.owner ORDER BY k.version DESC LIMIT 1;
    NEW.valid_from := now();
    NEW.registered_by := (SELECT w.principal_id FROM app_writer() w);
    IF NEW.version IS DISTINCT FROM coalesce(previous.version, 0) + 1 THEN
        RAISE EXCEPTION 'the next key version of % is %, not %', NEW.owner, coalesce(previous.version, 0) + 1, NEW.version
            USING ERRCODE = '23514';
    END IF;
    IF previous.valid_from IS NOT NULL AND previous.valid_from >= NEW.valid_from THEN
        RAISE EXCEPTION 'key version % of % would not start after version % (valid from %)', NEW.version, NEW.owner,
            previous.version, previous.valid_from USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION org_key_revocations_as_revoked() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM ledger_key_change_after_checkpoints(NEW.tenant_id, now());
    NEW.revoked_at := now();
    NEW.revoked_by := (SELECT w.principal_id FROM app_writer() w);
    IF NOT EXISTS (SELECT 1 FROM org_keys k WHERE k.tenant_id = NEW.tenant_id AND k.owner = NEW.owner AND k.version = NEW.version
                      AND k.valid_from <= NEW.revoked_at) THEN
        RAISE EXCEPTION 'key version % of % did not start before %', NEW.version, NEW.owner, NEW.revoked_at USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END
$$;
REVOKE EXECUTE ON FUNCTION ledger_key_change_after_checkpoints(uuid, timestamptz) FROM PUBLIC;
