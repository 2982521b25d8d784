import Foundation
import Hummingbird
import Prometheus

/// `/metrics` in Prometheus text format and `/openapi.json`, the contract the server is tested against.
struct MetaController {
    let registry: PrometheusCollectorRegistry
    let openAPIDocument: ByteBuffer
    let metricsToken: String?

    func register(on router: Router<AppRequestContext>) {
        router.get("metrics") { request, _ in
            guard let metricsToken else {
                throw APIError(.notFound, detail: "Metrics are off: start the server with ORGMATRIX_METRICS_TOKEN to scrape them.")
            }
            let presented = request.headers[.authorization].map { Array($0.utf8) } ?? []
            guard constantTimeEqual(presented, Array("Bearer \(metricsToken)".utf8)) else {
                throw APIError(.unauthenticated, detail: "Send the scrape token as `Authorization: Bearer <token>`.")
            }
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
            )
        }
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: openAPIDocument))
        }
    }

    /// The OpenAPI document shipped with the module.
    static func loadOpenAPIDocument() throws -> ByteBuffer {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json") else {
            throw CocoaError(.fileNoSuchFile)
        }
        return ByteBuffer(bytes: Array(try Data(contentsOf: url)))
    }
}

/// Equality whose time depends on the lengths only, so a token cannot be guessed byte by byte.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for (x, y) in zip(a, b) { difference |= x ^ y }
    return difference == 0
}
