import ArgumentParser
import Logging
import OrgMatrixStore
import PostgresNIO

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending Schema/ migrations as the owner role (URL: --database-url, $OWNER_DATABASE_URL, or pg.env).")

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        try Settings.bootstrapLogging(format: database.logFormat, level: database.logLevel)
        let logger = Logger(label: "orgmatrix.migrate")
        let url = try Settings.databaseURL(
            flag: database.databaseURL, environmentKey: "OWNER_DATABASE_URL", dataDir: database.dataDir)
        let migrator = try Migrator.load(directory: database.schemaDir)
        let client = PostgresClient(
            configuration: url.clientConfiguration(maximumConnections: 1, connectTimeout: .seconds(10)), backgroundLogger: Settings.quiet(logger))
        let applied = try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await migrator.migrate(client: client, logger: logger)
        }
        print(applied.isEmpty ? "schema is current (\(migrator.files.count) migrations)" : "applied: \(applied.joined(separator: ", "))")
    }
}
