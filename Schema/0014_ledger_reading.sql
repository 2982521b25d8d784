-- Reading the whole ledger, for the roles that verify it (hq_admin and auditor:
-- OrgMatrixCore's `PrincipalRole.may(.verifyLedger)`; `orgmatrix ledger verify`, GET /v1/ledger/verify).
--
-- A verifier that cannot read a row cannot name what is wrong with it: a block sealing it shows
-- as sealing a missing transaction, and the row itself goes unchecked. 0013 lets a principal read
-- the transactions that name an org of its visible set or evidence a transfer it sees. HQ and
-- its auditors see every org below HQ, which is the whole tenant while every org reports up to
-- HQ; but a transaction whose endorser_org_ids is empty (its policy's roles resolved to no org:
-- TenantLedger writes key events so for a tenant without ledger settings), or names only orgs
-- the matrix no longer puts below HQ, was hidden from them. Here those two roles read every ledger transaction of their
-- tenant; 0013's endorsement, dispute and commit policies follow the transactions a reader sees;
-- keys, revocations, blocks and entries were tenant-wide already.
CREATE POLICY read_whole_ledger ON ledger_transactions FOR SELECT TO orgmatrix_app, orgmatrix_auditor
    USING (tenant_id = ANY ((SELECT ARRAY[app_tenant_for_roles('{hq_admin,auditor}')])::uuid[]));

-- The codes of the orgs a transaction's endorser_org_ids lists, in that order (an id that is no
-- org of the tenant as 'org id N'), for the verifier to hold against the orgs its bytes name:
-- the column decides who may endorse, dispute and read the transaction. Read as the owner, since
-- an org can lie outside the reader's sandbox; NULL for any role but the two that verify.
CREATE FUNCTION app_ledger_org_codes(p_ids bigint[]) RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT CASE WHEN tenant IS NULL THEN NULL ELSE (
        SELECT coalesce(array_agg(coalesce(o.code, 'org id ' || i.id) ORDER BY i.n), '{}')
          FROM unnest(p_ids) WITH ORDINALITY AS i (id, n)
          LEFT JOIN orgs o ON o.tenant_id = tenant AND o.org_id = i.id) END
      FROM (SELECT app_tenant_for_roles('{hq_admin,auditor}') AS tenant) context
$$;
REVOKE EXECUTE ON FUNCTION app_ledger_org_codes(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_ledger_org_codes(bigint[]) TO orgmatrix_app, orgmatrix_auditor;
