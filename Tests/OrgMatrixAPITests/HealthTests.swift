import Foundation
import Hummingbird
import HummingbirdTesting
import OrgMatrixAPI
import OrgMatrixStore
import OrgMatrixTestSupport
import Testing

@Suite struct HealthTests {
    struct Readiness: Decodable {
        let status: String
        let migrationsApplied: Int
    }

    @Test func healthzAndReadyzAnswerOnAMigratedDatabase() async throws {
        let fileCount = try Migrator.load(directory: TestEnvironment.schemaDirectory).files.count
        try await ThrowawayDatabase.with { database in
            // A generous readiness timeout: these check what /readyz says, not how fast, and the
            // suite runs benchmarks beside them.
            try await makeApp(databaseURL: database.appURL, readinessTimeout: .seconds(15)).test(.router) { client in
                try await client.execute(uri: "/healthz", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
                }
                try await client.execute(uri: "/readyz", method: .get) { response in
                    #expect(response.status == .ok)
                    let readiness = try decode(Readiness.self, response.body)
                    #expect(readiness.status == "ready")
                    #expect(readiness.migrationsApplied == fileCount)
                }
            }
        }
    }

    @Test func readyzIs503WhileMigrationsArePending() async throws {
        try await ThrowawayDatabase.with(migrated: false) { database in
            try await makeApp(databaseURL: database.ownerURL, readinessTimeout: .seconds(15)).test(.router) { client in
                try await client.execute(uri: "/readyz", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers[.contentType] == "application/problem+json")
                    let problem = try decode(ProblemBody.self, response.body)
                    #expect(problem.type == "urn:orgmatrix:problem:not-ready")
                    #expect(problem.detail.contains("0001_foundation.sql"))
                }
            }
        }
    }

    /// Stops the database under a running server and starts it again: readiness follows it.
    @Test func readyzFollowsTheDatabaseDownAndBackUp() async throws {
        try await PrivateCluster.with { cluster in
            try await withClient(try DatabaseURL(try cluster.url("OWNER_DATABASE_URL"))) { client in
                _ = try await Migrator.load(directory: TestEnvironment.schemaDirectory).migrate(client: client, logger: testLogger)
            }
            let app = try makeApp(databaseURL: try DatabaseURL(try cluster.url("DATABASE_URL")), readinessTimeout: .seconds(1))
            try await app.test(.router) { client in
                // Each check has one second: on a loaded machine the first can miss it, so "ready" is
                // awaited (up to 30 s) both before the stop and after the start.
                #expect(try await readyStatus(client, within: .seconds(30)) == .ok)
                try cluster.stop()
                #expect(try await readyStatus(client) == .serviceUnavailable)
                try cluster.start()
                #expect(try await readyStatus(client, within: .seconds(30)) == .ok)
            }
        }
    }

    private func readyStatus(_ client: any TestClientProtocol) async throws -> HTTPResponse.Status {
        try await client.execute(uri: "/readyz", method: .get) { $0.status }
    }

    /// The readiness status once it is ok, or the last one seen when `wait` has passed first.
    private func readyStatus(_ client: any TestClientProtocol, within wait: Duration) async throws -> HTTPResponse.Status {
        let deadline = ContinuousClock.now + wait
        var status = try await readyStatus(client)
        while status != .ok && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            status = try await readyStatus(client)
        }
        return status
    }
}
