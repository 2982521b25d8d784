import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OrgMatrixAPI
import OrgMatrixTestSupport
import Testing

@Suite struct ProblemTests {
    struct Line: Decodable {
        let item: String
        let quantity: Int
    }

    struct Order: JSONBody {
        let name: String
        let lines: [Line]

        static let keys = BodyKeys.object(["name": .value, "lines": .array(.object(["item": .value, "quantity": .value]))])

        func checkForm() throws {}
    }

    /// A route that decodes a body the way every write endpoint does.
    private func withEchoApp(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await ThrowawayDatabase.with { database in
            let app = try makeApp(databaseURL: database.appURL) { router in
                router.group("test").add(middleware: CollectBodyMiddleware()).post("orders") { request, context in
                    let order = try context.decodeJSON(as: Order.self, request)
                    return "\(order.name):\(order.lines.count)"
                }
            }
            try await app.test(.router) { client in try await body(client) }
        }
    }

    @Test func unknownRouteIsProblemJSON404WithTheRequestID() async throws {
        try await withEchoApp { client in
            try await client.execute(uri: "/v1/no-such-thing", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                let problem = try decode(ProblemBody.self, response.body)
                #expect(problem.type == "urn:orgmatrix:problem:not-found")
                #expect(problem.status == 404)
                #expect(problem.instance == "/v1/no-such-thing")
                #expect(problem.detail.contains("GET /v1/no-such-thing"))
                #expect(!problem.requestId.isEmpty)
                #expect(problem.requestId == response.headers[HTTPField.Name("X-Request-Id")!])
            }
        }
    }

    @Test(arguments: ["{", "not json", "", "[1,2"])
    func malformedJSONIsProblemJSON400(body: String) async throws {
        try await withEchoApp { client in
            try await client.execute(
                uri: "/test/orders", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)
            ) { response in
                #expect(response.status == .badRequest)
                #expect(response.headers[.contentType] == "application/problem+json")
                let problem = try decode(ProblemBody.self, response.body)
                #expect(problem.type == "urn:orgmatrix:problem:malformed-json")
            }
        }
    }

    @Test(arguments: [
        (#"{"lines":[]}"#, "name", "is required"),
        (#"{"name":"x","lines":[{"item":"milk","quantity":"ten"}]}"#, "lines[0].quantity", "must be an integer"),
        (#"{"name":"x","lines":[{"item":"milk","quantity":1},{"quantity":2}]}"#, "lines[1].item", "is required"),
        (#"{"name":null,"lines":[]}"#, "name", "must not be null"),
        (#"{"name":"x","lines":[],"nmae":"y"}"#, "nmae", "is not a field of this request"),
        (#"{"name":"x","lines":[{"item":"milk","quantity":1},{"item":"milk","quantity":1,"unit":"kg"}]}"#, "lines[1].unit", "is not a field"),
    ])
    func invalidFieldsAreNamed(body: String, field: String, reason: String) async throws {
        try await withEchoApp { client in
            try await client.execute(
                uri: "/test/orders", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)
            ) { response in
                #expect(response.status == .unprocessableContent)
                let problem = try decode(ProblemBody.self, response.body)
                #expect(problem.type == "urn:orgmatrix:problem:invalid-field")
                #expect(problem.field == field)
                #expect(problem.detail.contains(reason))
            }
        }
    }

    @Test func aWellFormedBodyIsAccepted() async throws {
        try await withEchoApp { client in
            try await client.execute(
                uri: "/test/orders", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"name":"po-1","lines":[{"item":"milk","quantity":3}]}"#)
            ) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "po-1:1")
            }
        }
    }

    @Test func aNonJSONContentTypeIs415() async throws {
        try await withEchoApp { client in
            try await client.execute(
                uri: "/test/orders", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "{}")
            ) { response in
                #expect(response.status == .unsupportedMediaType)
                let problem = try decode(ProblemBody.self, response.body)
                #expect(problem.type == "urn:orgmatrix:problem:unsupported-media-type")
            }
        }
    }

    @Test func aBodyOverTheLimitIs413() async throws {
        try await withEchoApp { client in
            let oversized = String(repeating: " ", count: APILimits.requestBodyBytesMax + 1)
            try await client.execute(
                uri: "/test/orders", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: oversized)
            ) { response in
                #expect(response.status == .contentTooLarge)
                let problem = try decode(ProblemBody.self, response.body)
                #expect(problem.type == "urn:orgmatrix:problem:body-too-large")
            }
        }
    }

    @Test func anUnexpectedErrorIs500AndSaysNothingOfIt() async throws {
        struct Secret: Error, CustomStringConvertible { var description: String { "password=hunter2 in /etc/x" } }
        try await ThrowawayDatabase.with { database in
            let app = try makeApp(databaseURL: database.appURL) { router in
                router.get("test/explode") { _, _ -> String in throw Secret() }
            }
            try await app.test(.router) { client in
                try await client.execute(uri: "/test/explode", method: .get) { response in
                    #expect(response.status == .internalServerError)
                    let text = String(buffer: response.body)
                    #expect(!text.contains("hunter2"))
                    let problem = try decode(ProblemBody.self, response.body)
                #expect(problem.type == "urn:orgmatrix:problem:internal")
                }
            }
        }
    }
}
