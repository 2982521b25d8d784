-- Ids count per tenant. Every id used to come from one sequence per table shared by all
-- tenants, so the gap between two of a tenant's own ids told it how many receipts, transfers or
-- principals every other tenant had made in between. Now each tenant has its own sequence per
-- table (schema tenant_ids, created on the tenant's first row of that table, starting after the
-- tenant's highest id), and a BEFORE INSERT trigger that runs first sets the id from it,
-- whatever the client sent. Ids stay increasing within a tenant, so cursors keep their order;
-- keys already lead with tenant_id, so ids need be unique only within a tenant. nextval takes no
-- row lock: concurrent postings of one tenant do not queue on it.

CREATE SCHEMA tenant_ids;
REVOKE ALL ON SCHEMA tenant_ids FROM PUBLIC;

-- Creates the tenant's sequence for p_table.p_column, starting after its highest id. Creators
-- queue on an advisory lock; one that waited may still hold a stale catalog view (an advisory lock
-- does not refresh it), and CREATE … IF NOT EXISTS, which locks the schema, refreshes it and skips.
CREATE FUNCTION tenant_ids_create(p_tenant uuid, p_table text, p_column text, p_name text) RETURNS regclass
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public SET client_min_messages = warning AS $$
DECLARE
    start bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('orgmatrix.tenant-ids'), hashtext(p_name));
    EXECUTE format('SELECT coalesce(max(%I), 0) + 1 FROM public.%I WHERE tenant_id = $1', p_column, p_table) INTO start USING p_tenant;
    EXECUTE format('CREATE SEQUENCE IF NOT EXISTS tenant_ids.%I AS bigint START WITH %s', p_name, start);
    RETURN to_regclass('tenant_ids.' || quote_ident(p_name));
END
$$;
REVOKE EXECUTE ON FUNCTION tenant_ids_create(uuid, text, text, text) FROM PUBLIC;

-- The tenant's next id for p_table.p_column. No SET clause and no EXCEPTION block on this path,
-- which runs for every inserted row: every name is schema-qualified, and the application role can
-- create no object anywhere to shadow one.
CREATE FUNCTION tenant_next_id(p_tenant uuid, p_table text, p_column text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS $$
DECLARE
    name text := p_table OPERATOR(pg_catalog.||) '_' OPERATOR(pg_catalog.||) pg_catalog.replace(p_tenant::text, '-', '');
    sequence regclass := pg_catalog.to_regclass('tenant_ids.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(name));
BEGIN
    IF sequence IS NULL THEN
        sequence := public.tenant_ids_create(p_tenant, p_table, p_column, name);
    END IF;
    RETURN pg_catalog.nextval(sequence);
END
$$;
REVOKE EXECUTE ON FUNCTION tenant_next_id(uuid, text, text) FROM PUBLIC;

-- TG_ARGV[0] names the id column.
CREATE FUNCTION assign_tenant_id() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    RETURN pg_catalog.jsonb_populate_record(NEW,
        pg_catalog.jsonb_build_object(TG_ARGV[0], public.tenant_next_id(NEW.tenant_id, TG_TABLE_NAME, TG_ARGV[0])));
END
$$;
REVOKE EXECUTE ON FUNCTION assign_tenant_id() FROM PUBLIC;

DO $$
DECLARE
    id record;
BEGIN
    FOR id IN SELECT * FROM (VALUES
        ('orgs', 'org_id'),
        ('relations', 'relation_id'),
        ('principals', 'principal_id'),
        ('api_keys', 'key_id'),
        ('audit_events', 'event_id'),
        ('items', 'item_id'),
        ('stock_moves', 'move_id'),
        ('purchase_receipts', 'receipt_id'),
        ('sales_issues', 'issue_id'),
        ('stock_counts', 'count_id'),
        ('transfers', 'transfer_id')) AS v (table_name, column_name)
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I DROP IDENTITY', id.table_name, id.column_name);
        EXECUTE format('CREATE TRIGGER a00_assign_tenant_id BEFORE INSERT ON %I FOR EACH ROW EXECUTE FUNCTION assign_tenant_id(%L)',
            id.table_name, id.column_name);
    END LOOP;
END
$$;

-- 0007 held a transfer's id to the one the shared identity drew; the trigger above now decides it.
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
                       NEW.trued_up_by, NEW.trued_up_at, NEW.dispatched_at, NEW.received_at, NEW.cancelled_at) > 0
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

-- The last active hq_admin of a tenant cannot be revoked: nobody could administer the tenant
-- afterwards. Revocations of one tenant's admins queue on an advisory lock, so two admins cannot
-- revoke each other at once.
CREATE FUNCTION principals_keep_an_hq_admin() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL AND OLD.role = 'hq_admin' THEN
        PERFORM pg_advisory_xact_lock(hashtext('orgmatrix.hq-admins'), hashtext(OLD.tenant_id::text));
        IF NOT EXISTS (SELECT 1 FROM principals p WHERE p.tenant_id = OLD.tenant_id AND p.role = 'hq_admin'
                          AND p.revoked_at IS NULL AND p.principal_id <> OLD.principal_id) THEN
            RAISE EXCEPTION 'the last active hq_admin of a tenant cannot be revoked' USING ERRCODE = '23514';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
REVOKE EXECUTE ON FUNCTION principals_keep_an_hq_admin() FROM PUBLIC;
CREATE TRIGGER principals_keep_an_hq_admin BEFORE UPDATE OF revoked_at ON principals
    FOR EACH ROW EXECUTE FUNCTION principals_keep_an_hq_admin();
