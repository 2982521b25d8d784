import Foundation
import OrgMatrixCore
import OrgMatrixStore
import OrgMatrixTestSupport
import PostgresNIO
import Testing

@Suite struct MigratorTests {
    private let shipped = try! Migrator.load(directory: TestEnvironment.schemaDirectory)

    @Test func migrationsApplyOnAnEmptyDatabase() async throws {
        try await ThrowawayDatabase.with(migrated: false) { database in
            let applied = try await withClient(database.ownerURL) { client in
                try await shipped.migrate(client: client, logger: testLogger)
            }
            #expect(applied == shipped.files.map(\.name))
            let recorded = try await withConnection(database.ownerURL) { connection in
                try await connection.query("SELECT name, checksum FROM schema_migrations ORDER BY name", logger: testLogger)
                    .collect().map { try $0.decode((String, String).self) }
            }
            #expect(recorded.map(\.0) == shipped.files.map(\.name))
            #expect(recorded.map(\.1) == shipped.files.map(\.checksum))
        }
    }

    /// A database migrated by a build before SM3 has `sha256:` records (here computed by
    /// coreutils' sha256sum, as those builds did): they are checked against the files and
    /// recorded again under SM3; nothing is applied twice, and readiness is current meanwhile.
    @Test func checksumsRecordedAsSHA256BeforeSM3AreUpgradedOnceAfterChecking() async throws {
        try await ThrowawayDatabase.with(migrated: true) { database in
            try await withConnection(database.ownerURL) { connection in
                for file in shipped.files {
                    let path = TestEnvironment.schemaDirectory + "/" + file.name
                    let digest = try runProcess("sha256sum", [path]).text.prefix(64)
                    _ = try await connection.query(
                        "UPDATE schema_migrations SET checksum = \("sha256:" + digest) WHERE name = \(file.name)", logger: testLogger)
                }
            }
            let before = try await withConnection(database.appURL) { connection in
                try await shipped.state(connection: connection, logger: testLogger)
            }
            #expect(before == .current(appliedCount: shipped.files.count))
            let applied = try await withClient(database.ownerURL) { client in
                try await shipped.migrate(client: client, logger: testLogger)
            }
            #expect(applied.isEmpty)
            let recorded = try await withConnection(database.ownerURL) { connection in
                try await connection.query("SELECT checksum FROM schema_migrations ORDER BY name", logger: testLogger)
                    .collect().map { try $0.decode(String.self) }
            }
            #expect(recorded == shipped.files.map(\.checksum))
            #expect(recorded.allSatisfy { $0.hasPrefix("sm3:") })
        }
    }

    @Test func aSHA256RecordThatDoesNotMatchTheFileIsAnEditedFile() async throws {
        try await ThrowawayDatabase.with(migrated: true) { database in
            let first = shipped.files[0]
            try await withConnection(database.ownerURL) { connection in
                _ = try await connection.query(
                    "UPDATE schema_migrations SET checksum = \("sha256:" + String(repeating: "0", count: 64)) WHERE name = \(first.name)",
                    logger: testLogger)
            }
            let failure = await #expect(throws: MigrationFailure.self) {
                try await withClient(database.ownerURL) { client in
                    try await shipped.migrate(client: client, logger: testLogger)
                }
            }
            #expect(failure?.file == first.name)
            #expect(failure?.description.contains("edited after it was applied") == true)
        }
    }

    @Test func migratingTwiceAppliesNothingTheSecondTime() async throws {
        try await ThrowawayDatabase.with(migrated: true) { database in
            let applied = try await withClient(database.ownerURL) { client in
                try await shipped.migrate(client: client, logger: testLogger)
            }
            #expect(applied.isEmpty)
            let state = try await withConnection(database.appURL) { connection in
                try await shipped.state(connection: connection, logger: testLogger)
            }
            #expect(state == .current(appliedCount: shipped.files.count))
        }
    }

    @Test func anEditedAppliedFileIsRefusedNamingTheFile() async throws {
        try await ThrowawayDatabase.with(migrated: true) { database in
            let first = shipped.files[0]
            let edited = try MigrationFile(fileName: first.name, sql: first.sql + "\n-- edited\n")
            let tampered = Migrator(files: [edited] + shipped.files.dropFirst())
            let failure = await #expect(throws: MigrationFailure.self) {
                try await withClient(database.ownerURL) { client in
                    try await tampered.migrate(client: client, logger: testLogger)
                }
            }
            #expect(failure?.file == first.name)
            #expect(failure?.description.contains("edited after it was applied") == true)
        }
    }

    @Test func aFailingMigrationLeavesNothingBehind() async throws {
        try await ThrowawayDatabase.with(migrated: true) { database in
            let broken = try MigrationFile(
                fileName: "9000_broken.sql", sql: "CREATE TABLE half_done (id int);\nSELECT no_such_column FROM half_done;")
            let failure = await #expect(throws: MigrationFailure.self) {
                try await withClient(database.ownerURL) { client in
                    try await Migrator(files: shipped.files + [broken]).migrate(client: client, logger: testLogger)
                }
            }
            #expect(failure?.file == "9000_broken.sql")
            #expect(failure?.statementNumber == 2)
            #expect(failure?.message.contains("no_such_column") == true)
            let (tableExists, recorded) = try await withConnection(database.ownerURL) { connection in
                let exists = try await connection.query("SELECT to_regclass('half_done') IS NOT NULL", logger: testLogger)
                    .collect().first!.decode(Bool.self)
                let count = try await connection.query(
                    "SELECT count(*)::int FROM schema_migrations WHERE name = '9000_broken.sql'", logger: testLogger
                ).collect().first!.decode(Int.self)
                return (exists, count)
            }
            #expect(tableExists == false)
            #expect(recorded == 0)
        }
    }

    @Test func concurrentRunnersApplyEveryFileExactlyOnce() async throws {
        try await ThrowawayDatabase.with(migrated: false) { database in
            let perRunner = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        try await withClient(database.ownerURL) { client in
                            try await shipped.migrate(client: client, logger: testLogger)
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(perRunner.flatMap { $0 }.sorted() == shipped.files.map(\.name))
        }
    }

    @Test func anUnmigratedDatabaseReportsEveryFilePending() async throws {
        try await ThrowawayDatabase.with(migrated: false) { database in
            let state = try await withConnection(database.ownerURL) { connection in
                try await shipped.state(connection: connection, logger: testLogger)
            }
            #expect(state == .pending(shipped.files.map(\.name)))
        }
    }

    @Test func loadingRefusesABadlyNamedFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "SELECT 1;".write(to: directory.appendingPathComponent("0001_ok.sql"), atomically: true, encoding: .utf8)
        try "SELECT 1;".write(to: directory.appendingPathComponent("2_bad.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.invalidFileName("2_bad.sql")) { try Migrator.load(directory: directory.path) }
    }

    /// 0009 makes balances the moves' and refuses books where they are not (as the count race
    /// left them before it); repaired, it applies, and from then on nobody writes a balance but
    /// through a move, the owner included.
    @Test func movesOnlyRefusesBalancesThatAreNotTheirMovesAndAppliesOnceRepaired() async throws {
        try await ThrowawayDatabase.with(migrated: false) { database in
            let before = Migrator(files: shipped.files.filter { $0.version < 9 })
            try await withClient(database.ownerURL) { client in
                _ = try await before.migrate(client: client, logger: testLogger)
            }
            try await withConnection(database.ownerURL) { connection in
                // A tenant with the one warehouse the books need, as 0008's schema holds it (today's
                // TenantAdmin writes columns and tables of later migrations).
                let tenant = UUID()
                try await connection.query(
                    "INSERT INTO tenants (tenant_id, code, name) VALUES (\(tenant), \("t-" + UUID().uuidString.prefix(12).lowercased()), 'books')",
                    logger: testLogger)
                try await connection.query(
                    """
                    INSERT INTO orgs (tenant_id, code, name, kind, can_settle, can_fulfil, can_supervise, province_code, city_code,
                        county_code, latitude_microdegrees, longitude_microdegrees)
                    VALUES (\(tenant), 'WH-A', 'books WH-A', 'physical', false, true, false, '130000', '130100', '130102', 38042300, 114514300)
                    """, logger: testLogger)
                try await connection.query(
                    """
                    INSERT INTO items (tenant_id, code, name, base_unit, quantity_scale, weight_grams_per_unit, category, shelf_life_days,
                        tax_code, tax_rate_basis_points)
                    SELECT tenant_id, 'MILK-FRESH', '鲜牛奶', 'L', 1000, 1030, 'fresh_milk', 7, '1030201010000000000', 900 FROM tenants
                    """, logger: testLogger)
                // A move of 5 L, and a balance of 3 L: what a count overwriting a receipt left.
                try await connection.query(
                    """
                    INSERT INTO stock_moves (tenant_id, org_id, item_id, quantity_scaled, value_fen, unit_cost_fen, document_type, document_id,
                        principal_id)
                    SELECT o.tenant_id, o.org_id, i.item_id, 5000, 2315, 463, 'purchase_receipt', 1, 0
                    FROM orgs o JOIN items i USING (tenant_id) WHERE o.code = 'WH-A'
                    """, logger: testLogger)
                try await connection.query(
                    """
                    INSERT INTO stock_balances (tenant_id, org_id, item_id, on_hand_scaled, value_fen)
                    SELECT tenant_id, org_id, item_id, 3000, 1389 FROM stock_moves
                    """, logger: testLogger)
            }
            let failure = await #expect(throws: MigrationFailure.self) {
                try await withClient(database.ownerURL) { client in try await shipped.migrate(client: client, logger: testLogger) }
            }
            #expect(failure?.file == "0009_moves_only.sql")
            #expect(failure?.description.contains("stock balances differ from the sum of their moves") == true, "\(String(describing: failure))")
            try await withConnection(database.ownerURL) { connection in
                try await connection.query("UPDATE stock_balances SET on_hand_scaled = 5000, value_fen = 2315", logger: testLogger)
            }
            let applied = try await withClient(database.ownerURL) { client in try await shipped.migrate(client: client, logger: testLogger) }
            #expect(applied == shipped.files.filter { $0.version >= 9 }.map(\.name))
            try await withConnection(database.ownerURL) { connection in
                await #expect(throws: PSQLError.self) {
                    try await connection.query("UPDATE stock_balances SET on_hand_scaled = 1", logger: testLogger)
                }
                try await connection.query(
                    """
                    INSERT INTO stock_moves (tenant_id, org_id, item_id, quantity_scaled, value_fen, unit_cost_fen, document_type, document_id,
                        principal_id)
                    SELECT tenant_id, org_id, item_id, -1000, -463, 463, 'sales_issue', 1, 0 FROM stock_balances
                    """, logger: testLogger)
                let balance = try await connection.query("SELECT on_hand_scaled, value_fen FROM stock_balances", logger: testLogger)
                    .collect().map { try $0.decode((Int64, Int64).self) }
                #expect(balance.count == 1 && balance[0] == (4000, 1852))
            }
        }
    }

    /// 0011 on books with a transfer: its line takes the goods as its item is now, then keeps
    /// them when the item changes; the functions that recomputed figures are gone.
    @Test func transferFormulasOutKeepsEachLinesGoodsAndDropsTheFormulas() async throws {
        try await ThrowawayDatabase.with(migrated: false) { database in
            let code = try TenantCode("t-" + UUID().uuidString.prefix(12).lowercased())
            let key = APIKey.generate(tenant: code)
            try await withClient(database.ownerURL) { client in
                _ = try await Migrator(files: shipped.files.filter { $0.version < 11 }).migrate(client: client, logger: testLogger)
            }
            // Two warehouses, their lane, a rule version and WH-A's operator, as 0010's schema holds
            // them (today's TenantAdmin writes columns and tables of later migrations).
            try await withConnection(database.ownerURL) { connection in
                let tenant = UUID()
                try await connection.query("INSERT INTO tenants (tenant_id, code, name) VALUES (\(tenant), \(code.rawValue), 'upgrade')", logger: testLogger)
                try await connection.query(
                    """
                    INSERT INTO orgs (tenant_id, code, name, kind, can_settle, can_fulfil, can_supervise, province_code, city_code,
                        county_code, latitude_microdegrees, longitude_microdegrees)
                    VALUES (\(tenant), 'WH-A', 'upgrade WH-A', 'physical', false, true, false, '130000', '130100', '130102', 38042300, 114514300),
                        (\(tenant), 'WH-B', 'upgrade WH-B', 'physical', false, true, false, '140000', '140100', '140105', 37736500, 112565600)
                    """, logger: testLogger)
                try await connection.query(
                    """
                    INSERT INTO relations (tenant_id, kind, from_org_id, from_code, to_org_id, to_code, distance_km, lead_time_hours, valid_from)
                    SELECT a.tenant_id, 'transfers_with', a.org_id, a.code, b.org_id, b.code, 300, 10, now() - interval '1 day'
                    FROM orgs a JOIN orgs b ON b.tenant_id = a.tenant_id AND b.code = 'WH-B' WHERE a.tenant_id = \(tenant) AND a.code = 'WH-A'
                    """, logger: testLogger)
                try await connection.query(
                    "INSERT INTO pricing_rules (tenant_id, version, effective_from, body) VALUES (\(tenant), 'v1', now() - interval '1 day', '{}')",
                    logger: testLogger)
                try await connection.query(
                    """
                    WITH p AS (
                        INSERT INTO principals (tenant_id, name, org_id, role)
                        SELECT tenant_id, 'a-operator', org_id, 'org_operator' FROM orgs WHERE tenant_id = \(tenant) AND code = 'WH-A'
                        RETURNING tenant_id, principal_id, org_id)
                    INSERT INTO api_keys (tenant_id, principal_id, org_id, key_hash) SELECT tenant_id, principal_id, org_id, \(ByteBuffer(bytes: key.hash)) FROM p
                    """, logger: testLogger)
            }
            try await withConnection(database.ownerURL) { connection in
                try await connection.query(
                    """
                    INSERT INTO items (tenant_id, code, name, base_unit, quantity_scale, weight_grams_per_unit, category, shelf_life_days,
                        tax_code, tax_rate_basis_points)
                    SELECT tenant_id, 'MILK-FRESH', '鲜牛奶', 'L', 1000, 1030, 'fresh_milk', 7, '1030201010000000000', 900 FROM tenants
                    """, logger: testLogger)
            }
            // A transfer of 0010's shape, written by WH-A's operator as the Store then wrote it.
            try await withConnection(database.appURL) { connection in
                try await connection.query("BEGIN", logger: testLogger)
                _ = try await connection.query("SELECT 1 FROM app_begin(\(key.tenant.rawValue), \(ByteBuffer(bytes: key.hash)))", logger: testLogger)
                    .collect()
                try await connection.query(
                    """
                    INSERT INTO transfers (tenant_id, from_org_id, from_code, to_org_id, to_code, relation_id, status, rules_version,
                        estimate_total_fen, created_by)
                    SELECT r.tenant_id, r.from_org_id, r.from_code, r.to_org_id, r.to_code, r.relation_id, 'created', 'v1', 1,
                        current_setting('app.principal_id')::bigint
                    FROM relations r WHERE r.kind = 'transfers_with' AND r.from_code = 'WH-A'
                    """, logger: testLogger)
                try await connection.query(
                    """
                    INSERT INTO transfer_lines (tenant_id, transfer_id, line_no, from_org_id, to_org_id, item_id, quantity_scaled, unit_cost_fen,
                        base_cost_fen, freight_fen, insurance_fen, loss_allowance_fen, timeliness_fen, markup_fen, total_fen, breakdown)
                    SELECT t.tenant_id, t.transfer_id, 1, t.from_org_id, t.to_org_id, i.item_id, 1000, 1, 1, 0, 0, 0, 0, 0, 1, '[]'
                    FROM transfers t JOIN items i USING (tenant_id)
                    """, logger: testLogger)
                try await connection.query("COMMIT", logger: testLogger)
            }
            let applied = try await withClient(database.ownerURL) { client in try await shipped.migrate(client: client, logger: testLogger) }
            #expect(applied == shipped.files.filter { $0.version >= 11 }.map(\.name))
            try await withConnection(database.ownerURL) { connection in
                try await connection.query("UPDATE items SET weight_grams_per_unit = 1000, shelf_life_days = 30", logger: testLogger)
                let line = try await connection.query(
                    "SELECT weight_grams_per_unit, category, shelf_life_days FROM transfer_lines", logger: testLogger
                ).collect().map { try $0.decode((Int64, String, Int32).self) }
                #expect(line.count == 1 && line[0] == (1030, "fresh_milk", 7))
                let gone = try await connection.query(
                    "SELECT to_regprocedure('half_even_div(numeric, numeric)') IS NULL AND to_regprocedure('transfer_line_allowance(uuid, text, bigint, bigint)') IS NULL",
                    logger: testLogger
                ).collect().first?.decode(Bool.self)
                #expect(gone == true)
            }
        }
    }
}
