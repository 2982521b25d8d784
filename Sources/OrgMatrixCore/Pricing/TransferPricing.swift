/// What is being moved, as the pricing engine needs it.
public struct PricedLine: Sendable, Hashable {
    /// Moving-average cost at dispatch, in fen per base unit (per litre, per kilogram).
    public let unitCostFen: Int64
    /// Quantity in the item's base unit × `quantityScale` (3.5 kg with scale 1000 is 3500).
    public let scaledQuantity: Int64
    public let quantityScale: Int64
    /// Weight of one base unit, in grams.
    public let weightGramsPerUnit: Int64
    public let category: String
    public let shelfLifeDays: Int32

    public init(
        unitCostFen: Int64, scaledQuantity: Int64, quantityScale: Int64, weightGramsPerUnit: Int64, category: String, shelfLifeDays: Int32
    ) {
        self.unitCostFen = unitCostFen
        self.scaledQuantity = scaledQuantity
        self.quantityScale = quantityScale
        self.weightGramsPerUnit = weightGramsPerUnit
        self.category = category
        self.shelfLifeDays = shelfLifeDays
    }
}

/// The lane the goods travel, from the `transfers_with` relation.
public struct PricedLane: Sendable, Hashable {
    public let distanceKm: Int32
    public let leadTimeHours: Int32
    /// Cost-plus markup of the relation, basis points of the full cost.
    public let markupBasisPoints: Int64

    public init(distanceKm: Int32, leadTimeHours: Int32, markupBasisPoints: Int64) {
        self.distanceKm = distanceKm
        self.leadTimeHours = leadTimeHours
        self.markupBasisPoints = markupBasisPoints
    }
}

/// An internal transfer price, component by component, with the words finance reads.
public struct TransferPrice: Sendable, Hashable {
    public struct Component: Sendable, Hashable {
        public let name: String
        public let amount: Money
        public let explanation: String

        public init(name: String, amount: Money, explanation: String) {
            (self.name, self.amount, self.explanation) = (name, amount, explanation)
        }
    }

    public let rulesVersion: String
    public let baseCost: Money
    public let freight: Money
    public let insurance: Money
    public let lossAllowance: Money
    public let timelinessPremium: Money
    public let markup: Money

    /// The sum of the components, bounded like every amount.
    public let total: Money
    public let components: [Component]

    init(
        rulesVersion: String, baseCost: Money, freight: Money, insurance: Money, lossAllowance: Money, timelinessPremium: Money,
        markup: Money, components: [Component]
    ) throws(OutOfRange) {
        (self.rulesVersion, self.baseCost, self.freight, self.insurance) = (rulesVersion, baseCost, freight, insurance)
        (self.lossAllowance, self.timelinessPremium, self.markup, self.components) = (lossAllowance, timelinessPremium, markup, components)
        total = try Bounds.amount(
            try Money.sum([baseCost, freight, insurance, lossAllowance, timelinessPremium, markup], what: "the line's total").fen,
            "the line's total")
    }
}

public enum PricingError: Error, Sendable, Hashable {
    case unknownCategory(String)
    case invalidLine(field: String, reason: String)
    /// A component or total left its documented bound (`Bounds`): the request is refused.
    case outOfRange(OutOfRange)
}

/// The transfer-pricing engine: pure, integer-only, rounding half-even at six documented points
/// (one per component), so a price can be recomputed by hand from its breakdown.
///
///     base cost   = round(unit cost × quantity)                                   (1)
///     freight     = round(Σ tier km × tier rate × weight in tonnes)               (2)
///     insurance   = round(base cost × insurance bp / 10 000)                      (3)
///     loss        = round(base cost × (loss ppm [+ short-shelf-life ppm]) / 10^6)  (4)
///     timeliness  = round(freight × (express or standard) bp / 10 000)            (5)
///     markup      = round((1)+(2)+(3)+(4)+(5) × markup bp / 10 000)              (6)
/// A transit loss, split into what the tolerance absorbs and what is claimed.
public struct LossSplit: Sendable, Hashable {
    public let allowanceScaled: Int64
    public let claimScaled: Int64
    public let claimValueFen: Int64
}

public enum TransferPricing {
    public static func price(_ line: PricedLine, lane: PricedLane, rules: PricingRules) throws(PricingError) -> TransferPrice {
        guard let category = rules.categories[line.category] else { throw .unknownCategory(line.category) }
        guard line.scaledQuantity > 0 else { throw .invalidLine(field: "quantity", reason: "must be positive") }
        guard line.quantityScale > 0 else { throw .invalidLine(field: "quantity_scale", reason: "must be positive") }
        guard (0...Bounds.unitFenMax).contains(line.unitCostFen) else {
            throw .invalidLine(field: "unitCostFen", reason: "must be 0–\(Bounds.unitFenMax) fen per base unit")
        }
        guard (0...Bounds.weightGramsPerUnitMax).contains(line.weightGramsPerUnit) else {
            throw .invalidLine(field: "weight_grams_per_unit", reason: "must be 0–\(Bounds.weightGramsPerUnitMax) g")
        }
        guard (0...Bounds.markupBasisPointsMax).contains(lane.markupBasisPoints), lane.distanceKm >= 0 else {
            throw .invalidLine(field: "lane", reason: "has a markup outside 0–\(Bounds.markupBasisPointsMax) bp or a negative distance")
        }
        do {
            return try bounded(line, lane: lane, rules: rules, category: category)
        } catch {
            throw .outOfRange(error)
        }
    }

    private static func bounded(
        _ line: PricedLine, lane: PricedLane, rules: PricingRules, category: PricingRules.Category
    ) throws(OutOfRange) -> TransferPrice {
        let quantity = Int128(line.scaledQuantity)
        let scale = Int128(line.quantityScale)
        let base = try component(Int128(line.unitCostFen) * quantity, scale, "the base cost")

        // grams × km × fen/(t·km) ÷ (scale × 10^6 g/t)
        let weightScaledGrams = Int128(line.weightGramsPerUnit) * quantity
        var freightNumerator: Int128 = 0
        var covered: Int32 = 0
        var tierWords: [String] = []
        for tier in rules.freightTiers where covered < lane.distanceKm {
            let end = min(tier.upToKm ?? lane.distanceKm, lane.distanceKm)
            let km = end - covered
            let (sum, overflow) = freightNumerator.addingReportingOverflow(
                try Checked.product(Int128(km), Int128(tier.fenPerTonneKm), weightScaledGrams, what: "the freight"))
            guard !overflow else { throw OutOfRange("the freight") }
            freightNumerator = sum
            tierWords.append("\(km) km at \(Money(fen: tier.fenPerTonneKm))/t·km")
            covered = end
        }
        let freight = try component(freightNumerator, scale * 1_000_000, "the freight")
        let insurance = try component(Int128(base.fen) * Int128(category.insuranceBasisPoints), 10_000, "the insurance")
        let lossRate = rules.lossPartsPerMillion(category, shelfLifeDays: line.shelfLifeDays)
        let loss = try component(Int128(base.fen) * Int128(lossRate), 1_000_000, "the loss allowance")
        let (premiumRate, express) = rules.timelinessPremium(leadTimeHours: lane.leadTimeHours)
        let premium = try component(Int128(freight.fen) * Int128(premiumRate), 10_000, "the timeliness premium")
        let subtotal = try Money.sum([base, freight, insurance, loss, premium], what: "the line's cost")
        let markup = try component(Int128(subtotal.fen) * Int128(lane.markupBasisPoints), 10_000, "the markup")
        let weightKg = try Rounding.halfEven(weightScaledGrams, dividedBy: scale * 1000, what: "the weight")
        return try TransferPrice(
            rulesVersion: rules.version, baseCost: base, freight: freight, insurance: insurance, lossAllowance: loss,
            timelinessPremium: premium, markup: markup,
            components: [
                .init(name: "base_cost", amount: base, explanation: "moving-average cost \(Money(fen: line.unitCostFen)) per unit × quantity"),
                .init(
                    name: "freight", amount: freight,
                    explanation: "\(lane.distanceKm) km × \(weightKg) kg: \(tierWords.joined(separator: " + "))"),
                .init(name: "insurance", amount: insurance, explanation: "\(category.insuranceBasisPoints) bp of the base cost (\(line.category))"),
                .init(
                    name: "loss_allowance", amount: loss,
                    explanation: "\(lossRate) ppm of the base cost (\(line.category)"
                        + "\(line.shelfLifeDays <= rules.shortShelfLifeDays ? ", short shelf life" : ""))"),
                .init(
                    name: "timeliness_premium", amount: premium,
                    explanation: "\(premiumRate) bp of freight (\(express ? "express" : "standard"): \(lane.leadTimeHours) h lead time)"),
                .init(name: "markup", amount: markup, explanation: "\(lane.markupBasisPoints) bp cost-plus of the lane on \(subtotal)"),
            ])
    }

    /// One rounded component, bounded like every amount.
    private static func component(_ numerator: Int128, _ denominator: Int128, _ what: String) throws(OutOfRange) -> Money {
        try Bounds.amount(try Rounding.halfEven(numerator, dividedBy: denominator, what: what), what)
    }

    /// The actual cost once the goods arrive: the same formula with the freight and insurance
    /// actually paid and the value of the quantity actually lost instead of the allowances.
    public static func actual(
        _ line: PricedLine, lane: PricedLane, rules: PricingRules, freight: Money, insurance: Money, lostScaledQuantity: Int64
    ) throws(PricingError) -> TransferPrice {
        let estimate = try price(line, lane: lane, rules: rules)
        guard lostScaledQuantity >= 0, lostScaledQuantity <= line.scaledQuantity else {
            throw .invalidLine(field: "loss_quantity", reason: "must be between 0 and the quantity sent")
        }
        do {
            let freight = try Bounds.amount(freight.fen, "the actual freight")
            let insurance = try Bounds.amount(insurance.fen, "the actual insurance")
            let lost = Money(fen: try MovingAverage.lineValue(unitCostFen: line.unitCostFen, quantityScaled: lostScaledQuantity, scale: line.quantityScale))
            let premiumRate = rules.timelinessPremium(leadTimeHours: lane.leadTimeHours).basisPoints
            let premium = try component(Int128(freight.fen) * Int128(premiumRate), 10_000, "the actual timeliness premium")
            let subtotal = try Money.sum([estimate.baseCost, freight, insurance, lost, premium], what: "the line's actual cost")
            let markup = try component(Int128(subtotal.fen) * Int128(lane.markupBasisPoints), 10_000, "the actual markup")
            return try TransferPrice(
                rulesVersion: rules.version, baseCost: estimate.baseCost, freight: freight, insurance: insurance, lossAllowance: lost,
                timelinessPremium: premium, markup: markup,
                components: [
                    .init(name: "base_cost", amount: estimate.baseCost, explanation: "as estimated"),
                    .init(name: "freight", amount: freight, explanation: "actual freight paid"),
                    .init(name: "insurance", amount: insurance, explanation: "actual insurance paid"),
                    .init(name: "loss_allowance", amount: lost, explanation: "value of the quantity lost in transit"),
                    .init(name: "timeliness_premium", amount: premium, explanation: "\(premiumRate) bp of the actual freight"),
                    .init(name: "markup", amount: markup, explanation: "\(lane.markupBasisPoints) bp cost-plus on \(subtotal)"),
                ])
        } catch {
            throw .outOfRange(error)
        }
    }

    /// How a transit loss splits: the category's tolerance of the quantity sent (合理损耗) is
    /// absorbed; what was lost beyond it is claimed against the carrier or insurer, valued at the
    /// line's unit cost. Rounded half-even.
    public static func lossSplit(
        _ line: PricedLine, rules: PricingRules, lostScaledQuantity: Int64
    ) throws(PricingError) -> LossSplit {
        guard let category = rules.categories[line.category] else { throw .unknownCategory(line.category) }
        guard lostScaledQuantity >= 0, lostScaledQuantity <= line.scaledQuantity else {
            throw .invalidLine(field: "loss_quantity", reason: "must be between 0 and the quantity sent")
        }
        let rate = rules.lossPartsPerMillion(category, shelfLifeDays: line.shelfLifeDays)
        do {
            let allowance = try Rounding.halfEven(Int128(line.scaledQuantity) * Int128(rate), dividedBy: 1_000_000, what: "the loss allowance")
            let claim = max(0, lostScaledQuantity - allowance)
            return LossSplit(
                allowanceScaled: allowance, claimScaled: claim,
                claimValueFen: try MovingAverage.lineValue(unitCostFen: line.unitCostFen, quantityScaled: claim, scale: line.quantityScale))
        } catch {
            throw .outOfRange(error)
        }
    }

    /// (estimate − actual) / actual in parts per million, rounded half-even; nil when actual is
    /// 0. A ratio beyond `Int64` (a tiny actual against a huge estimate) is `OutOfRange`.
    public static func errorPartsPerMillion(estimate: Money, actual: Money) throws(OutOfRange) -> Int64? {
        guard actual.fen != 0 else { return nil }
        let numerator = (Int128(estimate.fen) - Int128(actual.fen)) * 1_000_000
        let denominator = Int128(actual.fen)
        return denominator > 0
            ? try Rounding.halfEven(numerator, dividedBy: denominator, what: "the pricing error")
            : try Rounding.halfEven(-numerator, dividedBy: -denominator, what: "the pricing error")
    }

    /// Splits `total` over lines in proportion to `weights` (largest remainder), so the shares
    /// add up to the total exactly; equal shares when every weight is zero. Weights must not be
    /// negative; `total` and the weights are bounded amounts, so nothing here leaves `Int128`.
    public static func allocate(_ total: Int64, by weights: [Int64]) -> [Int64] {
        guard !weights.isEmpty else { return [] }
        precondition(weights.allSatisfy { $0 >= 0 }, "allocation weights are amounts, never negative")
        let effective = weights.allSatisfy { $0 == 0 } ? weights.map { _ in Int64(1) } : weights
        let sum = effective.reduce(Int128(0)) { $0 + Int128($1) }
        var shares = effective.map { Int64(Int128(total) * Int128($0) / sum) }
        let remainders = effective.enumerated().map { (index: $0.offset, remainder: Int128(total) * Int128($0.element) % sum) }
        let missing = Int(Int128(total) - shares.reduce(Int128(0)) { $0 + Int128($1) })
        for entry in remainders.sorted(by: { $0.remainder != $1.remainder ? $0.remainder > $1.remainder : $0.index < $1.index }).prefix(missing) {
            shares[entry.index] += 1
        }
        return shares
    }
}

extension TransferPrice {
    /// The components every price lists, in this order.
    public static let componentNames = ["base_cost", "freight", "insurance", "loss_allowance", "timeliness_premium", "markup"]

    /// A price as stored or as the ledger states it: exactly the six components in their order,
    /// each 0 … `Bounds.amountFenMax` fen; the total is their sum.
    public init(rulesVersion: String, components: [Component]) throws(PricingError) {
        guard components.map(\.name) == Self.componentNames else {
            throw .invalidLine(field: "components", reason: "must be \(Self.componentNames.joined(separator: ", ")), in this order")
        }
        guard components.allSatisfy({ (0...Bounds.amountFenMax).contains($0.amount.fen) }) else {
            throw .invalidLine(field: "components", reason: "must each be 0–\(Bounds.amountFenMax) fen")
        }
        let amounts = components.map(\.amount)
        do {
            self = try TransferPrice(
                rulesVersion: rulesVersion, baseCost: amounts[0], freight: amounts[1], insurance: amounts[2], lossAllowance: amounts[3],
                timelinessPremium: amounts[4], markup: amounts[5], components: components)
        } catch {
            throw .outOfRange(error)
        }
    }
}
