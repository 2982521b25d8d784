import Foundation
import OrgMatrixTestSupport
import PostgresNIO
import SMCrypto
import Testing

/// `orgmatrix keys …` and `orgmatrix ledger sign` as an operator and an org run them, checked
/// against the database and against plain OpenSSL.
@Suite struct KeysCommandTests {
    static let distid = "distid:1234567812345678"

    private func yaml(code: String) -> String {
        """
        tenant: {code: "\(code)", name: "CLI keys group"}
        orgs:
          - {code: "HQ", name: "总部", kind: "virtual", roles: ["settlement", "supervisory"]}
          - {code: "WH-1", name: "一号仓", kind: "physical", roles: ["fulfilment"],
             location: {province: "110000", city: "110100", county: "110105", latitude: "39.904200", longitude: "116.407400"}}
        relations:
          - {kind: "reports_to", from: "WH-1", to: "HQ"}
        principals:
          - {name: "hq-admin", org: "HQ", role: "hq_admin"}
        ledger:
          client_held: ["WH-1"]
          policies: {transfer.received: "AND(receiver, sender)"}
        """
    }

    private func withDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keys-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try await body(directory.path)
    }

    private func orgmatrix(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessOutput {
        try runProcess(TestEnvironment.orgmatrixExecutable, arguments, environment: environment)
    }

    /// A new SM2 key from OpenSSL: the private key file and its public key file.
    private func opensslKey(_ directory: String, _ name: String) throws -> (key: String, pub: String) {
        let (key, pub) = ("\(directory)/\(name).pem", "\(directory)/\(name).pub.pem")
        #expect(try runProcess("openssl", ["genpkey", "-algorithm", "SM2", "-out", key]).status == 0)
        #expect(try runProcess("openssl", ["pkey", "-in", key, "-pubout", "-out", pub]).status == 0)
        return (key, pub)
    }

    @Test func anOperatorRegistersListsAndRevokesAClientHeldKey() async throws {
        let environment = try await SharedDatabase.environment()
        let masterKey = try TestMasterKey.shared()
        try await withDirectory { directory in
            let code = "t-" + UUID().uuidString.prefix(12).lowercased()
            let file = "\(directory)/t.yaml"
            try yaml(code: code).write(toFile: file, atomically: true, encoding: .utf8)
            let database = ["--database-url", environment.ownerURLText]
            let applied = try orgmatrix(
                ["tenant", "apply", file, "--keys-out", "\(directory)/keys.json"] + database, environment: masterKey.environment)
            #expect(applied.status == 0, "\(applied.standardError)")
            #expect(applied.text.contains("generate a custodial key (version 1) for org HQ"), "\(applied.text)")
            #expect(applied.text.contains("generate a custodial key (version 1) for the orderer"), "\(applied.text)")
            #expect(!applied.text.contains("for org WH-1"), "\(applied.text)")

            let listed = try orgmatrix(["keys", "list", "--tenant", code] + database)
            #expect(listed.status == 0, "\(listed.standardError)")
            #expect(
                listed.text.split(separator: "\n").map { $0.split(separator: " ").prefix(3).joined(separator: " ") }
                    == ["HQ v1 custodial", "orderer v1 custodial"], "\(listed.text)")

            let (_, pub) = try opensslKey(directory, "wh-1")
            let registered = try orgmatrix(
                ["keys", "register", "--tenant", code, "--org", "WH-1", "--public-key", pub] + database)
            #expect(registered.status == 0, "\(registered.standardError)")
            #expect(registered.text.contains("WH-1's client-held key version 1"), "\(registered.text)")

            // Each refusal exits 2 naming the field, and registers nothing.
            let again = try orgmatrix(["keys", "register", "--tenant", code, "--org", "WH-1", "--public-key", pub] + database)
            #expect(
                again.status == 2 && again.standardError.contains("public_key") && again.standardError.contains("duplicate-key"),
                "\(again.standardError)")
            let (_, other) = try opensslKey(directory, "hq")
            let custodial = try orgmatrix(
                ["keys", "register", "--tenant", code, "--org", "HQ", "--public-key", other] + database)
            #expect(
                custodial.status == 2 && custodial.standardError.contains("org: HQ is not client-held"),
                "\(custodial.standardError)")
            try "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".write(
                toFile: "\(directory)/bad.pem", atomically: true, encoding: .utf8)
            let malformed = try orgmatrix(
                ["keys", "register", "--tenant", code, "--org", "WH-1", "--public-key", "\(directory)/bad.pem"] + database)
            #expect(malformed.status == 2 && malformed.standardError.contains("public_key"), "\(malformed.standardError)")
            let missing = try orgmatrix(
                ["keys", "register", "--tenant", code, "--org", "WH-1", "--public-key", "\(directory)/none.pem"] + database)
            #expect(missing.status == 2 && missing.standardError.contains("none.pem"), "\(missing.standardError)")
            let nobody = try orgmatrix(
                [
                    "keys", "register", "--tenant", "t-nobody-\(UUID().uuidString.prefix(6).lowercased())", "--org", "WH-1",
                    "--public-key", other,
                ] + database)
            #expect(nobody.status == 2 && nobody.standardError.contains("tenant"), "\(nobody.standardError)")

            let revoked = try orgmatrix(
                ["keys", "revoke", "--tenant", code, "--org", "WH-1", "--version", "1", "--reason", "the laptop was stolen"]
                    + database)
            #expect(revoked.status == 0, "\(revoked.standardError)")
            let twice = try orgmatrix(
                ["keys", "revoke", "--tenant", code, "--org", "WH-1", "--version", "1", "--reason", "again"] + database)
            #expect(twice.status == 2 && twice.standardError.contains("version"), "\(twice.standardError)")
            let unknown = try orgmatrix(
                ["keys", "revoke", "--tenant", code, "--org", "orderer", "--version", "9", "--reason", "x"] + database)
            #expect(unknown.status == 2 && unknown.standardError.contains("no-such-key"), "\(unknown.standardError)")

            let after = try orgmatrix(["keys", "list", "--tenant", code] + database)
            let line = try #require(after.text.split(separator: "\n").first { $0.hasPrefix("WH-1 v1 client") }, "\(after.text)")
            #expect(line.contains("revoked") && line.contains("the laptop was stolen"), "\(line)")
            let fingerprint = Hex.encode(
                SM3.hash(try SM2PublicKey(pemRepresentation: String(contentsOfFile: pub, encoding: .utf8)).derRepresentation))
            #expect(line.hasSuffix("sm3 \(fingerprint.prefix(16))"), "\(line)")

            let audited = try await withConnection(environment.ownerURL) { connection in
                try await connection.query(
                    """
                    SELECT a.action, a.subject FROM audit_events a JOIN tenants t USING (tenant_id)
                    WHERE t.code = \(code) AND a.action LIKE 'key.%' ORDER BY a.event_id
                    """, logger: testLogger
                ).collect().map { try $0.decode((String, String).self) }
            }
            #expect(audited.map(\.0) == ["key.register", "key.revoke"] && audited.allSatisfy { $0.1 == "WH-1" })
        }
    }

    /// A tenant file with a ledger section needs the master key to apply, and gets none from a
    /// file others can read; either way nothing is created, and the reason names what to fix.
    @Test func applyingKeysNeedsAMasterKeyFileOnlyItsOwnerReads() async throws {
        let environment = try await SharedDatabase.environment()
        try await withDirectory { directory in
            let code = "t-" + UUID().uuidString.prefix(12).lowercased()
            let file = "\(directory)/t.yaml"
            try yaml(code: code).write(toFile: file, atomically: true, encoding: .utf8)
            let arguments = [
                "tenant", "apply", file, "--keys-out", "\(directory)/keys.json", "--database-url", environment.ownerURLText,
            ]
            let unset = try orgmatrix(arguments, environment: ["ORGMATRIX_MASTER_KEY_FILE": ""])
            #expect(
                unset.status == 2 && unset.standardError.contains("ORGMATRIX_MASTER_KEY_FILE is not set"),
                "\(unset.standardError)")
            let exposed = "\(directory)/master.key"
            try TestMasterKey.write(Hex.encode(SMCrypto.randomBytes(16)), to: exposed, mode: 0o644)
            let open = try orgmatrix(arguments, environment: ["ORGMATRIX_MASTER_KEY_FILE": exposed])
            #expect(
                open.status == 2 && open.standardError.contains(exposed) && open.standardError.contains("0644"),
                "\(open.standardError)")
            let tenants = try await withConnection(environment.ownerURL) { connection in
                try await connection.query("SELECT count(*)::int FROM tenants WHERE code = \(code)", logger: testLogger)
                    .collect().first!.decode(Int.self)
            }
            #expect(tenants == 0)
            let dryRun = try orgmatrix(
                ["tenant", "apply", file, "--dry-run", "--database-url", environment.ownerURLText],
                environment: ["ORGMATRIX_MASTER_KEY_FILE": ""])
            #expect(dryRun.status == 0 && dryRun.text.contains("generate a custodial key"), "\(dryRun.standardError)")
        }
    }

    /// `ledger sign` writes exactly what OpenSSL verifies, to standard output or a file, and
    /// OpenSSL's own signature of the same file verifies with ours.
    @Test func aLedgerSignatureVerifiesWithOpenSSLAndViceVersa() async throws {
        try await withDirectory { directory in
            let (key, pub) = try opensslKey(directory, "org")
            let file = "\(directory)/tx.json"
            try Data(#"{"body":{"lines":[{"item":"鲜奶","quantity":"10"}]},"type":"transfer.received","version":1}"#.utf8)
                .write(to: URL(fileURLWithPath: file))
            let signed = try orgmatrix(["ledger", "sign", "--key", key, file])
            #expect(signed.status == 0, "\(signed.standardError)")
            let sig = "\(directory)/ours.der"
            try Data(signed.standardOutput).write(to: URL(fileURLWithPath: sig))
            let verified = try runProcess(
                "openssl", ["dgst", "-sm3", "-verify", pub, "-sigopt", Self.distid, "-signature", sig, file])
            #expect(verified.text.contains("Verified OK"), "\(verified.text) \(verified.standardError)")

            let toFile = "\(directory)/ours-out.der"
            #expect(try orgmatrix(["ledger", "sign", "--key", key, file, "--out", toFile]).status == 0)
            let verifiedFile = try runProcess(
                "openssl", ["dgst", "-sm3", "-verify", pub, "-sigopt", Self.distid, "-signature", toFile, file])
            #expect(verifiedFile.text.contains("Verified OK"))

            let theirs = "\(directory)/theirs.der"
            #expect(
                try runProcess("openssl", ["dgst", "-sm3", "-sign", key, "-sigopt", Self.distid, "-out", theirs, file]).status
                    == 0)
            let ours = try orgmatrix(["crypto", "sm2", "verify", "--pub", pub, "--in", file, "--sig", theirs])
            #expect(ours.status == 0 && ours.text == "OK\n", "\(ours.standardError)")
            let publicKey = try SM2PublicKey(pemRepresentation: String(contentsOfFile: pub, encoding: .utf8))
            #expect(
                try publicKey.isValidSignature(
                    SM2Signature(derRepresentation: Array(try Data(contentsOf: URL(fileURLWithPath: theirs)))),
                    for: Array(try Data(contentsOf: URL(fileURLWithPath: file)))))

            // A signature over other bytes does not verify: it is over exactly the file.
            try Data("tampered".utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
            let tampered = try runProcess(
                "openssl", ["dgst", "-sm3", "-verify", pub, "-sigopt", Self.distid, "-signature", sig, file])
            #expect(tampered.status != 0)
            let unusable = try orgmatrix(["ledger", "sign", "--key", pub, file])
            #expect(unusable.status == 2 && unusable.standardOutput.isEmpty, "\(unusable.standardError)")
        }
    }
}
