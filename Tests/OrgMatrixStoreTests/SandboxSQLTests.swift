import Foundation
import NIOCore
import OrgMatrixCore
import OrgMatrixStore
import OrgMatrixTestSupport
import Metrics
import PostgresNIO
import SMCrypto
import Testing

/// Direct SQL as the application role, the way a bug or an attacker with the app's connection
/// would try it. Every attempt must see no foreign rows and change nothing.
@Suite struct SandboxSQLTests {
    static let tables = ["tenants", "orgs", "relations", "principals", "api_keys", "audit_events"]

    private func hash(_ key: String) -> ByteBuffer { ByteBuffer(bytes: APIKey(key)!.hash) }

    /// Counts rows of every table visible outside a transaction block; a table the role may not
    /// read at all (the auditor and api_keys) counts as nothing visible.
    private func visibleCounts(_ connection: PostgresConnection) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for table in Self.tables {
            do {
                counts[table] = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(table)"), logger: testLogger)
                    .collect().first!.decode(Int.self)
            } catch let error as PSQLError where error.sqlState == "42501" {
                counts[table] = 0
            }
        }
        return counts
    }

    private func begin(_ connection: PostgresConnection, _ fixture: TenantFixture, _ principal: String) async throws -> [Int64] {
        let rows = try await connection.query(
            "SELECT visible_orgs FROM app_begin(\(fixture.code.rawValue), \(hash(fixture.key(principal))))", logger: testLogger
        ).collect()
        return try rows.first!.decode([Int64].self)
    }

    @Test func withoutAPrincipalNothingIsVisible() async throws {
        let fixture = try await TenantFixture.create()
        let environment = try await SharedDatabase.environment()
        for url in [environment.appURL, environment.auditorURL] {
            try await withConnection(url) { connection in
                #expect(try await visibleCounts(connection).values.allSatisfy { $0 == 0 })
                for value in ["", "not-a-uuid", fixture.tenantID.description] {
                    try await connection.query("SELECT set_config('app.tenant_id', \(value), false)", logger: testLogger)
                    try await connection.query("SELECT set_config('app.visible_orgs', '1,2,3,4,5,6,7,8,9', false)", logger: testLogger)
                    try await connection.query("SELECT set_config('app.context_mac', 'deadbeef', false)", logger: testLogger)
                    #expect(try await visibleCounts(connection).values.allSatisfy { $0 == 0 }, "app.tenant_id=\(value)")
                }
            }
        }
    }

    @Test func aPrincipalSeesExactlyItsSandbox() async throws {
        let fixture = try await TenantFixture.create(label: "mine")
        _ = try await TenantFixture.create(label: "theirs")
        let environment = try await SharedDatabase.environment()
        for principal in TenantFixture.principals {
            let codes = try await withConnection(environment.appURL) { connection in
                try await connection.query("BEGIN", logger: testLogger)
                _ = try await begin(connection, fixture, principal.name)
                let rows = try await connection.query("SELECT code, name FROM orgs", logger: testLogger).collect()
                try await connection.query("COMMIT", logger: testLogger)
                return try rows.map { try $0.decode((String, String).self) }
            }
            #expect(Set(codes.map(\.0)) == principal.visible, "\(principal.name)")
            #expect(codes.allSatisfy { $0.1.hasPrefix("mine ") }, "\(principal.name)")
        }
    }

    @Test func editedCopiedOrForeignSettingsSeeNothing() async throws {
        let mine = try await TenantFixture.create(label: "mine")
        let theirs = try await TenantFixture.create(label: "theirs")
        let environment = try await SharedDatabase.environment()
        try await withConnection(environment.appURL) { connection in
            // Widen the visible set after authenticating as a warehouse.
            try await connection.query("BEGIN", logger: testLogger)
            _ = try await begin(connection, mine, "b-operator")
            let allOrgs = try await connection.query(
                "SELECT string_agg(org_id::text, ',') FROM orgs", logger: testLogger
            ).collect().first!.decode(String?.self)
            #expect(allOrgs != nil)
            try await connection.query("SELECT set_config('app.visible_orgs', '1,2,3,4,5,6,7,8,9,10,11,12,13,14,15', true)", logger: testLogger)
            // The list has its own MAC: once edited, no org-owned row is visible at all (the
            // principal's own tenant row still is, as it was before).
            let widened = try await visibleCounts(connection)
            #expect(widened.filter { $0.key != "tenants" }.values.allSatisfy { $0 == 0 }, "\(widened)")
            #expect(widened["tenants"]! <= 1)
            try await connection.query("ROLLBACK", logger: testLogger)

            // Point a valid context at the other tenant.
            try await connection.query("BEGIN", logger: testLogger)
            _ = try await begin(connection, mine, "hq-admin")
            try await connection.query("SELECT set_config('app.tenant_id', \(theirs.tenantID.description), true)", logger: testLogger)
            #expect(try await visibleCounts(connection).values.allSatisfy { $0 == 0 })
            try await connection.query("ROLLBACK", logger: testLogger)

            // Copy every setting of a valid context into a later transaction.
            try await connection.query("BEGIN", logger: testLogger)
            _ = try await begin(connection, mine, "hq-admin")
            let settings = try await connection.query(
                """
                SELECT current_setting('app.tenant_id'), current_setting('app.principal_id'), current_setting('app.org_id'),
                       current_setting('app.role'), current_setting('app.visible_orgs'), current_setting('app.context_mac')
                """, logger: testLogger
            ).collect().first!.decode((String, String, String, String, String, String).self)
            try await connection.query("COMMIT", logger: testLogger)
            try await connection.query("BEGIN", logger: testLogger)
            for (name, value) in [
                ("app.tenant_id", settings.0), ("app.principal_id", settings.1), ("app.org_id", settings.2), ("app.role", settings.3),
                ("app.visible_orgs", settings.4), ("app.context_mac", settings.5),
            ] {
                try await connection.query("SELECT set_config(\(name), \(value), true)", logger: testLogger)
            }
            #expect(try await visibleCounts(connection).values.allSatisfy { $0 == 0 })
            try await connection.query("ROLLBACK", logger: testLogger)
        }
    }

    @Test func writesOutsideTheSandboxAreRefusedAndChangeNothing() async throws {
        let mine = try await TenantFixture.create(label: "mine")
        let theirs = try await TenantFixture.create(label: "theirs")
        let before = (try await mine.rowCounts(), try await theirs.rowCounts())
        let environment = try await SharedDatabase.environment()
        let attempts: [(String, String)] = [
            ("b-operator", "INSERT INTO orgs (tenant_id, code, name, kind, can_settle, can_fulfil, can_supervise) SELECT tenant_id, 'ROGUE', 'x', 'virtual', true, false, false FROM tenants"),
            ("hq-auditor", "INSERT INTO audit_events (tenant_id, principal_id, actor, org_id, action, subject) SELECT tenant_id, 1, 'x', org_id, 'forged', 'x' FROM orgs LIMIT 1"),
            ("b-operator", "UPDATE relations SET valid_to = now() + interval '1 day' RETURNING 1"),
            ("b-operator", "UPDATE principals SET revoked_at = now() RETURNING 1"),
            ("hq-admin", "DELETE FROM relations"),
            ("hq-admin", "DELETE FROM audit_events"),
            ("hq-admin", "UPDATE audit_events SET action = 'tampered' RETURNING 1"),
            ("hq-admin", "UPDATE orgs SET code = 'RENAMED' RETURNING 1"),
            ("hq-admin", "SELECT key_hash FROM api_keys"),
            ("hq-admin", "SELECT * FROM principal_context_key"),
            ("hq-admin", "SELECT app_context_mac('x')"),
            ("hq-admin", "SET ROLE orgmatrix_owner"),
            ("hq-admin", "SET SESSION AUTHORIZATION orgmatrix_owner"),
            ("hq-admin", "ALTER TABLE orgs DISABLE ROW LEVEL SECURITY"),
            ("hq-admin", "CREATE POLICY open ON orgs USING (true)"),
        ]
        for (principal, statement) in attempts {
            let rejected = try await withConnection(environment.appURL) { connection -> Bool in
                try await connection.query("BEGIN", logger: testLogger)
                _ = try await begin(connection, mine, principal)
                do {
                    let rows = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: testLogger).collect()
                    try await connection.query("COMMIT", logger: testLogger)
                    // An UPDATE that RLS filters to zero rows (RETURNING nothing) is refused too.
                    return rows.isEmpty && statement.hasPrefix("UPDATE")
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: testLogger)
                    return true
                }
            }
            #expect(rejected, "\(principal): \(statement)")
        }
        // The other tenant's hq-admin, with its own valid context, cannot reach mine either.
        try await withConnection(environment.appURL) { connection in
            try await connection.query("BEGIN", logger: testLogger)
            _ = try await begin(connection, theirs, "hq-admin")
            let updated = try await connection.query(
                "UPDATE relations SET valid_to = now() + interval '1 day' WHERE tenant_id = \(mine.tenantID.rawValue) RETURNING 1",
                logger: testLogger
            ).collect()
            #expect(updated.isEmpty)
            try await connection.query("COMMIT", logger: testLogger)
        }
        #expect(try await mine.rowCounts() == before.0)
        #expect(try await theirs.rowCounts() == before.1)
    }

    /// Many transactions of two tenants interleaved on one pooled connection: no setting leaks
    /// from one transaction into the next.
    @Test func settingsNeverLeakBetweenTransactionsOnAPooledConnection() async throws {
        let first = try await TenantFixture.create(label: "first")
        let second = try await TenantFixture.create(label: "second")
        let environment = try await SharedDatabase.environment()
        let client = PostgresClient(
            configuration: environment.appURL.clientConfiguration(maximumConnections: 1, connectTimeout: .seconds(10)),
            backgroundLogger: testLogger)
        let database = Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            try await withThrowingTaskGroup(of: (String, [String], Int).self) { requests in
                for index in 0..<40 {
                    let fixture = index % 2 == 0 ? first : second
                    let label = index % 2 == 0 ? "first" : "second"
                    requests.addTask {
                        let key = APIKey(fixture.key(index % 4 < 2 ? "hq-admin" : "b-operator"))!
                        let names = try await database.withSandbox(key: key, requestID: "r\(index)", logger: testLogger) { sandbox in
                            try await sandbox.orgs(after: nil, limit: 100).map(\.org.name)
                        }
                        let unauthenticated = try await client.withConnection { connection in
                            try await connection.query("SELECT count(*)::int FROM orgs", logger: testLogger).collect().first!.decode(Int.self)
                        }
                        return (label, names, unauthenticated)
                    }
                }
                for try await (label, names, unauthenticated) in requests {
                    #expect(!names.isEmpty)
                    #expect(names.allSatisfy { $0.hasPrefix(label + " ") })
                    #expect(unauthenticated == 0)
                }
            }
            group.cancelAll()
        }
    }

    @Test func aRevokedOrUnknownKeyEstablishesNoContext() async throws {
        let fixture = try await TenantFixture.create()
        let environment = try await SharedDatabase.environment()
        try await withConnection(environment.ownerURL) { connection in
            try await connection.query(
                "UPDATE api_keys SET revoked_at = now() WHERE tenant_id = \(fixture.tenantID.rawValue) AND key_hash = \(hash(fixture.key("b-operator")))",
                logger: testLogger)
        }
        try await withConnection(environment.appURL) { connection in
            for (tenant, key) in [
                (fixture.code.rawValue, fixture.key("b-operator")),
                ("dairy", fixture.key("hq-admin")),
                (fixture.code.rawValue, APIKey.generate(tenant: fixture.code).text),
            ] {
                let rows = try await connection.query("SELECT * FROM app_begin(\(tenant), \(hash(key)))", logger: testLogger).collect()
                #expect(rows.isEmpty)
                #expect(try await visibleCounts(connection).values.allSatisfy { $0 == 0 })
            }
        }
    }
}
