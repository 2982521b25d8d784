import Foundation
import Logging
import OrgMatrixStore
import PostgresNIO

/// Where the tests' PostgreSQL is: the cluster `ops/test` starts (its URLs exported, or read from
/// `.data/test/pg.env`). Tests never skip for want of a database: they fail and say how to get one.
public struct TestEnvironment: Sendable {
    /// The owner's and the application's URLs as text, for handing to the `orgmatrix` executable.
    public let ownerURLText: String
    public let appURLText: String
    public let ownerURL: DatabaseURL
    public let appURL: DatabaseURL
    public let auditorURL: DatabaseURL

    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static let schemaDirectory = repositoryRoot.appendingPathComponent("Schema").path

    /// The built `orgmatrix` executable (the product): beside the test bundle that is running.
    public static let orgmatrixExecutable = builtExecutable("orgmatrix")
    /// The built `orgmatrix-bench` executable (the benchmarks), found the same way.
    public static let orgmatrixBenchExecutable = builtExecutable("orgmatrix-bench")

    private static func builtExecutable(_ name: String) -> String {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = runner.deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return repositoryRoot.appendingPathComponent(".build/debug/\(name)").path
    }

    public static func load() throws -> TestEnvironment {
        var values = ProcessInfo.processInfo.environment
        let envFile = repositoryRoot.appendingPathComponent(".data/test/pg.env")
        if values["OWNER_DATABASE_URL"] == nil, let text = try? String(contentsOf: envFile, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { values[parts[0]] = parts[1] }
            }
        }
        guard let owner = values["OWNER_DATABASE_URL"], let app = values["DATABASE_URL"],
            let auditor = values["AUDITOR_DATABASE_URL"]
        else {
            throw TestSetupError("no test database: run the tests with ops/test (or `ops/pg start --dir .data/test` first)")
        }
        return TestEnvironment(
            ownerURLText: owner, appURLText: app, ownerURL: try DatabaseURL(owner), appURL: try DatabaseURL(app), auditorURL: try DatabaseURL(auditor))
    }
}

public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A database of its own for one test, created from nothing and dropped afterwards even when the
/// test fails; the three roles' URLs point into it.
public struct ThrowawayDatabase: Sendable {
    public let name: String
    public let ownerURL: DatabaseURL
    public let appURL: DatabaseURL
    public let auditorURL: DatabaseURL

    public static func with<T: Sendable>(
        migrated: Bool = true,
        _ body: @Sendable (ThrowawayDatabase) async throws -> T
    ) async throws -> T {
        let environment = try TestEnvironment.load()
        let scratch = try ScratchDatabase.Name(random: "test")
        let name = scratch.rawValue
        let database = ThrowawayDatabase(
            name: name, ownerURL: environment.ownerURL.replacingDatabase(name),
            appURL: environment.appURL.replacingDatabase(name), auditorURL: environment.auditorURL.replacingDatabase(name))
        do {
            try await withConnection(environment.ownerURL) { connection in
                try await ScratchDatabase.create(scratch, connection: connection, logger: testLogger)
            }
        } catch let error as PSQLError {
            throw TestSetupError("CREATE DATABASE: " + String(reflecting: error))
        }
        let result: Result<T, any Error>
        do {
            if migrated {
                try await withClient(database.ownerURL) { client in
                    _ = try await Migrator.load(directory: TestEnvironment.schemaDirectory).migrate(client: client, logger: testLogger)
                }
            }
            result = .success(try await body(database))
        } catch let error as PSQLError {
            // PSQLError's description is generic on purpose; a failing test needs the server's words.
            result = .failure(TestSetupError(String(reflecting: error)))
        } catch {
            result = .failure(error)
        }
        try await drop(scratch, ownerURL: environment.ownerURL)
        return try result.get()
    }
}

/// Drops a test database (ScratchDatabase.drop waits for pools that are still closing).
private func drop(_ name: ScratchDatabase.Name, ownerURL: DatabaseURL) async throws {
    do {
        try await withConnection(ownerURL) { connection in
            try await ScratchDatabase.drop(name, connection: connection, logger: testLogger)
        }
    } catch let error as PSQLError {
        throw TestSetupError("DROP DATABASE: " + String(reflecting: error))
    }
}

public let testLogger: Logger = {
    var logger = Logger(label: "orgmatrix.tests")
    logger.logLevel = .error
    return logger
}()

/// One plain connection, closed afterwards.
@discardableResult
public func withConnection<T: Sendable>(
    _ url: DatabaseURL, _ body: @Sendable (PostgresConnection) async throws -> T
) async throws -> T {
    let configuration = PostgresConnection.Configuration(
        host: url.host, port: url.port, username: url.username, password: url.password, database: url.database, tls: .disable)
    let connection: PostgresConnection
    do {
        connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: testLogger)
    } catch let error as PSQLError {
        // PSQLError's description hides the server's message; a failed connect is the test setup's.
        throw TestSetupError("connecting to \(url.database) as \(url.username): " + String(reflecting: error))
    }
    do {
        let value = try await body(connection)
        try await connection.close()
        return value
    } catch {
        try? await connection.close()
        throw error
    }
}

/// A running pool, shut down afterwards.
public func withClient<T: Sendable>(
    _ url: DatabaseURL, maximumConnections: Int = 4, _ body: @Sendable (PostgresClient) async throws -> T
) async throws -> T {
    let client = PostgresClient(
        configuration: url.clientConfiguration(maximumConnections: maximumConnections, connectTimeout: .seconds(10)),
        backgroundLogger: testLogger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

extension PSQLError {
    /// The SQLSTATE the server answered with, for asserting on permission errors.
    public var sqlState: String? { serverInfo?[.sqlState] }
}
