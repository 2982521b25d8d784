import Foundation
import Logging
import NIOCore
import OrgMatrixCore
import PostgresNIO

/// Ledger transactions of the tenant itself rather than of a transfer: key events and pricing
/// rule versions. Written on the connection of whoever stores the row they evidence (the owner
/// in `tenant apply` and `orgmatrix keys`), in the same database transaction; endorsed by HQ
/// (the policy's `hq`) with its custodial key when the writer holds the master key.
struct TenantLedger {
    let tenantID: TenantID
    let connection: PostgresConnection
    let logger: Logger

    /// Writes the transaction; its hash.
    @discardableResult
    func record(_ type: LedgerTransactionType, body: JSONValue) async throws -> LedgerHash {
        let row = try await connection.query(
            """
            SELECT t.code, (extract(epoch FROM now()) * 1000000)::bigint,
                (SELECT s.hq_code FROM ledger_settings s WHERE s.tenant_id = t.tenant_id ORDER BY s.version DESC LIMIT 1),
                (SELECT s.policies::text FROM ledger_settings s WHERE s.tenant_id = t.tenant_id ORDER BY s.version DESC LIMIT 1)
            FROM tenants t WHERE t.tenant_id = \(tenantID.rawValue)
            """, logger: logger
        ).collect().first!
        let (tenantCode, atMicros, hqCode, policiesText) = try row.decode((String, Int64, String?, String?).self)
        let texts = try policiesText.map { try JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
        let policies = try hqCode.map { hq in LedgerDefinition(hq: try OrgCode(hq), clientHeld: [], policies: texts).ledgerPolicies } ?? LedgerPolicies()
        let policy = policies.policy(for: type)
        // Without ledger settings the tenant names no HQ for its key events: they stay pending,
        // and the verifier lists them.
        let endorsers: [EndorserRole: OrgCode] = try hqCode.map { [.hq: try OrgCode($0)] } ?? [:]
        let transaction = LedgerTransaction(
            type: type, tenant: try TenantCode(tenantCode), at: UTCMicros(microsecondsSinceEpoch: atMicros),
            endorsers: endorsers.filter { policy.roles.contains($0.key) }, policy: policy, body: body)
        let bytes = transaction.canonicalBytes
        let hash = LedgerHash.of(bytes)
        try await connection.query(
            """
            INSERT INTO ledger_transactions (tenant_id, tx_hash, tx_type, at, canonical, endorser_org_ids, principal_id)
            SELECT \(tenantID.rawValue), \(ByteBuffer(bytes: hash.bytes)), \(type.rawValue), now(), \(ByteBuffer(bytes: bytes)),
                coalesce(array_agg(o.org_id ORDER BY o.org_id) FILTER (WHERE o.org_id IS NOT NULL), '{}'), (SELECT principal_id FROM app_poster())
            FROM orgs o WHERE o.tenant_id = \(tenantID.rawValue) AND o.code = ANY(\(Set(transaction.endorsers.values).map(\.rawValue)))
            """, logger: logger)
        return hash
    }

    /// HQ endorses, with its custodial key, every pending transaction of the tenant that names it
    /// and that it has not endorsed (after `tenant apply` has generated HQ's key, the key
    /// registrations written before it); commits those whose policy then holds.
    // Unoptimized: Swift 6.3.1's release build crashes (signal 11 in LLVM's CoroSplit, "while
    // splitting coroutine" this function) when it optimizes it. It runs once per tenant apply.
    @_optimize(none)
    func endorseAsHQ(masterKey: MasterKey) async throws {
        let rows = try await connection.query(
            """
            SELECT t.tx_hash, t.canonical, s.hq_org_id, s.hq_code FROM ledger_transactions t
            JOIN LATERAL (SELECT hq_org_id, hq_code FROM ledger_settings s WHERE s.tenant_id = t.tenant_id ORDER BY s.version DESC LIMIT 1) s ON true
            WHERE t.tenant_id = \(tenantID.rawValue) AND s.hq_org_id = ANY (t.endorser_org_ids) AND t.transfer_id IS NULL
              AND NOT EXISTS (SELECT 1 FROM ledger_commits c WHERE c.tenant_id = t.tenant_id AND c.tx_hash = t.tx_hash)
              AND NOT EXISTS (SELECT 1 FROM ledger_disputes d WHERE d.tenant_id = t.tenant_id AND d.tx_hash = t.tx_hash)
              AND NOT EXISTS (SELECT 1 FROM ledger_endorsements e WHERE e.tenant_id = t.tenant_id AND e.tx_hash = t.tx_hash AND e.org_id = s.hq_org_id)
            ORDER BY t.at, t.tx_hash
            """, logger: logger)
        var pending: [(LedgerHash, [UInt8], Int64, OrgCode)] = []
        for try await (hash, canonical, hqID, hqCode) in rows.decode((ByteBuffer, ByteBuffer, Int64, String).self) {
            pending.append((try LedgerHash(bytes(hash)), bytes(canonical), hqID, try OrgCode(hqCode)))
        }
        let keys = Keys(tenantID: tenantID, connection: connection, logger: logger)
        for (hash, canonical, hqID, hq) in pending {
            guard let transaction = try? LedgerTransaction(canonicalBytes: canonical),
                let key = try await keys.history(of: .org(hq)).valid(at: transaction.at),
                key.custody == .custodial
            else { continue }
            let signed = try await keys.sign(canonical, as: .org(hq), masterKey: masterKey)
            guard signed.version == key.version else { continue }
            try await connection.query(
                """
                INSERT INTO ledger_endorsements (tenant_id, tx_hash, org_id, org_code, key_version, signature, principal_id)
                VALUES (\(tenantID.rawValue), \(ByteBuffer(bytes: hash.bytes)), \(hqID), \(hq.rawValue), \(signed.version),
                    \(ByteBuffer(bytes: signed.signature.derRepresentation)), NULL)
                """, logger: logger)
            let endorsed = try await connection.query(
                "SELECT org_code FROM ledger_endorsements WHERE tenant_id = \(tenantID.rawValue) AND tx_hash = \(ByteBuffer(bytes: hash.bytes))",
                logger: logger
            ).collect().map { try OrgCode(try $0.decode(String.self)) }
            if transaction.isCommitted(byEndorsementsOf: Set(endorsed)) {
                try await connection.query(
                    "INSERT INTO ledger_commits (tenant_id, tx_hash) VALUES (\(tenantID.rawValue), \(ByteBuffer(bytes: hash.bytes)))", logger: logger)
            }
        }
    }
}
