-- Who wrote a row, for which org and when, is the database's fact, and a signed context holds
-- for one transaction only.
--
-- Before this, SQL as the application role with a principal's own valid context could store an
-- idempotency record under another principal (to be replayed to it as its own response), insert
-- API keys for any principal HQ could see (so HQ could act as anyone, with no audit trail), post
-- stock moves, receipts, sales and counts in another principal's name, book a sale to an org the
-- matrix does not name as settling the seller's sales, write audit events with any actor and any
-- time, and, with `SET extra_float_digits = -15`, reuse the settings of an earlier transaction
-- on the same backend, even after the principal was revoked. Each rule below closes one of
-- those, tried with raw SQL in Tests/OrgMatrixStoreTests/AuthorshipSQLTests.swift.
--
-- The owner (migrations, `tenant apply`, `seed generate`) keeps its unrestricted policies and
-- grants; only the matrix rule for sales applies to every writer.

-- ---- the signed context: bound to the exact transaction start ---------------------------------

-- date_part('epoch', now())::text rendered a float, which follows extra_float_digits: at -15
-- the start time read "2e+09" in every transaction for years, so the MACs of one transaction
-- verified in any later one on the same backend. extract() returns numeric in PostgreSQL 14
-- and later, exact to the microsecond, and a bigint renders the same whatever the session sets.
-- The backend pid stays in. A transaction id would be stronger still, but pg_current_xact_id()
-- assigns one, so every read-only request would write a commit record and use up an xid
-- (measured with pgbench, 4 clients of `SELECT pg_current_xact_id()` for 3 s: 2.3 MB of WAL
-- and 60,000 xids, against 4 kB for `SELECT 1`; xids at that rate force anti-wraparound
-- vacuums within days). Not worth it while no two transactions of one backend start in the
-- same microsecond: the first runs app_begin, a key lookup and two HMACs, before it can end.
-- app_begin and app_context_checked call this function by name, so they sign and check the new
-- binding from now on; contexts signed before this migration stop verifying, which only ends
-- transactions that were open while it ran.
CREATE OR REPLACE FUNCTION app_context_core() RETURNS text
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
    SELECT pg_catalog.concat_ws('|', pg_catalog.current_setting('app.tenant_id', true),
        pg_catalog.current_setting('app.principal_id', true), pg_catalog.current_setting('app.org_id', true),
        pg_catalog.current_setting('app.role', true), pg_catalog.pg_backend_pid()::text,
        (pg_catalog.extract('epoch', pg_catalog.now()) OPERATOR(pg_catalog.*) 1000000)::bigint::text)
$$;

-- ---- postings: the writer is the context's principal --------------------------------------------

-- Org-owned tables that name their writer (principal_id) bind it to the context as well as the
-- tenant and the org; those that do not keep the (tenant, org) check. Later migrations that
-- declare tables get this form.
CREATE OR REPLACE FUNCTION declare_org_owned_table(p_table regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_table);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', p_table);
    EXECUTE format($p$CREATE POLICY read ON %s FOR SELECT TO orgmatrix_app, orgmatrix_auditor
        USING (tenant_id = ANY ((SELECT ARRAY[app_tenant_id()])::uuid[])
            AND org_id = ANY ((SELECT app_visible_orgs())::bigint[]))$p$, p_table);
    PERFORM declare_org_owned_post_policy(p_table);
    EXECUTE format('CREATE POLICY owner ON %s FOR ALL TO orgmatrix_owner USING (true) WITH CHECK (true)', p_table);
END
$$;

CREATE FUNCTION declare_org_owned_post_policy(p_table regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = p_table AND attname = 'principal_id' AND NOT attisdropped) THEN
        EXECUTE format($p$CREATE POLICY post ON %s FOR INSERT TO orgmatrix_app
            WITH CHECK ((tenant_id, org_id, principal_id) = (SELECT p.tenant_id, p.org_id, p.principal_id FROM app_poster() p))$p$,
            p_table);
    ELSE
        EXECUTE format($p$CREATE POLICY post ON %s FOR INSERT TO orgmatrix_app
            WITH CHECK ((tenant_id, org_id) = (SELECT p.tenant_id, p.org_id FROM app_poster() p))$p$, p_table);
    END IF;
END
$$;

DO $$
DECLARE
    posting regclass;
BEGIN
    FOREACH posting IN ARRAY ARRAY['stock_moves', 'purchase_receipts', 'sales_issues', 'stock_counts', 'idempotency_keys']::regclass[] LOOP
        EXECUTE format('DROP POLICY post ON %s', posting);
        PERFORM declare_org_owned_post_policy(posting);
    END LOOP;
END
$$;

-- Ids and times are the database's: the application role inserts every other column (so
-- neither a backdated posted_at nor an id claimed with OVERRIDING SYSTEM VALUE gets in) and the
-- defaults give identity and now(). A column added later is not insertable until granted.
REVOKE INSERT ON stock_moves, purchase_receipts, sales_issues, stock_counts, idempotency_keys, audit_events FROM orgmatrix_app;
GRANT INSERT (tenant_id, org_id, item_id, quantity_scaled, value_fen, unit_cost_fen, document_type, document_id, principal_id)
    ON stock_moves TO orgmatrix_app;
GRANT INSERT (tenant_id, org_id, supplier, principal_id, request_id) ON purchase_receipts TO orgmatrix_app;
GRANT INSERT (tenant_id, org_id, settlement_org_id, customer, principal_id, request_id) ON sales_issues TO orgmatrix_app;
GRANT INSERT (tenant_id, org_id, reason, principal_id, request_id) ON stock_counts TO orgmatrix_app;
GRANT INSERT (tenant_id, principal_id, idempotency_key, org_id, request_hash, response_status, response_body)
    ON idempotency_keys TO orgmatrix_app;
GRANT INSERT (tenant_id, principal_id, actor, org_id, request_id, action, subject, detail) ON audit_events TO orgmatrix_app;

-- ---- sales: booked by the org the matrix names now -------------------------------------------------

-- The settlement org of a sale settles the selling org's sales now (settles_for, purpose sales
-- or all, valid at the transaction's start), whoever writes it. Reads the matrix as the owner,
-- so a principal's narrow view cannot hide a relation from the check, nor show it one.
CREATE FUNCTION sales_issues_settled_as_the_matrix_says() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM relations r
         WHERE r.tenant_id = NEW.tenant_id AND r.kind = 'settles_for' AND r.purpose IN ('sales', 'all')
           AND r.from_org_id = NEW.settlement_org_id AND r.to_org_id = NEW.org_id
           AND r.valid_from <= now() AND (r.valid_to IS NULL OR now() < r.valid_to)) THEN
        RAISE EXCEPTION 'org % does not settle the sales of org % now', NEW.settlement_org_id, NEW.org_id USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER sales_issues_settled_as_the_matrix_says BEFORE INSERT ON sales_issues
    FOR EACH ROW EXECUTE FUNCTION sales_issues_settled_as_the_matrix_says();

-- ---- audit events: the writer's own name ------------------------------------------------------------

-- The policy audit_events_append already binds (tenant, org, principal) to the context; the
-- actor is that principal's name, whatever the client sends. Rows without a principal (the
-- owner's `tenant apply`) keep the actor they name.
CREATE FUNCTION audit_events_actor_is_the_principal() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF NEW.principal_id IS NOT NULL THEN
        NEW.actor := (SELECT p.name FROM principals p WHERE p.tenant_id = NEW.tenant_id AND p.principal_id = NEW.principal_id);
        IF NEW.actor IS NULL THEN
            RAISE EXCEPTION 'audit event by unknown principal %', NEW.principal_id USING ERRCODE = '42501';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_events_actor_is_the_principal BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_actor_is_the_principal();

-- ---- API keys: issued through one audited function --------------------------------------------------

-- HQ issues a key to an active principal of an org it can see; the key and its audit event are
-- written together, in HQ's name. The application role no longer inserts keys itself.
CREATE FUNCTION app_issue_api_key(p_principal_id bigint, p_key_hash bytea, p_request_id text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    writer record;
    holder record;
    issued bigint;
BEGIN
    SELECT * INTO writer FROM app_writer();
    SELECT p.principal_id, p.name, p.org_id INTO holder
      FROM principals p
     WHERE p.tenant_id = writer.tenant_id AND p.principal_id = p_principal_id AND p.revoked_at IS NULL
       AND p.org_id = ANY (app_visible_orgs());
    IF writer.tenant_id IS NULL OR app_role() IS DISTINCT FROM 'hq_admin' OR holder.principal_id IS NULL THEN
        RAISE EXCEPTION 'only hq_admin issues API keys, to active principals of orgs it can see' USING ERRCODE = '42501';
    END IF;
    INSERT INTO api_keys (tenant_id, principal_id, org_id, key_hash)
    VALUES (writer.tenant_id, holder.principal_id, holder.org_id, p_key_hash)
    RETURNING key_id INTO issued;
    -- The actor is named by audit_events_actor_is_the_principal.
    INSERT INTO audit_events (tenant_id, principal_id, actor, org_id, request_id, action, subject, detail)
    VALUES (writer.tenant_id, writer.principal_id, '-', writer.org_id, p_request_id, 'api_key.issue', holder.name,
        jsonb_build_object('key_id', issued::text, 'principal_id', holder.principal_id::text));
    RETURN issued;
END
$$;
GRANT EXECUTE ON FUNCTION app_issue_api_key(bigint, bytea, text) TO orgmatrix_app;

DROP POLICY api_keys_admin_insert ON api_keys;
REVOKE INSERT ON api_keys FROM orgmatrix_app;

REVOKE EXECUTE ON FUNCTION declare_org_owned_post_policy(regclass), sales_issues_settled_as_the_matrix_says(),
    audit_events_actor_is_the_principal() FROM PUBLIC;
