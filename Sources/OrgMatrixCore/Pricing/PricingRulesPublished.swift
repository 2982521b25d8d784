import Foundation

/// `pricing.rules_published` (docs/LEDGER.md, "Pricing bodies"): one rule version as the tenant
/// applied it, every rate as an integer, so the verifier recomputes each transfer's figures from
/// the ledger alone. The Store writes what `ledgerBody` builds; the verifier reads it back with
/// `init(ledgerBody:)` and prices with `rules`.
public struct PricingRulesPublished: Sendable, Hashable {
    public static let ledgerType = LedgerTransactionType.pricingRulesPublished

    /// The rule version, with the tenant file's optional rates at their defaults.
    public let rules: PricingRules
    /// `rules.effectiveFrom`: what the ledger states and compares with `at`.
    public var effectiveFrom: UTCMicros { rules.effectiveFrom }

    /// The latest moment the ledger's text can state: 9999-12-31T23:59:59.999999Z.
    static let momentMicrosMax: Int64 = 253_402_300_799_999_999

    /// The publication of `rules`; its `effectiveFrom` must be a moment the ledger can state (1970–9999).
    public init(rules: PricingRules) throws(LedgerDocumentError) {
        guard (0...Self.momentMicrosMax).contains(rules.effectiveFrom.microsecondsSinceEpoch) else {
            throw .malformed(field: "body.effective_from", reason: "must be in the years 1970–9999")
        }
        self.rules = rules
    }

    private static let keys: Set<String> = [
        "version", "effective_from", "freight_tiers", "categories", "short_shelf_life_days", "express_lead_time_hours_max",
        "standard_premium_bp", "express_premium_bp", "error_tolerance_ppm",
    ]
    private static let categoryKeys: Set<String> = ["insurance_bp", "loss_ppm", "short_shelf_life_extra_loss_ppm"]

    /// The tenant file's keys; the last freight tier has no `up_to_km` (it is open-ended), so
    /// the body holds integers and strings only.
    public var ledgerBody: JSONValue {
        .object([
            "version": .string(rules.version),
            "effective_from": .string(effectiveFrom.description),
            "freight_tiers": .array(
                rules.freightTiers.map { tier in
                    var members: [String: JSONValue] = ["fen_per_tonne_km": .integer(tier.fenPerTonneKm)]
                    if let upTo = tier.upToKm { members["up_to_km"] = .integer(Int64(upTo)) }
                    return .object(members)
                }),
            "categories": .object(
                rules.categories.mapValues {
                    .object([
                        "insurance_bp": .integer($0.insuranceBasisPoints), "loss_ppm": .integer($0.lossPartsPerMillion),
                        "short_shelf_life_extra_loss_ppm": .integer($0.shortShelfLifeExtraLossPartsPerMillion),
                    ])
                }),
            "short_shelf_life_days": .integer(Int64(rules.shortShelfLifeDays)),
            "express_lead_time_hours_max": .integer(Int64(rules.expressLeadTimeHoursMax)),
            "standard_premium_bp": .integer(rules.standardPremiumBasisPoints),
            "express_premium_bp": .integer(rules.expressPremiumBasisPoints),
            "error_tolerance_ppm": .integer(rules.errorTolerancePartsPerMillion),
        ])
    }

    /// The version `body` states: every key present, none other, each of its type, and the
    /// rules valid as a tenant file's must be (`PricingRules.problems`).
    public init(ledgerBody body: JSONValue) throws(LedgerDocumentError) {
        let fields = try LedgerFields(body, expected: Self.keys, path: "body")
        let version = try fields.string("version")
        guard ASCIIShape.isVersionName(version) else {
            throw .malformed(field: "body.version", reason: "must be 1–40 letters, digits, dots, dashes or underscores")
        }
        let effectiveFrom = try fields.moment("effective_from")
        guard case .array(let tierValues) = try fields.value("freight_tiers") else {
            throw .malformed(field: "body.freight_tiers", reason: "must be an array")
        }
        var tiers: [PricingRules.FreightTier] = []
        for (index, value) in tierValues.enumerated() {
            let path = "body.freight_tiers[\(index)]"
            let open = if case .object(let members) = value { members["up_to_km"] == nil } else { false }
            let tier = try LedgerFields(
                value, expected: open ? ["fen_per_tonne_km"] : ["up_to_km", "fen_per_tonne_km"], path: path)
            tiers.append(
                .init(upToKm: open ? nil : try Self.int32(tier, "up_to_km"), fenPerTonneKm: try tier.integer("fen_per_tonne_km")))
        }
        guard case .object(let categoryValues) = try fields.value("categories") else {
            throw .malformed(field: "body.categories", reason: "must be an object")
        }
        var categories: [String: PricingRules.Category] = [:]
        for (name, value) in categoryValues.sorted(by: { $0.key < $1.key }) {
            let category = try LedgerFields(value, expected: Self.categoryKeys, path: "body.categories.\(name)")
            categories[name] = .init(
                insuranceBasisPoints: try category.integer("insurance_bp"), lossPartsPerMillion: try category.integer("loss_ppm"),
                shortShelfLifeExtraLossPartsPerMillion: try category.integer("short_shelf_life_extra_loss_ppm"))
        }
        let rules = PricingRules(
            version: version,
            effectiveFrom: effectiveFrom,
            freightTiers: tiers, categories: categories, shortShelfLifeDays: try Self.int32(fields, "short_shelf_life_days"),
            expressLeadTimeHoursMax: try Self.int32(fields, "express_lead_time_hours_max"),
            standardPremiumBasisPoints: try fields.integer("standard_premium_bp"),
            expressPremiumBasisPoints: try fields.integer("express_premium_bp"),
            errorTolerancePartsPerMillion: try fields.integer("error_tolerance_ppm"))
        if let problem = rules.problems(field: "body").first { throw .malformed(field: problem.field, reason: problem.reason) }
        self.rules = rules
    }

    private static func int32(_ fields: LedgerFields, _ key: String) throws(LedgerDocumentError) -> Int32 {
        guard let number = Int32(exactly: try fields.integer(key)) else {
            throw .malformed(field: fields.name(key), reason: "must fit 32 bits")
        }
        return number
    }
}
