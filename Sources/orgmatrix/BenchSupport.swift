import Logging
import OrgMatrixStore
import PostgresNIO

/// p50 and p99 of latencies in milliseconds (nearest rank).
struct Percentiles {
    let p50: Double
    let p99: Double

    init(_ milliseconds: [Double]) {
        let sorted = milliseconds.sorted()
        func rank(_ fraction: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            return sorted[max(0, Int((fraction * Double(sorted.count)).rounded(.up)) - 1)]
        }
        (p50, p99) = (rank(0.50), rank(0.99))
    }
}

/// Milliseconds `body` took.
func milliseconds(_ body: () async throws -> Void) async throws -> Double {
    let started = ContinuousClock.now
    try await body()
    return seconds(ContinuousClock.now - started) * 1000
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// One plain connection for setup and monitoring statements.
enum BenchConnection {
    @discardableResult
    static func with<T>(_ url: DatabaseURL, _ logger: Logger, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password, database: url.database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
