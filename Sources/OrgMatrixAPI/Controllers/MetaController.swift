import Foundation
import Hummingbird
import Prometheus

/// `/metrics` in Prometheus text format and `/openapi.json`, the contract the server is tested against.
struct MetaController {
    let registry: PrometheusCollectorRegistry
    let openAPIDocument: ByteBuffer

    func register(on router: Router<AppRequestContext>) {
        router.get("metrics") { _, _ in
            Response(
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
