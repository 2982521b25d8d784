import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OrgMatrixAPI
import OrgMatrixTestSupport
import Testing

@Suite struct MetaTests {
    @Test func metricsCountRequestsByRouteAndStatusAndShowThePool() async throws {
        try await ThrowawayDatabase.with { database in
            try await makeApp(databaseURL: database.appURL).test(.router) { client in
                for _ in 0..<3 { try await client.execute(uri: "/healthz", method: .get) { _ in } }
                try await client.execute(uri: "/readyz", method: .get) { _ in }
                try await client.execute(uri: "/nowhere", method: .get) { _ in }
                try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(metricsToken)"]) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                    let text = String(buffer: response.body)
                    #expect(text.contains(#"orgmatrix_http_requests_total{route="/healthz",method="GET",status="200"} 3"#))
                    #expect(text.contains(#"orgmatrix_http_requests_total{route="/readyz",method="GET",status="200"} 1"#))
                    #expect(text.contains(#"method="GET",status="404"} 1"#))
                    #expect(text.contains(#"orgmatrix_http_request_duration_seconds_count{route="/healthz",method="GET",status="200"} 3"#))
                    #expect(text.contains("orgmatrix_db_pool_max_connections 4"))
                    #expect(text.contains("orgmatrix_db_transaction_duration_seconds_count 1"))
                    #expect(text.contains("orgmatrix_db_transactions_in_flight 0"))
                }
            }
        }
    }
}

@Suite struct ExposureTests {
    @Test func metricsAnswerOnlyToTheScrapeToken() async throws {
        try await ThrowawayDatabase.with { database in
            try await makeApp(databaseURL: database.appURL).test(.router) { client in
                for headers: HTTPFields in [[:], [.authorization: "Bearer wrong"], [.authorization: "Bearer \(metricsToken)x"]] {
                    try await client.execute(uri: "/metrics", method: .get, headers: headers) { response in
                        #expect(response.status == .unauthorized)
                        #expect(!String(buffer: response.body).contains("orgmatrix_http_requests_total"))
                    }
                }
            }
            let configuration = AppConfiguration(
                port: 0, databaseURL: database.appURL, schemaDirectory: TestEnvironment.schemaDirectory, poolConnectionsMax: 2)
            let router = try buildRouter(try AppDependencies.make(configuration, logger: testLogger))
            try await Application(router: router).test(.router) { client in
                try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer anything"]) { response in
                    #expect(response.status == .notFound)
                }
            }
        }
    }

    @Test func requestIDsAreRandomNotACounter() async throws {
        try await ThrowawayDatabase.with { database in
            try await makeApp(databaseURL: database.appURL).test(.router) { client in
                var ids: [String] = []
                for _ in 0..<20 {
                    try await client.execute(uri: "/healthz", method: .get) { response in
                        ids.append(response.headers[HTTPField.Name("X-Request-Id")!] ?? "")
                    }
                }
                #expect(Set(ids).count == 20)
                #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) })
                // Hummingbird's ids share a per-process prefix and count up; these share no prefix.
                let prefixes = Set(ids.map { $0.prefix(8) })
                #expect(prefixes.count > 15, "\(ids)")
            }
        }
    }
}

/// The OpenAPI document is the contract: it is served as committed, and the server answers every
/// documented operation with a documented status and media type.
@Suite struct ContractTests {
    private static let documentURL = TestEnvironment.repositoryRoot
        .appendingPathComponent("Sources/OrgMatrixAPI/openapi.json")

    @Test func theServedDocumentIsTheCommittedOpenAPI31Document() async throws {
        let committed = try Data(contentsOf: Self.documentURL)
        let document = try JSONSerialization.jsonObject(with: committed) as? [String: Any]
        #expect((document?["openapi"] as? String)?.hasPrefix("3.1") == true)
        try await ThrowawayDatabase.with { database in
            try await makeApp(databaseURL: database.appURL).test(.router) { client in
                try await client.execute(uri: "/openapi.json", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "application/json")
                    #expect(Data(response.body.readableBytesView) == committed)
                }
            }
        }
    }

    @Test func everyParameterlessOperationAnswersAsDocumented() async throws {
        let document = try JSONSerialization.jsonObject(with: try Data(contentsOf: Self.documentURL)) as! [String: Any]
        let paths = document["paths"] as! [String: [String: Any]]
        // path → documented status code → documented media types, for every GET without parameters.
        let expectations: [(String, [String: [String]])] = paths.compactMap { path, methods in
            guard !path.contains("{"), let operation = methods["get"] as? [String: Any] else { return nil }
            let responses = operation["responses"] as! [String: Any]
            return (path, responses.mapValues { Self.mediaTypes(of: $0, in: document) })
        }
        #expect(!expectations.isEmpty)
        let fixture = try await TenantFixture.create()
        let environment = try await SharedDatabase.environment()
        try await makeApp(databaseURL: environment.appURL).test(.router) { client in
            for key in [nil, fixture.key("hq-admin"), fixture.key("b-operator")] {
                for (path, documented) in expectations {
                    var headers: HTTPFields = [:]
                    if let key { headers[.authorization] = "Bearer \(key)" }
                    try await client.execute(uri: path, method: .get, headers: headers) { response in
                        let code = "\(response.status.code)"
                        guard let mediaTypes = documented[code] else {
                            Issue.record("\(path) answered \(code), which is not documented")
                            return
                        }
                        let actual = response.headers[.contentType]?.split(separator: ";").first.map(String.init) ?? "-"
                        #expect(mediaTypes.contains(actual), "\(path) \(code): \(actual) not in \(mediaTypes)")
                    }
                }
            }
        }
    }

    /// Media types a response object documents, following one `$ref` into components.
    private static func mediaTypes(of response: Any?, in document: [String: Any]) -> [String] {
        guard var object = response as? [String: Any] else { return [] }
        if let ref = object["$ref"] as? String {
            let name = String(ref.split(separator: "/").last ?? "")
            let components = document["components"] as? [String: Any]
            object = (components?["responses"] as? [String: Any])?[name] as? [String: Any] ?? [:]
        }
        return Array((object["content"] as? [String: Any] ?? [:]).keys)
    }
}
