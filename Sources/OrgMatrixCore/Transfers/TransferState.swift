/// A transfer as the state machine holds it: what creation fixed, and where it is now.
/// Commands are pure: each checks the party and the state, computes with `TransferRules`, and
/// returns the event; `applying` gives the state after it.
///
///     created ──dispatch──▶ dispatched ──receive──▶ received (+ true-up once, + claim settled once)
///        └──cancel──▶ cancelled
public struct TransferState: Sendable, Hashable {
    public enum Stage: Sendable, Hashable {
        case created
        case dispatched
        case received(Receipt)
        case cancelled
    }

    /// What a receipt booked, and what HQ settled on it since.
    public struct Receipt: Sendable, Hashable {
        public struct Line: Sendable, Hashable {
            public let lostScaled: Int64
            public let allowanceScaled: Int64
            public let claimScaled: Int64
            public let claimValueFen: Int64
            public let landedValueFen: Int64

            public init(
                lostScaled: Int64, allowanceScaled: Int64, claimScaled: Int64, claimValueFen: Int64, landedValueFen: Int64
            ) {
                (self.lostScaled, self.allowanceScaled, self.claimScaled) = (lostScaled, allowanceScaled, claimScaled)
                (self.claimValueFen, self.landedValueFen) = (claimValueFen, landedValueFen)
            }
        }

        public let actualFreightFen: Int64
        public let actualInsuranceFen: Int64
        public let actualTotalFen: Int64
        public let errorPartsPerMillion: Int64?
        public let flagged: Bool
        /// One per order line, in line order.
        public let lines: [Line]
        /// HQ's true-up (actual − estimate), once.
        public let trueUpFen: Int64?
        /// What HQ's settlement of the claim recovered, once.
        public let claimRecoveredFen: Int64?

        public init(
            actualFreightFen: Int64, actualInsuranceFen: Int64, actualTotalFen: Int64, errorPartsPerMillion: Int64?,
            flagged: Bool,
            lines: [Line], trueUpFen: Int64?, claimRecoveredFen: Int64?
        ) {
            (self.actualFreightFen, self.actualInsuranceFen, self.actualTotalFen) = (
                actualFreightFen, actualInsuranceFen, actualTotalFen
            )
            (self.errorPartsPerMillion, self.flagged, self.lines) = (errorPartsPerMillion, flagged, lines)
            (self.trueUpFen, self.claimRecoveredFen) = (trueUpFen, claimRecoveredFen)
        }

        /// As the receipt books it, before any settlement.
        public init(_ event: TransferEvent.Received) {
            self.init(
                actualFreightFen: event.actualFreightFen, actualInsuranceFen: event.actualInsuranceFen,
                actualTotalFen: event.actualTotalFen,
                errorPartsPerMillion: event.errorPartsPerMillion, flagged: event.flagged,
                lines: event.lines.map {
                    Line(
                        lostScaled: $0.lostScaled, allowanceScaled: $0.allowanceScaled, claimScaled: $0.claimScaled,
                        claimValueFen: $0.claimValueFen, landedValueFen: $0.landedValueFen)
                },
                trueUpFen: nil, claimRecoveredFen: nil)
        }

        /// The value the receipt claimed, over all lines.
        public func claimValueFen() throws(TransferError) -> Int64 { try TransferRules.claimValue(lines.map(\.claimValueFen)) }

        /// The receiver's stock value from this transfer, over all lines.
        public func landedValueFen() throws(TransferError) -> Int64 {
            try TransferRules.bounded(nil) { () throws(OutOfRange) in
                try Checked.sum(lines.map(\.landedValueFen), what: "the landed value")
            }
        }
    }

    public let id: Int64
    public let order: TransferOrder
    public let stage: Stage

    public init(id: Int64, order: TransferOrder, stage: Stage) {
        (self.id, self.order, self.stage) = (id, order, stage)
    }

    /// A transfer just created, under the id its store gave it.
    public init(id: Int64, created: TransferEvent.Created) {
        self.init(id: id, order: created.order, stage: .created)
    }

    public var status: TransferStatus {
        switch stage {
        case .created: .created
        case .dispatched: .dispatched
        case .received: .received
        case .cancelled: .cancelled
        }
    }

    public var receipt: Receipt? {
        guard case .received(let receipt) = stage else { return nil }
        return receipt
    }

    /// The sender's internal sale and receivable, the receiver's internal purchase and payable:
    /// the estimate, the actual cost once trued up, nothing for a cancelled transfer.
    public var settledFen: Int64 {
        switch stage {
        case .cancelled: 0
        case .received(let receipt) where receipt.trueUpFen != nil: receipt.actualTotalFen
        default: order.estimateTotalFen
        }
    }

    // MARK: commands

    /// Whether `org` may take `step`: the sender dispatches and cancels, the receiver receives;
    /// HQ's steps are its role's (`Action`), not a party's.
    public func requireParty(_ step: TransferStep, org: OrgCode) throws(TransferError) {
        switch step.party {
        case .sender? where org != order.from: throw .notYourStep(step, party: .sender)
        case .receiver? where org != order.to: throw .notYourStep(step, party: .receiver)
        default: return
        }
    }

    /// `org` ships the goods out of its `balances` (per line, in line order).
    public func dispatch(by org: OrgCode, balances: [StockOnHand]) throws(TransferError) -> TransferEvent.Dispatched {
        try requireStep(.dispatch, org: org)
        return try TransferRules.dispatch(transferID: id, order: order, balances: balances)
    }

    /// `org` cancels before dispatch.
    public func cancel(by org: OrgCode) throws(TransferError) -> TransferEvent.Cancelled {
        try requireStep(.cancel, org: org)
        return TransferEvent.Cancelled(transferID: id)
    }

    /// `org` takes the goods in as `report` says, with the rule version the order was priced with.
    public func receive(by org: OrgCode, report: ArrivalReport, rules: PricingRules) throws(TransferError)
        -> TransferEvent.Received
    {
        try requireStep(.receive, org: org)
        return try TransferRules.receive(transferID: id, order: order, report: report, rules: rules)
    }

    /// HQ trues up a received, flagged transfer, once.
    public func trueUp() throws(TransferError) -> TransferEvent.TruedUp {
        let receipt = try receivedFor(.trueUp)
        guard receipt.flagged else { throw .notFlagged }
        guard receipt.trueUpFen == nil else { throw .truedUpAlready }
        return try TransferRules.trueUp(
            transferID: id, estimateTotalFen: order.estimateTotalFen, actualTotalFen: receipt.actualTotalFen)
    }

    /// HQ settles a received transfer's claim, once: `recoveredFen` of its value came back.
    public func settleClaim(recoveredFen: Int64) throws(TransferError) -> TransferEvent.ClaimSettled {
        let receipt = try receivedFor(.settleClaim)
        guard receipt.claimRecoveredFen == nil else { throw .claimSettledAlready }
        return try TransferRules.settleClaim(
            transferID: id, claimValueFen: try receipt.claimValueFen(), recoveredFen: recoveredFen)
    }

    // MARK: evolution

    /// The state after `event`, which a command of this state returned.
    public func applying(_ event: TransferEvent) -> TransferState {
        switch (stage, event) {
        case (.created, .dispatched(let dispatched)) where dispatched.transferID == id:
            return TransferState(id: id, order: order, stage: .dispatched)
        case (.created, .cancelled(let cancelled)) where cancelled.transferID == id:
            return TransferState(id: id, order: order, stage: .cancelled)
        case (.dispatched, .received(let received)) where received.transferID == id:
            return TransferState(id: id, order: order, stage: .received(Receipt(received)))
        case (.received(let receipt), .truedUp(let truedUp)) where truedUp.transferID == id && receipt.trueUpFen == nil:
            return TransferState(id: id, order: order, stage: .received(receipt.settled(trueUpFen: truedUp.trueUpFen)))
        case (.received(let receipt), .claimSettled(let settled))
        where settled.transferID == id && receipt.claimRecoveredFen == nil:
            return TransferState(id: id, order: order, stage: .received(receipt.settled(claimRecoveredFen: settled.recoveredFen)))
        default:
            preconditionFailure("\(event) does not follow a \(status) transfer \(id)")
        }
    }

    // MARK: private

    private func requireStep(_ step: TransferStep, org: OrgCode) throws(TransferError) {
        try requireParty(step, org: org)
        guard status == step.from else { throw .wrongState(step, status: status) }
    }

    private func receivedFor(_ step: TransferStep) throws(TransferError) -> Receipt {
        guard let receipt else { throw .wrongState(step, status: status) }
        return receipt
    }
}

extension TransferState.Receipt {
    fileprivate func settled(trueUpFen: Int64? = nil, claimRecoveredFen: Int64? = nil) -> Self {
        Self(
            actualFreightFen: actualFreightFen, actualInsuranceFen: actualInsuranceFen, actualTotalFen: actualTotalFen,
            errorPartsPerMillion: errorPartsPerMillion, flagged: flagged, lines: lines, trueUpFen: trueUpFen ?? self.trueUpFen,
            claimRecoveredFen: claimRecoveredFen ?? self.claimRecoveredFen)
    }
}
