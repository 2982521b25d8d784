import Foundation

/// What Foundation's JSON decoder lets through and an ERP must not: a key given twice in one
/// object (which of the two did the client mean? a signed ledger payload must never be
/// ambiguous), a key the request does not have (`BodyKeys`), NUL characters in text
/// (PostgreSQL cannot store them), and nesting deeper than `depthMax`. Syntax errors are left
/// to the decoder, which reports them as malformed JSON.
enum StrictJSON {
    static let depthMax = 32

    /// The first such problem, with the JSON path of the field at fault; nil when there is none.
    static func problem(in bytes: [UInt8], keys: BodyKeys = .value) -> APIError? {
        var scanner = Scanner(bytes: bytes)
        do {
            try scanner.value(path: "", depth: 0, keys: keys)
            return nil
        } catch let error as APIError {
            return error
        } catch {
            return nil
        }
    }

    private struct SyntaxError: Error {}

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func value(path: String, depth: Int, keys: BodyKeys) throws {
            skipWhitespace()
            guard position < bytes.count else { throw SyntaxError() }
            switch bytes[position] {
            case UInt8(ascii: "{"): try object(path: path, depth: depth + 1, keys: keys)
            case UInt8(ascii: "["): try array(path: path, depth: depth + 1, keys: keys)
            case UInt8(ascii: "\""):
                if try string().containsNUL { throw APIError(.invalidField, detail: "\(label(path)) must not contain NUL characters.", field: label(path)) }
            default:
                while position < bytes.count, !Self.ends(bytes[position]) { position += 1 }
            }
        }

        private mutating func object(path: String, depth: Int, keys shape: BodyKeys) throws {
            try checkDepth(path, depth)
            position += 1
            var keys: Set<String> = []
            skipWhitespace()
            if peek(UInt8(ascii: "}")) { position += 1; return }
            while true {
                skipWhitespace()
                guard peek(UInt8(ascii: "\"")) else { throw SyntaxError() }
                let key = try string()
                let keyPath = path.isEmpty ? key.text : "\(path).\(key.text)"
                if key.containsNUL { throw APIError(.invalidField, detail: "A key must not contain NUL characters.", field: label(path)) }
                guard keys.insert(key.text).inserted else {
                    throw APIError(.invalidField, detail: "\(keyPath) is given twice; give each key once.", field: keyPath)
                }
                let child: BodyKeys
                switch shape {
                case .object(let fields):
                    guard let known = fields[key.text] else {
                        throw APIError(.invalidField, detail: "\(keyPath) is not a field of this request.", field: keyPath)
                    }
                    child = known
                case .map(let values): child = values
                case .array, .value: child = .value  // an object where none belongs: the decoder names the field
                }
                skipWhitespace()
                guard peek(UInt8(ascii: ":")) else { throw SyntaxError() }
                position += 1
                try value(path: keyPath, depth: depth, keys: child)
                skipWhitespace()
                if peek(UInt8(ascii: ",")) { position += 1; continue }
                guard peek(UInt8(ascii: "}")) else { throw SyntaxError() }
                position += 1
                return
            }
        }

        private mutating func array(path: String, depth: Int, keys: BodyKeys) throws {
            try checkDepth(path, depth)
            position += 1
            skipWhitespace()
            if peek(UInt8(ascii: "]")) { position += 1; return }
            var element = BodyKeys.value
            if case .array(let elements) = keys { element = elements }
            var index = 0
            while true {
                try value(path: "\(path)[\(index)]", depth: depth, keys: element)
                index += 1
                skipWhitespace()
                if peek(UInt8(ascii: ",")) { position += 1; continue }
                guard peek(UInt8(ascii: "]")) else { throw SyntaxError() }
                position += 1
                return
            }
        }

        /// A string token, decoded (escapes included) so that keys compare as the decoder sees them.
        private mutating func string() throws -> (text: String, containsNUL: Bool) {
            let start = position
            position += 1
            var escaped = false
            while position < bytes.count, bytes[position] != UInt8(ascii: "\"") {
                if bytes[position] == UInt8(ascii: "\\") {
                    escaped = true
                    position += 1
                }
                position += 1
            }
            guard position < bytes.count else { throw SyntaxError() }
            position += 1
            let token = Array(bytes[start..<position])
            let text: String
            if escaped {
                guard let decoded = try? JSONDecoder().decode(String.self, from: Data(token)) else { throw SyntaxError() }
                text = decoded
            } else {
                text = String(decoding: token.dropFirst().dropLast(), as: UTF8.self)
            }
            return (text, token.contains(0) || text.unicodeScalars.contains("\u{0}"))
        }

        private func checkDepth(_ path: String, _ depth: Int) throws {
            guard depth <= StrictJSON.depthMax else {
                throw APIError(.invalidField, detail: "The body nests deeper than \(StrictJSON.depthMax) levels.", field: label(path))
            }
        }

        private func label(_ path: String) -> String { path.isEmpty ? "body" : path }

        private func peek(_ byte: UInt8) -> Bool { position < bytes.count && bytes[position] == byte }

        private mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        private static func ends(_ byte: UInt8) -> Bool {
            [UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D].contains(byte)
        }
    }
}
