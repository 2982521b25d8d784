import SMCrypto

/// The exported bundle's format (docs/LEDGER.md, "The exported bundle"): its paths and the small
/// files beside the stored documents, written and read here without I/O so that the exporter
/// and the offline reader agree by construction and the reader can be fuzzed.
public enum LedgerBundle {
    public static let formatName = "orgmatrix-ledger-bundle"
    public static let formatVersion: Int64 = 1

    public static let manifest = "manifest.sm3"
    public static let description = "bundle.json"
    public static let rules = "rules.json"

    // MARK: Paths

    public static func transactionDirectory(_ hash: LedgerHash) -> String {
        "transactions/\(hash.hex.prefix(2))/\(hash.hex)"
    }
    public static func transactionFile(_ hash: LedgerHash) -> String { transactionDirectory(hash) + "/tx.json" }
    public static func recordFile(_ hash: LedgerHash) -> String { transactionDirectory(hash) + "/record.json" }
    /// salt ‖ value of a private field (docs/LEDGER.md, "Private fields"), in bundles exported `--with-private`.
    public static func privateValueFile(_ hash: LedgerHash, field: LedgerPrivateField) -> String {
        transactionDirectory(hash) + "/\(field.rawValue).private"
    }
    public static func endorsementFile(_ hash: LedgerHash, org: OrgCode, keyVersion: Int64) -> String {
        transactionDirectory(hash) + "/\(org.rawValue).v\(keyVersion).sig.der"
    }

    public static func blockDirectory(_ number: Int64) -> String { "blocks/\(padded(number))" }
    public static func headerFile(_ number: Int64) -> String { blockDirectory(number) + "/header.json" }
    public static func blockTransactionsFile(_ number: Int64) -> String { blockDirectory(number) + "/transactions.txt" }
    public static func ordererSignatureFile(_ number: Int64, keyVersion: Int64) -> String {
        blockDirectory(number) + "/orderer.v\(keyVersion).sig.der"
    }

    /// A bundle from a later block on: the block before its first (header and signature, no
    /// transaction list) and the log's right edge after it.
    public static let anchorDirectory = "anchor"
    public static let anchorHeaderFile = "anchor/header.json"
    public static let anchorFrontierFile = "anchor/frontier.txt"
    public static func anchorSignatureFile(keyVersion: Int64) -> String { "anchor/orderer.v\(keyVersion).sig.der" }

    public static func keyPEMFile(_ owner: KeyOwner, version: Int64) -> String { "keys/\(owner.name).v\(version).pem" }
    public static func keyFile(_ owner: KeyOwner, version: Int64) -> String { "keys/\(owner.name).v\(version).json" }

    public static func checkpointDirectory(_ number: Int64) -> String { "checkpoints/\(padded(number))" }
    public static func checkpointFile(_ number: Int64) -> String { checkpointDirectory(number) + "/checkpoint.json" }
    public static func checkpointSignatureFile(_ number: Int64, org: OrgCode, keyVersion: Int64) -> String {
        checkpointDirectory(number) + "/\(org.rawValue).v\(keyVersion).sig.der"
    }
    public static func consistencyFile(_ number: Int64) -> String { checkpointDirectory(number) + "/consistency.txt" }

    /// Ten digits, so that name order is number order.
    static func padded(_ number: Int64) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 10 - digits.count)) + digits
    }

    /// `<ORG>.v<k>.sig.der` (or `orderer.v<k>.sig.der` when `orderer`): the signer and key version it names, or nil.
    public static func signatureName(_ name: String) -> (owner: KeyOwner, keyVersion: Int64)? {
        guard let name = ASCIIShape.versionedName(name, suffixes: [".sig.der"]), let owner = try? KeyOwner(name: String(name.owner))
        else { return nil }
        return (owner, name.version)
    }

    /// The number a zero-padded directory name states, or nil.
    public static func number(_ name: String) -> Int64? {
        let digits = name.utf8
        guard digits.count == 10, digits.allSatisfy(ASCIIShape.isDigit) else { return nil }
        return Int64(ASCIIShape.value(digits))
    }

    // MARK: Small files

    /// `bundle.json`.
    public struct Description: Sendable, Hashable {
        public var tenant: TenantCode
        public var exportedAt: UTCMicros
        public var blocks: Int64
        public var transactions: Int64
        public var keys: Int64
        public var checkpoints: Int64
        /// The first block it holds: 0 for the whole ledger (then `from_block` is left out, so a
        /// whole bundle is what it was before bundles could start later); else it carries the
        /// block before as its anchor.
        public var fromBlock: Int64
        /// Exported `--with-private`: every private value its transactions commit to is there
        /// (`"with_private":true`; left out otherwise, as before private values).
        public var withPrivate: Bool

        public init(
            tenant: TenantCode, exportedAt: UTCMicros, blocks: Int64, transactions: Int64, keys: Int64, checkpoints: Int64,
            fromBlock: Int64 = 0, withPrivate: Bool = false
        ) {
            (self.tenant, self.exportedAt, self.blocks, self.transactions, self.keys, self.checkpoints) = (
                tenant, exportedAt, blocks, transactions, keys, checkpoints
            )
            (self.fromBlock, self.withPrivate) = (fromBlock, withPrivate)
        }

        public var bytes: [UInt8] {
            var members: [String: JSONValue] = [
                "format": .string(LedgerBundle.formatName), "version": .integer(LedgerBundle.formatVersion),
                "tenant": .string(tenant.rawValue), "exported_at": .string(exportedAt.description), "blocks": .integer(blocks),
                "transactions": .integer(transactions), "keys": .integer(keys), "checkpoints": .integer(checkpoints),
            ]
            if fromBlock > 0 { members["from_block"] = .integer(fromBlock) }
            if withPrivate { members["with_private"] = .bool(true) }
            return CanonicalJSON.encode(.object(members))
        }

        public init(bytes: [UInt8]) throws(LedgerDocumentError) {
            let document = try CanonicalJSON.document(bytes)
            let members = if case .object(let members) = document { members } else { [String: JSONValue]() }
            let (partial, withPrivate) = (members["from_block"] != nil, members["with_private"] != nil)
            let fields = try LedgerFields(
                document,
                expected: Set(
                    ["format", "version", "tenant", "exported_at", "blocks", "transactions", "keys", "checkpoints"] + (partial ? ["from_block"] : [])
                        + (withPrivate ? ["with_private"] : [])))
            guard try fields.string("format") == LedgerBundle.formatName, try fields.integer("version") == LedgerBundle.formatVersion
            else { throw .malformed(field: "format", reason: "must be \(LedgerBundle.formatName) version \(LedgerBundle.formatVersion)") }
            let text = try fields.string("tenant")
            guard let tenant = try? TenantCode(text) else { throw .malformed(field: "tenant", reason: "\(text) is not a tenant code") }
            self.init(
                tenant: tenant, exportedAt: try fields.moment("exported_at"), blocks: try fields.integer("blocks"),
                transactions: try fields.integer("transactions"), keys: try fields.integer("keys"),
                checkpoints: try fields.integer("checkpoints"), fromBlock: partial ? try fields.integer("from_block") : 0,
                withPrivate: withPrivate)
            if withPrivate, members["with_private"] != .bool(true) {
                throw .malformed(field: "with_private", reason: "must be true (a bundle without private values leaves it out)")
            }
            guard !partial || fromBlock > 0 else { throw .malformed(field: "from_block", reason: "must be 1 or more (a whole bundle leaves it out)") }
        }
    }

    /// `keys/<owner>.v<version>.json`: everything of a key row but its public key (the PEM beside it).
    public static func keyBytes(_ key: LedgerEvidence.Key) -> [UInt8] {
        CanonicalJSON.encode(
            .object([
                "owner": .string(key.owner.name), "version": .integer(key.version), "custody": .string(key.custody.rawValue),
                "valid_from": .string(key.validFrom.description),
                "revoked_at": key.revocation.map { .string($0.revokedAt.description) } ?? .null,
                "reason": key.revocation.map { .string($0.reason) } ?? .null,
            ]))
    }

    /// The key row a key file and its PEM state.
    public static func key(bytes: [UInt8], publicKeyDER: [UInt8]) throws(LedgerDocumentError) -> LedgerEvidence.Key {
        let fields = try fields(bytes, ["owner", "version", "custody", "valid_from", "revoked_at", "reason"])
        let ownerText = try fields.string("owner")
        guard let owner = try? KeyOwner(name: ownerText) else { throw .malformed(field: "owner", reason: "\(ownerText) is not a key owner") }
        let custodyText = try fields.string("custody")
        guard let custody = KeyCustody(rawValue: custodyText) else {
            throw .malformed(field: "custody", reason: "must be custodial or client")
        }
        var revocation: LedgerEvidence.Key.Revocation?
        switch (try fields.value("revoked_at"), try fields.value("reason")) {
        case (.null, .null): revocation = nil
        case (.string, .string(let reason)): revocation = .init(revokedAt: try fields.moment("revoked_at"), reason: reason)
        default: throw .malformed(field: "revoked_at", reason: "revoked_at and reason are both null or both strings")
        }
        return LedgerEvidence.Key(
            owner: owner, version: try fields.integer("version"), custody: custody, publicKeyDER: publicKeyDER,
            validFrom: try fields.moment("valid_from"), revocation: revocation)
    }

    /// `record.json`: a transaction's claimed status and its dispute.
    public static func recordBytes(_ transaction: LedgerEvidence.Transaction) -> [UInt8] {
        CanonicalJSON.encode(
            .object([
                "status": .string(transaction.claimedStatus.rawValue),
                "dispute": transaction.dispute.map { .object(["org": .string($0.org.rawValue), "reason": .string($0.reason)]) } ?? .null,
            ]))
    }

    public static func record(bytes: [UInt8]) throws(LedgerDocumentError) -> (
        status: LedgerTransactionStatus, dispute: LedgerEvidence.Dispute?
    ) {
        let fields = try fields(bytes, ["status", "dispute"])
        let text = try fields.string("status")
        guard let status = LedgerTransactionStatus(rawValue: text) else {
            throw .malformed(field: "status", reason: "must be pending, committed or disputed")
        }
        if case .null = try fields.value("dispute") { return (status, nil) }
        let dispute = try LedgerFields(try fields.value("dispute"), expected: ["org", "reason"], path: "dispute")
        let org = try dispute.string("org")
        guard let code = try? OrgCode(org) else { throw .malformed(field: "dispute.org", reason: "\(org) is not an org code") }
        return (status, LedgerEvidence.Dispute(org: code, reason: try dispute.string("reason")))
    }

    /// One entry of `rules.json`.
    public struct RuleVersion: Sendable, Hashable {
        public var version: String
        public var effectiveFrom: UTCMicros
        public var transaction: LedgerHash

        public init(version: String, effectiveFrom: UTCMicros, transaction: LedgerHash) {
            (self.version, self.effectiveFrom, self.transaction) = (version, effectiveFrom, transaction)
        }

        private static let typeText = Array("\"\(LedgerTransactionType.pricingRulesPublished.rawValue)\"".utf8)

        /// The entry for a `pricing.rules_published` transaction, or nil for any other.
        public init?(_ transaction: LedgerEvidence.Transaction) {
            // Every transaction passes here; only one whose bytes name the type (canonical JSON
            // writes it unescaped) is worth parsing.
            guard transaction.canonicalBytes.firstRange(of: Self.typeText) != nil,
                let document = try? LedgerTransaction(canonicalBytes: transaction.canonicalBytes),
                document.type == .pricingRulesPublished, case .object(let body) = document.body,
                case .string(let version)? = body["version"], case .string(let text)? = body["effective_from"],
                let effectiveFrom = UTCMicros(text)
            else { return nil }
            self.init(version: version, effectiveFrom: effectiveFrom, transaction: transaction.claimedHash)
        }
    }

    /// `rules.json`, sorted by version, then transaction.
    public static func rulesBytes(_ entries: [RuleVersion]) -> [UInt8] {
        let sorted = entries.sorted { ($0.version, $0.transaction.hex) < ($1.version, $1.transaction.hex) }
        return CanonicalJSON.encode(
            .array(
                sorted.map {
                    .object([
                        "version": .string($0.version), "effective_from": .string($0.effectiveFrom.description),
                        "transaction": .string($0.transaction.hex),
                    ])
                }))
    }

    public static func rules(bytes: [UInt8]) throws(LedgerDocumentError) -> [RuleVersion] {
        guard case .array(let entries) = try CanonicalJSON.document(bytes) else { throw .malformed(field: "the document", reason: "must be an array") }
        var rules: [RuleVersion] = []
        for (index, entry) in entries.enumerated() {
            let fields = try LedgerFields(entry, expected: ["version", "effective_from", "transaction"], path: "[\(index)]")
            rules.append(
                RuleVersion(
                    version: try fields.string("version"), effectiveFrom: try fields.moment("effective_from"),
                    transaction: try fields.hash("transaction")))
        }
        return rules
    }

    /// A list of hashes, one per line as 64 lower-case hex digits each followed by `\n`
    /// (a block's `transactions.txt`, a checkpoint's `consistency.txt`).
    public static func hashLines(_ hashes: [[UInt8]]) -> [UInt8] {
        Array(hashes.map { Hex.encode($0) + "\n" }.joined().utf8)
    }

    public static func hashes(lines bytes: [UInt8]) throws(LedgerDocumentError) -> [[UInt8]] {
        guard !bytes.isEmpty else { return [] }
        guard bytes.last == UInt8(ascii: "\n") else { throw .malformed(field: "the file", reason: "must end with a line break") }
        var hashes: [[UInt8]] = []
        for (index, line) in bytes.dropLast().split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            hashes.append(try LedgerHash(hex: String(decoding: line, as: UTF8.self), field: "line \(index + 1)").bytes)
        }
        return hashes
    }

    // MARK: The manifest

    /// One manifest line: `<SM3 hex>  <path>`.
    public static func manifestLine(path: String, sm3: [UInt8]) -> String { "\(Hex.encode(sm3))  \(path)\n" }

    /// The manifest's last line: the SM3 of every line before it, naming the manifest itself.
    public static func manifestSeal(_ linesBefore: [UInt8]) -> String { manifestLine(path: manifest, sm3: SM3.hash(linesBefore)) }

    /// A manifest line's path and digest, or why it is none. A path is relative, of the bundle's
    /// characters, without `.` or `..` parts.
    public static func parseManifestLine(_ line: Substring) throws(LedgerDocumentError) -> (path: String, sm3: [UInt8]) {
        let parts = line.split(separator: "  ", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let digest = try? LedgerHash(hex: String(parts[0])) else {
            throw .malformed(field: "manifest line", reason: "must be <64 hex digits>, two spaces, a path")
        }
        let path = String(parts[1])
        guard isBundlePath(path) else { throw .malformed(field: "manifest line", reason: "\(path) is not a bundle path") }
        return (path, digest.bytes)
    }

    /// Whether `path` can name a file of a bundle: relative, of `[A-Za-z0-9._-]` parts joined by
    /// `/`, none of them `.` or `..`, at most 200 bytes.
    public static func isBundlePath(_ path: String) -> Bool {
        guard !path.isEmpty, path.utf8.count <= 200 else { return false }
        return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { part in
            !part.isEmpty && part != "." && part != ".." && part.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            }
        }
    }

    // MARK: Failures, by file

    /// The bundle file a verifier's failure is about: what an auditor opens (and what the
    /// other two verifiers name for the same fault).
    public static func file(of failure: LedgerVerificationFailure) -> String {
        switch failure.kind {
        case .bundleFileMismatch, .bundleFileMalformed, .bundleRulesMismatch: return failure.field
        case .privateValueMismatch, .privateValueMalformed:
            if let hash = failure.transactionHash, let field = LedgerPrivateField(rawValue: String(failure.field.dropFirst("private.".count))) {
                return privateValueFile(hash, field: field)
            }
        default: break
        }
        let field = failure.field
        if field.hasPrefix("anchor.") {
            if field.hasPrefix("anchor.orderer") { return anchorDirectory + "/" }
            return field == "anchor.frontier" ? anchorFrontierFile : anchorHeaderFile
        }
        if let match = field.firstMatch(of: /^checkpoints\[([0-9]+)\]\.(.*)$/), let number = Int64(match.1) {
            if match.2 == "consistency" { return consistencyFile(number) }
            return checkpointFile(number)
        }
        if let match = field.firstMatch(of: /^keys\[([A-Za-z][A-Za-z0-9-]*)\/([0-9]+)\]/), let owner = try? KeyOwner(name: String(match.1)),
            let version = Int64(match.2)
        {
            return keyFile(owner, version: version)
        }
        if let block = failure.blockNumber {
            if field == "orderer_signature" || field.hasPrefix("orderer") { return blockDirectory(block) + "/" }
            if field == "transactions" || field.hasPrefix("transactions") { return blockTransactionsFile(block) }
            return headerFile(block)
        }
        if let hash = failure.transactionHash {
            if field.hasPrefix("endorsements[") { return transactionDirectory(hash) + "/" }
            if field == "status" || field.hasPrefix("dispute") { return recordFile(hash) }
            return transactionFile(hash)
        }
        return manifest
    }

    // MARK: Helpers

    static func fields(_ bytes: [UInt8], _ expected: Set<String>) throws(LedgerDocumentError) -> LedgerFields {
        try LedgerFields(try CanonicalJSON.document(bytes), expected: expected)
    }
}
