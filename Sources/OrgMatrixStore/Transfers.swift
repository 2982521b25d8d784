import Foundation
import OrgMatrixCore
import PostgresNIO

/// A transfer as both parties read it: one object, the sender's internal sale and receivable,
/// the receiver's internal purchase and payable.
public struct TransferRecord: Sendable {
    public struct Line: Sendable {
        public let item: Item
        public let quantityScaled: Int64
        public let unitCostFen: Int64
        public let freightFen: Int64
        public let totalFen: Int64
        /// The estimate, component by component, as stored when the transfer was priced.
        public let components: [TransferPrice.Component]
        public let lostScaled: Int64?
        public let allowanceScaled: Int64?
        public let claimScaled: Int64?
        public let claimValueFen: Int64?
        public let landedValueFen: Int64?

        /// The line as its receipt books it.
        func booked(lost: Int64, allowance: Int64, claim: Int64, claimValueFen: Int64, landedValueFen: Int64) -> Line {
            Line(
                item: item, quantityScaled: quantityScaled, unitCostFen: unitCostFen, freightFen: freightFen, totalFen: totalFen,
                components: components, lostScaled: lost, allowanceScaled: allowance, claimScaled: claim, claimValueFen: claimValueFen,
                landedValueFen: landedValueFen)
        }
    }

    public let id: Int64
    public let fromCode: String
    public let toCode: String
    public internal(set) var status: String
    public let rulesVersion: String
    public let estimateTotalFen: Int64
    public internal(set) var actualFreightFen: Int64?
    public internal(set) var actualInsuranceFen: Int64?
    public internal(set) var actualTotalFen: Int64?
    public internal(set) var errorPartsPerMillion: Int64?
    public internal(set) var flagged: Bool
    /// Actual − estimate, settled by HQ's true-up of a flagged transfer.
    public let trueUpFen: Int64?
    public internal(set) var lines: [Line]
}

/// What the receiver reports: actual freight and insurance for the whole transfer, and per line
/// the quantity lost in transit.
public struct ReceiptReport: Sendable {
    public let freightFen: Int64
    public let insuranceFen: Int64
    /// Item code → lost quantity as decimal text; items not named lost nothing.
    public let lost: [String: String]

    public init(freightFen: Int64, insuranceFen: Int64, lost: [String: String]) {
        (self.freightFen, self.insuranceFen, self.lost) = (freightFen, insuranceFen, lost)
    }
}

extension Sandbox {
    /// A priced transfer from the principal's own org to `to`, on the lane between them.
    public func createTransfer(to: OrgCode, lines: [PostingLine]) async throws -> TransferRecord {
        try await authorize(.postDocuments)
        var seen: Set<String> = []
        for (index, line) in lines.enumerated() where !seen.insert(line.itemCode).inserted {
            throw StoreError(.invalid, "\(line.itemCode) appears twice; put its quantities on one line.", field: "lines[\(index)].item")
        }
        let quote = try await self.quote(
            from: principal.orgCode, to: to, lines: lines.map { QuoteLine(itemCode: $0.itemCode, quantity: $0.quantity, unitCostFen: nil) },
            at: Date())
        let stock = Dictionary(
            try await balances(org: principal.orgCode.rawValue, itemCodes: lines.map(\.itemCode)).map { ($0.item.code, $0.onHandScaled) },
            uniquingKeysWith: { first, _ in first })
        for (index, line) in quote.lines.enumerated() {
            let onHand = stock[line.item.code] ?? 0
            guard onHand >= line.quantityScaled else {
                throw StoreError(
                    .conflict,
                    "Insufficient stock of \(line.item.code) at \(principal.orgCode): short by "
                        + "\(ScaledQuantity.format(line.quantityScaled - onHand, scale: line.item.quantityScale)) \(line.item.baseUnit).",
                    field: "lines[\(index)].quantity")
            }
        }
        let toID = try await connection.query(
            "SELECT to_org_id FROM relations WHERE tenant_id = \(principal.tenantID.rawValue) AND relation_id = \(quote.laneRelationID)",
            logger: logger
        ).collect().first!.decode(Int64.self)
        let id = try await connection.query(
            """
            INSERT INTO transfers (tenant_id, from_org_id, from_code, to_org_id, to_code, relation_id, status, rules_version,
                estimate_total_fen, created_by)
            VALUES (\(principal.tenantID.rawValue), \(principal.orgID.rawValue), \(principal.orgCode.rawValue), \(toID), \(to.rawValue),
                \(quote.laneRelationID), 'created', \(quote.rulesVersion), \(quote.total.fen), \(principal.principalID))
            RETURNING transfer_id
            """, logger: logger
        ).collect().first!.decode(Int64.self)
        for (index, line) in quote.lines.enumerated() {
            let price = line.price
            let (unitCost, total) = try inRange("lines[\(index)]", .conflict) { () throws(OutOfRange) in
                (try MovingAverage.unitCost(valueFen: price.baseCost.fen, quantityScaled: line.quantityScaled, scale: line.item.quantityScale),
                 price.total.fen)
            }
            try await connection.query(
                """
                INSERT INTO transfer_lines (tenant_id, transfer_id, line_no, from_org_id, to_org_id, item_id, quantity_scaled, unit_cost_fen,
                    base_cost_fen, freight_fen, insurance_fen, loss_allowance_fen, timeliness_fen, markup_fen, total_fen, breakdown)
                VALUES (\(principal.tenantID.rawValue), \(id), \(index + 1), \(principal.orgID.rawValue), \(toID), \(line.item.id),
                    \(line.quantityScaled), \(unitCost), \(price.baseCost.fen),
                    \(price.freight.fen), \(price.insurance.fen), \(price.lossAllowance.fen), \(price.timelinessPremium.fen), \(price.markup.fen),
                    \(total), \(try Self.breakdownJSON(price))::jsonb)
                """, logger: logger)
        }
        try await audit("transfer.create", subject: String(id), detail: ["to": to.rawValue, "estimate_fen": String(quote.total.fen)])
        return try await transfer(id: id)!
    }

    /// The sender ships: stock leaves its balance at the moving average into its in-transit, by
    /// two moves per line (−on hand, +in transit, the same value); the database refuses the
    /// dispatched state without exactly these.
    public func dispatchTransfer(id: Int64) async throws -> TransferRecord {
        try await authorize(.postDocuments)
        var order = try await ownTransfer(id, as: \.fromCode, "dispatch it (only its sender does)", status: "created")
        try await audit("transfer.dispatch", subject: String(id), detail: [:])
        // The sender's balances are the rows every posting at this warehouse queues on, so they
        // are locked last and held for three statements only.
        let balances = try await lockedBalances(itemIDs: order.lines.map(\.item.id))
        var moves: [Move] = []
        for (index, line) in order.lines.enumerated() {
            let balance = balances[line.item.id] ?? Balance(onHandScaled: 0, valueFen: 0)
            guard balance.onHandScaled >= line.quantityScaled else {
                throw StoreError(
                    .conflict,
                    "Insufficient stock of \(line.item.code) at \(principal.orgCode): short by "
                        + "\(ScaledQuantity.format(line.quantityScaled - balance.onHandScaled, scale: line.item.quantityScale)) \(line.item.baseUnit).",
                    field: "lines[\(index)].quantity")
            }
            let (cost, unitCost) = try inRange("lines[\(index)]", .conflict) { () throws(OutOfRange) in
                let cost = try MovingAverage.issueCost(valueFen: balance.valueFen, onHandScaled: balance.onHandScaled, quantityScaled: line.quantityScaled)
                return (cost, try MovingAverage.unitCost(valueFen: cost, quantityScaled: line.quantityScaled, scale: line.item.quantityScale))
            }
            moves.append(Move(itemID: line.item.id, quantityScaled: -line.quantityScaled, valueFen: -cost, unitCostFen: unitCost))
        }
        let inTransit = moves.map {
            Move(
                itemID: $0.itemID, quantityScaled: -$0.quantityScaled, valueFen: -$0.valueFen, unitCostFen: $0.unitCostFen,
                bucket: .inTransit)
        }
        try await insertMoves(moves + inTransit, document: ("transfer_dispatch", id))
        try await connection.query(
            """
            UPDATE transfers SET status = 'dispatched', dispatched_at = now()
            WHERE tenant_id = \(principal.tenantID.rawValue) AND transfer_id = \(id)
            """, logger: logger)
        order.status = "dispatched"
        return order
    }

    /// The sender cancels a transfer it has not dispatched.
    public func cancelTransfer(id: Int64) async throws -> TransferRecord {
        try await authorize(.postDocuments)
        _ = try await ownTransfer(id, as: \.fromCode, "cancel it (only its sender does)", status: "created")
        try await connection.query(
            """
            UPDATE transfers SET status = 'cancelled', cancelled_at = now()
            WHERE tenant_id = \(principal.tenantID.rawValue) AND transfer_id = \(id)
            """, logger: logger)
        try await audit("transfer.cancel", subject: String(id), detail: [:])
        return try await transfer(id: id)!
    }

    /// The receiver takes the goods in at landed cost (the transfer price of what arrived), with
    /// the actual freight and insurance and the loss: within the category's tolerance it is
    /// absorbed, beyond it an open claim. The actual cost gives the pricing error.
    public func receiveTransfer(id: Int64, report: ReceiptReport) async throws -> TransferRecord {
        try await authorize(.postDocuments)
        let order = try await ownTransfer(id, as: \.toCode, "receive it (only its receiver does)", status: "dispatched")
        for (field, amount) in [("freightFen", report.freightFen), ("insuranceFen", report.insuranceFen)]
        where !(0...Bounds.amountFenMax).contains(amount) {
            throw StoreError(.invalid, "\(field) must be 0–\(Bounds.amountFenMax) fen.", field: field)
        }
        for code in report.lost.keys where !order.lines.contains(where: { $0.item.code == code }) {
            throw StoreError(.conflict, "\(code) is not on transfer \(id).", field: "lost.\(code)")
        }
        let book = try await pricingRules()
        guard let rules = book.versions.first(where: { $0.version == order.rulesVersion }) else {
            throw StoreError(.conflict, "Pricing rules \(order.rulesVersion) are gone.")
        }
        let laneRow = try await connection.query(
            """
            SELECT r.distance_km, r.lead_time_hours, coalesce(r.markup_basis_points, 0)
            FROM transfers t JOIN relations r ON r.tenant_id = t.tenant_id AND r.relation_id = t.relation_id
            WHERE t.tenant_id = \(principal.tenantID.rawValue) AND t.transfer_id = \(id)
            """, logger: logger
        ).collect().first!
        let (distance, hours, markup) = try laneRow.decode((Int32, Int32, Int32).self)
        let lane = PricedLane(distanceKm: distance, leadTimeHours: hours, markupBasisPoints: Int64(markup))
        let estimates = try order.lines.map { line throws -> TransferPrice in
            try Self.price(line, lane: lane, rules: rules)
        }
        let freightShares = TransferPricing.allocate(report.freightFen, by: estimates.map(\.freight.fen))
        let insuranceShares = TransferPricing.allocate(report.insuranceFen, by: estimates.map(\.insurance.fen))
        var received = order
        var arrivals: [Move] = []
        var actualTotal: Int64 = 0
        for (index, line) in order.lines.enumerated() {
            let lost: Int64
            do {
                lost = try report.lost[line.item.code].map {
                    try ScaledQuantity.parse($0, scale: line.item.quantityScale, allowZero: true)
                } ?? 0
            } catch {
                throw StoreError(
                    quantity: (error as? ScaledQuantity.Problem) ?? .notADecimal, "The lost quantity must be a decimal with at most \(line.item.code)'s decimals (\(ScaledQuantity.decimals(ofScale: line.item.quantityScale))).",
                    field: "lost.\(line.item.code)")
            }
            guard lost <= line.quantityScaled else {
                throw StoreError(.conflict, "More was lost than was sent.", field: "lost.\(line.item.code)")
            }
            let priced = PricedLine(
                unitCostFen: line.unitCostFen, scaledQuantity: line.quantityScaled, quantityScale: line.item.quantityScale,
                weightGramsPerUnit: line.item.weightGramsPerUnit, category: line.item.category, shelfLifeDays: line.item.shelfLifeDays)
            let actual: TransferPrice
            let split: LossSplit
            do {
                actual = try TransferPricing.actual(
                    priced, lane: lane, rules: rules, freight: Money(fen: freightShares[index]), insurance: Money(fen: insuranceShares[index]),
                    lostScaledQuantity: lost)
                split = try TransferPricing.lossSplit(priced, rules: rules, lostScaledQuantity: lost)
            } catch .outOfRange(let error) {
                throw StoreError(.conflict, "\(error.description.prefix(1).uppercased() + error.description.dropFirst()).", field: "freightFen")
            } catch {
                throw StoreError(.conflict, "Transfer \(id)'s line \(index + 1) cannot be priced again: \(error).")
            }
            let arrived = line.quantityScaled - lost
            let (total, landed, unitCost) = try inRange("freightFen", .conflict) { () throws(OutOfRange) in
                let landed = try Rounding.halfEven(Int128(line.totalFen) * Int128(arrived), dividedBy: Int128(line.quantityScaled), what: "the landed value")
                return (
                    try Bounds.amount(try Checked.sum([actualTotal, actual.total.fen], what: "the actual total"), "the actual total").fen,
                    landed, try MovingAverage.unitCost(valueFen: landed, quantityScaled: arrived, scale: line.item.quantityScale)
                )
            }
            actualTotal = total
            if arrived > 0 {
                arrivals.append(Move(itemID: line.item.id, quantityScaled: arrived, valueFen: landed, unitCostFen: unitCost))
            }
            received.lines[index] = line.booked(
                lost: lost, allowance: split.allowanceScaled, claim: split.claimScaled, claimValueFen: split.claimValueFen, landedValueFen: landed)
        }
        let error = try inRange("freightFen", .conflict) { () throws(OutOfRange) in
            try TransferPricing.errorPartsPerMillion(estimate: Money(fen: order.estimateTotalFen), actual: Money(fen: actualTotal))
        }
        let flagged = error.map { abs($0) > rules.errorTolerancePartsPerMillion } ?? false
        let lines = received.lines
        try await connection.query(
            """
            UPDATE transfer_lines l
            SET lost_scaled = b.lost, allowance_scaled = b.allowance, claim_scaled = b.claim, claim_value_fen = b.claim_value,
                landed_value_fen = b.landed
            FROM unnest(\(lines.map { $0.lostScaled! })::bigint[], \(lines.map { $0.allowanceScaled! })::bigint[],
                \(lines.map { $0.claimScaled! })::bigint[], \(lines.map { $0.claimValueFen! })::bigint[], \(lines.map { $0.landedValueFen! })::bigint[])
                WITH ORDINALITY AS b (lost, allowance, claim, claim_value, landed, line_no)
            WHERE l.tenant_id = \(principal.tenantID.rawValue) AND l.transfer_id = \(id) AND l.line_no = b.line_no
            """, logger: logger)
        try await audit(
            "transfer.receive", subject: String(id), detail: ["actual_fen": String(actualTotal), "error_ppm": error.map(String.init) ?? "-"])
        // Marking it received takes the lines out of the sender's in-transit (the database's moves:
        // the receiver writes no row of the sender's), and the receiver's moves take what arrived
        // in. Balances of two orgs are locked in the order of their codes, so receipts on a lane
        // and on its reverse never wait on each other crosswise.
        let markReceived = {
            try await connection.query(
                """
                UPDATE transfers SET status = 'received', received_at = now(), actual_freight_fen = \(report.freightFen),
                    actual_insurance_fen = \(report.insuranceFen), actual_total_fen = \(actualTotal), error_ppm = \(error), flagged = \(flagged)
                WHERE tenant_id = \(principal.tenantID.rawValue) AND transfer_id = \(id)
                """, logger: logger)
        }
        let senderFirst = order.fromCode < order.toCode
        if senderFirst { try await markReceived() }
        if !arrivals.isEmpty { try await insertMoves(arrivals, document: ("transfer_receipt", id)) }
        if !senderFirst { try await markReceived() }
        received.status = "received"
        received.actualFreightFen = report.freightFen
        received.actualInsuranceFen = report.insuranceFen
        received.actualTotalFen = actualTotal
        received.errorPartsPerMillion = error
        received.flagged = flagged
        return received
    }

    /// HQ approves a flagged transfer's true-up: the difference actual − estimate is settled
    /// between the two orgs (the receivable and payable become the actual cost).
    public func trueUpTransfer(id: Int64) async throws -> TransferRecord {
        try require(.trueUpTransfers)
        guard let found = try await transfer(id: id) else { throw StoreError(.notFound, "No transfer \(id) in your sandbox.") }
        guard found.status == "received", found.flagged, let actual = found.actualTotalFen else {
            throw StoreError(.conflict, "Only a received, flagged transfer is trued up; transfer \(id) is \(found.status)\(found.flagged ? "" : ", not flagged").")
        }
        guard found.trueUpFen == nil else { throw StoreError(.conflict, "Transfer \(id) is trued up already.") }
        // Both are stored, non-negative amounts, so the difference fits.
        let trueUp = actual - found.estimateTotalFen
        try await connection.query(
            """
            UPDATE transfers SET true_up_fen = \(trueUp), trued_up_by = \(principal.principalID), trued_up_at = now()
            WHERE tenant_id = \(principal.tenantID.rawValue) AND transfer_id = \(id)
            """, logger: logger)
        try await audit("transfer.true_up", subject: String(id), detail: ["true_up_fen": String(trueUp)])
        return try await transfer(id: id)!
    }

    /// A transfer either party can see; nil outside the sandbox.
    public func transfer(id: Int64) async throws -> TransferRecord? {
        guard var found = try await transferHeader(id: id) else { return nil }
        found.lines = try await transferLines(id: id)
        return found
    }

    // MARK: private

    /// The header, without lines.
    private func transferHeader(id: Int64) async throws -> TransferRecord? {
        let header = try await connection.query(
            """
            SELECT from_code, to_code, status, rules_version, estimate_total_fen, actual_freight_fen, actual_insurance_fen,
                actual_total_fen, error_ppm, flagged, true_up_fen
            FROM transfers WHERE tenant_id = \(principal.tenantID.rawValue) AND transfer_id = \(id)
            """, logger: logger
        ).collect().first
        guard let header else { return nil }
        let h = try header.decode((String, String, String, String, Int64, Int64?, Int64?, Int64?, Int64?, Bool, Int64?).self)
        return TransferRecord(
            id: id, fromCode: h.0, toCode: h.1, status: h.2, rulesVersion: h.3, estimateTotalFen: h.4, actualFreightFen: h.5,
            actualInsuranceFen: h.6, actualTotalFen: h.7, errorPartsPerMillion: h.8, flagged: h.9, trueUpFen: h.10, lines: [])
    }

    /// The lines with their items, in line order.
    private func transferLines(id: Int64) async throws -> [TransferRecord.Line] {
        let rows = try await connection.query(
            """
            SELECT l.quantity_scaled, l.unit_cost_fen, l.freight_fen, l.total_fen, l.breakdown::text, l.lost_scaled, l.allowance_scaled,
                l.claim_scaled, l.claim_value_fen, l.landed_value_fen,
                i.item_id, i.code, i.name, i.base_unit, i.quantity_scale, i.weight_grams_per_unit, i.category, i.shelf_life_days, i.tax_code,
                i.tax_rate_basis_points
            FROM transfer_lines l JOIN items i ON i.tenant_id = l.tenant_id AND i.item_id = l.item_id
            WHERE l.tenant_id = \(principal.tenantID.rawValue) AND l.transfer_id = \(id) ORDER BY l.line_no
            """, logger: logger)
        var lines: [TransferRecord.Line] = []
        for try await row in rows {
            let c = try row.decode(
                (Int64, Int64, Int64, Int64, String, Int64?, Int64?, Int64?, Int64?, Int64?, Int64, String, String, String, Int64, Int64, String,
                    Int32, String, Int32).self)
            let item = Item(
                id: c.10, code: c.11, name: c.12, baseUnit: c.13, quantityScale: c.14, weightGramsPerUnit: c.15, category: c.16,
                shelfLifeDays: c.17, taxCode: c.18, taxRateBasisPoints: c.19)
            lines.append(.init(
                item: item, quantityScaled: c.0, unitCostFen: c.1, freightFen: c.2, totalFen: c.3, components: try Self.components(c.4), lostScaled: c.5,
                allowanceScaled: c.6, claimScaled: c.7, claimValueFen: c.8, landedValueFen: c.9))
        }
        return lines
    }

    /// The transfer, if the principal's org is its `side` and it is in `status`, with its header
    /// locked so two requests cannot both advance it.
    private func ownTransfer(
        _ id: Int64, as side: KeyPath<TransferRecord, String>, _ action: String, status: String
    ) async throws -> TransferRecord {
        guard var found = try await transferHeader(id: id) else { throw StoreError(.notFound, "No transfer \(id) in your sandbox.") }
        guard found[keyPath: side] == principal.orgCode.rawValue else {
            throw StoreError(.forbidden, "Transfer \(id) is not yours to \(action).")
        }
        // Only the status moves while the header is unlocked; the rest changes only when it does.
        let current = try await connection.query(
            "SELECT status FROM transfers WHERE tenant_id = \(principal.tenantID.rawValue) AND transfer_id = \(id) FOR UPDATE", logger: logger
        ).collect().first?.decode(String.self)
        guard let current, current == status else {
            throw StoreError(.conflict, "Transfer \(id) is \(current ?? found.status); it must be \(status) to \(action.split(separator: " ").first ?? "").")
        }
        found.status = current
        found.status = current
        found.lines = try await transferLines(id: id)
        return found
    }

    private static func price(_ line: TransferRecord.Line, lane: PricedLane, rules: PricingRules) throws -> TransferPrice {
        try TransferPricing.price(
            PricedLine(
                unitCostFen: line.unitCostFen, scaledQuantity: line.quantityScaled, quantityScale: line.item.quantityScale,
                weightGramsPerUnit: line.item.weightGramsPerUnit, category: line.item.category, shelfLifeDays: line.item.shelfLifeDays),
            lane: lane, rules: rules)
    }

    /// How a line's price components are kept in `transfer_lines.breakdown`.
    private struct StoredComponent: Codable {
        let name: String
        let amountFen: Int64
        let explanation: String
    }

    private static func breakdownJSON(_ price: TransferPrice) throws -> String {
        let stored = price.components.map { StoredComponent(name: $0.name, amountFen: $0.amount.fen, explanation: $0.explanation) }
        return String(decoding: try JSONEncoder().encode(stored), as: UTF8.self)
    }

    private static func components(_ breakdown: String) throws -> [TransferPrice.Component] {
        try JSONDecoder().decode([StoredComponent].self, from: Data(breakdown.utf8)).map {
            TransferPrice.Component(name: $0.name, amount: Money(fen: $0.amountFen), explanation: $0.explanation)
        }
    }
}
