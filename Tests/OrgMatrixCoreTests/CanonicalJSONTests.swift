import OrgMatrixCore
import Testing

@Suite struct CanonicalJSONTests {
    private func canonical(_ text: String) throws -> String {
        String(decoding: CanonicalJSON.encode(try CanonicalJSON.parse(Array(text.utf8))), as: UTF8.self)
    }

    /// RFC 8785 §3.2.3: members sorted by the UTF-16 code units of their keys (so U+1F600,
    /// a surrogate pair, sorts before U+FB33), whatever the input order and spacing.
    @Test func membersAreSortedByUTF16CodeUnitsAsInRFC8785Section3_2_3() throws {
        let input = #"""
            {
              "\u20ac": "Euro Sign",
              "\r": "Carriage Return",
              "\ufb33": "Hebrew Letter Dalet With Dagesh",
              "1": "One",
              "\ud83d\ude00": "Emoji: Grinning Face",
              "\u0080": "Control",
              "\u00f6": "Latin Small Letter O With Diaeresis"
            }
            """#
        let keys = #"{"\r":"Carriage Return","1":"One","\#u{80}":"Control","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","😀":"Emoji: Grinning Face","דּ":"Hebrew Letter Dalet With Dagesh"}"#
        #expect(try canonical(input) == keys)
    }

    /// RFC 8785 §3.2.2.2: only `"`, `\` and controls are escaped; the short forms where JSON has
    /// them, else `\u00xx` in lower case; `/` and DEL and non-ASCII stay as they are.
    @Test func stringsCarryOnlyTheEscapesRFC8785Prescribes() throws {
        #expect(try canonical(#""\u0008\t\n\f\r\u001F\u0000\"\\\/\u007f\u00e9""#) == "\"\\b\\t\\n\\f\\r\\u001f\\u0000\\\"\\\\/\u{7f}é\"")
        #expect(try canonical(#""A\u030a""#) == "\"A\u{30a}\"")  // no Unicode normalization
    }

    @Test func integersKeepOneSpellingAndFloatsAreRefusedNamingThePath() throws {
        #expect(try canonical("[0, -0, 12, -9007199254740991, 9007199254740991]") == "[0,0,12,-9007199254740991,9007199254740991]")
        #expect(throws: CanonicalJSONError.notAnInteger(path: "lines[1].quantity")) {
            try CanonicalJSON.parse(Array(#"{"lines":[{"quantity":1},{"quantity":56.0}]}"#.utf8))
        }
        #expect(throws: CanonicalJSONError.notAnInteger(path: "rate")) { try CanonicalJSON.parse(Array(#"{"rate":1e3}"#.utf8)) }
        #expect(throws: CanonicalJSONError.integerOutOfRange(path: "amountFen")) {
            try CanonicalJSON.parse(Array(#"{"amountFen":9007199254740992}"#.utf8))
        }
        #expect(throws: CanonicalJSONError.integerOutOfRange(path: "")) { try CanonicalJSON.parse(Array("-123456789012345678901".utf8)) }
        #expect(throws: CanonicalJSONError.self) { try CanonicalJSON.parse(Array("012".utf8)) }
    }

    @Test func ambiguousOrNonUnicodeDocumentsAreRefused() throws {
        #expect(throws: CanonicalJSONError.duplicateKey(path: "a.b")) { try CanonicalJSON.parse(Array(#"{"a":{"b":1,"b":1}}"#.utf8)) }
        #expect(throws: CanonicalJSONError.duplicateKey(path: "b")) { try CanonicalJSON.parse(Array(#"{"b":1,"\u0062":2}"#.utf8)) }
        #expect(throws: CanonicalJSONError.invalidUnicode(offset: 2)) { try CanonicalJSON.parse(Array(#"["\ud800"]"#.utf8)) }
        #expect(throws: CanonicalJSONError.invalidUnicode(offset: 2)) { try CanonicalJSON.parse(Array(#"["\udc00x"]"#.utf8)) }
        #expect(throws: CanonicalJSONError.invalidUnicode(offset: 0)) { try CanonicalJSON.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: CanonicalJSONError.self) { try CanonicalJSON.parse(Array("{\"a\":1} x".utf8)) }
        #expect(throws: CanonicalJSONError.self) { try CanonicalJSON.parse(Array("[\"tab\there\"]".utf8)) }
        let deep = String(repeating: "[", count: CanonicalJSON.depthMax + 2) + String(repeating: "]", count: CanonicalJSON.depthMax + 2)
        #expect(throws: CanonicalJSONError.self) { try CanonicalJSON.parse(Array(deep.utf8)) }
    }

    /// Swift's String calls canonically equivalent text equal (é as U+00E9 and as e + U+0301),
    /// but the two have different canonical bytes, and so different hashes: JSONValue must not.
    @Test func valuesAreEqualExactlyWhenTheirCanonicalBytesAre() throws {
        let precomposed = JSONValue.string("\u{E9}")
        let decomposed = JSONValue.string("e\u{301}")
        #expect(CanonicalJSON.encode(precomposed) != CanonicalJSON.encode(decomposed))
        #expect(precomposed != decomposed)
        #expect(JSONValue.object(["\u{E9}": .null]) != .object(["e\u{301}": .null]))
        #expect(JSONValue.array([.string("q\u{307}\u{323}")]) != .array([.string("q\u{323}\u{307}")]))
        #expect(JSONValue.object(["\u{212B}": .integer(1)]) != .object(["\u{C5}": .integer(1)]))
        #expect(JSONValue.object(["k": precomposed, "n": .integer(1)]) == .object(["n": .integer(1), "k": .string("\u{E9}")]))
        #expect(JSONValue.object(["k": .integer(1)]) != .object(["k": .integer(1), "l": .integer(1)]))
        #expect(try CanonicalJSON.parse(Array(#"["\u00e9"]"#.utf8)) != CanonicalJSON.parse(Array(#"["e\u0301"]"#.utf8)))
    }

    /// JCS keeps two keys that are one text in two Unicode spellings; a JSONValue object, keyed by
    /// Swift's String, cannot hold both, so the document is refused, and the error says why.
    @Test func keysThatAreOneTextInTwoSpellingsAreRefusedAsSuch() {
        #expect(throws: CanonicalJSONError.equivalentKeys(path: "a.e\u{301}")) {
            try CanonicalJSON.parse(Array(#"{"a":{"\u00e9":1,"e\u0301":2}}"#.utf8))
        }
        #expect(throws: CanonicalJSONError.equivalentKeys(path: "q\u{323}\u{307}")) {
            try CanonicalJSON.parse(Array("{\"q\u{307}\u{323}\":1,\"q\u{323}\u{307}\":2}".utf8))
        }
        #expect(throws: CanonicalJSONError.duplicateKey(path: "\u{E9}")) { try CanonicalJSON.parse(Array(#"{"\u00e9":1,"\u00E9":2}"#.utf8)) }
        #expect(!CanonicalJSON.isCanonical(Array("{\"\u{C5}\":1,\"\u{212B}\":2}".utf8)))
        #expect(CanonicalJSONError.equivalentKeys(path: "k").description.contains("another Unicode spelling"))
    }

    @Test func canonicalBytesAreRecognisedAndAnythingElseIsNot() {
        #expect(CanonicalJSON.isCanonical(Array(#"{"a":[1,true,null],"b":"x"}"#.utf8)))
        #expect(!CanonicalJSON.isCanonical(Array(#"{"b":"x","a":[1,true,null]}"#.utf8)))
        #expect(!CanonicalJSON.isCanonical(Array(#"{"a": [1,true,null],"b":"x"}"#.utf8)))
        #expect(!CanonicalJSON.isCanonical(Array(#"{"a":"\u0041"}"#.utf8)))
    }

    /// Generated documents (nesting, escapes, non-BMP keys): parsing the canonical bytes gives
    /// the same value back, and canonicalizing again changes nothing.
    @Test func generatedDocumentsRoundTrip() throws {
        var generator = SplitMix(seed: 20261202)
        for _ in 0..<300 {
            let value = generator.value(depth: 0)
            let bytes = CanonicalJSON.encode(value)
            let parsed = try CanonicalJSON.parse(bytes)
            #expect(parsed == value)
            #expect(CanonicalJSON.encode(parsed) == bytes)
        }
    }
}

/// A small deterministic generator of JSON values for the round trip.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    private static let alphabet: [Unicode.Scalar] = ["a", "Z", "0", "\"", "\\", "/", "\u{0}", "\u{1f}", "\u{7f}", "é", "€", "\u{fb33}", "😀", "\u{10ffff}", "\n", " "]

    mutating func text() -> String {
        var scalars = String.UnicodeScalarView()
        for _ in 0..<below(6) { scalars.append(Self.alphabet[below(Self.alphabet.count)]) }
        return String(scalars)
    }

    mutating func value(depth: Int) -> JSONValue {
        switch below(depth > 3 ? 4 : 6) {
        case 0: return .null
        case 1: return .bool(below(2) == 0)
        case 2: return .integer(Int64(below(2_000_001)) - 1_000_000)
        case 3: return .string(text())
        case 4: return .array((0..<below(4)).map { _ in value(depth: depth + 1) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<below(4) { members[text()] = value(depth: depth + 1) }
            return .object(members)
        }
    }
}
