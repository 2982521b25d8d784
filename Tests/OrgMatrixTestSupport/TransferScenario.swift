import Foundation
import Metrics
import OrgMatrixCore
import OrgMatrixStore
import PostgresNIO

/// A fixture tenant with fresh milk and three transfers of 5 L from WH-A to WH-B, posted
/// through the Store as the API posts them: one created, one dispatched, one received (freight
/// 40 fen, insurance 7 fen, 1 L lost: 975 mL claimed, worth 451 fen; flagged). Raw-SQL tests
/// attack them as the application role; the ledger verifier's tests reuse them to see a figure
/// written behind Core's back named.
public struct TransferScenario: Sendable {
    public let fixture: TenantFixture
    public let created: Int64
    public let dispatched: Int64
    public let received: Int64

    public static let milk = Item(
        code: "MILK-FRESH", name: "鲜牛奶", baseUnit: "L", quantityScale: 1000, weightGramsPerUnit: 1030, category: "fresh_milk",
        shelfLifeDays: 7, taxCode: "1030201010000000000", taxRateBasisPoints: 900)

    /// The tenant, with 2,400.5 L of milk bought at WH-A for 4.63 元/L and the three transfers;
    /// `items` are created besides (as HQ), for attacks that need another item.
    public static func make(label: String = "transfers", items: [Item] = []) async throws -> TransferScenario {
        let fixture = try await TenantFixture.create(label: label)
        let environment = try await SharedDatabase.environment()
        let five = [PostingLine(itemCode: milk.code, quantity: "5", unitFen: 0)]
        let ids = try await withClient(environment.appURL, maximumConnections: 1) { client in
            let database = Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance)
            // One committed transaction as `principal`.
            func sandbox<T: Sendable>(_ principal: String, _ work: @Sendable (Sandbox) async throws -> T) async throws -> T {
                try await database.withSandbox(
                    key: APIKey(fixture.key(principal))!, requestID: "fixture", logger: testLogger, work)
            }
            try await sandbox("hq-admin") { hq in
                for item in [milk] + items { _ = try await hq.createItem(item) }
            }
            _ = try await sandbox("a-operator") {
                try await $0.postPurchaseReceipt(
                    supplier: "牧场", lines: [PostingLine(itemCode: milk.code, quantity: "2400.500", unitFen: 463)])
            }
            var ids: [Int64] = []
            for _ in 0..<3 {
                ids.append(
                    try await sandbox("a-operator") { try await $0.createTransfer(to: try OrgCode("WH-B"), lines: five).id })
            }
            for id in ids.dropFirst() {
                _ = try await sandbox("a-operator") { try await $0.dispatchTransfer(id: id) }
            }
            _ = try await sandbox("b-operator") { [ids] in
                try await $0.receiveTransfer(
                    id: ids[2], report: ReceiptReport(freightFen: 40, insuranceFen: 7, lost: [milk.code: "1"]))
            }
            return ids
        }
        return TransferScenario(fixture: fixture, created: ids[0], dispatched: ids[1], received: ids[2])
    }

    /// `TenantFixture.rawSQL` on the scenario's tenant.
    public func rawSQL(
        as principal: String, setup: [String] = [], _ statement: String, commit: Bool = false
    ) async throws -> Result<[PostgresRow], RawSQLRefusal> {
        try await fixture.rawSQL(as: principal, setup: setup, statement, commit: commit)
    }
}

extension TenantFixture {
    /// Runs `setup`, then `statement`, as the application role in one transaction that starts
    /// with `principal`'s own `app_begin`; commits when `commit` (the deferred checks run then),
    /// else rolls back. The statement's rows (its `RETURNING`), or what the database said when
    /// it refused any of them.
    public func rawSQL(
        as principal: String, setup: [String] = [], _ statement: String, commit: Bool = false
    ) async throws -> Result<[PostgresRow], RawSQLRefusal> {
        let environment = try await SharedDatabase.environment()
        let apiKey = APIKey(key(principal))!
        return try await withConnection(environment.appURL) { connection in
            try await connection.query("BEGIN", logger: testLogger)
            _ = try await connection.query(
                "SELECT 1 FROM app_begin(\(apiKey.tenant.rawValue), \(ByteBuffer(bytes: apiKey.hash)))", logger: testLogger
            )
            .collect()
            do {
                for step in setup { try await connection.query(PostgresQuery(unsafeSQL: step), logger: testLogger) }
                let rows = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: testLogger).collect()
                try await connection.query(commit ? "COMMIT" : "ROLLBACK", logger: testLogger)
                return .success(rows)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: testLogger)
                return .failure(RawSQLRefusal(description: String(reflecting: error), sqlState: (error as? PSQLError)?.sqlState))
            }
        }
    }
}

/// The database's refusal of raw SQL, in its own words.
public struct RawSQLRefusal: Error, Sendable, CustomStringConvertible {
    public let description: String
    public let sqlState: String?

    /// A rule of the schema refused it (a privilege, policy or trigger: 42501; a constraint:
    /// class 23), not a mistake in the statement itself (a syntax error, an unknown column).
    public var byARule: Bool { sqlState == "42501" || sqlState?.hasPrefix("23") == true }
}
