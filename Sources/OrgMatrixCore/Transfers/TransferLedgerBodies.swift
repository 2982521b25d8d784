/// A transfer event the ledger evidences: its transaction type, its body (docs/LEDGER.md,
/// "Transaction types"), and the body read back, so a verifier gets the values it recomputes.
/// Bodies hold integers only, under snake_case keys that say their units.
public protocol TransferLedgerEvent: Sendable, Hashable {
    static var ledgerType: LedgerTransactionType { get }
    var ledgerBody: JSONValue { get }
    /// The event `body` states; every key present, none other, each of its type.
    init(ledgerBody body: JSONValue) throws(LedgerDocumentError)
}

extension TransferEvent {
    /// The ledger transaction this event is, if it is one: creation and cancellation are not
    /// (the dispatch carries the priced lines; nothing moved before it).
    public var ledger: (type: LedgerTransactionType, body: JSONValue)? {
        switch self {
        case .created, .cancelled: nil
        case .dispatched(let event): (Dispatched.ledgerType, event.ledgerBody)
        case .received(let event): (Received.ledgerType, event.ledgerBody)
        case .truedUp(let event): (TruedUp.ledgerType, event.ledgerBody)
        case .claimSettled(let event): (ClaimSettled.ledgerType, event.ledgerBody)
        }
    }
}

// MARK: transfer.dispatched

extension TransferEvent.Dispatched: TransferLedgerEvent {
    public static let ledgerType = LedgerTransactionType.transferDispatched

    private static let keys: Set<String> = ["transfer_id", "from", "to", "rules_version", "priced_at", "lane", "estimate_total_fen", "lines"]
    private static let laneKeys: Set<String> = ["distance_km", "lead_time_hours", "markup_bp"]
    private static let lineKeys: Set<String> = [
        "item", "quantity_scaled", "quantity_scale", "weight_grams_per_unit", "category", "shelf_life_days", "unit_cost_fen",
        "components",
        "total_fen", "on_hand_before_scaled", "value_before_fen", "issue_value_fen", "issue_unit_cost_fen",
    ]
    private static let componentKeys: Set<String> = ["name", "amount_fen", "explanation"]

    /// The transfer, its lane, the rule version and every priced line with every component
    /// (and its words), with what the dispatch took from the sender's balance.
    public var ledgerBody: JSONValue {
        .object([
            "transfer_id": .integer(transferID),
            "from": .string(order.from.rawValue),
            "to": .string(order.to.rawValue),
            "rules_version": .string(order.rulesVersion),
            "priced_at": .string(order.pricedAt.description),
            "lane": .object([
                "distance_km": .integer(Int64(order.lane.distanceKm)),
                "lead_time_hours": .integer(Int64(order.lane.leadTimeHours)),
                "markup_bp": .integer(order.lane.markupBasisPoints),
            ]),
            "estimate_total_fen": .integer(order.estimateTotalFen),
            "lines": .array(
                zip(order.lines, lines).map { line, issue in
                    .object([
                        "item": .string(line.itemCode),
                        "quantity_scaled": .integer(line.goods.scaledQuantity),
                        "quantity_scale": .integer(line.goods.quantityScale),
                        "weight_grams_per_unit": .integer(line.goods.weightGramsPerUnit),
                        "category": .string(line.goods.category),
                        "shelf_life_days": .integer(Int64(line.goods.shelfLifeDays)),
                        "unit_cost_fen": .integer(line.goods.unitCostFen),
                        "components": .array(
                            line.price.components.map {
                                .object([
                                    "name": .string($0.name), "amount_fen": .integer($0.amount.fen),
                                    "explanation": .string($0.explanation),
                                ])
                            }),
                        "total_fen": .integer(line.price.total.fen),
                        "on_hand_before_scaled": .integer(issue.onHandBeforeScaled),
                        "value_before_fen": .integer(issue.valueBeforeFen),
                        "issue_value_fen": .integer(issue.issueValueFen),
                        "issue_unit_cost_fen": .integer(issue.issueUnitCostFen),
                    ])
                }),
        ])
    }

    public init(ledgerBody body: JSONValue) throws(LedgerDocumentError) {
        let fields = try LedgerFields(body, expected: Self.keys)
        let laneFields = try LedgerFields(try fields.value("lane"), expected: Self.laneKeys, path: "lane")
        let lane = PricedLane(
            distanceKm: try BodyFields.int32(laneFields, "distance_km"),
            leadTimeHours: try BodyFields.int32(laneFields, "lead_time_hours"),
            markupBasisPoints: try laneFields.integer("markup_bp"))
        let rulesVersion = try fields.string("rules_version")
        let pricedAt = try fields.moment("priced_at")
        var orderLines: [TransferLine] = []
        var issues: [Line] = []
        for (index, element) in try BodyFields.array(fields, "lines").enumerated() {
            let path = "lines[\(index)]"
            let line = try LedgerFields(element, expected: Self.lineKeys, path: path)
            var components: [TransferPrice.Component] = []
            for (position, component) in try BodyFields.array(line, "components").enumerated() {
                let parts = try LedgerFields(component, expected: Self.componentKeys, path: "\(path).components[\(position)]")
                components.append(
                    .init(
                        name: try parts.string("name"), amount: Money(fen: try parts.integer("amount_fen")),
                        explanation: try parts.string("explanation")))
            }
            let price: TransferPrice
            do {
                price = try TransferPrice(rulesVersion: rulesVersion, components: components)
            } catch {
                throw .malformed(field: "\(path).components", reason: "\(error)")
            }
            guard try line.integer("total_fen") == price.total.fen else {
                throw .malformed(field: "\(path).total_fen", reason: "must be the sum of the components, \(price.total.fen)")
            }
            let goods = PricedLine(
                unitCostFen: try line.integer("unit_cost_fen"), scaledQuantity: try line.integer("quantity_scaled"),
                quantityScale: try line.integer("quantity_scale"), weightGramsPerUnit: try line.integer("weight_grams_per_unit"),
                category: try line.string("category"), shelfLifeDays: try BodyFields.int32(line, "shelf_life_days"))
            orderLines.append(TransferLine(itemCode: try line.string("item"), goods: goods, price: price))
            issues.append(
                Line(
                    onHandBeforeScaled: try line.integer("on_hand_before_scaled"),
                    valueBeforeFen: try line.integer("value_before_fen"),
                    issueValueFen: try line.integer("issue_value_fen"), issueUnitCostFen: try line.integer("issue_unit_cost_fen"))
            )
        }
        let (from, to) = (try BodyFields.orgCode(fields, "from"), try BodyFields.orgCode(fields, "to"))
        let order: TransferOrder
        do {
            order = try TransferOrder(from: from, to: to, rulesVersion: rulesVersion, pricedAt: pricedAt, lane: lane, lines: orderLines)
        } catch {
            throw .malformed(field: "lines", reason: "\(error)")
        }
        guard try fields.integer("estimate_total_fen") == order.estimateTotalFen else {
            throw .malformed(
                field: "estimate_total_fen", reason: "must be the sum of the lines' totals, \(order.estimateTotalFen)")
        }
        self.init(transferID: try fields.integer("transfer_id"), order: order, lines: issues)
    }
}

// MARK: transfer.received

extension TransferEvent.Received: TransferLedgerEvent {
    public static let ledgerType = LedgerTransactionType.transferReceived

    private static let keys: Set<String> = [
        "transfer_id", "actual_freight_fen", "actual_insurance_fen", "lines", "actual_total_fen", "error_ppm", "flagged",
    ]
    private static let lineKeys: Set<String> = [
        "item", "lost_scaled", "arrived_scaled", "allowance_scaled", "claim_scaled", "claim_value_fen", "freight_fen",
        "insurance_fen",
        "actual_total_fen", "landed_value_fen", "landed_unit_cost_fen",
    ]

    /// The actual freight and insurance and their shares per line; per line what was lost, the
    /// allowance, the claim and its value, the actual cost and the landed value; the actual
    /// total, the pricing error (null when the actual cost is 0) and the flag.
    public var ledgerBody: JSONValue {
        .object([
            "transfer_id": .integer(transferID),
            "actual_freight_fen": .integer(actualFreightFen),
            "actual_insurance_fen": .integer(actualInsuranceFen),
            "lines": .array(
                lines.map { line in
                    .object([
                        "item": .string(line.itemCode),
                        "lost_scaled": .integer(line.lostScaled),
                        "arrived_scaled": .integer(line.arrivedScaled),
                        "allowance_scaled": .integer(line.allowanceScaled),
                        "claim_scaled": .integer(line.claimScaled),
                        "claim_value_fen": .integer(line.claimValueFen),
                        "freight_fen": .integer(line.freightFen),
                        "insurance_fen": .integer(line.insuranceFen),
                        "actual_total_fen": .integer(line.actualTotalFen),
                        "landed_value_fen": .integer(line.landedValueFen),
                        "landed_unit_cost_fen": .integer(line.landedUnitCostFen),
                    ])
                }),
            "actual_total_fen": .integer(actualTotalFen),
            "error_ppm": errorPartsPerMillion.map(JSONValue.integer) ?? .null,
            "flagged": .bool(flagged),
        ])
    }

    public init(ledgerBody body: JSONValue) throws(LedgerDocumentError) {
        let fields = try LedgerFields(body, expected: Self.keys)
        var lines: [Line] = []
        for (index, element) in try BodyFields.array(fields, "lines").enumerated() {
            let line = try LedgerFields(element, expected: Self.lineKeys, path: "lines[\(index)]")
            lines.append(
                Line(
                    itemCode: try line.string("item"), lostScaled: try line.integer("lost_scaled"),
                    arrivedScaled: try line.integer("arrived_scaled"),
                    allowanceScaled: try line.integer("allowance_scaled"), claimScaled: try line.integer("claim_scaled"),
                    claimValueFen: try line.integer("claim_value_fen"), freightFen: try line.integer("freight_fen"),
                    insuranceFen: try line.integer("insurance_fen"), actualTotalFen: try line.integer("actual_total_fen"),
                    landedValueFen: try line.integer("landed_value_fen"),
                    landedUnitCostFen: try line.integer("landed_unit_cost_fen")))
        }
        let error: Int64?
        switch try fields.value("error_ppm") {
        case .null: error = nil
        case .integer(let ppm): error = ppm
        default: throw .malformed(field: "error_ppm", reason: "must be an integer or null")
        }
        self.init(
            transferID: try fields.integer("transfer_id"), actualFreightFen: try fields.integer("actual_freight_fen"),
            actualInsuranceFen: try fields.integer("actual_insurance_fen"), lines: lines,
            actualTotalFen: try fields.integer("actual_total_fen"),
            errorPartsPerMillion: error, flagged: try BodyFields.bool(fields, "flagged"))
    }
}

// MARK: transfer.trued_up

extension TransferEvent.TruedUp: TransferLedgerEvent {
    public static let ledgerType = LedgerTransactionType.transferTruedUp

    private static let keys: Set<String> = ["transfer_id", "estimate_total_fen", "actual_total_fen", "true_up_fen"]

    /// The true-up amount, with the estimate and the actual cost it is the difference of.
    public var ledgerBody: JSONValue {
        .object([
            "transfer_id": .integer(transferID), "estimate_total_fen": .integer(estimateTotalFen),
            "actual_total_fen": .integer(actualTotalFen),
            "true_up_fen": .integer(trueUpFen),
        ])
    }

    public init(ledgerBody body: JSONValue) throws(LedgerDocumentError) {
        let fields = try LedgerFields(body, expected: Self.keys)
        self.init(
            transferID: try fields.integer("transfer_id"), estimateTotalFen: try fields.integer("estimate_total_fen"),
            actualTotalFen: try fields.integer("actual_total_fen"), trueUpFen: try fields.integer("true_up_fen"))
    }
}

// MARK: claim.settled

extension TransferEvent.ClaimSettled: TransferLedgerEvent {
    public static let ledgerType = LedgerTransactionType.claimSettled

    private static let keys: Set<String> = ["transfer_id", "claim_value_fen", "recovered_fen", "unrecovered_fen"]

    /// The claim settled (its value) and what was recovered of it, and what was not.
    public var ledgerBody: JSONValue {
        .object([
            "transfer_id": .integer(transferID), "claim_value_fen": .integer(claimValueFen),
            "recovered_fen": .integer(recoveredFen),
            "unrecovered_fen": .integer(unrecoveredFen),
        ])
    }

    public init(ledgerBody body: JSONValue) throws(LedgerDocumentError) {
        let fields = try LedgerFields(body, expected: Self.keys)
        self.init(
            transferID: try fields.integer("transfer_id"), claimValueFen: try fields.integer("claim_value_fen"),
            recoveredFen: try fields.integer("recovered_fen"), unrecoveredFen: try fields.integer("unrecovered_fen"))
    }
}

// MARK: plumbing

/// What `LedgerFields` does not read itself, for transfer bodies (and the figure checks that read their inputs).
enum BodyFields {
    static func array(_ fields: LedgerFields, _ key: String) throws(LedgerDocumentError) -> [JSONValue] {
        guard case .array(let elements) = try fields.value(key) else {
            throw .malformed(field: fields.name(key), reason: "must be an array")
        }
        return elements
    }

    static func bool(_ fields: LedgerFields, _ key: String) throws(LedgerDocumentError) -> Bool {
        guard case .bool(let flag) = try fields.value(key) else {
            throw .malformed(field: fields.name(key), reason: "must be true or false")
        }
        return flag
    }

    static func int32(_ fields: LedgerFields, _ key: String) throws(LedgerDocumentError) -> Int32 {
        guard let number = Int32(exactly: try fields.integer(key)) else {
            throw .malformed(field: fields.name(key), reason: "must fit 32 bits")
        }
        return number
    }

    static func orgCode(_ fields: LedgerFields, _ key: String) throws(LedgerDocumentError) -> OrgCode {
        let text = try fields.string(key)
        guard let code = try? OrgCode(text) else {
            throw .malformed(field: fields.name(key), reason: "\(text) is not an org code")
        }
        return code
    }
}
