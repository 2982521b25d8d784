import Foundation
import Hummingbird
import OrgMatrixStore

/// Per-request state: the presented API key, once `BearerAuthMiddleware` has parsed it.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var apiKey: APIKey?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// Largest request body accepted, in bytes (1 MiB): documents are small, bulk goes through
    /// paginated batches.
    public var maxUploadSize: Int { APILimits.requestBodyBytesMax }
}

/// The API's limits, each documented in the README.
public enum APILimits {
    public static let requestBodyBytesMax = 1 << 20
}

/// Reads `Authorization: Bearer <key>`. A missing or malformed key is 401 here; an unknown or
/// revoked one is 401 when the database is asked (`app_begin` finds no row).
struct BearerAuthMiddleware: RouterMiddleware {
    func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            let key = APIKey(String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces))
        else {
            throw APIError(.unauthenticated, detail: "Send an API key as `Authorization: Bearer omx_<tenant>_<key>`.")
        }
        var context = context
        context.apiKey = key
        return try await next(request, context)
    }
}
