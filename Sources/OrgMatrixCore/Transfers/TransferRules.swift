/// Every transfer formula, once: pure functions of their inputs, so the Store persists what
/// they decide and the ledger verifier recomputes each event from the inputs the event records.
///
/// Rounding is half-even at these documented points only (besides the pricing engine's six):
///
///     issue value      = value before × quantity / on hand before            (MovingAverage.issueCost)
///     issue unit cost  = issue value × scale / quantity                      (MovingAverage.unitCost)
///     freight share    = largest remainder of the actual freight by the estimated freight per line
///     insurance share  = the same, by the estimated insurance
///     allowance        = quantity × category loss ppm / 10^6                 (TransferPricing.lossSplit)
///     claim value      = unit cost × (lost − allowance, at least 0) / scale
///     landed value     = line total × arrived / quantity
///     landed unit cost = landed value × scale / arrived
///     error            = (estimate − actual) × 10^6 / actual                 (TransferPricing.errorPartsPerMillion)
public enum TransferRules {
    // MARK: creation

    /// Each line priced by the engine with `rules` on `lane`; the quote and the order use it.
    public static func price(_ goods: [TransferGoods], lane: PricedLane, rules: PricingRules) throws(TransferError)
        -> [TransferLine]
    {
        var lines: [TransferLine] = []
        for (index, line) in goods.enumerated() {
            do {
                lines.append(
                    TransferLine(
                        itemCode: line.itemCode, goods: line.goods,
                        price: try TransferPricing.price(line.goods, lane: lane, rules: rules)))
            } catch {
                throw .pricing(line: index, error)
            }
        }
        return lines
    }

    /// The estimate: the sum of the lines' totals, bounded like every amount.
    public static func estimateTotal(_ prices: [TransferPrice]) throws(TransferError) -> Money {
        try bounded(nil) { () throws(OutOfRange) in
            try Bounds.amount(try Money.sum(prices.map(\.total), what: "the transfer's total").fen, "the transfer's total")
        }
    }

    /// A transfer from `from` to `to` on `lane`, priced with `rules`, of goods the sender holds:
    /// `onHandScaled` is its stock of each line's item, in line order.
    public static func create(
        from: OrgCode, to: OrgCode, goods: [TransferGoods], onHandScaled: [Int64], lane: PricedLane, rules: PricingRules,
        pricedAt: UTCMicros
    ) throws(TransferError) -> TransferEvent.Created {
        let lines = try price(goods, lane: lane, rules: rules)
        let order = try TransferOrder(from: from, to: to, rulesVersion: rules.version, pricedAt: pricedAt, lane: lane, lines: lines)
        guard onHandScaled.count == lines.count else { throw .lineCount(expected: lines.count, got: onHandScaled.count) }
        for (index, (line, onHand)) in zip(lines, onHandScaled).enumerated() where onHand < line.goods.scaledQuantity {
            throw .insufficientStock(line: index, shortScaled: line.goods.scaledQuantity - max(onHand, 0))
        }
        return TransferEvent.Created(order: order)
    }

    // MARK: dispatch

    /// What leaves the sender's balances, line by line: the moving average of each balance
    /// (`balances`, in line order, before the dispatch) for the line's quantity.
    public static func dispatch(transferID: Int64, order: TransferOrder, balances: [StockOnHand]) throws(TransferError)
        -> TransferEvent.Dispatched
    {
        guard balances.count == order.lines.count else { throw .lineCount(expected: order.lines.count, got: balances.count) }
        var lines: [TransferEvent.Dispatched.Line] = []
        for (index, (line, balance)) in zip(order.lines, balances).enumerated() {
            let quantity = line.goods.scaledQuantity
            guard balance.onHandScaled >= quantity else {
                throw .insufficientStock(line: index, shortScaled: quantity - max(balance.onHandScaled, 0))
            }
            lines.append(
                try bounded(index) { () throws(OutOfRange) in
                    let value = try Bounds.amount(
                        try MovingAverage.issueCost(
                            valueFen: balance.valueFen, onHandScaled: balance.onHandScaled, quantityScaled: quantity),
                        "the cost issued"
                    ).fen
                    return TransferEvent.Dispatched.Line(
                        onHandBeforeScaled: balance.onHandScaled, valueBeforeFen: balance.valueFen, issueValueFen: value,
                        issueUnitCostFen: try MovingAverage.unitCost(
                            valueFen: value, quantityScaled: quantity, scale: line.goods.quantityScale))
                })
        }
        return TransferEvent.Dispatched(transferID: transferID, order: order, lines: lines)
    }

    // MARK: receipt

    /// The receipt of `report` for `order`, with the rule version the order was priced with:
    /// the actual freight and insurance shared over the lines by their estimates, each line's
    /// actual cost, loss split and landed value, and the pricing error of the actual total.
    public static func receive(
        transferID: Int64, order: TransferOrder, report: ArrivalReport, rules: PricingRules
    ) throws(TransferError) -> TransferEvent.Received {
        guard rules.version == order.rulesVersion else { throw .rulesVersion(expected: order.rulesVersion, got: rules.version) }
        guard report.lostScaled.count == order.lines.count else {
            throw .lineCount(expected: order.lines.count, got: report.lostScaled.count)
        }
        for (field, amount) in [(TransferReportField.freight, report.freightFen), (.insurance, report.insuranceFen)]
        where !(0...Bounds.amountFenMax).contains(amount) {
            throw .reportedAmount(field)
        }
        let freightShares = TransferPricing.allocate(report.freightFen, by: order.lines.map(\.price.freight.fen))
        let insuranceShares = TransferPricing.allocate(report.insuranceFen, by: order.lines.map(\.price.insurance.fen))
        var lines: [TransferEvent.Received.Line] = []
        var actualTotal = Money.zero
        for (index, line) in order.lines.enumerated() {
            let lost = report.lostScaled[index]
            guard (0...line.goods.scaledQuantity).contains(lost) else { throw .lostOutsideSent(line: index) }
            let actual: TransferPrice
            let split: LossSplit
            do {
                actual = try TransferPricing.actual(
                    line.goods, lane: order.lane, rules: rules, freight: Money(fen: freightShares[index]),
                    insurance: Money(fen: insuranceShares[index]), lostScaledQuantity: lost)
                split = try TransferPricing.lossSplit(line.goods, rules: rules, lostScaledQuantity: lost)
            } catch .outOfRange(let error) {
                throw .outOfRange(error, line: index)
            } catch {
                throw .pricing(line: index, error)
            }
            let arrived = line.goods.scaledQuantity - lost
            let (landed, unitCost) = try bounded(index) { () throws(OutOfRange) in
                let landed = try landedValue(
                    lineTotalFen: line.price.total.fen, sentScaled: line.goods.scaledQuantity, arrivedScaled: arrived)
                return (
                    landed, try MovingAverage.unitCost(valueFen: landed, quantityScaled: arrived, scale: line.goods.quantityScale)
                )
            }
            actualTotal = try bounded(nil) { () throws(OutOfRange) in
                try Bounds.amount(try (actualTotal + actual.total).fen, "the actual total")
            }
            lines.append(
                TransferEvent.Received.Line(
                    itemCode: line.itemCode, lostScaled: lost, arrivedScaled: arrived, allowanceScaled: split.allowanceScaled,
                    claimScaled: split.claimScaled, claimValueFen: split.claimValueFen, freightFen: freightShares[index],
                    insuranceFen: insuranceShares[index], actualTotalFen: actual.total.fen, landedValueFen: landed,
                    landedUnitCostFen: unitCost))
        }
        let error = try bounded(nil) { () throws(OutOfRange) in
            try pricingError(estimateFen: order.estimateTotalFen, actualFen: actualTotal.fen)
        }
        return TransferEvent.Received(
            transferID: transferID, actualFreightFen: report.freightFen, actualInsuranceFen: report.insuranceFen, lines: lines,
            actualTotalFen: actualTotal.fen, errorPartsPerMillion: error,
            flagged: isFlagged(errorPartsPerMillion: error, tolerancePartsPerMillion: rules.errorTolerancePartsPerMillion))
    }

    /// What arrived of a line, valued at the line's price pro rata: total × arrived / sent,
    /// rounded half-even. Nothing lost keeps the whole price; everything lost keeps none.
    public static func landedValue(lineTotalFen: Int64, sentScaled: Int64, arrivedScaled: Int64) throws(OutOfRange) -> Int64 {
        precondition(sentScaled > 0 && (0...sentScaled).contains(arrivedScaled), "a line arrives with 0 … what was sent")
        return try Rounding.halfEven(
            Int128(lineTotalFen) * Int128(arrivedScaled), dividedBy: Int128(sentScaled), what: "the landed value")
    }

    /// The pricing error of an actual cost, in ppm: nil when the actual cost is 0, and beyond
    /// what every JSON reader keeps exactly (±(2^53 − 1), a tiny actual against a large
    /// estimate) `OutOfRange`, so that the ledger can state it.
    public static func pricingError(estimateFen: Int64, actualFen: Int64) throws(OutOfRange) -> Int64? {
        guard
            let error = try TransferPricing.errorPartsPerMillion(estimate: Money(fen: estimateFen), actual: Money(fen: actualFen))
        else { return nil }
        guard error.magnitude <= JSONValue.integerMagnitudeMax else {
            throw OutOfRange("the pricing error", limit: "±\(JSONValue.integerMagnitudeMax) ppm")
        }
        return error
    }

    /// A pricing error beyond the tolerance (either way) flags the transfer for HQ's true-up;
    /// no error (an actual cost of 0) flags nothing.
    public static func isFlagged(errorPartsPerMillion: Int64?, tolerancePartsPerMillion: Int64) -> Bool {
        errorPartsPerMillion.map { $0.magnitude > tolerancePartsPerMillion } ?? false
    }

    // MARK: HQ's settlements

    /// HQ's true-up of a flagged transfer: actual − estimate, what both parties' receivable and
    /// payable move by.
    public static func trueUp(transferID: Int64, estimateTotalFen: Int64, actualTotalFen: Int64) throws(TransferError)
        -> TransferEvent.TruedUp
    {
        let amount = try bounded(nil) { () throws(OutOfRange) in
            try (Money(fen: actualTotalFen) - Money(fen: estimateTotalFen)).fen
        }
        return TransferEvent.TruedUp(
            transferID: transferID, estimateTotalFen: estimateTotalFen, actualTotalFen: actualTotalFen, trueUpFen: amount)
    }

    /// The value a receipt claimed: Σ of its lines' claim values.
    public static func claimValue(_ claimValuesFen: [Int64]) throws(TransferError) -> Int64 {
        try bounded(nil) { () throws(OutOfRange) in try Checked.sum(claimValuesFen, what: "the claim's value") }
    }

    /// HQ's settlement of a claim worth `claimValueFen`: `recoveredFen` of it (0 … its value)
    /// came back, the rest did not.
    public static func settleClaim(transferID: Int64, claimValueFen: Int64, recoveredFen: Int64) throws(TransferError)
        -> TransferEvent.ClaimSettled
    {
        guard claimValueFen > 0 else { throw .noClaim }
        guard (0...claimValueFen).contains(recoveredFen) else { throw .recoveryOutsideClaim(claimValueFen: claimValueFen) }
        return TransferEvent.ClaimSettled(
            transferID: transferID, claimValueFen: claimValueFen, recoveredFen: recoveredFen,
            unrecoveredFen: claimValueFen - recoveredFen)
    }

    // MARK: plumbing

    /// `body`, its `OutOfRange` named as the transfer's (of line `line`, or of its totals).
    static func bounded<T>(_ line: Int?, _ body: () throws(OutOfRange) -> T) throws(TransferError) -> T {
        do {
            return try body()
        } catch {
            throw .outOfRange(error, line: line)
        }
    }
}
