import Foundation
import Hummingbird
import OrgMatrixStore

/// Per-request state: the presented API key, once `BearerAuthMiddleware` has parsed it.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var apiKey: APIKey?
    /// The request body, read in full (bounded) before the transaction opens so that a slow
    /// client never holds a database connection, and parsed only after authorization.
    public var body: CollectedBody = .empty

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

/// A request body as collected: nothing, its bytes, or more than the limit (413 once the
/// caller is known to be allowed to send it at all).
public enum CollectedBody: Sendable {
    case empty
    case bytes([UInt8])
    case tooLarge
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

/// Collects the body, up to the limit, without judging it: authorization comes before
/// validation, so a body's size, type and shape are answered for only once the caller may act.
public struct CollectBodyMiddleware: RouterMiddleware {
    public init() {}

    public func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: context.maxUploadSize)
            context.body = buffer.readableBytes == 0 ? .empty : .bytes(Array(buffer.readableBytesView))
        } catch {
            context.body = .tooLarge
        }
        return try await next(request, context)
    }
}
