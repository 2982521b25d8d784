/// A transfer as its rows store it (`transfers` and its `transfer_lines`): every figure its
/// ledger transactions state, as read, unchecked. The Store reads it; `BooksReconciliation`
/// holds it against the signed events.
public struct PostedTransfer: Sendable, Hashable {
    public struct Line: Sendable, Hashable {
        /// `line_no`, 1, 2, … (what failures name the line by).
        public var lineNumber: Int32
        public var itemCode: String
        public var quantityScaled: Int64
        public var unitCostFen: Int64
        public var weightGramsPerUnit: Int64
        public var category: String
        public var shelfLifeDays: Int32
        /// The component columns (base_cost_fen … markup_fen) and total_fen.
        public var baseCostFen: Int64
        public var freightFen: Int64
        public var insuranceFen: Int64
        public var lossAllowanceFen: Int64
        public var timelinessFen: Int64
        public var markupFen: Int64
        public var totalFen: Int64
        /// `breakdown`, component by component; nil when the stored JSON is not a breakdown.
        public var breakdown: [TransferPrice.Component]?
        /// Set by the receipt.
        public var lostScaled: Int64?
        public var allowanceScaled: Int64?
        public var claimScaled: Int64?
        public var claimValueFen: Int64?
        public var landedValueFen: Int64?

        public init(
            lineNumber: Int32, itemCode: String, quantityScaled: Int64, unitCostFen: Int64, weightGramsPerUnit: Int64,
            category: String, shelfLifeDays: Int32, baseCostFen: Int64, freightFen: Int64, insuranceFen: Int64,
            lossAllowanceFen: Int64, timelinessFen: Int64, markupFen: Int64, totalFen: Int64,
            breakdown: [TransferPrice.Component]?, lostScaled: Int64?, allowanceScaled: Int64?, claimScaled: Int64?,
            claimValueFen: Int64?, landedValueFen: Int64?
        ) {
            (self.lineNumber, self.itemCode, self.quantityScaled, self.unitCostFen) = (
                lineNumber, itemCode, quantityScaled, unitCostFen
            )
            (self.weightGramsPerUnit, self.category, self.shelfLifeDays) = (weightGramsPerUnit, category, shelfLifeDays)
            (self.baseCostFen, self.freightFen, self.insuranceFen) = (baseCostFen, freightFen, insuranceFen)
            (self.lossAllowanceFen, self.timelinessFen, self.markupFen, self.totalFen) = (
                lossAllowanceFen, timelinessFen, markupFen, totalFen
            )
            self.breakdown = breakdown
            (self.lostScaled, self.allowanceScaled, self.claimScaled) = (lostScaled, allowanceScaled, claimScaled)
            (self.claimValueFen, self.landedValueFen) = (claimValueFen, landedValueFen)
        }
    }

    public var transferID: Int64
    public var fromCode: String
    public var toCode: String
    public var status: TransferStatus
    public var rulesVersion: String
    /// `created_at`: when the transfer was priced, which its dispatch signs as `priced_at`.
    public var createdAt: UTCMicros
    public var estimateTotalFen: Int64
    public var actualFreightFen: Int64?
    public var actualInsuranceFen: Int64?
    public var actualTotalFen: Int64?
    public var errorPartsPerMillion: Int64?
    public var flagged: Bool
    public var trueUpFen: Int64?
    public var claimRecoveredFen: Int64?
    /// In line order.
    public var lines: [Line]

    public init(
        transferID: Int64, fromCode: String, toCode: String, status: TransferStatus, rulesVersion: String, createdAt: UTCMicros,
        estimateTotalFen: Int64, actualFreightFen: Int64?, actualInsuranceFen: Int64?, actualTotalFen: Int64?,
        errorPartsPerMillion: Int64?, flagged: Bool, trueUpFen: Int64?, claimRecoveredFen: Int64?, lines: [Line]
    ) {
        (self.transferID, self.fromCode, self.toCode, self.status) = (transferID, fromCode, toCode, status)
        (self.rulesVersion, self.createdAt, self.estimateTotalFen) = (rulesVersion, createdAt, estimateTotalFen)
        (self.actualFreightFen, self.actualInsuranceFen, self.actualTotalFen) = (
            actualFreightFen, actualInsuranceFen, actualTotalFen
        )
        (self.errorPartsPerMillion, self.flagged, self.trueUpFen, self.claimRecoveredFen) = (
            errorPartsPerMillion, flagged, trueUpFen, claimRecoveredFen
        )
        self.lines = lines
    }
}

/// A transfer event as a ledger transaction states it: the event its body reads back as, the
/// hash its row claims, and the transfer its row's `transfer_id` column files it under.
public struct SignedTransferEvent: Sendable, Hashable {
    public var transactionHash: LedgerHash
    public var filedUnderTransferID: Int64
    public var event: Event

    /// The transfer events the ledger evidences (creation and cancellation are not transactions).
    public enum Event: Sendable, Hashable {
        case dispatched(TransferEvent.Dispatched)
        case received(TransferEvent.Received)
        case truedUp(TransferEvent.TruedUp)
        case claimSettled(TransferEvent.ClaimSettled)

        /// The event of a transaction of a transfer type, read from its body; nil for another
        /// type or a body that is not its type's (the verifier names those).
        public init?(_ transaction: LedgerTransaction) {
            switch transaction.type {
            case .transferDispatched:
                guard let event = try? TransferEvent.Dispatched(ledgerBody: transaction.body) else { return nil }
                self = .dispatched(event)
            case .transferReceived:
                guard let event = try? TransferEvent.Received(ledgerBody: transaction.body) else { return nil }
                self = .received(event)
            case .transferTruedUp:
                guard let event = try? TransferEvent.TruedUp(ledgerBody: transaction.body) else { return nil }
                self = .truedUp(event)
            case .claimSettled:
                guard let event = try? TransferEvent.ClaimSettled(ledgerBody: transaction.body) else { return nil }
                self = .claimSettled(event)
            default:
                return nil
            }
        }

        public var type: LedgerTransactionType {
            switch self {
            case .dispatched: .transferDispatched
            case .received: .transferReceived
            case .truedUp: .transferTruedUp
            case .claimSettled: .claimSettled
            }
        }

        /// The transfer the body names.
        public var transferID: Int64 {
            switch self {
            case .dispatched(let event): event.transferID
            case .received(let event): event.transferID
            case .truedUp(let event): event.transferID
            case .claimSettled(let event): event.transferID
            }
        }
    }

    public init(transactionHash: LedgerHash, filedUnderTransferID: Int64, event: Event) {
        (self.transactionHash, self.filedUnderTransferID, self.event) = (transactionHash, filedUnderTransferID, event)
    }
}

/// The books against the ledger (DESIGN.md, "One home for each rule"): each posted transfer's
/// rows must state exactly what its signed transactions state, each posted step must have its
/// transaction and each transaction its step. The verifier recomputes the events' figures from
/// their inputs; this holds the rows to the events, so a figure edited behind the ledger (by the
/// owner, by a restore, by a bug) is named even where the ledger itself verifies. No figure is
/// computed here: every comparison is equality.
public enum BooksReconciliation {
    /// Every failure of one transfer: `events` are the transactions filed under it (by their
    /// row's `transfer_id`), in any order.
    public static func failures(_ transfer: PostedTransfer, events: [SignedTransferEvent]) -> [LedgerVerificationFailure] {
        var failures: [LedgerVerificationFailure] = []
        var byType: [LedgerTransactionType: [SignedTransferEvent]] = [:]
        for signed in events {
            // Filed under this transfer, about another: it evidences nothing here.
            guard signed.event.transferID == transfer.transferID else {
                failures.append(
                    LedgerVerificationFailure(
                        .transactionRowMismatch, transaction: signed.transactionHash, field: "transfer_id",
                        expected: String(signed.event.transferID), found: String(transfer.transferID)))
                continue
            }
            byType[signed.event.type, default: []].append(signed)
        }
        let place = "transfers[\(transfer.transferID)]"
        for step in Step.allCases {
            let signed = (byType[step.type] ?? []).sorted { $0.transactionHash < $1.transactionHash }
            let posted = step.isPosted(transfer)
            switch (posted, signed.first) {
            case (false, nil):
                continue
            case (true, nil):
                failures.append(
                    LedgerVerificationFailure(
                        .stepWithoutTransaction, field: "\(place).\(step.column)",
                        expected: "a \(step.type.rawValue) transaction",
                        found: "none"))
                continue
            case (false, let first?):
                failures.append(
                    LedgerVerificationFailure(
                        .transactionWithoutStep, transaction: first.transactionHash, field: "\(place).\(step.column)",
                        expected: step.postedDescription, found: step.found(transfer)))
            case (true, let first?):
                failures += compare(transfer, first)
            }
            for extra in signed.dropFirst() {
                failures.append(
                    LedgerVerificationFailure(
                        .transactionWithoutStep, transaction: extra.transactionHash, field: "\(place).\(step.column)",
                        expected: "one \(step.type.rawValue) transaction",
                        found: "another besides \(signed[0].transactionHash.hex)"))
            }
        }
        return failures
    }

    /// A transfer transaction filed under a transfer whose rows the reader does not have (none
    /// with that id in the principal's sandbox).
    public static func failure(unmatched signed: SignedTransferEvent) -> LedgerVerificationFailure {
        LedgerVerificationFailure(
            .transactionWithoutStep, transaction: signed.transactionHash, field: "transfers[\(signed.filedUnderTransferID)]",
            expected: "the transfer it evidences", found: "no such transfer")
    }

    /// The steps a transfer's rows show, each with the transaction type that evidences it.
    private enum Step: CaseIterable {
        case dispatch, receipt, trueUp, claimSettlement

        var type: LedgerTransactionType {
            switch self {
            case .dispatch: .transferDispatched
            case .receipt: .transferReceived
            case .trueUp: .transferTruedUp
            case .claimSettlement: .claimSettled
            }
        }

        /// The column that shows the step posted.
        var column: String {
            switch self {
            case .dispatch, .receipt: "status"
            case .trueUp: "true_up_fen"
            case .claimSettlement: "claim_recovered_fen"
            }
        }

        func isPosted(_ transfer: PostedTransfer) -> Bool {
            switch self {
            case .dispatch: transfer.status == .dispatched || transfer.status == .received
            case .receipt: transfer.status == .received
            case .trueUp: transfer.trueUpFen != nil
            case .claimSettlement: transfer.claimRecoveredFen != nil
            }
        }

        var postedDescription: String {
            switch self {
            case .dispatch: "dispatched or received"
            case .receipt: "received"
            case .trueUp, .claimSettlement: "set"
            }
        }

        func found(_ transfer: PostedTransfer) -> String {
            switch self {
            case .dispatch, .receipt: transfer.status.rawValue
            case .trueUp, .claimSettlement: "null"
            }
        }
    }

    /// The rows against one event of their step: each field that differs, expected as signed,
    /// found as stored.
    private static func compare(_ transfer: PostedTransfer, _ signed: SignedTransferEvent) -> [LedgerVerificationFailure] {
        var failures: [LedgerVerificationFailure] = []
        func check<Value: Equatable>(_ field: String, signed expected: Value, stored found: Value) {
            guard expected != found else { return }
            failures.append(
                LedgerVerificationFailure(
                    .bookMismatch, transaction: signed.transactionHash, field: field, expected: text(expected), found: text(found)
                ))
        }
        let place = "transfers[\(transfer.transferID)]"
        func linePlace(_ line: PostedTransfer.Line) -> String { "transfer_lines[\(transfer.transferID)/\(line.lineNumber)]" }
        func lines(count: Int) -> [(Int, PostedTransfer.Line)]? {
            guard count == transfer.lines.count else {
                check("\(place).lines", signed: count, stored: transfer.lines.count)
                return nil
            }
            return Array(transfer.lines.enumerated())
        }
        switch signed.event {
        case .dispatched(let event):
            let order = event.order
            check("\(place).from_code", signed: order.from.rawValue, stored: transfer.fromCode)
            check("\(place).to_code", signed: order.to.rawValue, stored: transfer.toCode)
            check("\(place).rules_version", signed: order.rulesVersion, stored: transfer.rulesVersion)
            check("\(place).created_at", signed: order.pricedAt, stored: transfer.createdAt)
            check("\(place).estimate_total_fen", signed: order.estimateTotalFen, stored: transfer.estimateTotalFen)
            for (index, line) in lines(count: order.lines.count) ?? [] {
                let (at, ordered, price) = (linePlace(line), order.lines[index], order.lines[index].price)
                check("\(at).item", signed: ordered.itemCode, stored: line.itemCode)
                check("\(at).quantity_scaled", signed: ordered.goods.scaledQuantity, stored: line.quantityScaled)
                check("\(at).unit_cost_fen", signed: ordered.goods.unitCostFen, stored: line.unitCostFen)
                check("\(at).weight_grams_per_unit", signed: ordered.goods.weightGramsPerUnit, stored: line.weightGramsPerUnit)
                check("\(at).category", signed: ordered.goods.category, stored: line.category)
                check("\(at).shelf_life_days", signed: ordered.goods.shelfLifeDays, stored: line.shelfLifeDays)
                check("\(at).base_cost_fen", signed: price.baseCost.fen, stored: line.baseCostFen)
                check("\(at).freight_fen", signed: price.freight.fen, stored: line.freightFen)
                check("\(at).insurance_fen", signed: price.insurance.fen, stored: line.insuranceFen)
                check("\(at).loss_allowance_fen", signed: price.lossAllowance.fen, stored: line.lossAllowanceFen)
                check("\(at).timeliness_fen", signed: price.timelinessPremium.fen, stored: line.timelinessFen)
                check("\(at).markup_fen", signed: price.markup.fen, stored: line.markupFen)
                check("\(at).total_fen", signed: price.total.fen, stored: line.totalFen)
                guard let breakdown = line.breakdown, breakdown.count == price.components.count else {
                    check(
                        "\(at).breakdown", signed: "\(price.components.count) components",
                        stored: line.breakdown.map { "\($0.count) components" } ?? "not a breakdown")
                    continue
                }
                for (position, (component, stored)) in zip(price.components, breakdown).enumerated() {
                    check("\(at).breakdown[\(position)].name", signed: component.name, stored: stored.name)
                    check("\(at).breakdown[\(position)].amount_fen", signed: component.amount.fen, stored: stored.amount.fen)
                    check("\(at).breakdown[\(position)].explanation", signed: component.explanation, stored: stored.explanation)
                }
            }
        case .received(let event):
            check("\(place).actual_freight_fen", signed: event.actualFreightFen, stored: transfer.actualFreightFen)
            check("\(place).actual_insurance_fen", signed: event.actualInsuranceFen, stored: transfer.actualInsuranceFen)
            check("\(place).actual_total_fen", signed: event.actualTotalFen, stored: transfer.actualTotalFen)
            check("\(place).error_ppm", signed: event.errorPartsPerMillion, stored: transfer.errorPartsPerMillion)
            check("\(place).flagged", signed: event.flagged, stored: transfer.flagged)
            for (index, line) in lines(count: event.lines.count) ?? [] {
                let (at, booked) = (linePlace(line), event.lines[index])
                check("\(at).item", signed: booked.itemCode, stored: line.itemCode)
                check("\(at).lost_scaled", signed: booked.lostScaled, stored: line.lostScaled)
                check("\(at).allowance_scaled", signed: booked.allowanceScaled, stored: line.allowanceScaled)
                check("\(at).claim_scaled", signed: booked.claimScaled, stored: line.claimScaled)
                check("\(at).claim_value_fen", signed: booked.claimValueFen, stored: line.claimValueFen)
                check("\(at).landed_value_fen", signed: booked.landedValueFen, stored: line.landedValueFen)
            }
        case .truedUp(let event):
            check("\(place).true_up_fen", signed: event.trueUpFen, stored: transfer.trueUpFen)
            check("\(place).estimate_total_fen", signed: event.estimateTotalFen, stored: transfer.estimateTotalFen)
            check("\(place).actual_total_fen", signed: event.actualTotalFen, stored: transfer.actualTotalFen)
        case .claimSettled(let event):
            check("\(place).claim_recovered_fen", signed: event.recoveredFen, stored: transfer.claimRecoveredFen)
        }
        return failures
    }

    /// A value as failures quote it: integers in decimal, nil as `null`.
    private static func text<Value>(_ value: Value) -> String {
        switch value {
        case let optional as Int64?: optional.map(String.init) ?? "null"
        default: "\(value)"
        }
    }
}
