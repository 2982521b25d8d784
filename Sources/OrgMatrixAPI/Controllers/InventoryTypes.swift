import Foundation
import Hummingbird
import OrgMatrixCore
import OrgMatrixStore

struct BalanceView: ResponseEncodable, Sendable {
    let org: String
    let item: String
    let baseUnit: String
    /// Decimal text in the base unit, e.g. "2400.500"; `onHandScaled` is the same as an integer.
    let onHand: String
    let onHandScaled: Int64
    let inTransit: String
    let valueFen: Int64
    let unitCostFen: Int64?

    init(_ balance: StockBalance) {
        org = balance.orgCode
        item = balance.item.code
        baseUnit = balance.item.baseUnit
        onHand = ScaledQuantity.format(balance.onHandScaled, scale: balance.item.quantityScale)
        onHandScaled = balance.onHandScaled
        inTransit = ScaledQuantity.format(balance.inTransitScaled, scale: balance.item.quantityScale)
        valueFen = balance.valueFen
        unitCostFen = balance.unitCostFen
    }
}

struct MoveView: ResponseEncodable, Sendable {
    let id: Int64
    let org: String
    let item: String
    let quantity: String
    let valueFen: Int64
    let unitCostFen: Int64
    let documentType: String
    let documentId: Int64
    let bucket: String
    let occurredAt: Date

    init(_ move: StockMove) {
        (id, org, item) = (move.id, move.orgCode, move.itemCode)
        quantity = ScaledQuantity.format(move.quantityScaled, scale: move.quantityScale)
        (valueFen, unitCostFen, documentType, documentId, occurredAt) = (move.valueFen, move.unitCostFen, move.documentType, move.documentID, move.occurredAt)
        bucket = move.bucket
    }
}

struct DocumentView: Encodable, Sendable {
    struct Line: Encodable, Sendable {
        let item: String
        let quantity: String
        let unitFen: Int64
        let amountFen: Int64
        let costFen: Int64
    }

    let id: Int64
    let type: String
    let org: String
    let counterparty: String
    let settlementOrg: String?
    let lines: [Line]

    init(_ document: PostedDocument) {
        (id, type, org, counterparty, settlementOrg) = (document.id, document.type, document.orgCode, document.counterparty, document.settlementOrgCode)
        lines = document.lines.map {
            Line(item: $0.itemCode, quantity: ScaledQuantity.format($0.quantityScaled, scale: $0.quantityScale), unitFen: $0.unitFen,
                amountFen: $0.amountFen, costFen: $0.costFen)
        }
    }
}

/// An item as the API reads and writes it.
struct ItemBody: Codable, ResponseEncodable, JSONBody {
    let code: String
    let name: String
    let baseUnit: String
    let quantityScale: Int64
    let weightGramsPerUnit: Int64
    let category: String
    let shelfLifeDays: Int32
    let taxCode: String
    let taxRateBasisPoints: Int32

    init(_ item: Item) {
        (code, name, baseUnit, quantityScale, weightGramsPerUnit) = (item.code, item.name, item.baseUnit, item.quantityScale, item.weightGramsPerUnit)
        (category, shelfLifeDays, taxCode, taxRateBasisPoints) = (item.category, item.shelfLifeDays, item.taxCode, item.taxRateBasisPoints)
    }

    static let keys = BodyKeys.object([
        "code": .value, "name": .value, "baseUnit": .value, "quantityScale": .value, "weightGramsPerUnit": .value, "category": .value,
        "shelfLifeDays": .value, "taxCode": .value, "taxRateBasisPoints": .value,
    ])

    func checkForm() throws { _ = try item() }

    /// Checked field by field (`Item.problems`), so a bad request names its field before the database's CHECKs.
    func item() throws -> Item {
        let item = Item(
            code: code, name: name, baseUnit: baseUnit, quantityScale: quantityScale, weightGramsPerUnit: weightGramsPerUnit, category: category,
            shelfLifeDays: shelfLifeDays, taxCode: taxCode, taxRateBasisPoints: taxRateBasisPoints)
        if let problem = item.problems.first { throw problem }
        return item
    }
}

/// The lines of a document: 1–`PostingLimits.linesMax` of them, each with a well-formed item
/// code and quantity (`counted` in a count, which may be zero) and, when `unit` names a unit
/// amount, that amount bounded and, unless it values a count's difference from the book (which
/// is stored data), the line's value too.
private func checkLines<Line>(
    _ lines: [Line], item: (Line) -> String, quantity: (Line) -> String, counted: Bool = false, unit: (name: String, fen: (Line) -> Int64?)?
) throws {
    try Form.require((1...PostingLimits.linesMax).contains(lines.count), "lines", "must have 1–\(PostingLimits.linesMax) lines")
    for (index, line) in lines.enumerated() {
        try Form.itemCode(item(line), "lines[\(index)].item")
        try Form.quantity(quantity(line), "lines[\(index)].\(counted ? "counted" : "quantity")", allowZero: counted)
        guard let unit, let fen = unit.fen(line) else { continue }
        try Form.integer(fen, "lines[\(index)].\(unit.name)", 0...Bounds.unitFenMax)
        if !counted { try Form.lineValue(quantity: quantity(line), unitFen: fen, "lines[\(index)]") }
    }
}

private let postingLine = BodyKeys.object(["item": .value, "quantity": .value, "unitCostFen": .value])

struct NewPurchaseReceipt: JSONBody {
    struct Line: Decodable, Sendable {
        let item: String
        let quantity: String
        let unitCostFen: Int64
    }

    let supplier: String
    let lines: [Line]

    static let keys = BodyKeys.object(["supplier": .value, "lines": .array(postingLine)])

    func checkForm() throws {
        try Form.text(supplier, "supplier", length: 1...200)
        try checkLines(lines, item: \.item, quantity: \.quantity, unit: ("unitCostFen", \.unitCostFen))
    }
}

struct NewSalesIssue: JSONBody {
    struct Line: Decodable, Sendable {
        let item: String
        let quantity: String
        let unitPriceFen: Int64
    }

    let customer: String
    let settlementOrg: String?
    let lines: [Line]

    static let keys = BodyKeys.object([
        "customer": .value, "settlementOrg": .value, "lines": .array(.object(["item": .value, "quantity": .value, "unitPriceFen": .value])),
    ])

    func checkForm() throws {
        try Form.text(customer, "customer", length: 1...200)
        if let settlementOrg { try Form.orgCode(settlementOrg, "settlementOrg") }
        try checkLines(lines, item: \.item, quantity: \.quantity, unit: ("unitPriceFen", \.unitPriceFen))
    }
}

struct QuoteRequest: JSONBody {
    struct Line: Decodable, Sendable {
        let item: String
        let quantity: String
        let unitCostFen: Int64?
    }

    let from: String
    let to: String
    let at: String?
    let lines: [Line]

    static let keys = BodyKeys.object(["from": .value, "to": .value, "at": .value, "lines": .array(postingLine)])

    func checkForm() throws {
        try Form.orgCode(from, "from")
        try Form.orgCode(to, "to")
        if let at { _ = try Form.time(at, "at") }
        try checkLines(lines, item: \.item, quantity: \.quantity, unit: ("unitCostFen", \.unitCostFen))
    }
}

/// One component of a transfer price, with the words finance reads.
struct ComponentView: Encodable, Sendable {
    let name: String
    let amountFen: Int64
    let explanation: String

    init(_ component: TransferPrice.Component) {
        (name, amountFen, explanation) = (component.name, component.amount.fen, component.explanation)
    }
}

/// A price component by component, with the words finance reads.
struct QuoteView: ResponseEncodable {
    struct Line: Encodable {
        let item: String
        let quantity: String
        let totalFen: Int64
        let components: [ComponentView]
    }

    let rulesVersion: String
    let from: String
    let to: String
    let distanceKm: Int32
    let leadTimeHours: Int32
    let markupBasisPoints: Int64
    let lines: [Line]
    let totalFen: Int64

    init(_ quote: Quote, from: OrgCode, to: OrgCode) {
        rulesVersion = quote.rulesVersion
        (self.from, self.to) = (from.rawValue, to.rawValue)
        (distanceKm, leadTimeHours, markupBasisPoints) = (quote.lane.distanceKm, quote.lane.leadTimeHours, quote.lane.markupBasisPoints)
        lines = quote.lines.map { line in
            Line(
                item: line.item.code, quantity: ScaledQuantity.format(line.quantityScaled, scale: line.item.quantityScale),
                totalFen: line.price.total.fen,
                components: line.price.components.map(ComponentView.init))
        }
        totalFen = quote.total.fen
    }
}

struct NewStockCount: JSONBody {
    struct Line: Decodable, Sendable {
        let item: String
        let counted: String
        let unitCostFen: Int64?
    }

    let reason: String
    let lines: [Line]

    static let keys = BodyKeys.object(["reason": .value, "lines": .array(.object(["item": .value, "counted": .value, "unitCostFen": .value]))])

    func checkForm() throws {
        try Form.text(reason, "reason", length: 3...500)
        try checkLines(lines, item: \.item, quantity: \.counted, counted: true, unit: ("unitCostFen", \.unitCostFen))
        try Form.distinctItems(lines.map(\.item))
    }
}

struct CountView: Encodable, Sendable {
    struct Line: Encodable, Sendable {
        let item: String
        let book: String
        let counted: String
        let adjustment: String
        let adjustmentValueFen: Int64
    }

    let id: Int64
    let type = "stock_count"
    let org: String
    let reason: String
    let lines: [Line]

    init(_ count: PostedCount) {
        (id, org, reason) = (count.id, count.orgCode, count.reason)
        lines = count.lines.map {
            let scale = $0.item.quantityScale
            return Line(
                item: $0.item.code, book: ScaledQuantity.format($0.bookScaled, scale: scale), counted: ScaledQuantity.format($0.countedScaled, scale: scale),
                adjustment: ScaledQuantity.format($0.countedScaled - $0.bookScaled, scale: scale), adjustmentValueFen: $0.adjustmentValueFen)
        }
    }
}

struct NewTransfer: JSONBody {
    struct Line: Decodable, Sendable {
        let item: String
        let quantity: String
    }

    let to: String
    let lines: [Line]

    static let keys = BodyKeys.object(["to": .value, "lines": .array(.object(["item": .value, "quantity": .value]))])

    func checkForm() throws {
        try Form.orgCode(to, "to")
        try checkLines(lines, item: \.item, quantity: \.quantity, unit: nil)
        try Form.distinctItems(lines.map(\.item))
    }
}

struct TransferReceipt: JSONBody {
    let freightFen: Int64
    let insuranceFen: Int64
    /// Item code → quantity lost in transit.
    let lost: [String: String]?

    static let keys = BodyKeys.object(["freightFen": .value, "insuranceFen": .value, "lost": .map(.value)])

    func checkForm() throws {
        try Form.integer(freightFen, "freightFen", 0...Bounds.amountFenMax)
        try Form.integer(insuranceFen, "insuranceFen", 0...Bounds.amountFenMax)
        for (code, quantity) in (lost ?? [:]).sorted(by: { $0.key < $1.key }) {
            try Form.itemCode(code, "lost.\(code)")
            try Form.quantity(quantity, "lost.\(code)", allowZero: true)
        }
    }
}

/// HQ's settlement of a received transfer's claim: what came back of its value.
/// A dispatch's optional body: the carrier's name and contract price, which the ledger keeps as
/// private values (docs/LEDGER.md, "Private fields"): committed to in the signed transaction,
/// stored sealed, shown to the transfer's parties and HQ only.
struct TransferDispatch: JSONBody {
    struct Carrier: Decodable, Sendable {
        let name: String?
        let contractPriceFen: Int64?
    }

    let carrier: Carrier?

    static let keys = BodyKeys.object(["carrier": .object(["name": .value, "contractPriceFen": .value])])

    var privateValues: [LedgerPrivateField: JSONValue] {
        var values: [LedgerPrivateField: JSONValue] = [:]
        if let name = carrier?.name { values[.carrierName] = .string(name) }
        if let price = carrier?.contractPriceFen { values[.carrierContractPriceFen] = .integer(price) }
        return values
    }

    func checkForm() throws {
        guard let carrier else { return }
        try Form.require(carrier.name != nil || carrier.contractPriceFen != nil, "carrier", "must give name, contractPriceFen or both")
        for (field, name) in [(LedgerPrivateField.carrierName, "carrier.name"), (.carrierContractPriceFen, "carrier.contractPriceFen")] {
            if let value = privateValues[field], let problem = field.problem(with: value) { throw Form.problem(name, problem) }
        }
    }
}

struct ClaimSettlement: JSONBody {
    let recoveredFen: Int64

    static let keys = BodyKeys.object(["recoveredFen": .value])

    func checkForm() throws {
        try Form.integer(recoveredFen, "recoveredFen", 0...Bounds.amountFenMax)
    }
}

/// One transfer, two views: the sender's internal sale and receivable, the receiver's internal
/// purchase and payable, with the price component by component.
struct TransferView: Encodable, ResponseEncodable, Sendable {
    struct Line: Encodable, Sendable {
        let item: String
        let quantity: String
        let unitCostFen: Int64
        let totalFen: Int64
        let components: [ComponentView]
        let lost: String?
        let lossAllowance: String?
        let claim: String?
        let claimValueFen: Int64?
        let landedValueFen: Int64?
    }

    struct Views: Encodable, Sendable {
        struct Sender: Encodable, Sendable {
            let internalSaleFen: Int64
            let receivableFen: Int64
        }

        struct Receiver: Encodable, Sendable {
            let internalPurchaseFen: Int64
            let payableFen: Int64
            let landedValueFen: Int64?
        }

        let sender: Sender
        let receiver: Receiver
    }

    let id: Int64
    let from: String
    let to: String
    let status: String
    let rulesVersion: String
    let estimateTotalFen: Int64
    let actualFreightFen: Int64?
    let actualInsuranceFen: Int64?
    let actualTotalFen: Int64?
    /// (estimate − actual) / actual in parts per million; beyond the rules' tolerance it is flagged.
    let errorPpm: Int64?
    let flagged: Bool
    let trueUpFen: Int64?
    /// What HQ's settlement of the receipt's claim recovered.
    let claimRecoveredFen: Int64?
    let lines: [Line]
    let views: Views
    /// Each step's ledger transaction: pending until its policy holds, committed, or disputed
    /// with the endorser's reason.
    let evidence: [Evidence]

    struct Evidence: Encodable, Sendable {
        let type: String
        let hash: String
        let status: String
        let dispute: LedgerTransactionView.Dispute?
    }

    init(_ transfer: TransferRecord) throws {
        (id, from, to, status, rulesVersion) = (transfer.id, transfer.fromCode, transfer.toCode, transfer.status.rawValue, transfer.rulesVersion)
        (estimateTotalFen, actualFreightFen, actualInsuranceFen, actualTotalFen) =
            (transfer.estimateTotalFen, transfer.actualFreightFen, transfer.actualInsuranceFen, transfer.actualTotalFen)
        (errorPpm, flagged, trueUpFen, claimRecoveredFen) = (transfer.errorPartsPerMillion, transfer.flagged, transfer.trueUpFen, transfer.claimRecoveredFen)
        lines = transfer.lines.map { line in
            let scale = line.item.quantityScale
            return Line(
                item: line.item.code, quantity: ScaledQuantity.format(line.quantityScaled, scale: scale), unitCostFen: line.unitCostFen,
                totalFen: line.totalFen,
                components: line.components.map(ComponentView.init),
                lost: line.lostScaled.map { ScaledQuantity.format($0, scale: scale) },
                lossAllowance: line.allowanceScaled.map { ScaledQuantity.format($0, scale: scale) },
                claim: line.claimScaled.map { ScaledQuantity.format($0, scale: scale) }, claimValueFen: line.claimValueFen,
                landedValueFen: line.landedValueFen)
        }
        let settled = transfer.state.settledFen
        views = Views(
            sender: .init(internalSaleFen: settled, receivableFen: settled),
            receiver: .init(internalPurchaseFen: settled, payableFen: settled, landedValueFen: try transfer.state.receipt?.landedValueFen()))
        evidence = transfer.evidence.map { step in
            let dispute: LedgerTransactionView.Dispute? =
                if case .disputed(let org, let reason) = step.status { .init(org: org.rawValue, reason: reason) } else { nil }
            return Evidence(type: step.type.rawValue, hash: step.hash.hex, status: step.status.name, dispute: dispute)
        }
    }
}

/// Query parameter `name` as an item code, or 422 naming it.
func itemCodeQuery(_ request: Request, _ name: String) throws -> String? {
    try request.query(name).map { text in
        guard Item.isCode(text) else { throw APIError(.invalidField, detail: "\(name) must be an item code.", field: name) }
        return text
    }
}
