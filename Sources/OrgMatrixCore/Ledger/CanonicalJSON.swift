/// A JSON value as the ledger hashes and signs it. Numbers are integers only: money in fen,
/// quantities in base units, rates in ppm or basis points. A float has more than one spelling and
/// more than one reading, and a signed figure must have exactly one.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The largest magnitude every JSON reader keeps exactly (I-JSON, RFC 7493 §2.2): beyond it a
    /// reader that parses numbers as doubles would verify a different figure than was signed.
    public static let integerMagnitudeMax: Int64 = 9_007_199_254_740_991

    /// Equal exactly when the canonical bytes are: text compares by Unicode scalars. Swift's
    /// String calls canonically equivalent text equal (é as U+00E9 and as e + U+0301), but the
    /// two spellings hash differently, so a verifier must not take one for the other.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let left), .bool(let right)): return left == right
        case (.integer(let left), .integer(let right)): return left == right
        case (.string(let left), .string(let right)): return left.unicodeScalars.elementsEqual(right.unicodeScalars)
        case (.array(let left), .array(let right)): return left == right
        case (.object(let left), .object(let right)):
            // A dictionary holds one key per equivalence class, so the lookup finds the only
            // candidate; its spelling must then be the same too.
            guard left.count == right.count else { return false }
            return left.allSatisfy { key, value in
                guard let index = right.index(forKey: key) else { return false }
                return right[index].key.unicodeScalars.elementsEqual(key.unicodeScalars) && right[index].value == value
            }
        case (.null, _), (.bool, _), (.integer, _), (.string, _), (.array, _), (.object, _): return false
        }
    }
}

/// Why bytes are not a ledger document; every case says where.
public enum CanonicalJSONError: Error, Equatable, CustomStringConvertible {
    case syntax(offset: Int, reason: String)
    /// A number with a fraction or an exponent (`1.5`, `56.0`, `1e3`).
    case notAnInteger(path: String)
    case integerOutOfRange(path: String)
    case duplicateKey(path: String)
    /// Two keys of one object that are the same text in different Unicode spellings (é as
    /// U+00E9 and as e + U+0301). RFC 8785 keeps both; a `[String: JSONValue]` cannot, since
    /// Swift's String calls them equal, so the document is refused rather than changed.
    case equivalentKeys(path: String)
    /// Text that is not Unicode: malformed UTF-8, or a `\u` escape of a lone surrogate.
    case invalidUnicode(offset: Int)
    case tooDeep(path: String)

    public var description: String {
        switch self {
        case .syntax(let offset, let reason): "malformed JSON at byte \(offset): \(reason)"
        case .notAnInteger(let path): "\(CanonicalJSON.label(path)): only integers are allowed (no fraction, no exponent)"
        case .integerOutOfRange(let path):
            "\(CanonicalJSON.label(path)): integers must lie within ±\(JSONValue.integerMagnitudeMax)"
        case .duplicateKey(let path): "\(CanonicalJSON.label(path)): the key appears twice in its object"
        case .equivalentKeys(let path):
            "\(CanonicalJSON.label(path)): another key of its object is the same text in another Unicode spelling"
        case .invalidUnicode(let offset): "text at byte \(offset) is not valid Unicode"
        case .tooDeep(let path): "\(CanonicalJSON.label(path)): nested deeper than \(CanonicalJSON.depthMax)"
        }
    }
}

/// RFC 8785 (JSON Canonicalization Scheme) for integer-only documents: one byte sequence per
/// value, so that `tx_hash = SM3(canonical bytes)` means the same thing to every verifier.
public enum CanonicalJSON {
    public static let depthMax = 64

    /// The canonical bytes: object members sorted by the UTF-16 code units of their keys, no
    /// whitespace, strings with only the escapes RFC 8785 §3.2.2.2 prescribes.
    public static func encode(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        write(value, to: &out)
        return out
    }

    /// Parses and checks a document: no duplicate keys, integers only, valid Unicode. The result
    /// re-encodes to the canonical form, whatever spacing or member order the input had.
    public static func parse(_ bytes: [UInt8]) throws(CanonicalJSONError) -> JSONValue {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(path: "", depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw .syntax(offset: parser.position, reason: "text after the document") }
        return value
    }

    /// Whether `bytes` are exactly the canonical encoding of what they contain.
    public static func isCanonical(_ bytes: [UInt8]) -> Bool {
        guard let value = try? parse(bytes) else { return false }
        return encode(value) == bytes
    }

    static func label(_ path: String) -> String { path.isEmpty ? "the document" : path }

    // MARK: encoding

    private static func write(_ value: JSONValue, to out: inout [UInt8]) {
        switch value {
        case .null: out += Array("null".utf8)
        case .bool(let flag): out += Array((flag ? "true" : "false").utf8)
        case .integer(let number): out += Array(String(number).utf8)
        case .string(let text): writeString(text, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                write(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            let keys = members.keys.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }
            for (index, key) in keys.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                write(members[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func writeString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x08: out += [0x5C, UInt8(ascii: "b")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0C: out += [0x5C, UInt8(ascii: "f")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0..<0x20:
                out += [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hexDigits[Int(scalar.value >> 4)], hexDigits[Int(scalar.value & 0xF)]]
            default: out += Array(String(scalar).utf8)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    // MARK: parsing

    private struct Parser {
        let bytes: [UInt8]
        var position = 0

        mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        mutating func value(path: String, depth: Int) throws(CanonicalJSONError) -> JSONValue {
            guard depth <= CanonicalJSON.depthMax else { throw .tooDeep(path: path) }
            guard position < bytes.count else { throw .syntax(offset: position, reason: "a value was expected") }
            switch bytes[position] {
            case UInt8(ascii: "{"): return try object(path: path, depth: depth)
            case UInt8(ascii: "["): return try array(path: path, depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .integer(try integer(path: path))
            default: throw .syntax(offset: position, reason: "a value was expected")
            }
        }

        private mutating func literal(_ word: String) throws(CanonicalJSONError) {
            let expected = Array(word.utf8)
            guard bytes.count - position >= expected.count, Array(bytes[position..<(position + expected.count)]) == expected else {
                throw .syntax(offset: position, reason: "a value was expected")
            }
            position += expected.count
        }

        private mutating func object(path: String, depth: Int) throws(CanonicalJSONError) -> JSONValue {
            position += 1
            var members: [String: JSONValue] = [:]
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                    throw .syntax(offset: position, reason: "an object key was expected")
                }
                let key = try string()
                let memberPath = path.isEmpty ? key : path + "." + key
                if let index = members.index(forKey: key) {
                    let spelledAlike = members[index].key.unicodeScalars.elementsEqual(key.unicodeScalars)
                    throw spelledAlike ? .duplicateKey(path: memberPath) : .equivalentKeys(path: memberPath)
                }
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                members[key] = try value(path: memberPath, depth: depth + 1)
                skipWhitespace()
                guard position < bytes.count else { throw .syntax(offset: position, reason: "the object is not closed") }
                if bytes[position] == UInt8(ascii: "}") {
                    position += 1
                    return .object(members)
                }
                try expect(UInt8(ascii: ","))
            }
        }

        private mutating func array(path: String, depth: Int) throws(CanonicalJSONError) -> JSONValue {
            position += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                elements.append(try value(path: "\(path)[\(elements.count)]", depth: depth + 1))
                skipWhitespace()
                guard position < bytes.count else { throw .syntax(offset: position, reason: "the array is not closed") }
                if bytes[position] == UInt8(ascii: "]") {
                    position += 1
                    return .array(elements)
                }
                try expect(UInt8(ascii: ","))
            }
        }

        private mutating func expect(_ byte: UInt8) throws(CanonicalJSONError) {
            guard position < bytes.count, bytes[position] == byte else {
                throw .syntax(offset: position, reason: "'\(Character(Unicode.Scalar(byte)))' was expected")
            }
            position += 1
        }

        /// `-?(0|[1-9][0-9]*)`; a fraction or exponent after it is refused, not rounded.
        private mutating func integer(path: String) throws(CanonicalJSONError) -> Int64 {
            let start = position
            let negative = bytes[position] == UInt8(ascii: "-")
            if negative { position += 1 }
            let digitsStart = position
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
            let digits = bytes[digitsStart..<position]
            guard !digits.isEmpty else { throw .syntax(offset: start, reason: "a digit was expected") }
            guard digits.count == 1 || digits.first != UInt8(ascii: "0") else { throw .syntax(offset: start, reason: "a number must not start with 0") }
            if position < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[position]) {
                throw .notAnInteger(path: path)
            }
            guard digits.count <= 16 else { throw .integerOutOfRange(path: path) }
            var magnitude: Int64 = 0
            for digit in digits { magnitude = magnitude * 10 + Int64(digit - UInt8(ascii: "0")) }
            guard magnitude <= JSONValue.integerMagnitudeMax else { throw .integerOutOfRange(path: path) }
            return negative ? -magnitude : magnitude
        }

        private mutating func string() throws(CanonicalJSONError) -> String {
            let start = position
            position += 1
            var utf8: [UInt8] = []
            while true {
                guard position < bytes.count else { throw .syntax(offset: start, reason: "the string is not closed") }
                let byte = bytes[position]
                switch byte {
                case UInt8(ascii: "\""):
                    position += 1
                    guard let text = String(validating: utf8, as: UTF8.self) else { throw .invalidUnicode(offset: start) }
                    return text
                case UInt8(ascii: "\\"):
                    position += 1
                    try escape(into: &utf8)
                case 0..<0x20:
                    throw .syntax(offset: position, reason: "a control character must be escaped")
                default:
                    utf8.append(byte)
                    position += 1
                }
            }
        }

        private mutating func escape(into utf8: inout [UInt8]) throws(CanonicalJSONError) {
            guard position < bytes.count else { throw .syntax(offset: position, reason: "an escape was expected") }
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(byte)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                let escapeStart = position - 2
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                        throw .invalidUnicode(offset: escapeStart)
                    }
                    position += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw .invalidUnicode(offset: escapeStart) }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw .invalidUnicode(offset: escapeStart) }
                utf8 += Array(String(unicode).utf8)
            default:
                throw .syntax(offset: position - 1, reason: "unknown escape")
            }
        }

        private mutating func hex4() throws(CanonicalJSONError) -> UInt32 {
            guard bytes.count - position >= 4 else { throw .syntax(offset: position, reason: "four hex digits were expected") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw .syntax(offset: position, reason: "four hex digits were expected")
                }
                value = value << 4 | digit
                position += 1
            }
            return value
        }
    }
}

extension CanonicalJSON {
    /// The value a ledger document's `bytes` hold, which must be exactly its canonical form:
    /// a signed or hashed document has one spelling, so any other is refused, not normalized.
    static func document(_ bytes: [UInt8]) throws(LedgerDocumentError) -> JSONValue {
        let value: JSONValue
        do {
            value = try parse(bytes)
        } catch {
            throw .notCanonical(error.description)
        }
        guard encode(value) == bytes else { throw .notCanonical("the bytes are not in canonical form (key order, spacing, escapes)") }
        return value
    }
}
