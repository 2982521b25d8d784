import Hummingbird

/// An operating error the API reports to its caller, rendered once as problem+json (RFC 9457).
///
/// A struct around a code rather than an enum, so codes can be added without breaking callers.
/// Each code has a stable `type` URI (`urn:orgmatrix:problem:<slug>`) clients may switch on.
public struct APIError: Error, Sendable {
    public struct Code: Sendable, Hashable {
        public let slug: String
        public let status: HTTPResponse.Status
        public let title: String

        public static let notFound = Code(slug: "not-found", status: .notFound, title: "Not found")
        public static let methodNotAllowed = Code(slug: "method-not-allowed", status: .methodNotAllowed, title: "Method not allowed")
        public static let malformedJSON = Code(slug: "malformed-json", status: .badRequest, title: "Malformed JSON body")
        public static let invalidField = Code(slug: "invalid-field", status: .unprocessableContent, title: "Invalid field")
        public static let unsupportedMediaType = Code(
            slug: "unsupported-media-type", status: .unsupportedMediaType, title: "Unsupported media type")
        public static let bodyTooLarge = Code(slug: "body-too-large", status: .contentTooLarge, title: "Request body too large")
        public static let badRequest = Code(slug: "bad-request", status: .badRequest, title: "Bad request")
        public static let requestTimeout = Code(slug: "request-timeout", status: .requestTimeout, title: "Request timeout")
        public static let unauthenticated = Code(slug: "unauthenticated", status: .unauthorized, title: "Unauthenticated")
        public static let forbidden = Code(slug: "forbidden", status: .forbidden, title: "Forbidden")
        public static let conflict = Code(slug: "conflict", status: .conflict, title: "Conflict")
        public static let notReady = Code(slug: "not-ready", status: .serviceUnavailable, title: "Service not ready")
        public static let internalError = Code(slug: "internal", status: .internalServerError, title: "Internal server error")

        public var typeURI: String { "urn:orgmatrix:problem:\(slug)" }
    }

    public let code: Code
    public let detail: String
    /// The request field at fault, as a JSON path (`lines[2].quantity`), when one is.
    public let field: String?

    public init(_ code: Code, detail: String, field: String? = nil) {
        self.code = code
        self.detail = detail
        self.field = field
    }
}
