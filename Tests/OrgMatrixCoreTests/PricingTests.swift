import Foundation
import OrgMatrixCore
import Testing

@Suite struct RoundingTests {
    @Test(arguments: [
        (5, 2, 2), (7, 2, 4), (-5, 2, -2), (-7, 2, -4), (1, 3, 0), (2, 3, 1), (-2, 3, -1), (11_114_315, 10, 1_111_432),
        (11_114_325, 10, 1_111_432), (0, 7, 0),
    ])
    func halfEvenRoundsTiesToTheEvenNeighbour(numerator: Int, denominator: Int, expected: Int) throws {
        #expect(try Rounding.halfEven(Int128(numerator), dividedBy: Int128(denominator)) == Int64(expected))
    }

    @Test func intermediateProductsBeyondInt64DoNotOverflow() throws {
        let huge = Int128(Int64.max) * 1_000
        #expect(try Rounding.halfEven(huge, dividedBy: 1_000) == Int64.max)
    }

    @Test func moneyPrintsYuanWithGrouping() {
        #expect(Money(fen: 121_126_100).description == "¥1,211,261.00")
        #expect(Money(fen: -5).description == "-¥0.05")
    }
}

/// Hand-computed expectations; every step is written out so the arithmetic can be checked.
@Suite struct TransferPricingTests {
    static let january = UTCMicros(TenantDefinition.defaultValidFrom)
    static let rules = PricingRules(
        version: "2026-01", effectiveFrom: january,
        freightTiers: [.init(upToKm: 300, fenPerTonneKm: 60), .init(upToKm: 1000, fenPerTonneKm: 45), .init(upToKm: nil, fenPerTonneKm: 35)],
        categories: [
            "fresh_milk": .init(insuranceBasisPoints: 30, lossPartsPerMillion: 2000, shortShelfLifeExtraLossPartsPerMillion: 3000),
            "milk_powder": .init(insuranceBasisPoints: 15, lossPartsPerMillion: 500),
        ],
        shortShelfLifeDays: 15, expressLeadTimeHoursMax: 12, standardPremiumBasisPoints: 0, expressPremiumBasisPoints: 1500)

    /// 2,400.500 L of fresh milk (scale 1000: mL), 4.63 元/L, 1,030 g/L, 7-day shelf life.
    static let milk = PricedLine(
        unitCostFen: 463, scaledQuantity: 2_400_500, quantityScale: 1000, weightGramsPerUnit: 1030, category: "fresh_milk",
        shelfLifeDays: 7)
    /// 北京中心仓 → 石家庄前置仓: 335 km, 7 h (express), 3 % cost-plus.
    static let lane = PricedLane(distanceKm: 335, leadTimeHours: 7, markupBasisPoints: 300)

    @Test func freshMilkOnAnExpressLaneByHand() throws {
        let price = try TransferPricing.price(Self.milk, lane: Self.lane, rules: Self.rules)
        // (1) 463 × 2,400,500 / 1000 = 1,111,431.5 → tie, odd neighbour → 1,111,432
        #expect(price.baseCost.fen == 1_111_432)
        // (2) 300 km × 60 + 35 km × 45 = 19,575 fen/t; weight 1030 × 2,400,500 / 1000 = 2,472,515 g
        //     19,575 × 2,472,515 / 10^6 = 48,399.48 → 48,399
        #expect(price.freight.fen == 48_399)
        // (3) 1,111,432 × 30 / 10,000 = 3,334.30 → 3,334
        #expect(price.insurance.fen == 3_334)
        // (4) short shelf life: 2,000 + 3,000 ppm; 1,111,432 × 5,000 / 10^6 = 5,557.16 → 5,557
        #expect(price.lossAllowance.fen == 5_557)
        // (5) express (7 h ≤ 12 h): 48,399 × 1,500 / 10,000 = 7,259.85 → 7,260
        #expect(price.timelinessPremium.fen == 7_260)
        // (6) subtotal 1,175,982 × 300 / 10,000 = 35,279.46 → 35,279
        #expect(price.markup.fen == 35_279)
        #expect(price.total.fen == 1_211_261)
        #expect(price.rulesVersion == "2026-01")
        #expect(price.components.map(\.name) == ["base_cost", "freight", "insurance", "loss_allowance", "timeliness_premium", "markup"])
        #expect(price.components[1].explanation.contains("300 km at ¥0.60/t·km + 35 km at ¥0.45/t·km"))
        #expect(price.components[3].explanation.contains("short shelf life"))
    }

    @Test func aLongStandardLaneCrossesEveryTier() throws {
        // 20,000.000 kg milk powder at 28.00 元/kg, 1,000 g/kg, 540 days; 1,450 km, 30 h (standard), no markup.
        let powder = PricedLine(
            unitCostFen: 2800, scaledQuantity: 20_000_000, quantityScale: 1000, weightGramsPerUnit: 1000, category: "milk_powder",
            shelfLifeDays: 540)
        let price = try TransferPricing.price(powder, lane: PricedLane(distanceKm: 1450, leadTimeHours: 30, markupBasisPoints: 0), rules: Self.rules)
        #expect(price.baseCost.fen == 56_000_000)  // 2,800 × 20,000
        // 300 × 60 + 700 × 45 + 450 × 35 = 18,000 + 31,500 + 15,750 = 65,250 fen/t × 20 t = 1,305,000
        #expect(price.freight.fen == 1_305_000)
        #expect(price.insurance.fen == 84_000)  // 56,000,000 × 15 / 10,000
        #expect(price.lossAllowance.fen == 28_000)  // 56,000,000 × 500 / 10^6 (long shelf life: no extra)
        #expect(price.timelinessPremium.fen == 0)  // standard band, 0 bp
        #expect(price.markup.fen == 0)
        #expect(price.total.fen == 57_417_000)
    }

    @Test func theActualCostAndThePricingError() throws {
        // Actual freight 49,100, insurance 3,334, 3.000 L lost (463 × 3,000 / 1000 = 1,389).
        // Premium 49,100 × 15 % = 7,365; subtotal 1,111,432 + 49,100 + 3,334 + 1,389 + 7,365 = 1,172,620;
        // markup 1,172,620 × 3 % = 35,178.6 → 35,179; actual total 1,207,799.
        let actual = try TransferPricing.actual(
            Self.milk, lane: Self.lane, rules: Self.rules, freight: Money(fen: 49_100), insurance: Money(fen: 3_334),
            lostScaledQuantity: 3_000)
        #expect(actual.lossAllowance.fen == 1_389)
        #expect(actual.total.fen == 1_207_799)
        // (1,211,261 − 1,207,799) / 1,207,799 = 3,462 / 1,207,799 = 2,866.37 ppm → 2,866: within 0.8 %
        let error = try TransferPricing.errorPartsPerMillion(estimate: Money(fen: 1_211_261), actual: actual.total)
        #expect(error == 2_866)
        #expect(abs(error!) <= Self.rules.errorTolerancePartsPerMillion)
        #expect(try TransferPricing.errorPartsPerMillion(estimate: Money(fen: 100), actual: Money(fen: 109)) == -82_569)
        #expect(try TransferPricing.errorPartsPerMillion(estimate: Money(fen: 100), actual: .zero) == nil)
    }

    @Test func aTransitLossSplitsIntoTheToleranceAndAClaim() throws {
        // Tolerance: 2,000 + 3,000 ppm (short shelf life) of 2,400,500 mL = 12,002.5 → tie, even neighbour → 12,002 mL.
        let within = try TransferPricing.lossSplit(Self.milk, rules: Self.rules, lostScaledQuantity: 3_000)
        #expect([within.allowanceScaled, within.claimScaled, within.claimValueFen] == [12_002, 0, 0])
        // 20 L lost: 20,000 − 12,002 = 7,998 mL claimed at 4.63 元/L = 3,703.07 → 3,703 fen.
        let beyond = try TransferPricing.lossSplit(Self.milk, rules: Self.rules, lostScaledQuantity: 20_000)
        #expect([beyond.allowanceScaled, beyond.claimScaled, beyond.claimValueFen] == [12_002, 7_998, 3_703])
        // Milk powder keeps 540 days: 500 ppm only, of 1,000 g = 0.5 → tie, even neighbour → 0.
        let powder = PricedLine(
            unitCostFen: 2800, scaledQuantity: 1000, quantityScale: 1000, weightGramsPerUnit: 1000, category: "milk_powder", shelfLifeDays: 540)
        #expect(try TransferPricing.lossSplit(powder, rules: Self.rules, lostScaledQuantity: 1).claimScaled == 1)
        #expect(throws: PricingError.self) { try TransferPricing.lossSplit(Self.milk, rules: Self.rules, lostScaledQuantity: 2_400_501) }
    }

    @Test func rulesAreChosenByEffectiveDate() {
        let july = UTCMicros(microsecondsSinceEpoch: Self.january.microsecondsSinceEpoch + 181 * 86_400 * 1_000_000)
        let later = PricingRules(
            version: "2026-07", effectiveFrom: july, freightTiers: [.init(upToKm: nil, fenPerTonneKm: 50)], categories: Self.rules.categories,
            shortShelfLifeDays: 15, expressLeadTimeHoursMax: 12, standardPremiumBasisPoints: 0, expressPremiumBasisPoints: 1500)
        let book = PricingRuleBook([later, Self.rules])
        #expect(book.rules(at: UTCMicros(microsecondsSinceEpoch: Self.january.microsecondsSinceEpoch - 1)) == nil)
        #expect(book.rules(at: Self.january)?.version == "2026-01")
        #expect(book.rules(at: UTCMicros(microsecondsSinceEpoch: july.microsecondsSinceEpoch - 1))?.version == "2026-01")
        #expect(book.rules(at: july)?.version == "2026-07")
    }

    @Test func badInputIsNamed() {
        #expect(throws: PricingError.unknownCategory("cheese")) {
            try TransferPricing.price(
                PricedLine(unitCostFen: 1, scaledQuantity: 1, quantityScale: 1, weightGramsPerUnit: 1, category: "cheese", shelfLifeDays: 90),
                lane: Self.lane, rules: Self.rules)
        }
        #expect(throws: PricingError.invalidLine(field: "quantity", reason: "must be positive")) {
            try TransferPricing.price(
                PricedLine(unitCostFen: 1, scaledQuantity: -5, quantityScale: 1, weightGramsPerUnit: 1, category: "fresh_milk", shelfLifeDays: 9),
                lane: Self.lane, rules: Self.rules)
        }
        #expect(throws: PricingError.self) {
            try TransferPricing.actual(
                Self.milk, lane: Self.lane, rules: Self.rules, freight: .zero, insurance: .zero, lostScaledQuantity: Self.milk.scaledQuantity + 1)
        }
        let broken = PricingRules(
            version: "x", effectiveFrom: Self.january, freightTiers: [.init(upToKm: 300, fenPerTonneKm: 60), .init(upToKm: 200, fenPerTonneKm: 1)],
            categories: ["a": .init(insuranceBasisPoints: -1, lossPartsPerMillion: 0)], shortShelfLifeDays: 1, expressLeadTimeHoursMax: 1,
            standardPremiumBasisPoints: 0, expressPremiumBasisPoints: -3)
        let fields = Set(broken.problems(field: "pricing[0]").map(\.field))
        #expect(fields == [
            "pricing[0].freight_tiers[1].up_to_km", "pricing[0].freight_tiers", "pricing[0].categories.a", "pricing[0].express_premium_bp",
        ])
    }
}
