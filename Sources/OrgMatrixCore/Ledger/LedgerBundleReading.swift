import SMCrypto

/// Turning a bundle's files back into the verifier's evidence, one directory at a time, with no
/// I/O: the offline reader hands each directory's files here (already checked against the
/// manifest), so this part of the reader is a pure function the tests can fuzz. Every failure
/// names the bundle file at fault in its `field`.
extension LedgerBundle {
    /// Where a manifest path belongs: which directory of evidence, or which single file.
    public enum Place: Sendable, Hashable {
        case description
        case rules
        case key(name: String)
        /// A file of an evidence directory, by the directory's key and the file's name in it.
        case transaction(LedgerHash, file: String)
        case block(Int64, file: String)
        case checkpoint(Int64, file: String)
        /// A file of the anchor (a bundle from a later block on).
        case anchor(file: String)
        /// The verifiers and their README: checked against the manifest only.
        case script(name: String)

        public static let scripts: Set<String> = ["verify.py", "verify-with-openssl.sh", "README.txt"]

        /// The place of `path`, or nil when the bundle's layout has no such file.
        public init?(_ path: String) {
            let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            switch parts.count {
            case 1 where path == LedgerBundle.description: self = .description
            case 1 where path == LedgerBundle.rules: self = .rules
            case 1 where Self.scripts.contains(path): self = .script(name: path)
            case 2 where parts[0] == "keys" && LedgerBundle.keyName(parts[1]) != nil: self = .key(name: parts[1])
            case 2 where parts[0] == LedgerBundle.anchorDirectory && !parts[1].isEmpty: self = .anchor(file: parts[1])
            case 3 where parts[0] == "blocks":
                guard let number = LedgerBundle.number(parts[1]) else { return nil }
                self = .block(number, file: parts[2])
            case 3 where parts[0] == "checkpoints":
                guard let number = LedgerBundle.number(parts[1]) else { return nil }
                self = .checkpoint(number, file: parts[2])
            case 4 where parts[0] == "transactions":
                guard let hash = try? LedgerHash(hex: parts[2]), parts[2] == hash.hex, parts[1] == String(hash.hex.prefix(2)) else {
                    return nil
                }
                self = .transaction(hash, file: parts[3])
            default: return nil
            }
        }

        /// The evidence directory the path is in, nil for a single file.
        public var directory: String? {
            switch self {
            case .transaction(let hash, _): LedgerBundle.transactionDirectory(hash)
            case .block(let number, _): LedgerBundle.blockDirectory(number)
            case .checkpoint(let number, _): LedgerBundle.checkpointDirectory(number)
            case .anchor: LedgerBundle.anchorDirectory
            case .description, .rules, .key, .script: nil
            }
        }

        /// The file's name in its evidence directory, nil for a single file.
        public var file: String? {
            switch self {
            case .transaction(_, let file), .block(_, let file), .checkpoint(_, let file), .anchor(let file): file
            case .description, .rules, .key, .script: nil
            }
        }
    }

    /// `<owner>.v<version>.pem` or `.json`: the key it names and which of the two it is.
    public static func keyName(_ name: String) -> (owner: KeyOwner, version: Int64, isPEM: Bool)? {
        guard let name = ASCIIShape.versionedName(name, suffixes: [".pem", ".json"]),
            let owner = try? KeyOwner(name: String(name.owner))
        else { return nil }
        return (owner, name.version, name.suffix == ".pem")
    }

    /// The key rows of `keys/` (files by name, without the `keys/` prefix): each version from its
    /// `.json` and `.pem`. A key whose PEM cannot be read is kept with no public key, so the
    /// verifier names every signature that needed it.
    public static func keys(_ files: [String: [UInt8]]) -> (keys: [LedgerEvidence.Key], failures: [LedgerVerificationFailure]) {
        var keys: [LedgerEvidence.Key] = []
        var failures: [LedgerVerificationFailure] = []
        func fail(_ kind: LedgerVerificationFailure.Kind, _ name: String, expected: String, found: String) {
            failures.append(.init(kind, field: "keys/\(name)", expected: expected, found: found))
        }
        for name in files.keys.sorted() {
            guard let (owner, version, isPEM) = keyName(name), !isPEM, let bytes = files[name] else { continue }
            let pemName = "\(owner.name).v\(version).pem"
            var der: [UInt8] = []
            if let pem = files[pemName] {
                do { der = try SM2PublicKey(pemRepresentation: String(decoding: pem, as: UTF8.self)).derRepresentation } catch {
                    fail(.bundleFileMalformed, pemName, expected: "an SM2 public key, PEM", found: error.detail)
                }
            } else {
                fail(.bundleFileMismatch, pemName, expected: "the public key of \(name)", found: "no such file")
            }
            do {
                let key = try key(bytes: bytes, publicKeyDER: der)
                guard key.owner == owner, key.version == version else {
                    fail(
                        .bundleFileMalformed, name, expected: "the key its name states, \(owner.name) version \(version)",
                        found: "\(key.owner.name) version \(key.version)")
                    continue
                }
                keys.append(key)
            } catch {
                fail(.bundleFileMalformed, name, expected: "a key file", found: error.description)
            }
        }
        for name in files.keys.sorted() {
            guard let (owner, version, isPEM) = keyName(name), isPEM, files["\(owner.name).v\(version).json"] == nil else { continue }
            fail(.bundleFileMismatch, "\(owner.name).v\(version).json", expected: "the key row of \(name)", found: "no such file")
        }
        return (keys, failures)
    }

    /// A transaction from its directory's files (by name): `tx.json`, `record.json`, one
    /// `<ORG>.v<k>.sig.der` per endorsement and, exported `--with-private`, one `<field>.private`
    /// per private value; nil when `tx.json` or `record.json` is unusable.
    public static func transaction(
        _ hash: LedgerHash, files: [String: [UInt8]]
    ) -> (transaction: LedgerEvidence.Transaction?, failures: [LedgerVerificationFailure]) {
        let directory = transactionDirectory(hash)
        var failures: [LedgerVerificationFailure] = []
        func fail(_ kind: LedgerVerificationFailure.Kind, _ name: String, expected: String, found: String) {
            failures.append(.init(kind, transaction: hash, field: "\(directory)/\(name)", expected: expected, found: found))
        }
        var endorsements: [LedgerEvidence.Endorsement] = []
        var privateValues: [LedgerPrivateField: [UInt8]] = [:]
        for name in files.keys.sorted() where name != "tx.json" && name != "record.json" {
            if name.hasSuffix(".private"), let field = LedgerPrivateField(rawValue: String(name.dropLast(".private".count))) {
                privateValues[field] = files[name]
                continue
            }
            guard let (owner, version) = signatureName(name), let org = owner.org, let signature = files[name] else {
                fail(.bundleFileMalformed, name, expected: "tx.json, record.json, <ORG>.v<k>.sig.der or <field>.private", found: "another name")
                continue
            }
            endorsements.append(.init(org: org, keyVersion: version, signatureDER: signature))
        }
        guard let bytes = files["tx.json"] else {
            fail(.bundleFileMismatch, "tx.json", expected: "the transaction's canonical bytes", found: "no such file")
            return (nil, failures)
        }
        guard let recordBytes = files["record.json"] else {
            fail(.bundleFileMismatch, "record.json", expected: "the transaction's status", found: "no such file")
            return (nil, failures)
        }
        do {
            let (status, dispute) = try record(bytes: recordBytes)
            return (
                .init(
                    claimedHash: hash, canonicalBytes: bytes, claimedStatus: status, endorsements: endorsements, dispute: dispute,
                    privateValues: privateValues),
                failures
            )
        } catch {
            fail(.bundleFileMalformed, "record.json", expected: "a transaction record", found: error.description)
            return (nil, failures)
        }
    }

    /// A block from its directory's files: `header.json`, `transactions.txt`, one
    /// `orderer.v<k>.sig.der`. Its claimed hash is the header's SM3: a bundle makes no other claim.
    public static func block(
        _ number: Int64, files: [String: [UInt8]]
    ) -> (block: LedgerEvidence.Block?, failures: [LedgerVerificationFailure]) {
        var failures: [LedgerVerificationFailure] = []
        guard
            let read = signedHeader(
                number, directory: blockDirectory(number), header: "the block header's canonical bytes",
                other: ("transactions.txt", "the block's transaction hashes"), files: files, failures: &failures)
        else { return (nil, failures) }
        do {
            let hashes = try hashes(lines: read.other).map { bytes throws(LedgerDocumentError) in try LedgerHash(bytes) }
            return (
                .init(
                    number: number, headerBytes: read.header, claimedHash: .of(read.header), ordererKeyVersion: read.signature.version,
                    ordererSignatureDER: read.signature.der, transactionHashes: hashes),
                failures
            )
        } catch {
            failures.append(
                .init(
                    .bundleFileMalformed, block: number, field: "\(blockDirectory(number))/transactions.txt",
                    expected: "one 64-digit hash per line", found: error.description))
            return (nil, failures)
        }
    }

    /// The anchor of a bundle from block `number` + 1 on, from `anchor/`'s files: `header.json`,
    /// one `orderer.v<k>.sig.der`, `frontier.txt` (the log's subtree roots, one per line).
    public static func anchor(
        _ number: Int64, files: [String: [UInt8]]
    ) -> (anchor: LedgerEvidence.Anchor?, failures: [LedgerVerificationFailure]) {
        var failures: [LedgerVerificationFailure] = []
        guard
            let read = signedHeader(
                number, directory: anchorDirectory, header: "block \(number)'s header, the anchor",
                other: ("frontier.txt", "the log's subtree roots after block \(number)"), files: files, failures: &failures)
        else { return (nil, failures) }
        do {
            let block = LedgerEvidence.Block(
                number: number, headerBytes: read.header, claimedHash: .of(read.header), ordererKeyVersion: read.signature.version,
                ordererSignatureDER: read.signature.der, transactionHashes: [])
            return (.init(block: block, frontier: try hashes(lines: read.other)), failures)
        } catch {
            failures.append(
                .init(
                    .bundleFileMalformed, block: number, field: "\(anchorDirectory)/frontier.txt", expected: "one 64-digit hash per line",
                    found: error.description))
            return (nil, failures)
        }
    }

    /// A block's directory or the anchor: `header.json`, the file `other` names, and exactly one
    /// `orderer.v<k>.sig.der`; nil, with each missing or unknown file named, when they are not there.
    private static func signedHeader(
        _ number: Int64, directory: String, header meaning: String, other: (name: String, meaning: String), files: [String: [UInt8]],
        failures: inout [LedgerVerificationFailure]
    ) -> (header: [UInt8], other: [UInt8], signature: (version: Int64, der: [UInt8]))? {
        func fail(_ kind: LedgerVerificationFailure.Kind, _ name: String, expected: String, found: String) {
            failures.append(.init(kind, block: number, field: "\(directory)/\(name)", expected: expected, found: found))
        }
        var signatures: [(version: Int64, der: [UInt8])] = []
        for name in files.keys.sorted() where name != "header.json" && name != other.name {
            guard let (owner, version) = signatureName(name), owner == .orderer, let signature = files[name] else {
                fail(.bundleFileMalformed, name, expected: "header.json, \(other.name) or orderer.v<k>.sig.der", found: "another name")
                continue
            }
            signatures.append((version, signature))
        }
        guard let header = files["header.json"] else {
            fail(.bundleFileMismatch, "header.json", expected: meaning, found: "no such file")
            return nil
        }
        guard let otherBytes = files[other.name] else {
            fail(.bundleFileMismatch, other.name, expected: other.meaning, found: "no such file")
            return nil
        }
        guard signatures.count == 1, let signature = signatures.first else {
            fail(.bundleFileMismatch, "orderer.v<k>.sig.der", expected: "one orderer signature", found: "\(signatures.count) signature files")
            return nil
        }
        return (header, otherBytes, signature)
    }

    /// A checkpoint from its directory's files: `checkpoint.json`, `consistency.txt`, one
    /// `<ORG>.v<k>.sig.der` per signature.
    public static func checkpoint(
        _ number: Int64, files: [String: [UInt8]]
    ) -> (checkpoint: LedgerCheckpoint.Evidence?, failures: [LedgerVerificationFailure]) {
        let directory = checkpointDirectory(number)
        var failures: [LedgerVerificationFailure] = []
        func fail(_ kind: LedgerVerificationFailure.Kind, _ name: String, expected: String, found: String) {
            failures.append(.init(kind, field: "\(directory)/\(name)", expected: expected, found: found))
        }
        var signatures: [LedgerEvidence.Endorsement] = []
        for name in files.keys.sorted() where name != "checkpoint.json" && name != "consistency.txt" {
            guard let (owner, version) = signatureName(name), let org = owner.org, let signature = files[name] else {
                fail(
                    .bundleFileMalformed, name, expected: "checkpoint.json, consistency.txt or <ORG>.v<k>.sig.der",
                    found: "another name")
                continue
            }
            signatures.append(.init(org: org, keyVersion: version, signatureDER: signature))
        }
        guard let bytes = files["checkpoint.json"] else {
            fail(.bundleFileMismatch, "checkpoint.json", expected: "the checkpoint's canonical bytes", found: "no such file")
            return (nil, failures)
        }
        guard let proof = files["consistency.txt"] else {
            fail(.bundleFileMismatch, "consistency.txt", expected: "the consistency proof", found: "no such file")
            return (nil, failures)
        }
        do {
            return (
                .init(number: number, canonicalBytes: bytes, signatures: signatures, consistencyProof: try hashes(lines: proof)), failures
            )
        } catch {
            fail(.bundleFileMalformed, "consistency.txt", expected: "one 64-digit hash per line", found: error.description)
            return (nil, failures)
        }
    }

    /// What the rule index gets wrong against the `pricing.rules_published` transactions read.
    public static func checkRules(index: [RuleVersion], published: [RuleVersion]) -> [LedgerVerificationFailure] {
        let (listed, actual) = (Set(index), Set(published))
        var failures: [LedgerVerificationFailure] = []
        for entry in index.sorted(by: { $0.transaction < $1.transaction }) where !actual.contains(entry) {
            failures.append(
                .init(
                    .bundleRulesMismatch, field: rules,
                    expected: "a pricing.rules_published transaction stating version \(entry.version) from \(entry.effectiveFrom)",
                    found: "none is \(entry.transaction.hex)"))
        }
        for entry in published.sorted(by: { $0.transaction < $1.transaction }) where !listed.contains(entry) {
            failures.append(
                .init(
                    .bundleRulesMismatch, field: rules, expected: "an entry for rule version \(entry.version) (\(entry.transaction.hex))",
                    found: "none"))
        }
        return failures
    }
}

extension LedgerBundle {
    /// What the bundle before keeps of a later one, told by the files each holds.
    public struct Holding: Sendable {
        /// The header bytes of its block before the later bundle's first (nil when it has no such block).
        public var header: [UInt8]?
        /// `keys/` by file name.
        public var keyFiles: [String: [UInt8]]
        /// The key and rule events it holds (`LedgerBundle.linkTypes`), by hash.
        public var events: Set<LedgerHash>

        public init(header: [UInt8]?, keyFiles: [String: [UInt8]], events: Set<LedgerHash>) {
            (self.header, self.keyFiles, self.events) = (header, keyFiles, events)
        }
    }

    /// The transactions every bundle holds whatever block it starts at (the export's reading
    /// includes them all): what the keys and the rule index are checked against, so a later
    /// bundle must hold each one the earlier did.
    public static let linkTypes: Set<LedgerTransactionType> = [
        KeyEvent.Registered.ledgerType, KeyEvent.Revoked.ledgerType, PricingRulesPublished.ledgerType,
    ]

    /// Whether a bundle from block `fromBlock` on continues `earlier`, a bundle verified before
    /// that holds block `fromBlock` − 1: its anchor is that block's header byte for byte; each
    /// key file of the earlier one is there unchanged (a key not revoked then may be revoked
    /// since, nothing else); each key and rule event of the earlier one is there. The events
    /// before the anchor are sealed by blocks only the earlier bundle holds, so this is how a
    /// later bundle that drops one (a revocation, a rule version) is caught. Failures name the
    /// later bundle's files.
    public static func link(
        fromBlock: Int64, anchorHeader: [UInt8]?, keyFiles: [String: [UInt8]], holds: (LedgerHash) -> Bool, earlier: Holding
    ) -> [LedgerVerificationFailure] {
        var failures: [LedgerVerificationFailure] = []
        func fail(_ path: String, expected: String, found: String) {
            failures.append(.init(.bundleFileMismatch, field: path, expected: expected, found: found))
        }
        let block = fromBlock - 1
        if let header = earlier.header {
            if anchorHeader != header {
                fail(anchorHeaderFile, expected: "the earlier bundle's \(headerFile(block)), byte for byte", found: "other bytes")
            }
        } else {
            fail(
                anchorHeaderFile, expected: "block \(block), which the earlier bundle holds",
                found: "an earlier bundle without block \(block): blocks between the two are in neither")
        }
        for (name, before) in earlier.keyFiles.sorted(by: { $0.key < $1.key }) {
            let path = "keys/\(name)"
            guard let now = keyFiles[name] else {
                fail(path, expected: "the earlier bundle's \(path)", found: "no such file")
                continue
            }
            guard now != before else { continue }
            // A key file may gain the revocation that came since; a PEM never changes.
            let revokedSince: Bool
            if keyName(name)?.isPEM == false, let old = try? key(bytes: before, publicKeyDER: []),
                let new = try? key(bytes: now, publicKeyDER: [])
            {
                revokedSince = old.revocation == nil && new.revocation != nil
                    && (old.owner, old.version, old.custody, old.validFrom) == (new.owner, new.version, new.custody, new.validFrom)
            } else {
                revokedSince = false
            }
            if !revokedSince {
                fail(path, expected: "the earlier bundle's \(path), or it with a revocation since", found: "other bytes")
            }
        }
        for hash in earlier.events.sorted() where !holds(hash) {
            fail(transactionFile(hash), expected: "the key or rule event the earlier bundle holds", found: "no such transaction")
        }
        return failures
    }
}
