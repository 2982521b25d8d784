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
        guard !lines.isEmpty, lines.count <= PostingLimits.linesMax else {
            throw StoreError(.invalid, "A quote has 1–\(PostingLimits.linesMax) lines.", field: "lines")
        }
        let lanes = try await relations(at: moment, touching: from).filter {
            $0.relation.kind == .transfersWith && $0.relation.from == from && $0.relation.to == to
        }
        guard let laneRecord = lanes.first, let distance = laneRecord.relation.distanceKm, let hours = laneRecord.relation.leadTimeHours else {
            throw StoreError(.notFound, "No transfers_with lane from \(from) to \(to) in your sandbox at that time.", field: "to")
        }
        guard let rules = try await pricingRules().rules(at: moment) else {
            throw StoreError(.notFound, "The tenant has no pricing rules in force at that time.", field: "at")
        }
        let pricedLane = PricedLane(
            distanceKm: distance, leadTimeHours: hours, markupBasisPoints: Int64(laneRecord.relation.markupBasisPoints ?? 0))
        let catalogue = try await items(codes: lines.map(\.itemCode))
        let stock = Dictionary(
            try await balances(org: from.rawValue, itemCodes: lines.map(\.itemCode)).compactMap { balance in balance.unitCostFen.map { (balance.item.code, $0) } },
            uniquingKeysWith: { first, _ in first })
        var priced: [Quote.Line] = []
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
            let pricedLine = PricedLine(
                unitCostFen: unitCost, scaledQuantity: quantity, quantityScale: item.quantityScale, weightGramsPerUnit: item.weightGramsPerUnit,
                category: item.category, shelfLifeDays: item.shelfLifeDays)
            do {
                priced.append(.init(item: item, quantityScaled: quantity, price: try TransferPricing.price(pricedLine, lane: pricedLane, rules: rules)))
            } catch .unknownCategory(let category) {
                throw StoreError(
                    .conflict, "Pricing rules \(rules.version) have no category \(category) (item \(item.code)).", field: "lines[\(index)].item")
            } catch .invalidLine(let field, let reason) {
                throw StoreError(.invalid, "\(field) \(reason).", field: "lines[\(index)].\(field)")
            } catch .outOfRange(let error) {
                // Freight, insurance and premiums follow the stored lane, item and rules.
                throw StoreError(.conflict, "\(error.description.prefix(1).uppercased() + error.description.dropFirst()).", field: "lines[\(index)]")
            }
        }
        let total = try inRange("lines", .conflict) { () throws(OutOfRange) in
            var sum = Money.zero
            for line in priced { sum = try sum + line.price.total }
            return try Bounds.amount(sum.fen, "the transfer's total")
        }
        return Quote(rulesVersion: rules.version, lane: pricedLane, laneRelationID: laneRecord.id, lines: priced, total: total)
    }
}
