import Foundation
import Hummingbird

extension AppRequestContext {
    /// Decodes the collected JSON body, turning every failure into an error that names the
    /// field and why: 413 over the limit, 415 for another media type, 400 for broken JSON, 422
    /// for a duplicate or unknown key, a NUL character, a field of the wrong shape or one that
    /// breaks a rule of the OpenAPI document (`JSONBody.checkForm`).
    ///
    /// Hummingbird's own decoding reports only "bad request"; callers of an ERP need to know which
    /// field of which line was wrong.
    public func decodeJSON<T: JSONBody>(as type: T.Type, _ request: Request) throws -> T {
        let bytes: [UInt8]
        switch body {
        case .tooLarge: throw APIError(.bodyTooLarge, detail: "The body exceeds \(maxUploadSize) bytes.")
        case .empty: bytes = []
        case .bytes(let collected): bytes = collected
        }
        if let contentType = request.headers[.contentType], !contentType.lowercased().hasPrefix("application/json") {
            throw APIError(.unsupportedMediaType, detail: "Send the body as application/json, not \(contentType).")
        }
        if let problem = StrictJSON.problem(in: bytes, keys: T.keys) { throw problem }
        let body: T
        do {
            body = try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw APIError(decodingError: error)
        }
        try body.checkForm()
        return body
    }

    /// The body's bytes, for the idempotency hash of a posting.
    var bodyBytes: [UInt8] {
        if case .bytes(let bytes) = body { return bytes }
        return []
    }

    /// Whether the request came with a body at all (an optional body may be left out).
    var hasBody: Bool {
        if case .empty = body { return false }
        return true
    }
}

extension Request {
    /// Query parameter `name`, refused with 422 when it carries a NUL character (PostgreSQL
    /// cannot store or compare one).
    func query(_ name: String) throws -> String? {
        guard let value = uri.queryParameters[Substring(name)].map(String.init) else { return nil }
        guard !value.unicodeScalars.contains("\u{0}") else {
            throw APIError(.invalidField, detail: "\(name) must not contain NUL characters.", field: name)
        }
        return value
    }
}

extension APIError {
    init(decodingError: DecodingError) {
        switch decodingError {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            self.init(.malformedJSON, detail: "The body is not valid JSON.")
        case .dataCorrupted(let context):
            self.init(.invalidField, detail: context.debugDescription, field: jsonPath(context.codingPath))
        case .keyNotFound(let key, let context):
            let path = jsonPath(context.codingPath + [key])
            self.init(.invalidField, detail: "\(path) is required.", field: path)
        case .valueNotFound(let type, let context):
            let path = jsonPath(context.codingPath)
            self.init(.invalidField, detail: "\(path) must not be null (expected \(jsonTypeName(type))).", field: path)
        case .typeMismatch(let type, let context):
            let path = jsonPath(context.codingPath)
            self.init(.invalidField, detail: "\(path) must be \(jsonTypeName(type)).", field: path)
        @unknown default:
            self.init(.malformedJSON, detail: "The body could not be decoded.")
        }
    }
}

/// `lines[2].quantity` from a coding path.
func jsonPath(_ codingPath: [any CodingKey]) -> String {
    var path = ""
    for key in codingPath {
        if let index = key.intValue {
            path += "[\(index)]"
        } else {
            path += path.isEmpty ? key.stringValue : ".\(key.stringValue)"
        }
    }
    return path.isEmpty ? "body" : path
}

private func jsonTypeName(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: "a string"
    case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type, is UInt64.Type: "an integer"
    case is Bool.Type: "a boolean"
    default: String(describing: type).hasPrefix("Array") ? "an array" : "an object"
    }
}
