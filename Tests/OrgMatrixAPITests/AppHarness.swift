import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import OrgMatrixAPI
import OrgMatrixStore
import OrgMatrixTestSupport

/// The scrape token the test servers' `/metrics` asks for.
let metricsToken = "test-scrape-token"

/// Builds the real router against `databaseURL` (with the tests' master key, so custodial keys sign), optionally with extra routes that exercise
/// cross-cutting behaviour (slow handlers, JSON decoding) no production route offers yet.
func makeApp(
    databaseURL: DatabaseURL,
    readinessTimeout: Duration = .seconds(2),
    requestReadTimeout: Duration = .seconds(30),
    port: Int = 0,
    extraRoutes: (Router<AppRequestContext>) -> Void = { _ in },
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    let configuration = AppConfiguration(
        port: port, databaseURL: databaseURL, schemaDirectory: TestEnvironment.schemaDirectory,
        poolConnectionsMax: 4, readinessTimeout: readinessTimeout, connectTimeout: .seconds(1), metricsToken: metricsToken,
        requestReadTimeout: requestReadTimeout, masterKey: try TestMasterKey.shared().key)
    let dependencies = try AppDependencies.make(configuration, logger: testLogger)
    let router = try buildRouter(dependencies)
    extraRoutes(router)
    return Application(
        router: router,
        configuration: .init(address: .hostname("127.0.0.1", port: port)),
        services: [dependencies.database.client],
        onServerRunning: onServerRunning,
        logger: testLogger
    )
}

/// The problem+json fields every error response must carry.
struct ProblemBody: Decodable {
    let type: String
    let title: String
    let status: Int
    let detail: String
    let instance: String
    let requestId: String
    let field: String?
}

func decode<T: Decodable>(_ type: T.Type, _ buffer: ByteBuffer) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
}

/// Runs `body` against the real router on the shared database, with the ledger tests' client.
func withAPI<T: Sendable>(_ body: @escaping @Sendable (IsolationTests.API) async throws -> T) async throws -> T {
    let environment = try await SharedDatabase.environment()
    return try await makeApp(databaseURL: environment.appURL).test(.router) { client in try await body(IsolationTests.API(client: client)) }
}

/// A reply's body as a JSON object (empty when it is none).
func json(_ reply: IsolationTests.Reply) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(reply.text.utf8))) as? [String: Any] ?? [:]
}
