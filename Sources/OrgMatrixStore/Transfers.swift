import Foundation
import NIOCore
import OrgMatrixCore
import PostgresNIO

/// A transfer as both parties read it: one object, the sender's internal sale and receivable,
/// the receiver's internal purchase and payable. The state machine's state (`state`, Core's)
/// with each line's item, and the figures named as the API renders them.
public struct TransferRecord: Sendable {
    public struct Line: Sendable {
        public let item: Item
        public let quantityScaled: Int64
        /// The moving-average unit cost the line was priced at.
        public let unitCostFen: Int64
        public let freightFen: Int64
        public let totalFen: Int64
        /// The estimate, component by component, as stored when the transfer was priced.
        public let components: [TransferPrice.Component]
        /// Set by the receipt.
        public let lostScaled: Int64?
        public let allowanceScaled: Int64?
        public let claimScaled: Int64?
        public let claimValueFen: Int64?
        public let landedValueFen: Int64?
    }

    public let state: TransferState
    /// The item of each line, in line order.
    public let items: [Item]
    /// The ledger transactions evidencing its steps, in the order they were written.
    public internal(set) var evidence: [TransferEvidence] = []

    public var id: Int64 { state.id }
    public var fromCode: String { state.order.from.rawValue }
    public var toCode: String { state.order.to.rawValue }
    public var status: TransferStatus { state.status }
    public var rulesVersion: String { state.order.rulesVersion }
    public var estimateTotalFen: Int64 { state.order.estimateTotalFen }
    public var actualFreightFen: Int64? { state.receipt?.actualFreightFen }
    public var actualInsuranceFen: Int64? { state.receipt?.actualInsuranceFen }
    public var actualTotalFen: Int64? { state.receipt?.actualTotalFen }
    public var errorPartsPerMillion: Int64? { state.receipt?.errorPartsPerMillion }
    public var flagged: Bool { state.receipt?.flagged ?? false }
    /// Actual − estimate, settled by HQ's true-up of a flagged transfer.
    public var trueUpFen: Int64? { state.receipt?.trueUpFen }
    /// What HQ's settlement of the receipt's claim recovered.
    public var claimRecoveredFen: Int64? { state.receipt?.claimRecoveredFen }

    public var lines: [Line] {
        state.order.lines.enumerated().map { index, line in
            let booked = state.receipt?.lines[index]
            return Line(
                item: items[index], quantityScaled: line.goods.scaledQuantity, unitCostFen: line.goods.unitCostFen,
                freightFen: line.price.freight.fen,
                totalFen: line.price.total.fen, components: line.price.components, lostScaled: booked?.lostScaled,
                allowanceScaled: booked?.allowanceScaled, claimScaled: booked?.claimScaled, claimValueFen: booked?.claimValueFen,
                landedValueFen: booked?.landedValueFen)
        }
    }
}

/// One step's ledger transaction as the transfer shows it: pending, committed or disputed.
public struct TransferEvidence: Sendable {
    public let type: LedgerTransactionType
    public let hash: LedgerHash
    public let status: LedgerStatus
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

/// The transfer commands: each reads the transfer's state (locked), lets Core's state machine
/// decide, and writes the event it returns. No transfer figure is computed here.
extension Sandbox {
    /// A priced transfer from the principal's own org to `to`, on the lane between them.
    public func createTransfer(to: OrgCode, lines: [PostingLine]) async throws -> TransferRecord {
        try await authorize(.postDocuments)
        // Priced at the database's moment of this transaction, which the row records as its
        // created_at and the dispatch's ledger body as its priced_at.
        let now = try await connection.query("SELECT now()", logger: logger).collect().first!.decode(Date.self)
        let pricedAt = UTCMicros(now)
        let inputs = try await pricingInputs(
            from: principal.orgCode, to: to,
            lines: lines.map { QuoteLine(itemCode: $0.itemCode, quantity: $0.quantity, unitCostFen: nil) },
            at: now)
        let stock = Dictionary(
            try await balances(org: principal.orgCode.rawValue, itemCodes: lines.map(\.itemCode)).map {
                ($0.item.code, $0.onHandScaled)
            },
            uniquingKeysWith: { first, _ in first })
        let created: TransferEvent.Created
        do {
            created = try TransferRules.create(
                from: principal.orgCode, to: to, goods: inputs.goods, onHandScaled: inputs.items.map { stock[$0.code] ?? 0 },
                lane: inputs.lane,
                rules: inputs.rules, pricedAt: pricedAt)
        } catch {
            throw refusal(error, id: nil, items: inputs.items, creatingWith: inputs.rules.version)
        }
        let id = try await insert(created, laneRelationID: inputs.laneRelationID, items: inputs.items)
        try await audit(
            "transfer.create", subject: String(id),
            detail: ["to": to.rawValue, "estimate_fen": String(created.order.estimateTotalFen)])
        return TransferRecord(state: TransferState(id: id, created: created), items: inputs.items)
    }

    /// The sender ships: stock leaves its balance at the moving average into its in-transit, by
    /// two moves per line (−on hand, +in transit, the same value); the database refuses the
    /// dispatched state without exactly these. `privateValues` (a carrier's name and contract
    /// price) go into its ledger transaction as commitments and are stored sealed (Schema/0018).
    public func dispatchTransfer(id: Int64, privateValues: [LedgerPrivateField: JSONValue] = [:]) async throws -> TransferRecord {
        try await authorize(.postDocuments)
        let salted = try salted(privateValues, in: TransferEvent.Dispatched.ledgerType)
        if !salted.isEmpty { _ = try masterKeyForPrivateValues() }
        let found = try await lockedTransfer(id, for: .dispatch)
        try await audit("transfer.dispatch", subject: String(id), detail: [:])
        // The sender's balances are the rows every posting at this warehouse queues on, so they
        // are locked last and held for three statements only.
        let balances = try await lockedBalances(itemIDs: found.items.map(\.id))
        let dispatched: TransferEvent.Dispatched
        do {
            dispatched = try found.state.dispatch(
                by: principal.orgCode,
                balances: found.items.map { item in
                    balances[item.id].map { StockOnHand(onHandScaled: $0.onHandScaled, valueFen: $0.valueFen) }
                        ?? StockOnHand(onHandScaled: 0, valueFen: 0)
                })
        } catch {
            throw refusal(error, id: id, items: found.items, step: .dispatch)
        }
        let onHand = zip(found.items, zip(found.state.order.lines, dispatched.lines)).map { item, lines in
            let (ordered, issued) = lines
            return Move(
                itemID: item.id, quantityScaled: -ordered.goods.scaledQuantity, valueFen: -issued.issueValueFen,
                unitCostFen: issued.issueUnitCostFen)
        }
        let inTransit = onHand.map {
            Move(
                itemID: $0.itemID, quantityScaled: -$0.quantityScaled, valueFen: -$0.valueFen, unitCostFen: $0.unitCostFen,
                bucket: .inTransit)
        }
        try await insertMoves(onHand + inTransit, document: ("transfer_dispatch", id))
        try await connection.query(
            """
            UPDATE transfers SET status = 'dispatched', dispatched_at = now()
            WHERE tenant_id = \(principal.tenantID.rawValue) AND transfer_id = \(id)
            """, logger: logger)
        try await evidence(dispatched, transferID: id, privateValues: salted)
        return try await withEvidence(TransferRecord(state: found.state.applying(.dispatched(dispatched)), items: found.items))
    }

    /// The sender cancels a transfer it has not dispatched.
    public func cancelTransfer(id: Int64) async throws -> TransferRecord {
        try await authorize(.postDocuments)
        let found = try await lockedTransfer(id, for: .cancel)
        let cancelled: TransferEvent.Cancelled
        do {
            cancelled = try found.state.cancel(by: principal.orgCode)
        } catch {
            throw refusal(error, id: id, items: found.items, step: .cancel)
        }
        try await connection.query(
            """
            UPDATE transfers SET status = 'cancelled', cancelled_at = now()
            WHERE tenant_id = \(principal.tenantID.rawValue) AND transfer_id = \(id)
            """, logger: logger)
        try await audit("transfer.cancel", subject: String(id), detail: [:])
        return TransferRecord(state: found.state.applying(.cancelled(cancelled)), items: found.items)
    }

    /// The receiver takes the goods in at landed cost (the transfer price of what arrived), with
    /// the actual freight and insurance and the loss: within the category's tolerance it is
    /// absorbed, beyond it an open claim. The actual cost gives the pricing error.
    public func receiveTransfer(id: Int64, report: ReceiptReport) async throws -> TransferRecord {
        try await authorize(.postDocuments)
        let found = try await lockedTransfer(id, for: .receive)
        let order = found.state.order
        for code in report.lost.keys.sorted() where !order.lines.contains(where: { $0.itemCode == code }) {
            throw StoreError(.conflict, "\(code) is not on transfer \(id).", field: "lost.\(code)")
        }
        let book = try await pricingRules()
        guard let rules = book.versions.first(where: { $0.version == order.rulesVersion }) else {
            throw StoreError(.conflict, "Pricing rules \(order.rulesVersion) are gone.")
        }
        var lost: [Int64] = []
        for item in found.items {
            guard let text = report.lost[item.code] else {
                lost.append(0)
                continue
            }
            do {
                lost.append(try ScaledQuantity.parse(text, scale: item.quantityScale, allowZero: true))
            } catch {
                throw StoreError(
                    quantity: error,
                    "The lost quantity must be a decimal with at most \(item.code)'s decimals (\(ScaledQuantity.decimals(ofScale: item.quantityScale))).",
                    field: "lost.\(item.code)")
            }
        }
        let received: TransferEvent.Received
        do {
            received = try found.state.receive(
                by: principal.orgCode,
                report: ArrivalReport(freightFen: report.freightFen, insuranceFen: report.insuranceFen, lostScaled: lost),
                rules: rules)
        } catch {
            throw refusal(error, id: id, items: found.items, step: .receive)
        }
        let lines = received.lines
        try await connection.query(
            """
            UPDATE transfer_lines l
            SET lost_scaled = b.lost, allowance_scaled = b.allowance, claim_scaled = b.claim, claim_value_fen = b.claim_value,
                landed_value_fen = b.landed
            FROM unnest(\(lines.map(\.lostScaled))::bigint[], \(lines.map(\.allowanceScaled))::bigint[],
                \(lines.map(\.claimScaled))::bigint[], \(lines.map(\.claimValueFen))::bigint[], \(lines.map(\.landedValueFen))::bigint[])
                WITH ORDINALITY AS b (lost, allowance, claim, claim_value, landed, line_no)
            WHERE l.tenant_id = \(principal.tenantID.rawValue) AND l.transfer_id = \(id) AND l.line_no = b.line_no
            """, logger: logger)
        try await audit(
            "transfer.receive", subject: String(id),
            detail: [
                "actual_fen": String(received.actualTotalFen), "error_ppm": received.errorPartsPerMillion.map(String.init) ?? "-",
            ])
        // Marking it received takes the lines out of the sender's in-transit (the database's moves:
        // the receiver writes no row of the sender's), and the receiver's moves take what arrived
        // in. Balances of two orgs are locked in the order of their codes, so receipts on a lane
        // and on its reverse never wait on each other crosswise.
        let markReceived = {
            _ = try await connection.query(
                """
                UPDATE transfers SET status = 'received', received_at = now(), actual_freight_fen = \(received.actualFreightFen),
                    actual_insurance_fen = \(received.actualInsuranceFen), actual_total_fen = \(received.actualTotalFen),
                    error_ppm = \(received.errorPartsPerMillion), flagged = \(received.flagged)
                WHERE tenant_id = \(principal.tenantID.rawValue) AND transfer_id = \(id)
                """, logger: logger)
        }
        let arrivals = zip(found.items, lines).filter { $1.arrivedScaled > 0 }.map { item, line in
            Move(
                itemID: item.id, quantityScaled: line.arrivedScaled, valueFen: line.landedValueFen,
                unitCostFen: line.landedUnitCostFen)
        }
        let senderFirst = order.from < order.to
        if senderFirst { try await markReceived() }
        if !arrivals.isEmpty { try await insertMoves(arrivals, document: ("transfer_receipt", id)) }
        if !senderFirst { try await markReceived() }
        try await evidence(received, transferID: id)
        return try await withEvidence(TransferRecord(state: found.state.applying(.received(received)), items: found.items))
    }

    /// HQ approves a flagged transfer's true-up: the difference actual − estimate is settled
    /// between the two orgs (the receivable and payable become the actual cost).
    public func trueUpTransfer(id: Int64) async throws -> TransferRecord {
        try require(.trueUpTransfers)
        let found = try await lockedTransfer(id, for: .trueUp)
        let truedUp: TransferEvent.TruedUp
        do {
            truedUp = try found.state.trueUp()
        } catch {
            throw refusal(error, id: id, items: found.items, step: .trueUp)
        }
        try await connection.query(
            """
            UPDATE transfers SET true_up_fen = \(truedUp.trueUpFen), trued_up_by = \(principal.principalID), trued_up_at = now()
            WHERE tenant_id = \(principal.tenantID.rawValue) AND transfer_id = \(id)
            """, logger: logger)
        try await audit("transfer.true_up", subject: String(id), detail: ["true_up_fen": String(truedUp.trueUpFen)])
        try await evidence(truedUp, transferID: id)
        return try await withEvidence(TransferRecord(state: found.state.applying(.truedUp(truedUp)), items: found.items))
    }

    /// HQ settles a received transfer's claim against the carrier or insurer, once:
    /// `recoveredFen` (0 … the claim's value) came back, the rest is written off.
    public func settleTransferClaim(id: Int64, recoveredFen: Int64) async throws -> TransferRecord {
        try require(.settleClaims)
        let found = try await lockedTransfer(id, for: .settleClaim)
        let settled: TransferEvent.ClaimSettled
        do {
            settled = try found.state.settleClaim(recoveredFen: recoveredFen)
        } catch {
            throw refusal(error, id: id, items: found.items, step: .settleClaim)
        }
        try await connection.query(
            """
            UPDATE transfers SET claim_recovered_fen = \(settled.recoveredFen), claim_settled_by = \(principal.principalID),
                claim_settled_at = now()
            WHERE tenant_id = \(principal.tenantID.rawValue) AND transfer_id = \(id)
            """, logger: logger)
        try await audit(
            "transfer.claim_settle", subject: String(id),
            detail: ["claim_value_fen": String(settled.claimValueFen), "recovered_fen": String(settled.recoveredFen)])
        try await evidence(settled, transferID: id)
        return try await withEvidence(TransferRecord(state: found.state.applying(.claimSettled(settled)), items: found.items))
    }

    /// A transfer either party can see; nil outside the sandbox.
    public func transfer(id: Int64) async throws -> TransferRecord? {
        guard let header = try await transferHeader(id: id, locked: false) else { return nil }
        return try await withEvidence(try await record(header, id: id))
    }

    // MARK: private

    /// Writes the step's ledger transaction in this database transaction (Schema/0013 holds the
    /// two together) and endorses it as the acting org when its key is custodial.
    private func evidence<Event: TransferLedgerEvent>(_ event: Event, transferID: Int64, privateValues: [LedgerPrivateValue] = []) async throws {
        let record = try await recordLedgerTransaction(
            Event.ledgerType, body: event.ledgerBody, endorsers: try await transferEndorsers(transferID: transferID), transferID: transferID,
            privateValues: privateValues)
        _ = try await endorseOwnPosting(record)
    }

    /// The record with its ledger transactions, as the sandbox shows them (from their rows, so a
    /// transaction whose bytes were tampered with still shows; the verifier judges the bytes).
    private func withEvidence(_ record: TransferRecord) async throws -> TransferRecord {
        var record = record
        let rows = try await connection.query(
            """
            SELECT t.tx_type, t.tx_hash,
                EXISTS (SELECT 1 FROM ledger_commits c WHERE c.tenant_id = t.tenant_id AND c.tx_hash = t.tx_hash),
                (SELECT d.org_code FROM ledger_disputes d WHERE d.tenant_id = t.tenant_id AND d.tx_hash = t.tx_hash),
                (SELECT d.reason FROM ledger_disputes d WHERE d.tenant_id = t.tenant_id AND d.tx_hash = t.tx_hash)
            FROM ledger_transactions t
            WHERE t.tenant_id = \(principal.tenantID.rawValue) AND t.transfer_id = \(record.id) ORDER BY t.written_at, t.tx_type
            """, logger: logger)
        for try await (type, hash, committed, disputer, reason) in rows.decode((String, ByteBuffer, Bool, String?, String?).self) {
            guard let type = LedgerTransactionType(rawValue: type) else { continue }
            let status = try LedgerStatus(committed: committed, disputedBy: disputer, reason: reason)
            record.evidence.append(TransferEvidence(type: type, hash: try LedgerHash(bytes(hash)), status: status))
        }
        return record
    }

    /// The transfer `step` advances, with its header locked so two requests cannot both advance
    /// it. The lock needs the row to be one the principal may update; when it is not, the
    /// unlocked read tells a transfer outside the sandbox (404) from another party's (403).
    private func lockedTransfer(_ id: Int64, for step: TransferStep) async throws -> TransferRecord {
        if let header = try await transferHeader(id: id, locked: true) { return try await record(header, id: id) }
        guard let header = try await transferHeader(id: id, locked: false) else {
            throw StoreError(.notFound, "No transfer \(id) in your sandbox.")
        }
        let found = try await record(header, id: id)
        do {
            try found.state.requireParty(step, org: principal.orgCode)
        } catch {
            throw refusal(error, id: id, items: found.items, step: step)
        }
        throw StoreError(.forbidden, "Transfer \(id) is not yours to \(step).")
    }

    /// The header's columns, as `transferHeader` reads them.
    private struct Header {
        let from: String
        let to: String
        let status: String
        let rulesVersion: String
        let estimateTotalFen: Int64
        let actualFreightFen: Int64?
        let actualInsuranceFen: Int64?
        let actualTotalFen: Int64?
        let errorPartsPerMillion: Int64?
        let flagged: Bool
        let trueUpFen: Int64?
        let claimRecoveredFen: Int64?
        let lane: PricedLane
        let createdAt: UTCMicros
    }

    /// The header with its lane, locked `FOR UPDATE` when `locked`.
    private func transferHeader(id: Int64, locked: Bool) async throws -> Header? {
        let query: PostgresQuery =
            locked
            ? """
            SELECT t.from_code, t.to_code, t.status, t.rules_version, t.estimate_total_fen, t.actual_freight_fen, t.actual_insurance_fen,
                t.actual_total_fen, t.error_ppm, t.flagged, t.true_up_fen, t.claim_recovered_fen, r.distance_km, r.lead_time_hours,
                coalesce(r.markup_basis_points, 0), (extract(epoch FROM t.created_at) * 1000000)::bigint
            FROM transfers t JOIN relations r ON r.tenant_id = t.tenant_id AND r.relation_id = t.relation_id
            WHERE t.tenant_id = \(principal.tenantID.rawValue) AND t.transfer_id = \(id) FOR UPDATE OF t
            """
            : """
            SELECT t.from_code, t.to_code, t.status, t.rules_version, t.estimate_total_fen, t.actual_freight_fen, t.actual_insurance_fen,
                t.actual_total_fen, t.error_ppm, t.flagged, t.true_up_fen, t.claim_recovered_fen, r.distance_km, r.lead_time_hours,
                coalesce(r.markup_basis_points, 0), (extract(epoch FROM t.created_at) * 1000000)::bigint
            FROM transfers t JOIN relations r ON r.tenant_id = t.tenant_id AND r.relation_id = t.relation_id
            WHERE t.tenant_id = \(principal.tenantID.rawValue) AND t.transfer_id = \(id)
            """
        guard let row = try await connection.query(query, logger: logger).collect().first else { return nil }
        let h = try row.decode(
            (String, String, String, String, Int64, Int64?, Int64?, Int64?, Int64?, Bool, Int64?, Int64?, Int32?, Int32?, Int32)
                .self)
        guard let distance = h.12, let hours = h.13 else {
            throw StoreError(.conflict, "Transfer \(id)'s lane has no distance or lead time.")
        }
        return Header(
            from: h.0, to: h.1, status: h.2, rulesVersion: h.3, estimateTotalFen: h.4, actualFreightFen: h.5,
            actualInsuranceFen: h.6,
            actualTotalFen: h.7, errorPartsPerMillion: h.8, flagged: h.9, trueUpFen: h.10, claimRecoveredFen: h.11,
            lane: PricedLane(distanceKm: distance, leadTimeHours: hours, markupBasisPoints: Int64(h.14)),
            createdAt: UTCMicros(microsecondsSinceEpoch: try row.makeRandomAccess()[15].decode(Int64.self)))
    }

    /// The stored line, before it is a `TransferLine`.
    private struct StoredLine {
        let item: Item
        let line: TransferLine
        let booked: TransferState.Receipt.Line?
    }

    /// The transfer as the state machine holds it, from its header and its lines.
    private func record(_ header: Header, id: Int64) async throws -> TransferRecord {
        let stored = try await transferLines(id: id, rulesVersion: header.rulesVersion)
        guard let status = TransferStatus(rawValue: header.status) else {
            throw StoreError(.conflict, "Transfer \(id) is \(header.status).")
        }
        let order: TransferOrder
        do {
            order = try TransferOrder(
                from: try OrgCode(header.from), to: try OrgCode(header.to), rulesVersion: header.rulesVersion,
                pricedAt: header.createdAt, lane: header.lane, lines: stored.map(\.line))
        } catch {
            throw StoreError(.conflict, "Transfer \(id) as stored is not an order: \(error).")
        }
        let stage: TransferState.Stage
        switch status {
        case .created: stage = .created
        case .dispatched: stage = .dispatched
        case .cancelled: stage = .cancelled
        case .received:
            let booked = stored.compactMap(\.booked)
            guard booked.count == stored.count, let freight = header.actualFreightFen, let insurance = header.actualInsuranceFen,
                let actual = header.actualTotalFen
            else { throw StoreError(.conflict, "Transfer \(id) is received without its receipt's figures.") }
            stage = .received(
                .init(
                    actualFreightFen: freight, actualInsuranceFen: insurance, actualTotalFen: actual,
                    errorPartsPerMillion: header.errorPartsPerMillion,
                    flagged: header.flagged, lines: booked, trueUpFen: header.trueUpFen,
                    claimRecoveredFen: header.claimRecoveredFen))
        }
        return TransferRecord(state: TransferState(id: id, order: order, stage: stage), items: stored.map(\.item))
    }

    /// The lines with their items, in line order; the goods as the line was priced (the item's
    /// weight, category and shelf life then), the price from its stored components.
    private func transferLines(id: Int64, rulesVersion: String) async throws -> [StoredLine] {
        let rows = try await connection.query(
            """
            SELECT l.quantity_scaled, l.unit_cost_fen, l.weight_grams_per_unit, l.category, l.shelf_life_days, l.breakdown::text,
                l.lost_scaled, l.allowance_scaled, l.claim_scaled, l.claim_value_fen, l.landed_value_fen,
                i.item_id, i.code, i.name, i.base_unit, i.quantity_scale, i.weight_grams_per_unit, i.category, i.shelf_life_days, i.tax_code,
                i.tax_rate_basis_points
            FROM transfer_lines l JOIN items i ON i.tenant_id = l.tenant_id AND i.item_id = l.item_id
            WHERE l.tenant_id = \(principal.tenantID.rawValue) AND l.transfer_id = \(id) ORDER BY l.line_no
            """, logger: logger)
        var lines: [StoredLine] = []
        for try await row in rows {
            let c = try row.decode(
                (
                    Int64, Int64, Int64, String, Int32, String, Int64?, Int64?, Int64?, Int64?, Int64?, Int64, String, String,
                    String, Int64, Int64,
                    String, Int32, String, Int32
                ).self)
            let item = Item(
                id: c.11, code: c.12, name: c.13, baseUnit: c.14, quantityScale: c.15, weightGramsPerUnit: c.16, category: c.17,
                shelfLifeDays: c.18, taxCode: c.19, taxRateBasisPoints: c.20)
            let goods = PricedLine(
                unitCostFen: c.1, scaledQuantity: c.0, quantityScale: item.quantityScale, weightGramsPerUnit: c.2, category: c.3,
                shelfLifeDays: c.4)
            let price: TransferPrice
            do {
                price = try TransferPrice(rulesVersion: rulesVersion, components: try Self.components(c.5))
            } catch {
                throw StoreError(
                    .conflict, "Transfer \(id)'s line \(lines.count + 1) has a stored price that is not one: \(error).")
            }
            var booked: TransferState.Receipt.Line?
            if let lost = c.6, let allowance = c.7, let claim = c.8, let claimValue = c.9, let landed = c.10 {
                booked = .init(
                    lostScaled: lost, allowanceScaled: allowance, claimScaled: claim, claimValueFen: claimValue,
                    landedValueFen: landed)
            }
            lines.append(
                StoredLine(item: item, line: TransferLine(itemCode: item.code, goods: goods, price: price), booked: booked))
        }
        return lines
    }

    /// The created transfer's header and lines, as the database takes them; its id.
    private func insert(_ created: TransferEvent.Created, laneRelationID: Int64, items: [Item]) async throws -> Int64 {
        let order = created.order
        let toID = try await connection.query(
            "SELECT to_org_id FROM relations WHERE tenant_id = \(principal.tenantID.rawValue) AND relation_id = \(laneRelationID)",
            logger: logger
        ).collect().first!.decode(Int64.self)
        let id = try await connection.query(
            """
            INSERT INTO transfers (tenant_id, from_org_id, from_code, to_org_id, to_code, relation_id, status, rules_version,
                estimate_total_fen, created_by)
            VALUES (\(principal.tenantID.rawValue), \(principal.orgID.rawValue), \(order.from.rawValue), \(toID), \(order.to.rawValue),
                \(laneRelationID), 'created', \(order.rulesVersion), \(order.estimateTotalFen), \(principal.principalID))
            RETURNING transfer_id
            """, logger: logger
        ).collect().first!.decode(Int64.self)
        for (index, (item, line)) in zip(items, order.lines).enumerated() {
            let (goods, price) = (line.goods, line.price)
            try await connection.query(
                """
                INSERT INTO transfer_lines (tenant_id, transfer_id, line_no, from_org_id, to_org_id, item_id, quantity_scaled, unit_cost_fen,
                    weight_grams_per_unit, category, shelf_life_days, base_cost_fen, freight_fen, insurance_fen, loss_allowance_fen,
                    timeliness_fen, markup_fen, total_fen, breakdown)
                VALUES (\(principal.tenantID.rawValue), \(id), \(index + 1), \(principal.orgID.rawValue), \(toID), \(item.id),
                    \(goods.scaledQuantity), \(goods.unitCostFen), \(goods.weightGramsPerUnit), \(goods.category), \(goods.shelfLifeDays),
                    \(price.baseCost.fen), \(price.freight.fen), \(price.insurance.fen), \(price.lossAllowance.fen), \(price.timelinessPremium.fen),
                    \(price.markup.fen), \(price.total.fen), \(try Self.breakdownJSON(price))::jsonb)
                """, logger: logger)
        }
        return id
    }

    /// A refusal of the state machine as the API answers it: another party's step is 403, a
    /// figure the request states wrongly 422, anything that conflicts with the stored transfer or
    /// stock 409; each names the field. `step` is nil for a creation (priced with `rulesVersion`).
    private func refusal(
        _ error: TransferError, id: Int64?, items: [Item], step: TransferStep? = nil, creatingWith rulesVersion: String = ""
    ) -> StoreError {
        let transfer = id.map { "Transfer \($0)" } ?? "The transfer"
        switch error {
        case .notYourStep(let step, let party):
            return StoreError(.forbidden, "\(transfer) is not yours to \(step) (only its \(party) does).")
        case .wrongState(.trueUp, let status):
            return StoreError(.conflict, "Only a received, flagged transfer is trued up; \(transfer.lowercased()) is \(status).")
        case .wrongState(.settleClaim, let status):
            return StoreError(.conflict, "Only a received transfer's claim is settled; \(transfer.lowercased()) is \(status).")
        case .wrongState(let step, let status):
            return StoreError(.conflict, "\(transfer) is \(status); it must be \(step.from) to \(step).")
        case .notFlagged:
            return StoreError(
                .conflict, "Only a received, flagged transfer is trued up; \(transfer.lowercased()) is received, not flagged.")
        case .truedUpAlready:
            return StoreError(.conflict, "\(transfer) is trued up already.")
        case .noClaim:
            return StoreError(.conflict, "\(transfer)'s receipt claimed nothing: there is no claim to settle.")
        case .claimSettledAlready:
            return StoreError(.conflict, "\(transfer)'s claim is settled already.")
        case .recoveryOutsideClaim(let claimValue):
            return StoreError(.conflict, "recoveredFen must be 0–\(claimValue) fen, the claim's value.", field: "recoveredFen")
        case .itemTwice(let index):
            return StoreError(
                .invalid, "\(items[index].code) appears twice; put its quantities on one line.", field: "lines[\(index)].item")
        case .noLines, .invalidQuantity:
            return StoreError(
                .invalid, "A transfer has 1–\(PostingLimits.linesMax) lines, each of a positive quantity.", field: "lines")
        case .insufficientStock(let index, let short):
            let item = items[index]
            return StoreError(
                .conflict,
                "Insufficient stock of \(item.code) at \(principal.orgCode): short by "
                    + "\(ScaledQuantity.format(short, scale: item.quantityScale)) \(item.baseUnit).",
                field: "lines[\(index)].quantity")
        case .lostOutsideSent(let index):
            return StoreError(.conflict, "More was lost than was sent.", field: "lost.\(items[index].code)")
        case .reportedAmount(let field):
            return StoreError(.invalid, "\(field)Fen must be 0–\(Bounds.amountFenMax) fen.", field: "\(field)Fen")
        case .pricing where step == nil, .outOfRange where step == nil:
            return Self.pricingRefusal(error, rulesVersion: rulesVersion, items: items)
        case .outOfRange(let error, _) where step == .receive:
            // A receipt's actual cost follows the stored lines and the reported freight.
            return StoreError(.conflict, Self.sentence(error), field: "freightFen")
        case .outOfRange(let error, let index):
            return StoreError(.conflict, Self.sentence(error), field: index.map { "lines[\($0)]" })
        case .pricing(let index, let problem):
            return StoreError(.conflict, "\(transfer)'s line \(index + 1) cannot be priced again: \(problem).")
        case .lineCount, .rulesVersion:
            return StoreError(.conflict, "\(transfer) does not match its stored lines or rules: \(error).")
        }
    }

    /// How a line's price components are kept in `transfer_lines.breakdown`.
    private struct StoredComponent: Codable {
        let name: String
        let amountFen: Int64
        let explanation: String
    }

    private static func breakdownJSON(_ price: TransferPrice) throws -> String {
        let stored = price.components.map {
            StoredComponent(name: $0.name, amountFen: $0.amount.fen, explanation: $0.explanation)
        }
        return String(decoding: try JSONEncoder().encode(stored), as: UTF8.self)
    }

    private static func components(_ breakdown: String) throws -> [TransferPrice.Component] {
        try JSONDecoder().decode([StoredComponent].self, from: Data(breakdown.utf8)).map {
            TransferPrice.Component(name: $0.name, amount: Money(fen: $0.amountFen), explanation: $0.explanation)
        }
    }
}
