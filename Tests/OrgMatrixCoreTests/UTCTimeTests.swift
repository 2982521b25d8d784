import Foundation
import OrgMatrixCore
import Testing

@Suite struct UTCTimeTests {
    /// Every day of the years around the epoch and around 2000, 2100 and 2400 (leap years,
    /// century years that are not, and those that are) at two times of day is the moment
    /// Foundation's Gregorian calendar gives for it.
    @Test(arguments: [1970, 1996, 2096, 2396])
    func everyDayIsTheMomentTheGregorianCalendarGives(firstYear: Int) throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var date = try #require(calendar.date(from: DateComponents(year: firstYear, month: 1, day: 1)))
        let end = try #require(calendar.date(from: DateComponents(year: firstYear + 9, month: 1, day: 1)))
        var days = 0
        while date < end {
            let parts = calendar.dateComponents([.year, .month, .day], from: date)
            let day = String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
            #expect(UTCTime.parse("\(day)T00:00:00Z") == date, "\(day)")
            #expect(UTCTime.parse("\(day)T23:59:59Z") == date.addingTimeInterval(86_399), "\(day)")
            date = calendar.date(byAdding: .day, value: 1, to: date)!
            days += 1
        }
        #expect((3285...3288).contains(days))
    }

    @Test func theLastMomentIsTheEndOf9999() {
        #expect(UTCTime.parse("9999-12-31T23:59:59Z") == Date(timeIntervalSince1970: 253_402_300_799))
        #expect(UTCTime.parse("1970-01-01T00:00:00Z") == Date(timeIntervalSince1970: 0))
    }

    /// Foundation's ISO 8601 parser rolls 2026-02-31 over into March; these are refused instead,
    /// as the document's `format: date-time` and pattern refuse them.
    @Test(arguments: [
        "2026-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2026-02-31T00:00:00Z", "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z", "2026-12-31T23:59:60Z",
        "1969-12-31T23:59:59Z", "2026-01-01T00:00:00+08:00", "2026-01-01T00:00:00z", "2026-01-01t00:00:00Z", "2026-01-01T00:00:00.5Z",
        "2026-01-01 00:00:00Z", "2026-1-01T00:00:00Z", "yesterday", "",
    ])
    func impossibleOrOtherwiseSpeltTimesAreRefused(text: String) {
        #expect(UTCTime.parse(text) == nil)
    }

    @Test func leapDaysOfLeapYearsAreTimes() {
        #expect(UTCTime.parse("2028-02-29T12:00:00Z") == Date(timeIntervalSince1970: 1_835_438_400))
        #expect(UTCTime.parse("2000-02-29T00:00:00Z") == Date(timeIntervalSince1970: 951_782_400))
    }
}
