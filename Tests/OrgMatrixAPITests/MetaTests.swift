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
            // Readiness may wait: on a loaded machine its database check took longer than the default 2 s once.
            try await makeApp(databaseURL: database.appURL, readinessTimeout: .seconds(30)).test(.router) { client in
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

    /// The document and the server agree on every request body's keys: each object of a request
    /// schema closes its keys (`additionalProperties`), the examples together use every
    /// documented property, the server takes each example as well formed (whatever the fixture
    /// tenant's data then says: never 400 or 422), and refuses it with a key added to any of its
    /// objects, naming that key.
    @Test func everyRequestBodyTakesExactlyTheDocumentedKeys() async throws {
        let document = try JSONSerialization.jsonObject(with: try Data(contentsOf: Self.documentURL)) as! [String: Any]
        let schemas = (document["components"] as! [String: Any])["schemas"] as! [String: Any]
        // method, path, an example as JSON text, and that example with a key added: (field, text).
        var cases: [(method: String, path: String, body: String, extended: [(field: String, body: String)])] = []
        for (path, methods) in document["paths"] as! [String: [String: Any]] {
            for (method, operation) in methods {
                guard let operation = operation as? [String: Any], let requestBody = operation["requestBody"] as? [String: Any] else { continue }
                let media = (requestBody["content"] as! [String: Any])["application/json"] as! [String: Any]
                let examples = (media["examples"] as? [String: Any] ?? [:]).values.map { ($0 as! [String: Any])["value"]! }
                #expect(!examples.isEmpty, "\(method) \(path) has no example")
                var documented: Set<String> = []
                Self.walk(media["schema"]!, at: "", schemas: schemas) { at, object in
                    #expect(object["additionalProperties"] != nil, "\(method) \(path) \(at): additionalProperties unset")
                    for name in (object["properties"] as? [String: Any] ?? [:]).keys { documented.insert(Self.join(at, name)) }
                }
                var used: Set<String> = []
                for example in examples { Self.keyPaths(example, at: "", into: &used) }
                #expect(documented.subtracting(used).isEmpty, "\(method) \(path): no example uses \(documented.subtracting(used).sorted())")
                for example in examples {
                    func text(_ value: Any) throws -> String { String(decoding: try JSONSerialization.data(withJSONObject: value), as: UTF8.self) }
                    cases.append((method.uppercased(), path, try text(example), try Self.withExtraKey(example, at: "").map { ($0.0, try text($0.1)) }))
                }
            }
        }
        #expect(cases.count >= 14)
        let fixture = try await TenantFixture.create(label: "keys")
        let environment = try await SharedDatabase.environment()
        try await makeApp(databaseURL: environment.appURL).test(.router) { [cases] client in
            let api = IsolationTests.API(client: client)
            for (method, path, body, extended) in cases {
                let uri = path.replacingOccurrences(of: "{id}", with: "1").replacingOccurrences(of: "{hash}", with: String(repeating: "0", count: 64))
                    .replacingOccurrences(of: "{number}", with: "0")
                let admin = ["/v1/orgs", "/v1/relations", "/v1/principals", "/v1/items"].contains { path.hasPrefix($0) } || path.hasSuffix("/claim-settlement")
                let key = fixture.key(admin ? "hq-admin" : "a-operator")
                let reply = try await api.call(HTTPRequest.Method(method)!, uri, key: key, json: body)
                #expect(![400, 422].contains(reply.status.code), "\(method) \(path) example \(body): \(reply.text)")
                for (field, text) in extended {
                    let refused = try await api.call(HTTPRequest.Method(method)!, uri, key: key, json: text)
                    #expect(refused.status == .unprocessableContent, "\(method) \(path) + \(field): \(refused.text)")
                    #expect(refused.body["field"] as? String == field, "\(method) \(path) + \(field): \(refused.text)")
                }
            }
        }
    }

    private static func join(_ at: String, _ name: String) -> String { at.isEmpty ? name : "\(at).\(name)" }

    /// Calls `visit` with every object schema under `schema` (through `$ref`, `anyOf`, `oneOf`,
    /// `allOf` and array items), at its path with `[]` for array elements.
    private static func walk(_ schema: Any, at: String, schemas: [String: Any], _ visit: (String, [String: Any]) -> Void) {
        guard var object = schema as? [String: Any] else { return }
        if let ref = object["$ref"] as? String {
            object = object.merging(schemas[String(ref.split(separator: "/").last!)] as! [String: Any]) { own, _ in own }
            object["$ref"] = nil
        }
        if object["properties"] != nil || (object["type"] as? String) == "object" { visit(at, object) }
        for (name, property) in object["properties"] as? [String: Any] ?? [:] { walk(property, at: join(at, name), schemas: schemas, visit) }
        if let items = object["items"] { walk(items, at: at + "[]", schemas: schemas, visit) }
        for combinator in ["anyOf", "oneOf", "allOf"] {
            for branch in object[combinator] as? [Any] ?? [] {
                // A branch that narrows properties declared above is the same object, not another.
                guard (branch as? [String: Any])?["additionalProperties"] != nil || (branch as? [String: Any])?["$ref"] != nil else { continue }
                walk(branch, at: at, schemas: schemas, visit)
            }
        }
    }

    private static func keyPaths(_ value: Any, at: String, into paths: inout Set<String>) {
        if let object = value as? [String: Any] {
            for (name, child) in object {
                paths.insert(join(at, name))
                keyPaths(child, at: join(at, name), into: &paths)
            }
        } else if let array = value as? [Any] {
            for element in array { keyPaths(element, at: at + "[]", into: &paths) }
        }
    }

    /// The value with a key `unexpected` added to one of its objects, for each of them, with the
    /// JSON path the server names for it (`lines[0].unexpected`).
    private static func withExtraKey(_ value: Any, at: String) -> [(String, Any)] {
        if var object = value as? [String: Any] {
            var variants: [(String, Any)] = []
            for (name, child) in object {
                for (path, variant) in withExtraKey(child, at: join(at, name)) {
                    var copy = object
                    copy[name] = variant
                    variants.append((path, copy))
                }
            }
            object["unexpected"] = true
            return [(join(at, "unexpected"), object)] + variants
        }
        if let array = value as? [Any] {
            return array.enumerated().flatMap { index, element in
                withExtraKey(element, at: "\(at)[\(index)]").map { path, variant in
                    var copy = array
                    copy[index] = variant
                    return (path, copy as Any)
                }
            }
        }
        return []
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
