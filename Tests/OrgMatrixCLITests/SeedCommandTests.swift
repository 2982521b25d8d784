import Foundation
import OrgMatrixTestSupport
import Testing

/// `orgmatrix seed load` and `seed generate` as ops/run and an operator run them.
@Suite struct SeedCommandTests {
    /// A scratch folder with the shipped dairy tenant applied under a fresh code, its keys, and
    /// the shipped demo seed rewritten for that code.
    private struct DairyTenant {
        let directory: URL
        let code: String
        let keys: String
        let seedText: String

        func writeSeed(_ text: String, name: String = "dairy-demo.yaml") throws -> String {
            let file = directory.appendingPathComponent(name).path
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }

        /// The 1-based line of the first line of `seedText` containing `text`.
        func line(of text: String, after marker: String) throws -> Int {
            let lines = seedText.components(separatedBy: "\n")
            let start = try #require(lines.firstIndex { $0.hasPrefix(marker) })
            return try #require(lines[start...].firstIndex { $0.contains(text) }) + 1
        }
    }

    private func dairyTenant() async throws -> DairyTenant {
        let environment = try await SharedDatabase.environment()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("seed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let code = "t-" + UUID().uuidString.prefix(12).lowercased()
        let root = TestEnvironment.repositoryRoot
        let tenantFile = directory.appendingPathComponent("dairy.yaml").path
        try String(contentsOf: root.appendingPathComponent("Tenants/dairy.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "code: \"dairy\"", with: "code: \"\(code)\"").write(
                toFile: tenantFile, atomically: true, encoding: .utf8)
        let keys = directory.appendingPathComponent("keys.json").path
        let applied = try runProcess(
            TestEnvironment.orgmatrixExecutable,
            ["tenant", "apply", tenantFile, "--keys-out", keys, "--database-url", environment.ownerURLText],
            environment: try TestMasterKey.shared().environment)
        #expect(applied.status == 0, "\(applied.standardError)")
        let seedText = try String(contentsOf: root.appendingPathComponent("Seeds/dairy-demo.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "\ntenant: dairy\n", with: "\ntenant: \(code)\n")
        return DairyTenant(directory: directory, code: code, keys: keys, seedText: seedText)
    }

    /// Rows of the tenant's document and stock tables, read as the owner.
    private func counts(tenant code: String) async throws -> [String: Int] {
        let environment = try await SharedDatabase.environment()
        let row = try await withConnection(environment.ownerURL) { connection in
            try await connection.query(
                """
                SELECT (SELECT count(*)::int FROM items x WHERE x.tenant_id = t.tenant_id),
                       (SELECT count(*)::int FROM stock_counts x WHERE x.tenant_id = t.tenant_id),
                       (SELECT count(*)::int FROM purchase_receipts x WHERE x.tenant_id = t.tenant_id),
                       (SELECT count(*)::int FROM transfers x WHERE x.tenant_id = t.tenant_id),
                       (SELECT count(*)::int FROM transfers x WHERE x.tenant_id = t.tenant_id AND x.status = 'received'),
                       (SELECT count(*)::int FROM sales_issues x WHERE x.tenant_id = t.tenant_id),
                       (SELECT count(*)::int FROM stock_moves x WHERE x.tenant_id = t.tenant_id),
                       (SELECT count(*)::int FROM audit_events x WHERE x.tenant_id = t.tenant_id)
                FROM tenants t WHERE t.code = \(code)
                """, logger: testLogger
            ).collect().first!.decode((Int, Int, Int, Int, Int, Int, Int, Int).self)
        }
        return [
            "items": row.0, "stock_counts": row.1, "purchase_receipts": row.2, "transfers": row.3, "received": row.4,
            "sales_issues": row.5,
            "stock_moves": row.6, "audit_events": row.7,
        ]
    }

    /// A file with a problem exits 2 and a refusal while posting exits 1, each naming file, line
    /// and field, with nothing posted; then the shipped file loads, once.
    @Test func seedLoadPostsNothingForABadFileAndLoadsTheDemoOnce() async throws {
        let environment = try await SharedDatabase.environment()
        let tenant = try await dairyTenant()
        defer { try? FileManager.default.removeItem(at: tenant.directory) }
        func load(_ file: String, keys: String? = nil) throws -> ProcessOutput {
            try runProcess(
                TestEnvironment.orgmatrixExecutable,
                ["seed", "load", file, "--keys", keys ?? tenant.keys, "--database-url", environment.appURLText])
        }

        let initial = try await counts(tenant: tenant.code)
        #expect(initial["items"] == 0)

        // A YAML number where a quantity string belongs: caught before anything is posted.
        let numberLine = try tenant.line(of: #"quantity: "6000""#, after: "purchases:")
        let badType = try tenant.writeSeed(
            tenant.seedText.replacingOccurrences(
                of: #"quantity: "6000", unitCostFen: 376"#, with: "quantity: 6000, unitCostFen: 376"), name: "type.yaml")
        let typed = try load(badType)
        #expect(typed.status == 2)
        #expect(
            typed.standardError.contains(
                "\(badType):\(numberLine): purchases[0].lines[0].quantity: must be a quoted decimal string"),
            "\(typed.standardError)")

        // A principal the keys file does not know.
        var keys = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: tenant.keys)))
        keys["gz-operator"] = nil
        let partialKeys = tenant.directory.appendingPathComponent("partial.json").path
        try JSONEncoder().encode(keys).write(to: URL(fileURLWithPath: partialKeys))
        let good = try tenant.writeSeed(tenant.seedText)
        let unknown = try load(good, keys: partialKeys)
        #expect(unknown.status == 2)
        #expect(unknown.standardError.contains(": gz-operator has no key in \(partialKeys)"), "\(unknown.standardError)")

        // An oversell the Store refuses halfway through: all of it rolls back.
        let saleLine = try tenant.line(of: #"quantity: "900""#, after: "sales:")
        let oversold = try tenant.writeSeed(
            tenant.seedText.replacingOccurrences(
                of: #"quantity: "900", unitPriceFen"#, with: #"quantity: "900000", unitPriceFen"#), name: "oversold.yaml")
        let refused = try load(oversold)
        #expect(refused.status == 1)
        #expect(
            refused.standardError.contains(
                "\(oversold):\(saleLine): sales[0].lines[0].quantity: Insufficient stock of MILK-FRESH at SJZ-FW"),
            "\(refused.standardError)")
        #expect(refused.standardError.contains("nothing was loaded"))
        #expect(try await counts(tenant: tenant.code) == initial)

        let first = try load(good)
        #expect(first.status == 0, "\(first.standardError)")
        let figures = try #require(
            first.text.firstMatch(
                of:
                    /(\d+) items, (\d+) opening stock count\(s\), (\d+) purchase receipts, (\d+) transfers \((\d+) dispatched, (\d+) received\), (\d+) sales/
            ),
            "\(first.text)")
        let loaded = try await counts(tenant: tenant.code)
        #expect(
            [Int(figures.1), Int(figures.2), Int(figures.3), Int(figures.4), Int(figures.6), Int(figures.7)]
                == [
                    loaded["items"], loaded["stock_counts"], loaded["purchase_receipts"], loaded["transfers"], loaded["received"],
                    loaded["sales_issues"],
                ])
        #expect(loaded["sales_issues"]! > 0 && loaded["received"]! > 0)

        let second = try load(good)
        #expect(second.status == 0)
        #expect(second.text.contains("has items already"), "\(second.text)")
        #expect(try await counts(tenant: tenant.code) == loaded)
    }

    /// The same parameters make the same tenant; another seed another one. The file gives them,
    /// flags override.
    @Test func generatedTenantsAreReproducible() async throws {
        let environment = try await SharedDatabase.environment()
        let parameters = TestEnvironment.repositoryRoot.appendingPathComponent("Seeds/generated.yaml").path
        func generate(seed: Int) throws -> String {
            let code = "g-" + UUID().uuidString.prefix(12).lowercased()
            let output = try runProcess(
                TestEnvironment.orgmatrixExecutable,
                [
                    "seed", "generate", parameters, "--tenant", code, "--orgs", "12", "--items", "5", "--moves", "400", "--seed",
                    "\(seed)",
                    "--database-url", environment.ownerURLText,
                ])
            #expect(output.status == 0, "\(output.standardError)")
            #expect(
                output.text.contains("tenant \(code): 12 warehouses, 5 items, 400 stock moves (seed \(seed))"), "\(output.text)")
            return code
        }
        func fingerprint(_ code: String) async throws -> String {
            try await withConnection(environment.ownerURL) { connection in
                try await connection.query(
                    """
                    SELECT md5(string_agg(o.code || '/' || i.code || '/' || m.quantity_scaled || '/' || m.value_fen, ',' ORDER BY m.move_id))
                           || (SELECT md5(string_agg(kind || from_code || to_code || coalesce(distance_km, 0), ',' ORDER BY kind, from_code, to_code))
                               FROM relations r WHERE r.tenant_id = t.tenant_id)
                    FROM tenants t JOIN stock_moves m ON m.tenant_id = t.tenant_id
                    JOIN orgs o ON o.tenant_id = m.tenant_id AND o.org_id = m.org_id
                    JOIN items i ON i.tenant_id = m.tenant_id AND i.item_id = m.item_id
                    WHERE t.code = \(code) GROUP BY t.tenant_id
                    """, logger: testLogger
                ).collect().first!.decode(String.self)
            }
        }
        let first = try await fingerprint(try generate(seed: 7))
        let again = try await fingerprint(try generate(seed: 7))
        let other = try await fingerprint(try generate(seed: 8))
        #expect(first == again)
        #expect(first != other)
    }

    @Test func badGeneratorParametersExitTwoNamingFileLineAndField() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gen-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try "tenant: generated\norgs: 100\nitems: 50\nmoves: lots\nseed: 42\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let output = try runProcess(
            TestEnvironment.orgmatrixExecutable, ["seed", "generate", file, "--database-url", "postgres://x@127.0.0.1:1/x"])
        #expect(output.status == 2)
        #expect(
            output.standardError.contains(#"\#(file):4: moves: must be a whole number in digits, not text "lots""#),
            "\(output.standardError)")
        let flag = try runProcess(TestEnvironment.orgmatrixExecutable, ["seed", "generate", file, "--orgs", "1"])
        #expect(flag.status != 0)
        #expect(flag.standardError.contains("--orgs must be 2–100000"), "\(flag.standardError)")
    }
}
