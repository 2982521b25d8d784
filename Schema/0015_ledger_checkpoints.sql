-- Checkpoints (docs/LEDGER.md, "Checkpoints"): the log as every org with a key saw it, cut by
-- the sealer at each quarter's end and by HQ on demand, signed by each of those orgs. Like the
-- rest of the ledger, append-only for everyone (0013's trigger) and read by every principal of
-- the tenant (they hold only hashes).
--
-- What the database holds here is order and authorship: checkpoints numbered 0, 1, … per tenant,
-- each naming a sealed block with that block's log size and hash, its previous_log_size the
-- previous one's log_size, never shrinking, one per quarter; a signature only from a principal
-- of the org it is for, of an org the checkpoint names, once. That the bytes say what the columns
-- say, that every org with a valid key is named, that each signature verifies and that the stored
-- consistency proof leads from the previous root to this one is the verifier's
-- (OrgMatrixCore's LedgerCheckpoint.check), which recomputes all of it from these rows.

CREATE TABLE ledger_checkpoints (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    number bigint NOT NULL CHECK (number >= 0),
    -- 'YYYY-Qn' for a quarter's checkpoint, 'on-demand' for one HQ asked for.
    period text NOT NULL CHECK (period ~ '^([0-9]{4}-Q[1-4]|on-demand)$'),
    at timestamptz NOT NULL,
    last_block bigint NOT NULL,
    last_block_hash bytea NOT NULL CHECK (length(last_block_hash) = 32),
    log_size bigint NOT NULL CHECK (log_size >= 1),
    previous_log_size bigint NOT NULL CHECK (previous_log_size >= 0 AND previous_log_size <= log_size),
    -- The orgs that must sign (every org with a key valid at `at`): who may sign it.
    signer_org_ids bigint[] NOT NULL,
    -- The canonical checkpoint document: exactly what each signer signs.
    canonical bytea NOT NULL CHECK (length(canonical) BETWEEN 2 AND 65536),
    -- RFC 9162 consistency proof from previous_log_size to log_size (SM3), 32 bytes per hash.
    consistency_proof bytea NOT NULL CHECK (length(consistency_proof) % 32 = 0 AND length(consistency_proof) <= 32 * 128),
    -- Who cut it: HQ's principal on demand, NULL for the sealer's quarter cut.
    principal_id bigint,
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, number),
    FOREIGN KEY (tenant_id, last_block) REFERENCES ledger_blocks (tenant_id, number),
    FOREIGN KEY (tenant_id, principal_id) REFERENCES principals (tenant_id, principal_id)
);
-- A quarter is closed once.
CREATE UNIQUE INDEX ledger_checkpoints_one_per_quarter ON ledger_checkpoints (tenant_id, period) WHERE period <> 'on-demand';

CREATE TABLE ledger_checkpoint_signatures (
    tenant_id uuid NOT NULL,
    checkpoint_number bigint NOT NULL,
    org_id bigint NOT NULL,
    org_code text NOT NULL,
    key_version integer NOT NULL CHECK (key_version >= 1),
    signature bytea NOT NULL CHECK (length(signature) BETWEEN 8 AND 80),
    principal_id bigint NOT NULL,
    signed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, checkpoint_number, org_id),
    FOREIGN KEY (tenant_id, checkpoint_number) REFERENCES ledger_checkpoints (tenant_id, number),
    FOREIGN KEY (tenant_id, org_id, org_code) REFERENCES orgs (tenant_id, org_id, code),
    FOREIGN KEY (tenant_id, principal_id) REFERENCES principals (tenant_id, principal_id)
);

DO $$
DECLARE
    ledger_table regclass;
BEGIN
    FOREACH ledger_table IN ARRAY ARRAY['ledger_checkpoints', 'ledger_checkpoint_signatures']::regclass[] LOOP
        EXECUTE format('CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION ledger_append_only()', ledger_table);
        EXECUTE format('CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()',
            ledger_table);
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', ledger_table);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', ledger_table);
        EXECUTE format('CREATE POLICY owner ON %s FOR ALL TO orgmatrix_owner USING (true) WITH CHECK (true)', ledger_table);
        -- Every principal of the tenant reads them; the sealer reads its tenant's.
        EXECUTE format($p$CREATE POLICY read ON %s FOR SELECT TO orgmatrix_app, orgmatrix_auditor
            USING (tenant_id = ANY ((SELECT ARRAY[app_tenant_id()])::uuid[]))$p$, ledger_table);
    END LOOP;
END
$$;

-- The sealer cuts a quarter's checkpoint (no principal); an hq_admin principal cuts one on demand, as itself.
CREATE POLICY cut ON ledger_checkpoints FOR INSERT TO orgmatrix_app
    WITH CHECK ((tenant_id = ANY ((SELECT ARRAY[app_tenant_for_roles('{sealer}')])::uuid[]) AND principal_id IS NULL AND period <> 'on-demand')
        OR (tenant_id = ANY ((SELECT ARRAY[app_tenant_for_roles('{hq_admin}')])::uuid[]) AND period = 'on-demand'
            AND principal_id = (SELECT p.principal_id FROM app_poster() p)));
-- A principal signs for its own org only, as itself.
CREATE POLICY sign ON ledger_checkpoint_signatures FOR INSERT TO orgmatrix_app
    WITH CHECK ((tenant_id, org_id, principal_id) = (SELECT p.tenant_id, p.org_id, p.principal_id FROM app_poster() p));

GRANT SELECT ON ledger_checkpoints, ledger_checkpoint_signatures TO orgmatrix_app, orgmatrix_auditor;
GRANT INSERT (tenant_id, number, period, at, last_block, last_block_hash, log_size, previous_log_size, signer_org_ids, canonical,
    consistency_proof, principal_id) ON ledger_checkpoints TO orgmatrix_app;
GRANT INSERT (tenant_id, checkpoint_number, org_id, org_code, key_version, signature, principal_id) ON ledger_checkpoint_signatures
    TO orgmatrix_app;

-- Checkpoints come in order: number n+1 after n, starting where n ended, naming a sealed block
-- with its log size and hash, its moment not before n's nor in the future. One at a time per
-- tenant (the lock), so HQ and the sealer cutting together number theirs apart.
CREATE FUNCTION ledger_checkpoint_in_order() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    last record;
    block record;
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
    RETURN NEW;
END
$$;
CREATE TRIGGER checkpoint_in_order BEFORE INSERT ON ledger_checkpoints FOR EACH ROW EXECUTE FUNCTION ledger_checkpoint_in_order();

-- A signature is by an org the checkpoint names.
CREATE FUNCTION ledger_checkpoint_signer_named() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ledger_checkpoints c WHERE c.tenant_id = NEW.tenant_id AND c.number = NEW.checkpoint_number
                      AND NEW.org_id = ANY (c.signer_org_ids)) THEN
        RAISE EXCEPTION 'org % is not a signer of checkpoint %', NEW.org_code, NEW.checkpoint_number USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER signer_named BEFORE INSERT ON ledger_checkpoint_signatures FOR EACH ROW EXECUTE FUNCTION ledger_checkpoint_signer_named();

-- Tenants with a block sealed before `p_end` and no checkpoint for `p_period` yet: the quarter
-- the sealer is to close (the quarter and its end are OrgMatrixCore's LedgerCheckpoint.Period).
CREATE FUNCTION ledger_tenants_to_checkpoint(p_period text, p_end timestamptz) RETURNS TABLE (tenant_id uuid, tenant_code text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT t.tenant_id, t.code FROM tenants t
     WHERE EXISTS (SELECT 1 FROM ledger_blocks b WHERE b.tenant_id = t.tenant_id AND b.sealed_at < p_end)
       AND NOT EXISTS (SELECT 1 FROM ledger_checkpoints c WHERE c.tenant_id = t.tenant_id AND c.period = p_period)
     ORDER BY t.code
$$;
REVOKE EXECUTE ON FUNCTION ledger_tenants_to_checkpoint(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_tenants_to_checkpoint(text, timestamptz) TO orgmatrix_app;
