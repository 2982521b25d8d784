import Logging
import Metrics
import PostgresNIO

/// The pooled PostgreSQL client plus the figures `/metrics` reports about it.
///
/// PostgresNIO keeps its pool's internals private, so the pool is measured where we use it:
/// transactions in flight (a saturated pool shows as in-flight stuck at the maximum), their
/// duration, and failures.
public struct Database: Sendable {
    public let client: PostgresClient
    public let maximumConnections: Int
    /// What custodial signing needs (Keys.swift); nil when the server was started without
    /// `ORGMATRIX_MASTER_KEY_FILE`, and then no custodial key signs.
    public let masterKey: MasterKey?
    private let inFlight: Meter
    private let duration: Metrics.Timer
    private let failures: Counter
    private let retries: Counter
    /// The sealer's tenant logs between blocks (Sealer.swift); shared by every copy of this value.
    let logFrontiers = LogFrontiers()

    public init(client: PostgresClient, maximumConnections: Int, metricsFactory: any MetricsFactory, masterKey: MasterKey? = nil) {
        self.client = client
        self.maximumConnections = maximumConnections
        self.masterKey = masterKey
        self.inFlight = Meter(label: "orgmatrix_db_transactions_in_flight", factory: metricsFactory)
        self.duration = Metrics.Timer(label: "orgmatrix_db_transaction_duration_seconds", factory: metricsFactory)
        self.failures = Counter(label: "orgmatrix_db_transaction_failures_total", factory: metricsFactory)
        self.retries = Counter(label: "orgmatrix_db_transaction_retries_total", factory: metricsFactory)
        Gauge(label: "orgmatrix_db_pool_max_connections", factory: metricsFactory).record(maximumConnections)
    }

    /// Runs `body` in one transaction on a pooled connection, committing when it returns and
    /// rolling back when it throws. A transaction PostgreSQL aborted to break a deadlock (or a
    /// serialization failure) is run again from the start, up to `attempts` times in all: it
    /// changed nothing, and postings lock in item order, so a second try rarely meets one again.
    public func withTransaction<Result: Sendable>(
        logger: Logger, attempts: Int = 3,
        _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        inFlight.increment()
        let started = ContinuousClock.now
        defer {
            inFlight.decrement()
            duration.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
        }
        var attempt = 1
        while true {
            do {
                return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
            } catch where attempt < attempts && Self.isWorthRetrying(error) {
                logger.notice("transaction retried", metadata: ["attempt": "\(attempt)", "sqlstate": "\(Self.sqlState(error) ?? "-")"])
                retries.increment()
                attempt += 1
            } catch {
                failures.increment()
                throw error
            }
        }
    }

    /// Deadlock detected (40P01) or serialization failure (40001).
    static func isWorthRetrying(_ error: any Error) -> Bool {
        ["40P01", "40001"].contains(sqlState(error))
    }

    static func sqlState(_ error: any Error) -> String? {
        switch error {
        case let error as PostgresTransactionError:
            return [error.closureError, error.commitError].lazy.compactMap { $0.flatMap(sqlState) }.first
        case let error as PSQLError:
            return error.serverInfo?[.sqlState]
        default:
            return nil
        }
    }
}

extension Duration {
    /// Whole nanoseconds, saturating; for metrics and logs.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? Int64.max : product &+ attoseconds / 1_000_000_000
    }
}
