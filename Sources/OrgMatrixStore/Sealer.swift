import Foundation
import Logging
import NIOCore
import OrgMatrixCore
import PostgresNIO
import SMCrypto
import Synchronization

/// When the sealer cuts a block: as soon as `maxTransactions` committed transactions wait, or
/// when the oldest has waited `maxAge`.
public struct SealingRule: Sendable, Hashable {
    public let maxTransactions: Int
    public let maxAge: Duration

    public init(maxTransactions: Int = 500, maxAge: Duration = .seconds(1)) {
        self.maxTransactions = maxTransactions
        self.maxAge = maxAge
    }
}

/// A block the sealer wrote.
public struct SealedBlock: Sendable, Hashable {
    public let tenant: TenantCode
    public let header: BlockHeader
    public let blockHash: LedgerHash
}

/// What one pass of the sealer did: the blocks it wrote, and the tenants whose chain it could
/// not extend, each with the reason (also logged).
public struct SealingPass: Sendable {
    public var blocks: [SealedBlock] = []
    public var failures: [TenantCode: String] = [:]
}

/// Each tenant's log as of the last block this process sealed, so the next block appends to it
/// instead of hashing every earlier transaction again. Used only while it still gives the last
/// block's signed `log_size` and `log_root`: a block another node sealed since is a miss, and
/// the log is rebuilt from the stored entries.
final class LogFrontiers: Sendable {
    private let frontiers = Mutex<[TenantID: MerkleFrontier]>([:])

    func frontier(_ tenant: TenantID, following previous: BlockHeader) -> MerkleFrontier? {
        guard let cached = frontiers.withLock({ $0[tenant] }), Int64(cached.size) == previous.logSize,
            cached.rootHash == previous.logRoot.bytes
        else { return nil }
        return cached
    }

    func keep(_ frontier: MerkleFrontier, for tenant: TenantID) {
        frontiers.withLock { $0[tenant] = frontier }
    }
}

extension Database {
    /// One pass of the sealer over every tenant (or only `onlyTenant`) with committed transactions
    /// no block holds: each tenant whose queue is due (by `rule`) gets blocks until its queue is empty. A tenant
    /// another node is sealing right now is skipped (its transaction holds the tenant's sealing
    /// lock), so several API nodes on one database seal each tenant once. Each block is one
    /// database transaction: a crash leaves the previous block as the last one, and its
    /// transactions still waiting.
    public func sealDueBlocks(
        rule: SealingRule, masterKey: MasterKey, logger: Logger, onlyTenant: TenantCode? = nil
    ) async throws -> SealingPass {
        let due = try await withTransaction(logger: logger) { connection in
            var tenants: [(UUID, String, Int64)] = []
            for try await row in try await connection.query(
                "SELECT tenant_id, tenant_code, waited_ms FROM ledger_tenants_to_seal()", logger: logger)
            {
                tenants.append(try row.decode((UUID, String, Int64).self))
            }
            return tenants
        }
        var pass = SealingPass()
        for (tenantID, code, _) in due where onlyTenant.map({ $0.rawValue == code }) ?? true {
            let tenant = try TenantCode(code)
            // One tenant whose chain cannot be extended (its last block tampered with, say) is
            // logged and left; the others are still sealed.
            do {
                while let block = try await sealBlock(tenantID: TenantID(tenantID), tenant: tenant, rule: rule, masterKey: masterKey, logger: logger) {
                    pass.blocks.append(block)
                }
            } catch {
                let reason = String(String(reflecting: error).prefix(500))
                logger.error("sealing a tenant failed", metadata: ["tenant": "\(code)", "error": "\(reason)"])
                pass.failures[tenant] = reason
            }
        }
        return pass
    }

    /// Seals the tenant's next block from its oldest committed, unsealed transactions (at most
    /// `rule.maxTransactions`); nil when none wait, when they are neither a full block nor as old
    /// as `rule.maxAge`, or when another sealer holds the tenant.
    func sealBlock(tenantID: TenantID, tenant: TenantCode, rule: SealingRule, masterKey: MasterKey, logger: Logger) async throws -> SealedBlock? {
        let sealed = try await withTransaction(logger: logger) { connection -> (SealedBlock, MerkleFrontier)? in
            try await connection.query("SELECT app_begin_sealer(\(tenantID.rawValue))", logger: logger)
            let elected = try await connection.query(
                "SELECT pg_try_advisory_xact_lock(hashtextextended(\(tenantID.rawValue.uuidString.lowercased() + " sealer"), 1237))", logger: logger
            ).collect().first!.decode(Bool.self)
            guard elected else { return nil }
            var waiting: [LedgerHash] = []
            var oldestWaitedMilliseconds: Int64 = 0
            for try await row in try await connection.query(
                """
                SELECT c.tx_hash, (extract(epoch FROM clock_timestamp() - c.committed_at) * 1000)::bigint FROM ledger_commits c
                WHERE c.tenant_id = \(tenantID.rawValue)
                  AND NOT EXISTS (SELECT 1 FROM ledger_block_entries e WHERE e.tenant_id = c.tenant_id AND e.tx_hash = c.tx_hash)
                ORDER BY c.committed_at, c.tx_hash LIMIT \(rule.maxTransactions)
                """, logger: logger)
            {
                let (hash, waitedMilliseconds) = try row.decode((ByteBuffer, Int64).self)
                waiting.append(try LedgerHash(bytes(hash)))
                oldestWaitedMilliseconds = max(oldestWaitedMilliseconds, waitedMilliseconds)
            }
            let maxAgeMilliseconds = rule.maxAge.components.seconds * 1000 + rule.maxAge.components.attoseconds / 1_000_000_000_000_000
            guard !waiting.isEmpty, waiting.count == rule.maxTransactions || oldestWaitedMilliseconds >= maxAgeMilliseconds else { return nil }
            let previous = try await connection.query(
                "SELECT header FROM ledger_blocks WHERE tenant_id = \(tenantID.rawValue) ORDER BY number DESC LIMIT 1", logger: logger
            ).collect().first.map { try BlockHeader(canonicalBytes: bytes($0.decode(ByteBuffer.self))) }
            var log = MerkleFrontier()
            if let previous {
                if let cached = logFrontiers.frontier(tenantID, following: previous) {
                    log = cached
                } else {
                    log = try await Self.logFrontier(tenantID: tenantID, connection: connection, logger: logger)
                }
            }
            // The moment of sealing, read after the election: a transaction that started before the
            // previous sealer committed must not stamp its block earlier than that one.
            let sealedAtMicros = try await connection.query(
                "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint", logger: logger
            ).collect().first!.decode(Int64.self)
            let header = try BlockHeader.seal(
                tenant: tenant, after: previous, transactions: waiting, log: &log, sealedAt: UTCMicros(microsecondsSinceEpoch: sealedAtMicros))
            let headerBytes = header.canonicalBytes
            let signed = try await Keys(tenantID: tenantID, connection: connection, logger: logger).sign(
                headerBytes, as: .orderer, masterKey: masterKey)
            try await connection.query(
                """
                INSERT INTO ledger_blocks (tenant_id, number, header, block_hash, prev_hash, tx_count, log_size, sealed_at, orderer_key_version,
                    signature)
                VALUES (\(tenantID.rawValue), \(header.number), \(ByteBuffer(bytes: headerBytes)), \(ByteBuffer(bytes: header.hash.bytes)),
                    \(ByteBuffer(bytes: header.previousHash.bytes)), \(Int32(header.transactionCount)), \(header.logSize),
                    timestamptz 'epoch' + \(sealedAtMicros) * interval '1 microsecond', \(signed.version),
                    \(ByteBuffer(bytes: signed.signature.derRepresentation)))
                """, logger: logger)
            let firstIndex = header.logSize - header.transactionCount
            try await connection.query(
                """
                INSERT INTO ledger_block_entries (tenant_id, block_number, position, log_index, tx_hash)
                SELECT \(tenantID.rawValue), \(header.number), (e.n - 1)::integer, \(firstIndex) + e.n - 1, e.tx_hash
                FROM unnest(\(waiting.map { ByteBuffer(bytes: $0.bytes) })::bytea[]) WITH ORDINALITY AS e (tx_hash, n)
                """, logger: logger)
            logger.info(
                "sealed a block", metadata: ["tenant": "\(tenant)", "block": "\(header.number)", "transactions": "\(header.transactionCount)"])
            return (SealedBlock(tenant: tenant, header: header, blockHash: header.hash), log)
        }
        // Kept only once the block is committed.
        guard let (block, log) = sealed else { return nil }
        logFrontiers.keep(log, for: tenantID)
        return block
    }

    /// The tenant's log so far (or its first `size` transactions), from the sealed transactions
    /// in log order, streamed: never held whole.
    static func logFrontier(tenantID: TenantID, upTo size: Int64 = .max, connection: PostgresConnection, logger: Logger) async throws
        -> MerkleFrontier
    {
        var frontier = MerkleFrontier()
        for try await row in try await connection.query(
            """
            SELECT tx_hash FROM ledger_block_entries WHERE tenant_id = \(tenantID.rawValue) AND log_index < \(size) ORDER BY log_index
            """, logger: logger)
        {
            frontier.append(leafHash: MerkleHashing.sm3.leafHash(bytes(try row.decode(ByteBuffer.self))))
        }
        return frontier
    }
}
