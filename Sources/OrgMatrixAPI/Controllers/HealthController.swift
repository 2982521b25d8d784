import Hummingbird
import OrgMatrixCore
import OrgMatrixStore

/// `/healthz` says the process answers; `/readyz` says it can do useful work: the database
/// answers within the readiness timeout and its schema is exactly the one this build ships.
struct HealthController {
    let database: Database
    let migrator: Migrator
    let readinessTimeout: Duration

    struct Health: ResponseEncodable {
        let status: String
    }

    struct Readiness: ResponseEncodable {
        let status: String
        let migrationsApplied: Int
    }

    func register(on router: Router<AppRequestContext>) {
        router.get("healthz") { _, _ in Health(status: "ok") }
        router.get("readyz") { _, context in try await ready(context: context) }
    }

    private func ready(context: AppRequestContext) async throws -> Readiness {
        let state: MigrationState
        do {
            state = try await withTimeout(readinessTimeout) { [database, migrator] in
                try await database.withTransaction(logger: context.logger) { connection in
                    try await migrator.state(connection: connection, logger: context.logger)
                }
            }
        } catch {
            context.logger.warning("readiness check failed", metadata: ["error": "\(loggable(error))"])
            throw APIError(.notReady, detail: "The database did not answer within \(readinessTimeout).")
        }
        switch state {
        case .current(let appliedCount):
            return Readiness(status: "ready", migrationsApplied: appliedCount)
        case .pending(let names):
            throw APIError(.notReady, detail: "Migrations pending: \(names.joined(separator: ", ")). Run `orgmatrix migrate`.")
        case .inconsistent(let error):
            throw APIError(.notReady, detail: "The database schema does not match this build: \(error)")
        }
    }
}

struct TimeoutError: Error {}

/// Runs `operation`, cancelling it and throwing `TimeoutError` once `limit` has passed.
func withTimeout<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimeoutError()
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw TimeoutError() }
        return first
    }
}
