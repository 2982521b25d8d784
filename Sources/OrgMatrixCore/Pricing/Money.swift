/// An amount of money in 分 (fen, 0.01 CNY). Integers only: floating point never touches money.
public struct Money: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let fen: Int64

    public init(fen: Int64) { self.fen = fen }

    public static let zero = Money(fen: 0)

    public static func + (lhs: Money, rhs: Money) -> Money { Money(fen: lhs.fen + rhs.fen) }
    public static func - (lhs: Money, rhs: Money) -> Money { Money(fen: lhs.fen - rhs.fen) }
    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.fen < rhs.fen }

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

/// The named rounding the pricing engine uses at its documented points: half to even (banker's
/// rounding), so that rounding many lines does not drift in one direction.
public enum Rounding {
    /// `numerator / denominator` rounded half to even. Intermediate products are `Int128`, so
    /// nothing overflows before the division; the result must fit `Int64` (a programming error
    /// otherwise: no ERP amount comes near 9.2 × 10^16 fen).
    public static func halfEven(_ numerator: Int128, dividedBy denominator: Int128) -> Int64 {
        precondition(denominator > 0, "rounding divides by a positive denominator")
        var quotient = numerator / denominator
        let remainder = numerator % denominator
        let twice = remainder.magnitude * 2
        let divisor = denominator.magnitude
        if twice > divisor || (twice == divisor && quotient % 2 != 0) {
            quotient += numerator < 0 ? -1 : 1
        }
        guard let result = Int64(exactly: quotient) else { preconditionFailure("amount out of range: \(quotient)") }
        return result
    }
}
