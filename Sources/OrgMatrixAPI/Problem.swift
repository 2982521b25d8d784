import Foundation
import Hummingbird
import OrgMatrixCore
import OrgMatrixStore
import PostgresNIO

/// The problem+json body (RFC 9457) every error response carries.
struct Problem: Codable, Equatable {
    var type: String
    var title: String
    var status: Int
    var detail: String
    var instance: String
    var requestId: String
    var field: String?

    init(_ error: APIError, path: String, requestID: String) {
        type = error.code.typeURI
        title = error.code.title
        status = Int(error.code.status.code)
        detail = error.detail
        instance = path
        requestId = requestID
        field = error.field
    }

    func response() -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(self)) ?? Data(#"{"type":"urn:orgmatrix:problem:internal","status":500}"#.utf8)
        return Response(
            status: HTTPResponse.Status(code: status),
            headers: [.contentType: "application/problem+json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}

/// Turns every error that reaches it into a problem+json response; the one place errors are mapped.
///
/// A 500 says nothing about internals: the detail goes to the log with the request id only.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && error.body == nil {
            let apiError = APIError(.notFound, detail: "No route matches \(request.method) \(request.uri.path).")
            return Problem(apiError, path: request.uri.path, requestID: context.id).response()
        } catch {
            let apiError = Self.apiError(for: error, context: context)
            return Problem(apiError, path: request.uri.path, requestID: context.id).response()
        }
    }

    static func apiError(for error: any Error, context: Context) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as StoreError:
            return APIError(storeError: error)
        case let error as MatrixProblem:
            return APIError(.invalidField, detail: "\(error.field) \(error.reason).", field: error.field)
        case let error as MatrixInvalid:
            return APIError(.invalidField, detail: error.description, field: error.problems.first?.field)
        case let error as OutOfRange:
            // Stores name the field; this is the net for arithmetic a handler did not wrap.
            return APIError(.invalidField, detail: "\(error.description).", field: "body")
        case let error as PostgresTransactionError where error.closureError != nil:
            return apiError(for: error.closureError!, context: context)
        case let error as HTTPError:
            return APIError(code(for: error.status), detail: error.body ?? error.status.reasonPhrase)
        default:
            context.logger.error("unhandled error", metadata: ["error": "\(loggable(error))"])
            return APIError(.internalError, detail: "The request failed; quote the request id to the operators.")
        }
    }

    private static func code(for status: HTTPResponse.Status) -> APIError.Code {
        switch status {
        case .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .contentTooLarge: .bodyTooLarge
        case .unsupportedMediaType: .unsupportedMediaType
        case .serviceUnavailable: .notReady
        default: status.code < 500 ? .badRequest : .internalError
        }
    }
}

extension APIError {
    init(storeError error: StoreError) {
        let code: Code =
            switch error.code {
            case .unauthenticated: .unauthenticated
            case .notFound: .notFound
            case .forbidden: .forbidden
            case .conflict: .conflict
            default: .invalidField
            }
        self.init(code, detail: error.detail, field: error.field)
    }
}

/// Answers 405 with `Allow` when the path exists under other methods, instead of the router's
/// 404. Added after every route, so it wraps only the not-found responder.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Each route's path segments (nil for a capture) and its methods.
    let routes: [(segments: [Substring?], methods: [HTTPRequest.Method])]

    init(_ descriptions: [Router<Context>.RouteDescription]) {
        var byPath: [String: [HTTPRequest.Method]] = [:]
        for route in descriptions { byPath["\(route.path)", default: []].append(route.method) }
        routes = byPath.map { path, methods in
            (
                path.split(separator: "/").map { $0.hasPrefix(":") || $0.hasPrefix("{") ? nil : $0 },
                methods.sorted { $0.rawValue < $1.rawValue }
            )
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let segments = request.uri.path.split(separator: "/")
            let allowed = routes.filter { route in
                route.segments.count == segments.count && zip(route.segments, segments).allSatisfy { $0.0 == nil || $0.0 == $0.1 }
            }.flatMap(\.methods)
            guard !allowed.isEmpty else { throw error }
            let names = allowed.map(\.rawValue).joined(separator: ", ")
            let apiError = APIError(.methodNotAllowed, detail: "\(request.uri.path) answers \(names), not \(request.method).")
            var response = Problem(apiError, path: request.uri.path, requestID: context.id).response()
            response.headers[.allow] = names
            return response
        }
    }
}
