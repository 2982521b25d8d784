import ArgumentParser
import Foundation
import Logging
import Metrics
import OrgMatrixAPI
import OrgMatrixCore
import OrgMatrixStore
import SMCrypto

extension LedgerCommand {
    /// `orgmatrix ledger export`: a tenant's whole ledger as a bundle (docs/LEDGER.md, "The
    /// exported bundle") that an auditor verifies with no database, read as an auditor or
    /// hq_admin principal in one snapshot and written page by page.
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export a tenant's ledger as a bundle that verifies offline (as an auditor or hq_admin principal).",
            discussion: """
                The API key comes from $\(Verify.keyEnvironmentKey) or --key-file. --with-private needs an hq_admin principal and \
                $\(Settings.masterKeyEnvironmentKey). Exit status: 0 written, 2 usage, configuration or refusal.
                """
        )

        @OptionGroup var principal: PrincipalOptions
        @Option(help: "The bundle's directory: created, or empty.") var out: String
        @Option(
            help: """
                Export from this block on (default 0, the whole ledger): the bundle carries the block before as its anchor, \
                the transactions these blocks seal or no block seals yet, and what their checks need from before.
                """)
        var fromBlock: Int64 = 0
        @Flag(
            help: """
                Write each transaction's private values (salt and value, <field>.private) beside it, opened under the master key, \
                so the verifiers check them against their commitments. For hq_admin only; keep such a bundle as you keep the values.
                """)
        var withPrivate = false

        func run() async throws {
            let (key, logger, url) = try principal.prepare()
            guard fromBlock >= 0 else { try fail("--from-block \(fromBlock): a block number is 0 or more") }
            var masterKey: MasterKey?
            if withPrivate {
                do { masterKey = try Settings.masterKey() } catch { try fail("--with-private: \(error.detail)") }
            }
            let scripts = try usage { try BundleScripts.names.map { ($0, try BundleScripts.read($0)) } }
            let writer = try usage { try BundleWriter(root: out) }
            let export = BundleExport(writer: writer, tenant: key.tenant, fromBlock: fromBlock, withPrivate: withPrivate)
            do {
                try await Settings.withClient(url, logger: logger) { client in
                    let database = Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance)
                    try await database.readLedger(
                        key: key, requestID: "cli-" + UUID().uuidString.lowercased(), logger: logger, fromBlock: fromBlock,
                        privateValuesUnder: masterKey
                    ) {
                        try export.write($0)
                    }
                }
                try export.finish(scripts: scripts)
            } catch let error as StoreError {
                writer.discard()
                try fail(error.detail)
            } catch let error as UnusableInput {
                writer.discard()
                try fail(error.description)
            } catch {
                writer.discard()
                try fail("cannot export the ledger: \(String(reflecting: error))")
            }
            print("exported the ledger of tenant \(key.tenant) to \(out): \(export.summary)")
        }
    }
}

/// The export's state between pages: the writer, what was counted, and the rule index built
/// from the `pricing.rules_published` transactions as they pass.
private final class BundleExport: @unchecked Sendable {
    private let writer: BundleWriter
    private let tenant: TenantCode
    private let fromBlock: Int64
    private let withPrivate: Bool
    private let lock = NSLock()
    private var rules: [LedgerBundle.RuleVersion] = []
    private var counts = (keys: Int64(0), transactions: Int64(0), blocks: Int64(0), checkpoints: Int64(0), privateValues: Int64(0))

    init(writer: BundleWriter, tenant: TenantCode, fromBlock: Int64, withPrivate: Bool) {
        (self.writer, self.tenant, self.fromBlock, self.withPrivate) = (writer, tenant, fromBlock, withPrivate)
    }

    func write(_ page: LedgerEvidencePage) throws {
        try lock.withLock {
            switch page {
            case .keys(let keys):
                for key in keys {
                    let pem = try SM2PublicKey(derRepresentation: key.publicKeyDER).pemRepresentation
                    try writer.write(Array(pem.utf8), at: LedgerBundle.keyPEMFile(key.owner, version: key.version))
                    try writer.write(LedgerBundle.keyBytes(key), at: LedgerBundle.keyFile(key.owner, version: key.version))
                    counts.keys += 1
                }
            case .anchor(let anchor):
                try writer.write(anchor.block.headerBytes, at: LedgerBundle.anchorHeaderFile)
                try writer.write(
                    anchor.block.ordererSignatureDER, at: LedgerBundle.anchorSignatureFile(keyVersion: anchor.block.ordererKeyVersion))
                try writer.write(LedgerBundle.hashLines(anchor.frontier), at: LedgerBundle.anchorFrontierFile)
            case .transactions(let transactions):
                for transaction in transactions {
                    let hash = transaction.claimedHash
                    try writer.write(transaction.canonicalBytes, at: LedgerBundle.transactionFile(hash))
                    try writer.write(LedgerBundle.recordBytes(transaction), at: LedgerBundle.recordFile(hash))
                    for endorsement in transaction.endorsements {
                        try writer.write(
                            endorsement.signatureDER,
                            at: LedgerBundle.endorsementFile(hash, org: endorsement.org, keyVersion: endorsement.keyVersion))
                    }
                    for (field, preimage) in transaction.privateValues {
                        // Readable by its owner only: the value is as confidential here as in the database.
                        try writer.write(preimage, at: LedgerBundle.privateValueFile(hash, field: field), mode: 0o600)
                        counts.privateValues += 1
                    }
                    if let rule = LedgerBundle.RuleVersion(transaction) { rules.append(rule) }
                    counts.transactions += 1
                }
            case .blocks(let blocks):
                for block in blocks {
                    try writer.write(block.headerBytes, at: LedgerBundle.headerFile(block.number))
                    try writer.write(
                        LedgerBundle.hashLines(block.transactionHashes.map(\.bytes)), at: LedgerBundle.blockTransactionsFile(block.number))
                    try writer.write(
                        block.ordererSignatureDER, at: LedgerBundle.ordererSignatureFile(block.number, keyVersion: block.ordererKeyVersion))
                    counts.blocks += 1
                }
            case .checkpoints(let checkpoints):
                for checkpoint in checkpoints {
                    let number = checkpoint.number
                    try writer.write(checkpoint.canonicalBytes, at: LedgerBundle.checkpointFile(number))
                    try writer.write(LedgerBundle.hashLines(checkpoint.consistencyProof), at: LedgerBundle.consistencyFile(number))
                    for signature in checkpoint.signatures {
                        try writer.write(
                            signature.signatureDER,
                            at: LedgerBundle.checkpointSignatureFile(number, org: signature.org, keyVersion: signature.keyVersion))
                    }
                    counts.checkpoints += 1
                }
            }
        }
    }

    /// The rule index, the description, the scripts, and the manifest's seal.
    func finish(scripts: [(String, [UInt8])]) throws {
        try lock.withLock {
            try writer.write(LedgerBundle.rulesBytes(rules), at: LedgerBundle.rules)
            let description = LedgerBundle.Description(
                tenant: tenant, exportedAt: UTCMicros(Date()), blocks: counts.blocks, transactions: counts.transactions,
                keys: counts.keys, checkpoints: counts.checkpoints, fromBlock: fromBlock, withPrivate: withPrivate)
            try writer.write(description.bytes, at: LedgerBundle.description)
            for (name, bytes) in scripts { try writer.write(bytes, at: name, mode: name == "README.txt" ? 0o644 : 0o755) }
            try writer.seal()
        }
    }

    var summary: String {
        lock.withLock {
            "\(counts.transactions) transactions, \(counts.blocks) blocks, \(counts.checkpoints) checkpoints, \(counts.keys) keys, "
                + (counts.privateValues > 0 ? "\(counts.privateValues) private values, " : "") + "\(writer.filesWritten + 1) files"
        }
    }
}

extension LedgerCommand {
    /// `orgmatrix ledger verify-bundle`: the online verifier's checks, and the bundle's own
    /// (manifest, rule index, checkpoints), on an exported bundle with no database. Each failure
    /// is printed as `FAIL <file>: …`, naming the bundle file an auditor opens.
    struct VerifyBundle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-bundle",
            abstract: "Verify an exported ledger bundle offline: its manifest, every hash, signature, block and checkpoint.",
            discussion: "Exit status: 0 clean, 1 failures found, 2 not a bundle.")

        @Argument(help: "The bundle's directory.") var directory: String
        @Flag(help: "Print the report as JSON, with every failure.") var json = false
        @Option(
            help: """
                For a bundle from a later block on: the bundle verified before it, which it must continue (its anchor that \
                bundle's block, its keys and key and rule events that bundle's).
                """)
        var continues: String?

        func run() async throws {
            let bar = ProgressBar(enabled: isatty(STDERR_FILENO) == 1)
            var result: BundleVerification.Result
            do {
                var verification = BundleVerification(reader: BundleReader(root: directory), progress: bar)
                result = try await verification.run()
                if let continues {
                    guard result.fromBlock > 0 else {
                        throw UnusableInput("--continues is for a bundle from a later block on; \(directory) holds the whole ledger")
                    }
                    let found = try BundleLink.failures(
                        later: BundleReader(root: directory), fromBlock: result.fromBlock, earlier: BundleReader(root: continues))
                    result.failures += found.map { (LedgerBundle.file(of: $0), $0) }
                    result.continues = continues
                }
            } catch let error as UnusableInput {
                bar.clear()
                try fail(error.description)
            }
            bar.clear()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                encoder.keyEncodingStrategy = .convertToSnakeCase
                print(String(decoding: try encoder.encode(BundleReportView(result)), as: UTF8.self))
            } else {
                print(result.text)
            }
            if !result.failures.isEmpty { throw ExitCode(1) }
        }
    }
}

/// One offline verification of a bundle: two passes over the manifest (its seal, its listing,
/// the description and the keys; then every directory in the order listed, in chunks, into the
/// Core verifier), the rule index, the checkpoints, and the files the manifest does not list.
struct BundleVerification {
    struct Result {
        /// Nil when bundle.json cannot be read (a failure then).
        var tenant: TenantCode?
        /// Each failure with the bundle file it names, in the order found.
        var failures: [(file: String, failure: LedgerVerificationFailure)]
        var counts: LedgerVerificationReport.Counts
        var files: Int
        var keys: Int
        var checkpoints: [(number: Int64, unsigned: [OrgCode])]
        /// A bundle from a later block on: the block it continues from, that block's hash and log
        /// size, for the auditor to match with the earlier bundle's last block.
        var anchor: (block: Int64, hash: LedgerHash, logSize: Int64?)? = nil
        /// The earlier bundle it was checked to continue (`--continues`).
        var continues: String? = nil
        /// bundle.json's first block (0: the whole ledger).
        var fromBlock: Int64 = 0

        var text: String {
            let verdict = failures.isEmpty ? "clean" : "\(failures.count) failure\(failures.count == 1 ? "" : "s")"
            var lines = [
                "bundle of tenant \(tenant?.rawValue ?? "?"): \(verdict)",
                "  files \(files); keys \(keys); transactions \(counts.transactions) (committed \(counts.committed), "
                    + "pending \(counts.pending), disputed \(counts.disputed)); endorsements checked \(counts.endorsementsChecked)",
                "  blocks \(counts.blocks) sealing \(counts.sealedTransactions) transactions; checkpoints \(checkpoints.count) "
                    + "(complete \(checkpoints.filter(\.unsigned.isEmpty).count))",
            ]
            if let anchor {
                lines.append(
                    "  from block \(anchor.block + 1), continuing block \(anchor.block) (\(anchor.hash.hex)), a log of "
                        + "\(anchor.logSize.map(String.init) ?? "?") transactions: "
                        + (continues.map { "checked to continue \($0) (its block, keys and key and rule events)" }
                            ?? "match it with the earlier bundle's (--continues)"))
            }
            if counts.privateValuesChecked > 0 {
                lines.append("  private values \(counts.privateValuesChecked), each checked against its transaction's commitment")
            }
            for (number, unsigned) in checkpoints where !unsigned.isEmpty {
                lines.append("  checkpoint \(number) is incomplete: not yet signed by \(unsigned.map(\.rawValue).joined(separator: ", "))")
            }
            return (lines + failures.map { "FAIL \($0.file): \($0.failure)" }).joined(separator: "\n")
        }
    }

    /// A listed file of one evidence directory.
    typealias Listed = (name: String, sm3: [UInt8])

    /// Directories read and handed to the verifier at once: enough for every core to be busy.
    static let chunkSize = 2000

    let reader: BundleReader
    let progress: ProgressBar

    private var failures: [LedgerVerificationFailure] = []
    /// The hash values of the paths listed, to find duplicates and unlisted files in little memory.
    private var listed: Set<Int> = []

    init(reader: BundleReader, progress: ProgressBar) { (self.reader, self.progress) = (reader, progress) }

    /// A path's hash by its bytes. Swift's String equality (and `hashValue`) takes canonically
    /// equivalent spellings as one (`K` and U+212A KELVIN SIGN), which a file system does not:
    /// a file so spelt beside a listed one would pass for listed.
    static func key(_ path: String) -> Int {
        var hasher = Hasher()
        var path = path
        path.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        return hasher.finalize()
    }

    private mutating func fail(_ kind: LedgerVerificationFailure.Kind, _ path: String, expected: String, found: String) {
        failures.append(.init(kind, field: path, expected: expected, found: found))
    }

    mutating func run() async throws -> Result {
        // Pass 1: the seal, the listing, the description, the keys.
        var seal: SM3Hasher? = SM3Hasher()
        var lineNumber = 0
        var singles: [String: [UInt8]] = [:]
        var keyFiles: [String: [UInt8]] = [:]
        var anchorFiles: [String: [UInt8]] = [:]
        var lines = try reader.manifestLines()
        while let line = try lines.next() {
            lineNumber += 1
            if line.unterminated {
                fail(.bundleFileMalformed, LedgerBundle.manifest, expected: "every line ending with a line break", found: "a last line without")
            }
            let parsed = try? LedgerBundle.parseManifestLine(Substring(decoding: line.bytes, as: UTF8.self))
            if line.isLast, let parsed, parsed.path == LedgerBundle.manifest, let hasher = seal.take() {
                let digest = hasher.finalize()
                if digest != parsed.sm3 {
                    fail(
                        .bundleFileMismatch, LedgerBundle.manifest,
                        expected: "its last line the SM3 of the lines before it, \(Hex.encode(digest))", found: Hex.encode(parsed.sm3))
                }
                continue
            }
            seal?.update(line.bytes + [UInt8(ascii: "\n")])
            guard let parsed else {
                fail(.bundleFileMalformed, LedgerBundle.manifest, expected: "<SM3 hex>  <path> on each line", found: "line \(lineNumber)")
                continue
            }
            guard listed.insert(Self.key(parsed.path)).inserted else {
                fail(.bundleFileMalformed, LedgerBundle.manifest, expected: "each path listed once", found: "\(parsed.path) again on line \(lineNumber)")
                continue
            }
            switch LedgerBundle.Place(parsed.path) {
            case .description?, .rules?, .script?: singles[parsed.path] = parsed.sm3
            case .key(let name)?: keyFiles[name] = parsed.sm3
            case .anchor(let name)?: anchorFiles[name] = parsed.sm3
            case nil: fail(.bundleFileMalformed, parsed.path, expected: "a file of the bundle's layout", found: "a path it has no place for")
            default: break
            }
        }
        if seal != nil {
            fail(.bundleFileMalformed, LedgerBundle.manifest, expected: "a last line naming manifest.sm3 with its digest", found: "none")
        }
        var description: LedgerBundle.Description?
        if let sm3 = singles[LedgerBundle.description], let bytes = read(LedgerBundle.description, sm3: sm3) {
            do { description = try LedgerBundle.Description(bytes: bytes) } catch {
                fail(.bundleFileMalformed, LedgerBundle.description, expected: "the bundle's description", found: error.description)
            }
        }
        guard let description else {
            guard singles[LedgerBundle.description] != nil else {
                throw UnusableInput("\(reader.root.path): manifest.sm3 lists no bundle.json: it is not a bundle")
            }
            // Without its description a bundle names no tenant to verify for: what failed so far is the verdict.
            return Result(
                tenant: nil, failures: failures.map { (LedgerBundle.file(of: $0), $0) }, counts: .init(), files: lineNumber, keys: 0,
                checkpoints: [])
        }
        for name in LedgerBundle.Place.scripts {
            if let sm3 = singles[name] { _ = read(name, sm3: sm3) } else {
                fail(.bundleFileMismatch, name, expected: "a file of every bundle", found: "not listed")
            }
        }
        var keyBytes: [String: [UInt8]] = [:]
        for (name, sm3) in keyFiles {
            if let bytes = read("keys/\(name)", sm3: sm3) { keyBytes[name] = bytes }
        }
        let (keys, keyFailures) = LedgerBundle.keys(keyBytes)
        failures += keyFailures

        var anchor: LedgerEvidence.Anchor?
        if description.fromBlock > 0 {
            var files: [String: [UInt8]] = [:]
            for (name, sm3) in anchorFiles {
                if let bytes = read("\(LedgerBundle.anchorDirectory)/\(name)", sm3: sm3) { files[name] = bytes }
            }
            let read = LedgerBundle.anchor(description.fromBlock - 1, files: files)
            anchor = read.anchor
            failures += read.failures
        } else {
            for name in anchorFiles.keys.sorted() {
                fail(.bundleFileMalformed, "\(LedgerBundle.anchorDirectory)/\(name)", expected: "no anchor in a bundle from block 0", found: "a file")
            }
        }

        // Pass 2: every evidence directory in the order listed, a chunk at a time.
        let spool = try BundleFileSpool()
        var verifier = LedgerVerifier(
            tenant: description.tenant, keys: keys, spool: spool, continuing: anchor, requiresPrivateValues: description.withPrivate)
        var state = Pass2(total: Int(description.transactions + description.blocks + description.checkpoints))
        var current: (place: LedgerBundle.Place, directory: String, files: [Listed])?
        var batch: [(place: LedgerBundle.Place, files: [Listed])] = []
        var directoriesSeen: Set<Int> = []
        lines = try reader.manifestLines()
        while let line = try lines.next() {
            guard !line.isLast, let parsed = try? LedgerBundle.parseManifestLine(Substring(decoding: line.bytes, as: UTF8.self)),
                let place = LedgerBundle.Place(parsed.path), let directory = place.directory, let name = place.file
            else { continue }
            if case .anchor = place { continue }  // read before the verifier was made
            if current?.directory == directory {
                current?.files.append((name, parsed.sm3))
                continue
            }
            if let done = current { batch.append((done.place, done.files)) }
            if batch.count >= Self.chunkSize { await flush(&batch, into: &verifier, &state) }
            if !directoriesSeen.insert(Self.key(directory)).inserted {
                fail(.bundleFileMalformed, LedgerBundle.manifest, expected: "each directory's files listed together", found: "\(directory) again")
            }
            current = (place, directory, [(name, parsed.sm3)])
        }
        if let done = current { batch.append((done.place, done.files)) }
        await flush(&batch, into: &verifier, &state)

        // What only the whole bundle shows.
        let report = verifier.report()
        if let failure = spool.failure { throw UnusableInput("cannot verify \(reader.root.path): \(failure)") }
        failures += report.failures
        if let sm3 = singles[LedgerBundle.rules], let bytes = read(LedgerBundle.rules, sm3: sm3) {
            do { failures += LedgerBundle.checkRules(index: try LedgerBundle.rules(bytes: bytes), published: state.published) } catch {
                fail(.bundleFileMalformed, LedgerBundle.rules, expected: "the rule index", found: error.description)
            }
        } else if singles[LedgerBundle.rules] == nil {
            fail(.bundleFileMismatch, LedgerBundle.rules, expected: "a file of every bundle", found: "not listed")
        }
        var headers = state.headers
        let anchorHeader = anchor.flatMap { try? BlockHeader(canonicalBytes: $0.block.headerBytes) }
        if let anchor, let anchorHeader { headers[anchor.block.number] = anchorHeader }
        let findings = LedgerCheckpoint.check(
            state.checkpoints.sorted { $0.number < $1.number }, tenant: description.tenant, keys: verifier.keys,
            header: { [headers] in headers[$0] }, continuingAt: description.fromBlock > 0 ? anchorHeader?.logSize ?? 0 : nil)
        failures += findings.failures
        let read = (
            transactions: Int64(report.counts.transactions), blocks: Int64(report.counts.blocks), keys: Int64(keys.count),
            checkpoints: Int64(state.checkpoints.count)
        )
        if (read.transactions, read.blocks, read.keys, read.checkpoints)
            != (description.transactions, description.blocks, description.keys, description.checkpoints)
        {
            fail(
                .bundleFileMismatch, LedgerBundle.description,
                expected: "the counts of what the bundle holds: \(read.transactions) transactions, \(read.blocks) blocks, "
                    + "\(read.keys) keys, \(read.checkpoints) checkpoints",
                found: "\(description.transactions), \(description.blocks), \(description.keys), \(description.checkpoints)")
        }
        let listedPaths = listed
        failures += reader.unlistedFiles { listedPaths.contains(Self.key($0)) }
        return Result(
            tenant: description.tenant, failures: failures.map { (LedgerBundle.file(of: $0), $0) }, counts: report.counts,
            files: lineNumber, keys: keys.count,
            checkpoints: state.checkpoints.sorted { $0.number < $1.number }.map { ($0.number, findings.unsigned[$0.number] ?? []) },
            anchor: anchor.map { ($0.block.number, $0.block.claimedHash, anchorHeader?.logSize) }, fromBlock: description.fromBlock)
    }

    /// What pass 2 gathers besides the verifier's state.
    private struct Pass2 {
        let total: Int
        var done = 0
        var headers: [Int64: BlockHeader] = [:]
        var checkpoints: [LedgerCheckpoint.Evidence] = []
        var published: [LedgerBundle.RuleVersion] = []
    }

    /// Reads a chunk of directories on every core, then hands their evidence to the verifier in
    /// the order listed (blocks must come in order).
    private mutating func flush(
        _ batch: inout [(place: LedgerBundle.Place, files: [Listed])], into verifier: inout LedgerVerifier, _ state: inout Pass2
    ) async {
        guard !batch.isEmpty else { return }
        let loaded = await Self.load(batch, reader: reader)
        state.done += batch.count
        batch.removeAll(keepingCapacity: true)
        var transactions: [LedgerEvidence.Transaction] = []
        var blocks: [LedgerEvidence.Block] = []
        for item in loaded {
            failures += item.failures
            switch item.evidence {
            case .transaction(let transaction)?:
                transactions.append(transaction)
                if let rule = LedgerBundle.RuleVersion(transaction) { state.published.append(rule) }
            case .block(let block)?:
                blocks.append(block)
                if let header = try? BlockHeader(canonicalBytes: block.headerBytes) { state.headers[block.number] = header }
            case .checkpoint(let checkpoint)?: state.checkpoints.append(checkpoint)
            case nil: break
            }
        }
        await verifier.add(transactions: transactions)
        await verifier.add(blocks: blocks)
        progress.show(label: "verifying", done: state.done, total: state.total, unit: "directories")
    }

    private enum Evidence: Sendable {
        case transaction(LedgerEvidence.Transaction)
        case block(LedgerEvidence.Block)
        case checkpoint(LedgerCheckpoint.Evidence)
    }

    /// Each directory's files read and checked against the manifest, then parsed, in up to one
    /// task per core; the results in the order of `batch`.
    private static func load(
        _ batch: [(place: LedgerBundle.Place, files: [Listed])], reader: BundleReader
    ) async -> [(evidence: Evidence?, failures: [LedgerVerificationFailure])] {
        let tasks = min(LedgerVerifier.concurrencyDefault, batch.count)
        let size = max(1, (batch.count + tasks - 1) / max(tasks, 1))
        return await withTaskGroup(of: (Int, [(evidence: Evidence?, failures: [LedgerVerificationFailure])]).self) { group in
            for start in stride(from: 0, to: batch.count, by: size) {
                let slice = Array(batch[start..<min(start + size, batch.count)])
                group.addTask {
                    (start, slice.map { loadOne($0.place, $0.files, reader: reader) })
                }
            }
            var parts: [(Int, [(evidence: Evidence?, failures: [LedgerVerificationFailure])])] = []
            for await part in group { parts.append(part) }
            return parts.sorted { $0.0 < $1.0 }.flatMap(\.1)
        }
    }

    private static func loadOne(
        _ place: LedgerBundle.Place, _ listed: [Listed], reader: BundleReader
    ) -> (evidence: Evidence?, failures: [LedgerVerificationFailure]) {
        guard let directory = place.directory else { return (nil, []) }
        var failures: [LedgerVerificationFailure] = []
        var files: [String: [UInt8]] = [:]
        for file in listed {
            let (bytes, failure) = reader.read("\(directory)/\(file.name)", sm3: file.sm3)
            if let failure { failures.append(failure) }
            if let bytes { files[file.name] = bytes }
        }
        switch place {
        case .transaction(let hash, _):
            let (transaction, found) = LedgerBundle.transaction(hash, files: files)
            return (transaction.map(Evidence.transaction), failures + found)
        case .block(let number, _):
            let (block, found) = LedgerBundle.block(number, files: files)
            return (block.map(Evidence.block), failures + found)
        case .checkpoint(let number, _):
            let (checkpoint, found) = LedgerBundle.checkpoint(number, files: files)
            return (checkpoint.map(Evidence.checkpoint), failures + found)
        case .description, .rules, .key, .script, .anchor: return (nil, failures)
        }
    }

    /// The file's bytes (whether or not they match the manifest's SM3: what they prove is
    /// checked too), with a failure when they do not.
    private mutating func read(_ path: String, sm3: [UInt8]) -> [UInt8]? {
        let (bytes, failure) = reader.read(path, sm3: sm3)
        if let failure { failures.append(failure) }
        return bytes
    }
}

/// The report `verify-bundle --json` prints.
private struct BundleReportView: Encodable {
    /// The online report's failure, and the bundle file it names.
    struct Failure: Encodable {
        let file: String
        let failure: LedgerVerificationView.Failure

        private enum CodingKeys: String, CodingKey { case file }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(file, forKey: .file)
            try failure.encode(to: encoder)
        }
    }

    struct Checkpoint: Encodable {
        let number: Int64
        let complete: Bool
        let unsigned: [String]
    }

    let tenant: String?
    let clean: Bool
    let files: Int
    let keys: Int
    let transactions: Int
    let committed: Int
    let pending: Int
    let disputed: Int
    let endorsementsChecked: Int
    let privateValuesChecked: Int
    let blocks: Int
    let sealedTransactions: Int
    let checkpoints: [Checkpoint]
    /// A bundle from a later block on: the block it continues from.
    let anchor: Anchor?
    let failures: [Failure]

    struct Anchor: Encodable {
        let block: Int64
        let hash: String
        let logSize: Int64?
    }

    init(_ result: BundleVerification.Result) {
        tenant = result.tenant?.rawValue
        clean = result.failures.isEmpty
        files = result.files
        keys = result.keys
        let counts = result.counts
        (transactions, committed, pending, disputed) = (counts.transactions, counts.committed, counts.pending, counts.disputed)
        (endorsementsChecked, blocks, sealedTransactions) = (counts.endorsementsChecked, counts.blocks, counts.sealedTransactions)
        privateValuesChecked = counts.privateValuesChecked
        checkpoints = result.checkpoints.map { .init(number: $0.number, complete: $0.unsigned.isEmpty, unsigned: $0.unsigned.map(\.rawValue)) }
        failures = result.failures.map { .init(file: $0.file, failure: .init($0.failure)) }
        anchor = result.anchor.map { .init(block: $0.block, hash: $0.hash.hex, logSize: $0.logSize) }
    }
}

/// `verify-bundle --continues`: what a bundle from a later block on must keep of the one before,
/// gathered from both bundles' files for `LedgerBundle.link`. The earlier bundle was verified
/// before; a file of it that differs from its manifest makes this unusable, not a verdict.
enum BundleLink {
    static func failures(later: BundleReader, fromBlock: Int64, earlier: BundleReader) throws -> [LedgerVerificationFailure] {
        let anchorBlock = fromBlock - 1
        var earlierHolding = LedgerBundle.Holding(header: nil, keyFiles: [:], events: [])
        var lines = try earlier.manifestLines()
        while let line = try lines.next() {
            guard !line.isLast, let parsed = try? LedgerBundle.parseManifestLine(Substring(decoding: line.bytes, as: UTF8.self)) else { continue }
            func bytes() throws -> [UInt8] {
                let (bytes, failure) = earlier.read(parsed.path, sm3: parsed.sm3)
                guard let bytes, failure == nil else {
                    throw UnusableInput("\(earlier.root.path)/\(parsed.path) is not what its manifest lists: verify that bundle first")
                }
                return bytes
            }
            switch LedgerBundle.Place(parsed.path) {
            case .key(let name)?: earlierHolding.keyFiles[name] = try bytes()
            case .block(anchorBlock, "header.json")?: earlierHolding.header = try bytes()
            case .transaction(let hash, "tx.json")?:
                let document = try bytes()
                // Most are transfer events: only a document that names a kept type is parsed.
                let text = String(decoding: document, as: UTF8.self)
                guard LedgerBundle.linkTypes.contains(where: { text.contains("\"\($0.rawValue)\"") }),
                    let transaction = try? LedgerTransaction(canonicalBytes: document), LedgerBundle.linkTypes.contains(transaction.type)
                else { continue }
                earlierHolding.events.insert(hash)
            default: continue
            }
        }
        var keyFiles: [String: [UInt8]] = [:]
        var anchorHeader: [UInt8]?
        var held: Set<LedgerHash> = []
        lines = try later.manifestLines()
        while let line = try lines.next() {
            guard !line.isLast, let parsed = try? LedgerBundle.parseManifestLine(Substring(decoding: line.bytes, as: UTF8.self)) else { continue }
            switch LedgerBundle.Place(parsed.path) {
            case .key(let name)?: keyFiles[name] = later.read(parsed.path, sm3: parsed.sm3).bytes
            case .anchor("header.json")?: anchorHeader = later.read(parsed.path, sm3: parsed.sm3).bytes
            case .transaction(let hash, "tx.json")? where earlierHolding.events.contains(hash): held.insert(hash)
            default: continue
            }
        }
        return LedgerBundle.link(
            fromBlock: fromBlock, anchorHeader: anchorHeader, keyFiles: keyFiles, holds: { held.contains($0) }, earlier: earlierHolding)
    }
}
