import Logging
import NIOCore
import OrgMatrixCore
import PostgresNIO

/// The benchmark's own reading of one tenant's ledger tables into `LedgerEvidence`, as the
/// owner (who reads every row): keys with their revocations, transactions with their
/// endorsements, dispute and commit, blocks with the hashes they list. Private to the
/// benchmark: the product's loader is the Store's; this one exists so `orgmatrix-bench ledger`
/// can time the verifier on a ledger it just wrote. Statuses are read from which rows exist
/// (Schema/0013), the way the Store reports them.
enum LedgerEvidenceRows {
    static func load(tenantID: TenantID, tenant: TenantCode, connection: PostgresConnection, logger: Logger) async throws
        -> LedgerEvidence
    {
        LedgerEvidence(
            tenant: tenant, keys: try await keys(tenantID, connection, logger),
            transactions: try await transactions(tenantID, connection, logger),
            blocks: try await blocks(tenantID, connection, logger))
    }

    private static func keys(_ tenantID: TenantID, _ connection: PostgresConnection, _ logger: Logger) async throws
        -> [LedgerEvidence.Key]
    {
        var keys: [LedgerEvidence.Key] = []
        let rows = try await connection.query(
            """
            SELECT k.owner, k.version, k.custody, k.public_key, (extract(epoch FROM k.valid_from) * 1000000)::bigint,
                (extract(epoch FROM r.revoked_at) * 1000000)::bigint, r.reason
            FROM org_keys k LEFT JOIN org_key_revocations r USING (tenant_id, owner, version)
            WHERE k.tenant_id = \(tenantID.rawValue) ORDER BY k.owner, k.version
            """, logger: logger)
        for try await (owner, version, custody, publicKey, validFrom, revokedAt, reason) in rows.decode(
            (String, Int32, String, ByteBuffer, Int64, Int64?, String?).self)
        {
            guard let custody = KeyCustody(rawValue: custody) else {
                throw BenchFailure("a key row of \(owner) has custody \(custody)")
            }
            let revocation = revokedAt.map {
                LedgerEvidence.Key.Revocation(revokedAt: UTCMicros(microsecondsSinceEpoch: $0), reason: reason ?? "")
            }
            keys.append(
                LedgerEvidence.Key(
                    owner: try KeyOwner(name: owner), version: Int64(version), custody: custody, publicKeyDER: bytes(publicKey),
                    validFrom: UTCMicros(microsecondsSinceEpoch: validFrom), revocation: revocation))
        }
        return keys
    }

    private static func transactions(
        _ tenantID: TenantID, _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> [LedgerEvidence.Transaction] {
        var endorsements: [LedgerHash: [LedgerEvidence.Endorsement]] = [:]
        let endorsementRows = try await connection.query(
            """
            SELECT tx_hash, org_code, key_version, signature FROM ledger_endorsements
            WHERE tenant_id = \(tenantID.rawValue) ORDER BY tx_hash, endorsed_at, org_code
            """, logger: logger)
        for try await (hash, org, version, signature) in endorsementRows.decode((ByteBuffer, String, Int32, ByteBuffer).self) {
            endorsements[try LedgerHash(bytes(hash)), default: []].append(
                LedgerEvidence.Endorsement(org: try OrgCode(org), keyVersion: Int64(version), signatureDER: bytes(signature)))
        }
        var transactions: [LedgerEvidence.Transaction] = []
        let rows = try await connection.query(
            """
            SELECT t.tx_hash, t.canonical,
                EXISTS (SELECT 1 FROM ledger_commits c WHERE c.tenant_id = t.tenant_id AND c.tx_hash = t.tx_hash), d.org_code, d.reason
            FROM ledger_transactions t LEFT JOIN ledger_disputes d USING (tenant_id, tx_hash)
            WHERE t.tenant_id = \(tenantID.rawValue) ORDER BY t.at, t.tx_hash
            """, logger: logger)
        for try await (hashBuffer, canonical, committed, disputer, reason) in rows.decode(
            (ByteBuffer, ByteBuffer, Bool, String?, String?).self)
        {
            let hash = try LedgerHash(bytes(hashBuffer))
            let dispute = try disputer.map { LedgerEvidence.Dispute(org: try OrgCode($0), reason: reason ?? "") }
            let status: LedgerTransactionStatus = dispute != nil ? .disputed : committed ? .committed : .pending
            transactions.append(
                LedgerEvidence.Transaction(
                    claimedHash: hash, canonicalBytes: bytes(canonical), claimedStatus: status,
                    endorsements: endorsements[hash] ?? [],
                    dispute: dispute))
        }
        return transactions
    }

    private static func blocks(_ tenantID: TenantID, _ connection: PostgresConnection, _ logger: Logger) async throws
        -> [LedgerEvidence.Block]
    {
        var listed: [Int64: [LedgerHash]] = [:]
        let entryRows = try await connection.query(
            "SELECT block_number, tx_hash FROM ledger_block_entries WHERE tenant_id = \(tenantID.rawValue) ORDER BY block_number, position",
            logger: logger)
        for try await (number, hash) in entryRows.decode((Int64, ByteBuffer).self) {
            listed[number, default: []].append(try LedgerHash(bytes(hash)))
        }
        var blocks: [LedgerEvidence.Block] = []
        let rows = try await connection.query(
            """
            SELECT number, header, block_hash, orderer_key_version, signature FROM ledger_blocks
            WHERE tenant_id = \(tenantID.rawValue) ORDER BY number
            """, logger: logger)
        for try await (number, header, hash, version, signature) in rows.decode(
            (Int64, ByteBuffer, ByteBuffer, Int32, ByteBuffer).self)
        {
            blocks.append(
                LedgerEvidence.Block(
                    number: number, headerBytes: bytes(header), claimedHash: try LedgerHash(bytes(hash)),
                    ordererKeyVersion: Int64(version),
                    ordererSignatureDER: bytes(signature), transactionHashes: listed[number] ?? []))
        }
        return blocks
    }

    private static func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }
}
