import ArgumentParser
import Foundation
import Logging
import NIOCore
import OrgMatrixStore
import PostgresNIO
import SMCrypto

/// `orgmatrix-bench sandbox`: what row-level security costs. In a scratch database it builds
/// tenants of `--orgs` orgs each (HQ, two regions, warehouses split between them), fills the
/// audit log (a real org-owned table with real policies) and times the same read and write SQL
/// as the application role under the policies and as the owner with RLS off, in paired rounds.
struct BenchSandbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox", abstract: "Row-level security cost: app role under policies vs owner with RLS off.")

    @Option(help: "Orgs per tenant.") var orgs: Int = 1000
    @Option(help: "Tenants.") var tenants: Int = 10
    @Option(help: "Audit-log rows of the measured tenant (the others get a tenth each).") var rows: Int = 1_000_000
    @Option(help: "Paired rounds (median reported).") var rounds: Int = 7
    @Option(help: "Rows inserted per write transaction.") var rowsPerTransaction: Int = 50
    @Flag(help: "Keep the scratch database afterwards (to EXPLAIN its queries).") var keepDatabase = false
    @OptionGroup var database: BenchDatabaseOptions

    func validate() throws {
        guard (10...100_000).contains(orgs) else { throw ValidationError("--orgs must be 10–100000") }
        guard (1...100).contains(tenants) else { throw ValidationError("--tenants must be 1–100") }
        guard (1000...50_000_000).contains(rows) else { throw ValidationError("--rows must be 1000–50000000") }
        guard (1...101).contains(rounds) else { throw ValidationError("--rounds must be 1–101") }
        guard (1...10_000).contains(rowsPerTransaction) else { throw ValidationError("--rows-per-transaction must be 1–10000") }
    }

    func run() async throws {
        try Settings.bootstrapLogging(format: .text, level: "error")
        let logger = Logger(label: "orgmatrix.bench")
        let ownerURL = try Settings.databaseURL(flag: nil, environmentKey: "OWNER_DATABASE_URL", dataDir: database.dataDir)
        let appURL = try Settings.databaseURL(flag: database.databaseURL, environmentKey: "DATABASE_URL", dataDir: database.dataDir)
        try await withScratchDatabase(ownerURL: ownerURL, keep: keepDatabase, logger: logger) { name in
            try await benchmark(ownerURL: ownerURL, appURL: appURL, name: name.rawValue, logger: logger)
        }
    }

    private func benchmark(ownerURL: DatabaseURL, appURL: DatabaseURL, name: String, logger: Logger) async throws {
        let owner = ownerURL.replacingDatabase(String(name))
        let app = appURL.replacingDatabase(String(name))
        let migrator = try Migrator.load(directory: database.schemaDir)
        _ = try await Settings.withClient(owner, logger: logger) { try await migrator.migrate(client: $0, logger: logger) }
        print("building \(tenants) tenants × \(orgs) orgs and \(rows) audit rows in \(name) …")
        let started = ContinuousClock.now
        let key = try await BenchConnection.with(owner, logger) { try await load($0, logger) }
        print("loaded in \(ContinuousClock.now - started)\n")
        try await BenchConnection.with(owner, logger) { ownerConnection in
            try await BenchConnection.with(app, logger) { appConnection in try await measure(owner: ownerConnection, app: appConnection, key: key, logger) }
        }
    }

    /// Fills the scratch database; returns the key of the measured principal (an auditor at region A).
    private func load(_ connection: PostgresConnection, _ logger: Logger) async throws -> APIKey {
        let key = APIKey.generate(tenant: try .init("bench-0"))
        let lastTenant = tenants - 1
        let lastOrg = orgs - 1
        let otherRows = rows / 10
        let statements: [PostgresQuery] = [
            "ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY",
            """
            INSERT INTO tenants (tenant_id, code, name)
            SELECT gen_random_uuid(), 'bench-' || t, 'bench ' || t FROM generate_series(0, \(lastTenant)) t
            """,
            """
            INSERT INTO orgs (tenant_id, code, name, kind, can_settle, can_fulfil, can_supervise, province_code, city_code, county_code,
                latitude_microdegrees, longitude_microdegrees)
            SELECT tenant_id, CASE o WHEN 0 THEN 'HQ' WHEN 1 THEN 'REGION-A' WHEN 2 THEN 'REGION-B' ELSE 'WH-' || o END,
                   'org ' || o, CASE WHEN o < 3 THEN 'virtual' ELSE 'physical' END, o < 3, o >= 3, o = 0,
                   CASE WHEN o >= 3 THEN '110000' END, CASE WHEN o >= 3 THEN '110100' END, CASE WHEN o >= 3 THEN '110105' END,
                   CASE WHEN o >= 3 THEN 39904200 END, CASE WHEN o >= 3 THEN 116407400 END
            FROM tenants, generate_series(0, \(lastOrg)) o
            """,
            """
            INSERT INTO relations (tenant_id, kind, from_org_id, from_code, to_org_id, to_code, valid_from)
            SELECT c.tenant_id, 'reports_to', c.org_id, c.code, p.org_id, p.code, '2026-01-01'
            FROM orgs c JOIN orgs p ON p.tenant_id = c.tenant_id
             AND p.code = CASE WHEN c.code LIKE 'REGION-%' THEN 'HQ'
                               WHEN c.code LIKE 'WH-%' THEN CASE WHEN substr(c.code, 4)::int % 2 = 0 THEN 'REGION-A' ELSE 'REGION-B' END END
            """,
            """
            INSERT INTO principals (tenant_id, name, org_id, role)
            SELECT tenant_id, 'region-auditor', org_id, 'auditor' FROM orgs WHERE code = 'REGION-A'
            """,
            """
            INSERT INTO audit_events (tenant_id, actor, org_id, action, subject)
            SELECT t.tenant_id, 'bench', t.ids[1 + (g.i % t.org_count)], 'bench.load', 'row ' || g.i
            FROM (SELECT tenant_id, array_agg(org_id) AS ids, count(*)::int AS org_count FROM orgs GROUP BY tenant_id) t
            JOIN tenants USING (tenant_id)
            CROSS JOIN LATERAL generate_series(1, CASE WHEN tenants.code = 'bench-0' THEN \(rows) ELSE \(otherRows) END) AS g (i)
            """,
        ]
        for statement in statements { try await connection.query(statement, logger: logger) }
        try await connection.query(
            """
            INSERT INTO api_keys (tenant_id, principal_id, org_id, key_hash)
            SELECT p.tenant_id, p.principal_id, p.org_id, \(ByteBuffer(bytes: key.hash))
            FROM principals p JOIN tenants t USING (tenant_id) WHERE t.code = 'bench-0'
            """, logger: logger)
        try await connection.query("VACUUM ANALYZE", logger: logger)
        return key
    }

    private func measure(owner: PostgresConnection, app: PostgresConnection, key: APIKey, _ logger: Logger) async throws {
        let hash = ByteBuffer(bytes: key.hash)
        let begin = try await app.query("SELECT tenant_id, visible_orgs FROM app_begin('bench-0', \(hash))", logger: logger)
            .collect().first!.decode((UUID, [Int64]).self)
        let (tenant, visible) = begin
        print("measured principal: auditor at REGION-A, visible set \(visible.count) of \(orgs) orgs\n")
        // The same rows on both sides. The application filters by tenant (Swift's own check) and
        // leaves the visible set to the policies; the owner, with RLS off, must name the visible orgs.
        let appRead: PostgresQuery = "SELECT count(*), sum(event_id) FROM audit_events WHERE tenant_id = \(tenant)"
        let ownerRead: PostgresQuery =
            "SELECT count(*), sum(event_id) FROM audit_events WHERE tenant_id = \(tenant) AND org_id = ANY(\(visible))"
        let (principalID, orgID) = try await owner.query(
            "SELECT principal_id, org_id FROM principals WHERE tenant_id = \(tenant) AND name = 'region-auditor'", logger: logger
        ).collect().first!.decode((Int64, Int64).self)
        func insert(_ round: Int) -> PostgresQuery {
            """
            INSERT INTO audit_events (tenant_id, principal_id, actor, org_id, action, subject)
            VALUES (\(tenant), \(principalID), 'bench', \(orgID), 'bench.write', \("round \(round)"))
            """
        }
        var readRatios: [Double] = []
        var writeRatios: [Double] = []
        var writeWithBeginRatios: [Double] = []
        var samples: [String: [Double]] = [:]
        for round in 0..<rounds {
            let ownerRead = try await milliseconds { _ = try await owner.query(ownerRead, logger: logger).collect() }
            let appRead = try await milliseconds {
                try await app.query("BEGIN", logger: logger)
                _ = try await app.query("SELECT 1 FROM app_begin('bench-0', \(hash))", logger: logger).collect()
                _ = try await app.query(appRead, logger: logger).collect()
                try await app.query("COMMIT", logger: logger)
            }
            let ownerWrite = try await milliseconds {
                try await owner.query("BEGIN", logger: logger)
                for _ in 0..<rowsPerTransaction { try await owner.query(insert(round), logger: logger) }
                try await owner.query("COMMIT", logger: logger)
            }
            var beginOnly = 0.0
            let appWrite = try await milliseconds {
                try await app.query("BEGIN", logger: logger)
                beginOnly = try await milliseconds { _ = try await app.query("SELECT 1 FROM app_begin('bench-0', \(hash))", logger: logger).collect() }
                for _ in 0..<rowsPerTransaction { try await app.query(insert(round), logger: logger) }
                try await app.query("COMMIT", logger: logger)
            }
            readRatios.append(appRead / ownerRead)
            writeRatios.append((appWrite - beginOnly) / ownerWrite)
            writeWithBeginRatios.append(appWrite / ownerWrite)
            for (name, value) in [("owner read", ownerRead), ("app read", appRead), ("owner write", ownerWrite), ("app write", appWrite),
                ("app_begin", beginOnly)] {
                samples[name, default: []].append(value)
            }
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        func ms(_ milliseconds: Double) -> String { String(format: "%.2f ms", milliseconds) }
        print("median of \(rounds) paired rounds:")
        print("  read  (aggregate over the visible \(visible.count) orgs' rows): owner \(ms(median(samples["owner read"]!))), app \(ms(median(samples["app read"]!)))")
        print("  write (\(rowsPerTransaction) inserts in one transaction):        owner \(ms(median(samples["owner write"]!))), app \(ms(median(samples["app write"]!)))")
        print("  context setup (app_begin: key lookup, visible set, MAC):   \(ms(median(samples["app_begin"]!)))")
        print(String(format: "\nratio app/owner: reads %.3f (context setup included), writes %.3f (policies only), %.3f (with context setup)",
            median(readRatios), median(writeRatios), median(writeWithBeginRatios)))
        print("target: policies cost at most 15 % (ratio ≤ 1.15) on reads and writes")
    }
}
