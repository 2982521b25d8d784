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
        // Hummingbird numbers requests from one counter; a random id tells a caller nothing of
        // how many requests others made.
        logger[metadataKey: "hb.request.id"] = .string(Self.randomRequestID())
    }

    /// 128 bits from the system's cryptographic generator, as 32 hex digits.
    static func randomRequestID() -> String {
        var generator = SystemRandomNumberGenerator()
        return [generator.next(), generator.next()].map { (value: UInt64) in
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }.joined()
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
/// A body that has not arrived within `timeout` is answered 408 and the connection's claim
/// on the server ends.
public struct CollectBodyMiddleware: RouterMiddleware {
    let timeout: Duration

    public init(timeout: Duration = .seconds(30)) { self.timeout = timeout }

    public func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        let limit = context.maxUploadSize
        let (collected, body) = try await withThrowingTaskGroup(of: (CollectedBody, Request)?.self) { group in
            group.addTask {
                var request = request
                do {
                    let buffer = try await request.collectBody(upTo: limit)
                    return (buffer.readableBytes == 0 ? .empty : .bytes(Array(buffer.readableBytesView)), request)
                } catch is CancellationError {
                    return nil
                } catch {
                    return (.tooLarge, request)
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            guard let first else {
                throw APIError(.requestTimeout, detail: "The request body did not arrive within \(timeout).")
            }
            return first
        }
        context.body = collected
        return try await next(body, context)
    }
}
