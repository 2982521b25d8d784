import Foundation
import Logging
import PostgresNIO

/// What the command-line executables (`orgmatrix`, `orgmatrix-bench`) share to reach a database
/// and to log: which database a command talks to — an explicit flag, then the environment, then
/// the private cluster's `pg.env`, so `DATABASE_URL` always wins over the private cluster — a
/// short-lived pool, and the process's log handler.
public enum Settings {
    public static func databaseURL(flag: String?, environmentKey: String, dataDir: String) throws -> DatabaseURL {
        if let flag { return try DatabaseURL(flag) }
        if let value = ProcessInfo.processInfo.environment[environmentKey], !value.isEmpty { return try DatabaseURL(value) }
        let envFile = URL(fileURLWithPath: dataDir).appendingPathComponent("pg.env")
        guard let text = try? String(contentsOf: envFile, encoding: .utf8) else {
            throw SettingsError(
                "no database: set \(environmentKey), pass --database-url, or start the private cluster with `ops/pg start` (\(envFile.path) not found)"
            )
        }
        for line in text.split(separator: "\n") where line.hasPrefix(environmentKey + "=") {
            return try DatabaseURL(String(line.dropFirst(environmentKey.count + 1)))
        }
        throw SettingsError("\(envFile.path) has no \(environmentKey) line")
    }

    /// The environment variable naming the master key file (32 hex digits, mode 0600, owned by
    /// the user running the process): what wraps each tenant's data key, which seals custodial keys.
    public static let masterKeyEnvironmentKey = "ORGMATRIX_MASTER_KEY_FILE"

    /// The master key from the file the environment names; never logged (only its fingerprint's
    /// first digits appear in messages).
    public static func masterKey(environmentKey: String = masterKeyEnvironmentKey) throws(KeyError) -> MasterKey {
        guard let path = ProcessInfo.processInfo.environment[environmentKey], !path.isEmpty else {
            throw KeyError(
                .masterKeyNotConfigured,
                "\(environmentKey) is not set: it names the file holding the 128-bit master key (32 hex digits, mode 0600); "
                    + "ops/run and ops/test create one under .data/")
        }
        return try MasterKey(contentsOfFile: path)
    }

    /// Runs `body` with a one-connection pool for a short-lived command, shut down afterwards.
    public static func withClient<T>(_ url: DatabaseURL, logger: Logger, _ body: (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(
            configuration: url.clientConfiguration(maximumConnections: 1, connectTimeout: .seconds(10)), backgroundLogger: quiet(logger))
        return try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// A short-lived command starts its pool and uses it at once, and the pool warns when the
    /// first lease can beat `run()`; its background chatter below errors says nothing useful there.
    static func quiet(_ logger: Logger) -> Logger {
        var quiet = logger
        quiet.logLevel = .error
        return quiet
    }

    public static func bootstrapLogging(format: LogFormat, level: String, output: FileHandle = .standardError) throws {
        guard let logLevel = Logger.Level(rawValue: level) else { throw SettingsError("unknown log level \(level)") }
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                switch format {
                case .json: JSONLogHandler(label: label, output: output)
                case .text: StreamLogHandler.standardError(label: label)
                }
            handler.logLevel = logLevel
            return handler
        }
    }
}

public struct SettingsError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
