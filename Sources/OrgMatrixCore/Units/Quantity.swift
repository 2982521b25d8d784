/// Quantities travel as decimal strings (`"2400.500"`) and are stored as integers in the item's
/// base unit × its scale, so no quantity ever passes through floating point.
public enum ScaledQuantity {
    public enum Problem: Error, Sendable, Hashable {
        case notADecimal
        case tooManyDecimals(allowed: Int)
        case notPositive
        case tooLarge
    }

    /// The number of decimals a scale allows (1000 → 3).
    public static func decimals(ofScale scale: Int64) -> Int {
        var decimals = 0
        var remaining = scale
        while remaining > 1 {
            remaining /= 10
            decimals += 1
        }
        return decimals
    }

    /// `"2400.5"` with scale 1000 → 2,400,500. Positive amounts only, unless `allowZero` (a count
    /// may find nothing); at most `Bounds.quantityUnitsMax` base units, so that the scaled value
    /// (≤ 10^15 with the largest scale) and its products stay in range.
    /// The text is canonical decimal text: digits without a leading zero (`"0.5"`, not `"00.5"`
    /// or `".5"`), then optionally a point and digits, as the OpenAPI document's pattern says.
    public static func parse(_ text: String, scale: Int64, allowZero: Bool = false) throws(Problem) -> Int64 {
        guard let match = text.wholeMatch(of: /(0|[1-9][0-9]{0,29})(?:\.([0-9]{1,30}))?/) else { throw .notADecimal }
        let allowed = decimals(ofScale: scale)
        let fraction = String(match.2 ?? "")
        guard fraction.count <= allowed else { throw .tooManyDecimals(allowed: allowed) }
        guard let whole = Int64(match.1), whole <= Bounds.quantityUnitsMax else { throw .tooLarge }
        let padded = fraction + String(repeating: "0", count: allowed - fraction.count)
        let fractional = Int64(padded.isEmpty ? "0" : padded) ?? 0
        let wide = Int128(whole) * Int128(scale) + Int128(fractional)
        guard wide <= Int128(Bounds.quantityUnitsMax) * Int128(scale), let value = Int64(exactly: wide) else { throw .tooLarge }
        guard value > 0 || (allowZero && value == 0) else { throw .notPositive }
        return value
    }

    /// The finest scale any item may have (`quantityScale` ≤ 10^6): six decimals.
    public static let scaleMax: Int64 = 1_000_000

    /// Why `text` is no quantity whatever the item, or nil when some item could take it: the rule
    /// a request breaks on its own (the API's 422), apart from the item's own decimals, which
    /// only the stored item knows (409). It is `parse` at the finest scale.
    public static func formProblem(_ text: String, allowZero: Bool = false) -> Problem? {
        do {
            _ = try parse(text, scale: scaleMax, allowZero: allowZero)
            return nil
        } catch {
            return error
        }
    }

    /// 2,400,500 with scale 1000 → `"2400.500"`.
    public static func format(_ scaled: Int64, scale: Int64) -> String {
        let decimals = decimals(ofScale: scale)
        let sign = scaled < 0 ? "-" : ""
        let magnitude = scaled.magnitude
        let whole = magnitude / UInt64(scale)
        guard decimals > 0 else { return "\(sign)\(whole)" }
        let fraction = String(magnitude % UInt64(scale))
        return "\(sign)\(whole).\(String(repeating: "0", count: decimals - fraction.count))\(fraction)"
    }
}

/// Moving-average costing: a balance keeps its total value, and an issue takes its share of it.
public enum MovingAverage {
    /// The cost of issuing `quantity` out of `onHand` worth `value` fen: value × quantity / on
    /// hand, rounded half-even (a documented rounding point); issuing everything takes exactly
    /// the remaining value, so a balance never keeps a stray fen.
    public static func issueCost(valueFen: Int64, onHandScaled: Int64, quantityScaled: Int64) throws(OutOfRange) -> Int64 {
        precondition(onHandScaled > 0 && quantityScaled > 0 && quantityScaled <= onHandScaled)
        if quantityScaled == onHandScaled { return valueFen }
        return try Rounding.halfEven(Int128(valueFen) * Int128(quantityScaled), dividedBy: Int128(onHandScaled), what: "the cost issued")
    }

    /// The unit cost (fen per base unit) of `valueFen` spread over `quantityScaled`, by
    /// magnitude (an issue's negative move has the same unit cost), rounded half-even; 0 for no
    /// quantity.
    public static func unitCost(valueFen: Int64, quantityScaled: Int64, scale: Int64) throws(OutOfRange) -> Int64 {
        quantityScaled == 0
            ? 0
            : try Rounding.halfEven(
                Int128(valueFen.magnitude) * Int128(scale), dividedBy: Int128(quantityScaled.magnitude), what: "the unit cost")
    }

    /// The value of a line: unit cost or price (fen per base unit) × quantity, rounded
    /// half-even; beyond `Bounds.amountFenMax` it is `OutOfRange`.
    public static func lineValue(unitCostFen: Int64, quantityScaled: Int64, scale: Int64) throws(OutOfRange) -> Int64 {
        let value = try Rounding.halfEven(Int128(unitCostFen) * Int128(quantityScaled), dividedBy: Int128(scale), what: "the line's value")
        return try Bounds.amount(value, "the line's value").fen
    }
}
