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
        guard let match = text.wholeMatch(of: /([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z/) else { return nil }
        let (year, month, day) = (Int(match.1)!, Int(match.2)!, Int(match.3)!)
        let (hour, minute, second) = (Int(match.4)!, Int(match.5)!, Int(match.6)!)
        guard (yearMin...yearMax).contains(year), (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
            hour < 24, minute < 60, second < 60
        else { return nil }
        let seconds = ((daysFromEpoch(year: year, month: month, day: day) * 24 + hour) * 60 + minute) * 60 + second
        return Date(timeIntervalSince1970: TimeInterval(seconds))
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
