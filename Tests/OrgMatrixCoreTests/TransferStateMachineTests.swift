import Foundation
import OrgMatrixCore
import Testing

/// The transfer state machine and its formulas, with every figure computed by hand in the
/// comments. The rules are the test tenant's "v1": freight 60/45/35 fen per t·km at 300/1000 km;
/// fresh milk 30 bp insurance, 2,000 + 3,000 ppm loss (shelf life ≤ 15 days); milk powder
/// 15 bp, 500 ppm; express (≤ 12 h) premium 1,500 bp of freight; tolerance 8,000 ppm.
@Suite struct TransferStateMachineTests {
    static let rules = PricingRules(
        version: "v1", effectiveFrom: UTCMicros(TenantDefinition.defaultValidFrom),
        freightTiers: [
            .init(upToKm: 300, fenPerTonneKm: 60), .init(upToKm: 1000, fenPerTonneKm: 45), .init(upToKm: nil, fenPerTonneKm: 35),
        ],
        categories: [
            "fresh_milk": .init(
                insuranceBasisPoints: 30, lossPartsPerMillion: 2000, shortShelfLifeExtraLossPartsPerMillion: 3000),
            "milk_powder": .init(insuranceBasisPoints: 15, lossPartsPerMillion: 500),
        ],
        shortShelfLifeDays: 15, expressLeadTimeHoursMax: 12, standardPremiumBasisPoints: 0, expressPremiumBasisPoints: 1500,
        errorTolerancePartsPerMillion: 8000)
    /// WH-A → WH-B: 120 km, 3 h (express), 250 bp cost-plus.
    static let lane = PricedLane(distanceKm: 120, leadTimeHours: 3, markupBasisPoints: 250)
    static let (sender, receiver) = (try! OrgCode("WH-A"), try! OrgCode("WH-B"))

    /// Fresh milk at 4.63 元/L (scale 1000: mL), 1,030 g/L, 7 days.
    static func milk(litres scaled: Int64) -> TransferGoods {
        TransferGoods(
            itemCode: "MILK-FRESH",
            goods: PricedLine(
                unitCostFen: 463, scaledQuantity: scaled, quantityScale: 1000, weightGramsPerUnit: 1030, category: "fresh_milk",
                shelfLifeDays: 7))
    }

    /// 200.000 kg of milk powder at 28.00 元/kg, 1,000 g/kg, 540 days.
    static let powder = TransferGoods(
        itemCode: "MILK-POWDER",
        goods: PricedLine(
            unitCostFen: 2800, scaledQuantity: 200_000, quantityScale: 1000, weightGramsPerUnit: 1000, category: "milk_powder",
            shelfLifeDays: 540))

    /// When the machine's transfers are priced.
    static let pricedAt = UTCMicros("2026-10-01T00:00:00.000000Z")!

    static func created(_ goods: [TransferGoods], id: Int64 = 7) throws -> TransferState {
        let event = try TransferRules.create(
            from: sender, to: receiver, goods: goods, onHandScaled: goods.map(\.goods.scaledQuantity), lane: lane, rules: rules,
            pricedAt: pricedAt)
        return TransferState(id: id, created: event)
    }

    /// Milk 1,000 L and powder 200 kg, dispatched from balances of 2,400.5 L worth 1,111,432 and
    /// 500 kg worth 1,400,003.
    static func dispatchedPair() throws -> (TransferState, TransferEvent.Dispatched) {
        let state = try created([milk(litres: 1_000_000), powder])
        let event = try state.dispatch(
            by: sender,
            balances: [.init(onHandScaled: 2_400_500, valueFen: 1_111_432), .init(onHandScaled: 500_000, valueFen: 1_400_003)])
        return (state.applying(.dispatched(event)), event)
    }

    // MARK: creation

    @Test func creationPricesEveryLineAndSumsTheEstimate() throws {
        let state = try Self.created([Self.milk(litres: 1_000_000), Self.powder])
        let milk = state.order.lines[0].price
        // Milk: base 463 × 1,000 = 463,000; freight 120 km × 60 fen × 1.03 t = 7,416; insurance 30 bp = 1,389;
        // loss 5,000 ppm = 2,315; premium 15 % of 7,416 = 1,112.4 → 1,112; markup 2.5 % of 475,232 = 11,880.8 → 11,881.
        #expect(
            [milk.baseCost, milk.freight, milk.insurance, milk.lossAllowance, milk.timelinessPremium, milk.markup].map(\.fen)
                == [463_000, 7_416, 1_389, 2_315, 1_112, 11_881])
        #expect(milk.total.fen == 487_113)
        // Powder: base 2,800 × 200 = 560,000; freight 7,200 fen/t × 0.2 t = 1,440; insurance 15 bp = 840; loss 500 ppm = 280;
        // premium 15 % of 1,440 = 216; markup 2.5 % of 562,776 = 14,069.4 → 14,069; total 576,845.
        #expect(state.order.lines[1].price.total.fen == 576_845)
        #expect(state.order.estimateTotalFen == 1_063_958)
        #expect(state.status == .created)
        #expect(state.settledFen == 1_063_958)
        #expect(state.order.rulesVersion == "v1")
    }

    @Test func creationRefusesShortStockAndAnItemTwice() {
        #expect(throws: TransferError.insufficientStock(line: 1, shortScaled: 50_000)) {
            try TransferRules.create(
                from: Self.sender, to: Self.receiver, goods: [Self.milk(litres: 1_000), Self.powder],
                onHandScaled: [1_000, 150_000],
                lane: Self.lane, rules: Self.rules, pricedAt: Self.pricedAt)
        }
        #expect(throws: TransferError.itemTwice(line: 1)) {
            try TransferRules.create(
                from: Self.sender, to: Self.receiver, goods: [Self.milk(litres: 1_000), Self.milk(litres: 2_000)],
                onHandScaled: [9_000, 9_000],
                lane: Self.lane, rules: Self.rules, pricedAt: Self.pricedAt)
        }
        #expect(throws: TransferError.noLines) {
            try TransferRules.create(
                from: Self.sender, to: Self.receiver, goods: [], onHandScaled: [], lane: Self.lane, rules: Self.rules, pricedAt: Self.pricedAt)
        }
        let cheese = TransferGoods(
            itemCode: "CHEESE",
            goods: PricedLine(
                unitCostFen: 1, scaledQuantity: 1, quantityScale: 1, weightGramsPerUnit: 1, category: "cheese", shelfLifeDays: 90)
        )
        #expect(throws: TransferError.pricing(line: 0, .unknownCategory("cheese"))) {
            try TransferRules.create(
                from: Self.sender, to: Self.receiver, goods: [cheese], onHandScaled: [1], lane: Self.lane, rules: Self.rules, pricedAt: Self.pricedAt)
        }
    }

    // MARK: dispatch

    @Test func dispatchTakesEachLineAtTheMovingAverage() throws {
        let (state, event) = try Self.dispatchedPair()
        #expect(state.status == .dispatched)
        // Milk: 1,111,432 × 1,000,000 / 2,400,500 = 463,000.21 → 463,000; per litre 463,000 × 1000 / 1,000,000 = 463.
        #expect(
            event.lines[0]
                == .init(onHandBeforeScaled: 2_400_500, valueBeforeFen: 1_111_432, issueValueFen: 463_000, issueUnitCostFen: 463))
        // Powder: 1,400,003 × 200,000 / 500,000 = 560,001.2 → 560,001; per kg 560,001 × 1000 / 200,000 = 2,800.005 → 2,800.
        #expect(
            event.lines[1]
                == .init(onHandBeforeScaled: 500_000, valueBeforeFen: 1_400_003, issueValueFen: 560_001, issueUnitCostFen: 2_800))
        // Issuing everything takes exactly the balance's value.
        let all = try TransferRules.dispatch(
            transferID: 7, order: state.order,
            balances: [.init(onHandScaled: 1_000_000, valueFen: 463_001), .init(onHandScaled: 200_000, valueFen: 5)])
        #expect(all.lines.map(\.issueValueFen) == [463_001, 5])
    }

    @Test func dispatchRefusesTheReceiverShortStockAndASecondDispatch() throws {
        let state = try Self.created([Self.milk(litres: 1_000_000), Self.powder])
        let balances = [
            StockOnHand(onHandScaled: 2_400_500, valueFen: 1_111_432), StockOnHand(onHandScaled: 150_000, valueFen: 420_000),
        ]
        #expect(throws: TransferError.notYourStep(.dispatch, party: .sender)) {
            try state.dispatch(by: Self.receiver, balances: balances)
        }
        #expect(throws: TransferError.insufficientStock(line: 1, shortScaled: 50_000)) {
            try state.dispatch(by: Self.sender, balances: balances)
        }
        #expect(throws: TransferError.lineCount(expected: 2, got: 1)) {
            try state.dispatch(by: Self.sender, balances: [balances[0]])
        }
        let (dispatched, _) = try Self.dispatchedPair()
        #expect(throws: TransferError.wrongState(.dispatch, status: .dispatched)) {
            try dispatched.dispatch(by: Self.sender, balances: balances)
        }
        #expect(throws: TransferError.wrongState(.cancel, status: .dispatched)) { try dispatched.cancel(by: Self.sender) }
    }

    @Test func onlyTheSenderCancelsAndOnlyBeforeDispatch() throws {
        let state = try Self.created([Self.milk(litres: 1_000)])
        #expect(throws: TransferError.notYourStep(.cancel, party: .sender)) { try state.cancel(by: Self.receiver) }
        let cancelled = state.applying(.cancelled(try state.cancel(by: Self.sender)))
        #expect(cancelled.status == .cancelled)
        #expect(cancelled.settledFen == 0)
        #expect(throws: TransferError.wrongState(.dispatch, status: .cancelled)) {
            try cancelled.dispatch(by: Self.sender, balances: [.init(onHandScaled: 1_000, valueFen: 463)])
        }
        #expect(throws: TransferError.wrongState(.receive, status: .cancelled)) {
            try cancelled.receive(
                by: Self.receiver, report: .init(freightFen: 0, insuranceFen: 0, lostScaled: [0]), rules: Self.rules)
        }
    }

    // MARK: receipt

    @Test func receiptSharesFreightAndInsuranceByLargestRemainderAndValuesWhatArrived() throws {
        let (state, _) = try Self.dispatchedPair()
        let event = try state.receive(
            by: Self.receiver, report: .init(freightFen: 9_001, insuranceFen: 2_230, lostScaled: [6_000, 0]), rules: Self.rules)
        // Freight 9,001 by the estimates 7,416 : 1,440 (Σ 8,856): 7,537 r 3,744 and 1,463 r 5,112; the missing fen goes
        // to the larger remainder: 7,537 + 1,464.
        #expect(event.lines.map(\.freightFen) == [7_537, 1_464])
        // Insurance 2,230 by 1,389 : 840 (Σ 2,229): 1,389 r 1,389 and 840 r 840: 1,390 + 840.
        #expect(event.lines.map(\.insuranceFen) == [1_390, 840])
        // Milk: 463,000 + 7,537 + 1,390 + lost 6 L × 4.63 = 2,778 + premium 15 % of 7,537 = 1,130.55 → 1,131 = 475,836;
        // markup 2.5 % = 11,895.9 → 11,896; 487,732.
        // Powder: 560,000 + 1,464 + 840 + 0 + premium 219.6 → 220 = 562,524; markup 14,063.1 → 14,063; 576,587.
        #expect(event.lines.map(\.actualTotalFen) == [487_732, 576_587])
        #expect(event.actualTotalFen == 1_064_319)
        // (1,063,958 − 1,064,319) × 10^6 / 1,064,319 = −339.18 → −339 ppm: within 8,000, not flagged.
        #expect(event.errorPartsPerMillion == -339)
        #expect(!event.flagged)
        // Milk: 5,000 ppm of 1,000 L = 5 L absorbed; 1 L claimed at 4.63 = 463; landed 487,113 × 994 / 1,000 = 484,190.3
        // → 484,190, per litre 484,190 / 994 = 487.11 → 487.
        #expect(
            event.lines[0]
                == .init(
                    itemCode: "MILK-FRESH", lostScaled: 6_000, arrivedScaled: 994_000, allowanceScaled: 5_000, claimScaled: 1_000,
                    claimValueFen: 463,
                    freightFen: 7_537, insuranceFen: 1_390, actualTotalFen: 487_732, landedValueFen: 484_190,
                    landedUnitCostFen: 487))
        // Powder: nothing lost; 500 ppm of 200 kg = 0.1 kg allowed; landed at the whole 576,845, per kg 2,884.225 → 2,884.
        #expect(
            event.lines[1]
                == .init(
                    itemCode: "MILK-POWDER", lostScaled: 0, arrivedScaled: 200_000, allowanceScaled: 100, claimScaled: 0,
                    claimValueFen: 0,
                    freightFen: 1_464, insuranceFen: 840, actualTotalFen: 576_587, landedValueFen: 576_845,
                    landedUnitCostFen: 2_884))
        let received = state.applying(.received(event))
        #expect(received.status == .received)
        #expect(try received.receipt?.claimValueFen() == 463)
        #expect(try received.receipt?.landedValueFen() == 1_061_035)
        #expect(received.settledFen == 1_063_958)
    }

    @Test func aLargePricingErrorIsFlaggedAndTruedUpOnce() throws {
        // 100 L: base 46,300; freight 7,200 × 0.103 t = 741.6 → 742; insurance 138.9 → 139; loss 231.5 → tie → 232;
        // premium 111.3 → 111; markup 2.5 % of 47,524 = 1,188.1 → 1,188; estimate 48,712.
        let state = try Self.created([Self.milk(litres: 100_000)], id: 3)
        #expect(state.order.estimateTotalFen == 48_712)
        let dispatched = state.applying(
            .dispatched(try state.dispatch(by: Self.sender, balances: [.init(onHandScaled: 100_000, valueFen: 46_300)])))
        // Actual with 200 元 freight: 46,300 + 20,000 + 139 + 0 + premium 3,000 = 69,439; markup 1,735.975 → 1,736; 71,175.
        let event = try dispatched.receive(
            by: Self.receiver, report: .init(freightFen: 20_000, insuranceFen: 139, lostScaled: [0]), rules: Self.rules)
        #expect(event.actualTotalFen == 71_175)
        // (48,712 − 71,175) × 10^6 / 71,175 = −315,602.39 → −315,602: beyond 8,000, flagged.
        #expect(event.errorPartsPerMillion == -315_602)
        #expect(event.flagged)
        let received = dispatched.applying(.received(event))
        #expect(throws: TransferError.noClaim) { try received.settleClaim(recoveredFen: 0) }
        let trueUp = try received.trueUp()
        // 71,175 − 48,712 = 22,463.
        #expect(trueUp == .init(transferID: 3, estimateTotalFen: 48_712, actualTotalFen: 71_175, trueUpFen: 22_463))
        let trued = received.applying(.truedUp(trueUp))
        #expect(trued.receipt?.trueUpFen == 22_463)
        #expect(trued.settledFen == 71_175)
        #expect(throws: TransferError.truedUpAlready) { try trued.trueUp() }
        #expect(throws: TransferError.wrongState(.trueUp, status: .dispatched)) { try dispatched.trueUp() }
    }

    @Test func aClaimIsSettledOnceForNoMoreThanItsValue() throws {
        let (state, _) = try Self.dispatchedPair()
        let received = state.applying(
            .received(
                try state.receive(
                    by: Self.receiver, report: .init(freightFen: 9_001, insuranceFen: 2_230, lostScaled: [6_000, 0]),
                    rules: Self.rules)))
        #expect(throws: TransferError.notFlagged) { try received.trueUp() }
        #expect(throws: TransferError.recoveryOutsideClaim(claimValueFen: 463)) { try received.settleClaim(recoveredFen: 464) }
        #expect(throws: TransferError.recoveryOutsideClaim(claimValueFen: 463)) { try received.settleClaim(recoveredFen: -1) }
        // 400 of the 463 claimed came back; 63 did not.
        let settled = try received.settleClaim(recoveredFen: 400)
        #expect(settled == .init(transferID: 7, claimValueFen: 463, recoveredFen: 400, unrecoveredFen: 63))
        let after = received.applying(.claimSettled(settled))
        #expect(after.receipt?.claimRecoveredFen == 400)
        #expect(throws: TransferError.claimSettledAlready) { try after.settleClaim(recoveredFen: 0) }
        #expect(throws: TransferError.wrongState(.settleClaim, status: .dispatched)) { try state.settleClaim(recoveredFen: 0) }
    }

    @Test func aReceiptThatDoesNotFitTheOrderIsRefused() throws {
        let (state, _) = try Self.dispatchedPair()
        func receive(_ report: ArrivalReport, by org: OrgCode = Self.receiver, rules: PricingRules = Self.rules) throws {
            _ = try state.receive(by: org, report: report, rules: rules)
        }
        #expect(throws: TransferError.notYourStep(.receive, party: .receiver)) {
            try receive(.init(freightFen: 0, insuranceFen: 0, lostScaled: [0, 0]), by: Self.sender)
        }
        #expect(throws: TransferError.lostOutsideSent(line: 1)) {
            try receive(.init(freightFen: 0, insuranceFen: 0, lostScaled: [0, 200_001]))
        }
        #expect(throws: TransferError.lostOutsideSent(line: 0)) {
            try receive(.init(freightFen: 0, insuranceFen: 0, lostScaled: [-1, 0]))
        }
        #expect(throws: TransferError.lineCount(expected: 2, got: 1)) {
            try receive(.init(freightFen: 0, insuranceFen: 0, lostScaled: [0]))
        }
        #expect(throws: TransferError.reportedAmount(.insurance)) {
            try receive(.init(freightFen: 0, insuranceFen: -1, lostScaled: [0, 0]))
        }
        #expect(throws: TransferError.reportedAmount(.freight)) {
            try receive(.init(freightFen: Bounds.amountFenMax + 1, insuranceFen: 0, lostScaled: [0, 0]))
        }
        let july = PricingRules(
            version: "v2", effectiveFrom: Self.rules.effectiveFrom, freightTiers: Self.rules.freightTiers,
            categories: Self.rules.categories,
            shortShelfLifeDays: 15, expressLeadTimeHoursMax: 12, standardPremiumBasisPoints: 0, expressPremiumBasisPoints: 1500)
        #expect(throws: TransferError.rulesVersion(expected: "v1", got: "v2")) {
            try receive(.init(freightFen: 0, insuranceFen: 0, lostScaled: [0, 0]), rules: july)
        }
        let created = try Self.created([Self.milk(litres: 1_000)])
        #expect(throws: TransferError.wrongState(.receive, status: .created)) {
            try created.receive(
                by: Self.receiver, report: .init(freightFen: 0, insuranceFen: 0, lostScaled: [0]), rules: Self.rules)
        }
    }

    // MARK: the formulas one by one

    @Test func landedValueIsThePricePorataRoundedHalfEven() throws {
        #expect(try TransferRules.landedValue(lineTotalFen: 487_113, sentScaled: 1_000_000, arrivedScaled: 994_000) == 484_190)
        #expect(try TransferRules.landedValue(lineTotalFen: 5, sentScaled: 2, arrivedScaled: 1) == 2)  // 2.5 → even 2
        #expect(try TransferRules.landedValue(lineTotalFen: 7, sentScaled: 2, arrivedScaled: 1) == 4)  // 3.5 → even 4
        #expect(try TransferRules.landedValue(lineTotalFen: 9, sentScaled: 3, arrivedScaled: 3) == 9)
        #expect(try TransferRules.landedValue(lineTotalFen: 9, sentScaled: 3, arrivedScaled: 0) == 0)
    }

    @Test func theFlagIsBeyondTheToleranceEitherWay() throws {
        #expect(!TransferRules.isFlagged(errorPartsPerMillion: 8_000, tolerancePartsPerMillion: 8_000))
        #expect(TransferRules.isFlagged(errorPartsPerMillion: 8_001, tolerancePartsPerMillion: 8_000))
        #expect(TransferRules.isFlagged(errorPartsPerMillion: -8_001, tolerancePartsPerMillion: 8_000))
        #expect(TransferRules.isFlagged(errorPartsPerMillion: .min, tolerancePartsPerMillion: 8_000))
        #expect(!TransferRules.isFlagged(errorPartsPerMillion: nil, tolerancePartsPerMillion: 0))
        // 10^12 against 1 fen is 10^18 ppm: within Int64, beyond what the ledger can state.
        #expect(throws: OutOfRange.self) { try TransferRules.pricingError(estimateFen: 1_000_000_000_000, actualFen: 1) }
        #expect(try TransferRules.pricingError(estimateFen: 100, actualFen: 109) == -82_569)
        #expect(try TransferRules.pricingError(estimateFen: 100, actualFen: 0) == nil)
        #expect(throws: TransferError.outOfRange(OutOfRange("a difference of amounts"), line: nil)) {
            try TransferRules.trueUp(transferID: 1, estimateTotalFen: .min, actualTotalFen: 1)
        }
    }

    // MARK: the ledger's bodies

    @Test func everyLedgerEventRoundTripsThroughItsCanonicalBody() throws {
        let (state, dispatched) = try Self.dispatchedPair()
        let received = try state.receive(
            by: Self.receiver, report: .init(freightFen: 9_001, insuranceFen: 2_230, lostScaled: [6_000, 0]), rules: Self.rules)
        let settled = try state.applying(.received(received)).settleClaim(recoveredFen: 400)
        let trueUp = TransferEvent.TruedUp(transferID: 3, estimateTotalFen: 48_712, actualTotalFen: 71_175, trueUpFen: 22_463)
        func reread<Event: TransferLedgerEvent>(_ event: Event) throws -> Event {
            try Event(ledgerBody: try CanonicalJSON.parse(CanonicalJSON.encode(event.ledgerBody)))
        }
        #expect(try reread(dispatched) == dispatched)
        #expect(try reread(received) == received)
        #expect(try reread(trueUp) == trueUp)
        #expect(try reread(settled) == settled)
        #expect(
            String(decoding: CanonicalJSON.encode(trueUp.ledgerBody), as: UTF8.self)
                == #"{"actual_total_fen":71175,"estimate_total_fen":48712,"transfer_id":3,"true_up_fen":22463}"#)
        #expect(
            String(decoding: CanonicalJSON.encode(settled.ledgerBody), as: UTF8.self)
                == #"{"claim_value_fen":463,"recovered_fen":400,"transfer_id":7,"unrecovered_fen":63}"#)
        #expect(TransferEvent.dispatched(dispatched).ledger?.type.rawValue == "transfer.dispatched")
        #expect(TransferEvent.received(received).ledger?.type.rawValue == "transfer.received")
        #expect(TransferEvent.truedUp(trueUp).ledger?.type.rawValue == "transfer.trued_up")
        #expect(TransferEvent.claimSettled(settled).ledger?.type.rawValue == "claim.settled")
        #expect(TransferEvent.cancelled(.init(transferID: 7)).ledger == nil)
        // An error of an actual cost of 0 is null, and reads back as none.
        let free = TransferEvent.Received(
            transferID: 1, actualFreightFen: 0, actualInsuranceFen: 0, lines: [], actualTotalFen: 0, errorPartsPerMillion: nil,
            flagged: false)
        guard case .object(let members) = free.ledgerBody else { Issue.record("not an object"); return }
        #expect(members["error_ppm"] == .null)
        #expect(try reread(free) == free)
    }

    /// What the verifier does: read the dispatch and the receipt back from their bodies and
    /// recompute each from the inputs they record, with the published rules.
    @Test func aReadBackEventRecomputesFromItsRecordedInputs() throws {
        let (state, dispatched) = try Self.dispatchedPair()
        let received = try state.receive(
            by: Self.receiver, report: .init(freightFen: 9_001, insuranceFen: 2_230, lostScaled: [6_000, 0]), rules: Self.rules)
        let dispatch = try TransferEvent.Dispatched(ledgerBody: dispatched.ledgerBody)
        let receipt = try TransferEvent.Received(ledgerBody: received.ledgerBody)
        #expect(
            try TransferRules.price(
                dispatch.order.lines.map { TransferGoods(itemCode: $0.itemCode, goods: $0.goods) }, lane: dispatch.order.lane,
                rules: Self.rules)
                == dispatch.order.lines)
        #expect(
            try TransferRules.dispatch(transferID: dispatch.transferID, order: dispatch.order, balances: dispatch.balances)
                == dispatch)
        #expect(
            try TransferRules.receive(
                transferID: receipt.transferID, order: dispatch.order, report: receipt.report, rules: Self.rules) == receipt)
        // A figure changed in the body is a different event: the recomputation tells them apart.
        guard case .object(var body) = received.ledgerBody, case .array(var lines) = body["lines"],
            case .object(var first) = lines[0]
        else {
            Issue.record("unexpected body shape")
            return
        }
        first["landed_value_fen"] = .integer(0)
        lines[0] = .object(first)
        body["lines"] = .array(lines)
        let tampered = try TransferEvent.Received(ledgerBody: .object(body))
        #expect(
            try TransferRules.receive(
                transferID: tampered.transferID, order: dispatch.order, report: tampered.report, rules: Self.rules) != tampered)
    }

    @Test func aBodyWithAKeyMissingExtraOrInconsistentIsRefusedNamingIt() throws {
        let (_, dispatched) = try Self.dispatchedPair()
        guard case .object(let body) = dispatched.ledgerBody else { Issue.record("not an object"); return }
        func refusal(_ edit: (inout [String: JSONValue]) -> Void) -> LedgerDocumentError? {
            var copy = body
            edit(&copy)
            do {
                _ = try TransferEvent.Dispatched(ledgerBody: .object(copy))
                return nil
            } catch {
                return error
            }
        }
        #expect(refusal { $0["lane"] = nil } == .missing(field: "lane"))
        #expect(refusal { $0["extra"] = .integer(1) } == .malformed(field: "extra", reason: "is not a field of this document"))
        #expect(
            refusal { $0["estimate_total_fen"] = .integer(1) }
                == .malformed(field: "estimate_total_fen", reason: "must be the sum of the lines' totals, 1063958"))
        #expect(refusal { $0["from"] = .string("wh-a") } == .malformed(field: "from", reason: "wh-a is not an org code"))
        #expect(refusal { $0["lines"] = .array([]) } == .malformed(field: "lines", reason: "a transfer has at least one line"))
        #expect(
            refusal {
                guard case .array(var lines) = $0["lines"], case .object(var line) = lines[1] else { return }
                line["total_fen"] = .integer(576_846)
                lines[1] = .object(line)
                $0["lines"] = .array(lines)
            } == .malformed(field: "lines[1].total_fen", reason: "must be the sum of the components, 576845"))
        #expect(throws: LedgerDocumentError.malformed(field: "flagged", reason: "must be true or false")) {
            try TransferEvent.Received(
                ledgerBody: .object([
                    "transfer_id": .integer(1), "actual_freight_fen": .integer(0), "actual_insurance_fen": .integer(0),
                    "lines": .array([]),
                    "actual_total_fen": .integer(0), "error_ppm": .null, "flagged": .integer(0),
                ]))
        }
    }
}
