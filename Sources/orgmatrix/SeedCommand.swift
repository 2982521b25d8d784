import ArgumentParser
import Foundation
import Logging
import Metrics
import OrgMatrixStore
import PostgresNIO

/// `orgmatrix seed load FILE`: a tenant's demo business data from a seed file (`Seeds/*.yaml`),
/// posted through the same sandboxed Store calls the API uses, as the principals the file names;
/// `orgmatrix seed generate FILE`: a benchmark-scale tenant from the parameters in a file.
struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed", abstract: "Demo business data from seed files (Seeds/).",
        subcommands: [Load.self, SeedGenerate.self])

    struct Load: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Post a seed file's items, opening stock, purchases, transfers and sales, in one transaction, into a tenant without items."
        )

        @Argument(help: "The seed file, e.g. Seeds/dairy-demo.yaml.") var file: String
        @Option(help: "The tenant's keys written by `tenant apply --keys-out` (principal name → key).")
        var keys: String = ".data/demo-keys.json"
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try Settings.bootstrapLogging(format: database.logFormat, level: database.logLevel)
            let logger = Logger(label: "orgmatrix.seed")
            let keyFile: [String: String]
            do {
                keyFile = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: keys)))
            } catch {
                FileHandle.standardError.write(
                    Data("orgmatrix: cannot read the keys in \(keys): \(error.localizedDescription)\n".utf8))
                throw ExitCode(2)
            }
            let url = try Settings.databaseURL(
                flag: database.databaseURL, environmentKey: "DATABASE_URL", dataDir: database.dataDir)
            try await Settings.withClient(url, logger: logger) { client in
                // The posting orgs' custodial keys endorse the seeded steps, as they would in a request.
                let environment = ProcessInfo.processInfo.environment
                let masterKey = (environment[Settings.masterKeyEnvironmentKey] ?? "").isEmpty ? nil : try Settings.masterKey()
                let store = Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance, masterKey: masterKey)
                try await SeedCommand.load(file, keys: keyFile, keysFile: keys, database: store, logger: logger)
            }
        }
    }

    /// Reads, checks and loads `file`, saying on standard output what it did. A file with
    /// problems exits 2 listing them all, before anything is posted; a refusal while posting
    /// exits 1 naming its entry, with nothing loaded.
    static func load(_ file: String, keys keyFile: [String: String], keysFile: String, database: Database, logger: Logger)
        async throws
    {
        let seed: SeedFile
        let keys: [String: APIKey]
        do {
            seed = try SeedFile.parse(yaml: try String(contentsOfFile: file, encoding: .utf8), file: file)
            keys = try seed.keys(from: keyFile, keysFile: keysFile)
        } catch let error as SeedInvalid {
            FileHandle.standardError.write(Data("orgmatrix: \(file) is invalid; nothing was loaded:\n\(error)\n".utf8))
            throw ExitCode(2)
        } catch {
            FileHandle.standardError.write(Data("orgmatrix: cannot read \(file): \(error.localizedDescription)\n".utf8))
            throw ExitCode(2)
        }
        do {
            switch try await database.loadSeed(seed, keys: keys, logger: logger) {
            case .tenantHasItems:
                print(
                    "tenant \(seed.tenant) has items already; \(file) not loaded (a seed loads once, into a tenant without items)"
                )
            case .loaded(let counts):
                print(
                    "\(file) loaded into tenant \(seed.tenant): \(counts.items) items, \(counts.openingStocks) opening stock count(s), "
                        + "\(counts.purchases) purchase receipts, \(counts.transfers) transfers (\(counts.dispatched) dispatched, "
                        + "\(counts.received) received), \(counts.sales) sales")
            }
        } catch let problem as SeedProblem {
            FileHandle.standardError.write(
                Data("orgmatrix: \(problem)\norgmatrix: nothing was loaded (a seed loads in one transaction)\n".utf8))
            throw ExitCode(1)
        }
    }
}
