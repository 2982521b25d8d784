import Foundation
import OrgMatrixCore
import Testing

/// The codes, names, file names and moments once read by regex literals, now byte by byte
/// (`ASCIIShape`): each reader accepts exactly the strings its pattern accepted, and reads the
/// same value. The patterns stay here, as the oracle, on strings made to sit near their edges:
/// every one-character change (substitution, insertion, deletion) of valid examples, from an
/// alphabet with the characters the shapes use, their neighbours, and characters outside ASCII
/// (a combining mark, which a Regex reads as part of the letter before it).
@Suite struct ASCIIShapeTests {
    static let alphabet: [String] = [
        "a", "z", "A", "Z", "Q", "T", "v", "0", "1", "4", "5", "9", "-", ".", "_", ":", "/", " ", "`", "{", "@", "[", "é", "\u{301}", "日",
    ]

    /// `examples`, and every string one change away from one of them.
    static func neighbours(of examples: [String]) -> [String] {
        var out = Set(examples)
        for example in examples {
            let characters = Array(example.unicodeScalars)
            for index in 0...characters.count {
                if index < characters.count {
                    var removed = characters
                    removed.remove(at: index)
                    out.insert(String(String.UnicodeScalarView(removed)))
                }
                for letter in alphabet {
                    let scalars = Array(letter.unicodeScalars)
                    var inserted = characters
                    inserted.insert(contentsOf: scalars, at: index)
                    out.insert(String(String.UnicodeScalarView(inserted)))
                    if index < characters.count {
                        var replaced = characters
                        replaced.replaceSubrange(index...index, with: scalars)
                        out.insert(String(String.UnicodeScalarView(replaced)))
                    }
                }
            }
        }
        return out.sorted()
    }

    @Test func codesAndNamesAcceptWhatTheirPatternsAccepted() {
        let lower = Self.neighbours(of: ["ab", "dairy", "sjz-operator", "a" + String(repeating: "b", count: 62), "a1-", "x9"])
        for text in lower {
            let pattern = text.wholeMatch(of: /[a-z][a-z0-9-]{1,62}/) != nil
            #expect(((try? TenantCode(text)) != nil) == pattern, "\(text.debugDescription)")
            #expect(((try? PrincipalName(text)) != nil) == pattern, "\(text.debugDescription)")
        }
        let upper = Self.neighbours(of: ["AB", "SJZ-FW", "A" + String(repeating: "B", count: 39), "Q1-", "Z9"])
        for text in upper {
            #expect(((try? OrgCode(text)) != nil) == (text.wholeMatch(of: /[A-Z][A-Z0-9-]{1,39}/) != nil), "\(text.debugDescription)")
        }
        #expect(lower.count > 2000 && upper.count > 1500)
    }

    @Test func momentsAcceptWhatTheirPatternsAcceptedAndReadTheSameValue() {
        for text in Self.neighbours(of: ["2026-12-02T03:19:37.123456Z", "1970-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z"]) {
            let expected: Int64? = text.wholeMatch(of: /([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})\.([0-9]{6})Z/).flatMap {
                match in UTCTime.seconds("\(match.1)Z").map { $0 * 1_000_000 + Int64(match.2)! }
            }
            #expect(UTCMicros(text)?.microsecondsSinceEpoch == expected, "\(text.debugDescription)")
        }
        for text in Self.neighbours(of: ["2026-06-30T00:00:00Z", "2028-02-29T12:34:56Z"]) {
            let expected: Int64? = text.wholeMatch(of: /([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z/).flatMap {
                match in
                let parts = [match.1, match.2, match.3, match.4, match.5, match.6].map { Int($0)! }
                var calendar = Calendar(identifier: .gregorian)
                calendar.timeZone = TimeZone(identifier: "UTC")!
                let components = DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: parts[3], minute: parts[4], second: parts[5])
                guard components.isValidDate(in: calendar), parts[0] >= 1970, let date = calendar.date(from: components) else { return nil }
                return Int64(date.timeIntervalSince1970)
            }
            #expect(UTCTime.seconds(text) == expected, "\(text.debugDescription)")
        }
    }

    @Test func bundleFileNamesAcceptWhatTheirPatternsAcceptedAndReadTheSameParts() {
        for text in Self.neighbours(of: ["SJZ-FW.v1.sig.der", "orderer.v12.sig.der", "AB.v123456789.sig.der"]) {
            let match = text.wholeMatch(of: /([A-Za-z][A-Za-z0-9-]{1,39})\.v([1-9][0-9]{0,8})\.sig\.der/)
            let expected = match.flatMap { match in (try? KeyOwner(name: String(match.1))).map { ($0, Int64(match.2)!) } }
            let found = LedgerBundle.signatureName(text)
            #expect(found?.owner == expected?.0 && found?.keyVersion == expected?.1, "\(text.debugDescription)")
        }
        for text in Self.neighbours(of: ["BJ-CW.v2.pem", "orderer.v1.json", "RANCH-ZLQ.v10.json"]) {
            let match = text.wholeMatch(of: /([A-Za-z][A-Za-z0-9-]{1,39})\.v([1-9][0-9]{0,8})\.(pem|json)/)
            let expected = match.flatMap { match in (try? KeyOwner(name: String(match.1))).map { ($0, Int64(match.2)!, match.3 == "pem") } }
            let found = LedgerBundle.keyName(text)
            #expect(
                found?.owner == expected?.0 && found?.version == expected?.1 && found?.isPEM == expected?.2, "\(text.debugDescription)")
        }
        for text in Self.neighbours(of: ["0000000000", "0000002000", "9999999999"]) {
            #expect(LedgerBundle.number(text) == (text.wholeMatch(of: /[0-9]{10}/) != nil ? Int64(text) : nil), "\(text.debugDescription)")
        }
    }

    @Test func hashesAcceptLowerCaseHexOnly() {
        let sample = LedgerHash.of(Array("abc".utf8)).hex
        for text in Self.neighbours(of: [sample, String(repeating: "0", count: 64), String(repeating: "f", count: 64)]) {
            let accepted = text.utf8.count == 64 && text.allSatisfy { $0.isHexDigit && !$0.isUppercase && $0.isASCII }
            #expect(((try? LedgerHash(hex: text))?.hex == text) == accepted, "\(text.debugDescription)")
            #expect(((try? LedgerHash(hex: text)) != nil) == accepted, "\(text.debugDescription)")
        }
    }

    @Test func periodsAndRuleVersionsAcceptWhatTheirPatternsAccepted() {
        for text in Self.neighbours(of: ["2026-Q4", "1999-Q1", "on-demand"]) {
            let match = text.wholeMatch(of: /([0-9]{4})-Q([1-4])/)
            let expected: LedgerCheckpoint.Period? =
                text == "on-demand" ? .onDemand : match.map { .quarter(year: Int($0.1)!, quarter: Int($0.2)!) }
            #expect(LedgerCheckpoint.Period(text) == expected, "\(text.debugDescription)")
        }
        guard case .object(let published) = (try? PricingRulesPublished(rules: TransferStateMachineTests.rules))?.ledgerBody else {
            Issue.record("the machine's rules give no body")
            return
        }
        for text in Self.neighbours(of: ["2026-01", "v1.2_3", "A" + String(repeating: "b", count: 39)]) {
            let pattern = text.wholeMatch(of: /[A-Za-z0-9][A-Za-z0-9._-]{0,39}/) != nil
            var body = published
            body["version"] = .string(text)
            #expect(((try? PricingRulesPublished(ledgerBody: .object(body))) != nil) == pattern, "\(text.debugDescription)")
        }
    }
}
