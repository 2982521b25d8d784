import HTTPTypes
import Hummingbird
import Logging
import Metrics
import OrgMatrixStore

/// Logs one structured line per request and returns the request id as `X-Request-Id`, so a caller
/// quoting it lets operators find the line.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var response = try await next(request, context)
        response.headers[.requestID] = context.id
        let elapsed = ContinuousClock.now - started
        context.logger.info(
            "request",
            metadata: [
                "method": "\(request.method)",
                "path": "\(request.uri.path)",
                "status": "\(response.status.code)",
                "duration_us": "\(elapsed.nanoseconds / 1000)",
            ])
        return response
    }
}

/// Counts requests and records their latency by route, method and status, for `/metrics`.
///
/// Takes its metrics factory as a value instead of the process-wide `MetricsSystem`, so every
/// application (and every test) has its own registry.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let factory: any MetricsFactory

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let response = try await next(request, context)
        let dimensions = [
            ("route", context.endpointPath ?? "unmatched"),
            ("method", request.method.rawValue),
            ("status", "\(response.status.code)"),
        ]
        Counter(label: "orgmatrix_http_requests_total", dimensions: dimensions, factory: factory).increment()
        let elapsed = ContinuousClock.now - started
        Metrics.Timer(label: "orgmatrix_http_request_duration_seconds", dimensions: dimensions, factory: factory)
            .recordNanoseconds(elapsed.nanoseconds)
        return response
    }
}

extension HTTPField.Name {
    static let requestID = Self("X-Request-Id")!
}
