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
}
