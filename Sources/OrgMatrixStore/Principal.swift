import Foundation
import Logging
import NIOCore
import OrgMatrixCore
import PostgresNIO
import SMCrypto

/// An API key: `omx_<tenant code>_<48 hex digits>`. The tenant code lets the server find the
/// tenant without a cross-tenant index; only SM3 of the whole key is stored.
public struct APIKey: Sendable, Hashable, CustomStringConvertible {
    public let tenant: TenantCode
    public let text: String

    /// A new key with 192 random bits.
    public static func generate(tenant: TenantCode) -> APIKey {
        APIKey(tenant: tenant, text: "omx_\(tenant.rawValue)_\(Hex.encode(SMCrypto.randomBytes(24)))")
    }

    /// Parses a presented key; nil when it cannot be one of ours (the caller answers 401).
    public init?(_ text: String) {
        let parts = text.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "omx", parts[2].count == 48, parts[2].allSatisfy(\.isHexDigit),
            let tenant = try? TenantCode(String(parts[1]))
        else { return nil }
        self.init(tenant: tenant, text: text)
    }

    private init(tenant: TenantCode, text: String) {
        self.tenant = tenant
        self.text = text
    }

    /// SM3 of the key's bytes: what the database stores and looks up.
    public var hash: [UInt8] { SM3.hash(text) }

    /// Never the key itself, so a key cannot reach a log by accident.
    public var description: String { "APIKey(\(tenant), …)" }
}

/// Who is acting: established by the database from the API key, for one transaction.
public struct Principal: Sendable, Hashable {
    public let tenantID: TenantID
    public let tenantCode: TenantCode
    public let principalID: Int64
    public let name: String
    public let orgID: OrgID
    public let orgCode: OrgCode
    public let role: PrincipalRole
}

/// One request's transaction inside a principal's sandbox. Row-level security holds whatever
/// Swift forgets; Swift checks roles first so that callers get 403 rather than an empty answer.
public struct Sandbox: Sendable {
    public let principal: Principal
    let key: APIKey
    public let connection: PostgresConnection
    public let logger: Logger
    public let requestID: String
    let masterKey: MasterKey?
    /// Whether the acting org was found to hold stock in this transaction, so that the API's
    /// authorization and the Store's second check look it up once.
    var holdsStock = false
}

extension Database {
    /// Runs `body` in one transaction whose first statement authenticates `key` and sets the
    /// principal's signed context (see Schema/0002_tenancy.sql). Throws `.unauthenticated` for an
    /// unknown or revoked key; a throw from `body` rolls everything back.
    public func withSandbox<Result: Sendable>(
        key: APIKey, requestID: String, logger: Logger, _ body: @Sendable (Sandbox) async throws -> Result
    ) async throws -> Result {
        do {
            return try await withTransaction(logger: logger) { connection in
                try await body(
                    try await Self.begin(key: key, requestID: requestID, masterKey: masterKey, connection: connection, logger: logger))
            }
        } catch let error where Self.refusal(of: error) != nil {
            logger.warning("the database refused a request's values", metadata: ["sqlstate": "\(Self.sqlState(error)!)"])
            throw Self.refusal(of: error)!
        }
    }

    /// Runs `body` in one transaction in which principals act one after another (a seed file's
    /// entries, `loadSeed`): each `PrincipalSequence.sandbox(key:)` runs `app_begin` again on the
    /// same connection, so what follows runs under that principal's signed context, sandbox and
    /// rules exactly as in a request of its own, and a throw anywhere rolls all of it back.
    func withPrincipals<Result: Sendable>(
        requestID: String, logger: Logger, _ body: @Sendable (PrincipalSequence) async throws -> Result
    ) async throws -> Result {
        try await withTransaction(logger: logger) { connection in
            try await body(PrincipalSequence(connection: connection, logger: logger, requestID: requestID, masterKey: masterKey))
        }
    }

    /// What a data exception of PostgreSQL means to the caller: the request's values, not the
    /// server, are at fault. Edge checks catch these first; this is the net behind them.
    static func refusal(of error: any Error) -> StoreError? {
        switch sqlState(error) {
        case "22003":
            StoreError(.conflict, "The posting would push a stored total (a balance's quantity or value) past 2^63 − 1.", field: "lines")
        case "22021", "22P05":
            StoreError(.invalid, "Text must be UTF-8 without NUL characters.", field: "body")
        case "23505":
            // Two requests raced to create the same thing; the loser's check passed before the winner committed.
            StoreError(.conflict, "That exists already (a concurrent request created it first).")
        case "23514", "22001", "22008", "22007":
            StoreError(.invalid, "A value is outside what the database accepts for it.", field: "body")
        default:
            nil
        }
    }

    /// Authenticates `key` on `connection` (`app_begin`) and returns its principal's sandbox.
    static func begin(
        key: APIKey, requestID: String, masterKey: MasterKey?, connection: PostgresConnection, logger: Logger
    ) async throws -> Sandbox {
        let rows = try await connection.query(
            """
            SELECT tenant_id, principal_id, principal_name, org_id, org_code, role
            FROM app_begin(\(key.tenant.rawValue), \(ByteBuffer(bytes: key.hash)))
            """, logger: logger
        ).collect()
        guard let row = rows.first else { throw StoreError(.unauthenticated, "The API key is unknown or revoked.") }
        let (tenantID, principalID, name, orgID, orgCode, role) = try row.decode((UUID, Int64, String, Int64, String, String).self)
        guard let role = PrincipalRole(rawValue: role) else { throw StoreError(.unauthenticated, "Unknown role \(role).") }
        let principal = Principal(
            tenantID: TenantID(tenantID), tenantCode: key.tenant, principalID: principalID, name: name, orgID: OrgID(orgID),
            orgCode: try OrgCode(orgCode), role: role)
        return Sandbox(principal: principal, key: key, connection: connection, logger: logger, requestID: requestID, masterKey: masterKey)
    }
}

/// One transaction shared by principals acting in turn. A sandbox it hands out is valid until
/// the next one is asked for: the database's context is then the next principal's.
struct PrincipalSequence: Sendable {
    let connection: PostgresConnection
    let logger: Logger
    let requestID: String
    let masterKey: MasterKey?

    func sandbox(key: APIKey) async throws -> Sandbox {
        try await Database.begin(key: key, requestID: requestID, masterKey: masterKey, connection: connection, logger: logger)
    }
}
