-- Org keys: the custody of the ledger's signing keys (docs/LEDGER.md, "Keys"), the tenant file's
-- ledger settings, and a lane's carrier.
--
-- Keys
--   tenant_data_keys        per tenant, versioned: 16 random bytes, stored only wrapped with
--                           SM4-GCM under the master key ops provide (ORGMATRIX_MASTER_KEY_FILE),
--                           with the SM3 fingerprint (hex) of the master key that wrapped it, so
--                           a wrong master key file is named as such instead of failing to open.
--   org_keys                per tenant and owner (an org, or 'orderer': the tenant's one block
--                           signer), versioned 1, 2, …: custody, the public key (SPKI DER) and
--                           valid_from, the database's now() at registration. A later version
--                           ends the one before at its valid_from.
--   org_key_revocations     a revocation ends a key at revoked_at (now()), with a reason.
--   custodial_private_keys  a custodial key's private half (PKCS#8 DER), sealed with SM4-GCM
--                           under the tenant data key of data_key_version.
-- Sealed values are SMCrypto's SM4.Sealed format: version byte ‖ 12-byte random nonce ‖
-- ciphertext ‖ 16-byte tag. The associated data binds each to where it belongs, so a sealed value
-- copied to another row, tenant, owner or version does not open:
--   data key:     'orgmatrix:tenant-data-key:v1|' tenant_id '|' version
--   private key:  'orgmatrix:org-private-key:v1|' tenant_id '|' owner '|' version
-- The database never holds a key in the clear: reading a sealed row gives nothing without the
-- master key file, which only the processes ops start are given.
--
-- Who may write what
--   * Custodial keys and data keys: the owner only. They are generated in Swift by the process
--     that holds the master key, which today is `orgmatrix tenant apply`, connected as
--     orgmatrix_owner (HQ's operators apply the tenant file; TenantAdmin runs as the owner). No
--     principal of the API creates a custodial key, so the application role inserts neither.
--   * The application role reads both sealed tables (its own tenant's rows): the server will sign
--     for custodial orgs, with the master key it is given, inside the posting's transaction, and
--     a warehouse's posting needs its settlement org's signature too, an org outside the
--     warehouse's sandbox; a sealed row tells that principal nothing. The auditor reads neither.
--   * Public keys and revocations: everyone of the tenant reads them (they are public, and the
--     verifier needs every org's). The owner registers and revokes (`orgmatrix keys register`,
--     `keys revoke`, and tenant apply's custodial keys). An org's own principal (org_operator,
--     or hq_admin acting for HQ) may register a client-held key for its own org only, and only
--     when the ledger settings in force list the org as client-held, and may revoke its own
--     org's keys: what the API's key registration will do; nothing else of the application role
--     writes keys. Who registered or revoked (the principal, or NULL for the owner) and when are
--     the database's: triggers set them from the signed context and now().
--   * Nobody updates or deletes any of these rows, the owner included (triggers); the
--     application role has no UPDATE or DELETE grant.
--
-- Ledger settings (ledger_settings): the tenant file's `ledger:` section, versioned, each version
-- in force from the apply that stored it (effective_from = now()), so a transaction can name the
-- policy in force: the hq org, the client-held orgs and the policy text per transaction type.
--
-- Carrier: relations.carrier_org_id/carrier_code, a lane's transport org (the `carrier` role),
-- with its code beside its id as for the lane's ends (the carrier may lie outside the reader's
-- sandbox). 0002's table-wide INSERT grant on relations covers the new columns.

-- ---- a lane's carrier ---------------------------------------------------------------------------

ALTER TABLE relations ADD COLUMN carrier_org_id bigint, ADD COLUMN carrier_code text;
ALTER TABLE relations ADD CONSTRAINT relations_carrier_org
    FOREIGN KEY (tenant_id, carrier_org_id, carrier_code) REFERENCES orgs (tenant_id, org_id, code);
ALTER TABLE relations ADD CONSTRAINT relations_carrier_on_lanes_only CHECK (
    (carrier_org_id IS NULL) = (carrier_code IS NULL)
    AND (kind = 'transfers_with' OR carrier_org_id IS NULL)
    AND carrier_org_id <> from_org_id AND carrier_org_id <> to_org_id);

-- ---- tables ------------------------------------------------------------------------------------

CREATE TABLE tenant_data_keys (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    version integer NOT NULL CHECK (version >= 1),
    -- 1 + 12 + 16 + 16 bytes: a sealed 16-byte key.
    sealed_key bytea NOT NULL CHECK (length(sealed_key) = 45),
    master_key_fingerprint text NOT NULL CHECK (master_key_fingerprint ~ '^[0-9a-f]{64}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, version)
);

CREATE TABLE org_keys (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    -- An org's code, or 'orderer' (lower case: no org code can be it).
    owner text NOT NULL CHECK (owner = 'orderer' OR owner ~ '^[A-Z][A-Z0-9-]{1,39}$'),
    org_id bigint,
    version integer NOT NULL CHECK (version >= 1),
    custody text NOT NULL CHECK (custody IN ('custodial', 'client')),
    -- SubjectPublicKeyInfo: id-ecPublicKey, sm2p256v1, an uncompressed point (04 ‖ x ‖ y). That
    -- the point is on the curve is checked in Swift (SMCrypto.SM2PublicKey) before it gets here.
    public_key bytea NOT NULL CHECK (length(public_key) = 91
        AND substring(public_key FROM 1 FOR 27) = '\x3059301306072a8648ce3d020106082a811ccf5501822d03420004'::bytea),
    valid_from timestamptz NOT NULL DEFAULT now(),
    registered_by bigint,
    PRIMARY KEY (tenant_id, owner, version),
    UNIQUE (tenant_id, public_key),
    FOREIGN KEY (tenant_id, org_id, owner) REFERENCES orgs (tenant_id, org_id, code),
    FOREIGN KEY (tenant_id, registered_by) REFERENCES principals (tenant_id, principal_id),
    CHECK ((owner = 'orderer') = (org_id IS NULL)),
    -- The orderer signs blocks in the server: its key is always custodial.
    CHECK (owner <> 'orderer' OR custody = 'custodial')
);

CREATE TABLE custodial_private_keys (
    tenant_id uuid NOT NULL,
    owner text NOT NULL,
    version integer NOT NULL,
    data_key_version integer NOT NULL,
    -- A sealed PKCS#8 SM2 key (about 150 bytes), never shorter than the sealing overhead.
    sealed_private_key bytea NOT NULL CHECK (length(sealed_private_key) BETWEEN 30 AND 1000),
    PRIMARY KEY (tenant_id, owner, version),
    FOREIGN KEY (tenant_id, owner, version) REFERENCES org_keys (tenant_id, owner, version),
    FOREIGN KEY (tenant_id, data_key_version) REFERENCES tenant_data_keys (tenant_id, version)
);

CREATE TABLE org_key_revocations (
    tenant_id uuid NOT NULL,
    owner text NOT NULL,
    version integer NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now(),
    reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500 AND reason ~ '\S'),
    revoked_by bigint,
    PRIMARY KEY (tenant_id, owner, version),
    FOREIGN KEY (tenant_id, owner, version) REFERENCES org_keys (tenant_id, owner, version),
    FOREIGN KEY (tenant_id, revoked_by) REFERENCES principals (tenant_id, principal_id)
);

CREATE TABLE ledger_settings (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    version integer NOT NULL CHECK (version >= 1),
    hq_org_id bigint NOT NULL,
    hq_code text NOT NULL,
    -- Org codes, each an org of the tenant (checked on insert; orgs are never deleted nor recoded).
    client_held text[] NOT NULL,
    -- Transaction type → policy expression text, e.g. {"transfer.received": "AND(receiver, sender)"}.
    policies jsonb NOT NULL CHECK (jsonb_typeof(policies) = 'object'),
    effective_from timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, version),
    FOREIGN KEY (tenant_id, hq_org_id, hq_code) REFERENCES orgs (tenant_id, org_id, code)
);

-- ---- what every writer gets: the next version, the database's time, the context's principal ------

-- The next version of (tenant, owner), starting after the one before; valid_from is now() and
-- registered_by the signed context's principal (NULL for the owner), whatever the writer sent.
-- Registrations of one owner queue on an advisory lock, so the version read is the last committed.
CREATE FUNCTION org_keys_as_registered() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    previous record;
BEGIN
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
CREATE TRIGGER org_keys_as_registered BEFORE INSERT ON org_keys FOR EACH ROW EXECUTE FUNCTION org_keys_as_registered();

-- A custodial key has its sealed private half by the end of the transaction that registered it.
CREATE FUNCTION org_keys_custodial_sealed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF NEW.custody = 'custodial' AND NOT EXISTS (
        SELECT 1 FROM custodial_private_keys p WHERE p.tenant_id = NEW.tenant_id AND p.owner = NEW.owner AND p.version = NEW.version) THEN
        RAISE EXCEPTION 'custodial key version % of % has no sealed private key', NEW.version, NEW.owner USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER org_keys_custodial_sealed AFTER INSERT ON org_keys DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION org_keys_custodial_sealed();

-- Only a custodial key has a private half here.
CREATE FUNCTION custodial_private_keys_of_custodial_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM org_keys k WHERE k.tenant_id = NEW.tenant_id AND k.owner = NEW.owner AND k.version = NEW.version
                      AND k.custody = 'custodial') THEN
        RAISE EXCEPTION 'key version % of % is not custodial', NEW.version, NEW.owner USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER custodial_private_keys_of_custodial_keys BEFORE INSERT ON custodial_private_keys
    FOR EACH ROW EXECUTE FUNCTION custodial_private_keys_of_custodial_keys();

-- A revocation happens now, by the context's principal (NULL for the owner), and never before
-- the key it ends started.
CREATE FUNCTION org_key_revocations_as_revoked() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    NEW.revoked_at := now();
    NEW.revoked_by := (SELECT w.principal_id FROM app_writer() w);
    IF NOT EXISTS (SELECT 1 FROM org_keys k WHERE k.tenant_id = NEW.tenant_id AND k.owner = NEW.owner AND k.version = NEW.version
                      AND k.valid_from <= NEW.revoked_at) THEN
        RAISE EXCEPTION 'key version % of % did not start before %', NEW.version, NEW.owner, NEW.revoked_at USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER org_key_revocations_as_revoked BEFORE INSERT ON org_key_revocations
    FOR EACH ROW EXECUTE FUNCTION org_key_revocations_as_revoked();

-- Data keys and ledger settings: the next version, stamped now().
CREATE FUNCTION tenant_data_keys_as_created() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('orgmatrix.tenant-data-keys'), hashtext(NEW.tenant_id::text));
    NEW.created_at := now();
    IF NEW.version IS DISTINCT FROM (SELECT coalesce(max(d.version), 0) + 1 FROM tenant_data_keys d WHERE d.tenant_id = NEW.tenant_id) THEN
        RAISE EXCEPTION 'data key version % of tenant % is not the next', NEW.version, NEW.tenant_id USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tenant_data_keys_as_created BEFORE INSERT ON tenant_data_keys FOR EACH ROW EXECUTE FUNCTION tenant_data_keys_as_created();

CREATE FUNCTION ledger_settings_as_applied() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    unknown text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('orgmatrix.ledger-settings'), hashtext(NEW.tenant_id::text));
    NEW.effective_from := now();
    IF NEW.version IS DISTINCT FROM (SELECT coalesce(max(l.version), 0) + 1 FROM ledger_settings l WHERE l.tenant_id = NEW.tenant_id) THEN
        RAISE EXCEPTION 'ledger settings version % of tenant % is not the next', NEW.version, NEW.tenant_id USING ERRCODE = '23514';
    END IF;
    SELECT c INTO unknown FROM unnest(NEW.client_held) c
     WHERE NOT EXISTS (SELECT 1 FROM orgs o WHERE o.tenant_id = NEW.tenant_id AND o.code = c) LIMIT 1;
    IF unknown IS NOT NULL OR array_position(NEW.client_held, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'client-held org % is not an org of the tenant', coalesce(unknown, 'NULL') USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER ledger_settings_as_applied BEFORE INSERT ON ledger_settings FOR EACH ROW EXECUTE FUNCTION ledger_settings_as_applied();

REVOKE EXECUTE ON FUNCTION org_keys_as_registered(), org_keys_custodial_sealed(), custodial_private_keys_of_custodial_keys(),
    org_key_revocations_as_revoked(), tenant_data_keys_as_created(), ledger_settings_as_applied() FROM PUBLIC;

-- ---- append-only, for everyone ---------------------------------------------------------------------

DO $$
DECLARE
    kept regclass;
BEGIN
    FOREACH kept IN ARRAY ARRAY['tenant_data_keys', 'org_keys', 'custodial_private_keys', 'org_key_revocations', 'ledger_settings']::regclass[] LOOP
        EXECUTE format('CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION reject_change()', kept);
        EXECUTE format('CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION reject_change()', kept);
    END LOOP;
END
$$;

-- ---- row-level security -----------------------------------------------------------------------------

ALTER TABLE tenant_data_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_data_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_data_keys_read ON tenant_data_keys FOR SELECT TO orgmatrix_app
    USING (tenant_id = ANY ((SELECT ARRAY[app_tenant_id()])::uuid[]));
CREATE POLICY tenant_data_keys_owner ON tenant_data_keys FOR ALL TO orgmatrix_owner USING (true) WITH CHECK (true);

ALTER TABLE custodial_private_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE custodial_private_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY custodial_private_keys_read ON custodial_private_keys FOR SELECT TO orgmatrix_app
    USING (tenant_id = ANY ((SELECT ARRAY[app_tenant_id()])::uuid[]));
CREATE POLICY custodial_private_keys_owner ON custodial_private_keys FOR ALL TO orgmatrix_owner USING (true) WITH CHECK (true);

ALTER TABLE org_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY org_keys_read ON org_keys FOR SELECT TO orgmatrix_app, orgmatrix_auditor
    USING (tenant_id = ANY ((SELECT ARRAY[app_tenant_id()])::uuid[]));
CREATE POLICY org_keys_register_own ON org_keys FOR INSERT TO orgmatrix_app
    WITH CHECK (tenant_id = (SELECT app_tenant_for_roles('{org_operator,hq_admin}')) AND org_id = (SELECT app_org_id())
        AND custody = 'client'
        AND owner = ANY (coalesce((SELECT l.client_held FROM ledger_settings l WHERE l.tenant_id = org_keys.tenant_id
                                    ORDER BY l.version DESC LIMIT 1), '{}')));
CREATE POLICY org_keys_owner ON org_keys FOR ALL TO orgmatrix_owner USING (true) WITH CHECK (true);

ALTER TABLE org_key_revocations ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_key_revocations FORCE ROW LEVEL SECURITY;
CREATE POLICY org_key_revocations_read ON org_key_revocations FOR SELECT TO orgmatrix_app, orgmatrix_auditor
    USING (tenant_id = ANY ((SELECT ARRAY[app_tenant_id()])::uuid[]));
CREATE POLICY org_key_revocations_revoke_own ON org_key_revocations FOR INSERT TO orgmatrix_app
    WITH CHECK (tenant_id = (SELECT app_tenant_for_roles('{org_operator,hq_admin}'))
        AND EXISTS (SELECT 1 FROM org_keys k WHERE k.tenant_id = org_key_revocations.tenant_id AND k.owner = org_key_revocations.owner
                       AND k.version = org_key_revocations.version AND k.org_id = (SELECT app_org_id())));
CREATE POLICY org_key_revocations_owner ON org_key_revocations FOR ALL TO orgmatrix_owner USING (true) WITH CHECK (true);

ALTER TABLE ledger_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY ledger_settings_read ON ledger_settings FOR SELECT TO orgmatrix_app, orgmatrix_auditor
    USING (tenant_id = ANY ((SELECT ARRAY[app_tenant_id()])::uuid[]));
CREATE POLICY ledger_settings_owner ON ledger_settings FOR ALL TO orgmatrix_owner USING (true) WITH CHECK (true);

-- ---- grants: reads as above; the application inserts only what its own org registers -------------

GRANT SELECT ON tenant_data_keys, custodial_private_keys TO orgmatrix_app;
GRANT SELECT ON org_keys, org_key_revocations, ledger_settings TO orgmatrix_app, orgmatrix_auditor;
GRANT INSERT (tenant_id, owner, org_id, version, custody, public_key) ON org_keys TO orgmatrix_app;
GRANT INSERT (tenant_id, owner, version, reason) ON org_key_revocations TO orgmatrix_app;
