import ArgumentParser
import Foundation
import Hummingbird
import Logging
import OrgMatrixAPI
import OrgMatrixStore

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP API until SIGINT or SIGTERM; in-flight requests finish first.")

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Address to listen on (env ORGMATRIX_HOST).")
    var host: String = ProcessInfo.processInfo.environment["ORGMATRIX_HOST"] ?? "127.0.0.1"

    @Option(help: "Port to listen on (env ORGMATRIX_PORT).")
    var port: Int = Int(ProcessInfo.processInfo.environment["ORGMATRIX_PORT"] ?? "") ?? 8080

    @Option(help: "Pooled database connections at most.")
    var poolConnectionsMax: Int = 20

    @Option(help: "The sealer cuts a block once this many committed ledger transactions wait.")
    var sealMaxTransactions: Int = 500

    @Option(help: "… or once the oldest has waited this many milliseconds.")
    var sealMaxAgeMs: Int = 1000

    @Flag(help: "Run no block sealer in this process (another node seals).")
    var noSealer = false

    /// From the environment only, so the token never shows in a process listing.
    private var metricsToken: String? { ProcessInfo.processInfo.environment["ORGMATRIX_METRICS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } }

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0–65535") }
        guard (1...1000).contains(poolConnectionsMax) else { throw ValidationError("--pool-connections-max must be 1–1000") }
        guard (1...10_000).contains(sealMaxTransactions) else { throw ValidationError("--seal-max-transactions must be 1–10000") }
        guard (10...3_600_000).contains(sealMaxAgeMs) else { throw ValidationError("--seal-max-age-ms must be 10–3600000") }
    }

    func run() async throws {
        try Settings.bootstrapLogging(format: database.logFormat, level: database.logLevel)
        let logger = Logger(label: "orgmatrix")
        let url = try Settings.databaseURL(flag: database.databaseURL, environmentKey: "DATABASE_URL", dataDir: database.dataDir)
        logger.info(
            "starting",
            metadata: ["database": "\(url)", "host": "\(host)", "port": "\(port)", "metrics": "\(metricsToken == nil ? "off" : "token")"])
        // The master key is optional: without it the server posts and serves the ledger, but no
        // custodial key signs and no block is sealed (each refusal says so).
        let environment = ProcessInfo.processInfo.environment
        let masterKey = (environment[Settings.masterKeyEnvironmentKey] ?? "").isEmpty ? nil : try Settings.masterKey()
        if masterKey == nil { logger.warning("\(Settings.masterKeyEnvironmentKey) is not set: custodial keys cannot sign, no block is sealed") }
        let configuration = AppConfiguration(
            host: host, port: port, databaseURL: url, schemaDirectory: database.schemaDir,
            poolConnectionsMax: poolConnectionsMax, metricsToken: metricsToken, masterKey: masterKey,
            sealing: noSealer ? nil : SealingRule(maxTransactions: sealMaxTransactions, maxAge: .milliseconds(sealMaxAgeMs)))
        try await buildApplication(configuration, logger: logger).runService()
    }
}
