import Foundation

/// Moments as requests carry them: RFC 3339 in UTC without fractions, `2026-06-30T00:00:00Z`,
/// in the years 1970–9999. Parsed field by field with integer arithmetic, so an impossible date
/// (`2026-02-31`, hour 24, a leap second) is refused instead of rolled over into the next day
/// the way Foundation's lenient ISO 8601 parser does, and what the OpenAPI document's pattern
/// and `format: date-time` allow is exactly what is accepted.
public enum UTCTime {
    public static let yearMin = 1970
    public static let yearMax = 9999

    /// The moment `text` names, or nil when it is not such a time.
    public static func parse(_ text: String) -> Date? {
        seconds(text).map { Date(timeIntervalSince1970: TimeInterval($0)) }
    }

    /// The whole seconds since 1970 that `text` (the form `parse` reads) names, in integers.
    public static func seconds(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 20, bytes[19] == UInt8(ascii: "Z") else { return nil }
        return seconds(dateTime: bytes[..<19])
    }

    /// `YYYY-MM-DDTHH:MM:SS`, the part of both forms before the `Z` or the fraction.
    private static let dateTimeLayout = Array("9999-99-99T99:99:99".utf8)

    /// The whole seconds `bytes` (`dateTimeLayout`) name, or nil.
    static func seconds(dateTime bytes: ArraySlice<UInt8>) -> Int64? {
        guard ASCIIShape.hasLayout(bytes, dateTimeLayout) else { return nil }
        let field = { (offset: Int, count: Int) in ASCIIShape.value(bytes.dropFirst(offset).prefix(count)) }
        let (year, month, day) = (field(0, 4), field(5, 2), field(8, 2))
        let (hour, minute, second) = (field(11, 2), field(14, 2), field(17, 2))
        guard (yearMin...yearMax).contains(year), (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
            hour < 24, minute < 60, second < 60
        else { return nil }
        return Int64(((daysFromEpoch(year: year, month: month, day: day) * 24 + hour) * 60 + minute) * 60 + second)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
    /// `days_from_civil`).
    static func daysFromEpoch(year: Int, month: Int, day: Int) -> Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = shiftedYear / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

/// A moment to the microsecond, as PostgreSQL keeps `timestamptz` and the ledger writes it:
/// `2026-12-02T03:19:37.123456Z`, always six fraction digits, so a moment has one text and a
/// document that names it hashes the same wherever it is written.
public struct UTCMicros: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let microsecondsSinceEpoch: Int64

    public init(microsecondsSinceEpoch: Int64) { self.microsecondsSinceEpoch = microsecondsSinceEpoch }

    /// The moment `text` names in exactly the ledger's form, or nil.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 27, bytes[19] == UInt8(ascii: "."), bytes[26] == UInt8(ascii: "Z"),
            bytes[20..<26].allSatisfy(ASCIIShape.isDigit), let whole = UTCTime.seconds(dateTime: bytes[..<19])
        else { return nil }
        microsecondsSinceEpoch = whole * 1_000_000 + Int64(ASCIIShape.value(bytes[20..<26]))
    }

    /// A Foundation Date (seconds as a binary fraction) to the nearest microsecond: the one place
    /// a moment leaves floating point. Exact for what PostgreSQL's timestamptz decodes to.
    public init(_ date: Date) {
        microsecondsSinceEpoch = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    /// The moment a tenant file's whole-second UTC time names (`2026-01-01T00:00:00Z`), or nil.
    public init?(wholeSeconds text: String) {
        guard let seconds = UTCTime.seconds(text) else { return nil }
        microsecondsSinceEpoch = seconds * 1_000_000
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.microsecondsSinceEpoch < rhs.microsecondsSinceEpoch }

    public var description: String {
        let (seconds, micros) = microsecondsSinceEpoch.quotientAndRemainder(dividingBy: 1_000_000)
        let (wholeSeconds, fraction) = micros < 0 ? (seconds - 1, micros + 1_000_000) : (seconds, micros)
        let (days, secondOfDay) = wholeSeconds.quotientAndRemainder(dividingBy: 86_400)
        let (day, second) = secondOfDay < 0 ? (days - 1, secondOfDay + 86_400) : (days, secondOfDay)
        let (year, month, dayOfMonth) = UTCTime.civil(daysFromEpoch: Int(day))
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let fractionText = String(fraction)
        return "\(year)-\(two(Int64(month)))-\(two(Int64(dayOfMonth)))T\(two(second / 3600)):\(two(second / 60 % 60)):\(two(second % 60))."
            + String(repeating: "0", count: 6 - fractionText.count) + fractionText + "Z"
    }
}

extension UTCTime {
    /// The proleptic Gregorian date `daysFromEpoch` days after 1970-01-01 (Howard Hinnant's
    /// `civil_from_days`), the inverse of `daysFromEpoch`.
    static func civil(daysFromEpoch days: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthShifted = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthShifted + 2) / 5 + 1
        let month = monthShifted < 10 ? monthShifted + 3 : monthShifted - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
