import OrgMatrixCore
import Testing

@Suite struct QuantityTests {
    @Test(arguments: [("2400.5", 1000, 2_400_500), ("2400.500", 1000, 2_400_500), ("7", 1, 7), ("0.001", 1000, 1), ("12", 100, 1200)])
    func decimalsBecomeScaledIntegers(text: String, scale: Int, expected: Int) throws {
        #expect(try ScaledQuantity.parse(text, scale: Int64(scale)) == Int64(expected))
        #expect(ScaledQuantity.format(Int64(expected), scale: Int64(scale)).hasPrefix(text.split(separator: ".").first.map(String.init)!))
    }

    @Test func badQuantitiesSayWhy() throws {
        #expect(throws: ScaledQuantity.Problem.tooManyDecimals(allowed: 3)) { try ScaledQuantity.parse("1.0001", scale: 1000) }
        #expect(throws: ScaledQuantity.Problem.tooManyDecimals(allowed: 0)) { try ScaledQuantity.parse("1.5", scale: 1) }
        #expect(throws: ScaledQuantity.Problem.notADecimal) { try ScaledQuantity.parse("-3", scale: 1) }
        #expect(throws: ScaledQuantity.Problem.notADecimal) { try ScaledQuantity.parse("1e3", scale: 1) }
        #expect(throws: ScaledQuantity.Problem.notPositive) { try ScaledQuantity.parse("0.000", scale: 1000) }
        #expect(throws: ScaledQuantity.Problem.tooLarge) { try ScaledQuantity.parse("999999999999999", scale: 1_000_000) }
        // The bound is 10^9 base units, whatever the scale; more digits than any Int64 are too large, not a trap.
        #expect(try ScaledQuantity.parse("1000000000", scale: 1_000_000) == 1_000_000_000_000_000)
        #expect(throws: ScaledQuantity.Problem.tooLarge) { try ScaledQuantity.parse("1000000000.000001", scale: 1_000_000) }
        #expect(throws: ScaledQuantity.Problem.tooLarge) { try ScaledQuantity.parse("1000000001", scale: 1) }
        #expect(throws: ScaledQuantity.Problem.tooLarge) { try ScaledQuantity.parse("9223372036854775808", scale: 1) }
        #expect(throws: ScaledQuantity.Problem.tooLarge) { try ScaledQuantity.parse(String(repeating: "9", count: 30), scale: 1) }
    }

    /// One canonical spelling per quantity, the OpenAPI document's pattern: no leading zeros, so
    /// "007" is no quantity (as it is none to the schema) rather than silently 7.
    @Test func leadingZerosAndBarePointsAreNoDecimals() throws {
        for text in ["007", "00.5", "01", ".5", "5.", "+1", " 1", "1 ", "١"] {
            #expect(throws: ScaledQuantity.Problem.notADecimal, "\(text)") { try ScaledQuantity.parse(text, scale: 1000) }
        }
        #expect(try ScaledQuantity.parse("0.5", scale: 10) == 5)
        #expect(try ScaledQuantity.parse("0", scale: 10, allowZero: true) == 0)
    }

    /// What no item could take is a form problem, told apart from what only the item's own
    /// decimals refuse (the API's 422 and 409).
    @Test func formProblemsAreWhatNoItemCouldTake() {
        #expect(ScaledQuantity.formProblem("2400.500") == nil)
        #expect(ScaledQuantity.formProblem("0.000001") == nil)
        #expect(ScaledQuantity.formProblem("1000000000.000000") == nil)
        #expect(ScaledQuantity.formProblem("0.0000001") == .tooManyDecimals(allowed: 6))
        #expect(ScaledQuantity.formProblem("1000000000.000001") == .tooLarge)
        #expect(ScaledQuantity.formProblem("0") == .notPositive)
        #expect(ScaledQuantity.formProblem("0", allowZero: true) == nil)
        #expect(ScaledQuantity.formProblem("1e3") == .notADecimal)
    }

    @Test func formatPadsTheFraction() {
        #expect(ScaledQuantity.format(2_400_500, scale: 1000) == "2400.500")
        #expect(ScaledQuantity.format(5, scale: 1000) == "0.005")
        #expect(ScaledQuantity.format(-1200, scale: 100) == "-12.00")
    }

    @Test func movingAverageIssuesTakeTheirShareAndTheLastTakesTheRest() throws {
        // 3 units worth 100 fen: one unit costs 33.33 → 33; the last of them takes what is left.
        #expect(try MovingAverage.issueCost(valueFen: 100, onHandScaled: 3, quantityScaled: 1) == 33)
        // Unit cost per base unit: 1,111,432 fen over 2,400.500 L = 463.0002 → 463; an issue's
        // negative move has the same; 2.5 and 3.5 fen per unit go to the even neighbour.
        #expect(try MovingAverage.unitCost(valueFen: 1_111_432, quantityScaled: 2_400_500, scale: 1000) == 463)
        #expect(try MovingAverage.unitCost(valueFen: -1_111_432, quantityScaled: -2_400_500, scale: 1000) == 463)
        #expect(try MovingAverage.unitCost(valueFen: 5, quantityScaled: 2, scale: 1) == 2)
        #expect(try MovingAverage.unitCost(valueFen: 7, quantityScaled: 2, scale: 1) == 4)
        #expect(try MovingAverage.unitCost(valueFen: 0, quantityScaled: 0, scale: 1000) == 0)
        #expect(try MovingAverage.issueCost(valueFen: 67, onHandScaled: 2, quantityScaled: 2) == 67)
        // 2 units worth 5 fen: 2.5 → 2 (half-even)
        #expect(try MovingAverage.issueCost(valueFen: 5, onHandScaled: 2, quantityScaled: 1) == 2)
        #expect(try MovingAverage.lineValue(unitCostFen: 463, quantityScaled: 2_400_500, scale: 1000) == 1_111_432)
    }
}
