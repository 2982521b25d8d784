import Foundation
import OrgMatrixCore
import OrgMatrixStore
import OrgMatrixTestSupport
import SMCrypto
import Testing

/// `orgmatrix ledger export` and the bundle's three verifiers (docs/LEDGER.md, "The exported
/// bundle"): the Swift one, `verify.py` and `verify-with-openssl.sh`, run on the same bundles,
/// intact and tampered, expecting the same verdicts and the same file named.
@Suite struct LedgerBundleCommandTests {
    /// The three verifiers, as an auditor runs them.
    private static let verifiers: [(name: String, command: @Sendable (String) -> (String, [String]))] = [
        ("verify-bundle", { (TestEnvironment.orgmatrixExecutable, ["ledger", "verify-bundle", $0]) }),
        ("verify.py", { ("python3", [$0 + "/verify.py", $0]) }),
        ("verify-with-openssl.sh", { ("bash", [$0 + "/verify-with-openssl.sh", $0]) }),
    ]

    private static func export(
        _ scenario: LedgerScenario, principal: String = "hq-auditor", to folder: String, arguments: [String] = [],
        environment extra: [String: String] = [:]
    ) async throws -> ProcessOutput {
        let environment = try await SharedDatabase.environment()
        return try runProcess(
            TestEnvironment.orgmatrixExecutable,
            ["ledger", "export", "--tenant", scenario.fixture.code.rawValue, "--out", folder, "--database-url", environment.appURLText]
                + arguments,
            environment: ["ORGMATRIX_API_KEY": scenario.fixture.key(principal)].merging(extra) { $1 })
    }

    /// `export --with-private` as HQ's administrator, with the master key the values are sealed under.
    private static func exportWithPrivate(_ scenario: LedgerScenario, to folder: String) async throws -> ProcessOutput {
        try await export(scenario, principal: "hq-admin", to: folder, arguments: ["--with-private"], environment: try TestMasterKey.shared().environment)
    }

    private static func folder(_ label: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("bundle-\(label)-\(UUID().uuidString)").path
    }

    /// Every regular file of the bundle, by its path in it.
    private static func files(_ root: String) throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: root).filter { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory) && !isDirectory.boolValue
        }.sorted()
    }

    /// Lists `path`'s new `bytes` in the manifest and seals it again, as a tamperer who knows the format would.
    private static func reseal(_ root: String, _ path: String, _ bytes: [UInt8]) throws {
        let lines = try String(contentsOfFile: root + "/manifest.sm3", encoding: .utf8).split(separator: "\n").dropLast().map {
            line -> String in
            line.hasSuffix("  " + path) ? LedgerBundle.manifestLine(path: path, sm3: SM3.hash(bytes)) : String(line) + "\n"
        }
        let body = lines.joined()
        try Data((body + LedgerBundle.manifestSeal(Array(body.utf8))).utf8).write(to: URL(fileURLWithPath: root + "/manifest.sm3"))
    }

    /// Lists a new file `path` in the manifest beside its directory's other files and seals it
    /// again, as a tamperer who knows the format would.
    private static func enlist(_ root: String, _ path: String, _ bytes: [UInt8]) throws {
        var lines = try String(contentsOfFile: root + "/manifest.sm3", encoding: .utf8).split(separator: "\n").dropLast().map { String($0) + "\n" }
        let directory = String(path[..<path.lastIndex(of: "/")!])
        let at = (lines.lastIndex { $0.contains("  " + directory + "/") } ?? lines.count - 1) + 1
        lines.insert(LedgerBundle.manifestLine(path: path, sm3: SM3.hash(bytes)), at: at)
        let body = lines.joined()
        try Data((body + LedgerBundle.manifestSeal(Array(body.utf8))).utf8).write(to: URL(fileURLWithPath: root + "/manifest.sm3"))
    }

    /// Removes `path` (a file or a directory) and its manifest lines, and seals the manifest
    /// again, as a tamperer who knows the format would.
    private static func unlist(_ root: String, _ path: String) throws {
        try FileManager.default.removeItem(atPath: root + "/" + path)
        let kept = try String(contentsOfFile: root + "/manifest.sm3", encoding: .utf8).split(separator: "\n").dropLast()
            .filter { !$0.hasSuffix("  " + path) && !$0.contains("  " + path + "/") }.map { String($0) + "\n" }.joined()
        try Data((kept + LedgerBundle.manifestSeal(Array(kept.utf8))).utf8).write(to: URL(fileURLWithPath: root + "/manifest.sm3"))
    }

    /// Runs each verifier on `root`: its exit status and output.
    private static func verdicts(_ root: String) throws -> [(name: String, output: ProcessOutput)] {
        try verifiers.map { verifier in
            let (executable, arguments) = verifier.command(root)
            return (verifier.name, try runProcess(executable, arguments))
        }
    }

    @Test func anExportVerifiesThreeWaysAndEverySingleByteChangeIsNamedByAllThree() async throws {
        let scenario = try await LedgerScenario.make(label: "bundle")
        // A checkpoint two custodial orgs approved and WH-B signed with its own key; QA, NORTH and WH-C have not.
        try await scenario.checkpoint(approving: ["hq-admin", "a-operator"], clientSigns: true)
        let root = Self.folder("flip")
        defer { try? FileManager.default.removeItem(atPath: root) }
        // With the private values, so that their files are flipped too.
        let exported = try await Self.exportWithPrivate(scenario, to: root)
        #expect(exported.status == 0, "\(exported.standardError)")
        #expect(
            exported.text.contains("15 transactions") && exported.text.contains("1 checkpoints") && exported.text.contains("2 private values"),
            "\(exported.text)")
        let files = try Self.files(root)
        #expect(files.filter { $0.hasSuffix(".private") }.count == 2)
        #expect(
            files.filter { $0.hasPrefix("checkpoints/") } == [
                "checkpoints/0000000000/HQ.v1.sig.der", "checkpoints/0000000000/WH-A.v1.sig.der", "checkpoints/0000000000/WH-B.v1.sig.der",
                "checkpoints/0000000000/checkpoint.json", "checkpoints/0000000000/consistency.txt",
            ])
        #expect(files.contains("manifest.sm3") && files.contains("bundle.json") && files.contains("rules.json"))
        #expect(files.contains { $0.hasPrefix("blocks/0000000000/orderer.v") && $0.hasSuffix(".sig.der") })
        #expect(files.contains { $0.hasPrefix("keys/") && $0.hasSuffix(".pem") })
        // Every transaction's bytes are its own file, named by their SM3.
        let transactionFiles = files.filter { $0.hasSuffix("/tx.json") }
        #expect(transactionFiles.count == 15)
        for path in transactionFiles {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: root + "/" + path)))
            #expect(path.split(separator: "/")[2] == Hex.encode(SM3.hash(bytes)))
        }
        // An OpenSSL-made SM3 of one file is the manifest's.
        let manifest = try String(contentsOfFile: root + "/manifest.sm3", encoding: .utf8)
        let openssl = try runProcess("openssl", ["dgst", "-sm3", "-r", root + "/" + transactionFiles[0]])
        #expect(manifest.contains(String(openssl.text.prefix(64)) + "  " + transactionFiles[0]))

        for (name, output) in try Self.verdicts(root) {
            #expect(output.status == 0, "\(name) on the intact bundle: \(output.text) \(output.standardError)")
        }
        let clean = try runProcess(TestEnvironment.orgmatrixExecutable, ["ledger", "verify-bundle", "--json", root])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(clean.standardOutput)) as? [String: Any])
        #expect(report["clean"] as? Bool == true && report["transactions"] as? Int == 15 && report["committed"] as? Int == 13)
        let checkpoints = report["checkpoints"] as? [[String: Any]]
        #expect(checkpoints?.first?["complete"] as? Bool == false && checkpoints?.first?["unsigned"] as? [String] == ["NORTH", "QA", "WH-C"])
        #expect((report["failures"] as? [Any])?.isEmpty == true)

        // One byte changed in any file: all three fail and name that file.
        for path in files {
            let url = URL(fileURLWithPath: root + "/" + path)
            let original = try Data(contentsOf: url)
            var changed = original
            // An empty file (checkpoint 0's consistency.txt: no proof from nothing) gets one byte.
            if changed.isEmpty { changed = Data("\n".utf8) } else { changed[changed.count / 2] ^= 0x01 }
            try changed.write(to: url)
            for (name, output) in try Self.verdicts(root) {
                if name == path {
                    // A script with a changed byte may not even run (a space turned into `!` is a syntax
                    // error): it must not pass; the other two name it.
                    #expect(output.status != 0, "\(name) changed in itself passed: \(output.text)")
                    continue
                }
                #expect(output.status == 1, "\(name), \(path) changed: exit \(output.status) \(output.standardError)")
                #expect(output.text.contains("FAIL \(path): "), "\(name), \(path) changed: \(output.text)")
            }
            try original.write(to: url)
        }
        for (name, output) in try Self.verdicts(root) {
            #expect(output.status == 0, "\(name) on the restored bundle: \(output.text)")
        }
    }

    /// Private values travel only in a bundle exported `--with-private` (HQ's administrator, the
    /// master key); every signature verifies either way, and with them each value is checked
    /// against its commitment by all three verifiers.
    @Test func privateValuesTravelOnlyWithPrivateAndAreCheckedAgainstTheirCommitments() async throws {
        let scenario = try await LedgerScenario.make(label: "bundle-private")
        let hash = scenario.hash(scenario.claimed, .transferDispatched)
        let (plain, full) = (Self.folder("plain"), Self.folder("private"))
        defer { for root in [plain, full] { try? FileManager.default.removeItem(atPath: root) } }

        // Without: no value leaves the database, and the bundle verifies.
        #expect(try await Self.export(scenario, to: plain).status == 0)
        #expect(try Self.files(plain).allSatisfy { !$0.hasSuffix(".private") })
        for (name, output) in try Self.verdicts(plain) { #expect(output.status == 0, "\(name): \(output.text)") }
        // Refused: an auditor, and an administrator without the master key.
        let auditor = try await Self.export(
            scenario, to: Self.folder("auditor"), arguments: ["--with-private"], environment: try TestMasterKey.shared().environment)
        #expect(auditor.status == 2 && auditor.standardError.contains("may not read private values"), "\(auditor.standardError)")
        let keyless = try await Self.export(
            scenario, principal: "hq-admin", to: Self.folder("keyless"), arguments: ["--with-private"],
            environment: [Settings.masterKeyEnvironmentKey: ""])
        #expect(keyless.status == 2 && keyless.standardError.contains(Settings.masterKeyEnvironmentKey), "\(keyless.standardError)")

        // With: salt and value beside the transaction; OpenSSL's SM3 of each file is its commitment.
        // The audit log records that HQ's administrator exported the values, and nothing of the refusals.
        #expect(try await Self.exportWithPrivate(scenario, to: full).status == 0)
        let exports = try await withConnection(try await SharedDatabase.environment().ownerURL) { connection in
            try await connection.query(
                """
                SELECT actor, subject FROM audit_events
                WHERE tenant_id = \(scenario.fixture.tenantID.rawValue) AND action = \(Sandbox.privateValuesExportAction)
                """, logger: testLogger
            ).collect().map { try $0.decode((String, String).self) }
        }
        #expect(exports.count == 1 && exports.first?.0 == "hq-admin" && exports.first?.1 == scenario.fixture.code.rawValue, "\(exports)")
        let transaction = try String(contentsOfFile: full + "/" + LedgerBundle.transactionFile(hash), encoding: .utf8)
        for (field, value) in [(LedgerPrivateField.carrierContractPriceFen, "180000"), (.carrierName, #""顺丰速运""#)] {
            let path = full + "/" + LedgerBundle.privateValueFile(hash, field: field)
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(bytes.count == 16 + value.utf8.count && Array(bytes[16...]) == Array(value.utf8))
            let openssl = try runProcess("openssl", ["dgst", "-sm3", "-r", path])
            #expect(transaction.contains("\"\(field.rawValue)\":\"\(openssl.text.prefix(64))\""), "\(transaction)")
            #expect(!transaction.contains(value))
        }
        for (name, output) in try Self.verdicts(full) {
            #expect(output.status == 0, "\(name): \(output.text) \(output.standardError)")
            if name == "verify-bundle" { #expect(output.text.contains("private values 2, each checked"), "\(output.text)") }
            if name == "verify.py" { #expect(output.text.contains(", 2 private values"), "\(output.text)") }
        }

        // Another price under the same salt, the manifest resealed: all three name the value's file.
        let price = LedgerBundle.privateValueFile(hash, field: .carrierContractPriceFen)
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: full + "/" + price)))
        let cheaper = Array(original[..<16]) + Array("120000".utf8)
        try Data(cheaper).write(to: URL(fileURLWithPath: full + "/" + price))
        try Self.reseal(full, price, cheaper)
        for (name, output) in try Self.verdicts(full) {
            #expect(output.status == 1 && output.text.contains("FAIL \(price): "), "\(name): \(output.text)")
        }
        let report = try runProcess(TestEnvironment.orgmatrixExecutable, ["ledger", "verify-bundle", "--json", full])
        let failures = try #require((try JSONSerialization.jsonObject(with: Data(report.standardOutput)) as? [String: Any])?["failures"] as? [[String: Any]])
        #expect(failures.map { $0["kind"] as? String } == ["private-value-mismatch"] && failures.first?["file"] as? String == price, "\(failures)")
        try Data(original).write(to: URL(fileURLWithPath: full + "/" + price))
        try Self.reseal(full, price, original)

        // bundle.json says the values are all there, so one left out (and unlisted) is named too.
        #expect(try String(contentsOfFile: full + "/bundle.json", encoding: .utf8).contains(#""with_private":true"#))
        try Self.unlist(full, price)
        for (name, output) in try Self.verdicts(full) {
            #expect(output.status == 1 && output.text.contains("FAIL \(price): "), "\(name): \(output.text)")
        }
        try Data(original).write(to: URL(fileURLWithPath: full + "/" + price))
        try Self.enlist(full, price, original)
        #expect(try Self.verdicts(full).allSatisfy { $0.output.status == 0 })
        let mode = try FileManager.default.attributesOfItem(atPath: full + "/" + LedgerBundle.privateValueFile(hash, field: .carrierName))[.posixPermissions]
        #expect(mode as? Int == 0o600, "a private value's file is readable by its owner only")

        // A value beside a transaction that commits to none, listed and resealed: named too.
        let other = scenario.hash(scenario.received, .transferDispatched)
        let stray = LedgerBundle.privateValueFile(other, field: .carrierContractPriceFen)
        try Data(original).write(to: URL(fileURLWithPath: full + "/" + stray))
        try Self.enlist(full, stray, original)
        for (name, output) in try Self.verdicts(full) {
            #expect(output.status == 1 && output.text.contains("FAIL \(stray): "), "\(name): \(output.text)")
        }
    }

    @Test func aMissingAnExtraAndAResealedFileAreNamed() async throws {
        let scenario = try await LedgerScenario.make(label: "bundle-files")
        let root = Self.folder("files")
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try await Self.export(scenario, to: root).status == 0)
        let files = try Self.files(root)
        let signature = try #require(files.first { $0.hasPrefix("transactions/") && $0.hasSuffix(".sig.der") })

        // A deleted endorsement.
        let saved = try Data(contentsOf: URL(fileURLWithPath: root + "/" + signature))
        try FileManager.default.removeItem(atPath: root + "/" + signature)
        for (name, output) in try Self.verdicts(root) {
            #expect(output.status == 1 && output.text.contains("FAIL \(signature): "), "\(name), deleted: \(output.text)")
        }
        try saved.write(to: URL(fileURLWithPath: root + "/" + signature))

        // A file the manifest does not list.
        let extra = "transactions/extra.txt"
        try Data("hello".utf8).write(to: URL(fileURLWithPath: root + "/" + extra))
        for (name, output) in try Self.verdicts(root) {
            #expect(output.status == 1 && output.text.contains("FAIL \(extra): "), "\(name), extra: \(output.text)")
        }
        try FileManager.default.removeItem(atPath: root + "/" + extra)

        // Beside a listed file, an unlisted one whose name Swift's String equality takes for the
        // same (U+212A KELVIN SIGN is canonically K): named by its bytes. Searched for as bytes,
        // since a String search would find the listed name's line too.
        let (listedK, kelvin) = ("transactions/K.txt", "transactions/\u{212A}.txt")
        try Self.enlist(root, listedK, Array("k".utf8))
        try Data("k".utf8).write(to: URL(fileURLWithPath: root + "/" + listedK))
        try Data("k".utf8).write(to: URL(fileURLWithPath: root + "/" + kelvin))
        for (name, output) in try Self.verdicts(root) {
            #expect(
                output.status == 1 && Data(output.text.utf8).range(of: Data("FAIL \(kelvin): ".utf8)) != nil, "\(name), kelvin: \(output.text)")
        }
        try Self.unlist(root, listedK)
        try FileManager.default.removeItem(atPath: root + "/" + kelvin)

        // A transaction rewritten and the manifest recomputed and resealed to match: the file no
        // longer hashes to the name the blocks seal.
        let transaction = try #require(files.first { $0.hasSuffix("/tx.json") })
        let url = URL(fileURLWithPath: root + "/" + transaction)
        var bytes = Array(try Data(contentsOf: url))
        let at = try #require(bytes.firstIndex(of: UInt8(ascii: "1")))
        bytes[at] = UInt8(ascii: "2")
        try Data(bytes).write(to: url)
        try Self.reseal(root, transaction, bytes)
        for (name, output) in try Self.verdicts(root) {
            #expect(output.status == 1 && output.text.contains("FAIL \(transaction): "), "\(name), resealed: \(output.text)")
            #expect(!output.text.contains("FAIL manifest.sm3"), "\(name), resealed: \(output.text)")
        }
        // The JSON report names the same file beside the online report's fields.
        let json = try runProcess(TestEnvironment.orgmatrixExecutable, ["ledger", "verify-bundle", "--json", root])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput)) as? [String: Any])
        let failures = try #require(report["failures"] as? [[String: Any]])
        let named = try #require(failures.first { $0["file"] as? String == transaction }, "\(failures)")
        #expect(report["clean"] as? Bool == false && named["kind"] is String && named["field"] is String && named.keys.contains("block"))
    }

    /// A bundle from a later block on (`--from-block`): its anchor is the whole bundle's block
    /// before, all three verifiers pass it, each anchor file changed by one byte is named by all
    /// three, and a frontier or a left-out checkpoint resealed into the manifest is named.
    @Test func aBundleFromALaterBlockContinuesTheWholeOneAndIsVerifiedThreeWays() async throws {
        let scenario = try await LedgerScenario.make(label: "bundle-from")
        _ = try await scenario.checkpoint(approving: ["hq-admin"], clientSigns: false)  // 0, at block 4
        try await scenario.commitPendingReceipt()  // block 5
        _ = try await scenario.checkpoint(approving: ["hq-admin"], clientSigns: false)  // 1, at block 5
        let (whole, partial) = (Self.folder("from-whole"), Self.folder("from-5"))
        defer { for root in [whole, partial] { try? FileManager.default.removeItem(atPath: root) } }
        #expect(try await Self.export(scenario, to: whole).status == 0)
        let exported = try await Self.export(scenario, to: partial, arguments: ["--from-block", "5"])
        #expect(exported.status == 0, "\(exported.standardError)")

        let anchor = try Data(contentsOf: URL(fileURLWithPath: whole + "/" + LedgerBundle.headerFile(4)))
        #expect(try Data(contentsOf: URL(fileURLWithPath: partial + "/" + LedgerBundle.anchorHeaderFile)) == anchor)
        let files = try Self.files(partial)
        #expect(Set(files.filter { $0.hasPrefix("blocks/") }.map { $0.split(separator: "/")[1] }) == ["0000000005"])
        #expect(files.contains(LedgerBundle.checkpointFile(0)) && files.contains(LedgerBundle.checkpointFile(1)))
        // Fewer transactions: those block 5 seals, and what their checks need (key and rule events, their transfer's).
        let transactions = { (root: String) in try Self.files(root).filter { $0.hasSuffix("/tx.json") }.count }
        #expect(try transactions(partial) < transactions(whole))
        for (name, output) in try Self.verdicts(partial) {
            #expect(output.status == 0, "\(name): \(output.text)")
        }
        let text = try runProcess(TestEnvironment.orgmatrixExecutable, ["ledger", "verify-bundle", partial]).text
        #expect(text.contains("from block 5, continuing block 4 (\(Hex.encode(SM3.hash(Array(anchor)))))"), "\(text)")

        // It continues the whole bundle; a copy that dropped a key event the earlier one holds does not.
        let linked = try runProcess(TestEnvironment.orgmatrixExecutable, ["ledger", "verify-bundle", partial, "--continues", whole])
        #expect(linked.status == 0 && linked.text.contains("checked to continue \(whole)"), "\(linked.text) \(linked.standardError)")
        let notBefore = try runProcess(TestEnvironment.orgmatrixExecutable, ["ledger", "verify-bundle", partial, "--continues", partial])
        #expect(notBefore.status == 1 && notBefore.text.contains("FAIL \(LedgerBundle.anchorHeaderFile): "), "\(notBefore.text)")
        let registration = try #require(
            try files.filter { $0.hasSuffix("/tx.json") }.first {
                try String(contentsOfFile: partial + "/" + $0, encoding: .utf8).contains("\"key.registered\"")
            })
        let savedManifest = try Data(contentsOf: URL(fileURLWithPath: partial + "/manifest.sm3"))
        let directory = String(registration.dropLast("/tx.json".count))
        let copy = Self.folder("from-copy")
        defer { try? FileManager.default.removeItem(atPath: copy) }
        try FileManager.default.copyItem(atPath: partial + "/" + directory, toPath: copy)
        try Self.unlist(partial, directory)
        let dropped = try runProcess(TestEnvironment.orgmatrixExecutable, ["ledger", "verify-bundle", partial, "--continues", whole])
        #expect(
            dropped.status == 1 && dropped.text.contains("FAIL \(registration): ") && dropped.text.contains("the earlier bundle holds"),
            "\(dropped.text)")
        try FileManager.default.copyItem(atPath: copy, toPath: partial + "/" + directory)
        try savedManifest.write(to: URL(fileURLWithPath: partial + "/manifest.sm3"))

        // Each anchor file changed by one byte: all three name it.
        for path in files where path.hasPrefix("anchor/") {
            let url = URL(fileURLWithPath: partial + "/" + path)
            let original = try Data(contentsOf: url)
            var changed = original
            changed[changed.count / 2] ^= 0x01
            try changed.write(to: url)
            for (name, output) in try Self.verdicts(partial) {
                #expect(output.status == 1 && output.text.contains("FAIL \(path): "), "\(name), \(path): \(output.text)")
            }
            try original.write(to: url)
        }

        // A frontier rewritten and resealed: the Swift and Python verifiers recompute the anchor's root from it.
        let frontier = partial + "/" + LedgerBundle.anchorFrontierFile
        let honest = try Data(contentsOf: URL(fileURLWithPath: frontier))
        let forged = LedgerBundle.hashLines([SM3.hash(Array("forged".utf8))])
        try Data(forged).write(to: URL(fileURLWithPath: frontier))
        try Self.reseal(partial, LedgerBundle.anchorFrontierFile, forged)
        for (name, output) in try Self.verdicts(partial) where name != "verify-with-openssl.sh" {
            #expect(output.status == 1 && output.text.contains("FAIL \(LedgerBundle.anchorFrontierFile): "), "\(name): \(output.text)")
            #expect(!output.text.contains("FAIL manifest.sm3"), "\(name): \(output.text)")
        }
        try honest.write(to: URL(fileURLWithPath: frontier))
        try Self.reseal(partial, LedgerBundle.anchorFrontierFile, Array(honest))

        // Checkpoint 0 (at the anchor block) left out and the manifest resealed: checkpoint 1 now
        // comes first, and its previous log is not below the anchor's, so one was left out.
        try Self.unlist(partial, LedgerBundle.checkpointDirectory(0))
        let description = try String(contentsOfFile: partial + "/bundle.json", encoding: .utf8)
            .replacingOccurrences(of: "\"checkpoints\":2", with: "\"checkpoints\":1")
        try Data(description.utf8).write(to: URL(fileURLWithPath: partial + "/bundle.json"))
        try Self.reseal(partial, LedgerBundle.description, Array(description.utf8))
        for (name, output) in try Self.verdicts(partial) where name != "verify-with-openssl.sh" {
            #expect(
                output.status == 1 && output.text.contains("FAIL \(LedgerBundle.checkpointFile(1)): ") && output.text.contains("left out"),
                "\(name): \(output.text)")
            #expect(!output.text.contains("FAIL manifest.sm3") && !output.text.contains("FAIL bundle.json"), "\(name): \(output.text)")
        }

        // No block 9 to export from.
        let none = try await Self.export(scenario, to: Self.folder("from-9"), arguments: ["--from-block", "9"])
        #expect(none.status == 2 && none.standardError.contains("No block 9"), "\(none.standardError)")
    }

    /// verify-bundle recomputes every transfer figure as the online verifier does, from the
    /// transactions it keeps in its temporary file until the end: a dispatch whose estimate was
    /// raised by one fen is named for that figure, besides its hash.
    @Test func aDispatchFigureChangedInTheBundleIsRecomputedAndNamed() async throws {
        let scenario = try await LedgerScenario.make(label: "bundle-figures")
        let root = Self.folder("figures")
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try await Self.export(scenario, to: root).status == 0)
        let hash = scenario.hash(scenario.claimed, .transferDispatched)
        let path = LedgerBundle.transactionFile(hash)
        let url = URL(fileURLWithPath: root + "/" + path)
        let text = try String(contentsOf: url, encoding: .utf8)
        let stated = try #require(text.firstMatch(of: /"estimate_total_fen":(\d+)/)?.1)
        let raised = text.replacingOccurrences(of: "\"estimate_total_fen\":\(stated)", with: "\"estimate_total_fen\":\(Int64(stated)! + 1)")
        try Data(raised.utf8).write(to: url)
        let json = try runProcess(TestEnvironment.orgmatrixExecutable, ["ledger", "verify-bundle", "--json", root])
        #expect(json.status == 1, "\(json.text)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput)) as? [String: Any])
        let failures = try #require(report["failures"] as? [[String: Any]])
        let estimate = failures.filter { $0["kind"] as? String == "estimate-mismatch" }
        #expect(estimate.count == 1, "\(failures)")
        #expect(estimate.first?["file"] as? String == path && estimate.first?["field"] as? String == "body.estimate_total_fen")
        #expect(estimate.first?["expected"] as? String == String(stated) && estimate.first?["found"] as? String == String(Int64(stated)! + 1))
        // The intact bundle's figures all agree.
        try Data(text.utf8).write(to: url)
        let clean = try runProcess(TestEnvironment.orgmatrixExecutable, ["ledger", "verify-bundle", root])
        #expect(clean.status == 0, "\(clean.text)")
    }

    /// A checkpoint rewritten to leave out an org with a valid key, re-signed by the orgs the
    /// tamperer holds keys of, the manifest resealed: the Swift and Python verifiers name it.
    @Test func aCheckpointLeavingOutAnOrgWithAKeyIsNamed() async throws {
        let scenario = try await LedgerScenario.make(label: "bundle-signers")
        let honest = try await scenario.checkpoint(approving: ["hq-admin"], clientSigns: false)
        let root = Self.folder("signers")
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try await Self.export(scenario, to: root).status == 0)
        let old = honest.checkpoint
        let narrow = LedgerCheckpoint(
            tenant: old.tenant, number: old.number, period: old.period, at: old.at, logSize: old.logSize, logRoot: old.logRoot,
            lastBlock: old.lastBlock, lastBlockHash: old.lastBlockHash, previousLogSize: old.previousLogSize,
            signers: old.signers.filter { $0.rawValue != "QA" })
        let path = LedgerBundle.checkpointFile(0)
        try Data(narrow.canonicalBytes).write(to: URL(fileURLWithPath: root + "/" + path))
        // HQ's signature is dropped, as the tamperer would re-sign it: only the signers' list is wrong.
        let signature = LedgerBundle.checkpointSignatureFile(0, org: try OrgCode("HQ"), keyVersion: 1)
        try Self.unlist(root, signature)
        try Self.reseal(root, path, narrow.canonicalBytes)
        for (name, output) in try Self.verdicts(root) where name != "verify-with-openssl.sh" {
            #expect(output.status == 1 && output.text.contains("FAIL \(path): "), "\(name): \(output.text)")
            #expect(output.text.contains("signers"), "\(name): \(output.text)")
            #expect(!output.text.contains("FAIL manifest.sm3"), "\(name): \(output.text)")
        }
    }

    @Test func exportAndVerifyRefuseWhatTheyCannotDo() async throws {
        let scenario = try await LedgerScenario.make(label: "bundle-refusals")
        let root = Self.folder("refusals")
        defer { try? FileManager.default.removeItem(atPath: root) }
        // A role that may not read the whole ledger writes nothing.
        let refused = try await Self.export(scenario, principal: "a-operator", to: root)
        #expect(refused.status == 2 && refused.standardError.contains("may not verify the ledger"), "\(refused.standardError)")
        #expect(!FileManager.default.fileExists(atPath: root))
        // Not into a directory that holds something.
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/keep.txt"))
        let occupied = try await Self.export(scenario, to: root)
        #expect(occupied.status == 2 && occupied.standardError.contains("is not an empty directory"), "\(occupied.standardError)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["keep.txt"])
        // A directory that is no bundle.
        let notBundle = try runProcess(TestEnvironment.orgmatrixExecutable, ["ledger", "verify-bundle", root])
        #expect(notBundle.status == 2 && notBundle.standardError.contains("it is not a bundle"), "\(notBundle.standardError)")
    }

    /// One transfer proved online and checked offline against the orderer key the bundle carries.
    @Test func aProofForOneTransactionVerifiesOfflineWithTheBundlesOrdererKey() async throws {
        let scenario = try await LedgerScenario.make(label: "bundle-prove")
        let root = Self.folder("prove")
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try await Self.export(scenario, to: root).status == 0)
        let sealed = try String(contentsOfFile: root + "/blocks/0000000000/transactions.txt", encoding: .utf8).split(separator: "\n")
        let hash = String(try #require(sealed.last))
        let environment = try await SharedDatabase.environment()
        let (txFile, proofFile) = (root + "/../prove-\(hash).tx.json", root + "/../prove-\(hash).proof.json")
        defer { for file in [txFile, proofFile] { try? FileManager.default.removeItem(atPath: file) } }
        let prove = try runProcess(
            TestEnvironment.orgmatrixExecutable,
            [
                "ledger", "prove", "--tenant", scenario.fixture.code.rawValue, "--tx", hash, "--tx-out", txFile, "--out", proofFile,
                "--database-url", environment.appURLText,
            ],
            environment: ["ORGMATRIX_API_KEY": scenario.fixture.key("hq-auditor")])
        #expect(prove.status == 0, "\(prove.standardError)")
        let orderer = try #require(try Self.files(root).first { $0.hasPrefix("keys/orderer.v") && $0.hasSuffix(".pem") })
        let verify = try runProcess(
            TestEnvironment.orgmatrixExecutable,
            ["ledger", "verify-proof", "--tx", txFile, "--proof", proofFile, "--orderer-key", root + "/" + orderer])
        #expect(verify.status == 0 && verify.text.contains("signed by the orderer"), "\(verify.text) \(verify.standardError)")
        // The proved bytes are the bundle's file of that transaction.
        #expect(try Data(contentsOf: URL(fileURLWithPath: txFile)) == Data(contentsOf: URL(fileURLWithPath: root + "/transactions/\(hash.prefix(2))/\(hash)/tx.json")))
        // A hash no block seals is no proof.
        let none = try runProcess(
            TestEnvironment.orgmatrixExecutable,
            ["ledger", "prove", "--tenant", scenario.fixture.code.rawValue, "--tx", String(repeating: "ab", count: 32), "--database-url", environment.appURLText],
            environment: ["ORGMATRIX_API_KEY": scenario.fixture.key("hq-auditor")])
        #expect(none.status == 2 && none.standardError.contains("No ledger transaction"), "\(none.standardError)")
    }
}
