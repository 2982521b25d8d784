-- Private values (docs/LEDGER.md, "Private fields"): the salt ‖ value of a field a ledger
-- transaction commits to under `private.<field>`, sealed with SM4-GCM under the tenant's data
-- key (associated data `orgmatrix:ledger-private-value:v1|<tenant>|<tx hash hex>|<field>`), so
-- that neither the database's readers nor its backups see a carrier's contract price.
-- Append-only like the rest of the ledger; written only with its transaction, and a transaction
-- that commits to a field is not committed without its value.
CREATE TABLE ledger_private_values (
    tenant_id uuid NOT NULL,
    tx_hash bytea NOT NULL,
    field text NOT NULL CHECK (field IN ('carrier_name', 'carrier_contract_price_fen')),
    data_key_version integer NOT NULL,
    -- 1 + 12 + (16-byte salt + at least one byte of value) + 16.
    sealed bytea NOT NULL CHECK (length(sealed) BETWEEN 46 AND 4096),
    principal_id bigint,
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, tx_hash, field),
    FOREIGN KEY (tenant_id, tx_hash) REFERENCES ledger_transactions (tenant_id, tx_hash),
    FOREIGN KEY (tenant_id, data_key_version) REFERENCES tenant_data_keys (tenant_id, version)
);

CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON ledger_private_values FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON ledger_private_values FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
ALTER TABLE ledger_private_values ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_private_values FORCE ROW LEVEL SECURITY;
CREATE POLICY owner ON ledger_private_values FOR ALL TO orgmatrix_owner USING (true) WITH CHECK (true);

-- A value belongs to a field its transaction's bytes commit to, and is written in the same
-- database transaction, by the principal who wrote the transaction.
CREATE FUNCTION ledger_private_value_committed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    tx record;
BEGIN
    SELECT t.canonical, t.principal_id, t.written_at INTO tx
      FROM ledger_transactions t WHERE t.tenant_id = NEW.tenant_id AND t.tx_hash = NEW.tx_hash;
    IF NOT FOUND OR tx.written_at IS DISTINCT FROM now() OR tx.principal_id IS DISTINCT FROM NEW.principal_id
       OR NOT coalesce((convert_from(tx.canonical, 'UTF8')::jsonb -> 'private') ? NEW.field, false) THEN
        RAISE EXCEPTION 'a private value of % is written with the transaction that commits to it, by its writer', NEW.field
            USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER private_value_committed BEFORE INSERT ON ledger_private_values FOR EACH ROW EXECUTE FUNCTION ledger_private_value_committed();

-- At commit, a transaction that commits to private fields has a value for each.
CREATE FUNCTION ledger_private_values_complete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    committed text[];
    stored text[];
BEGIN
    -- Only bytes that hold `"private":` are parsed.
    IF position('\x2270726976617465223a'::bytea IN NEW.canonical) = 0 THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(array_agg(k ORDER BY k), '{}') INTO committed
      FROM jsonb_object_keys(coalesce(convert_from(NEW.canonical, 'UTF8')::jsonb -> 'private', '{}'::jsonb)) k;
    SELECT coalesce(array_agg(v.field ORDER BY v.field), '{}') INTO stored
      FROM ledger_private_values v WHERE v.tenant_id = NEW.tenant_id AND v.tx_hash = NEW.tx_hash;
    IF committed IS DISTINCT FROM stored THEN
        RAISE EXCEPTION 'transaction % commits to private fields % but holds values of %', encode(NEW.tx_hash, 'hex'), committed, stored
            USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER private_values_complete AFTER INSERT ON ledger_transactions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_private_values_complete();

-- Written by the principal who wrote the transaction (the trigger above holds the rest).
CREATE POLICY post ON ledger_private_values FOR INSERT TO orgmatrix_app
    WITH CHECK ((tenant_id, principal_id) = (SELECT p.tenant_id, p.principal_id FROM app_poster() p));
-- Read by HQ's administrators and by the operators and integrations of the transaction's
-- parties (the orgs it names, a transfer's two ends); not by auditors or supervisors, and the
-- auditor role has no grant at all. Reading a row gives ciphertext: opening it needs the master key.
CREATE POLICY read ON ledger_private_values FOR SELECT TO orgmatrix_app
    USING (tenant_id = ANY ((SELECT ARRAY[app_tenant_for_roles('{hq_admin}')])::uuid[])
        OR (tenant_id = ANY ((SELECT ARRAY[app_tenant_for_roles('{org_operator,integration}')])::uuid[])
            AND EXISTS (
                SELECT 1 FROM ledger_transactions t
                 WHERE t.tenant_id = ledger_private_values.tenant_id AND t.tx_hash = ledger_private_values.tx_hash
                   AND ((SELECT app_org_id()) = ANY (t.endorser_org_ids)
                        OR EXISTS (SELECT 1 FROM transfers r WHERE r.tenant_id = t.tenant_id AND r.transfer_id = t.transfer_id
                                     AND (SELECT app_org_id()) IN (r.from_org_id, r.to_org_id))))));

GRANT SELECT ON ledger_private_values TO orgmatrix_app;
GRANT INSERT (tenant_id, tx_hash, field, data_key_version, sealed, principal_id) ON ledger_private_values TO orgmatrix_app;
