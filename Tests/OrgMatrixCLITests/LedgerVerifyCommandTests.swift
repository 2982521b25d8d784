import Foundation
import OrgMatrixTestSupport
import PostgresNIO
import Testing

/// `orgmatrix ledger verify` as an auditor runs it: the key from the environment or a file, a
/// human report or JSON, and its exit status (0 clean, 1 failures, 2 usage or configuration).
@Suite struct LedgerVerifyCommandTests {
    private func orgmatrix(_ arguments: [String], key: String?) throws -> ProcessOutput {
        try runProcess(
            TestEnvironment.orgmatrixExecutable, ["ledger", "verify"] + arguments,
            // An empty value is no key.
            environment: ["ORGMATRIX_API_KEY": key ?? ""])
    }

    @Test func anAuditorVerifiesACleanLedgerAndATamperedOne() async throws {
        let scenario = try await LedgerScenario.make(label: "verify-cli")
        let environment = try await SharedDatabase.environment()
        let (code, auditor) = (scenario.fixture.code.rawValue, scenario.fixture.key("hq-auditor"))
        let database = ["--database-url", environment.appURLText]
        let clean = try orgmatrix(["--tenant", code] + database, key: auditor)
        #expect(clean.status == 0, "\(clean.standardError)")
        #expect(clean.text.hasPrefix("ledger of tenant \(code): clean\n"), "\(clean.text)")
        #expect(clean.text.contains("transactions 15 (committed 13, pending 1, disputed 1)"), "\(clean.text)")
        // Not a terminal: no progress bar.
        #expect(!clean.standardError.contains("verifying ["), "\(clean.standardError)")
        let asJSON = try orgmatrix(["--tenant", code, "--json"] + database, key: auditor)
        #expect(asJSON.status == 0, "\(asJSON.standardError)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(asJSON.standardOutput)) as? [String: Any])
        #expect(report["clean"] as? Bool == true && report["tenant"] as? String == code && report["failureCount"] as? Int == 0)

        // The owner edits a posted figure: the books no longer state what was signed.
        let claimed = scenario.claimed
        try await scenario.tamper(disabling: ["transfers"]) { connection, tenant in
            try await connection.query(
                "UPDATE transfers SET true_up_fen = true_up_fen + 1 WHERE tenant_id = \(tenant) AND transfer_id = \(claimed)",
                logger: testLogger)
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("verify-\(UUID().uuidString)").path
        try TestMasterKey.write(scenario.fixture.key("hq-admin") + "\n", to: folder, mode: 0o600)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let tampered = try orgmatrix(["--tenant", code, "--key-file", folder] + database, key: nil)
        #expect(tampered.status == 1, "\(tampered.standardError)")
        #expect(tampered.text.hasPrefix("ledger of tenant \(code): 1 failure\n"), "\(tampered.text)")
        #expect(tampered.text.contains("transfers[\(claimed)].true_up_fen: expected"), "\(tampered.text)")
        #expect(tampered.text.contains("[book-mismatch]"), "\(tampered.text)")
        let tamperedJSON = try orgmatrix(["--tenant", code, "--json"] + database, key: auditor)
        #expect(tamperedJSON.status == 1)
        let failures = try #require(
            (try JSONSerialization.jsonObject(with: Data(tamperedJSON.standardOutput)) as? [String: Any])?["failures"]
                as? [[String: Any]])
        #expect(
            failures.map { $0["kind"] as? String } == ["book-mismatch"]
                && failures.first?["field"] as? String == "transfers[\(claimed)].true_up_fen")
    }

    @Test func usageAndConfigurationProblemsExitTwoNamingTheProblem() async throws {
        let scenario = try await LedgerScenario.make(label: "verify-cli-usage")
        let environment = try await SharedDatabase.environment()
        let code = scenario.fixture.code.rawValue
        let database = ["--database-url", environment.appURLText]
        let other = "omx_t-000000000000_" + String(repeating: "ab", count: 24)
        let refusals: [([String], String?, String)] = [
            (database, scenario.fixture.key("hq-auditor"), "--tenant is required"),
            (["--tenant", code] + database, nil, "no API key"),
            (["--tenant", code] + database, "not-a-key", "is not one"),
            (["--tenant", code] + database, other, "the API key is tenant t-000000000000's, not \(code)'s"),
            (["--tenant", code, "--key-file", "/nonexistent/key"] + database, nil, "--key-file"),
            (["--tenant", code, "--database-url", "mysql://x"], scenario.fixture.key("hq-auditor"), "the database URL"),
            // Known keys of roles that may not verify, and an unknown key of the tenant.
            (["--tenant", code] + database, scenario.fixture.key("a-operator"), "may not verify the ledger"),
            (["--tenant", code] + database, scenario.fixture.key("qa-supervisor"), "may not verify the ledger"),
            (["--tenant", code] + database, "omx_\(code)_" + String(repeating: "cd", count: 24), "unknown or revoked"),
        ]
        for (arguments, key, message) in refusals {
            let output = try orgmatrix(arguments, key: key)
            #expect(output.status == 2, "\(arguments) → \(output.status): \(output.standardError)")
            #expect(output.standardError.contains(message), "\(arguments): \(output.standardError)")
            #expect(output.standardOutput.isEmpty, "\(arguments): \(output.text)")
        }
    }
}
