/// The short ASCII shapes of codes, names, file names and moments, matched byte by byte.
///
/// They were Swift regex literals, which are parsed and compiled again each time one is
/// evaluated: `verify-bundle` spent a fifth of its time compiling `UTCMicros`'s and the codes'
/// patterns (perf, 20,000 transactions). A shape here accepts exactly what its pattern did: ASCII
/// only, so a string with any other character (a combining mark after a letter among them) is
/// refused as the pattern refused it. `ASCIIShapeTests` holds each to its regex.
enum ASCIIShape {
    static func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }
    static func isUpper(_ byte: UInt8) -> Bool { (0x41...0x5A).contains(byte) }
    static func isLower(_ byte: UInt8) -> Bool { (0x61...0x7A).contains(byte) }
    static func isLetter(_ byte: UInt8) -> Bool { isUpper(byte) || isLower(byte) }
    static func isLetterOrDigit(_ byte: UInt8) -> Bool { isLetter(byte) || isDigit(byte) }
    static func isLowerHexDigit(_ byte: UInt8) -> Bool { isDigit(byte) || (0x61...0x66).contains(byte) }

    /// `text` is one byte `first` takes, then `count` bytes `rest` takes.
    static func matches<Text: StringProtocol>(
        _ text: Text, first: (UInt8) -> Bool, rest: (UInt8) -> Bool, count: ClosedRange<Int>
    ) -> Bool {
        let utf8 = text.utf8
        guard let head = utf8.first, first(head), count.contains(utf8.count - 1) else { return false }
        return utf8.dropFirst().allSatisfy(rest)
    }

    /// `[a-z][a-z0-9-]{1,62}`: a tenant's code, a principal's name.
    static func isLowerCode(_ text: String) -> Bool {
        matches(text, first: isLower, rest: { isLower($0) || isDigit($0) || $0 == UInt8(ascii: "-") }, count: 1...62)
    }

    /// `[A-Z][A-Z0-9-]{1,39}`: an org's code.
    static func isUpperCode(_ text: String) -> Bool {
        matches(text, first: isUpper, rest: { isUpper($0) || isDigit($0) || $0 == UInt8(ascii: "-") }, count: 1...39)
    }

    /// `[A-Za-z0-9][A-Za-z0-9._-]{0,39}`: a pricing rule version's name.
    static func isVersionName(_ text: String) -> Bool {
        matches(
            text, first: isLetterOrDigit,
            rest: { isLetterOrDigit($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") },
            count: 0...39)
    }

    /// Whether `bytes` has `layout`'s shape: a digit where the layout has `9`, every other byte
    /// as the layout has it.
    static func hasLayout<Bytes: Collection<UInt8>>(_ bytes: Bytes, _ layout: [UInt8]) -> Bool {
        bytes.count == layout.count
            && zip(bytes, layout).allSatisfy { byte, shape in shape == UInt8(ascii: "9") ? isDigit(byte) : byte == shape }
    }

    /// The number the decimal digits of `digits` state (callers have checked they are digits,
    /// at most 18 of them).
    static func value<Digits: Collection<UInt8>>(_ digits: Digits) -> Int {
        digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }

    /// `(<owner>)\.v([1-9][0-9]{0,8})<suffix>` with the owner `[A-Za-z][A-Za-z0-9-]{1,39}`: a
    /// bundle's signature and key file names. The owner's text, the version and the suffix that
    /// matched, or nil.
    static func versionedName(_ name: String, suffixes: [String]) -> (owner: Substring, version: Int64, suffix: String)? {
        guard let suffix = suffixes.first(where: { name.hasSuffix($0) }) else { return nil }
        let stem = name.dropLast(suffix.count)
        guard let marker = stem.utf8.firstIndex(of: UInt8(ascii: ".")) else { return nil }
        let owner = stem[..<marker]
        let versionPart = stem.utf8[stem.utf8.index(after: marker)...]
        guard
            matches(owner, first: isLetter, rest: { isLetterOrDigit($0) || $0 == UInt8(ascii: "-") }, count: 1...39),
            versionPart.first == UInt8(ascii: "v")
        else { return nil }
        let digits = versionPart.dropFirst()
        guard (1...9).contains(digits.count), digits.first != UInt8(ascii: "0"), digits.allSatisfy(isDigit) else { return nil }
        return (owner, Int64(value(digits)), suffix)
    }
}
