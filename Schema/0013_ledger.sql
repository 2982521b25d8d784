-- The transfer ledger (docs/LEDGER.md): transactions as canonical bytes with their SM3 hash,
-- endorsements, disputes, commits, and blocks with the transactions they seal. Every table is
-- append-only for everyone: a trigger refuses UPDATE, DELETE and TRUNCATE, and the application
-- role has no such grant. A transaction's status is not a column: it is pending until a commit
-- row exists, committed after, and disputed when a dispute row exists; the two exclude each
-- other.
--
-- What the database holds here is order and authorship, not the ledger's arithmetic: who may
-- endorse (a principal of the org, for its own org, on a transaction that names the org), that a
-- commit and a dispute never both exist, that blocks are numbered in order, link to the block
-- before, and seal only committed transactions, each once, at consecutive log positions. Hashes,
-- signatures, policies and figures are the verifier's (OrgMatrixCore's LedgerVerifier), which
-- recomputes them from these rows and names whatever does not hold, whoever wrote it.

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never %: the ledger is append-only', TG_TABLE_NAME, lower(TG_OP) USING ERRCODE = '42501';
END
$$;

CREATE TABLE ledger_transactions (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    tx_hash bytea NOT NULL CHECK (length(tx_hash) = 32),
    tx_type text NOT NULL CHECK (tx_type IN ('pricing.rules_published', 'key.registered', 'key.revoked', 'transfer.dispatched',
        'transfer.received', 'transfer.trued_up', 'claim.settled')),
    -- The transaction's `at`, as its bytes say it (the verifier checks the two agree).
    at timestamptz NOT NULL,
    canonical bytea NOT NULL CHECK (length(canonical) BETWEEN 2 AND 4194304),
    -- The orgs its `endorsers` names under a role of its policy: who may endorse or dispute it,
    -- and who reads it.
    endorser_org_ids bigint[] NOT NULL,
    transfer_id bigint,
    -- Who wrote it: the context's principal (NULL when the owner writes, e.g. tenant apply).
    principal_id bigint,
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, tx_hash),
    FOREIGN KEY (tenant_id, transfer_id) REFERENCES transfers (tenant_id, transfer_id),
    CHECK ((transfer_id IS NOT NULL) = (tx_type IN ('transfer.dispatched', 'transfer.received', 'transfer.trued_up', 'claim.settled')))
);
CREATE INDEX ledger_transactions_transfer ON ledger_transactions (tenant_id, transfer_id) WHERE transfer_id IS NOT NULL;
CREATE INDEX ledger_transactions_endorsers ON ledger_transactions USING gin (endorser_org_ids);
-- One transaction per transfer event.
CREATE UNIQUE INDEX ledger_transactions_one_per_event ON ledger_transactions (tenant_id, transfer_id, tx_type) WHERE transfer_id IS NOT NULL;

CREATE TABLE ledger_endorsements (
    tenant_id uuid NOT NULL,
    tx_hash bytea NOT NULL,
    org_id bigint NOT NULL,
    -- The org's code beside its id (as transfers keep their ends'), since it lies beyond most readers' sandboxes.
    org_code text NOT NULL,
    key_version integer NOT NULL CHECK (key_version >= 1),
    signature bytea NOT NULL CHECK (length(signature) BETWEEN 8 AND 80),
    principal_id bigint,
    endorsed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, tx_hash, org_id),
    FOREIGN KEY (tenant_id, tx_hash) REFERENCES ledger_transactions (tenant_id, tx_hash),
    FOREIGN KEY (tenant_id, org_id, org_code) REFERENCES orgs (tenant_id, org_id, code)
);

CREATE TABLE ledger_disputes (
    tenant_id uuid NOT NULL,
    tx_hash bytea NOT NULL,
    org_id bigint NOT NULL,
    -- The org's code beside its id (as transfers keep their ends'), since it lies beyond most readers' sandboxes.
    org_code text NOT NULL,
    reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    principal_id bigint,
    disputed_at timestamptz NOT NULL DEFAULT now(),
    -- One dispute stops a transaction; a second has nothing left to stop.
    PRIMARY KEY (tenant_id, tx_hash),
    FOREIGN KEY (tenant_id, tx_hash) REFERENCES ledger_transactions (tenant_id, tx_hash),
    FOREIGN KEY (tenant_id, org_id, org_code) REFERENCES orgs (tenant_id, org_id, code)
);

CREATE TABLE ledger_commits (
    tenant_id uuid NOT NULL,
    tx_hash bytea NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, tx_hash),
    FOREIGN KEY (tenant_id, tx_hash) REFERENCES ledger_transactions (tenant_id, tx_hash)
);
CREATE INDEX ledger_commits_in_order ON ledger_commits (tenant_id, committed_at, tx_hash);

CREATE TABLE ledger_blocks (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    number bigint NOT NULL CHECK (number >= 0),
    header bytea NOT NULL CHECK (length(header) BETWEEN 2 AND 4096),
    block_hash bytea NOT NULL CHECK (length(block_hash) = 32),
    prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
    tx_count integer NOT NULL CHECK (tx_count >= 1),
    log_size bigint NOT NULL CHECK (log_size >= tx_count),
    sealed_at timestamptz NOT NULL,
    orderer_key_version integer NOT NULL CHECK (orderer_key_version >= 1),
    signature bytea NOT NULL CHECK (length(signature) BETWEEN 8 AND 80),
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, number),
    UNIQUE (tenant_id, block_hash)
);

CREATE TABLE ledger_block_entries (
    tenant_id uuid NOT NULL,
    block_number bigint NOT NULL,
    position integer NOT NULL CHECK (position >= 0),
    -- The transaction's index in the tenant's log (RFC 9162 leaf index).
    log_index bigint NOT NULL CHECK (log_index >= 0),
    tx_hash bytea NOT NULL,
    PRIMARY KEY (tenant_id, block_number, position),
    UNIQUE (tenant_id, tx_hash),
    UNIQUE (tenant_id, log_index),
    FOREIGN KEY (tenant_id, block_number) REFERENCES ledger_blocks (tenant_id, number),
    -- Only committed transactions are sealed.
    FOREIGN KEY (tenant_id, tx_hash) REFERENCES ledger_commits (tenant_id, tx_hash)
);

DO $$
DECLARE
    ledger_table regclass;
BEGIN
    FOREACH ledger_table IN ARRAY ARRAY['ledger_transactions', 'ledger_endorsements', 'ledger_disputes', 'ledger_commits', 'ledger_blocks',
        'ledger_block_entries']::regclass[] LOOP
        EXECUTE format('CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION ledger_append_only()', ledger_table);
        EXECUTE format('CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()',
            ledger_table);
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', ledger_table);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', ledger_table);
        EXECUTE format('CREATE POLICY owner ON %s FOR ALL TO orgmatrix_owner USING (true) WITH CHECK (true)', ledger_table);
    END LOOP;
END
$$;

-- ---- the sealer's context ---------------------------------------------------------------------
-- The sealer is no principal: it acts for a tenant's orderer. Its context is signed like a
-- principal's (role 'sealer', no principal, no org), so only it reads a whole tenant's ledger and
-- writes blocks. It is trusted as the server is (it holds the orderer's key through the server's
-- master key); what keeps it honest is the verifier and, from the next issue, checkpoints every
-- org signs.
CREATE FUNCTION app_begin_sealer(p_tenant uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM tenants t WHERE t.tenant_id = p_tenant) THEN
        RAISE EXCEPTION 'no tenant %', p_tenant USING ERRCODE = '42704';
    END IF;
    PERFORM set_config('app.tenant_id', p_tenant::text, true),
            set_config('app.principal_id', '', true),
            set_config('app.org_id', '', true),
            set_config('app.role', 'sealer', true),
            set_config('app.visible_orgs', '', true);
    PERFORM set_config('app.context_mac', app_context_mac(app_context_core()), true);
    PERFORM set_config('app.visible_mac', app_context_mac(app_context_core() || '|'), true);
END
$$;
REVOKE EXECUTE ON FUNCTION app_begin_sealer(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_begin_sealer(uuid) TO orgmatrix_app;

-- Tenants with committed transactions no block holds yet, oldest first: the sealer's work list.
CREATE FUNCTION ledger_tenants_to_seal() RETURNS TABLE (tenant_id uuid, tenant_code text, waited_ms bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT c.tenant_id, t.code, (extract(epoch FROM clock_timestamp() - min(c.committed_at)) * 1000)::bigint
      FROM ledger_commits c JOIN tenants t USING (tenant_id)
     WHERE NOT EXISTS (SELECT 1 FROM ledger_block_entries e WHERE e.tenant_id = c.tenant_id AND e.tx_hash = c.tx_hash)
     GROUP BY c.tenant_id, t.code
     ORDER BY 3 DESC
$$;
REVOKE EXECUTE ON FUNCTION ledger_tenants_to_seal() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_tenants_to_seal() TO orgmatrix_app;

-- ---- reading ---------------------------------------------------------------------------------------
-- A principal reads the transactions that name an org it sees, or evidence a transfer it sees
-- (HQ and auditors see the tenant);
-- their endorsements, disputes and commits with them. Blocks and entries hold only hashes: every
-- principal of the tenant reads them. The sealer reads its tenant's ledger.
CREATE POLICY read ON ledger_transactions FOR SELECT TO orgmatrix_app, orgmatrix_auditor
    USING ((tenant_id = ANY ((SELECT ARRAY[app_tenant_id()])::uuid[])
            AND (endorser_org_ids && (SELECT app_visible_orgs())::bigint[]
                 -- a transfer's evidence, to whoever sees the transfer (its parties and above)
                 OR (transfer_id IS NOT NULL AND EXISTS (
                     SELECT 1 FROM transfers t WHERE t.tenant_id = ledger_transactions.tenant_id AND t.transfer_id = ledger_transactions.transfer_id))))
        OR tenant_id = ANY ((SELECT ARRAY[app_tenant_for_roles('{sealer}')])::uuid[]));
DO $$
DECLARE
    ledger_table regclass;
BEGIN
    FOREACH ledger_table IN ARRAY ARRAY['ledger_endorsements', 'ledger_disputes', 'ledger_commits']::regclass[] LOOP
        EXECUTE format($p$CREATE POLICY read ON %s FOR SELECT TO orgmatrix_app, orgmatrix_auditor
            USING (EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.tenant_id = %s.tenant_id AND t.tx_hash = %s.tx_hash))$p$,
            ledger_table, ledger_table, ledger_table);
    END LOOP;
    FOREACH ledger_table IN ARRAY ARRAY['ledger_blocks', 'ledger_block_entries']::regclass[] LOOP
        EXECUTE format($p$CREATE POLICY read ON %s FOR SELECT TO orgmatrix_app, orgmatrix_auditor
            USING (tenant_id = ANY ((SELECT ARRAY[app_tenant_id()])::uuid[]))$p$, ledger_table);
    END LOOP;
END
$$;

-- ---- writing ---------------------------------------------------------------------------------------
-- A transaction is written by the principal whose posting it evidences (which posting: the
-- constraint triggers below).
CREATE POLICY post ON ledger_transactions FOR INSERT TO orgmatrix_app
    WITH CHECK ((tenant_id, principal_id) = (SELECT p.tenant_id, p.principal_id FROM app_poster() p));
-- A principal endorses or disputes for its own org only, as itself.
CREATE POLICY post ON ledger_endorsements FOR INSERT TO orgmatrix_app
    WITH CHECK ((tenant_id, org_id, principal_id) = (SELECT p.tenant_id, p.org_id, p.principal_id FROM app_poster() p));
CREATE POLICY post ON ledger_disputes FOR INSERT TO orgmatrix_app
    WITH CHECK ((tenant_id, org_id, principal_id) = (SELECT p.tenant_id, p.org_id, p.principal_id FROM app_poster() p));
-- Whoever's endorsement completes the policy records the commit (the Store decides with Core's
-- policy; the verifier checks it); the sealer writes blocks.
CREATE POLICY post ON ledger_commits FOR INSERT TO orgmatrix_app
    WITH CHECK (tenant_id = (SELECT p.tenant_id FROM app_poster() p));
CREATE POLICY seal ON ledger_blocks FOR INSERT TO orgmatrix_app
    WITH CHECK (tenant_id = ANY ((SELECT ARRAY[app_tenant_for_roles('{sealer}')])::uuid[]));
CREATE POLICY seal ON ledger_block_entries FOR INSERT TO orgmatrix_app
    WITH CHECK (tenant_id = ANY ((SELECT ARRAY[app_tenant_for_roles('{sealer}')])::uuid[]));

GRANT SELECT ON ledger_transactions, ledger_endorsements, ledger_disputes, ledger_commits, ledger_blocks, ledger_block_entries
    TO orgmatrix_app, orgmatrix_auditor;
GRANT INSERT (tenant_id, tx_hash, tx_type, at, canonical, endorser_org_ids, transfer_id, principal_id) ON ledger_transactions TO orgmatrix_app;
GRANT INSERT (tenant_id, tx_hash, org_id, org_code, key_version, signature, principal_id) ON ledger_endorsements TO orgmatrix_app;
GRANT INSERT (tenant_id, tx_hash, org_id, org_code, reason, principal_id) ON ledger_disputes TO orgmatrix_app;
GRANT INSERT (tenant_id, tx_hash) ON ledger_commits TO orgmatrix_app;
GRANT INSERT (tenant_id, number, header, block_hash, prev_hash, tx_count, log_size, sealed_at, orderer_key_version, signature)
    ON ledger_blocks TO orgmatrix_app;
GRANT INSERT (tenant_id, block_number, position, log_index, tx_hash) ON ledger_block_entries TO orgmatrix_app;

-- ---- order -----------------------------------------------------------------------------------------

-- The transaction's row is what endorsements, disputes and commits of it queue on, so a commit
-- and a dispute racing each other see each other (each check runs after the lock, in a fresh
-- snapshot).
CREATE FUNCTION ledger_lock_transaction(p_tenant uuid, p_tx_hash bytea) RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, public AS $$
    SELECT pg_advisory_xact_lock(hashtextextended(p_tenant::text || encode(p_tx_hash, 'hex'), 1237))
$$;

-- An endorsement or a dispute comes from an org the transaction names, while it is still open:
-- not disputed (a dispute stops it), and for a dispute, not committed either.
CREATE FUNCTION ledger_endorser_named() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM ledger_lock_transaction(NEW.tenant_id, NEW.tx_hash);
    IF NOT EXISTS (SELECT 1 FROM ledger_transactions t
                    WHERE t.tenant_id = NEW.tenant_id AND t.tx_hash = NEW.tx_hash AND NEW.org_id = ANY (t.endorser_org_ids)) THEN
        RAISE EXCEPTION 'org % is not an endorser of this transaction', NEW.org_id USING ERRCODE = '42501';
    END IF;
    IF EXISTS (SELECT 1 FROM ledger_disputes d WHERE d.tenant_id = NEW.tenant_id AND d.tx_hash = NEW.tx_hash) THEN
        RAISE EXCEPTION 'the transaction is disputed' USING ERRCODE = '55000';
    END IF;
    IF TG_TABLE_NAME = 'ledger_disputes'
       AND EXISTS (SELECT 1 FROM ledger_commits c WHERE c.tenant_id = NEW.tenant_id AND c.tx_hash = NEW.tx_hash) THEN
        RAISE EXCEPTION 'the transaction is committed already' USING ERRCODE = '55000';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER endorser_named BEFORE INSERT ON ledger_endorsements FOR EACH ROW EXECUTE FUNCTION ledger_endorser_named();
CREATE TRIGGER endorser_named BEFORE INSERT ON ledger_disputes FOR EACH ROW EXECUTE FUNCTION ledger_endorser_named();

-- A commit follows at least one endorsement and never a dispute.
CREATE FUNCTION ledger_commit_open() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM ledger_lock_transaction(NEW.tenant_id, NEW.tx_hash);
    IF EXISTS (SELECT 1 FROM ledger_disputes d WHERE d.tenant_id = NEW.tenant_id AND d.tx_hash = NEW.tx_hash) THEN
        RAISE EXCEPTION 'the transaction is disputed' USING ERRCODE = '55000';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM ledger_endorsements e WHERE e.tenant_id = NEW.tenant_id AND e.tx_hash = NEW.tx_hash) THEN
        RAISE EXCEPTION 'a transaction with no endorsement is not committed' USING ERRCODE = '55000';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER commit_open BEFORE INSERT ON ledger_commits FOR EACH ROW EXECUTE FUNCTION ledger_commit_open();

-- Blocks come in order: number n+1 after n, linking to its hash, the log growing by the block's
-- transactions. The tenant's blocks are sealed one at a time (the lock), which also keeps a
-- second sealer from racing the first.
CREATE FUNCTION ledger_block_in_order() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    last record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(NEW.tenant_id::text || ' blocks', 1237));
    SELECT b.number, b.block_hash, b.log_size, b.sealed_at INTO last
      FROM ledger_blocks b WHERE b.tenant_id = NEW.tenant_id ORDER BY b.number DESC LIMIT 1;
    IF NEW.number IS DISTINCT FROM coalesce(last.number + 1, 0)
       OR NEW.prev_hash IS DISTINCT FROM coalesce(last.block_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
       OR NEW.log_size IS DISTINCT FROM coalesce(last.log_size, 0) + NEW.tx_count
       OR NEW.sealed_at < coalesce(last.sealed_at, '-infinity') OR NEW.sealed_at > clock_timestamp() THEN
        RAISE EXCEPTION 'block % does not follow block % (number, previous hash, log size or time)', NEW.number, last.number
            USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER block_in_order BEFORE INSERT ON ledger_blocks FOR EACH ROW EXECUTE FUNCTION ledger_block_in_order();

-- A block's entries are written with it (same transaction), numbered 0…tx_count−1 at the log
-- positions after the previous block's; checked at commit, so the block's last state is checked.
CREATE FUNCTION ledger_block_complete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    block record;
    entries record;
BEGIN
    SELECT b.tx_count, b.log_size, b.xmin = pg_current_xact_id()::xid AS sealed_now INTO block
      FROM ledger_blocks b WHERE b.tenant_id = NEW.tenant_id AND b.number = NEW.block_number;
    SELECT count(*) AS n, min(e.position) AS first_position, max(e.position) AS last_position,
           bool_and(e.log_index = block.log_size - block.tx_count + e.position) AS indexed
      INTO entries FROM ledger_block_entries e WHERE e.tenant_id = NEW.tenant_id AND e.block_number = NEW.block_number;
    IF NOT block.sealed_now OR entries.n <> block.tx_count OR entries.first_position <> 0 OR entries.last_position <> block.tx_count - 1
       OR NOT entries.indexed THEN
        RAISE EXCEPTION 'block % must list its % transactions at log positions % to %, written with it', NEW.block_number,
            block.tx_count, block.log_size - block.tx_count, block.log_size - 1 USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER block_complete AFTER INSERT ON ledger_block_entries DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_block_complete();

CREATE FUNCTION ledger_block_has_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ledger_block_entries e WHERE e.tenant_id = NEW.tenant_id AND e.block_number = NEW.number) THEN
        RAISE EXCEPTION 'block % lists no transactions', NEW.number USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER block_has_entries AFTER INSERT ON ledger_blocks DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_block_has_entries();

-- ---- no posting without its evidence, no evidence without its posting -------------------------------
-- A transfer that is dispatched, received, trued up or has its claim settled in a transaction has that event's ledger
-- transaction written in the same one, and a ledger transaction of a transfer event is written
-- with the step it evidences. Checked at commit.
CREATE FUNCTION transfers_evidenced() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    event text := CASE
        WHEN OLD.status = 'created' AND NEW.status = 'dispatched' THEN 'transfer.dispatched'
        WHEN OLD.status = 'dispatched' AND NEW.status = 'received' THEN 'transfer.received'
        WHEN OLD.true_up_fen IS NULL AND NEW.true_up_fen IS NOT NULL THEN 'transfer.trued_up'
        WHEN OLD.claim_recovered_fen IS NULL AND NEW.claim_recovered_fen IS NOT NULL THEN 'claim.settled' END;
BEGIN
    IF event IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM ledger_transactions l
         WHERE l.tenant_id = NEW.tenant_id AND l.transfer_id = NEW.transfer_id AND l.tx_type = event
           AND l.xmin = pg_current_xact_id()::xid) THEN
        RAISE EXCEPTION 'transfer % is % without its ledger transaction', NEW.transfer_id, event USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER transfers_evidenced AFTER UPDATE ON transfers DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION transfers_evidenced();

CREATE FUNCTION ledger_transactions_evidence_a_step() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    transfer record;
BEGIN
    SELECT t.status, t.true_up_fen, t.claim_recovered_fen, t.xmin = pg_current_xact_id()::xid AS changed_now INTO transfer
      FROM transfers t WHERE t.tenant_id = NEW.tenant_id AND t.transfer_id = NEW.transfer_id;
    IF NOT transfer.changed_now
       OR (NEW.tx_type = 'transfer.dispatched' AND transfer.status NOT IN ('dispatched'))
       OR (NEW.tx_type = 'transfer.received' AND transfer.status <> 'received')
       OR (NEW.tx_type = 'transfer.trued_up' AND transfer.true_up_fen IS NULL)
       OR (NEW.tx_type = 'claim.settled' AND transfer.claim_recovered_fen IS NULL) THEN
        RAISE EXCEPTION 'a % transaction is written with that step of transfer %', NEW.tx_type, NEW.transfer_id USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER evidence_a_step AFTER INSERT ON ledger_transactions DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.tx_type IN ('transfer.dispatched', 'transfer.received', 'transfer.trued_up', 'claim.settled'))
    EXECUTE FUNCTION ledger_transactions_evidence_a_step();

-- The Store takes the same lock before it reads a transaction it is about to endorse or dispute.
GRANT EXECUTE ON FUNCTION ledger_lock_transaction(uuid, bytea) TO orgmatrix_app;

-- The top of an org's reports_to chain now, for the hq role (reads the matrix as the owner, so a
-- narrow sandbox still finds its HQ; only within the context's tenant).
CREATE FUNCTION app_hq_of(p_tenant uuid, p_org_code text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    WITH RECURSIVE up (org_id, depth) AS (
        SELECT o.org_id, 0 FROM orgs o WHERE o.tenant_id = p_tenant AND o.code = p_org_code AND p_tenant = app_tenant_id()
        UNION
        SELECT r.to_org_id, up.depth + 1 FROM up JOIN relations r
            ON r.tenant_id = p_tenant AND r.kind = 'reports_to' AND r.from_org_id = up.org_id
           AND r.valid_from <= now() AND (r.valid_to IS NULL OR now() < r.valid_to)
         WHERE up.depth < 64
    )
    SELECT o.code FROM up JOIN orgs o ON o.tenant_id = p_tenant AND o.org_id = up.org_id ORDER BY up.depth DESC LIMIT 1
$$;
REVOKE EXECUTE ON FUNCTION app_hq_of(uuid, text) FROM PUBLIC;

-- Who plays each role of a transfer now, by code: its ends, the orgs that settle the sender's
-- internal sale (settles_for, purpose sales or all) and the receiver's internal purchase
-- (purchases or all), and the lane's carrier. Read as the owner, since a warehouse's sandbox
-- does not hold its settlement org; only for a transfer the caller's sandbox shows.
CREATE FUNCTION app_transfer_endorsers(p_transfer_id bigint)
RETURNS TABLE (sender text, receiver text, sender_settlement text, receiver_settlement text, carrier text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT t.from_code, t.to_code,
        (SELECT s.code FROM relations r JOIN orgs s ON s.tenant_id = r.tenant_id AND s.org_id = r.from_org_id
          WHERE r.tenant_id = t.tenant_id AND r.kind = 'settles_for' AND r.to_org_id = t.from_org_id
            AND r.purpose IN ('sales', 'all') AND r.valid_from <= now() AND (r.valid_to IS NULL OR now() < r.valid_to)
          ORDER BY r.purpose = 'sales' DESC, s.code LIMIT 1),
        (SELECT s.code FROM relations r JOIN orgs s ON s.tenant_id = r.tenant_id AND s.org_id = r.from_org_id
          WHERE r.tenant_id = t.tenant_id AND r.kind = 'settles_for' AND r.to_org_id = t.to_org_id
            AND r.purpose IN ('purchases', 'all') AND r.valid_from <= now() AND (r.valid_to IS NULL OR now() < r.valid_to)
          ORDER BY r.purpose = 'purchases' DESC, s.code LIMIT 1),
        (SELECT r.carrier_code FROM relations r WHERE r.tenant_id = t.tenant_id AND r.relation_id = t.relation_id)
      FROM transfers t
     WHERE t.tenant_id = app_tenant_id() AND t.transfer_id = p_transfer_id
       AND (t.from_org_id = ANY (app_visible_orgs()) OR t.to_org_id = ANY (app_visible_orgs()))
$$;
REVOKE EXECUTE ON FUNCTION app_transfer_endorsers(bigint) FROM PUBLIC;

-- The ids of the context tenant's orgs with these codes, in id order: a transaction names its
-- endorsers by code, and they lie beyond the writer's sandbox as often as not.
CREATE FUNCTION app_org_ids(p_codes text[]) RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT coalesce(array_agg(o.org_id ORDER BY o.org_id), '{}') FROM orgs o WHERE o.tenant_id = app_tenant_id() AND o.code = ANY (p_codes)
$$;
REVOKE EXECUTE ON FUNCTION app_org_ids(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_org_ids(text[]) TO orgmatrix_app;
GRANT EXECUTE ON FUNCTION app_transfer_endorsers(bigint) TO orgmatrix_app;
GRANT EXECUTE ON FUNCTION app_hq_of(uuid, text) TO orgmatrix_app;

REVOKE EXECUTE ON FUNCTION ledger_append_only(), ledger_endorser_named(), ledger_commit_open(),
    ledger_block_in_order(), ledger_block_complete(), ledger_block_has_entries(), transfers_evidenced(),
    ledger_transactions_evidence_a_step() FROM PUBLIC;
