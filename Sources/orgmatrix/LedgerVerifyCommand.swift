import ArgumentParser
import Foundation
import Logging
import Metrics
import OrgMatrixAPI
import OrgMatrixCore
import OrgMatrixStore
import PostgresNIO

extension LedgerCommand {
    /// `orgmatrix ledger verify`: the online verification GET /v1/ledger/verify runs, from the
    /// command line, connected as the application role the server connects as and acting as the
    /// principal of an API key (hq_admin or auditor), so the database's row-level security
    /// decides what it reads exactly as for the server.
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Verify a tenant's whole ledger (hashes, signatures, keys, blocks, the books) as an hq_admin or auditor principal.",
            discussion:
                "The API key comes from $\(Verify.keyEnvironmentKey) or --key-file. Exit status: 0 clean, 1 failures found, 2 usage or configuration."
        )

        static let keyEnvironmentKey = "ORGMATRIX_API_KEY"

        @OptionGroup var principal: PrincipalOptions
        @Flag(help: "Print the report as JSON (what GET /v1/ledger/verify answers, with every failure).") var json = false

        func run() async throws {
            let (key, logger, url) = try principal.prepare()
            let bar = ProgressBar(enabled: isatty(STDERR_FILENO) == 1)
            let verification: LedgerVerification
            do {
                verification = try await Settings.withClient(url, logger: logger) { client in
                    let database = Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance)
                    return try await database.verifyLedger(
                        key: key, requestID: "cli-" + UUID().uuidString.lowercased(), logger: logger, progress: bar.show)
                }
            } catch let error as StoreError {
                bar.clear()
                try fail(error.detail)
            } catch {
                bar.clear()
                try fail("cannot verify the ledger: \(String(reflecting: error))")
            }
            bar.clear()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(LedgerVerificationView(verification)), as: UTF8.self))
            } else {
                print(Self.report(verification))
            }
            if !verification.report.isClean { throw ExitCode(1) }
        }

        /// The principal's key (from `keyFile`, else $ORGMATRIX_API_KEY), for the tenant asked about.
        static func principalKey(tenant: String?, keyFile: String?) throws -> APIKey {
            guard let tenant else { throw UsageError("--tenant is required") }
            let code: TenantCode
            do { code = try TenantCode(tenant) } catch { throw UsageError("--tenant \(error.reason)") }
            let text: String
            if let keyFile {
                do {
                    text = try Files.readText(keyFile)
                } catch {
                    throw UsageError("--key-file: \(error)")
                }
            } else {
                guard let value = ProcessInfo.processInfo.environment[Self.keyEnvironmentKey], !value.isEmpty else {
                    throw UsageError(
                        "no API key: set \(Self.keyEnvironmentKey) or pass --key-file (an hq_admin or auditor principal's)")
                }
                text = value
            }
            guard let key = APIKey(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw UsageError("the API key is not one (omx_<tenant>_<48 hex digits>)")
            }
            guard key.tenant == code else { throw UsageError("the API key is tenant \(key.tenant)'s, not \(code)'s") }
            return key
        }

        /// A human report: the verdict, what was read, then every failure on a line of its own.
        static func report(_ verification: LedgerVerification) -> String {
            let (report, counts) = (verification.report, verification.report.counts)
            let verdict = report.isClean ? "clean" : "\(report.failures.count) failure\(report.failures.count == 1 ? "" : "s")"
            let lines = [
                "ledger of tenant \(verification.tenant): \(verdict)",
                "  keys \(verification.keys); transactions \(counts.transactions) (committed \(counts.committed), "
                    + "pending \(counts.pending), disputed \(counts.disputed)); endorsements checked \(counts.endorsementsChecked)",
                "  blocks \(counts.blocks) sealing \(counts.sealedTransactions) transactions; transfers reconciled \(verification.transfersReconciled)",
            ]
            return (lines + report.failures.map { "  \($0)" }).joined(separator: "\n")
        }
    }
}

/// What every command acting as an API key's principal takes: the tenant, the key, the database.
struct PrincipalOptions: ParsableArguments {
    @Option(help: "The tenant's code (the API key's tenant).") var tenant: String?
    @Option(help: "A file holding the principal's API key (default: $ORGMATRIX_API_KEY).") var keyFile: String?
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        let _: APIKey = try usage { try LedgerCommand.Verify.principalKey(tenant: tenant, keyFile: keyFile) }
    }

    /// The key, a logger and the database's URL; a problem with any exits 2 naming it.
    func prepare() throws -> (APIKey, Logger, DatabaseURL) {
        let key = try usage { try LedgerCommand.Verify.principalKey(tenant: tenant, keyFile: keyFile) }
        try Settings.bootstrapLogging(format: database.logFormat, level: database.logLevel)
        let url = try usage {
            try Settings.databaseURL(flag: database.databaseURL, environmentKey: "DATABASE_URL", dataDir: database.dataDir)
        }
        return (key, Logger(label: "orgmatrix.ledger"), url)
    }

    /// Runs `body` in the key's principal's sandbox (the database's policies decide, as for the
    /// server); a refusal prints its reason and exits 2.
    func inSandbox<T: Sendable>(_ body: @escaping @Sendable (Sandbox) async throws -> T) async throws -> T {
        let (key, logger, url) = try prepare()
        do {
            return try await Settings.withClient(url, logger: logger) { client in
                let database = Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance)
                return try await database.withSandbox(key: key, requestID: "cli-" + UUID().uuidString.lowercased(), logger: logger, body)
            }
        } catch let error as StoreError {
            try fail(error.detail)
        } catch let error as PostgresTransactionError {
            // A refusal inside the sandbox's transaction comes wrapped in it.
            guard let refusal = error.closureError as? StoreError else { throw error }
            try fail(refusal.detail)
        }
    }
}

/// A refusal before any work: the reason on standard error, exit status 2.
struct UsageError: Error, CustomStringConvertible {
    let reason: String
    init(_ reason: String) { self.reason = reason }
    var description: String { reason }
}

/// Runs `body`; a usage or configuration problem prints its reason and exits 2.
func usage<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as UsageError {
        try fail(error.reason)
    } catch let error as UnusableInput {
        try fail(error.description)
    } catch let error as SettingsError {
        try fail(error.description)
    } catch let error as DatabaseURL.InvalidError {
        try fail("the database URL: \(error)")
    }
}

func fail(_ reason: String) throws -> Never {
    FileHandle.standardError.write(Data("orgmatrix: \(reason)\n".utf8))
    throw ExitCode(2)
}

/// Done of total, redrawn on standard error after each step; only on a terminal.
struct ProgressBar: Sendable {
    let enabled: Bool
    static let width = 30

    func show(_ progress: LedgerVerificationProgress) {
        show(label: "verifying", done: progress.rowsRead, total: progress.rowsTotal, unit: "rows")
    }

    func show(label: String, done: Int, total: Int, unit: String) {
        guard enabled, total > 0 else { return }
        let done = min(done, total)
        let filled = done * Self.width / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: Self.width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total) \(unit) (\(done * 100 / total) %)".utf8))
    }

    /// Erases the bar's line.
    func clear() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
