/// Where a transfer is. HQ's true-up and claim settlement are facts a received transfer gains,
/// not states of their own: the goods have arrived either way.
public enum TransferStatus: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case created
    case dispatched
    case received
    case cancelled

    public var description: String { rawValue }
}

/// A command of the state machine, as errors name it.
public enum TransferStep: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case dispatch
    case cancel
    case receive
    case trueUp = "true up"
    case settleClaim = "settle its claim"

    public var description: String { rawValue }

    /// The party whose step it is; HQ's steps (true-up, claim settlement) go by role, not by party.
    public var party: TransferParty? {
        switch self {
        case .dispatch, .cancel: .sender
        case .receive: .receiver
        case .trueUp, .settleClaim: nil
        }
    }

    /// The state the step starts from.
    public var from: TransferStatus {
        switch self {
        case .dispatch, .cancel: .created
        case .receive: .dispatched
        case .trueUp, .settleClaim: .received
        }
    }
}

/// One side of a transfer.
public enum TransferParty: String, Sendable, Hashable, CustomStringConvertible {
    case sender
    case receiver

    public var description: String { rawValue }
}

/// Why a transfer command, or an order, does not hold. Each case says what a request or a
/// ledger reader has to change; `line` is the index into the order's lines.
public enum TransferError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The step belongs to the other party (only the sender dispatches or cancels, only the
    /// receiver receives).
    case notYourStep(TransferStep, party: TransferParty)
    /// The step does not start from the state the transfer is in.
    case wrongState(TransferStep, status: TransferStatus)
    /// Only a flagged transfer is trued up.
    case notFlagged
    case truedUpAlready
    /// No line of the receipt claimed anything.
    case noClaim
    case claimSettledAlready
    /// What was recovered is outside 0 … the claim's value.
    case recoveryOutsideClaim(claimValueFen: Int64)
    /// An order has no lines, or more than one line of the same item.
    case noLines
    case itemTwice(line: Int)
    /// A line's quantity or scale is not positive.
    case invalidQuantity(line: Int)
    /// The sender holds less than the line sends.
    case insufficientStock(line: Int, shortScaled: Int64)
    /// The lost quantity is negative or more than was sent.
    case lostOutsideSent(line: Int)
    /// An amount of the receiver's report is negative or beyond `Bounds.amountFenMax`.
    case reportedAmount(TransferReportField)
    /// Figures per line (balances, lost quantities) do not match the order's lines in number.
    case lineCount(expected: Int, got: Int)
    /// The rules given are not the version the transfer was priced with.
    case rulesVersion(expected: String, got: String)
    /// A line the pricing engine refuses (unknown category, invalid figures, out of range).
    case pricing(line: Int, PricingError)
    /// An amount left its documented bound (`line` nil: the transfer's totals).
    case outOfRange(OutOfRange, line: Int?)

    public var description: String {
        switch self {
        case .notYourStep(let step, let party): "only the transfer's \(party) may \(step) it"
        case .wrongState(let step, let status): "the transfer is \(status); it must be \(step.from) to \(step)"
        case .notFlagged: "only a flagged transfer is trued up"
        case .truedUpAlready: "the transfer is trued up already"
        case .noClaim: "the transfer's receipt claimed nothing"
        case .claimSettledAlready: "the transfer's claim is settled already"
        case .recoveryOutsideClaim(let claim): "the amount recovered must be 0–\(claim) fen, the claim's value"
        case .noLines: "a transfer has at least one line"
        case .itemTwice(let line): "line \(line + 1) repeats an item of an earlier line"
        case .invalidQuantity(let line): "line \(line + 1) needs a positive quantity and scale"
        case .insufficientStock(let line, let short): "line \(line + 1) is short by \(short) (scaled) at the sender"
        case .lostOutsideSent(let line): "line \(line + 1) lost a negative quantity or more than was sent"
        case .reportedAmount(let field): "the actual \(field) must be 0–\(Bounds.amountFenMax) fen"
        case .lineCount(let expected, let got): "\(got) figures for \(expected) lines"
        case .rulesVersion(let expected, let got): "priced with rules \(expected), not \(got)"
        case .pricing(let line, let error): "line \(line + 1): \(error)"
        case .outOfRange(let error, let line): line.map { "line \($0 + 1): \(error)" } ?? error.description
        }
    }
}

/// The receiver's reported amounts, as errors name them.
public enum TransferReportField: String, Sendable, Hashable, CustomStringConvertible {
    case freight
    case insurance

    public var description: String { rawValue }
}

/// What is ordered on one line: the item's code and what pricing needs of it.
public struct TransferGoods: Sendable, Hashable {
    public let itemCode: String
    /// The moving-average unit cost at creation, the quantity, and the item's scale, weight,
    /// category and shelf life.
    public let goods: PricedLine

    public init(itemCode: String, goods: PricedLine) {
        (self.itemCode, self.goods) = (itemCode, goods)
    }
}

/// One priced line: the goods, and the estimate component by component.
public struct TransferLine: Sendable, Hashable {
    public let itemCode: String
    public let goods: PricedLine
    public let price: TransferPrice

    public init(itemCode: String, goods: PricedLine, price: TransferPrice) {
        (self.itemCode, self.goods, self.price) = (itemCode, goods, price)
    }
}

/// What creation fixes and no later step changes: the parties, the lane, the rule version, the
/// priced lines and the estimate.
public struct TransferOrder: Sendable, Hashable {
    public let from: OrgCode
    public let to: OrgCode
    public let rulesVersion: String
    /// When it was priced (its creation): the rule version and the lane are those in force then,
    /// whenever it ships.
    public let pricedAt: UTCMicros
    public let lane: PricedLane
    public let lines: [TransferLine]
    /// The sum of the lines' totals, bounded like every amount.
    public let estimateTotalFen: Int64

    /// An order holds when it has lines, one per item, each with a positive quantity and
    /// scale; the estimate is their totals' sum.
    public init(
        from: OrgCode, to: OrgCode, rulesVersion: String, pricedAt: UTCMicros, lane: PricedLane, lines: [TransferLine]
    ) throws(TransferError) {
        guard !lines.isEmpty else { throw .noLines }
        var seen: Set<String> = []
        for (index, line) in lines.enumerated() {
            guard seen.insert(line.itemCode).inserted else { throw .itemTwice(line: index) }
            guard line.goods.scaledQuantity > 0, line.goods.quantityScale > 0 else { throw .invalidQuantity(line: index) }
        }
        (self.from, self.to, self.rulesVersion, self.pricedAt, self.lane, self.lines) = (from, to, rulesVersion, pricedAt, lane, lines)
        estimateTotalFen = try TransferRules.estimateTotal(lines.map(\.price)).fen
    }
}

/// A balance as a dispatch takes from it: quantity on hand and its value, before the issue.
public struct StockOnHand: Sendable, Hashable {
    public let onHandScaled: Int64
    public let valueFen: Int64

    public init(onHandScaled: Int64, valueFen: Int64) {
        (self.onHandScaled, self.valueFen) = (onHandScaled, valueFen)
    }
}

/// What the receiver reports: the actual freight and insurance for the whole transfer, and per
/// line (in the order's line order) the quantity lost in transit, scaled like the line.
public struct ArrivalReport: Sendable, Hashable {
    public let freightFen: Int64
    public let insuranceFen: Int64
    public let lostScaled: [Int64]

    public init(freightFen: Int64, insuranceFen: Int64, lostScaled: [Int64]) {
        (self.freightFen, self.insuranceFen, self.lostScaled) = (freightFen, insuranceFen, lostScaled)
    }
}
