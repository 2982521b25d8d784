import Foundation
import NIOCore
import OrgMatrixCore
import PostgresNIO

/// A sealed block as stored: its canonical header (what the orderer signed), the hash its row
/// claims, the orderer's key version and DER signature, and, when asked for, the transaction
/// hashes it lists in order.
public struct LedgerBlockRecord: Sendable {
    public let header: BlockHeader
    public let headerBytes: [UInt8]
    public let blockHash: LedgerHash
    public let ordererKeyVersion: Int32
    public let signatureDER: [UInt8]
    public let transactions: [LedgerHash]?
}

/// RFC 9162 §2.1.3 with SM3: the audit path of one transaction in the tenant's log of
/// `treeSize` transactions, and the block whose signed header states that log's root.
public struct LedgerInclusionProof: Sendable {
    public let transaction: LedgerHash
    public let leafIndex: Int64
    public let treeSize: Int64
    public let path: [LedgerHash]
    public let block: LedgerBlockRecord
}

/// RFC 9162 §2.1.4 with SM3: that the log of `from`'s size is a prefix of the log of `to`'s.
public struct LedgerConsistencyProof: Sendable {
    public let from: LedgerBlockRecord
    public let to: LedgerBlockRecord
    public let path: [LedgerHash]
}

/// Blocks and proofs. Blocks and their entries hold only hashes, and every principal of the
/// tenant reads them (Schema/0013); a proof of one transaction is given to whoever sees that
/// transaction. A tree size is always one a block's signed header states, so every proof comes
/// with the root it is checked against.
extension Sandbox {
    /// Blocks after `after` (by number), oldest first, without their transaction lists.
    public func ledgerBlocks(after: Int64?, limit: Int) async throws -> [LedgerBlockRecord] {
        var records: [LedgerBlockRecord] = []
        for try await row in try await connection.query(
            """
            SELECT number, header, block_hash, orderer_key_version, signature FROM ledger_blocks
            WHERE tenant_id = \(principal.tenantID.rawValue) AND number > \(after ?? -1) ORDER BY number LIMIT \(limit)
            """, logger: logger)
        {
            records.append(try Self.block(row, transactions: nil))
        }
        return records
    }

    /// Block `number` with the transaction hashes it lists; nil when there is none.
    public func ledgerBlock(number: Int64) async throws -> LedgerBlockRecord? {
        guard let row = try await blockRow(.number(number)) else { return nil }
        return try await withTransactions(row)
    }

    /// The inclusion proof of `hash` in the log as of the block stating `treeSize` (default: the
    /// newest block). 404 when the principal does not see the transaction; 409 when it is not
    /// sealed, or sealed after that tree; 404 naming `tree_size` when no block states it.
    public func inclusionProof(hash: LedgerHash, treeSize: Int64?) async throws -> LedgerInclusionProof {
        // The transaction as the policies let this principal see it, and its place in the log.
        let found = try await connection.query(
            """
            SELECT e.log_index FROM ledger_transactions t
            LEFT JOIN ledger_block_entries e ON e.tenant_id = t.tenant_id AND e.tx_hash = t.tx_hash
            WHERE t.tenant_id = \(principal.tenantID.rawValue) AND t.tx_hash = \(ByteBuffer(bytes: hash.bytes))
            """, logger: logger
        ).collect().first
        guard let found else { throw StoreError(.notFound, "No ledger transaction \(hash.hex) in your sandbox.") }
        guard let index = try found.decode(Int64?.self) else {
            throw StoreError(.conflict, "Transaction \(hash.hex) is not sealed in a block yet: it has no place in the log.")
        }
        let block = try await treeBlock(size: treeSize, field: "tree_size")
        let size = block.header.logSize
        guard index < size else {
            throw StoreError(
                .conflict, "Transaction \(hash.hex) is leaf \(index) of the log, sealed after the tree of \(size).", field: "tree_size")
        }
        let leaves = try await leafHashes(upTo: size)
        let path = try MerkleHashing.sm3.inclusionProof(index: Int(index), leaves: leaves).map { try LedgerHash($0) }
        return LedgerInclusionProof(transaction: hash, leafIndex: index, treeSize: size, path: path, block: block)
    }

    /// The consistency proof from the log of `from` transactions to that of `to` (default: the
    /// newest block); each a size some block states (else 404 naming the field); 422 when `from` > `to`.
    public func consistencyProof(from: Int64, to: Int64?) async throws -> LedgerConsistencyProof {
        let old = try await treeBlock(size: from, field: "from")
        let new = try await treeBlock(size: to, field: "to")
        guard old.header.logSize <= new.header.logSize else {
            throw StoreError(.invalid, "from (\(old.header.logSize)) must not exceed to (\(new.header.logSize)).", field: "from")
        }
        let leaves = try await leafHashes(upTo: new.header.logSize)
        let path = try MerkleHashing.sm3.consistencyProof(oldSize: Int(old.header.logSize), leaves: leaves).map { try LedgerHash($0) }
        return LedgerConsistencyProof(from: old, to: new, path: path)
    }

    /// The block whose header states a log of `size` transactions (blocks are never empty, so
    /// there is one at most), or the newest when `size` is nil.
    private func treeBlock(size: Int64?, field: String) async throws -> LedgerBlockRecord {
        if let row = try await blockRow(size.map { .logSize($0) } ?? .newest) { return try Self.block(row, transactions: nil) }
        guard let size else { throw StoreError(.conflict, "The ledger has no block yet.") }
        throw StoreError(.notFound, "No block states a log of \(size) transactions: a tree size is a block's log_size.", field: field)
    }

    private enum BlockChoice {
        case number(Int64)
        case logSize(Int64)
        case newest
    }

    private func blockRow(_ choice: BlockChoice) async throws -> PostgresRow? {
        let tenant = principal.tenantID.rawValue
        let query: PostgresQuery =
            switch choice {
            case .number(let number):
                """
                SELECT number, header, block_hash, orderer_key_version, signature FROM ledger_blocks
                WHERE tenant_id = \(tenant) AND number = \(number)
                """
            case .logSize(let size):
                """
                SELECT number, header, block_hash, orderer_key_version, signature FROM ledger_blocks
                WHERE tenant_id = \(tenant) AND log_size = \(size)
                """
            case .newest:
                """
                SELECT number, header, block_hash, orderer_key_version, signature FROM ledger_blocks
                WHERE tenant_id = \(tenant) ORDER BY number DESC LIMIT 1
                """
            }
        return try await connection.query(query, logger: logger).collect().first
    }

    private func withTransactions(_ row: PostgresRow) async throws -> LedgerBlockRecord {
        let number = try row.decode((Int64, ByteBuffer, ByteBuffer, Int32, ByteBuffer).self).0
        var hashes: [LedgerHash] = []
        for try await hash in try await connection.query(
            """
            SELECT tx_hash FROM ledger_block_entries WHERE tenant_id = \(principal.tenantID.rawValue) AND block_number = \(number)
            ORDER BY position
            """, logger: logger
        ).decode(ByteBuffer.self) {
            hashes.append(try LedgerHash(bytes(hash)))
        }
        return try Self.block(row, transactions: hashes)
    }

    private func leafHashes(upTo size: Int64) async throws -> [[UInt8]] {
        try await CheckpointRows.leafHashes(tenantID: principal.tenantID, upTo: size, connection: connection, logger: logger)
    }

    private static func block(_ row: PostgresRow, transactions: [LedgerHash]?) throws -> LedgerBlockRecord {
        let (number, header, hash, version, signature) = try row.decode((Int64, ByteBuffer, ByteBuffer, Int32, ByteBuffer).self)
        let headerBytes = bytes(header)
        guard let parsed = try? BlockHeader(canonicalBytes: headerBytes) else {
            throw StoreError(.conflict, "Block \(number)'s stored header is not a block header (the verifier names it).")
        }
        return LedgerBlockRecord(
            header: parsed, headerBytes: headerBytes, blockHash: try LedgerHash(bytes(hash)), ordererKeyVersion: version,
            signatureDER: bytes(signature), transactions: transactions)
    }
}
