import Foundation
import Logging
import NIOCore
import OrgMatrixCore
import PostgresNIO

/// Limits of one online verification; each default is documented in the README.
public struct LedgerVerificationOptions: Sendable, Hashable {
    /// Rows per page read (transactions, blocks, transfers; default 1,000).
    public var pageRowsMax: Int
    /// Canonical bytes of the transactions of one page at most (default 64 MiB; a page holds at
    /// least one row, and a row at most 4 MiB: Schema/0013).
    public var pageBytesMax: Int
    /// Block entries (sealed hashes) of one page of blocks at most (default 100,000; at least one block).
    public var pageEntriesMax: Int
    /// Chunks of signatures checked at once (default: one per core).
    public var concurrency: Int

    public init(
        pageRowsMax: Int = 1000, pageBytesMax: Int = 64 << 20, pageEntriesMax: Int = 100_000,
        concurrency: Int = LedgerVerifier.concurrencyDefault
    ) {
        precondition(pageRowsMax >= 1 && pageBytesMax >= 1 && pageEntriesMax >= 1 && concurrency >= 1, "limits are positive")
        (self.pageRowsMax, self.pageBytesMax, self.pageEntriesMax, self.concurrency) = (
            pageRowsMax, pageBytesMax, pageEntriesMax, concurrency
        )
    }
}

/// One page of a tenant's ledger as `Database.readLedger` hands it out.
public enum LedgerEvidencePage: Sendable {
    case keys([LedgerEvidence.Key])
    /// Read from a later block on: the block before it and the log there.
    case anchor(LedgerEvidence.Anchor)
    case transactions([LedgerEvidence.Transaction])
    case blocks([LedgerEvidence.Block])
    case checkpoints([LedgerCheckpoint.Evidence])
}

/// Pages gathered into one `LedgerEvidence`, for the callers that want the ledger whole.
private final class LedgerEvidenceCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var evidence: LedgerEvidence

    init(_ evidence: LedgerEvidence) { self.evidence = evidence }

    func add(_ page: LedgerEvidencePage) {
        lock.withLock {
            switch page {
            case .keys(let keys): evidence.keys += keys
            case .transactions(let transactions): evidence.transactions += transactions
            case .blocks(let blocks): evidence.blocks += blocks
            case .checkpoints, .anchor: break
            }
        }
    }

    var value: LedgerEvidence { lock.withLock { evidence } }
}

/// How far a verification has read, after each page: what a progress bar shows.
public struct LedgerVerificationProgress: Sendable, Hashable {
    public var transactionsRead = 0
    public var transactionsTotal = 0
    public var blocksRead = 0
    public var blocksTotal = 0
    public var transfersRead = 0
    public var transfersTotal = 0

    /// Rows read so far, of `rowsTotal`.
    public var rowsRead: Int { transactionsRead + blocksRead + transfersRead }
    public var rowsTotal: Int { transactionsTotal + blocksTotal + transfersTotal }
}

/// What an online verification found: the verifier's report, with the stored columns' and the
/// books' failures among its failures, and how much it read.
public struct LedgerVerification: Sendable {
    public let tenant: TenantCode
    public let report: LedgerVerificationReport
    /// Key rows (the orderer's included).
    public let keys: Int
    /// Transfers whose rows were held against their transactions.
    public let transfersReconciled: Int
}

extension Database {
    /// Verifies the ledger of `key`'s tenant as its principal: hq_admin or auditor, else 403
    /// before anything is read. One REPEATABLE READ transaction, so every page reads the same
    /// snapshot (a block sealed meanwhile is neither half seen nor seen sealing a transaction
    /// read as pending). `progress` is called after each page.
    public func verifyLedger(
        key: APIKey, requestID: String, logger: Logger, options: LedgerVerificationOptions = LedgerVerificationOptions(),
        progress: @escaping @Sendable (LedgerVerificationProgress) -> Void = { _ in }
    ) async throws -> LedgerVerification {
        try await inSnapshot(key: key, requestID: requestID, logger: logger) { sandbox in
            try await sandbox.verifyLedger(options: options, progress: progress)
        }
    }

    /// The tenant's whole ledger as the verifier takes it (keys, transactions, blocks), read as
    /// `key`'s principal (hq_admin or auditor, else 403) in one REPEATABLE READ snapshot by the
    /// same pages `verifyLedger` reads: what a verification without the database starts from.
    public func ledgerEvidence(
        key: APIKey, requestID: String, logger: Logger, options: LedgerVerificationOptions = LedgerVerificationOptions()
    ) async throws -> LedgerEvidence {
        try await inSnapshot(key: key, requestID: requestID, logger: logger) { sandbox in
            try await sandbox.ledgerEvidence(options: options)
        }
    }

    /// The tenant's ledger page by page, read as `key`'s principal (hq_admin or auditor, else
    /// 403) in one REPEATABLE READ snapshot: keys, then transactions by hash, then blocks in
    /// order, each page handed to `visit` before the next is read, so a caller that writes each
    /// page out (the bundle export) never holds the ledger whole. `fromBlock` > 0 reads from that
    /// block on (docs/LEDGER.md, "The exported bundle"): the anchor first, then the transactions
    /// those blocks seal, those no block seals yet and what their checks need from before (every
    /// key and rule event, every event of their transfers), the blocks, the checkpoints naming
    /// the anchor block or a later one. With `privateValuesUnder` a master key, each transaction
    /// comes with its private values opened (docs/LEDGER.md, "Private fields"): for hq_admin only,
    /// as `readPrivateValues` and the database's policies allow.
    public func readLedger(
        key: APIKey, requestID: String, logger: Logger, options: LedgerVerificationOptions = LedgerVerificationOptions(),
        fromBlock: Int64 = 0, privateValuesUnder masterKey: MasterKey? = nil,
        _ visit: @escaping @Sendable (LedgerEvidencePage) async throws -> Void
    ) async throws {
        if masterKey != nil {
            // Recorded before any value is opened, in a transaction of its own: an export that
            // fails halfway has still shown what it wrote.
            try await inSnapshot(key: key, requestID: requestID, logger: logger) { sandbox in
                try sandbox.requireLedgerReading(withPrivateValues: true)
                try await sandbox.audit(
                    Sandbox.privateValuesExportAction, subject: sandbox.principal.tenantCode.rawValue, detail: ["from_block": String(fromBlock)])
            }
        }
        try await inSnapshot(key: key, requestID: requestID, logger: logger, masterKey: masterKey) { sandbox in
            try await sandbox.readLedger(options: options, fromBlock: fromBlock, withPrivateValues: masterKey != nil, visit)
        }
    }

    /// Runs `body` as `key`'s principal in one REPEATABLE READ transaction, so every page it
    /// reads sees the same snapshot; a refusal comes out as the StoreError it is.
    private func inSnapshot<T: Sendable>(
        key: APIKey, requestID: String, logger: Logger, masterKey: MasterKey? = nil, _ body: @escaping @Sendable (Sandbox) async throws -> T
    ) async throws -> T {
        do {
            return try await withTransaction(logger: logger) { connection in
                // Before the first query (app_begin), so the snapshot is the transaction's.
                try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", logger: logger)
                let sandbox = try await Self.begin(key: key, requestID: requestID, masterKey: masterKey, connection: connection, logger: logger)
                return try await body(sandbox)
            }
        } catch let error as PostgresTransactionError where error.closureError is StoreError {
            throw error.closureError!
        }
    }
}

extension Sandbox {
    func ledgerEvidence(options: LedgerVerificationOptions) async throws -> LedgerEvidence {
        let evidence = LedgerEvidenceCollector(LedgerEvidence(tenant: principal.tenantCode, keys: [], transactions: [], blocks: []))
        try await readLedger(options: options) { page in evidence.add(page) }
        return evidence.value
    }

    /// What reading the whole ledger takes: `verifyLedger`, and `readPrivateValues` to open its values.
    func requireLedgerReading(withPrivateValues: Bool) throws {
        try require(.verifyLedger)
        if withPrivateValues { try require(.readPrivateValues) }
    }

    func readLedger(
        options: LedgerVerificationOptions, fromBlock: Int64 = 0, withPrivateValues: Bool = false,
        _ visit: @Sendable (LedgerEvidencePage) async throws -> Void
    ) async throws {
        try requireLedgerReading(withPrivateValues: withPrivateValues)
        try await visit(.keys(try await ledgerKeys()))
        if fromBlock > 0 { try await visit(.anchor(try await anchor(before: fromBlock))) }
        var afterHash: LedgerHash?
        while true {
            let page = try await transactionPage(after: afterHash, options: options, fromBlock: fromBlock)
            guard let last = page.last else { break }
            try await visit(.transactions(withPrivateValues ? try await withPrivateValuesOpened(page.map(\.evidence)) : page.map(\.evidence)))
            afterHash = last.evidence.claimedHash
        }
        var afterNumber: Int64? = fromBlock > 0 ? fromBlock - 1 : nil
        while true {
            let page = try await blockPage(after: afterNumber, options: options)
            guard let last = page.last else { break }
            try await visit(.blocks(page.map(\.evidence)))
            afterNumber = last.evidence.number
        }
        var afterCheckpoint = fromBlock > 0 ? try await checkpointRows.lastNumber(before: fromBlock - 1) : nil
        while true {
            let page = try await checkpointRows.evidencePage(after: afterCheckpoint, limit: options.pageRowsMax)
            guard let last = page.last else { break }
            try await visit(.checkpoints(page))
            afterCheckpoint = last.number
        }
    }

    /// The page's transactions with their private values' preimages, opened under the master key.
    private func withPrivateValuesOpened(_ page: [LedgerEvidence.Transaction]) async throws -> [LedgerEvidence.Transaction] {
        let masterKey = try masterKeyForPrivateValues()
        // Written as stored: a value that is not its commitment is the verifiers' to name.
        let rows = try await sealedPrivateValues(of: page.map(\.claimedHash))
        var opened: [LedgerHash: [LedgerPrivateField: [UInt8]]] = [:]
        for (row, value) in zip(rows, try await keys.openPrivateValues(rows, masterKey: masterKey)) {
            opened[row.transaction, default: [:]][row.field] = value.preimage
        }
        return page.map { transaction in
            var transaction = transaction
            transaction.privateValues = opened[transaction.claimedHash] ?? [:]
            return transaction
        }
    }

    /// Block `number` − 1 with the log's right edge after it, read leaf by leaf, never whole.
    private func anchor(before number: Int64) async throws -> LedgerEvidence.Anchor {
        let tenantID = principal.tenantID.rawValue
        // The block before, if block `number` itself is sealed.
        guard
            let row = try await connection.query(
                """
                SELECT a.header, a.orderer_key_version, a.signature, a.log_size FROM ledger_blocks a
                WHERE a.tenant_id = \(tenantID) AND a.number = \(number - 1)
                  AND EXISTS (SELECT 1 FROM ledger_blocks b WHERE b.tenant_id = a.tenant_id AND b.number = \(number))
                """, logger: logger
            ).collect().first
        else {
            throw StoreError(.notFound, "No block \(number) to export from: blocks are numbered 0, 1, 2, … up to the newest sealed.")
        }
        let (header, version, signature, logSize) = try row.decode((ByteBuffer, Int32, ByteBuffer, Int64).self)
        let frontier = try await Database.logFrontier(tenantID: principal.tenantID, upTo: logSize, connection: connection, logger: logger)
        let headerBytes = bytes(header)
        let block = LedgerEvidence.Block(
            number: number - 1, headerBytes: headerBytes, claimedHash: .of(headerBytes), ordererKeyVersion: Int64(version),
            ordererSignatureDER: bytes(signature), transactionHashes: [])
        return LedgerEvidence.Anchor(block: block, frontier: frontier.subtrees.map(\.root))
    }

    /// Reads the tenant's ledger page by page into `LedgerVerifier` (keys, then transactions
    /// by hash, then blocks in stored order), checks the columns each row keeps beside its
    /// document, and holds every visible transfer's rows against its transactions.
    func verifyLedger(
        options: LedgerVerificationOptions, progress: @Sendable (LedgerVerificationProgress) -> Void
    ) async throws -> LedgerVerification {
        try require(.verifyLedger)
        let tenantID = principal.tenantID.rawValue
        let totals = try await connection.query(
            """
            SELECT (SELECT count(*) FROM ledger_transactions WHERE tenant_id = \(tenantID)),
                (SELECT count(*) FROM ledger_blocks WHERE tenant_id = \(tenantID)),
                (SELECT count(*) FROM transfers WHERE tenant_id = \(tenantID))
            """, logger: logger
        ).collect().first!.decode((Int, Int, Int).self)
        var read = LedgerVerificationProgress(transactionsTotal: totals.0, blocksTotal: totals.1, transfersTotal: totals.2)
        progress(read)
        let keys = try await ledgerKeys()
        var verifier = LedgerVerifier(tenant: principal.tenantCode, keys: keys, concurrency: options.concurrency)
        var failures: [LedgerVerificationFailure] = []

        // The next page is read while the verifier checks this one's signatures on every core.
        var page = try await transactionPage(after: nil, options: options)
        while let last = page.last {
            async let next = transactionPage(after: last.evidence.claimedHash, options: options)
            await verifier.add(transactions: page.map(\.evidence))
            failures += page.flatMap(\.columnFailures)
            read.transactionsRead += page.count
            progress(read)
            page = try await next
        }

        var afterNumber: Int64?
        // Each block's header, for the checkpoints that name it.
        var headers: [Int64: BlockHeader] = [:]
        while true {
            let page = try await blockPage(after: afterNumber, options: options)
            guard let last = page.last else { break }
            await verifier.add(blocks: page.map(\.evidence))
            failures += page.flatMap(\.columnFailures)
            for block in page { headers[block.evidence.number] = try? BlockHeader(canonicalBytes: block.evidence.headerBytes) }
            read.blocksRead += page.count
            progress(read)
            afterNumber = last.evidence.number
        }

        var checkpoints: [LedgerCheckpoint.Evidence] = []
        var afterCheckpoint: Int64?
        while true {
            let page = try await checkpointRows.evidencePage(after: afterCheckpoint, limit: options.pageRowsMax)
            guard let last = page.last else { break }
            checkpoints += page
            afterCheckpoint = last.number
        }
        failures += LedgerCheckpoint.check(checkpoints, tenant: principal.tenantCode, keys: verifier.keys, header: { headers[$0] }).failures

        var afterTransfer: Int64 = 0
        while true {
            let page = try await transferPage(after: afterTransfer, limit: options.pageRowsMax)
            guard let last = page.last else { break }
            failures += page.flatMap { BooksReconciliation.failures($0.transfer, events: $0.events) }
            read.transfersRead += page.count
            progress(read)
            afterTransfer = last.transfer.transferID
        }
        failures += try await transferEventsOutsideTheSandbox(limit: options.pageRowsMax).map(
            BooksReconciliation.failure(unmatched:))

        let report = verifier.report()
        return LedgerVerification(
            tenant: principal.tenantCode,
            report: LedgerVerificationReport(failures: report.failures + failures, counts: report.counts),
            keys: keys.count, transfersReconciled: read.transfersRead)
    }

    private func ledgerKeys() async throws -> [LedgerEvidence.Key] {
        try await CheckpointRows.ledgerKeys(tenantID: principal.tenantID, connection: connection, logger: logger)
    }

    /// One transaction row as the verifier takes it, and what its columns say against its bytes.
    private struct TransactionRow {
        let evidence: LedgerEvidence.Transaction
        let columnFailures: [LedgerVerificationFailure]
    }

    /// The next transactions by hash after `after`: at most `pageRowsMax` rows and
    /// `pageBytesMax` canonical bytes (at least one row), each with its endorsements, dispute
    /// and the status its rows give (disputed, else committed, else pending).
    /// `fromBlock` > 0: only what a bundle from that block on holds (`readLedger`).
    private func transactionPage(after: LedgerHash?, options: LedgerVerificationOptions, fromBlock: Int64 = 0) async throws
        -> [TransactionRow]
    {
        let tenantID = principal.tenantID.rawValue
        let contextTypes = LedgerBundle.linkTypes.map(\.rawValue)
        let rows = try await connection.query(
            """
            SELECT p.tx_hash, p.canonical, p.tx_type, p.at_micros, p.endorser_codes, p.committed, p.dispute_org, p.dispute_reason
            FROM (SELECT t.tx_hash, t.canonical, t.tx_type, (extract(epoch FROM t.at) * 1000000)::bigint AS at_micros,
                      app_ledger_org_codes(t.endorser_org_ids) AS endorser_codes,
                      EXISTS (SELECT 1 FROM ledger_commits c WHERE c.tenant_id = t.tenant_id AND c.tx_hash = t.tx_hash) AS committed,
                      d.org_code AS dispute_org, d.reason AS dispute_reason,
                      sum(length(t.canonical)) OVER (ORDER BY t.tx_hash) - length(t.canonical) AS bytes_before
                  FROM ledger_transactions t
                  LEFT JOIN ledger_disputes d ON d.tenant_id = t.tenant_id AND d.tx_hash = t.tx_hash
                  WHERE t.tenant_id = \(tenantID) AND t.tx_hash > \(ByteBuffer(bytes: after?.bytes ?? []))
                    AND (\(fromBlock)::bigint = 0 OR t.tx_type = ANY(\(contextTypes)::text[])
                         OR NOT EXISTS (SELECT 1 FROM ledger_block_entries e
                                        WHERE e.tenant_id = t.tenant_id AND e.tx_hash = t.tx_hash AND e.block_number < \(fromBlock))
                         OR EXISTS (SELECT 1 FROM ledger_transactions u
                                    WHERE u.tenant_id = t.tenant_id AND u.transfer_id = t.transfer_id
                                      AND NOT EXISTS (SELECT 1 FROM ledger_block_entries e
                                                      WHERE e.tenant_id = u.tenant_id AND e.tx_hash = u.tx_hash AND e.block_number < \(fromBlock))))
                  ORDER BY t.tx_hash LIMIT \(options.pageRowsMax)) p
            WHERE p.bytes_before = 0 OR p.bytes_before + length(p.canonical) <= \(Int64(options.pageBytesMax))
            ORDER BY p.tx_hash
            """, logger: logger)
        var page:
            [(
                hash: LedgerHash, canonical: [UInt8], columns: LedgerStoredColumns.Transaction, status: LedgerTransactionStatus,
                dispute: LedgerEvidence.Dispute?
            )] = []
        for try await (hash, canonical, type, atMicros, endorserCodes, committed, disputeOrg, disputeReason) in rows.decode(
            (ByteBuffer, ByteBuffer, String, Int64, [String]?, Bool, String?, String?).self)
        {
            let claimed = try LedgerHash(bytes(hash))
            let dispute = try disputeOrg.map { LedgerEvidence.Dispute(org: try OrgCode($0), reason: disputeReason ?? "") }
            page.append(
                (
                    claimed, bytes(canonical),
                    LedgerStoredColumns.Transaction(
                        claimedHash: claimed, type: type, atMicros: atMicros, endorserOrgs: Set(endorserCodes ?? [])),
                    dispute != nil ? .disputed : committed ? .committed : .pending, dispute
                ))
        }
        guard !page.isEmpty else { return [] }
        var endorsements: [LedgerHash: [LedgerEvidence.Endorsement]] = [:]
        for try await (hash, org, version, signature) in try await connection.query(
            """
            SELECT tx_hash, org_code, key_version, signature FROM ledger_endorsements
            WHERE tenant_id = \(tenantID) AND tx_hash = ANY(\(page.map { ByteBuffer(bytes: $0.hash.bytes) })::bytea[])
            ORDER BY tx_hash, endorsed_at, org_code
            """, logger: logger
        ).decode((ByteBuffer, String, Int32, ByteBuffer).self) {
            endorsements[try LedgerHash(bytes(hash)), default: []].append(
                LedgerEvidence.Endorsement(org: try OrgCode(org), keyVersion: Int64(version), signatureDER: bytes(signature)))
        }
        return page.map { row in
            // Bytes that are no transaction are the verifier's to name; their columns say nothing more.
            let columnFailures = (try? LedgerTransaction(canonicalBytes: row.canonical)).map {
                LedgerStoredColumns.failures(row.columns, $0)
            }
            return TransactionRow(
                evidence: LedgerEvidence.Transaction(
                    claimedHash: row.hash, canonicalBytes: row.canonical, claimedStatus: row.status,
                    endorsements: endorsements[row.hash] ?? [], dispute: row.dispute),
                columnFailures: columnFailures ?? [])
        }
    }

    /// One block row as the verifier takes it, and what its columns say against its header.
    private struct BlockRow {
        let evidence: LedgerEvidence.Block
        let columnFailures: [LedgerVerificationFailure]
    }

    /// The next blocks by number after `after`: at most `pageRowsMax` rows and
    /// `pageEntriesMax` entries (by their tx_count; at least one block), each with the hashes
    /// it lists in position order.
    private func blockPage(after: Int64?, options: LedgerVerificationOptions) async throws -> [BlockRow] {
        let tenantID = principal.tenantID.rawValue
        let rows = try await connection.query(
            """
            SELECT p.number, p.header, p.block_hash, p.prev_hash, p.tx_count, p.log_size, p.sealed_micros, p.orderer_key_version,
                p.signature
            FROM (SELECT b.number, b.header, b.block_hash, b.prev_hash, b.tx_count, b.log_size,
                      (extract(epoch FROM b.sealed_at) * 1000000)::bigint AS sealed_micros, b.orderer_key_version, b.signature,
                      sum(b.tx_count) OVER (ORDER BY b.number) - b.tx_count AS entries_before
                  FROM ledger_blocks b
                  WHERE b.tenant_id = \(tenantID) AND b.number > \(after ?? -1)
                  ORDER BY b.number LIMIT \(options.pageRowsMax)) p
            WHERE p.entries_before = 0 OR p.entries_before + p.tx_count <= \(Int64(options.pageEntriesMax))
            ORDER BY p.number
            """, logger: logger)
        var page:
            [(
                number: Int64, header: [UInt8], hash: LedgerHash, previous: LedgerHash, count: Int32, size: Int64, sealed: Int64,
                version: Int32, signature: [UInt8]
            )] = []
        for try await (number, header, hash, previous, count, size, sealed, version, signature) in rows.decode(
            (Int64, ByteBuffer, ByteBuffer, ByteBuffer, Int32, Int64, Int64, Int32, ByteBuffer).self)
        {
            page.append(
                (
                    number, bytes(header), try LedgerHash(bytes(hash)), try LedgerHash(bytes(previous)), count, size, sealed,
                    version,
                    bytes(signature)
                ))
        }
        guard !page.isEmpty else { return [] }
        var entries: [Int64: [(hash: LedgerHash, logIndex: Int64)]] = [:]
        for try await (number, hash, logIndex) in try await connection.query(
            """
            SELECT block_number, tx_hash, log_index FROM ledger_block_entries
            WHERE tenant_id = \(tenantID) AND block_number = ANY(\(page.map(\.number))::bigint[])
            ORDER BY block_number, position
            """, logger: logger
        ).decode((Int64, ByteBuffer, Int64).self) {
            entries[number, default: []].append((try LedgerHash(bytes(hash)), logIndex))
        }
        return page.map { row in
            let listed = entries[row.number] ?? []
            let columns = LedgerStoredColumns.Block(
                number: row.number, previousHash: row.previous, transactionCount: Int64(row.count), logSize: row.size,
                sealedAtMicros: row.sealed, logIndexes: listed.map(\.logIndex))
            return BlockRow(
                evidence: LedgerEvidence.Block(
                    number: row.number, headerBytes: row.header, claimedHash: row.hash, ordererKeyVersion: Int64(row.version),
                    ordererSignatureDER: row.signature, transactionHashes: listed.map(\.hash)),
                // A header that is no header is the verifier's to name.
                columnFailures: (try? BlockHeader(canonicalBytes: row.header)).map { LedgerStoredColumns.failures(columns, $0) }
                    ?? [])
        }
    }

    /// One transfer's rows with the transactions filed under it.
    private struct TransferRows {
        let transfer: PostedTransfer
        let events: [SignedTransferEvent]
    }

    /// The next transfers of the sandbox by id after `after` (HQ's and an auditor's: the
    /// tenant's), each with its lines and the transactions whose `transfer_id` names it.
    private func transferPage(after: Int64, limit: Int) async throws -> [TransferRows] {
        let tenantID = principal.tenantID.rawValue
        var transfers: [PostedTransfer] = []
        for try await row in try await connection.query(
            """
            SELECT transfer_id, from_code, to_code, status, rules_version, estimate_total_fen, actual_freight_fen, actual_insurance_fen,
                actual_total_fen, error_ppm, flagged, true_up_fen, claim_recovered_fen, (extract(epoch FROM created_at) * 1000000)::bigint
            FROM transfers WHERE tenant_id = \(tenantID) AND transfer_id > \(after) ORDER BY transfer_id LIMIT \(limit)
            """, logger: logger)
        {
            let c = try row.decode(
                (Int64, String, String, String, String, Int64, Int64?, Int64?, Int64?, Int64?, Bool, Int64?, Int64?, Int64).self)
            guard let status = TransferStatus(rawValue: c.3) else {
                throw StoreError(.conflict, "Transfer \(c.0) is \(c.3), which no transfer is.")
            }
            transfers.append(
                PostedTransfer(
                    transferID: c.0, fromCode: c.1, toCode: c.2, status: status, rulesVersion: c.4,
                    createdAt: UTCMicros(microsecondsSinceEpoch: c.13), estimateTotalFen: c.5,
                    actualFreightFen: c.6, actualInsuranceFen: c.7, actualTotalFen: c.8, errorPartsPerMillion: c.9, flagged: c.10,
                    trueUpFen: c.11, claimRecoveredFen: c.12, lines: []))
        }
        guard !transfers.isEmpty else { return [] }
        let ids = transfers.map(\.transferID)
        var lines: [Int64: [PostedTransfer.Line]] = [:]
        for try await row in try await connection.query(
            """
            SELECT l.transfer_id, l.line_no, i.code, l.quantity_scaled, l.unit_cost_fen, l.weight_grams_per_unit, l.category,
                l.shelf_life_days, l.base_cost_fen, l.freight_fen, l.insurance_fen, l.loss_allowance_fen, l.timeliness_fen, l.markup_fen,
                l.total_fen, l.breakdown::text, l.lost_scaled, l.allowance_scaled, l.claim_scaled, l.claim_value_fen, l.landed_value_fen
            FROM transfer_lines l JOIN items i ON i.tenant_id = l.tenant_id AND i.item_id = l.item_id
            WHERE l.tenant_id = \(tenantID) AND l.transfer_id = ANY(\(ids)::bigint[])
            ORDER BY l.transfer_id, l.line_no
            """, logger: logger)
        {
            let c = try row.decode(
                (
                    Int64, Int32, String, Int64, Int64, Int64, String, Int32, Int64, Int64, Int64, Int64, Int64, Int64, Int64,
                    String,
                    Int64?, Int64?, Int64?, Int64?, Int64?
                ).self)
            lines[c.0, default: []].append(
                PostedTransfer.Line(
                    lineNumber: c.1, itemCode: c.2, quantityScaled: c.3, unitCostFen: c.4, weightGramsPerUnit: c.5, category: c.6,
                    shelfLifeDays: c.7, baseCostFen: c.8, freightFen: c.9, insuranceFen: c.10, lossAllowanceFen: c.11,
                    timelinessFen: c.12, markupFen: c.13, totalFen: c.14, breakdown: Self.breakdown(c.15), lostScaled: c.16,
                    allowanceScaled: c.17, claimScaled: c.18, claimValueFen: c.19, landedValueFen: c.20))
        }
        var events: [Int64: [SignedTransferEvent]] = [:]
        for try await (hash, transferID, canonical) in try await connection.query(
            """
            SELECT tx_hash, transfer_id, canonical FROM ledger_transactions
            WHERE tenant_id = \(tenantID) AND transfer_id = ANY(\(ids)::bigint[])
            """, logger: logger
        ).decode((ByteBuffer, Int64, ByteBuffer).self) {
            if let signed = try Self.signedEvent(hash: hash, transferID: transferID, canonical: canonical) {
                events[transferID, default: []].append(signed)
            }
        }
        return transfers.map { transfer in
            var transfer = transfer
            transfer.lines = lines[transfer.transferID] ?? []
            return TransferRows(transfer: transfer, events: events[transfer.transferID] ?? [])
        }
    }

    /// Transfer transactions filed under a transfer the sandbox does not show (the whole
    /// ledger is readable to a verifier; a transfer of an org outside its visible set is not).
    private func transferEventsOutsideTheSandbox(limit: Int) async throws -> [SignedTransferEvent] {
        var found: [SignedTransferEvent] = []
        var after: [UInt8] = []
        while true {
            var last: [UInt8]?
            for try await (hash, transferID, canonical) in try await connection.query(
                """
                SELECT l.tx_hash, l.transfer_id, l.canonical FROM ledger_transactions l
                WHERE l.tenant_id = \(principal.tenantID.rawValue) AND l.transfer_id IS NOT NULL AND l.tx_hash > \(ByteBuffer(bytes: after))
                  AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.tenant_id = l.tenant_id AND t.transfer_id = l.transfer_id)
                ORDER BY l.tx_hash LIMIT \(limit)
                """, logger: logger
            ).decode((ByteBuffer, Int64, ByteBuffer).self) {
                last = bytes(hash)
                if let signed = try Self.signedEvent(hash: hash, transferID: transferID, canonical: canonical) {
                    found.append(signed)
                }
            }
            guard let last else { return found }
            after = last
        }
    }

    /// The transfer event a transaction row states, if its bytes are a transaction of a
    /// transfer type with a body of that type (the verifier names every other).
    private static func signedEvent(hash: ByteBuffer, transferID: Int64, canonical: ByteBuffer) throws -> SignedTransferEvent? {
        guard let transaction = try? LedgerTransaction(canonicalBytes: bytes(canonical)),
            let event = SignedTransferEvent.Event(transaction)
        else { return nil }
        return SignedTransferEvent(transactionHash: try LedgerHash(bytes(hash)), filedUnderTransferID: transferID, event: event)
    }

    /// `transfer_lines.breakdown` as Transfers.swift stores it (`[{name, amountFen,
    /// explanation}]`); nil when the stored JSON is not that.
    private static func breakdown(_ json: String) -> [TransferPrice.Component]? {
        struct Stored: Decodable {
            let name: String
            let amountFen: Int64
            let explanation: String
        }
        return (try? JSONDecoder().decode([Stored].self, from: Data(json.utf8)))?.map {
            TransferPrice.Component(name: $0.name, amount: Money(fen: $0.amountFen), explanation: $0.explanation)
        }
    }
}
