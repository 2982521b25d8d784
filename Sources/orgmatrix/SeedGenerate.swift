import ArgumentParser
import Foundation
import Logging
import NIOCore
import OrgMatrixCore
import OrgMatrixStore
import PostgresNIO

/// `orgmatrix seed generate FILE`: a benchmark-scale tenant, reproducibly, from the parameters in
/// FILE (`Seeds/generated.yaml`), each of which a flag may override. Same parameters, same orgs,
/// lanes, items and stock moves (PostgreSQL's `setseed` drives the numbers).
struct SeedGenerate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Create a benchmark-scale tenant (orgs, lanes, items, stock and moves) from a fixed seed, as the owner role.")

    @Argument(help: "The generator's parameters (tenant, orgs, items, moves, seed), e.g. Seeds/generated.yaml.") var file: String
    @Option(help: "Tenant code to create (must not exist); overrides the file's.") var tenant: String?
    @Option(help: "Physical warehouses (plus HQ and one sales region per 25 warehouses); overrides the file's.") var orgs: Int?
    @Option(help: "Items; overrides the file's.") var items: Int?
    @Option(help: "Stock moves (purchase receipts and sales, in equal parts); overrides the file's.") var moves: Int?
    @Option(help: "Seed of the pseudo-random numbers; overrides the file's.") var seed: Int?
    @Option(help: "Write the keys of the generated principals here (mode 0600).") var keysOut: String?
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        for (flag, value, range) in [
            ("--orgs", orgs, GeneratorParameters.orgsRange), ("--items", items, GeneratorParameters.itemsRange),
            ("--moves", moves, GeneratorParameters.movesRange), ("--seed", seed, GeneratorParameters.seedRange),
        ] {
            if let value, !range.contains(value) { throw ValidationError("\(flag) must be \(range.lowerBound)–\(range.upperBound)") }
        }
        if let tenant {
            do { _ = try TenantCode(tenant) } catch { throw ValidationError("--tenant \(error.reason)") }
        }
    }

    func run() async throws {
        try Settings.bootstrapLogging(format: database.logFormat, level: database.logLevel)
        let logger = Logger(label: "orgmatrix.seed")
        var parameters: GeneratorParameters
        do {
            parameters = try GeneratorParameters.parse(yaml: try String(contentsOfFile: file, encoding: .utf8), file: file)
        } catch let error as SeedInvalid {
            FileHandle.standardError.write(Data("orgmatrix: \(file) is invalid:\n\(error)\n".utf8))
            throw ExitCode(2)
        } catch {
            FileHandle.standardError.write(Data("orgmatrix: cannot read \(file): \(error.localizedDescription)\n".utf8))
            throw ExitCode(2)
        }
        if let tenant { parameters.tenant = try TenantCode(tenant) }
        if let orgs { parameters.orgs = orgs }
        if let items { parameters.items = items }
        if let moves { parameters.moves = moves }
        if let seed { parameters.seed = seed }
        let url = try Settings.databaseURL(flag: database.databaseURL, environmentKey: "OWNER_DATABASE_URL", dataDir: database.dataDir)
        let code = parameters.tenant
        let hqKey = APIKey.generate(tenant: code)
        let operatorKey = APIKey.generate(tenant: code)
        let started = ContinuousClock.now
        try await Settings.withClient(url, logger: logger) { [parameters] client in
            try await client.withTransaction(logger: logger) { connection in
                try await Self.generate(parameters, keys: (hqKey, operatorKey), connection: connection, logger: logger)
            }
        }
        print(
            "tenant \(code): \(parameters.orgs) warehouses, \(parameters.items) items, \(parameters.moves) stock moves (seed \(parameters.seed)) "
                + "in \(ContinuousClock.now - started)")
        if let keysOut {
            let keys = ["hq-admin": hqKey.text, "wh-0001-operator": operatorKey.text]
            try Files.write(Array(try JSONEncoder().encode(keys)), to: keysOut, mode: 0o600)
            print("keys written to \(keysOut)")
        }
    }

    private static func generate(
        _ parameters: GeneratorParameters, keys: (APIKey, APIKey), connection: PostgresConnection, logger: Logger
    ) async throws {
        let (code, orgs, items, moves, seed) = (parameters.tenant, parameters.orgs, parameters.items, parameters.moves, parameters.seed)
        let tenantID = UUID()
        let regions = max(1, orgs / 25)
        let seedValue = Double(seed) / 1_000_001  // setseed takes −1…1; the numbers are fixed by it
        try await connection.query("SELECT setseed(\(seedValue))", logger: logger)
        try await connection.query(
            "INSERT INTO tenants (tenant_id, code, name) VALUES (\(tenantID), \(code.rawValue), \("generated (seed \(seed))"))",
            logger: logger)
        try await connection.query(
            """
            INSERT INTO orgs (tenant_id, code, name, kind, can_settle, can_fulfil, can_supervise)
            SELECT \(tenantID), 'HQ', '总部', 'virtual', true, false, true
            UNION ALL
            SELECT \(tenantID), 'REGION-' || lpad(r::text, 3, '0'), '大区 ' || r, 'virtual', true, false, false
            FROM generate_series(1, \(regions)) r
            """, logger: logger)
        try await connection.query(
            """
            INSERT INTO orgs (tenant_id, code, name, kind, can_settle, can_fulfil, can_supervise, province_code, city_code, county_code,
                latitude_microdegrees, longitude_microdegrees)
            SELECT \(tenantID), 'WH-' || lpad(w::text, 4, '0'), '仓库 ' || w, 'physical', false, true, false, '110000', '110100', '110105',
                (22000000 + floor(random() * 20000000))::int, (100000000 + floor(random() * 20000000))::int
            FROM generate_series(1, \(orgs)) w
            """, logger: logger)
        // Hierarchy: regions under HQ, warehouses under their region; each region settles its warehouses' sales.
        try await connection.query(
            """
            INSERT INTO relations (tenant_id, kind, from_org_id, from_code, to_org_id, to_code, purpose, valid_from)
            SELECT c.tenant_id, 'reports_to', c.org_id, c.code, p.org_id, p.code, NULL, '2026-01-01T00:00:00Z'::timestamptz
            FROM orgs c JOIN orgs p ON p.tenant_id = c.tenant_id AND p.code = 'HQ'
            WHERE c.tenant_id = \(tenantID) AND c.code LIKE 'REGION-%'
            UNION ALL
            SELECT c.tenant_id, 'reports_to', c.org_id, c.code, p.org_id, p.code, NULL, '2026-01-01T00:00:00Z'::timestamptz
            FROM orgs c JOIN orgs p ON p.tenant_id = c.tenant_id
             AND p.code = 'REGION-' || lpad((1 + (substr(c.code, 4)::int - 1) % \(regions))::text, 3, '0')
            WHERE c.tenant_id = \(tenantID) AND c.code LIKE 'WH-%'
            UNION ALL
            SELECT c.tenant_id, 'settles_for', p.org_id, p.code, c.org_id, c.code, 'sales', '2026-01-01T00:00:00Z'::timestamptz
            FROM orgs c JOIN orgs p ON p.tenant_id = c.tenant_id
             AND p.code = 'REGION-' || lpad((1 + (substr(c.code, 4)::int - 1) % \(regions))::text, 3, '0')
            WHERE c.tenant_id = \(tenantID) AND c.code LIKE 'WH-%'
            """, logger: logger)
        // Lanes: each warehouse to the next one (a ring), 50–1500 km, 4–40 h, 2–5 % markup.
        try await connection.query(
            """
            INSERT INTO relations (tenant_id, kind, from_org_id, from_code, to_org_id, to_code, distance_km, lead_time_hours,
                markup_basis_points, valid_from)
            SELECT lane.tenant_id, 'transfers_with', lane.from_id, lane.from_code, lane.to_id, lane.to_code, 50 + floor(random() * 1450)::int,
                4 + floor(random() * 36)::int, 200 + floor(random() * 300)::int, '2026-01-01T00:00:00Z'::timestamptz
            FROM (
                -- Ordered before random() is drawn, so the same seed gives each lane the same figures
                -- whatever join the planner picks.
                SELECT a.tenant_id, a.org_id AS from_id, a.code AS from_code, b.org_id AS to_id, b.code AS to_code
                FROM orgs a JOIN orgs b ON b.tenant_id = a.tenant_id
                 AND b.code = 'WH-' || lpad((1 + substr(a.code, 4)::int % \(orgs))::text, 4, '0')
                WHERE a.tenant_id = \(tenantID) AND a.code LIKE 'WH-%'
                ORDER BY a.code
            ) lane
            """, logger: logger)
        try await connection.query(
            """
            INSERT INTO items (tenant_id, code, name, base_unit, quantity_scale, weight_grams_per_unit, category, shelf_life_days, tax_code,
                tax_rate_basis_points)
            SELECT \(tenantID), 'ITEM-' || lpad(i::text, 5, '0'), '商品 ' || i, 'kg', 1000, 1000, (ARRAY['fresh_milk', 'milk_powder', 'cheese'])[1 + i % 3],
                (ARRAY[7, 540, 180])[1 + i % 3], '1030201010000000000', 1300
            FROM generate_series(1, \(items)) i
            """, logger: logger)
        // Moves: receipts then sales, each at a pseudo-random warehouse and item; the database keeps
        // the balances from them.
        try await connection.query(
            """
            WITH picks AS (
                SELECT n, 1 + floor(random() * \(orgs))::int AS w, 1 + floor(random() * \(items))::int AS i,
                       1000 + floor(random() * 99000)::bigint AS quantity, 300 + floor(random() * 5000)::bigint AS unit_cost
                FROM generate_series(1, \(moves / 2)) n
            )
            INSERT INTO stock_moves (tenant_id, org_id, item_id, quantity_scaled, value_fen, unit_cost_fen, document_type, document_id,
                principal_id)
            SELECT \(tenantID), o.org_id, it.item_id, p.quantity, p.quantity * p.unit_cost / 1000, p.unit_cost, 'purchase_receipt', p.n, 0
            FROM picks p
            JOIN orgs o ON o.tenant_id = \(tenantID) AND o.code = 'WH-' || lpad(p.w::text, 4, '0')
            JOIN items it ON it.tenant_id = \(tenantID) AND it.code = 'ITEM-' || lpad(p.i::text, 5, '0')
            """, logger: logger)
        // Sales: each picks a pseudo-random (warehouse, item) that received goods; all sales of
        // one pair share half of what it received, at its average cost.
        try await connection.query(
            """
            WITH b AS (
                SELECT row_number() OVER (ORDER BY org_id, item_id) AS r, org_id, item_id, sum(quantity_scaled) AS on_hand_scaled,
                       sum(value_fen) AS value_fen
                FROM stock_moves WHERE tenant_id = \(tenantID) GROUP BY org_id, item_id
            ), picks AS (
                SELECT n, 1 + floor(random() * (SELECT count(*) FROM b))::bigint AS r FROM generate_series(1, \(moves - moves / 2)) n
            ), sales AS (
                SELECT p.n, b.org_id, b.item_id, b.on_hand_scaled, b.value_fen, count(*) OVER (PARTITION BY b.r) AS c
                FROM picks p JOIN b USING (r)
            )
            INSERT INTO stock_moves (tenant_id, org_id, item_id, quantity_scaled, value_fen, unit_cost_fen, document_type, document_id, principal_id)
            SELECT \(tenantID), org_id, item_id, -greatest(1, on_hand_scaled / (2 * c)), -(value_fen / (2 * c)),
                   value_fen * 1000 / on_hand_scaled, 'sales_issue', n, 0
            FROM sales ORDER BY n
            """, logger: logger)
        try await connection.query(
            """
            INSERT INTO pricing_rules (tenant_id, version, effective_from, body)
            VALUES (\(tenantID), 'gen-1', '2026-01-01T00:00:00Z'::timestamptz, \(Self.pricingBody)::jsonb)
            """, logger: logger)
        try await connection.query(
            """
            INSERT INTO principals (tenant_id, name, org_id, role)
            SELECT tenant_id, 'hq-admin', org_id, 'hq_admin' FROM orgs WHERE tenant_id = \(tenantID) AND code = 'HQ'
            UNION ALL
            SELECT tenant_id, 'wh-0001-operator', org_id, 'org_operator' FROM orgs WHERE tenant_id = \(tenantID) AND code = 'WH-0001'
            """, logger: logger)
        try await connection.query(
            """
            INSERT INTO api_keys (tenant_id, principal_id, org_id, key_hash)
            SELECT tenant_id, principal_id, org_id, CASE name WHEN 'hq-admin' THEN \(ByteBuffer(bytes: keys.0.hash)) ELSE \(ByteBuffer(bytes: keys.1.hash)) END
            FROM principals WHERE tenant_id = \(tenantID)
            """, logger: logger)
        try await connection.query("ANALYZE", logger: logger)
    }

    static let pricingBody = """
        {"version":"gen-1","effective_from":"2026-01-01T00:00:00Z","freight_tiers":[{"up_to_km":300,"fen_per_tonne_km":60},
        {"up_to_km":1000,"fen_per_tonne_km":45},{"fen_per_tonne_km":35}],"categories":{"fresh_milk":{"insurance_bp":30,"loss_ppm":2000,
        "short_shelf_life_extra_loss_ppm":3000},"milk_powder":{"insurance_bp":15,"loss_ppm":500},"cheese":{"insurance_bp":20,"loss_ppm":800}},
        "short_shelf_life_days":15,"express_lead_time_hours_max":12,"standard_premium_bp":0,"express_premium_bp":1500,"error_tolerance_ppm":8000}
        """
}
