/// The documented plausibility bounds of every amount, quantity, weight and rate that comes from
/// outside. They are checked at the edge, before any arithmetic, and chosen so that no product
/// or sum of bounded inputs that the engine forms can leave `Int128` on the way or `Int64` at
/// the end without being reported (the README's limits table lists them).
public enum Bounds {
    /// A unit cost or unit price: 0 … 10^10 fen (¥100,000,000) per base unit.
    public static let unitFenMax: Int64 = 10_000_000_000
    /// One line's quantity: at most 10^9 base units (a billion kg or litres), whatever the scale.
    public static let quantityUnitsMax: Int64 = 1_000_000_000
    /// Any one amount a document carries or derives (a line's value, freight, insurance, a
    /// component, a total): |amount| ≤ 10^15 fen (¥10 trillion).
    public static let amountFenMax: Int64 = 1_000_000_000_000_000
    /// An item's weight per base unit: 0 … 10^8 g (100 t), as the database checks it.
    public static let weightGramsPerUnitMax: Int64 = 100_000_000
    /// A freight rate: 0 … 10^8 fen (¥1,000,000) per tonne-kilometre.
    public static let fenPerTonneKmMax: Int64 = 100_000_000
    /// A markup of a lane: 0 … 10,000 bp (100 %).
    public static let markupBasisPointsMax: Int64 = 10_000
    /// A timeliness premium: 0 … 100,000 bp (10 × the freight).
    public static let premiumBasisPointsMax: Int64 = 100_000

    /// `fen` as a bounded amount, or the typed error naming `what`.
    public static func amount(_ fen: Int64, _ what: String) throws(OutOfRange) -> Money {
        guard fen.magnitude <= amountFenMax.magnitude else { throw OutOfRange(what, limit: "±\(amountFenMax) fen") }
        return Money(fen: fen)
    }
}

/// An amount or quantity derived from input that does not fit its type or its documented bound:
/// an operating error (the request is refused with 422), never a trap.
public struct OutOfRange: Error, Sendable, Hashable, CustomStringConvertible {
    /// What overflowed, in words finance reads ("freight", "the line's value").
    public let what: String
    /// The bound it passed, in words.
    public let limit: String

    public init(_ what: String, limit: String = "the range of a 64-bit integer") {
        self.what = what
        self.limit = limit
    }

    public var description: String { "\(what) exceeds \(limit)" }
}

/// Products and sums of `Int128` intermediates that report overflow instead of trapping.
public enum Checked {
    public static func product(_ factors: Int128..., what: String) throws(OutOfRange) -> Int128 {
        var result: Int128 = 1
        for factor in factors {
            let (next, overflow) = result.multipliedReportingOverflow(by: factor)
            guard !overflow else { throw OutOfRange(what) }
            result = next
        }
        return result
    }

    public static func sum(_ terms: [Int64], what: String) throws(OutOfRange) -> Int64 {
        var total: Int64 = 0
        for term in terms {
            let (next, overflow) = total.addingReportingOverflow(term)
            guard !overflow else { throw OutOfRange(what) }
            total = next
        }
        return total
    }
}
