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
        let applied = try await Settings.withClient(url, logger: logger) { try await migrator.migrate(client: $0, logger: logger) }
        print(applied.isEmpty ? "schema is current (\(migrator.files.count) migrations)" : "applied: \(applied.joined(separator: ", "))")
    }
}
