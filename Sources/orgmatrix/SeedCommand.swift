import ArgumentParser
import Foundation
import Logging
import Metrics
import OrgMatrixStore
import PostgresNIO

/// `orgmatrix seed demo`: business data for the dairy demo, posted through the same sandboxed
/// Store calls the API uses, as the demo principals, so that the run command shows a living
/// group. Runs once: it does nothing when the tenant has items already.
struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "seed", abstract: "Demo business data.", subcommands: [Demo.self, SeedGenerate.self])

    struct Demo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Items, opening stock, ranch purchases, transfers to the central and forward warehouses, and sales.")

        @Option(help: "The demo keys written by `tenant apply --keys-out` (principal name → key).")
        var keys: String = ".data/demo-keys.json"
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try Settings.bootstrapLogging(format: database.logFormat, level: database.logLevel)
            let logger = Logger(label: "orgmatrix.seed")
            let keyFile: [String: String]
            do {
                keyFile = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: keys)))
            } catch {
                throw UnusableInput("cannot read the demo keys in \(keys): \(error.localizedDescription)")
            }
            let url = try Settings.databaseURL(flag: database.databaseURL, environmentKey: "DATABASE_URL", dataDir: database.dataDir)
            try await Settings.withClient(url, logger: logger) { client in
                let store = Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance)
                try await DemoSeed(database: store, keys: keyFile, logger: logger).run()
            }
        }
    }
}
