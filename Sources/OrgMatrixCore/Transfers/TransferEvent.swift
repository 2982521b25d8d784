/// What a transfer command decided, as a plain value: the Store appends it, the ledger renders
/// it (`ledgerBody`), and the verifier recomputes it from its inputs with `TransferRules`.
public enum TransferEvent: Sendable, Hashable {
    case created(Created)
    case dispatched(Dispatched)
    case received(Received)
    case truedUp(TruedUp)
    case claimSettled(ClaimSettled)
    case cancelled(Cancelled)

    /// The sender ordered and priced a transfer (not a ledger transaction: the dispatch carries
    /// the priced lines).
    public struct Created: Sendable, Hashable {
        public let order: TransferOrder

        public init(order: TransferOrder) { self.order = order }
    }

    /// The sender shipped: per line, what left its on-hand balance into transit.
    public struct Dispatched: Sendable, Hashable {
        public struct Line: Sendable, Hashable {
            /// The sender's balance the goods left, before the dispatch (the inputs).
            public let onHandBeforeScaled: Int64
            public let valueBeforeFen: Int64
            /// The moving-average cost of what left on hand, in all and per base unit.
            public let issueValueFen: Int64
            public let issueUnitCostFen: Int64

            public init(onHandBeforeScaled: Int64, valueBeforeFen: Int64, issueValueFen: Int64, issueUnitCostFen: Int64) {
                (self.onHandBeforeScaled, self.valueBeforeFen) = (onHandBeforeScaled, valueBeforeFen)
                (self.issueValueFen, self.issueUnitCostFen) = (issueValueFen, issueUnitCostFen)
            }
        }

        public let transferID: Int64
        public let order: TransferOrder
        /// One per order line, in line order.
        public let lines: [Line]

        public init(transferID: Int64, order: TransferOrder, lines: [Line]) {
            (self.transferID, self.order, self.lines) = (transferID, order, lines)
        }

        /// The balances the dispatch took from: what `TransferRules.dispatch` recomputes it from.
        public var balances: [StockOnHand] {
            lines.map { StockOnHand(onHandScaled: $0.onHandBeforeScaled, valueFen: $0.valueBeforeFen) }
        }
    }

    /// The receiver took the goods in: the actual freight and insurance and their shares, the
    /// loss and its split, the landed value, and the pricing error of the actual cost.
    public struct Received: Sendable, Hashable {
        public struct Line: Sendable, Hashable {
            public let itemCode: String
            /// Reported: the quantity lost in transit.
            public let lostScaled: Int64
            /// Sent − lost.
            public let arrivedScaled: Int64
            /// What the category's tolerance absorbs, what is claimed beyond it, and the claim's value.
            public let allowanceScaled: Int64
            public let claimScaled: Int64
            public let claimValueFen: Int64
            /// The line's shares of the actual freight and insurance (largest remainder).
            public let freightFen: Int64
            public let insuranceFen: Int64
            /// The line's actual cost: the pricing formula with what was paid and lost.
            public let actualTotalFen: Int64
            /// The line's price pro rata of what arrived, in all and per base unit: the
            /// receiver's stock value.
            public let landedValueFen: Int64
            public let landedUnitCostFen: Int64

            public init(
                itemCode: String, lostScaled: Int64, arrivedScaled: Int64, allowanceScaled: Int64, claimScaled: Int64,
                claimValueFen: Int64,
                freightFen: Int64, insuranceFen: Int64, actualTotalFen: Int64, landedValueFen: Int64, landedUnitCostFen: Int64
            ) {
                (self.itemCode, self.lostScaled, self.arrivedScaled) = (itemCode, lostScaled, arrivedScaled)
                (self.allowanceScaled, self.claimScaled, self.claimValueFen) = (allowanceScaled, claimScaled, claimValueFen)
                (self.freightFen, self.insuranceFen, self.actualTotalFen) = (freightFen, insuranceFen, actualTotalFen)
                (self.landedValueFen, self.landedUnitCostFen) = (landedValueFen, landedUnitCostFen)
            }
        }

        public let transferID: Int64
        public let actualFreightFen: Int64
        public let actualInsuranceFen: Int64
        /// One per order line, in line order.
        public let lines: [Line]
        public let actualTotalFen: Int64
        /// (estimate − actual) / actual in ppm; nil when the actual cost is 0.
        public let errorPartsPerMillion: Int64?
        /// |error| beyond the rule version's tolerance: HQ trues it up.
        public let flagged: Bool

        public init(
            transferID: Int64, actualFreightFen: Int64, actualInsuranceFen: Int64, lines: [Line], actualTotalFen: Int64,
            errorPartsPerMillion: Int64?, flagged: Bool
        ) {
            (self.transferID, self.actualFreightFen, self.actualInsuranceFen, self.lines) = (
                transferID, actualFreightFen, actualInsuranceFen, lines
            )
            (self.actualTotalFen, self.errorPartsPerMillion, self.flagged) = (actualTotalFen, errorPartsPerMillion, flagged)
        }

        /// What the receiver reported: what `TransferRules.receive` recomputes it from.
        public var report: ArrivalReport {
            ArrivalReport(freightFen: actualFreightFen, insuranceFen: actualInsuranceFen, lostScaled: lines.map(\.lostScaled))
        }
    }

    /// HQ settled a flagged transfer at its actual cost: both parties' receivable and payable
    /// move by actual − estimate.
    public struct TruedUp: Sendable, Hashable {
        public let transferID: Int64
        public let estimateTotalFen: Int64
        public let actualTotalFen: Int64
        public let trueUpFen: Int64

        public init(transferID: Int64, estimateTotalFen: Int64, actualTotalFen: Int64, trueUpFen: Int64) {
            (self.transferID, self.estimateTotalFen, self.actualTotalFen, self.trueUpFen) = (
                transferID, estimateTotalFen, actualTotalFen, trueUpFen
            )
        }
    }

    /// HQ settled the receipt's claim (against the carrier or insurer): what was recovered of
    /// its value, and what was not.
    public struct ClaimSettled: Sendable, Hashable {
        public let transferID: Int64
        /// The claim's value: Σ of the lines' claim values.
        public let claimValueFen: Int64
        public let recoveredFen: Int64
        public let unrecoveredFen: Int64

        public init(transferID: Int64, claimValueFen: Int64, recoveredFen: Int64, unrecoveredFen: Int64) {
            (self.transferID, self.claimValueFen, self.recoveredFen, self.unrecoveredFen) = (
                transferID, claimValueFen, recoveredFen, unrecoveredFen
            )
        }
    }

    /// The sender cancelled a transfer it had not dispatched (not a ledger transaction).
    public struct Cancelled: Sendable, Hashable {
        public let transferID: Int64

        public init(transferID: Int64) { self.transferID = transferID }
    }
}
