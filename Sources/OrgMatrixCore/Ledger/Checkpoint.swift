import SMCrypto

/// A checkpoint (docs/LEDGER.md, "Checkpoints"): the log as every org with a key saw it. Its
/// canonical bytes are what each signer signs; an org that keeps them holds the root a later
/// rewrite of history cannot be consistent with.
public struct LedgerCheckpoint: Sendable, Hashable {
    public static let formatVersion: Int64 = 1

    public let tenant: TenantCode
    public let number: Int64
    public let period: Period
    public let at: UTCMicros
    public let logSize: Int64
    public let logRoot: LedgerHash
    public let lastBlock: Int64
    public let lastBlockHash: LedgerHash
    /// The previous checkpoint's `log_size`, 0 for checkpoint 0: where its consistency proof starts.
    public let previousLogSize: Int64
    /// Every org with a key valid at `at`, sorted.
    public let signers: [OrgCode]

    public init(
        tenant: TenantCode, number: Int64, period: Period, at: UTCMicros, logSize: Int64, logRoot: LedgerHash, lastBlock: Int64,
        lastBlockHash: LedgerHash, previousLogSize: Int64, signers: [OrgCode]
    ) {
        (self.tenant, self.number, self.period, self.at) = (tenant, number, period, at)
        (self.logSize, self.logRoot, self.lastBlock, self.lastBlockHash) = (logSize, logRoot, lastBlock, lastBlockHash)
        (self.previousLogSize, self.signers) = (previousLogSize, signers.sorted())
    }

    /// The checkpoint after `previous` (nil for the first) at the block `header` (whose hash is
    /// `header.hash`), signed by `signers`.
    public init(
        after previous: LedgerCheckpoint?, at: UTCMicros, period: Period, header: BlockHeader, signers: [OrgCode]
    ) {
        self.init(
            tenant: header.tenant, number: previous.map { $0.number + 1 } ?? 0, period: period, at: at, logSize: header.logSize,
            logRoot: header.logRoot, lastBlock: header.number, lastBlockHash: header.hash, previousLogSize: previous?.logSize ?? 0,
            signers: signers)
    }

    /// A quarter a checkpoint closes, or one HQ asked for.
    public enum Period: Sendable, Hashable, CustomStringConvertible {
        case quarter(year: Int, quarter: Int)
        case onDemand

        /// The quarter `moment` falls in (UTC).
        public static func quarter(of moment: UTCMicros) -> Period {
            let days = moment.microsecondsSinceEpoch.quotientAndRemainder(dividingBy: 86_400_000_000)
            let day = days.remainder < 0 ? days.quotient - 1 : days.quotient
            let (year, month, _) = UTCTime.civil(daysFromEpoch: Int(day))
            return .quarter(year: year, quarter: (month - 1) / 3 + 1)
        }

        /// The first moment of the quarter after this one; nil on demand.
        public var end: UTCMicros? {
            guard case .quarter(let year, let quarter) = self else { return nil }
            let (nextYear, nextMonth) = quarter == 4 ? (year + 1, 1) : (year, quarter * 3 + 1)
            let days = Int64(UTCTime.daysFromEpoch(year: nextYear, month: nextMonth, day: 1))
            return UTCMicros(microsecondsSinceEpoch: days * 86_400_000_000)
        }

        /// The last quarter that has ended by `moment`, with its end: the one the sealer closes.
        public static func lastClosedQuarter(at moment: UTCMicros) -> (period: Period, end: UTCMicros) {
            let period = quarter(of: moment).previous
            return (period, period.end!)
        }

        /// The quarter before this one.
        public var previous: Period {
            guard case .quarter(let year, let quarter) = self else { return self }
            return quarter == 1 ? .quarter(year: year - 1, quarter: 4) : .quarter(year: year, quarter: quarter - 1)
        }

        public var description: String {
            switch self {
            case .quarter(let year, let quarter): "\(year)-Q\(quarter)"
            case .onDemand: "on-demand"
            }
        }

        private static let quarterLayout = Array("9999-Q9".utf8)

        /// `2026-Q4` or `on-demand`.
        public init?(_ text: String) {
            if text == "on-demand" {
                self = .onDemand
                return
            }
            let bytes = Array(text.utf8)
            guard ASCIIShape.hasLayout(bytes, Self.quarterLayout) else { return nil }
            let quarter = ASCIIShape.value(bytes[6...])
            guard (1...4).contains(quarter) else { return nil }
            self = .quarter(year: ASCIIShape.value(bytes[..<4]), quarter: quarter)
        }
    }

    public var json: JSONValue {
        .object([
            "version": .integer(Self.formatVersion),
            "tenant": .string(tenant.rawValue),
            "number": .integer(number),
            "period": .string(period.description),
            "at": .string(at.description),
            "log_size": .integer(logSize),
            "log_root": .string(logRoot.hex),
            "last_block": .integer(lastBlock),
            "last_block_hash": .string(lastBlockHash.hex),
            "previous_log_size": .integer(previousLogSize),
            "signers": .array(signers.map { .string($0.rawValue) }),
        ])
    }

    public var canonicalBytes: [UInt8] { CanonicalJSON.encode(json) }

    /// The checkpoint `bytes` hold, which must be exactly their canonical form.
    public init(canonicalBytes bytes: [UInt8]) throws(LedgerDocumentError) {
        let value = try CanonicalJSON.document(bytes)
        let fields = try LedgerFields(
            value,
            expected: [
                "version", "tenant", "number", "period", "at", "log_size", "log_root", "last_block", "last_block_hash",
                "previous_log_size", "signers",
            ])
        guard try fields.integer("version") == Self.formatVersion else {
            throw .malformed(field: "version", reason: "must be \(Self.formatVersion)")
        }
        let tenantText = try fields.string("tenant")
        guard let tenant = try? TenantCode(tenantText) else { throw .malformed(field: "tenant", reason: "\(tenantText) is not a tenant code") }
        let periodText = try fields.string("period")
        guard let period = Period(periodText) else { throw .malformed(field: "period", reason: "must be YYYY-Qn or on-demand") }
        let numbers = [
            ("number", try fields.integer("number")), ("log_size", try fields.integer("log_size")),
            ("last_block", try fields.integer("last_block")), ("previous_log_size", try fields.integer("previous_log_size")),
        ]
        for (field, number) in numbers where number < 0 { throw .malformed(field: field, reason: "must not be negative") }
        guard case .array(let signerValues) = try fields.value("signers") else {
            throw .malformed(field: "signers", reason: "must be an array")
        }
        var signers: [OrgCode] = []
        for (index, signer) in signerValues.enumerated() {
            guard case .string(let code) = signer, let org = try? OrgCode(code) else {
                throw .malformed(field: "signers[\(index)]", reason: "must be an org code")
            }
            signers.append(org)
        }
        guard signers == signers.sorted(), Set(signers).count == signers.count else {
            throw .malformed(field: "signers", reason: "must be sorted, each org once")
        }
        self.init(
            tenant: tenant, number: numbers[0].1, period: period, at: try fields.moment("at"), logSize: numbers[1].1,
            logRoot: try fields.hash("log_root"), lastBlock: numbers[2].1, lastBlockHash: try fields.hash("last_block_hash"),
            previousLogSize: numbers[3].1, signers: signers)
    }
}

extension LedgerCheckpoint {
    /// One checkpoint as stored or exported: its bytes, each signature, and the consistency proof
    /// from the previous checkpoint's tree.
    public struct Evidence: Sendable, Hashable {
        public var number: Int64
        public var canonicalBytes: [UInt8]
        public var signatures: [LedgerEvidence.Endorsement]
        /// RFC 9162 consistency proof from `previous_log_size` to `log_size` (empty from 0 or between equal sizes).
        public var consistencyProof: [[UInt8]]

        public init(number: Int64, canonicalBytes: [UInt8], signatures: [LedgerEvidence.Endorsement], consistencyProof: [[UInt8]]) {
            (self.number, self.canonicalBytes, self.signatures, self.consistencyProof) = (
                number, canonicalBytes, signatures, consistencyProof
            )
        }
    }

    /// What checking a run of checkpoints found: the failures, and which are complete.
    public struct Findings: Sendable, Hashable {
        public var failures: [LedgerVerificationFailure] = []
        /// Per checkpoint number, the signers whose signature is missing (empty when complete).
        public var unsigned: [Int64: [OrgCode]] = [:]
    }

    /// Checks checkpoints in number order (docs/LEDGER.md, "Checkpoints"; the bundle's point 4):
    /// each as `checkOne` does, numbered 0, 1, …, chained by `previous_log_size`, consistent with
    /// the one before.
    ///
    /// `continuingAt`: the evidence starts after an anchor block whose log holds this many
    /// transactions (an export `--from-block`) and holds the checkpoints that name that block or
    /// a later one. They are numbered on from the first, whose link to the one before is the
    /// earlier bundle's to show; that one must have named an earlier block, so its log was
    /// smaller (else a checkpoint was left out).
    public static func check(
        _ checkpoints: [Evidence], tenant: TenantCode, keys: LedgerKeyDirectory, header: (Int64) -> BlockHeader?,
        continuingAt anchorLogSize: Int64? = nil
    ) -> Findings {
        var findings = Findings()
        var previous: LedgerCheckpoint?
        let first = anchorLogSize == nil ? 0 : checkpoints.first?.number ?? 0
        for (offset, record) in checkpoints.enumerated() {
            let index = first + Int64(offset)
            func fail(_ kind: LedgerVerificationFailure.Kind, _ field: String, expected: String, found: String) {
                findings.failures.append(
                    .init(kind, field: "checkpoints[\(record.number)].\(field)", expected: expected, found: found))
            }
            let one = checkOne(record, tenant: tenant, keys: keys, header: header)
            findings.failures += one.failures
            if !one.unsigned.isEmpty { findings.unsigned[record.number] = one.unsigned }
            guard let checkpoint = one.checkpoint else {
                previous = nil
                continue
            }
            if record.number != index {
                fail(.checkpointOutOfSequence, "number", expected: String(index), found: String(record.number))
            }
            if let anchorLogSize, offset == 0, checkpoint.number > 0 {
                if checkpoint.previousLogSize >= anchorLogSize {
                    fail(
                        .checkpointOutOfSequence, "previous_log_size",
                        expected: "below the anchor block's log size \(anchorLogSize), else one naming the anchor or later was left out",
                        found: String(checkpoint.previousLogSize))
                }
                previous = checkpoint
                continue
            }
            if let previous, checkpoint.at < previous.at {
                fail(.checkpointOutOfSequence, "at", expected: "at or after checkpoint \(previous.number)'s, \(previous.at)", found: checkpoint.at.description)
            }
            let previousSize = previous?.logSize ?? 0
            if checkpoint.previousLogSize != previousSize {
                fail(.checkpointOutOfSequence, "previous_log_size", expected: String(previousSize), found: String(checkpoint.previousLogSize))
            }
            if let previous, previous.logSize > 0 {
                do {
                    try MerkleHashing.sm3.verifyConsistency(
                        oldSize: Int(previous.logSize), newSize: Int(checkpoint.logSize), oldRoot: previous.logRoot.bytes,
                        newRoot: checkpoint.logRoot.bytes, proof: record.consistencyProof)
                } catch {
                    fail(
                        .checkpointInconsistent, "consistency",
                        expected: "a proof that checkpoint \(previous.number)'s log is a prefix of this one's", found: error.description)
                }
            } else if !record.consistencyProof.isEmpty {
                fail(.checkpointInconsistent, "consistency", expected: "no proof (nothing before)", found: "\(record.consistencyProof.count) hashes")
            }
            previous = checkpoint
        }
        return findings
    }

    /// Checks one checkpoint by itself: canonical, of `tenant`, numbered as its record, stating
    /// the block it names (`header(number)` gives that block's header, nil when there is none),
    /// naming every org with a key valid at `at` as a signer, each signature by a signer with its
    /// key valid at `at`; `unsigned` lists the signers without a valid signature.
    public static func checkOne(
        _ record: Evidence, tenant: TenantCode, keys: LedgerKeyDirectory, header: (Int64) -> BlockHeader?
    ) -> (checkpoint: LedgerCheckpoint?, failures: [LedgerVerificationFailure], unsigned: [OrgCode]) {
        var failures: [LedgerVerificationFailure] = []
        func fail(_ kind: LedgerVerificationFailure.Kind, _ field: String, expected: String, found: String) {
            failures.append(.init(kind, field: "checkpoints[\(record.number)].\(field)", expected: expected, found: found))
        }
        let checkpoint: LedgerCheckpoint
        do {
            checkpoint = try LedgerCheckpoint(canonicalBytes: record.canonicalBytes)
        } catch {
            fail(.checkpointMalformed, "checkpoint", expected: "a canonical checkpoint", found: error.description)
            return (nil, failures, [])
        }
        if checkpoint.number != record.number {
            fail(.checkpointOutOfSequence, "number", expected: String(record.number), found: String(checkpoint.number))
        }
        if checkpoint.tenant != tenant { fail(.tenantMismatch, "tenant", expected: tenant.rawValue, found: checkpoint.tenant.rawValue) }
        if let block = header(checkpoint.lastBlock) {
            if block.logSize != checkpoint.logSize {
                fail(.checkpointMismatch, "log_size", expected: String(block.logSize), found: String(checkpoint.logSize))
            }
            if block.logRoot != checkpoint.logRoot {
                fail(.checkpointMismatch, "log_root", expected: block.logRoot.hex, found: checkpoint.logRoot.hex)
            }
            if block.hash != checkpoint.lastBlockHash {
                fail(.checkpointMismatch, "last_block_hash", expected: block.hash.hex, found: checkpoint.lastBlockHash.hex)
            }
            // Cut after its block was sealed: an `at` set earlier could name the orgs of another time as its signers.
            if checkpoint.at < block.sealedAt {
                fail(.checkpointMismatch, "at", expected: "at or after block \(block.number)'s sealed_at, \(block.sealedAt)", found: checkpoint.at.description)
            }
        } else {
            fail(.checkpointMismatch, "last_block", expected: "a block of the ledger", found: "no block \(checkpoint.lastBlock)")
        }
        // A quarter is closed once it has ended: before, its last block and its signers could still change.
        if let end = checkpoint.period.end, checkpoint.at < end {
            fail(.checkpointMismatch, "at", expected: "at or after \(checkpoint.period)'s end, \(end)", found: checkpoint.at.description)
        }
        let expectedSigners = keys.orgsWithValidKey(at: checkpoint.at)
        if checkpoint.signers != expectedSigners {
            fail(
                .checkpointSignersWrong, "signers", expected: "every org with a key valid at \(checkpoint.at): \(expectedSigners.map(\.rawValue))",
                found: "\(checkpoint.signers.map(\.rawValue))")
        }
        var signed: Set<OrgCode> = []
        for signature in record.signatures {
            let field = "signatures[\(signature.org)]"
            guard checkpoint.signers.contains(signature.org), !signed.contains(signature.org) else {
                fail(.checkpointSignerNotNamed, field, expected: "a signer the checkpoint names, once", found: signature.org.rawValue)
                continue
            }
            let owner = KeyOwner.org(signature.org)
            if let problem = keys.validity(owner: owner, version: signature.keyVersion, at: checkpoint.at).failure(
                owner: owner, version: signature.keyVersion, at: checkpoint.at)
            {
                fail(problem.kind, field, expected: problem.expected, found: problem.found)
                continue
            }
            if let problem = keys.signatureProblem(
                owner: owner, version: signature.keyVersion, signatureDER: signature.signatureDER, message: record.canonicalBytes)
            {
                fail(problem.kind, field, expected: "a valid SM2 signature over the checkpoint's bytes", found: problem.found)
                continue
            }
            signed.insert(signature.org)
        }
        return (checkpoint, failures, checkpoint.signers.filter { !signed.contains($0) })
    }
}
