import Foundation

/// One version of a tenant's transfer-pricing rules, in force from `effectiveFrom` until the next
/// version starts. Tenant data: declared in the tenant file, never edited once used (a change is
/// a new version), so every stored price can name the version that made it.
public struct PricingRules: Sendable, Hashable {
    /// A freight tier: kilometres up to `upToKm` (the last tier has nil) cost `fenPerTonneKm`.
    /// Tiers are marginal, like tax brackets: the first 300 km at the first rate, the next at the next.
    public struct FreightTier: Sendable, Hashable {
        public let upToKm: Int32?
        public let fenPerTonneKm: Int64
        public init(upToKm: Int32?, fenPerTonneKm: Int64) {
            self.upToKm = upToKm
            self.fenPerTonneKm = fenPerTonneKm
        }
    }

    /// What goods of a category cost to insure and are expected to lose in transit.
    public struct Category: Sendable, Hashable {
        /// Insurance premium, basis points of the goods' value.
        public let insuranceBasisPoints: Int64
        /// Expected transit loss, parts per million of the value.
        public let lossPartsPerMillion: Int64
        /// Extra expected loss for goods whose shelf life is at most `shortShelfLifeDays`.
        public let shortShelfLifeExtraLossPartsPerMillion: Int64
        public init(insuranceBasisPoints: Int64, lossPartsPerMillion: Int64, shortShelfLifeExtraLossPartsPerMillion: Int64 = 0) {
            self.insuranceBasisPoints = insuranceBasisPoints
            self.lossPartsPerMillion = lossPartsPerMillion
            self.shortShelfLifeExtraLossPartsPerMillion = shortShelfLifeExtraLossPartsPerMillion
        }
    }

    public let version: String
    /// To the microsecond, as the ledger states it.
    public let effectiveFrom: UTCMicros
    public let freightTiers: [FreightTier]
    public let categories: [String: Category]
    public let shortShelfLifeDays: Int32
    /// A lane whose lead time is at most this many hours is express.
    public let expressLeadTimeHoursMax: Int32
    /// Timeliness premium, basis points of freight, for standard and express lanes.
    public let standardPremiumBasisPoints: Int64
    public let expressPremiumBasisPoints: Int64
    /// |estimate − actual| / actual above this (parts per million) flags a transfer (0.8 % = 8000).
    public let errorTolerancePartsPerMillion: Int64

    public init(
        version: String, effectiveFrom: UTCMicros, freightTiers: [FreightTier], categories: [String: Category], shortShelfLifeDays: Int32,
        expressLeadTimeHoursMax: Int32, standardPremiumBasisPoints: Int64, expressPremiumBasisPoints: Int64,
        errorTolerancePartsPerMillion: Int64 = 8000
    ) {
        self.version = version
        self.effectiveFrom = effectiveFrom
        self.freightTiers = freightTiers
        self.categories = categories
        self.shortShelfLifeDays = shortShelfLifeDays
        self.expressLeadTimeHoursMax = expressLeadTimeHoursMax
        self.standardPremiumBasisPoints = standardPremiumBasisPoints
        self.expressPremiumBasisPoints = expressPremiumBasisPoints
        self.errorTolerancePartsPerMillion = errorTolerancePartsPerMillion
    }

    /// Expected transit loss of goods of `category` keeping `shelfLifeDays`, parts per million:
    /// the category's rate, plus its extra when the shelf life is short.
    public func lossPartsPerMillion(_ category: Category, shelfLifeDays: Int32) -> Int64 {
        category.lossPartsPerMillion + (shelfLifeDays <= shortShelfLifeDays ? category.shortShelfLifeExtraLossPartsPerMillion : 0)
    }

    /// The timeliness premium, basis points of freight, for a lane of `leadTimeHours`, and
    /// whether that lane is express.
    public func timelinessPremium(leadTimeHours: Int32) -> (basisPoints: Int64, express: Bool) {
        let express = leadTimeHours <= expressLeadTimeHoursMax
        return (express ? expressPremiumBasisPoints : standardPremiumBasisPoints, express)
    }

    /// Every rule a version breaks, each naming its field.
    public func problems(field: String) -> [MatrixProblem] {
        var problems: [MatrixProblem] = []
        if freightTiers.isEmpty { problems.append(MatrixProblem(field: "\(field).freight_tiers", reason: "needs at least one tier")) }
        var previous: Int32 = 0
        for (index, tier) in freightTiers.enumerated() {
            let tierField = "\(field).freight_tiers[\(index)]"
            if !(0...Bounds.fenPerTonneKmMax).contains(tier.fenPerTonneKm) {
                problems.append(MatrixProblem(field: "\(tierField).fen_per_tonne_km", reason: "must be 0–\(Bounds.fenPerTonneKmMax) fen"))
            }
            if let upTo = tier.upToKm {
                if upTo <= previous { problems.append(MatrixProblem(field: "\(tierField).up_to_km", reason: "must increase from tier to tier")) }
                previous = upTo
            } else if index != freightTiers.count - 1 {
                problems.append(MatrixProblem(field: "\(tierField).up_to_km", reason: "only the last tier is open-ended"))
            }
        }
        if freightTiers.last?.upToKm != nil {
            problems.append(MatrixProblem(field: "\(field).freight_tiers", reason: "the last tier must be open-ended (no up_to_km)"))
        }
        for (name, category) in categories.sorted(by: { $0.key < $1.key }) {
            let values = [category.insuranceBasisPoints, category.lossPartsPerMillion, category.shortShelfLifeExtraLossPartsPerMillion]
            if values.contains(where: { $0 < 0 }) || category.insuranceBasisPoints > 10_000
                || category.lossPartsPerMillion + category.shortShelfLifeExtraLossPartsPerMillion > 1_000_000
            {
                problems.append(MatrixProblem(
                    field: "\(field).categories.\(name)", reason: "rates must be 0–10000 bp and 0–1000000 ppm (loss and its extra together)"))
            }
        }
        for (name, value) in [("standard_premium_bp", standardPremiumBasisPoints), ("express_premium_bp", expressPremiumBasisPoints)]
        where !(0...Bounds.premiumBasisPointsMax).contains(value) {
            problems.append(MatrixProblem(field: "\(field).\(name)", reason: "must be 0–\(Bounds.premiumBasisPointsMax) bp"))
        }
        if errorTolerancePartsPerMillion < 0 {
            problems.append(MatrixProblem(field: "\(field).error_tolerance_ppm", reason: "must be 0 or more"))
        }
        return problems
    }
}

/// A tenant's rule versions; the one in force at a moment prices a transfer created then.
public struct PricingRuleBook: Sendable {
    public let versions: [PricingRules]

    public init(_ versions: [PricingRules]) {
        self.versions = versions.sorted { $0.effectiveFrom < $1.effectiveFrom }
    }

    public func rules(at moment: UTCMicros) -> PricingRules? {
        versions.last { $0.effectiveFrom <= moment }
    }
}
