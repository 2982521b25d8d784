import Foundation
import Logging
import NIOCore
import OrgMatrixCore
import PostgresNIO
import SMCrypto

/// A checkpoint as stored (Schema/0015): its document, the signatures so far, and the
/// consistency proof from the previous checkpoint's log to its own, computed when it was cut.
public struct LedgerCheckpointRecord: Sendable {
    public let checkpoint: LedgerCheckpoint
    public let canonicalBytes: [UInt8]
    public let signatures: [LedgerEndorsementRecord]
    public let consistencyProof: [LedgerHash]

    /// The signers that have not signed yet; complete when empty.
    public var unsigned: [OrgCode] {
        let signed = Set(signatures.map(\.org))
        return checkpoint.signers.filter { !signed.contains($0) }
    }
}

/// Which block a checkpoint is cut at.
enum CheckpointBlock {
    /// The newest block (HQ, on demand).
    case newest
    /// The last block sealed before a quarter's end (the sealer closing that quarter).
    case sealedBefore(UTCMicros)
}

/// Cutting and reading checkpoints on a connection whose context is set (HQ's sandbox or the
/// sealer's), so both cuts are the same code.
struct CheckpointRows {
    let tenantID: TenantID
    let connection: PostgresConnection
    let logger: Logger

    /// Cuts the tenant's next checkpoint for `period` at `block`, not before the previous
    /// checkpoint's block (a quarter closed after an on-demand checkpoint of the new quarter
    /// closes at that one's block, so the log never shrinks). Its signers are every org with a key
    /// valid at its moment, by the verifier's rule; it is unsigned until each of them signs.
    func cut(tenant: TenantCode, period: LedgerCheckpoint.Period, at block: CheckpointBlock, principalID: Int64?) async throws
        -> LedgerCheckpointRecord
    {
        try await connection.query(
            "SELECT pg_advisory_xact_lock(hashtextextended(\(tenantID.rawValue.uuidString.lowercased() + " checkpoints"), 1237))",
            logger: logger)
        let previous = try await latest()
        let chosen: PostgresQuery =
            switch block {
            case .newest:
                "SELECT number, header FROM ledger_blocks WHERE tenant_id = \(tenantID.rawValue) ORDER BY number DESC LIMIT 1"
            case .sealedBefore(let end):
                """
                SELECT number, header FROM ledger_blocks
                WHERE tenant_id = \(tenantID.rawValue) AND sealed_at < timestamptz 'epoch' + \(end.microsecondsSinceEpoch) * interval '1 microsecond'
                ORDER BY number DESC LIMIT 1
                """
            }
        guard var row = try await connection.query(chosen, logger: logger).collect().first else {
            throw StoreError(.conflict, "The ledger has no sealed block to cut a checkpoint at yet.")
        }
        if let previous, try row.decode((Int64, ByteBuffer).self).0 < previous.checkpoint.lastBlock {
            row = try await connection.query(
                "SELECT number, header FROM ledger_blocks WHERE tenant_id = \(tenantID.rawValue) AND number = \(previous.checkpoint.lastBlock)",
                logger: logger
            ).collect().first!
        }
        let (blockNumber, headerBytes) = try row.decode((Int64, ByteBuffer).self)
        // Its moment, read after its block was chosen, so never before that block's sealing.
        let atMicros = try await connection.query(
            "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint", logger: logger
        ).collect().first!.decode(Int64.self)
        let at = UTCMicros(microsecondsSinceEpoch: atMicros)
        guard let header = try? BlockHeader(canonicalBytes: bytes(headerBytes)) else {
            throw StoreError(.conflict, "Block \(blockNumber)'s stored header is not a block header (the verifier names it).")
        }
        let keys = LedgerKeyDirectory(try await Self.ledgerKeys(tenantID: tenantID, connection: connection, logger: logger))
        let signers = keys.orgsWithValidKey(at: at)
        let checkpoint = LedgerCheckpoint(after: previous?.checkpoint, at: at, period: period, header: header, signers: signers)
        var proof: [LedgerHash] = []
        if let previous, previous.checkpoint.logSize > 0, previous.checkpoint.logSize < checkpoint.logSize {
            let leaves = try await Self.leafHashes(tenantID: tenantID, upTo: checkpoint.logSize, connection: connection, logger: logger)
            proof = try MerkleHashing.sm3.consistencyProof(oldSize: Int(previous.checkpoint.logSize), leaves: leaves).map { try LedgerHash($0) }
        }
        let canonical = checkpoint.canonicalBytes
        try await connection.query(
            """
            INSERT INTO ledger_checkpoints (tenant_id, number, period, at, last_block, last_block_hash, log_size, previous_log_size,
                signer_org_ids, canonical, consistency_proof, principal_id)
            SELECT \(tenantID.rawValue), \(checkpoint.number), \(period.description),
                timestamptz 'epoch' + \(atMicros) * interval '1 microsecond', \(checkpoint.lastBlock),
                \(ByteBuffer(bytes: checkpoint.lastBlockHash.bytes)), \(checkpoint.logSize), \(checkpoint.previousLogSize),
                coalesce((SELECT array_agg(DISTINCT k.org_id ORDER BY k.org_id) FROM org_keys k
                           WHERE k.tenant_id = \(tenantID.rawValue) AND k.owner = ANY(\(signers.map(\.rawValue))::text[])), '{}'),
                \(ByteBuffer(bytes: canonical)), \(ByteBuffer(bytes: proof.flatMap(\.bytes))), \(principalID)
            """, logger: logger)
        logger.info(
            "cut a checkpoint",
            metadata: [
                "tenant": "\(tenant)", "checkpoint": "\(checkpoint.number)", "period": "\(period)", "block": "\(checkpoint.lastBlock)",
                "signers": "\(signers.count)",
            ])
        return LedgerCheckpointRecord(checkpoint: checkpoint, canonicalBytes: canonical, signatures: [], consistencyProof: proof)
    }

    /// The newest checkpoint, if any.
    func latest() async throws -> LedgerCheckpointRecord? {
        guard
            let number = try await connection.query(
                "SELECT max(number) FROM ledger_checkpoints WHERE tenant_id = \(tenantID.rawValue)", logger: logger
            ).collect().first?.decode(Int64?.self)
        else { return nil }
        return try await page(after: number - 1, limit: 1).first
    }

    /// The newest checkpoint naming a block before `block`, nil when none does: where a read
    /// from `block` on starts its checkpoints (they name blocks in order).
    func lastNumber(before block: Int64) async throws -> Int64? {
        try await connection.query(
            "SELECT max(number) FROM ledger_checkpoints WHERE tenant_id = \(tenantID.rawValue) AND last_block < \(block)", logger: logger
        ).collect().first?.decode(Int64?.self)
    }

    /// Checkpoints after number `after` (nil: from the first), oldest first, with their signatures.
    func page(after: Int64?, limit: Int) async throws -> [LedgerCheckpointRecord] {
        try await stored(after: after, limit: limit).map { row in
            guard let checkpoint = try? LedgerCheckpoint(canonicalBytes: row.canonical) else {
                throw StoreError(.conflict, "Checkpoint \(row.number)'s stored document is not a checkpoint (the verifier names it).")
            }
            let proof = try row.proofPieces.map { try LedgerHash($0) }
            return LedgerCheckpointRecord(
                checkpoint: checkpoint, canonicalBytes: row.canonical, signatures: row.signatures, consistencyProof: proof)
        }
    }

    /// The same rows as the verifier reads them: unparsed, so a stored document that is no
    /// checkpoint is exported and named rather than stopping the reading.
    func evidencePage(after: Int64?, limit: Int) async throws -> [LedgerCheckpoint.Evidence] {
        try await stored(after: after, limit: limit).map { row in
            .init(
                number: row.number, canonicalBytes: row.canonical,
                signatures: row.signatures.map { .init(org: $0.org, keyVersion: Int64($0.keyVersion), signatureDER: $0.signature) },
                consistencyProof: row.proofPieces)
        }
    }

    /// A checkpoint row and its signatures, as stored.
    private struct StoredCheckpoint {
        let number: Int64
        let canonical: [UInt8]
        let proof: [UInt8]
        var signatures: [LedgerEndorsementRecord] = []

        /// The stored proof in 32-byte hashes (a last piece of another length is the verifier's to name).
        var proofPieces: [[UInt8]] { stride(from: 0, to: proof.count, by: 32).map { Array(proof[$0..<min($0 + 32, proof.count)]) } }
    }

    private func stored(after: Int64?, limit: Int) async throws -> [StoredCheckpoint] {
        var rows: [StoredCheckpoint] = []
        for try await (number, canonical, proof) in try await connection.query(
            """
            SELECT number, canonical, consistency_proof FROM ledger_checkpoints
            WHERE tenant_id = \(tenantID.rawValue) AND number > \(after ?? -1) ORDER BY number LIMIT \(limit)
            """, logger: logger
        ).decode((Int64, ByteBuffer, ByteBuffer).self) {
            rows.append(StoredCheckpoint(number: number, canonical: bytes(canonical), proof: bytes(proof)))
        }
        guard !rows.isEmpty else { return [] }
        let index = Dictionary(uniqueKeysWithValues: rows.enumerated().map { ($1.number, $0) })
        for try await (number, org, version, signature, signedAt) in try await connection.query(
            """
            SELECT checkpoint_number, org_code, key_version, signature, signed_at FROM ledger_checkpoint_signatures
            WHERE tenant_id = \(tenantID.rawValue) AND checkpoint_number = ANY(\(rows.map(\.number))::bigint[])
            ORDER BY checkpoint_number, org_code
            """, logger: logger
        ).decode((Int64, String, Int32, ByteBuffer, Date).self) {
            guard let at = index[number] else { continue }
            rows[at].signatures.append(
                LedgerEndorsementRecord(org: try OrgCode(org), keyVersion: version, signature: bytes(signature), endorsedAt: signedAt))
        }
        return rows
    }

    /// Every key row with its revocation, times in integer microseconds: what the verifier reads.
    static func ledgerKeys(tenantID: TenantID, connection: PostgresConnection, logger: Logger) async throws -> [LedgerEvidence.Key] {
        let rows = try await connection.query(
            """
            SELECT k.owner, k.version, k.custody, k.public_key, (extract(epoch FROM k.valid_from) * 1000000)::bigint,
                (extract(epoch FROM r.revoked_at) * 1000000)::bigint, r.reason
            FROM org_keys k LEFT JOIN org_key_revocations r USING (tenant_id, owner, version)
            WHERE k.tenant_id = \(tenantID.rawValue)
            ORDER BY k.owner, k.version
            """, logger: logger)
        var keys: [LedgerEvidence.Key] = []
        for try await (owner, version, custody, publicKey, validFrom, revokedAt, reason) in rows.decode(
            (String, Int32, String, ByteBuffer, Int64, Int64?, String?).self)
        {
            // 0012's checks hold these for every writer, the owner included.
            guard let custody = KeyCustody(rawValue: custody) else {
                throw StoreError(.conflict, "Key \(owner) v\(version) has custody \(custody), which no key has.")
            }
            keys.append(
                LedgerEvidence.Key(
                    owner: try KeyOwner(name: owner), version: Int64(version), custody: custody, publicKeyDER: bytes(publicKey),
                    validFrom: UTCMicros(microsecondsSinceEpoch: validFrom),
                    revocation: revokedAt.map {
                        LedgerEvidence.Key.Revocation(revokedAt: UTCMicros(microsecondsSinceEpoch: $0), reason: reason ?? "")
                    }))
        }
        return keys
    }

    /// The log's leaf hashes (`0x00 ‖ tx_hash`, SM3) of its first `size` transactions.
    static func leafHashes(tenantID: TenantID, upTo size: Int64, connection: PostgresConnection, logger: Logger) async throws -> [[UInt8]] {
        var leaves: [[UInt8]] = []
        leaves.reserveCapacity(Int(size))
        for try await hash in try await connection.query(
            """
            SELECT tx_hash FROM ledger_block_entries WHERE tenant_id = \(tenantID.rawValue) AND log_index < \(size)
            ORDER BY log_index
            """, logger: logger
        ).decode(ByteBuffer.self) {
            leaves.append(MerkleHashing.sm3.leafHash(bytes(hash)))
        }
        guard leaves.count == Int(size) else {
            throw StoreError(.conflict, "The log's entries hold \(leaves.count) of the \(size) transactions its block states.")
        }
        return leaves
    }
}

extension Sandbox {
    var checkpointRows: CheckpointRows { CheckpointRows(tenantID: principal.tenantID, connection: connection, logger: logger) }

    /// HQ cuts a checkpoint at the newest block now (hq_admin only; the sealer cuts each quarter's).
    public func cutCheckpoint() async throws -> LedgerCheckpointRecord {
        try require(.cutCheckpoints)
        return try await checkpointRows.cut(tenant: principal.tenantCode, period: .onDemand, at: .newest, principalID: principal.principalID)
    }

    /// Checkpoints after number `after`, oldest first (every principal of the tenant reads them).
    public func checkpoints(after: Int64?, limit: Int) async throws -> [LedgerCheckpointRecord] {
        try await checkpointRows.page(after: after, limit: limit)
    }

    public func checkpoint(number: Int64) async throws -> LedgerCheckpointRecord? {
        try await checkpointRows.page(after: number - 1, limit: 1).first.flatMap { $0.checkpoint.number == number ? $0 : nil }
    }

    /// The principal's org signs checkpoint `number` with its custodial key valid at the
    /// checkpoint's moment: the server signs for it at the request of the org's own principal.
    public func approveCheckpoint(number: Int64) async throws -> LedgerCheckpointRecord {
        try require(.endorse)
        let record = try await signable(number)
        let org = principal.orgCode
        guard let key = try await keys.history(of: .org(org)).valid(at: record.checkpoint.at) else {
            throw StoreError(.conflict, "\(org) had no valid key when checkpoint \(number) was cut, \(record.checkpoint.at).")
        }
        guard key.custody == .custodial else {
            throw StoreError(
                .conflict,
                "\(org)'s key is client-held: sign the checkpoint's canonical bytes on your own machine and POST the signature to "
                    + "/v1/ledger/checkpoints/\(number)/signatures.")
        }
        let signed = try await keys.sign(record.canonicalBytes, as: .org(org), masterKey: try masterKeyForSigning())
        guard signed.version == key.version else {
            throw StoreError(.conflict, "\(org)'s key was rotated since checkpoint \(number) was cut; version \(key.version) no longer signs.")
        }
        return try await storeCheckpointSignature(record, keyVersion: signed.version, signature: signed.signature.derRepresentation)
    }

    /// A client-held org's signature over checkpoint `number`'s canonical bytes, submitted by a
    /// principal of that org: it counts only if it verifies with the org's key of `keyVersion`,
    /// valid at the checkpoint's moment; anything else is refused before anything is written.
    public func signCheckpoint(number: Int64, org: OrgCode, keyVersion: Int32, signatureDER: [UInt8]) async throws
        -> LedgerCheckpointRecord
    {
        try require(.endorse)
        guard org == principal.orgCode else {
            throw StoreError(.forbidden, "Only a principal of \(org) signs for it; you act for \(principal.orgCode).", field: "org")
        }
        let record = try await signable(number)
        let signature = try await clientSignature(
            org: org, keyVersion: keyVersion, signatureDER: signatureDER, over: (record.canonicalBytes, "checkpoint \(number)'s canonical bytes"),
            validAt: (record.checkpoint.at, "when checkpoint \(number) was cut"))
        return try await storeCheckpointSignature(record, keyVersion: keyVersion, signature: signature.derRepresentation)
    }

    /// Checkpoint `number`, which must name the acting org as a signer that has not signed yet.
    private func signable(_ number: Int64) async throws -> LedgerCheckpointRecord {
        guard let record = try await checkpoint(number: number) else {
            throw StoreError(.notFound, "No checkpoint \(number) (checkpoints are numbered 0, 1, 2, …).")
        }
        let org = principal.orgCode
        guard record.checkpoint.signers.contains(org) else {
            throw StoreError(.forbidden, "\(org) is not a signer of checkpoint \(number): it had no valid key when it was cut.")
        }
        guard !record.signatures.contains(where: { $0.org == org }) else {
            throw StoreError(.conflict, "\(org) has signed checkpoint \(number) already.")
        }
        return record
    }

    private func storeCheckpointSignature(_ record: LedgerCheckpointRecord, keyVersion: Int32, signature: [UInt8]) async throws
        -> LedgerCheckpointRecord
    {
        let number = record.checkpoint.number
        try await connection.query(
            """
            INSERT INTO ledger_checkpoint_signatures (tenant_id, checkpoint_number, org_id, org_code, key_version, signature, principal_id)
            VALUES (\(principal.tenantID.rawValue), \(number), \(principal.orgID.rawValue), \(principal.orgCode.rawValue), \(keyVersion),
                \(ByteBuffer(bytes: signature)), \(principal.principalID))
            """, logger: logger)
        return try await checkpoint(number: number)!
    }
}

/// The quarter checkpoints the sealer cuts (one per tenant and quarter, at its first pass after
/// the quarter ends).
public struct CutCheckpoint: Sendable, Hashable {
    public let tenant: TenantCode
    public let number: Int64
    public let period: String
    public let lastBlock: Int64
}

extension Database {
    /// Closes the last quarter ended by `now` (Core's `Period.lastClosedQuarter`) for every tenant
    /// with a block sealed before its end and no checkpoint for it yet: a checkpoint at the last
    /// such block, for every org with a key to sign. Each tenant's cut is one transaction as its
    /// sealer; one that fails is logged and left for the next pass. `onlyTenant` limits the pass
    /// to one tenant (a test's, so it does not close other tests' quarters).
    public func cutDueCheckpoints(now: UTCMicros, logger: Logger, onlyTenant: TenantCode? = nil) async throws -> [CutCheckpoint] {
        let (period, end) = LedgerCheckpoint.Period.lastClosedQuarter(at: now)
        let due = try await withTransaction(logger: logger) { connection in
            var tenants: [(UUID, String)] = []
            for try await row in try await connection.query(
                """
                SELECT tenant_id, tenant_code FROM ledger_tenants_to_checkpoint(\(period.description),
                    timestamptz 'epoch' + \(end.microsecondsSinceEpoch) * interval '1 microsecond')
                """, logger: logger)
            {
                tenants.append(try row.decode((UUID, String).self))
            }
            return tenants
        }
        var cut: [CutCheckpoint] = []
        for (tenantID, code) in due where onlyTenant.map({ $0.rawValue == code }) ?? true {
            do {
                let tenant = try TenantCode(code)
                let record = try await withTransaction(logger: logger) { connection in
                    try await connection.query("SELECT app_begin_sealer(\(tenantID))", logger: logger)
                    return try await CheckpointRows(tenantID: TenantID(tenantID), connection: connection, logger: logger).cut(
                        tenant: tenant, period: period, at: .sealedBefore(end), principalID: nil)
                }
                cut.append(CutCheckpoint(tenant: tenant, number: record.checkpoint.number, period: period.description, lastBlock: record.checkpoint.lastBlock))
            } catch {
                logger.error(
                    "cutting a quarter's checkpoint failed", metadata: ["tenant": "\(code)", "error": "\(String(reflecting: error).prefix(500))"])
            }
        }
        return cut
    }
}
