import Foundation
import OrgMatrixCore
import PostgresNIO

/// A line to price: an item, a quantity, and optionally the unit cost to assume (otherwise the
/// sender's moving average, when the caller can see it).
public struct QuoteLine: Sendable, Hashable {
    public let itemCode: String
    public let quantity: String
    public let unitCostFen: Int64?

    public init(itemCode: String, quantity: String, unitCostFen: Int64?) {
        (self.itemCode, self.quantity, self.unitCostFen) = (itemCode, quantity, unitCostFen)
    }
}

public struct Quote: Sendable {
    public struct Line: Sendable {
        public let item: Item
        public let quantityScaled: Int64
        public let price: TransferPrice
    }

    public let rulesVersion: String
    public let lane: PricedLane
    public let laneRelationID: Int64
    public let lines: [Line]
    /// The sum of the lines; each is bounded, and so is the sum (`Bounds.amountFenMax`).
    public let total: Money
}

extension Sandbox {
    /// The tenant's pricing rule versions.
    public func pricingRules() async throws -> PricingRuleBook {
        var versions: [PricingRules] = []
        let rows = try await connection.query(
            "SELECT body::text FROM pricing_rules WHERE tenant_id = \(principal.tenantID.rawValue) ORDER BY effective_from", logger: logger)
        for try await body in rows.decode(String.self) {
            let entry = try JSONDecoder().decode(TenantFile.PricingEntry.self, from: Data(body.utf8))
            versions.append(try entry.rules(field: "pricing"))
        }
        return PricingRuleBook(versions)
    }

    /// Prices a hypothetical transfer from `from` to `to` at `moment` on the lane between them,
    /// without posting anything.
    public func quote(from: OrgCode, to: OrgCode, lines: [QuoteLine], at moment: Date) async throws -> Quote {
        let inputs = try await pricingInputs(from: from, to: to, lines: lines, at: moment)
        let priced: [TransferLine]
        let total: Money
        do {
            priced = try TransferRules.price(inputs.goods, lane: inputs.lane, rules: inputs.rules)
            total = try TransferRules.estimateTotal(priced.map(\.price))
        } catch {
            throw Self.pricingRefusal(error, rulesVersion: inputs.rules.version, items: inputs.items)
        }
        return Quote(
            rulesVersion: inputs.rules.version, lane: inputs.lane, laneRelationID: inputs.laneRelationID,
            lines: zip(inputs.items, priced).map { Quote.Line(item: $0, quantityScaled: $1.goods.scaledQuantity, price: $1.price) }, total: total)
    }

    /// What pricing lines from `from` to `to` at `moment` takes, looked up: the lane in force, the
    /// rule version in force, and per line the item and its goods (the stated unit cost, or the
    /// sender's moving average when the caller can see it).
    func pricingInputs(from: OrgCode, to: OrgCode, lines: [QuoteLine], at moment: Date) async throws -> PricingInputs {
        guard !lines.isEmpty, lines.count <= PostingLimits.linesMax else {
            throw StoreError(.invalid, "A quote has 1–\(PostingLimits.linesMax) lines.", field: "lines")
        }
        let lanes = try await relations(at: moment, touching: from).filter {
            $0.relation.kind == .transfersWith && $0.relation.from == from && $0.relation.to == to
        }
        guard let laneRecord = lanes.first, let distance = laneRecord.relation.distanceKm, let hours = laneRecord.relation.leadTimeHours else {
            throw StoreError(.notFound, "No transfers_with lane from \(from) to \(to) in your sandbox at that time.", field: "to")
        }
        guard let rules = try await pricingRules().rules(at: UTCMicros(moment)) else {
            throw StoreError(.notFound, "The tenant has no pricing rules in force at that time.", field: "at")
        }
        let lane = PricedLane(distanceKm: distance, leadTimeHours: hours, markupBasisPoints: Int64(laneRecord.relation.markupBasisPoints ?? 0))
        let catalogue = try await items(codes: lines.map(\.itemCode))
        let stock = Dictionary(
            try await balances(org: from.rawValue, itemCodes: lines.map(\.itemCode)).compactMap { balance in balance.unitCostFen.map { (balance.item.code, $0) } },
            uniquingKeysWith: { first, _ in first })
        var items: [Item] = []
        var goods: [TransferGoods] = []
        for (index, line) in lines.enumerated() {
            guard let item = catalogue[line.itemCode] else {
                throw StoreError(.notFound, "No item \(line.itemCode) in this tenant.", field: "lines[\(index)].item")
            }
            let quantity: Int64
            do {
                quantity = try ScaledQuantity.parse(line.quantity, scale: item.quantityScale)
            } catch {
                throw StoreError(
                    quantity: error, "Quantity must be a positive decimal with at most \(item.code)'s decimals (\(ScaledQuantity.decimals(ofScale: item.quantityScale))).",
                    field: "lines[\(index)].quantity")
            }
            guard let unitCost = line.unitCostFen ?? stock[item.code] else {
                throw StoreError(
                    .conflict, "No stock of \(item.code) at \(from) that you can see: give unitCostFen.", field: "lines[\(index)].unitCostFen")
            }
            items.append(item)
            goods.append(TransferGoods(itemCode: item.code, goods: item.goods(unitCostFen: unitCost, quantityScaled: quantity)))
        }
        return PricingInputs(lane: lane, laneRelationID: laneRecord.id, rules: rules, items: items, goods: goods)
    }

    /// How a refusal of the pricing engine reads: an unknown category or a total out of range
    /// conflicts with stored data (409), a figure outside the engine's bounds is malformed (422).
    static func pricingRefusal(_ error: TransferError, rulesVersion: String, items: [Item]) -> StoreError {
        switch error {
        case .pricing(let index, .unknownCategory(let category)):
            StoreError(.conflict, "Pricing rules \(rulesVersion) have no category \(category) (item \(items[index].code)).", field: "lines[\(index)].item")
        case .pricing(let index, .invalidLine(let field, let reason)):
            StoreError(.invalid, "\(field) \(reason).", field: "lines[\(index)].\(field)")
        case .pricing(let index, .outOfRange(let error)), .outOfRange(let error, let index?):
            // Freight, insurance and premiums follow the stored lane, item and rules.
            StoreError(.conflict, sentence(error), field: "lines[\(index)]")
        case .outOfRange(let error, nil):
            StoreError(.conflict, sentence(error), field: "lines")
        default:
            StoreError(.conflict, "The lines cannot be priced: \(error).", field: "lines")
        }
    }

    /// "The freight exceeds …." from an `OutOfRange`.
    static func sentence(_ error: OutOfRange) -> String {
        "\(error.description.prefix(1).uppercased() + error.description.dropFirst())."
    }
}

/// What pricing a set of lines needs from the database.
struct PricingInputs {
    let lane: PricedLane
    let laneRelationID: Int64
    let rules: PricingRules
    /// Per line, in line order.
    let items: [Item]
    let goods: [TransferGoods]
}

extension Item {
    /// The item as the pricing engine sees it, for `quantityScaled` at `unitCostFen`.
    func goods(unitCostFen: Int64, quantityScaled: Int64) -> PricedLine {
        PricedLine(
            unitCostFen: unitCostFen, scaledQuantity: quantityScaled, quantityScale: quantityScale, weightGramsPerUnit: weightGramsPerUnit,
            category: category, shelfLifeDays: shelfLifeDays)
    }
}
