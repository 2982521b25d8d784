import SMCrypto

/// One numbered schema migration, `NNNN_name.sql`, as read from `Schema/`.
public struct MigrationFile: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String
    /// `sm3:<hex>` of the file's UTF-8 bytes. The prefix names the algorithm: databases migrated
    /// before SM3 recorded `sha256:<hex>`, which the Migrator upgrades once (`legacyPrefix`).
    public let checksum: String

    public static let checksumPrefix = "sm3:"
    /// What builds before SM3 recorded; only PostgreSQL's `sha256()` still computes it.
    public static let legacyPrefix = "sha256:"

    /// Validates the file name (`0001_lower_snake.sql`) and fingerprints the contents.
    public init(fileName: String, sql: String) throws(MigrationError) {
        guard let version = Self.version(ofFileName: fileName) else { throw .invalidFileName(fileName) }
        self.version = version
        self.name = fileName
        self.sql = sql
        self.checksum = Self.checksumPrefix + Hex.encode(SM3.hash(sql))
    }

    private static func version(ofFileName fileName: String) -> Int? {
        let scalars = Array(fileName.unicodeScalars)
        guard scalars.count > 9, fileName.hasSuffix(".sql"), scalars[4] == "_" else { return nil }
        let digits = scalars[0..<4]
        let stem = scalars[5..<(scalars.count - 4)]
        guard digits.allSatisfy({ ("0"..."9").contains($0) }),
            stem.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" })
        else { return nil }
        return Int(String(String.UnicodeScalarView(digits)))
    }
}

/// A migration recorded as applied in the database.
public struct AppliedMigration: Sendable, Equatable {
    public let name: String
    public let checksum: String

    public init(name: String, checksum: String) {
        self.name = name
        self.checksum = checksum
    }
}

/// Why a set of migration files cannot be reconciled with a database. Every case names the file.
public enum MigrationError: Error, Equatable, CustomStringConvertible {
    case invalidFileName(String)
    case duplicateVersion(Int, [String])
    /// An applied file's contents changed since it was applied; history must be amended by a new file.
    case edited(name: String, appliedChecksum: String, fileChecksum: String)
    /// The database has a migration this build does not know: it was migrated by a newer build.
    case unknownApplied(name: String)
    /// A pending file is numbered below one already applied, so applying it would rewrite history.
    case outOfOrder(name: String, latestApplied: String)

    public var description: String {
        switch self {
        case .invalidFileName(let name):
            "migration file \(name) is not named NNNN_lower_snake_case.sql"
        case .duplicateVersion(let version, let names):
            "migration number \(version) is used by more than one file: \(names.joined(separator: ", "))"
        case .edited(let name, let applied, let file):
            "migration \(name) was edited after it was applied (applied \(applied), file now \(file)); add a new migration instead"
        case .unknownApplied(let name):
            "the database has migration \(name) applied, but no such file exists here; is this build older than the database?"
        case .outOfOrder(let name, let latest):
            "migration \(name) is pending but numbered below \(latest), which is already applied"
        }
    }
}

/// Decides what to apply: the pure half of the migrations runner.
public enum MigrationPlan {
    /// The files still to apply, in order, after checking that what is applied matches the files.
    public static func pending(files: [MigrationFile], applied: [AppliedMigration]) throws(MigrationError) -> [MigrationFile] {
        let ordered = files.sorted { $0.version < $1.version }
        var byVersion: [Int: [String]] = [:]
        for file in ordered { byVersion[file.version, default: []].append(file.name) }
        if let (version, names) = byVersion.filter({ $0.value.count > 1 }).min(by: { $0.key < $1.key }) {
            throw .duplicateVersion(version, names)
        }
        let filesByName = Dictionary(uniqueKeysWithValues: ordered.map { ($0.name, $0) })
        for record in applied {
            guard let file = filesByName[record.name] else { throw .unknownApplied(name: record.name) }
            guard file.checksum == record.checksum else {
                throw .edited(name: record.name, appliedChecksum: record.checksum, fileChecksum: file.checksum)
            }
        }
        let appliedNames = Set(applied.map(\.name))
        let latestApplied = ordered.last { appliedNames.contains($0.name) }
        let pending = ordered.filter { !appliedNames.contains($0.name) }
        if let latestApplied, let early = pending.first(where: { $0.version < latestApplied.version }) {
            throw .outOfOrder(name: early.name, latestApplied: latestApplied.name)
        }
        return pending
    }
}

/// How a database's applied migrations compare with the files this build ships; `/readyz` reports it.
public enum MigrationState: Sendable, Equatable {
    case current(appliedCount: Int)
    case pending([String])
    case inconsistent(MigrationError)

    public static func of(files: [MigrationFile], applied: [AppliedMigration]) -> MigrationState {
        do {
            let pending = try MigrationPlan.pending(files: files, applied: applied)
            return pending.isEmpty ? .current(appliedCount: applied.count) : .pending(pending.map(\.name))
        } catch {
            return .inconsistent(error)
        }
    }
}
