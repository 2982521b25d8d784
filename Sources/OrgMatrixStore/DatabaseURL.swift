import Foundation
import PostgresNIO

/// A parsed `postgres://user:password@host:port/database?sslmode=…` URL.
///
/// PostgresNIO takes a structured configuration; operators and `.data/pg.env` speak URLs. The
/// password is kept out of `description` so a URL can be logged.
public struct DatabaseURL: Sendable, CustomStringConvertible {
    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public let host: String
    public let port: Int
    public let username: String
    public let password: String?
    public let database: String
    public let tlsMode: TLSMode

    public struct InvalidError: Error, CustomStringConvertible {
        public let field: String
        public let reason: String
        public var description: String { "invalid database URL: \(field) \(reason)" }
    }

    public init(_ text: String) throws(InvalidError) {
        guard let components = URLComponents(string: text) else {
            throw InvalidError(field: "url", reason: "is not a URL")
        }
        guard components.scheme == "postgres" || components.scheme == "postgresql" else {
            throw InvalidError(field: "scheme", reason: "must be postgres:// or postgresql://")
        }
        guard let host = components.host, !host.isEmpty else { throw InvalidError(field: "host", reason: "is missing") }
        guard let user = components.user, !user.isEmpty else { throw InvalidError(field: "user", reason: "is missing") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty else { throw InvalidError(field: "database", reason: "is missing (the path after the port)") }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw InvalidError(field: "port", reason: "must be 1–65535") }
        let sslmode = components.queryItems?.first { $0.name == "sslmode" }?.value
        let isLoopback = host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]"
        guard let tlsMode = sslmode.map(TLSMode.init(rawValue:)) ?? (isLoopback ? .disable : .prefer) else {
            throw InvalidError(field: "sslmode", reason: "must be disable, prefer or require")
        }
        self.host = host
        self.port = port
        self.username = user
        self.password = components.password
        self.database = database
        self.tlsMode = tlsMode
    }

    /// The URL with the password replaced, safe for logs.
    public var description: String { "postgres://\(username):***@\(host):\(port)/\(database)" }

    /// A PostgresNIO configuration for this URL with at most `maximumConnections` pooled connections.
    public func clientConfiguration(maximumConnections: Int, connectTimeout: Duration) -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch tlsMode {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = connectTimeout
        return configuration
    }

    /// The same server and credentials, another database (tests create throwaway databases).
    public func replacingDatabase(_ newDatabase: String) -> DatabaseURL {
        DatabaseURL(host: host, port: port, username: username, password: password, database: newDatabase, tlsMode: tlsMode)
    }

    private init(host: String, port: Int, username: String, password: String?, database: String, tlsMode: TLSMode) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tlsMode = tlsMode
    }
}
