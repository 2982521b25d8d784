import Foundation
import Logging
import OrgMatrixCore
import PostgresNIO

/// Applies `Schema/NNNN_name.sql` files in order and reports how a database compares with them.
///
/// Each file runs in its own transaction together with its bookkeeping row, under an advisory
/// lock, so two runners started at once apply every file exactly once and a failing file leaves
/// nothing behind.
public struct Migrator: Sendable {
    public let files: [MigrationFile]

    public init(files: [MigrationFile]) {
        self.files = files.sorted { $0.version < $1.version }
    }

    /// Reads every `*.sql` file of `directory`.
    public static func load(directory: String) throws -> Migrator {
        let url = URL(fileURLWithPath: directory, isDirectory: true)
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: url.path)
        } catch {
            throw MigrationFailure(file: directory, message: "cannot read the schema directory: \(error.localizedDescription)")
        }
        var files: [MigrationFile] = []
        for name in names.sorted() where name.hasSuffix(".sql") {
            let contents: String
            do {
                contents = try String(contentsOf: url.appendingPathComponent(name), encoding: .utf8)
            } catch {
                throw MigrationFailure(file: name, message: "cannot read the file as UTF-8: \(error.localizedDescription)")
            }
            files.append(try MigrationFile(fileName: name, sql: contents))
        }
        guard !files.isEmpty else { throw MigrationFailure(file: directory, message: "no migration files found") }
        return Migrator(files: files)
    }

    /// Applies every pending file; returns the names applied, in order (empty when current).
    public func migrate(client: PostgresClient, logger: Logger) async throws -> [String] {
        var appliedNow: [String] = []
        while let name = try await applyNext(client: client, logger: logger) {
            logger.info("applied migration", metadata: ["migration": "\(name)"])
            appliedNow.append(name)
        }
        return appliedNow
    }

    /// Compares the database with the files. Any role that may read `schema_migrations` can ask.
    public func state(connection: PostgresConnection, logger: Logger) async throws -> MigrationState {
        let exists = try await connection.query(
            "SELECT to_regclass('public.schema_migrations') IS NOT NULL", logger: logger
        ).collect().first?.decode(Bool.self) ?? false
        guard exists else { return .pending(files.map(\.name)) }
        let applied = try await upgradingLegacyChecksums(try await Self.applied(connection: connection, logger: logger), connection: connection, logger: logger)
        return MigrationState.of(files: files, applied: applied)
    }

    /// Applies the first pending file in one transaction; nil when nothing is pending.
    private func applyNext(client: PostgresClient, logger: Logger) async throws -> String? {
        try await client.withConnection { connection in
            do {
                return try await connection.withTransaction(logger: logger) { connection in
                    try await applyNext(connection: connection, logger: logger)
                }
            } catch let error as PostgresTransactionError {
                throw error.closureError ?? error.commitError ?? error.beginError ?? error
            }
        }
    }

    private func applyNext(connection: PostgresConnection, logger: Logger) async throws -> String? {
        try await connection.query("SELECT pg_advisory_xact_lock(hashtext('orgmatrix.schema_migrations'))", logger: logger)
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                name text PRIMARY KEY,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                applied_by text NOT NULL DEFAULT current_user
            )
            """, logger: logger)
        let recorded = try await Self.applied(connection: connection, logger: logger)
        let applied = try await upgradingLegacyChecksums(recorded, connection: connection, logger: logger)
        for (before, after) in zip(recorded, applied) where before.checksum != after.checksum {
            try await connection.query(
                "UPDATE schema_migrations SET checksum = \(after.checksum) WHERE name = \(after.name) AND checksum = \(before.checksum)",
                logger: logger)
            logger.notice("recorded the migration's checksum under SM3", metadata: ["migration": "\(after.name)"])
        }
        let pending: [MigrationFile]
        do {
            pending = try MigrationPlan.pending(files: files, applied: applied)
        } catch {
            throw MigrationFailure(file: error.fileName, message: error.description)
        }
        guard let file = pending.first else { return nil }
        let statements: [String]
        do {
            statements = try SQLScript.statements(file.sql)
        } catch {
            throw MigrationFailure(file: file.name, message: error.description)
        }
        for (index, statement) in statements.enumerated() {
            do {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            } catch let error as PSQLError {
                throw MigrationFailure(file: file.name, statementNumber: index + 1, message: error.serverMessage)
            }
        }
        try await connection.query(
            "INSERT INTO schema_migrations (name, checksum) VALUES (\(file.name), \(file.checksum))", logger: logger)
        return file.name
    }

    /// Builds before SM3 recorded `sha256:<hex>`. PostgreSQL's own `sha256()` checks each such
    /// record against the file as it is now: a match is the same file, returned with its SM3
    /// checksum; anything else stays as recorded, so the plan reports the file as edited.
    private func upgradingLegacyChecksums(
        _ applied: [AppliedMigration], connection: PostgresConnection, logger: Logger
    ) async throws -> [AppliedMigration] {
        let filesByName = Dictionary(uniqueKeysWithValues: files.map { ($0.name, $0) })
        var result: [AppliedMigration] = []
        for record in applied {
            guard record.checksum.hasPrefix(MigrationFile.legacyPrefix), let file = filesByName[record.name] else {
                result.append(record)
                continue
            }
            let legacy = try await connection.query(
                "SELECT \(MigrationFile.legacyPrefix) || encode(sha256(convert_to(\(file.sql), 'UTF8')), 'hex')", logger: logger
            ).collect().first?.decode(String.self)
            result.append(legacy == record.checksum ? AppliedMigration(name: record.name, checksum: file.checksum) : record)
        }
        return result
    }

    private static func applied(connection: PostgresConnection, logger: Logger) async throws -> [AppliedMigration] {
        var applied: [AppliedMigration] = []
        let rows = try await connection.query("SELECT name, checksum FROM schema_migrations ORDER BY name", logger: logger)
        for try await (name, checksum) in rows.decode((String, String).self) {
            applied.append(AppliedMigration(name: name, checksum: checksum))
        }
        return applied
    }
}

/// A migration that could not be applied; names the file, and the statement when one failed.
public struct MigrationFailure: Error, CustomStringConvertible {
    public let file: String
    public let statementNumber: Int?
    public let message: String

    public init(file: String, statementNumber: Int? = nil, message: String) {
        self.file = file
        self.statementNumber = statementNumber
        self.message = message
    }

    public var description: String {
        let place = statementNumber.map { "\(file), statement \($0)" } ?? file
        return "migration \(place): \(message)"
    }
}

extension MigrationError {
    /// The file the error is about, for `MigrationFailure`.
    fileprivate var fileName: String {
        switch self {
        case .invalidFileName(let name), .edited(let name, _, _), .unknownApplied(let name), .outOfOrder(let name, _): name
        case .duplicateVersion(_, let names): names.joined(separator: ", ")
        }
    }
}

extension PSQLError {
    /// The server's own words (SQLSTATE, message, detail, hint) for operators; `description` is
    /// deliberately generic in PostgresNIO.
    var serverMessage: String {
        guard let info = serverInfo else { return String(reflecting: code) }
        let parts: [String?] = [
            info[.sqlState].map { "[\($0)]" }, info[.message], info[.detail].map { "detail: \($0)" },
            info[.hint].map { "hint: \($0)" },
        ]
        return parts.compactMap { $0 }.joined(separator: " ")
    }
}

/// Databases made and dropped whole (benchmarks, tests). A database name cannot be a bound
/// parameter, so this is, with the migrations above, the one place that writes SQL text itself:
/// the name is checked against a strict pattern first.
public enum ScratchDatabase {
    public struct Name: Sendable, CustomStringConvertible {
        public let rawValue: String

        public init(_ rawValue: String) throws {
            guard rawValue.wholeMatch(of: /[a-z][a-z0-9_]{0,62}/) != nil else {
                throw MigrationFailure(file: "-", message: "database name \(rawValue) must be lower-case letters, digits and underscores")
            }
            self.rawValue = rawValue
        }

        /// `prefix_` and 12 random hex digits.
        public init(random prefix: String) throws {
            try self.init(prefix + "_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12))
        }

        public var description: String { rawValue }
    }

    public static func create(_ name: Name, connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name.rawValue)"), logger: logger)
    }

    /// Drops the database. The owner may not terminate the application role's backends (FORCE
    /// needs pg_signal_backend), and a pool closes its connections asynchronously after its
    /// service stops, so a drop that finds them still there (42501) waits for them, up to 10 s.
    public static func drop(_ name: Name, connection: PostgresConnection, logger: Logger) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            do {
                try await connection.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name.rawValue) WITH (FORCE)"), logger: logger)
                return
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42501" && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}
