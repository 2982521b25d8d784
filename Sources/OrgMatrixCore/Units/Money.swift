/// An amount of money in 分 (fen, 0.01 CNY). Integers only: floating point never touches money.
/// Adding and subtracting report overflow as `OutOfRange` instead of trapping, because amounts
/// come from requests.
public struct Money: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let fen: Int64

    public init(fen: Int64) { self.fen = fen }

    public static let zero = Money(fen: 0)

    public static func + (lhs: Money, rhs: Money) throws(OutOfRange) -> Money {
        let (sum, overflow) = lhs.fen.addingReportingOverflow(rhs.fen)
        guard !overflow else { throw OutOfRange("a sum of amounts") }
        return Money(fen: sum)
    }

    public static func - (lhs: Money, rhs: Money) throws(OutOfRange) -> Money {
        let (difference, overflow) = lhs.fen.subtractingReportingOverflow(rhs.fen)
        guard !overflow else { throw OutOfRange("a difference of amounts") }
        return Money(fen: difference)
    }

    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.fen < rhs.fen }

    /// The sum of `amounts`, or `OutOfRange` naming `what`.
    public static func sum(_ amounts: [Money], what: String) throws(OutOfRange) -> Money {
        Money(fen: try Checked.sum(amounts.map(\.fen), what: what))
    }

    /// `¥1,234.56`-style text for people; JSON carries `fen` integers.
    public var description: String {
        let sign = fen < 0 ? "-" : ""
        let magnitude = fen.magnitude
        let yuan = String(magnitude / 100)
        var grouped = ""
        for (offset, digit) in yuan.reversed().enumerated() {
            if offset > 0 && offset % 3 == 0 { grouped.append(",") }
            grouped.append(digit)
        }
        let cents = magnitude % 100
        return "\(sign)¥\(String(grouped.reversed())).\(cents < 10 ? "0" : "")\(cents)"
    }
}

/// The named rounding the engine uses at its documented points: half to even (banker's
/// rounding), so that rounding many lines does not drift in one direction.
public enum Rounding {
    /// `numerator / denominator` rounded half to even. A quotient that does not fit `Int64` is
    /// `OutOfRange` (inputs come from requests; only the denominator is the program's).
    public static func halfEven(_ numerator: Int128, dividedBy denominator: Int128, what: String = "an amount") throws(OutOfRange) -> Int64 {
        precondition(denominator > 0, "rounding divides by a positive denominator")
        var quotient = numerator / denominator
        let remainder = numerator % denominator
        let twice = remainder.magnitude * 2
        let divisor = denominator.magnitude
        if twice > divisor || (twice == divisor && quotient % 2 != 0) {
            quotient += numerator < 0 ? -1 : 1
        }
        guard let result = Int64(exactly: quotient) else { throw OutOfRange(what) }
        return result
    }
}
