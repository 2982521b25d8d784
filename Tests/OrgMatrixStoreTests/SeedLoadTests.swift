import Foundation
import Metrics
import OrgMatrixCore
import OrgMatrixStore
import OrgMatrixTestSupport
import PostgresNIO
import Testing

/// Seed files loaded through the sandboxed Store calls, as the principals they name, in one
/// transaction.
@Suite struct SeedLoadTests {
    private func load(_ yaml: String, keys: [String: String]) async throws -> SeedOutcome {
        let environment = try await SharedDatabase.environment()
        let seed = try SeedFile.parse(yaml: yaml, file: "seed.yaml")
        let apiKeys = try seed.keys(from: keys, keysFile: "keys.json")
        // With the master key, as `ops/run` loads the demo: it seals the carriers' private values.
        let masterKey = try TestMasterKey.shared().key
        return try await withClient(environment.appURL, maximumConnections: 1) { client in
            try await Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance, masterKey: masterKey)
                .loadSeed(seed, keys: apiKeys, logger: testLogger)
        }
    }

    /// The refusal a load ends with; nil when it loads.
    private func refusal(_ yaml: String, keys: [String: String]) async throws -> String? {
        do {
            _ = try await load(yaml, keys: keys)
            return nil
        } catch let problem as SeedProblem {
            return problem.description
        }
    }

    /// The shipped demo data, loaded into the shipped dairy tenant (under a fresh code): every
    /// org holds on hand and in transit exactly what the file's entries move, worked out here
    /// from the file itself; a second load changes nothing.
    @Test func theDemoSeedLoadsAndEachOrgHoldsWhatItsEntriesMove() async throws {
        let environment = try await SharedDatabase.environment()
        let code = try TenantCode("t-" + UUID().uuidString.prefix(12).lowercased())
        let root = TestEnvironment.repositoryRoot
        let tenantText = try String(contentsOf: root.appendingPathComponent("Tenants/dairy.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "code: \"dairy\"", with: "code: \"\(code)\"")
        let definition = try TenantDefinition.validate(try TenantFile.decode(yaml: tenantText))
        let masterKey = try TestMasterKey.shared().key
        let outcome = try await withClient(environment.ownerURL) { client in
            try await TenantAdmin(client: client, logger: testLogger, masterKey: masterKey).apply(definition, dryRun: false)
        }
        let seedText = try String(contentsOf: root.appendingPathComponent("Seeds/dairy-demo.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "\ntenant: dairy\n", with: "\ntenant: \(code)\n")
        let seed = try SeedFile.parse(yaml: seedText, file: "Seeds/dairy-demo.yaml")

        // What the entries move, org by org and item by item, in base units × scale.
        let orgOf = Dictionary(uniqueKeysWithValues: definition.principals.map { ($0.name.rawValue, $0.org.rawValue) })
        var scales: [String: Int64] = [:]
        var onHand: [String: Int64] = [:]
        var inTransit: [String: Int64] = [:]
        var transfers: [Int: (from: String, to: String, lines: [PostingLine])] = [:]
        var documents = (purchases: 0, counts: 0, received: 0, sales: 0)
        func scaled(_ text: String, _ item: String) throws -> Int64 {
            try ScaledQuantity.parse(text, scale: scales[item]!, allowZero: true)
        }
        for step in seed.steps {
            let org = try #require(orgOf[step.principal])
            switch step.action {
            case .createItem(let item):
                scales[item.code] = item.quantityScale
            case .openingStock(_, let lines):
                documents.counts += 1
                for line in lines { onHand["\(org)/\(line.itemCode)", default: 0] += try scaled(line.counted, line.itemCode) }
            case .purchase(_, let lines):
                documents.purchases += 1
                for line in lines { onHand["\(org)/\(line.itemCode)", default: 0] += try scaled(line.quantity, line.itemCode) }
            case .createTransfer(let transfer, let to, let lines):
                transfers[transfer] = (org, to.rawValue, lines)
            case .dispatchTransfer(let transfer, _):
                let order = try #require(transfers[transfer])
                for line in order.lines {
                    let quantity = try scaled(line.quantity, line.itemCode)
                    onHand["\(order.from)/\(line.itemCode)", default: 0] -= quantity
                    inTransit["\(order.from)/\(line.itemCode)", default: 0] += quantity
                }
            case .receiveTransfer(let transfer, let report):
                documents.received += 1
                let order = try #require(transfers[transfer])
                for line in order.lines {
                    let quantity = try scaled(line.quantity, line.itemCode)
                    let lost = try report.lost[line.itemCode].map { try scaled($0, line.itemCode) } ?? 0
                    inTransit["\(order.from)/\(line.itemCode)", default: 0] -= quantity
                    onHand["\(order.to)/\(line.itemCode)", default: 0] += quantity - lost
                }
            case .sale(_, _, let lines):
                documents.sales += 1
                for line in lines { onHand["\(org)/\(line.itemCode)", default: 0] -= try scaled(line.quantity, line.itemCode) }
            }
        }

        let loaded = try await load(seedText, keys: outcome.keys)
        guard case .loaded(let counts) = loaded else { Issue.record("not loaded: \(loaded)"); return }
        #expect(
            counts.items == scales.count && counts.purchases == documents.purchases && counts.openingStocks == documents.counts)
        #expect(counts.transfers == transfers.count && counts.received == documents.received && counts.sales == documents.sales)

        let stored = try await withConnection(environment.ownerURL) { connection in
            try await connection.query(
                """
                SELECT o.code || '/' || i.code, b.on_hand_scaled, b.in_transit_scaled, b.value_fen
                FROM stock_balances b JOIN tenants t ON t.tenant_id = b.tenant_id
                JOIN orgs o ON o.tenant_id = b.tenant_id AND o.org_id = b.org_id
                JOIN items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
                WHERE t.code = \(code.rawValue)
                """, logger: testLogger
            ).collect().map { try $0.decode((String, Int64, Int64, Int64).self) }
        }
        #expect(
            Dictionary(uniqueKeysWithValues: stored.map { ($0.0, $0.1) }).filter { $0.value != 0 }
                == onHand.filter { $0.value != 0 })
        #expect(
            Dictionary(uniqueKeysWithValues: stored.map { ($0.0, $0.2) }).filter { $0.value != 0 }
                == inTransit.filter { $0.value != 0 })
        #expect(stored.allSatisfy { $0.1 > 0 || $0.3 == 0 }, "a balance with nothing on hand keeps no value")
        #expect(onHand.values.contains { $0 > 0 } && onHand.keys.contains { $0.hasPrefix("GZ-FW/") })

        func moves() async throws -> Int {
            try await withConnection(environment.ownerURL) { connection in
                try await connection.query(
                    "SELECT count(*)::int FROM stock_moves m JOIN tenants t ON t.tenant_id = m.tenant_id WHERE t.code = \(code.rawValue)",
                    logger: testLogger
                ).collect().first!.decode(Int.self)
            }
        }
        let before = try await moves()
        #expect(try await load(seedText, keys: outcome.keys) == .tenantHasItems)
        #expect(try await moves() == before)
    }

    /// The small seed posts each entry as the principal it names; loading it again changes nothing.
    @Test func aSeedLoadsOnceIntoATenantWithoutItemsAsThePrincipalsItNames() async throws {
        let fixture = try await TenantFixture.create(label: "seed")
        let yaml = SmallSeed.yaml(tenant: fixture.code.rawValue)
        guard case .loaded(let counts) = try await load(yaml, keys: fixture.keys) else { Issue.record("not loaded"); return }
        let posted = [
            counts.items, counts.openingStocks, counts.purchases, counts.transfers, counts.dispatched, counts.received,
            counts.sales,
        ]
        #expect(posted == [1, 0, 1, 1, 1, 1, 1] as [Int])
        let environment = try await SharedDatabase.environment()
        let authors = try await withConnection(environment.ownerURL) { connection in
            try await connection.query(
                """
                SELECT m.document_type || '@' || o.code, string_agg(DISTINCT p.name, ',')
                FROM stock_moves m JOIN principals p ON p.tenant_id = m.tenant_id AND p.principal_id = m.principal_id
                JOIN orgs o ON o.tenant_id = m.tenant_id AND o.org_id = m.org_id
                WHERE m.tenant_id = \(fixture.tenantID.rawValue) GROUP BY 1
                """, logger: testLogger
            ).collect().map { try $0.decode((String, String).self) }
        }
        #expect(
            Dictionary(uniqueKeysWithValues: authors) == [
                "purchase_receipt@WH-A": "a-operator", "transfer_dispatch@WH-A": "a-operator",
                "transfer_receipt@WH-A": "b-operator",
                "transfer_receipt@WH-B": "b-operator", "sales_issue@WH-A": "a-operator",
            ])
        #expect(try await fixture.booksDiscrepancies() == [])
        let before = try await fixture.rowCounts()
        #expect(try await load(yaml, keys: fixture.keys) == .tenantHasItems)
        #expect(try await fixture.rowCounts() == before)
    }

    /// Refusals of the Store or the database while loading: each names the entry's file, line
    /// and field, and the tenant is left exactly as it was (the load is one transaction).
    static let refusals: [(old: String, new: String, expected: String)] = [
        (
            #"quantity: "10", unitPriceFen"#, #"quantity: "70", unitPriceFen"#,
            "seed.yaml:28: sales[0].lines[0].quantity: Insufficient stock of MILK-FRESH at WH-A: 60.000 L on hand, short by 10.000 L."
        ),
        (
            "to: WH-B", "to: WH-C",
            "seed.yaml:13: transfers[0].to: No transfers_with lane from WH-A to WH-C in your sandbox at that time."
        ),
        (
            "    by: a-operator\n    supplier", "    by: hq-auditor\n    supplier",
            "seed.yaml:5: purchases[0]: The auditor role may not "
        ),
        ("      by: b-operator", "      by: c-operator", "seed.yaml:18: transfers[0].received: No transfer "),
        (
            "supplier: 牧场", "supplier: \(String(repeating: "牧", count: 201))",
            "seed.yaml:7: purchases[0].supplier: supplier must be 1–200 characters."
        ),
        (
            "freightFen: 297", "freightFen: 1000000000000000001",
            "seed.yaml:20: transfers[0].received.freightFen: freightFen must be 0–"
        ),
        (
            #"lost: {MILK-FRESH: "0.5"}"#, #"lost: {MILK-FRESH: "40.001"}"#,
            "seed.yaml:22: transfers[0].received.lost.MILK-FRESH: More was lost than was sent."
        ),
        (
            "unitCostFen: 380", "unitCostFen: 10000000001",
            "seed.yaml:9: purchases[0].lines[0].unitCostFen: Unit amounts are 0–10000000000 fen"
        ),
        (
            "sales:\n",
            "openingStock:\n  - date: 2026-01-06\n    by: a-operator\n    reason: 期初库存\n    lines:\n      - {item: MILK-FRESH, quantity: \"5\", unitCostFen: 380}\nsales:\n",
            "seed.yaml:28: openingStock[0].lines[0].quantity: WH-A held 50.000 L of MILK-FRESH before its opening stock"
        ),
    ]

    @Test(arguments: refusals.indices)
    func aRefusalWhileLoadingNamesItsEntryAndChangesNothing(case index: Int) async throws {
        let fixture = try await TenantFixture.create(label: "refused")
        let (old, new, expected) = Self.refusals[index]
        let before = try await fixture.rowCounts()
        let found = try await refusal(
            SmallSeed.yaml(tenant: fixture.code.rawValue, replacing: old, with: new), keys: fixture.keys)
        #expect(found?.hasPrefix(expected) == true, "expected \(expected), got \(found ?? "a load")")
        #expect(try await fixture.rowCounts() == before)
    }

    /// A keys file whose key for a principal is another principal's, or no key the database
    /// knows, is caught before that principal posts anything.
    @Test func aKeyOfAnotherPrincipalOrAnUnknownKeyIsRefusedAtItsBy() async throws {
        let fixture = try await TenantFixture.create(label: "keys")
        var keys = fixture.keys
        keys["b-operator"] = fixture.key("c-operator")
        let before = try await fixture.rowCounts()
        let found = try await refusal(SmallSeed.yaml(tenant: fixture.code.rawValue), keys: keys)
        #expect(found == "seed.yaml:19: transfers[0].received.by: the key given for b-operator is c-operator's")
        keys["b-operator"] = APIKey.generate(tenant: fixture.code).text
        let unknown = try await refusal(SmallSeed.yaml(tenant: fixture.code.rawValue), keys: keys)
        #expect(unknown == "seed.yaml:19: transfers[0].received.by: the key of b-operator: The API key is unknown or revoked.")
        #expect(try await fixture.rowCounts() == before)
    }
}
