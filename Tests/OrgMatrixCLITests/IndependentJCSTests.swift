import Foundation
import OrgMatrixCore
import OrgMatrixTestSupport
import Testing

/// OrgMatrixCore's RFC 8785 canonical JSON against two other implementations: `ops/jcs.py`
/// (Python's standard library, written from the RFC) and PyPI's `canonicaljson` (a third opinion,
/// on documents whose keys are all in the BMP: it sorts keys by code point, which is JCS's
/// UTF-16 order only there). Generated documents, each spelled non-canonically, must come out
/// byte for byte the same from all of them; documents that break the ledger's rules must be
/// refused by both ours and `ops/jcs.py`.
///
/// The run is reproducible from its printed seed: `ORGMATRIX_JCS_SEED=<seed>` (and
/// `ORGMATRIX_JCS_DOCUMENTS=<n>`, default 3000) with `ops/test --filter IndependentJCSTests`.
/// Lives with the CLI tests because it runs processes (python3, which ops/test installs).
@Suite struct IndependentJCSTests {
    static let documentCountDefault = 3000
    static let seedDefault: UInt64 = 0x8785_2026_1202

    @Test func generatedDocumentsCanonicalizeToTheSameBytesInAllThreeImplementations() throws {
        let seed = try Self.environmentNumber("ORGMATRIX_JCS_SEED") ?? Self.seedDefault
        let count = Int(try Self.environmentNumber("ORGMATRIX_JCS_DOCUMENTS") ?? UInt64(Self.documentCountDefault))
        print("IndependentJCSTests: seed \(seed), \(count) documents (ORGMATRIX_JCS_SEED=\(seed) repeats this run)")
        let clock = ContinuousClock()

        var generator = DocumentGenerator(seed: seed)
        let (cases, generation) = clock.timed { (0..<count).map { _ in generator.testCase() } }
        let texts = cases.map(\.text)
        let bmpKeyed = cases.indices.filter { cases[$0].document.keysAreBMP }

        let (ours, oursTime) = clock.timed {
            texts.map { text in Result { () throws(CanonicalJSONError) in CanonicalJSON.encode(try CanonicalJSON.parse(text)) } }
        }
        let (jcs, jcsTime) = try clock.timed { try Self.python(["--seq"], texts) }
        let (third, thirdTime) = try clock.timed {
            try Self.python(["--seq", "--implementation", "canonicaljson"], bmpKeyed.map { texts[$0] })
        }

        var problems: [String] = []
        var canonicalInputs = 0
        for (index, testCase) in cases.enumerated() {
            let context = "document \(index) (seed \(seed)): \(Self.show(testCase.text))"
            guard let expected = testCase.document.value else {
                // Two keys of one object that Swift's String calls equal (é and e + U+0301): JCS
                // keeps both, CanonicalJSON cannot and refuses (LEDGER.md, "Documents").
                guard case .failure(.equivalentKeys) = ours[index] else {
                    problems.append("\(context): not refused as equivalent keys: \(ours[index])")
                    continue
                }
                if jcs[index] == nil { problems.append("\(context): ops/jcs.py refused a JCS document") }
                continue
            }
            guard case .success(let canonical) = ours[index] else {
                problems.append("\(context): refused: \(ours[index])")
                continue
            }
            if (try? CanonicalJSON.parse(testCase.text)) != expected { problems.append("\(context): parsed to another value") }
            if jcs[index] != canonical {
                problems.append("\(context): ours \(Self.show(canonical)), ops/jcs.py \(jcs[index].map(Self.show) ?? "refused")")
            }
            if !CanonicalJSON.isCanonical(canonical) {
                problems.append("\(context): isCanonical is false for the canonical bytes")
            }
            if CanonicalJSON.isCanonical(testCase.text) != (testCase.text == canonical) {
                problems.append("\(context): isCanonical is \(CanonicalJSON.isCanonical(testCase.text)) for the input")
            }
            if testCase.text == canonical { canonicalInputs += 1 }
        }
        for (position, index) in bmpKeyed.enumerated() where third[position] != jcs[index] {
            let theirs = third[position].map(Self.show) ?? "refused"
            problems.append(
                "document \(index) (seed \(seed)): canonicaljson \(theirs), ops/jcs.py \(jcs[index].map(Self.show) ?? "refused")")
        }
        #expect(problems.isEmpty, "\(problems.count) disagreements; the first: \(problems.prefix(5).joined(separator: "\n"))")

        var coverage = Coverage()
        for testCase in cases { coverage.visit(testCase.document, depth: 0) }
        let refusedAsEquivalent = cases.filter { $0.document.value == nil }.count
        #expect(coverage.controlsSeen == Set(0..<0x20), "every control character, escaped both ways")
        #expect(coverage.specialsSeen == [0x22, 0x5C, 0x2F, 0x7F, 0x2028, 0x2029])
        #expect(coverage.depthMax == DocumentGenerator.depthMax)
        #expect(coverage.integersSeen.isSuperset(of: [0, JSONValue.integerMagnitudeMax, -JSONValue.integerMagnitudeMax]))
        #expect(coverage.negativeIntegers > 0 && coverage.emptyObjects > 0 && coverage.emptyArrays > 0)
        #expect(coverage.literalsSeen == ["null", "true", "false"])
        #expect(coverage.keyRepertoires == Set(Repertoire.allCases), "keys from every repertoire: \(coverage.keyRepertoires)")
        #expect(coverage.objectsOrderedDifferentlyByCodePoint >= count / 20, "objects where UTF-16 and code-point order differ")
        #expect(bmpKeyed.count >= count / 4 && bmpKeyed.count < count, "documents compared with canonicaljson")
        #expect(canonicalInputs > 0 && canonicalInputs < count / 2, "inputs already canonical: \(canonicalInputs)")
        #expect(refusedAsEquivalent > 0 && refusedAsEquivalent < count / 10)

        let total = cases.reduce(0) { $0 + $1.text.count }
        print(
            """
            IndependentJCSTests: \(count) documents (\(total) bytes; \(refusedAsEquivalent) with canonically equivalent \
            keys, refused by us), compared with ops/jcs.py; \(bmpKeyed.count) with BMP-only keys also with canonicaljson; \
            \(coverage.objectsOrderedDifferentlyByCodePoint) objects where UTF-16 and code-point key order differ; \
            \(canonicalInputs) inputs already canonical. Generation \(generation), ours (parse + encode) \(oursTime), \
            ops/jcs.py \(jcsTime), canonicaljson \(thirdTime) (each with its python3 start)
            """)
    }

    /// Documents that break a rule of the ledger (docs/LEDGER.md) or of JSON: refused by both.
    @Test func documentsBreakingTheLedgersRulesAreRefusedByBoth() throws {
        let seed = (try Self.environmentNumber("ORGMATRIX_JCS_SEED") ?? Self.seedDefault) &+ 1
        var generator = DocumentGenerator(seed: seed)
        let templates: [(prefix: [UInt8], suffix: [UInt8])] = [
            (Array(#"{"k":"#.utf8), Array(#","k":0}"#.utf8)),
            (Array(#"{"k":"#.utf8), Array(#","\u006B":0}"#.utf8)),
            (Array("[".utf8), Array(",1.5]".utf8)),
            (Array("[".utf8), Array(",1e3]".utf8)),
            (Array("[".utf8), Array(",-0.0]".utf8)),
            (Array("[".utf8), Array(",1E+2]".utf8)),
            (Array("[".utf8), Array(",9007199254740992]".utf8)),
            (Array("[".utf8), Array(",-9007199254740992]".utf8)),
            (Array("[".utf8), Array(",123456789012345678901]".utf8)),
            (Array("[".utf8), Array(#","\ud800"]"#.utf8)),
            (Array("[".utf8), Array(#","\udc00"]"#.utf8)),
            (Array("[".utf8), Array(#","\ud83dx"]"#.utf8)),
            (Array("[".utf8), Array(#","\ud83d\u0041"]"#.utf8)),
            (Array("[".utf8), Array(",01]".utf8)),
            (Array("[".utf8), Array(",-]".utf8)),
            (Array("[".utf8), Array(",+1]".utf8)),
            (Array("[".utf8), Array(",NaN]".utf8)),
            (Array("[".utf8), Array(",Infinity]".utf8)),
            (Array("[".utf8), [0x2C, 0x22, 0x61, 0x01, 0x62, 0x22, 0x5D]),  // a raw control character in a string
            (Array("[".utf8), [0x2C, 0x22, 0x0A, 0x22, 0x5D]),  // a raw line feed in a string
            (Array("[".utf8), [0x2C, 0x22, 0xFF, 0x22, 0x5D]),  // not UTF-8
            (Array("[".utf8), [0x2C, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x5D]),  // a surrogate encoded in UTF-8
            (Array("[".utf8), [0x2C, 0x22, 0xC0, 0xAF, 0x22, 0x5D]),  // an overlong encoding of "/"
            (Array("[".utf8), Array(#","\x"]"#.utf8)),
            (Array("[".utf8), Array(#","\u12"]"#.utf8)),
            (Array("[".utf8), Array(",]".utf8)),
            (Array("[".utf8), Array("".utf8)),
            (Array(#"{"a":"#.utf8), Array(",}".utf8)),
            (Array("[".utf8), Array(",true false]".utf8)),
            ([], Array(" x".utf8)),
            ([0xEF, 0xBB, 0xBF], []),  // a byte-order mark
        ]
        var texts: [[UInt8]] = []
        for _ in 0..<20 {
            for template in templates {
                var testCase = generator.testCase()
                while testCase.document.value == nil { testCase = generator.testCase() }
                texts.append(template.prefix + testCase.text + template.suffix)
            }
        }
        let jcs = try Self.python(["--seq"], texts)
        var problems: [String] = []
        for (index, text) in texts.enumerated() {
            if let value = try? CanonicalJSON.parse(text) {
                problems.append(
                    "\(index) (seed \(seed)): we accepted \(Self.show(text)) as \(Self.show(CanonicalJSON.encode(value)))")
            }
            if let theirs = jcs[index] {
                problems.append("\(index) (seed \(seed)): ops/jcs.py accepted \(Self.show(text)) as \(Self.show(theirs))")
            }
        }
        #expect(problems.isEmpty, "\(problems.count) accepted; the first: \(problems.prefix(5).joined(separator: "\n"))")
        print("IndependentJCSTests: \(texts.count) rule-breaking documents (seed \(seed)), refused by both")
    }

    /// Why canonicaljson sees only documents whose keys are all in the BMP: U+1F600 is the
    /// surrogate pair D83D DE00, so JCS puts it before U+FB33, and code-point order after it.
    @Test func canonicaljsonSortsKeysByCodePointWhereJCSSortsByUTF16() throws {
        let document = Array(#"{"\ufb33":2,"\ud83d\ude00":1,"\ue000":3}"#.utf8)
        let jcs = Array("{\"😀\":1,\"\u{e000}\":3,\"\u{fb33}\":2}".utf8)
        #expect(CanonicalJSON.encode(try CanonicalJSON.parse(document)) == jcs)
        #expect(try Self.python(["--seq"], [document]) == [jcs])
        let codePointOrder = Array("{\"\u{e000}\":3,\"\u{fb33}\":2,\"😀\":1}".utf8)
        #expect(try Self.python(["--seq", "--implementation", "canonicaljson"], [document]) == [codePointOrder])
    }

    // MARK: running ops/jcs.py

    static let script = TestEnvironment.repositoryRoot.appendingPathComponent("ops/jcs.py").path

    /// Runs `ops/jcs.py` on an RFC 7464 sequence of `documents`: one result per document, `nil`
    /// where it refused the document. Fails (never skips) when python3 or canonicaljson is missing.
    static func python(_ arguments: [String], _ documents: [[UInt8]]) throws -> [[UInt8]?] {
        let input: [UInt8] = documents.flatMap { [0x1E] + $0 + [0x0A] }
        let output: ProcessOutput
        do {
            output = try runProcess("python3", [script] + arguments, standardInput: input)
        } catch {
            throw TestSetupError("python3 is not on PATH (ops/test installs it through ops/lib.sh): \(error)")
        }
        guard output.status == 0 else {
            throw TestSetupError(
                "ops/jcs.py \(arguments.joined(separator: " ")) failed (status \(output.status)): \(output.standardError)")
        }
        let records = output.standardOutput.split(separator: 0x1E, omittingEmptySubsequences: false).dropFirst()
        guard records.count == documents.count, records.allSatisfy({ $0.last == 0x0A }) else {
            throw TestSetupError("ops/jcs.py wrote \(records.count) records for \(documents.count) documents")
        }
        return records.map { $0.count == 1 ? nil : Array($0.dropLast()) }
    }

    static func environmentNumber(_ name: String) throws -> UInt64? {
        guard let text = ProcessInfo.processInfo.environment[name] else { return nil }
        guard let number = UInt64(text) else { throw TestSetupError("\(name) must be a decimal number, not \(text)") }
        return number
    }

    /// Bytes as a Swift string literal would show them, so a failure can be read and retyped.
    static func show(_ bytes: [UInt8]) -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return "bytes " + bytes.map { String($0, radix: 16) }.joined(separator: " ")
        }
        return text.unicodeScalars.map {
            $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? String($0) : "\\u{\(String($0.value, radix: 16))}"
        }
        .joined()
    }
}

extension ContinuousClock {
    fileprivate func timed<T>(_ body: () throws -> T) rethrows -> (T, Duration) {
        let start = now
        let result = try body()
        return (result, now - start)
    }
}

// MARK: generated documents

/// A generated document. Like JSONValue, but an object is a list of members whose keys differ
/// as Unicode scalars: so it can hold two keys that Swift's String calls equal.
indirect enum Generated {
    case null
    case bool(Bool)
    case integer(Int64)
    case string(String)
    case array([Generated])
    case object([(key: String, value: Generated)])

    /// The value CanonicalJSON must parse it to, or nil when an object has two keys that
    /// JSONValue cannot keep apart.
    var value: JSONValue? {
        switch self {
        case .null: return .null
        case .bool(let flag): return .bool(flag)
        case .integer(let number): return .integer(number)
        case .string(let text): return .string(text)
        case .array(let elements):
            var values: [JSONValue] = []
            for element in elements {
                guard let value = element.value else { return nil }
                values.append(value)
            }
            return .array(values)
        case .object(let members):
            var values: [String: JSONValue] = [:]
            for member in members {
                guard values[member.key] == nil, let value = member.value.value else { return nil }
                values[member.key] = value
            }
            return .object(values)
        }
    }

    var keysAreBMP: Bool {
        switch self {
        case .null, .bool, .integer, .string: true
        case .array(let elements): elements.allSatisfy(\.keysAreBMP)
        case .object(let members):
            members.allSatisfy { $0.key.unicodeScalars.allSatisfy { $0.value <= 0xFFFF } && $0.value.keysAreBMP }
        }
    }
}

/// Where the characters of a string or key come from.
enum Repertoire: CaseIterable {
    case ascii, control, special, latin, combining, cjk, hangul, highBMP, astral

    /// A few ranges each; `highBMP` is U+E000–U+FFFF, which sorts after every astral character in
    /// UTF-16 (their lead surrogates are D800–DBFF) but before them by code point.
    var ranges: [ClosedRange<UInt32>] {
        switch self {
        case .ascii: [0x20...0x7E]
        case .control: [0x00...0x1F]
        case .special: [0x22...0x22, 0x5C...0x5C, 0x2F...0x2F, 0x7F...0x9F, 0x2028...0x2029, 0xFEFF...0xFEFF, 0x200B...0x200D]
        case .latin: [0xC0...0x24F, 0x1E00...0x1EFF, 0x212B...0x212B]
        case .combining: [0x300...0x36F, 0x20D0...0x20F0]
        case .cjk: [0x4E00...0x9FFF, 0x3000...0x303F]
        case .hangul: [0xAC00...0xD7A3, 0x1100...0x1112, 0x1161...0x1175]
        case .highBMP: [0xE000...0xF8FF, 0xFB00...0xFB4F, 0xFF00...0xFFEF, 0xFFFD...0xFFFF]
        case .astral: [0x1F300...0x1FAFF, 0x20000...0x2A6DF, 0x10000...0x10000, 0x1D11E...0x1D11E, 0x10FFFF...0x10FFFF]
        }
    }
}

/// Documents up to `depthMax` deep with every kind of value, keys from every repertoire, objects
/// whose key order differs between UTF-16 and code points, and each spelled non-canonically.
struct DocumentGenerator {
    static let depthMax = 10
    /// Keys that are the same text in different Unicode spellings (precomposed, decomposed, marks
    /// in another order): Swift's String calls each group's members equal.
    static let equivalentKeys: [[String]] = [
        ["\u{E9}", "e\u{301}"],
        ["\u{C5}", "A\u{30A}", "\u{212B}"],
        ["\u{1EC7}", "e\u{323}\u{302}", "e\u{302}\u{323}", "\u{EA}\u{323}", "\u{1EB9}\u{302}"],
        ["\u{AC00}", "\u{1100}\u{1161}"],
        ["q\u{307}\u{323}", "q\u{323}\u{307}"],
    ]
    static let plainKeys = ["version", "type", "tenant", "at", "body", "amountFen", "a", "b", "A", "_", "", "1", "10", "2"]
    static let edgeIntegers: [Int64] = [
        0, 1, -1, JSONValue.integerMagnitudeMax, -JSONValue.integerMagnitudeMax, JSONValue.integerMagnitudeMax - 1,
        -JSONValue.integerMagnitudeMax + 1, 10, -10, 1 << 31, -(1 << 31) - 1, 1 << 32, 1_000_000_000_000_000,
    ]

    private var random: SplitMix64
    /// Per document: whether keys may hold astral characters (else canonicaljson can judge it).
    private var astralKeys = false
    private var equivalentKeysWanted = false

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    mutating func testCase() -> (document: Generated, text: [UInt8]) {
        astralKeys = random.chance(percent: 50)
        equivalentKeysWanted = random.chance(percent: 3)
        let document = value(depth: random.below(Self.depthMax + 1))
        var spelling = Spelling(random: SplitMix64(seed: random.next()), tidy: random.chance(percent: 8))
        var text: [UInt8] = []
        spelling.write(document, to: &text)
        return (document, text)
    }

    /// A value nested exactly `depth` deep: a container has one child `depth - 1` deep and its
    /// other children shallower, so documents stay small however deep they go.
    private mutating func value(depth: Int) -> Generated {
        guard depth > 0 else { return scalarOrEmpty() }
        let width = 1 + random.below(5)
        let spine = random.below(width)
        let children = (0..<width).map { $0 == spine ? value(depth: depth - 1) : value(depth: random.below(min(depth, 2))) }
        return random.chance(percent: 50) ? .array(children) : .object(members(children))
    }

    private mutating func scalarOrEmpty() -> Generated {
        switch random.below(12) {
        case 0: return .null
        case 1: return .bool(random.chance(percent: 50))
        case 2, 3: return .integer(integer())
        case 4: return .array([])
        case 5: return .object([])
        default: return .string(text(maxLength: 8, astral: true))
        }
    }

    private mutating func integer() -> Int64 {
        switch random.below(3) {
        case 0: return random.pick(Self.edgeIntegers) * (random.chance(percent: 50) ? 1 : -1)
        case 1: return Int64(random.below(2001)) - 1000
        default:
            let span = UInt64(2 * JSONValue.integerMagnitudeMax + 1)
            return Int64(random.next() % span) - JSONValue.integerMagnitudeMax
        }
    }

    private mutating func text(maxLength: Int, astral: Bool) -> String {
        var scalars = String.UnicodeScalarView()
        let repertoires = astral ? Repertoire.allCases : Repertoire.allCases.filter { $0 != .astral }
        for _ in 0..<random.below(maxLength + 1) {
            let range = random.pick(random.pick(repertoires).ranges)
            scalars.append(Unicode.Scalar(range.lowerBound + UInt32(random.below(Int(range.upperBound - range.lowerBound) + 1)))!)
        }
        return String(scalars)
    }

    /// Keys for `children`, distinct as scalars; now and then a pair that sorts one way by UTF-16
    /// and the other by code point, or (when wanted) two spellings of one text.
    private mutating func members(_ children: [Generated]) -> [(key: String, value: Generated)] {
        var keys: [String] = []
        func add(_ key: String) {
            if !keys.contains(where: { $0.unicodeScalars.elementsEqual(key.unicodeScalars) }) { keys.append(key) }
        }
        if astralKeys, random.chance(percent: 40) {
            let prefix = random.chance(percent: 50) ? "" : text(maxLength: 2, astral: false)
            add(prefix + randomScalar(.astral))
            add(prefix + randomScalar(.highBMP))
        }
        if equivalentKeysWanted, random.chance(percent: 30) {
            let group = random.pick(Self.equivalentKeys)
            let first = random.below(group.count)
            add(group[first])
            add(group[(first + 1 + random.below(group.count - 1)) % group.count])
        }
        while keys.count < children.count {
            switch random.below(3) {
            case 0: add(random.pick(Self.plainKeys))
            case 1: add(random.pick(Self.plainKeys) + text(maxLength: 2, astral: astralKeys))
            default: add(text(maxLength: 4, astral: astralKeys))
            }
        }
        let values = children + (children.count..<keys.count).map { _ in scalarOrEmpty() }
        return zip(keys, values).map { (key: $0, value: $1) }
    }

    private mutating func randomScalar(_ repertoire: Repertoire) -> String {
        let range = random.pick(repertoire.ranges)
        return String(Unicode.Scalar(range.lowerBound + UInt32(random.below(Int(range.upperBound - range.lowerBound) + 1)))!)
    }
}

/// Writes a generated document the way another program might: members in any order, whitespace
/// between tokens, `\u` escapes (either case) for characters that need none, `\/`, `-0`. A tidy
/// spelling writes exactly the canonical form instead, so `isCanonical` meets both.
struct Spelling {
    var random: SplitMix64
    let tidy: Bool

    mutating func write(_ value: Generated, to out: inout [UInt8]) {
        space(&out)
        switch value {
        case .null: out += Array("null".utf8)
        case .bool(let flag): out += Array((flag ? "true" : "false").utf8)
        case .integer(let number): out += Array((number == 0 && !tidy && random.chance(percent: 30) ? "-0" : String(number)).utf8)
        case .string(let text): string(text, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                write(element, to: &out)
            }
            space(&out)
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, member) in order(members).enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                space(&out)
                string(member.key, to: &out)
                space(&out)
                out.append(UInt8(ascii: ":"))
                write(member.value, to: &out)
            }
            space(&out)
            out.append(UInt8(ascii: "}"))
        }
        space(&out)
    }

    private mutating func order(_ members: [(key: String, value: Generated)]) -> [(key: String, value: Generated)] {
        if tidy { return members.sorted { $0.key.utf16.lexicographicallyPrecedes($1.key.utf16) } }
        var shuffled = members
        for index in shuffled.indices.dropLast() { shuffled.swapAt(index, index + random.below(shuffled.count - index)) }
        return shuffled
    }

    private mutating func space(_ out: inout [UInt8]) {
        guard !tidy, random.chance(percent: 30) else { return }
        for _ in 0...random.below(3) { out.append(random.pick([0x20, 0x09, 0x0A, 0x0D])) }
    }

    private static let shortEscapes: [UInt32: UInt8] = [
        0x22: 0x22, 0x5C: 0x5C, 0x08: 0x62, 0x09: 0x74, 0x0A: 0x6E, 0x0C: 0x66, 0x0D: 0x72,
    ]

    private mutating func string(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for scalar in text.unicodeScalars {
            let mustEscape = scalar.value < 0x20 || scalar.value == 0x22 || scalar.value == 0x5C
            if let short = Self.shortEscapes[scalar.value], tidy || random.chance(percent: 60) {
                out += [0x5C, short]
            } else if mustEscape || (!tidy && random.chance(percent: 25)) {
                if scalar.value == 0x2F && random.chance(percent: 50) {
                    out += [0x5C, 0x2F]
                } else {
                    for unit in String(scalar).utf16 { unicodeEscape(unit, to: &out) }
                }
            } else {
                out += Array(String(scalar).utf8)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// `\u` and four hex digits, each in upper or lower case at random (the tidy spelling: lower).
    private mutating func unicodeEscape(_ unit: UInt16, to out: inout [UInt8]) {
        out += [0x5C, UInt8(ascii: "u")]
        for shift in stride(from: 12, through: 0, by: -4) {
            let digit = Self.hexDigits[Int(unit >> UInt16(shift)) & 0xF]
            out.append(digit >= UInt8(ascii: "a") && !tidy && random.chance(percent: 50) ? digit - 0x20 : digit)
        }
    }
}

/// What the generated documents held, so the test fails if the generator stops producing a case.
struct Coverage {
    var controlsSeen: Set<UInt32> = []
    var specialsSeen: Set<UInt32> = []
    var depthMax = 0
    var integersSeen: Set<Int64> = []
    var negativeIntegers = 0
    var emptyObjects = 0
    var emptyArrays = 0
    var literalsSeen: Set<String> = []
    var keyRepertoires: Set<Repertoire> = []
    var objectsOrderedDifferentlyByCodePoint = 0

    mutating func visit(_ value: Generated, depth: Int) {
        depthMax = max(depthMax, depth)
        switch value {
        case .null: literalsSeen.insert("null")
        case .bool(let flag): literalsSeen.insert(flag ? "true" : "false")
        case .integer(let number):
            integersSeen.insert(number)
            if number < 0 { negativeIntegers += 1 }
        case .string(let text): characters(text)
        case .array(let elements):
            if elements.isEmpty { emptyArrays += 1 }
            for element in elements { visit(element, depth: depth + 1) }
        case .object(let members):
            if members.isEmpty { emptyObjects += 1 }
            let keys = members.map(\.key)
            let byUTF16 = keys.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }
            let byCodePoint = keys.sorted {
                $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) { $0.value < $1.value }
            }
            if !byUTF16.elementsEqual(byCodePoint, by: { $0.unicodeScalars.elementsEqual($1.unicodeScalars) }) {
                objectsOrderedDifferentlyByCodePoint += 1
            }
            for member in members {
                characters(member.key)
                for scalar in member.key.unicodeScalars {
                    for repertoire in Repertoire.allCases where repertoire.ranges.contains(where: { $0.contains(scalar.value) }) {
                        keyRepertoires.insert(repertoire)
                    }
                }
                visit(member.value, depth: depth + 1)
            }
        }
    }

    private mutating func characters(_ text: String) {
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 { controlsSeen.insert(scalar.value) }
            if [0x22, 0x5C, 0x2F, 0x7F, 0x2028, 0x2029].contains(scalar.value) { specialsSeen.insert(scalar.value) }
        }
    }
}

/// SplitMix64: small, fast, and the same sequence for the same seed everywhere.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func chance(percent: Int) -> Bool { below(100) < percent }
    mutating func pick<T>(_ choices: [T]) -> T { choices[below(choices.count)] }
}
