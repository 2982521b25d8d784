import Foundation
import OrgMatrixTestSupport
import Testing

/// `orgmatrix tenant apply` as an operator runs it.
@Suite struct TenantCommandTests {
    private func yaml(code: String) -> String {
        """
        tenant: {code: "\(code)", name: "CLI group"}
        orgs:
          - {code: "HQ", name: "总部", kind: "virtual", roles: ["settlement", "supervisory"]}
          - {code: "WH-1", name: "一号仓", kind: "physical", roles: ["fulfilment"],
             location: {province: "110000", city: "110100", county: "110105", latitude: "39.904200", longitude: "116.407400"}}
        relations:
          - {kind: "reports_to", from: "WH-1", to: "HQ"}
        principals:
          - {name: "hq-admin", org: "HQ", role: "hq_admin"}
          - {name: "wh-operator", org: "WH-1", role: "org_operator"}
        """
    }

    /// A folder holding a tenant file under a fresh code, and where its keys go.
    private func scratchTenant() throws -> (directory: URL, code: String, file: String, keys: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tenant-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let code = "t-" + UUID().uuidString.prefix(12).lowercased()
        let file = directory.appendingPathComponent("t.yaml").path
        try yaml(code: code).write(toFile: file, atomically: true, encoding: .utf8)
        return (directory, code, file, directory.appendingPathComponent("keys.json").path)
    }

    /// What ops/run does: the first run creates the tenant; a later run with a file that would
    /// revoke a principal only shows it and changes nothing.
    @Test func ifNewCreatesATenantOnceAndAfterwardsOnlyShowsTheDrift() async throws {
        let environment = try await SharedDatabase.environment()
        let (directory, code, file, keys) = try scratchTenant()
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = ["tenant", "apply", file, "--if-new", "--keys-out", keys, "--database-url", environment.ownerURLText]
        let first = try runProcess(TestEnvironment.orgmatrixExecutable, arguments)
        #expect(first.status == 0, "\(first.standardError)")
        #expect(first.text.contains("applied to tenant"), "\(first.text)")

        // The operator's principal is not in the file: a plain apply would revoke it.
        try yaml(code: code).replacingOccurrences(of: "  - {name: \"wh-operator\", org: \"WH-1\", role: \"org_operator\"}\n", with: "")
            .replacingOccurrences(of: "  - {name: \"wh-operator\", org: \"WH-1\", role: \"org_operator\"}", with: "")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let second = try runProcess(TestEnvironment.orgmatrixExecutable, arguments)
        #expect(second.status == 0, "\(second.standardError)")
        #expect(second.text.contains("exists; not re-applied"), "\(second.text)")
        #expect(second.text.contains("wh-operator"), "\(second.text)")
        let revoked = try await withConnection(environment.ownerURL) { connection in
            try await connection.query(
                """
                SELECT count(*)::int FROM principals p JOIN tenants t ON t.tenant_id = p.tenant_id
                WHERE t.code = \(code) AND p.revoked_at IS NOT NULL
                """, logger: testLogger
            ).collect().first!.decode(Int.self)
        }
        #expect(revoked == 0)
    }

    @Test func applyCreatesThenReportsUpToDateAndWritesKeysOnce() async throws {
        let environment = try await SharedDatabase.environment()
        let (directory, code, file, keys) = try scratchTenant()
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = ["tenant", "apply", file, "--database-url", environment.ownerURLText]

        let refused = try runProcess(TestEnvironment.orgmatrixExecutable, arguments)
        #expect(refused.status == 2)
        #expect(refused.standardError.contains("--keys-out"))

        let dryRun = try runProcess(TestEnvironment.orgmatrixExecutable, arguments + ["--dry-run"])
        #expect(dryRun.status == 0)
        #expect(dryRun.text.contains("dry run"))
        #expect(dryRun.text.contains("create principal wh-operator"))

        let first = try runProcess(TestEnvironment.orgmatrixExecutable, arguments + ["--keys-out", keys])
        #expect(first.status == 0, "\(first.standardError)")
        let written = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: keys)))
        #expect(Set(written.keys) == ["hq-admin", "wh-operator"])
        #expect(written.values.allSatisfy { $0.hasPrefix("omx_\(code)_") })
        let mode = try FileManager.default.attributesOfItem(atPath: keys)[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let second = try runProcess(TestEnvironment.orgmatrixExecutable, arguments)
        #expect(second.status == 0)
        #expect(second.text.contains("up to date"))
        #expect(try JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: keys))) == written)

        // A new principal's key joins the existing file; the keys already there stay.
        try (yaml(code: code) + "\n  - {name: \"wh-integration\", org: \"WH-1\", role: \"integration\"}")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let third = try runProcess(TestEnvironment.orgmatrixExecutable, arguments + ["--keys-out", keys])
        #expect(third.status == 0, "\(third.standardError) \(third.text)")
        let merged = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: keys)))
        #expect(Set(merged.keys) == ["hq-admin", "wh-operator", "wh-integration"])
        #expect(merged["hq-admin"] == written["hq-admin"] && merged["wh-operator"] == written["wh-operator"])
        #expect(try FileManager.default.attributesOfItem(atPath: keys)[.posixPermissions] as? Int == 0o600)
    }

    @Test func anInvalidFileExitsTwoNamingTheFields() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try yaml(code: "Bad Code").replacingOccurrences(of: "\"WH-1\", to", with: "\"WH-9\", to")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let output = try runProcess(TestEnvironment.orgmatrixExecutable, ["tenant", "apply", file, "--database-url", "postgres://x@127.0.0.1:1/x"])
        #expect(output.status == 2)
        #expect(output.standardError.contains("tenant.code"))
    }
}
