import Foundation
import OrgMatrixCore
import Testing

/// Arithmetic on request figures reports `OutOfRange` instead of trapping, at every step from
/// input to result, and the bounds themselves are where the README says.
@Suite struct BoundsTests {
    static let rules = PricingRules(
        version: "b", effectiveFrom: UTCMicros(microsecondsSinceEpoch: 0),
        freightTiers: [.init(upToKm: nil, fenPerTonneKm: Bounds.fenPerTonneKmMax)],
        categories: ["bulk": .init(insuranceBasisPoints: 10_000, lossPartsPerMillion: 1_000_000)], shortShelfLifeDays: 1,
        expressLeadTimeHoursMax: 12, standardPremiumBasisPoints: Bounds.premiumBasisPointsMax, expressPremiumBasisPoints: 0)
    static let lane = PricedLane(distanceKm: 10_000, leadTimeHours: 24, markupBasisPoints: Bounds.markupBasisPointsMax)

    static func line(unitCostFen: Int64 = 1, quantity: Int64 = 1, scale: Int64 = 1, weight: Int64 = 0) -> PricedLine {
        PricedLine(
            unitCostFen: unitCostFen, scaledQuantity: quantity, quantityScale: scale, weightGramsPerUnit: weight, category: "bulk",
            shelfLifeDays: 30)
    }

    @Test func roundingAQuotientBeyondInt64IsOutOfRangeNotATrap() throws {
        #expect(throws: OutOfRange.self) { try Rounding.halfEven(Int128(Int64.max) + 1, dividedBy: 1) }
        #expect(throws: OutOfRange.self) { try Rounding.halfEven(Int128(Int64.min) * 2, dividedBy: 1) }
        #expect(try Rounding.halfEven(Int128(Int64.min), dividedBy: 1) == Int64.min)
    }

    @Test func moneySumsAndDifferencesReportOverflow() throws {
        #expect(throws: OutOfRange.self) { try Money(fen: .max) + Money(fen: 1) }
        #expect(throws: OutOfRange.self) { try Money(fen: .min) - Money(fen: 1) }
        #expect(throws: OutOfRange.self) { try Money.sum([Money(fen: .max), Money(fen: .max)], what: "x") }
        #expect(try Money(fen: 2) + Money(fen: 3) == Money(fen: 5))
        #expect(throws: OutOfRange.self) { try Checked.product(Int128.max, 2, what: "x") }
        #expect(try Checked.product(3, 4, 5, what: "x") == 60)
    }

    @Test func lineValuesBeyondTheAmountBoundAreRefused() throws {
        // 10^10 fen × 10^5 units = 10^15: exactly the bound; one unit more is beyond it.
        #expect(try MovingAverage.lineValue(unitCostFen: Bounds.unitFenMax, quantityScaled: 100_000, scale: 1) == Bounds.amountFenMax)
        #expect(throws: OutOfRange.self) { try MovingAverage.lineValue(unitCostFen: Bounds.unitFenMax, quantityScaled: 100_001, scale: 1) }
        // The quote that killed the server: Int64.max fen per unit.
        #expect(throws: OutOfRange.self) { try MovingAverage.lineValue(unitCostFen: .max, quantityScaled: .max, scale: 1) }
        #expect(throws: OutOfRange.self) { try MovingAverage.unitCost(valueFen: .max, quantityScaled: 1, scale: 1_000_000) }
        // An issue never costs more than the value it issues from, whatever the figures.
        #expect(try MovingAverage.issueCost(valueFen: .max, onHandScaled: .max, quantityScaled: .max - 1) == .max - 1)
    }

    @Test func pricingExtremeLinesIsATypedErrorNeverATrap() throws {
        // The reported crash: unitCostFen = Int64.max.
        #expect(throws: PricingError.invalidLine(field: "unitCostFen", reason: "must be 0–\(Bounds.unitFenMax) fen per base unit")) {
            try TransferPricing.price(Self.line(unitCostFen: .max), lane: Self.lane, rules: Self.rules)
        }
        // Every rate at its bound, the largest quantity and weight: the freight (10^24 fen) is out of range.
        let heaviest = Self.line(unitCostFen: Bounds.unitFenMax, quantity: Bounds.quantityUnitsMax, weight: Bounds.weightGramsPerUnitMax)
        #expect(Self.overflow(of: heaviest) == "the base cost")
        let heavy = Self.line(quantity: Bounds.quantityUnitsMax, weight: Bounds.weightGramsPerUnitMax)
        #expect(Self.overflow(of: heavy) == "the freight")
        // Just inside: 1 t over 10,000 km at the top rate is 10^12 fen of freight, priced without error.
        let tonne = try TransferPricing.price(Self.line(quantity: 1, weight: 1_000_000 / 10), lane: Self.lane, rules: Self.rules)
        #expect(tonne.freight.fen == 100_000_000_000)
        #expect(throws: PricingError.self) {
            try TransferPricing.actual(
                Self.line(), lane: Self.lane, rules: Self.rules, freight: Money(fen: .max), insurance: .zero, lostScaledQuantity: 0)
        }
    }

    /// What overflowed when pricing `line`, if anything did.
    static func overflow(of line: PricedLine) -> String? {
        do {
            _ = try TransferPricing.price(line, lane: lane, rules: rules)
            return nil
        } catch .outOfRange(let error) {
            return error.what
        } catch {
            return "\(error)"
        }
    }

    @Test func aPricingErrorBeyondInt64IsOutOfRange() throws {
        // Estimate 10^15 fen against an actual of 1 fen: 10^21 ppm.
        #expect(throws: OutOfRange.self) {
            try TransferPricing.errorPartsPerMillion(estimate: Money(fen: Bounds.amountFenMax), actual: Money(fen: 1))
        }
        #expect(try TransferPricing.errorPartsPerMillion(estimate: Money(fen: .max), actual: Money(fen: .max)) == 0)
        #expect(try TransferPricing.errorPartsPerMillion(estimate: Money(fen: 0), actual: Money(fen: .max)) == -1_000_000)
    }

    @Test func allocationAddsUpExactlyEvenAtTheBounds() {
        let shares = TransferPricing.allocate(Bounds.amountFenMax, by: Array(repeating: Int64.max / 2, count: 200))
        #expect(shares.reduce(Int128(0)) { $0 + Int128($1) } == Int128(Bounds.amountFenMax))
        #expect(TransferPricing.allocate(10, by: [1, 1, 1]) == [4, 3, 3])
        #expect(TransferPricing.allocate(5, by: [0, 0]) == [3, 2])
    }

    @Test func rulesOutsideTheirBoundsAreNamed() {
        let wild = PricingRules(
            version: "w", effectiveFrom: UTCMicros(microsecondsSinceEpoch: 0), freightTiers: [.init(upToKm: nil, fenPerTonneKm: Bounds.fenPerTonneKmMax + 1)],
            categories: ["a": .init(insuranceBasisPoints: 1, lossPartsPerMillion: 600_000, shortShelfLifeExtraLossPartsPerMillion: 600_000)],
            shortShelfLifeDays: 1, expressLeadTimeHoursMax: 1, standardPremiumBasisPoints: Bounds.premiumBasisPointsMax + 1,
            expressPremiumBasisPoints: 0)
        #expect(Set(wild.problems(field: "p").map(\.field)) == ["p.freight_tiers[0].fen_per_tonne_km", "p.categories.a", "p.standard_premium_bp"])
    }
}
