import Metrics
import OrgMatrixStore
import OrgMatrixTestSupport
import PostgresNIO
import Synchronization
import Testing

/// Two transactions that take two locks in opposite orders: PostgreSQL aborts one to break the
/// deadlock, and `Database.withTransaction` runs that one again, so both finish.
@Suite struct RetryTests {
    @Test func aTransactionAbortedToBreakADeadlockIsRunAgain() async throws {
        let environment = try await SharedDatabase.environment()
        // Advisory-lock keys of this test alone, so parallel tests never share them.
        let (first, second) = (Int64.random(in: 1...Int64.max / 2), Int64.random(in: Int64.max / 2...Int64.max))
        let counts = Counts()
        try await withClient(environment.appURL) { client in
            let database = Database(client: client, maximumConnections: 4, metricsFactory: NOOPMetricsHandler.instance)
            @Sendable func crossing(_ mine: Int64, _ theirs: Int64) async throws -> Int {
                try await database.withTransaction(logger: testLogger) { connection in
                    let attempt = counts.attempts.withLock { $0 += 1; return $0 }
                    _ = try await connection.query("SELECT pg_advisory_xact_lock(\(mine))", logger: testLogger).collect()
                    // The first time round, wait until the other transaction holds its first lock too.
                    if counts.holdingFirstLock.withLock({ $0 += 1; return $0 }) <= 2 {
                        let deadline = ContinuousClock.now + .seconds(10)
                        while counts.holdingFirstLock.withLock({ $0 }) < 2, ContinuousClock.now < deadline {
                            try await Task.sleep(for: .milliseconds(5))
                        }
                    }
                    _ = try await connection.query("SELECT pg_advisory_xact_lock(\(theirs))", logger: testLogger).collect()
                    return attempt
                }
            }
            let finished = try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask { try await crossing(first, second) }
                group.addTask { try await crossing(second, first) }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(finished.sorted() == [1, 3] || finished.sorted() == [2, 3])
        }
        // Two first attempts, one of which PostgreSQL aborted, and its second attempt.
        #expect(counts.attempts.withLock { $0 } == 3)
    }

    private final class Counts: Sendable {
        let attempts = Mutex(0)
        let holdingFirstLock = Mutex(0)
    }
}
