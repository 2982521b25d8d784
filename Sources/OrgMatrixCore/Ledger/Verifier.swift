import Foundation
import SMCrypto

/// The ledger verifier (docs/LEDGER.md, "Verification"): one engine for the online path (the Store
/// loads rows into `LedgerEvidence`) and the offline one (an exported bundle's files). It
/// recomputes every hash, link, tree, signature, key validity and status from the evidence and
/// names every failure, not just the first; the per-type body checks add what each event states.
///
/// It reads a ledger in pieces, so a caller need not hold it whole: keys when it is made (they
/// are few and every check needs them), then transactions and blocks in chunks of any size, in
/// any interleaving, blocks in stored order. What it keeps between chunks is small per
/// transaction (its hash inline, time, status and whether a block sealed it: a block's hashes
/// are checked as it comes, those of transactions not yet read kept until the report); the
/// figure checks keep every pricing and transfer transaction until `report()`, in the spool
/// they are given (`TransferFigureChecks`).
public struct LedgerVerifier: Sendable {
    /// How many chunks of signatures are checked at once unless told otherwise: one per core.
    public static let concurrencyDefault = ProcessInfo.processInfo.activeProcessorCount

    public let tenant: TenantCode
    public let keys: LedgerKeyDirectory
    private let bodyChecks: [LedgerTransactionType: LedgerBodyCheck]
    private let concurrency: Int
    /// Nil when told not to check the transfer figures.
    private var figures: TransferFigureChecks?
    /// Whether every private value a transaction commits to must come with it (a bundle
    /// exported `--with-private`), so one left out is named.
    private let requiresPrivateValues: Bool

    private var failures: [LedgerVerificationFailure] = []
    private var counts = LedgerVerificationReport.Counts()
    /// Per transaction stored, by the SM3 of its bytes (not the hash it claims): a block commits
    /// to what the bytes are.
    private var stored: [HashKey: StoredTransaction] = [:]
    /// Undisputed key events, matched against the key rows at the end.
    private var registrations: Set<KeyEvent.Registered> = []
    private var revocations: Set<KeyEvent.Revoked> = []
    private var chain = Chain()
    /// Hashes a block listed before their transaction was read, in block order, checked by the
    /// report; once one is, a later block's listing of it waits too, so "sealed twice" names
    /// the later block whatever the order of the chunks.
    private var deferred: [Sealing] = []
    private var deferredHashes: Set<HashKey> = []

    /// `concurrency`: at most this many chunks checked at once (at least 1); the report is the
    /// same whatever it is. `transferFigures`: whether pricing and transfer bodies are read and
    /// every figure recomputed (`TransferFigureChecks`); without, only their envelopes,
    /// endorsements and sealing are checked. `spool`: where the figure checks keep those
    /// transactions until the report; in memory unless given. `anchor`: for a ledger read from a
    /// later block on, the block before it and the log there, checked here (its header, its
    /// signature, that the frontier gives its log root); the first block must follow it.
    /// `requiresPrivateValues`: each transaction must carry a value for every private field it commits to.
    public init(
        tenant: TenantCode, keys: [LedgerEvidence.Key],
        bodyChecks: [LedgerTransactionType: LedgerBodyCheck] = LedgerBodyChecks.standard, transferFigures: Bool = true,
        concurrency: Int = concurrencyDefault, spool: any LedgerBodySpool = LedgerMemorySpool(),
        continuing anchor: LedgerEvidence.Anchor? = nil, requiresPrivateValues: Bool = false
    ) {
        self.requiresPrivateValues = requiresPrivateValues
        precondition(concurrency >= 1, "at least one chunk at a time")
        self.tenant = tenant
        self.keys = LedgerKeyDirectory(keys)
        self.bodyChecks = bodyChecks
        self.concurrency = concurrency
        figures = transferFigures ? TransferFigureChecks(spool: spool) : nil
        if let anchor { chain = Chain(continuing: anchor, checker: BlockChecker(tenant: tenant, keys: self.keys), failures: &failures) }
    }

    /// Checks transaction rows: bytes, hash, envelope, each endorsement, the status, the body.
    public mutating func add(transactions records: [LedgerEvidence.Transaction]) async {
        let checker = TransactionChecker(
            tenant: tenant, keys: keys, bodyChecks: bodyChecks, readsFigures: figures != nil, requiresPrivateValues: requiresPrivateValues)
        let outcomes = await Self.concurrentMap(records, concurrency: concurrency) { checker.check($0) }
        for outcome in outcomes {
            counts.transactions += 1
            counts.endorsementsChecked += outcome.endorsementsChecked
            counts.privateValuesChecked += outcome.privateValuesChecked
            switch outcome.status {
            case .committed?: counts.committed += 1
            case .pending?: counts.pending += 1
            case .disputed?: counts.disputed += 1
            case nil: break
            }
            failures += outcome.failures
            let key = HashKey(outcome.actualHash)
            if stored[key] != nil {
                failures.append(
                    .init(
                        .duplicateTransaction, transaction: outcome.claimedHash, field: "canonical_bytes",
                        expected: "each transaction stored once",
                        found: "the bytes of \(outcome.actualHash.hex) again"))
                continue
            }
            stored[key] = StoredTransaction(at: outcome.at, status: outcome.status)
            if let (transaction, bytes) = outcome.figureTransaction, let status = outcome.status {
                figures?.add(transaction, canonicalBytes: bytes, hash: outcome.claimedHash, status: status)
            }
            if let registration = outcome.registration { registrations.insert(registration) }
            if let revocation = outcome.revocation { revocations.insert(revocation) }
        }
    }

    /// Checks block rows, which must come in stored order across calls: each header, its
    /// signature, its link to the block before, its trees.
    public mutating func add(blocks records: [LedgerEvidence.Block]) async {
        let checker = BlockChecker(tenant: tenant, keys: keys)
        let outcomes = await Self.concurrentMap(records, concurrency: concurrency) { checker.check($0) }
        for outcome in outcomes {
            chain.append(outcome, failures: &failures, counts: &counts)
            for hash in outcome.transactionHashes {
                let sealing = Sealing(block: outcome.number, hash: hash, sealedAt: outcome.header?.sealedAt)
                let key = HashKey(hash)
                if !deferredHashes.contains(key), let transaction = stored[key] {
                    failures += sealing.failures(transaction, sealedBefore: transaction.sealed)
                    stored[key]?.sealed = true
                } else {
                    deferred.append(sealing)
                    deferredHashes.insert(key)
                }
            }
        }
    }

    /// Every failure so far, with what only the whole ledger shows: each sealed hash stored,
    /// committed, not sealed twice, not sealed before it happened; each key row and revocation
    /// evidenced by its event; every transfer figure, recomputed with its transfer's other events.
    public func report() -> LedgerVerificationReport {
        var all = failures + keys.failures + (figures?.check() ?? [])
        // A deferred hash was never marked sealed: only the deferred listings before it count.
        var sealedNow: Set<HashKey> = []
        for sealing in deferred {
            let key = HashKey(sealing.hash)
            all += sealing.failures(stored[key], sealedBefore: !sealedNow.insert(key).inserted)
        }
        for key in keys.keys {
            let field = LedgerKeyDirectory.field(key.owner, key.version)
            if !registrations.contains(key.registration) {
                all.append(
                    .init(
                        .keyNotRegistered, field: field, expected: "an undisputed key.registered transaction stating this row",
                        found: "none"))
            }
            if let revocation = key.revocationEvent, !revocations.contains(revocation) {
                all.append(
                    .init(
                        .keyRevocationNotRecorded, field: "\(field).revocation",
                        expected: "an undisputed key.revoked transaction stating it", found: "none"))
            }
        }
        return LedgerVerificationReport(failures: all, counts: counts)
    }

    /// `transform` over `items` in up to `concurrency` child tasks of contiguous chunks; the
    /// results in the order of `items`.
    static func concurrentMap<Item: Sendable, Result: Sendable>(
        _ items: [Item], concurrency: Int, _ transform: @escaping @Sendable (Item) -> Result
    ) async -> [Result] {
        let chunkCount = min(concurrency, items.count)
        guard chunkCount > 1 else { return items.map(transform) }
        let chunkSize = (items.count + chunkCount - 1) / chunkCount
        return await withTaskGroup(of: (Int, [Result]).self) { group in
            for start in stride(from: 0, to: items.count, by: chunkSize) {
                let chunk = items[start..<min(start + chunkSize, items.count)]
                group.addTask { (start, chunk.map(transform)) }
            }
            var parts: [(start: Int, results: [Result])] = []
            for await part in group { parts.append(part) }
            return parts.sorted { $0.start < $1.start }.flatMap(\.results)
        }
    }
}

extension LedgerEvidence {
    /// Verifies the whole ledger at once.
    public func verify(
        bodyChecks: [LedgerTransactionType: LedgerBodyCheck] = LedgerBodyChecks.standard, transferFigures: Bool = true,
        concurrency: Int = LedgerVerifier.concurrencyDefault
    ) async -> LedgerVerificationReport {
        var verifier = LedgerVerifier(
            tenant: tenant, keys: keys, bodyChecks: bodyChecks, transferFigures: transferFigures, concurrency: concurrency)
        await verifier.add(transactions: transactions)
        await verifier.add(blocks: blocks)
        return verifier.report()
    }
}

/// What the sealing checks need of a stored transaction; nil fields for unreadable bytes.
private struct StoredTransaction {
    let at: UTCMicros?
    let status: LedgerTransactionStatus?
    /// Whether a block read so far sealed it.
    var sealed = false
}

/// A transaction's hash as the key of what the verifier keeps per transaction: its 32 bytes
/// inline, not in a buffer of their own.
private struct HashKey: Hashable {
    let words: (UInt64, UInt64, UInt64, UInt64)

    init(_ hash: LedgerHash) {
        words = hash.bytes.withUnsafeBytes { raw in
            (
                raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
            )
        }
    }

    static func == (lhs: Self, rhs: Self) -> Bool { lhs.words == rhs.words }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}

/// One hash a block lists.
private struct Sealing {
    let block: Int64
    let hash: LedgerHash
    let sealedAt: UTCMicros?

    /// What sealing `transaction` here breaks: sealed before, none stored, not committed, sealed
    /// before it happened.
    func failures(_ transaction: StoredTransaction?, sealedBefore: Bool) -> [LedgerVerificationFailure] {
        func failure(_ kind: LedgerVerificationFailure.Kind, field: String = "transactions", expected: String, found: String)
            -> LedgerVerificationFailure
        {
            .init(kind, block: block, transaction: hash, field: field, expected: expected, found: found)
        }
        guard !sealedBefore else { return [failure(.transactionSealedTwice, expected: "each transaction sealed once", found: "sealed again")] }
        guard let transaction else {
            return [failure(.sealedTransactionMissing, expected: "a stored transaction whose bytes hash to it", found: "none")]
        }
        var failures: [LedgerVerificationFailure] = []
        if transaction.status != .committed {
            failures.append(
                failure(.sealedTransactionNotCommitted, expected: "committed", found: transaction.status?.rawValue ?? "an unreadable transaction"))
        }
        if let at = transaction.at, let sealedAt, sealedAt < at {
            failures.append(
                failure(.sealedBeforeTransaction, field: "sealed_at", expected: "at or after the transaction's at, \(at)", found: sealedAt.description))
        }
        return failures
    }
}

extension KeyValidity {
    /// The failure a signature by this key makes, or nil when the key was valid.
    /// `moment` is nil when it is not known (an unreadable header): then only `unknown` fails.
    func failure(owner: KeyOwner, version: Int64, at moment: UTCMicros?) -> (
        kind: LedgerVerificationFailure.Kind, expected: String, found: String
    )? {
        let expected = "a key of \(owner.name)" + (moment.map { " valid at \($0)" } ?? "")
        return switch self {
        case .valid: nil
        case .unknown: (.keyUnknown, expected, "no key \(owner.name) v\(version)")
        case .notYetValid(let validFrom): (.keyNotYetValid, expected, "v\(version) valid from \(validFrom)")
        case .revoked(let revokedAt): (.keyRevoked, expected, "v\(version) revoked at \(revokedAt)")
        case .superseded(let next, let validFrom):
            (.keySuperseded, expected, "v\(version), superseded by v\(next) from \(validFrom)")
        }
    }
}

// MARK: transactions

/// What one transaction row proves, found without looking at any other row.
private struct TransactionOutcome: Sendable {
    let claimedHash: LedgerHash
    let actualHash: LedgerHash
    let at: UTCMicros?
    /// The status the evidence gives; nil when the bytes are not a transaction.
    let status: LedgerTransactionStatus?
    let endorsementsChecked: Int
    var privateValuesChecked = 0
    let failures: [LedgerVerificationFailure]
    let registration: KeyEvent.Registered?
    let revocation: KeyEvent.Revoked?
    /// The transaction and its bytes, when the figure checks read its type.
    let figureTransaction: (LedgerTransaction, [UInt8])?
}

private struct TransactionChecker: Sendable {
    let tenant: TenantCode
    let keys: LedgerKeyDirectory
    let bodyChecks: [LedgerTransactionType: LedgerBodyCheck]
    let readsFigures: Bool
    let requiresPrivateValues: Bool

    func check(_ record: LedgerEvidence.Transaction) -> TransactionOutcome {
        let claimed = record.claimedHash
        let actual = LedgerHash.of(record.canonicalBytes)
        var failures: [LedgerVerificationFailure] = []
        func fail(_ kind: LedgerVerificationFailure.Kind, _ field: String, expected: String, found: String) {
            failures.append(.init(kind, transaction: claimed, field: field, expected: expected, found: found))
        }
        if actual != claimed { fail(.transactionHashMismatch, "tx_hash", expected: actual.hex, found: claimed.hex) }
        let transaction: LedgerTransaction
        do { transaction = try LedgerTransaction(canonicalBytes: record.canonicalBytes) } catch {
            let (field, reason) = error.fieldAndReason
            let kind: LedgerVerificationFailure.Kind = if case .notCanonical = error { .notCanonical } else { .malformedDocument }
            fail(kind, field, expected: "a ledger transaction (docs/LEDGER.md)", found: reason)
            return TransactionOutcome(
                claimedHash: claimed, actualHash: actual, at: nil, status: nil, endorsementsChecked: 0, failures: failures,
                registration: nil,
                revocation: nil, figureTransaction: nil)
        }
        if transaction.tenant != tenant {
            fail(.tenantMismatch, "tenant", expected: tenant.rawValue, found: transaction.tenant.rawValue)
        }

        let named = Self.named(transaction)
        var endorsed: Set<OrgCode> = []
        var seen: Set<OrgCode> = []
        for endorsement in record.endorsements {
            let field = "endorsements[\(endorsement.org)]"
            guard seen.insert(endorsement.org).inserted else {
                fail(
                    .duplicateEndorsement, field, expected: "one endorsement per org",
                    found: "another endorsement by \(endorsement.org)")
                continue
            }
            guard !transaction.role(of: endorsement.org).isEmpty else {
                fail(.endorserNotNamed, field, expected: "an endorsement by \(named)", found: endorsement.org.rawValue)
                continue
            }
            let owner = KeyOwner.org(endorsement.org)
            let validity = keys.validity(owner: owner, version: endorsement.keyVersion, at: transaction.at)
            if let problem = validity.failure(owner: owner, version: endorsement.keyVersion, at: transaction.at) {
                fail(problem.kind, "\(field).key_version", expected: problem.expected, found: problem.found)
                if validity == .unknown { continue }
            }
            if let problem = keys.signatureProblem(
                owner: owner, version: endorsement.keyVersion, signatureDER: endorsement.signatureDER,
                message: record.canonicalBytes)
            {
                fail(
                    problem.kind, "\(field).signature",
                    expected: "\(endorsement.org) v\(endorsement.keyVersion) signing the canonical bytes", found: problem.found)
                continue
            }
            if validity == .valid { endorsed.insert(endorsement.org) }
        }

        var disputed = false
        if let dispute = record.dispute {
            if transaction.role(of: dispute.org).isEmpty {
                fail(.disputeByUnnamedOrg, "dispute.org", expected: "a dispute by \(named)", found: dispute.org.rawValue)
            } else {
                disputed = true
            }
        }
        let status: LedgerTransactionStatus =
            disputed ? .disputed : transaction.isCommitted(byEndorsementsOf: endorsed) ? .committed : .pending
        if status != record.claimedStatus {
            fail(.statusMismatch, "status", expected: status.rawValue, found: record.claimedStatus.rawValue)
        }

        if let check = bodyChecks[transaction.type] {
            failures += check(transaction, LedgerBodyContext(tenant: tenant, keys: keys, transactionHash: claimed))
        }
        failures += LedgerPrivateValue.failures(
            transaction, hash: claimed, preimages: record.privateValues, complete: requiresPrivateValues)
        let evidences = status != .disputed
        return TransactionOutcome(
            claimedHash: claimed, actualHash: actual, at: transaction.at, status: status,
            endorsementsChecked: record.endorsements.count, privateValuesChecked: record.privateValues.count,
            failures: failures,
            registration: evidences && transaction.type == KeyEvent.Registered.ledgerType
                ? try? KeyEvent.Registered(ledgerBody: transaction.body) : nil,
            revocation: evidences && transaction.type == KeyEvent.Revoked.ledgerType
                ? try? KeyEvent.Revoked(ledgerBody: transaction.body) : nil,
            figureTransaction: readsFigures && TransferFigureChecks.types.contains(transaction.type)
                ? (transaction, record.canonicalBytes) : nil)
    }

    /// `BJ-CW (sender), SJZ-FW (receiver)`: the orgs that may endorse, for failures to quote.
    static func named(_ transaction: LedgerTransaction) -> String {
        let roles = transaction.policy.roles
        let parts = transaction.endorsers.filter { roles.contains($0.key) }.sorted { ($0.value, $0.key) < ($1.value, $1.key) }
        return parts.isEmpty
            ? "no org (the envelope names none)" : parts.map { "\($0.value) (\($0.key.rawValue))" }.joined(separator: ", ")
    }
}

// MARK: blocks

/// What one block row proves by itself: its header, its hash, its signature, its own tree.
private struct BlockOutcome: Sendable {
    let number: Int64
    let actualHash: LedgerHash
    let header: BlockHeader?
    let transactionHashes: [LedgerHash]
    /// The listed hashes as RFC 9162 leaves (`SM3(0x00 ‖ hash)`), for the tenant's log.
    let leaves: [[UInt8]]
    let failures: [LedgerVerificationFailure]
}

private struct BlockChecker: Sendable {
    let tenant: TenantCode
    let keys: LedgerKeyDirectory

    /// `tree`: whether the block's own tree is checked (not for an anchor, whose list is left out).
    func check(_ record: LedgerEvidence.Block, tree: Bool = true) -> BlockOutcome {
        var failures: [LedgerVerificationFailure] = []
        func fail(_ kind: LedgerVerificationFailure.Kind, _ field: String, expected: String, found: String) {
            failures.append(.init(kind, block: record.number, field: field, expected: expected, found: found))
        }
        let actual = LedgerHash.of(record.headerBytes)
        if actual != record.claimedHash {
            fail(.blockHashMismatch, "block_hash", expected: actual.hex, found: record.claimedHash.hex)
        }
        let leaves = record.transactionHashes.map { MerkleHashing.sm3.leafHash($0.bytes) }
        var header: BlockHeader?
        do { header = try BlockHeader(canonicalBytes: record.headerBytes) } catch {
            let (field, reason) = error.fieldAndReason
            let kind: LedgerVerificationFailure.Kind = if case .notCanonical = error { .notCanonical } else { .malformedDocument }
            fail(kind, field, expected: "a block header (docs/LEDGER.md)", found: reason)
        }
        if let header {
            if header.tenant != tenant {
                fail(.tenantMismatch, "tenant", expected: tenant.rawValue, found: header.tenant.rawValue)
            }
            if header.number != record.number {
                fail(.blockRowMismatch, "number", expected: String(record.number), found: String(header.number))
            }
        }
        if let header, tree {
            let dataHash = MerkleHashing.sm3.rootHash(leaves)
            if header.dataHash.bytes != dataHash {
                fail(.dataHashMismatch, "data_hash", expected: Hex.encode(dataHash), found: header.dataHash.hex)
            }
            if header.transactionCount != Int64(leaves.count) {
                fail(
                    .transactionCountMismatch, "tx_count", expected: String(leaves.count), found: String(header.transactionCount))
            }
        }
        let version = record.ordererKeyVersion
        // The key's validity needs the header's time; an unreadable header still has its signature checked.
        let validity: KeyValidity =
            if let header { keys.validity(owner: .orderer, version: version, at: header.sealedAt) } else {
                keys.key(owner: .orderer, version: version) == nil ? .unknown : .valid
            }
        if let problem = validity.failure(owner: .orderer, version: version, at: header?.sealedAt) {
            fail(problem.kind, "orderer_key_version", expected: problem.expected, found: problem.found)
        }
        if validity != .unknown,
            let problem = keys.signatureProblem(
                owner: .orderer, version: version, signatureDER: record.ordererSignatureDER, message: record.headerBytes)
        {
            fail(
                problem.kind, "orderer_signature", expected: "orderer v\(version) signing the header bytes", found: problem.found)
        }
        return BlockOutcome(
            number: record.number, actualHash: actual, header: header, transactionHashes: record.transactionHashes,
            leaves: leaves, failures: failures)
    }
}

/// The tenant's chain as read so far: what the next block must link to and extend.
private struct Chain {
    var nextNumber: Int64 = 0
    /// SM3 of the previous block's header bytes as stored, whatever they claim.
    var previousHash = LedgerHash.zero
    var previousSealedAt: UTCMicros?
    /// The tree over every hash listed so far, in block order.
    var log = MerkleFrontier(.sm3)

    init() {}

    /// After `anchor`, its own failures named `anchor.<field>`. A frontier that does not give the
    /// anchor's log root is named, and the log goes on from it (or from nothing, when it cannot be
    /// read), so each block after names its own log too.
    init(continuing anchor: LedgerEvidence.Anchor, checker: BlockChecker, failures: inout [LedgerVerificationFailure]) {
        let outcome = checker.check(anchor.block, tree: false)
        failures += outcome.failures.map {
            .init($0.kind, block: $0.blockNumber, field: "anchor.\($0.field)", expected: $0.expected, found: $0.found)
        }
        func fail(expected: String, found: String) {
            failures.append(.init(.anchorFrontierMismatch, block: anchor.block.number, field: "anchor.frontier", expected: expected, found: found))
        }
        nextNumber = anchor.block.number + 1
        previousHash = outcome.actualHash
        previousSealedAt = outcome.header?.sealedAt
        guard let header = outcome.header else { return }
        let size = Int(header.logSize)
        if let restored = MerkleFrontier(.sm3, size: size, roots: anchor.frontier) {
            log = restored
            if restored.rootHash != header.logRoot.bytes {
                fail(expected: "subtree roots whose root is block \(anchor.block.number)'s log_root, \(header.logRoot.hex)", found: Hex.encode(restored.rootHash))
            }
        } else {
            fail(expected: "\(size.nonzeroBitCount) subtree roots of 32 bytes, one per bit of log_size \(size)", found: "\(anchor.frontier.count) hashes")
        }
    }

    mutating func append(
        _ block: BlockOutcome, failures: inout [LedgerVerificationFailure], counts: inout LedgerVerificationReport.Counts
    ) {
        func fail(_ kind: LedgerVerificationFailure.Kind, _ field: String, expected: String, found: String) {
            failures.append(.init(kind, block: block.number, field: field, expected: expected, found: found))
        }
        failures += block.failures
        counts.blocks += 1
        counts.sealedTransactions += block.leaves.count
        if block.number != nextNumber {
            fail(.blockOutOfSequence, "number", expected: String(nextNumber), found: String(block.number))
        }
        nextNumber += 1
        for leaf in block.leaves { log.append(leafHash: leaf) }
        if let header = block.header {
            if header.previousHash != previousHash {
                fail(.previousHashMismatch, "prev_hash", expected: previousHash.hex, found: header.previousHash.hex)
            }
            if header.logSize != Int64(log.size) {
                fail(.logSizeMismatch, "log_size", expected: String(log.size), found: String(header.logSize))
            }
            let root = log.rootHash
            if header.logRoot.bytes != root {
                fail(.logRootMismatch, "log_root", expected: Hex.encode(root), found: header.logRoot.hex)
            }
            if let previousSealedAt, header.sealedAt < previousSealedAt {
                fail(
                    .sealedBeforePrevious, "sealed_at", expected: "at or after \(previousSealedAt)",
                    found: header.sealedAt.description)
            }
            previousSealedAt = header.sealedAt
        }
        previousHash = block.actualHash
    }
}
