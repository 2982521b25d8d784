import Foundation
import Hummingbird

extension Request {
    /// Decodes a JSON body, turning every failure into an error that names the field and why.
    ///
    /// Hummingbird's own decoding reports only "bad request"; callers of an ERP need to know which
    /// field of which line was wrong.
    public func decodeJSON<T: Decodable>(as type: T.Type, context: some RequestContext) async throws -> T {
        if let contentType = headers[.contentType], !contentType.lowercased().hasPrefix("application/json") {
            throw APIError(.unsupportedMediaType, detail: "Send the body as application/json, not \(contentType).")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: context.maxUploadSize)
        } catch {
            throw APIError(.bodyTooLarge, detail: "The body exceeds \(context.maxUploadSize) bytes.")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch let error as DecodingError {
            throw APIError(decodingError: error)
        }
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
