import Foundation
import OrgMatrixCore
import Testing

/// The books against the ledger, and the columns a ledger row keeps beside its document: every
/// comparison is equality, so each test edits one stored value and expects exactly that value
/// named, with what the signed event says and what the row says.
@Suite struct BooksReconciliationTests {
    typealias Machine = TransferStateMachineTests

    static let dispatchHash = LedgerHash.of(Array("dispatch".utf8))
    static let receiptHash = LedgerHash.of(Array("receipt".utf8))
    static let trueUpHash = LedgerHash.of(Array("true-up".utf8))

    /// Transfer 3 of 100 L (estimate 48,712 fen), received with 200 元 freight (actual 71,175,
    /// error −315,602 ppm, flagged) and trued up by 22,463 fen: TransferStateMachineTests' figures.
    static func trued() throws -> (TransferState, [SignedTransferEvent]) {
        let created = try Machine.created([Machine.milk(litres: 100_000)], id: 3)
        let dispatched = try created.dispatch(by: Machine.sender, balances: [.init(onHandScaled: 100_000, valueFen: 46_300)])
        let inTransit = created.applying(.dispatched(dispatched))
        let received = try inTransit.receive(
            by: Machine.receiver, report: .init(freightFen: 20_000, insuranceFen: 139, lostScaled: [0]), rules: Machine.rules)
        let arrived = inTransit.applying(.received(received))
        let truedUp = try arrived.trueUp()
        return (
            arrived.applying(.truedUp(truedUp)),
            [
                SignedTransferEvent(transactionHash: dispatchHash, filedUnderTransferID: 3, event: .dispatched(dispatched)),
                SignedTransferEvent(transactionHash: receiptHash, filedUnderTransferID: 3, event: .received(received)),
                SignedTransferEvent(transactionHash: trueUpHash, filedUnderTransferID: 3, event: .truedUp(truedUp)),
            ]
        )
    }

    /// The rows the Store writes for `state`: what the tests then edit.
    static func posted(_ state: TransferState) -> PostedTransfer {
        let receipt = state.receipt
        return PostedTransfer(
            transferID: state.id, fromCode: state.order.from.rawValue, toCode: state.order.to.rawValue, status: state.status,
            rulesVersion: state.order.rulesVersion, createdAt: state.order.pricedAt, estimateTotalFen: state.order.estimateTotalFen,
            actualFreightFen: receipt?.actualFreightFen, actualInsuranceFen: receipt?.actualInsuranceFen,
            actualTotalFen: receipt?.actualTotalFen, errorPartsPerMillion: receipt?.errorPartsPerMillion,
            flagged: receipt?.flagged ?? false, trueUpFen: receipt?.trueUpFen, claimRecoveredFen: receipt?.claimRecoveredFen,
            lines: state.order.lines.enumerated().map { index, line in
                let booked = receipt?.lines[index]
                let price = line.price
                return PostedTransfer.Line(
                    lineNumber: Int32(index + 1), itemCode: line.itemCode, quantityScaled: line.goods.scaledQuantity,
                    unitCostFen: line.goods.unitCostFen, weightGramsPerUnit: line.goods.weightGramsPerUnit,
                    category: line.goods.category, shelfLifeDays: line.goods.shelfLifeDays, baseCostFen: price.baseCost.fen,
                    freightFen: price.freight.fen, insuranceFen: price.insurance.fen, lossAllowanceFen: price.lossAllowance.fen,
                    timelinessFen: price.timelinessPremium.fen, markupFen: price.markup.fen, totalFen: price.total.fen,
                    breakdown: price.components, lostScaled: booked?.lostScaled, allowanceScaled: booked?.allowanceScaled,
                    claimScaled: booked?.claimScaled, claimValueFen: booked?.claimValueFen, landedValueFen: booked?.landedValueFen
                )
            })
    }

    private func only(_ failures: [LedgerVerificationFailure]) throws -> LedgerVerificationFailure {
        #expect(failures.count == 1, "\(failures)")
        return try #require(failures.first)
    }

    @Test func rowsThatStateWhatTheTransactionsStateAreClean() throws {
        let (state, events) = try Self.trued()
        #expect(BooksReconciliation.failures(Self.posted(state), events: events).isEmpty)
        // In any order.
        #expect(BooksReconciliation.failures(Self.posted(state), events: events.reversed()).isEmpty)
        // A transfer only created has no transaction, and needs none.
        let created = try Machine.created([Machine.milk(litres: 100_000)], id: 4)
        #expect(BooksReconciliation.failures(Self.posted(created), events: []).isEmpty)
    }

    @Test func aFigureEditedBehindTheLedgerIsNamedWithBothValues() throws {
        let (state, events) = try Self.trued()
        let (dispatch, receipt, trueUp) = (Self.dispatchHash, Self.receiptHash, Self.trueUpHash)
        // Field, the transactions that state it, signed value, stored value, the edit.
        let edits: [(String, [LedgerHash], String, String, (inout PostedTransfer) -> Void)] = [
            // The receipt and the true-up both state the actual cost.
            ("transfers[3].actual_total_fen", [receipt, trueUp], "71175", "71176", { $0.actualTotalFen = 71_176 }),
            ("transfers[3].estimate_total_fen", [dispatch, trueUp], "48712", "48711", { $0.estimateTotalFen = 48_711 }),
            ("transfers[3].error_ppm", [receipt], "-315602", "null", { $0.errorPartsPerMillion = nil }),
            ("transfers[3].flagged", [receipt], "true", "false", { $0.flagged = false }),
            ("transfers[3].actual_freight_fen", [receipt], "20000", "2000", { $0.actualFreightFen = 2_000 }),
            ("transfers[3].actual_insurance_fen", [receipt], "139", "140", { $0.actualInsuranceFen = 140 }),
            ("transfers[3].rules_version", [dispatch], "v1", "v2", { $0.rulesVersion = "v2" }),
            (
                "transfers[3].created_at", [dispatch], "2026-10-01T00:00:00.000000Z", "2026-09-30T00:00:00.000000Z",
                { $0.createdAt = UTCMicros("2026-09-30T00:00:00.000000Z")! }
            ),
            ("transfers[3].to_code", [dispatch], "WH-B", "WH-C", { $0.toCode = "WH-C" }),
            ("transfers[3].true_up_fen", [trueUp], "22463", "0", { $0.trueUpFen = 0 }),
            // 100 L: line total 48,712, freight 742, markup 1,188 (TransferStateMachineTests).
            ("transfer_lines[3/1].total_fen", [dispatch], "48712", "48000", { $0.lines[0].totalFen = 48_000 }),
            ("transfer_lines[3/1].freight_fen", [dispatch], "742", "743", { $0.lines[0].freightFen = 743 }),
            ("transfer_lines[3/1].markup_fen", [dispatch], "1188", "1189", { $0.lines[0].markupFen = 1_189 }),
            ("transfer_lines[3/1].unit_cost_fen", [dispatch], "463", "464", { $0.lines[0].unitCostFen = 464 }),
            ("transfer_lines[3/1].quantity_scaled", [dispatch], "100000", "99000", { $0.lines[0].quantityScaled = 99_000 }),
            ("transfer_lines[3/1].item", [dispatch, receipt], "MILK-FRESH", "MILK-UHT", { $0.lines[0].itemCode = "MILK-UHT" }),
            // Nothing lost: the whole line landed at its price.
            ("transfer_lines[3/1].landed_value_fen", [receipt], "48712", "48713", { $0.lines[0].landedValueFen = 48_713 }),
            ("transfer_lines[3/1].lost_scaled", [receipt], "0", "1", { $0.lines[0].lostScaled = 1 }),
            ("transfer_lines[3/1].claim_value_fen", [receipt], "0", "null", { $0.lines[0].claimValueFen = nil }),
            (
                "transfer_lines[3/1].breakdown[1].amount_fen", [dispatch], "742", "0",
                {
                    $0.lines[0].breakdown![1] = .init(
                        name: "freight", amount: .zero, explanation: $0.lines[0].breakdown![1].explanation)
                }
            ),
            (
                "transfer_lines[3/1].breakdown[5].name", [dispatch], "markup", "margin",
                {
                    $0.lines[0].breakdown![5] = .init(
                        name: "margin", amount: Money(fen: 1_188), explanation: $0.lines[0].breakdown![5].explanation)
                }
            ),
            ("transfer_lines[3/1].breakdown", [dispatch], "6 components", "not a breakdown", { $0.lines[0].breakdown = nil }),
        ]
        for (field, hashes, expected, found, edit) in edits {
            var rows = Self.posted(state)
            edit(&rows)
            let failures = BooksReconciliation.failures(rows, events: events)
            #expect(failures.map(\.transactionHash) == hashes, "\(field): \(failures)")
            for failure in failures {
                #expect(failure.kind == .bookMismatch && failure.field == field && failure.blockNumber == nil, "\(failure)")
                #expect(failure.expected == expected && failure.found == found, "\(failure)")
            }
        }
    }

    @Test func aLineMoreOrLessThanTheTransactionsIsNamedOncePerTransaction() throws {
        let (state, events) = try Self.trued()
        var rows = Self.posted(state)
        rows.lines.append(rows.lines[0])
        let failures = BooksReconciliation.failures(rows, events: events)
        #expect(failures.map(\.field) == ["transfers[3].lines", "transfers[3].lines"])
        #expect(failures.map(\.transactionHash) == [Self.dispatchHash, Self.receiptHash])
        #expect(failures.allSatisfy { $0.expected == "1" && $0.found == "2" && $0.kind == .bookMismatch })
    }

    @Test func aStepWithoutItsTransactionAndATransactionWithoutItsStepAreNamed() throws {
        let (state, events) = try Self.trued()
        // The true-up's transaction is gone.
        let missing = try only(BooksReconciliation.failures(Self.posted(state), events: Array(events.prefix(2))))
        #expect(
            missing.kind == .stepWithoutTransaction && missing.field == "transfers[3].true_up_fen"
                && missing.transactionHash == nil)
        #expect(missing.expected == "a transfer.trued_up transaction" && missing.found == "none")
        // The rows say dispatched, not received: the receipt and the true-up evidence no step.
        var rows = Self.posted(state)
        (rows.status, rows.trueUpFen) = (.dispatched, nil)
        let unposted = BooksReconciliation.failures(rows, events: events)
        #expect(unposted.map(\.kind) == [.transactionWithoutStep, .transactionWithoutStep])
        #expect(unposted.map(\.transactionHash) == [Self.receiptHash, Self.trueUpHash])
        #expect(unposted.map(\.field) == ["transfers[3].status", "transfers[3].true_up_fen"])
        #expect(unposted.map(\.expected) == ["received", "set"] && unposted.map(\.found) == ["dispatched", "null"])
    }

    @Test func aTransactionFiledUnderAnotherTransferEvidencesNothingThere() throws {
        let (state, events) = try Self.trued()
        // The true-up's row names transfer 3, its bytes transfer 9.
        let trueUp = TransferEvent.TruedUp(transferID: 9, estimateTotalFen: 48_712, actualTotalFen: 71_175, trueUpFen: 22_463)
        let misfiled = SignedTransferEvent(transactionHash: Self.trueUpHash, filedUnderTransferID: 3, event: .truedUp(trueUp))
        let failures = BooksReconciliation.failures(Self.posted(state), events: Array(events.prefix(2)) + [misfiled])
        #expect(failures.map(\.kind) == [.transactionRowMismatch, .stepWithoutTransaction], "\(failures)")
        #expect(failures[0].field == "transfer_id" && failures[0].expected == "9" && failures[0].found == "3")
        // A second transaction for one step is named; the first (by hash) is the one compared.
        let twice = BooksReconciliation.failures(Self.posted(state), events: events + [events[2]])
        #expect(twice.map(\.kind) == [.transactionWithoutStep] && twice[0].field == "transfers[3].true_up_fen", "\(twice)")
        // Filed under a transfer the reader has no rows of.
        let unmatched = BooksReconciliation.failure(unmatched: events[0])
        #expect(
            unmatched.kind == .transactionWithoutStep && unmatched.field == "transfers[3]"
                && unmatched.found == "no such transfer")
    }

    @Test func aSignedEventIsReadFromItsTransactionAndOnlyFromATransferType() throws {
        let (_, events) = try Self.trued()
        guard case .received(let received) = events[1].event else { Issue.record("not a receipt"); return }
        let transaction = LedgerTransaction(
            type: .transferReceived, tenant: try TenantCode("dairy"), at: UTCMicros(microsecondsSinceEpoch: 1),
            endorsers: [.receiver: Machine.receiver], policy: .role(.receiver), body: received.ledgerBody)
        #expect(SignedTransferEvent.Event(transaction) == .received(received))
        #expect(SignedTransferEvent.Event(transaction)?.transferID == 3)
        let key = LedgerTransaction(
            type: .keyRegistered, tenant: try TenantCode("dairy"), at: UTCMicros(microsecondsSinceEpoch: 1), endorsers: [:],
            policy: .role(.hq), body: received.ledgerBody)
        #expect(SignedTransferEvent.Event(key) == nil)
        // A receipt body under the dispatch's type is not a dispatch.
        let wrong = LedgerTransaction(
            type: .transferDispatched, tenant: try TenantCode("dairy"), at: UTCMicros(microsecondsSinceEpoch: 1),
            endorsers: [:], policy: .role(.sender), body: received.ledgerBody)
        #expect(SignedTransferEvent.Event(wrong) == nil)
    }

    // MARK: stored columns

    static let transaction = LedgerTransaction(
        type: .transferReceived, tenant: try! TenantCode("dairy"), at: UTCMicros(microsecondsSinceEpoch: 1_764_645_577_123_456),
        endorsers: [.receiver: try! OrgCode("SJZ-FW"), .sender: try! OrgCode("BJ-CW"), .hq: try! OrgCode("HQ")],
        policy: .all([.role(.receiver), .role(.sender)]), body: .object([:]))

    @Test func aTransactionRowsColumnsAreHeldToItsBytes() {
        let hash = Self.transaction.hash
        // The envelope names HQ too, but not under a role of the policy: the column lists the two that are.
        let stored = LedgerStoredColumns.Transaction(
            claimedHash: hash, type: "transfer.received", atMicros: 1_764_645_577_123_456, endorserOrgs: ["BJ-CW", "SJZ-FW"])
        #expect(LedgerStoredColumns.failures(stored, Self.transaction).isEmpty)
        var edited = stored
        (edited.type, edited.atMicros, edited.endorserOrgs) = (
            "transfer.dispatched", 1_764_645_577_123_457, ["BJ-CW", "org id 7"]
        )
        let failures = LedgerStoredColumns.failures(edited, Self.transaction)
        #expect(failures.allSatisfy { $0.kind == .transactionRowMismatch && $0.transactionHash == hash })
        #expect(failures.map(\.field) == ["tx_type", "at", "endorser_org_ids"])
        #expect(failures.map(\.expected) == ["transfer.received", "2025-12-02T03:19:37.123456Z", "BJ-CW, SJZ-FW"])
        #expect(failures.map(\.found) == ["transfer.dispatched", "2025-12-02T03:19:37.123457Z", "BJ-CW, org id 7"])
        edited.endorserOrgs = []
        #expect(LedgerStoredColumns.failures(edited, Self.transaction).last?.found == "none")
    }

    @Test func aBlockRowsColumnsAndItsEntriesLogIndexesAreHeldToItsHeader() throws {
        // Block 2 holds 3 transactions at log indexes 5, 6, 7 (log size 8).
        let header = BlockHeader(
            tenant: try TenantCode("dairy"), number: 2, previousHash: LedgerHash.of([1]), dataHash: LedgerHash.of([2]),
            transactionCount: 3, logSize: 8, logRoot: LedgerHash.of([3]), sealedAt: UTCMicros(microsecondsSinceEpoch: 1_000_000))
        let stored = LedgerStoredColumns.Block(
            number: 2, previousHash: LedgerHash.of([1]), transactionCount: 3, logSize: 8, sealedAtMicros: 1_000_000,
            logIndexes: [5, 6, 7])
        #expect(LedgerStoredColumns.failures(stored, header).isEmpty)
        let edited = LedgerStoredColumns.Block(
            number: 2, previousHash: .zero, transactionCount: 2, logSize: 9, sealedAtMicros: 999_999, logIndexes: [5, 7, 6])
        let failures = LedgerStoredColumns.failures(edited, header)
        #expect(failures.allSatisfy { $0.kind == .blockRowMismatch && $0.blockNumber == 2 })
        #expect(
            failures.map(\.field) == [
                "prev_hash", "tx_count", "log_size", "sealed_at", "entries[1].log_index", "entries[2].log_index",
            ])
        #expect(failures.map(\.expected).suffix(4) == ["8", "1970-01-01T00:00:01.000000Z", "6", "7"])
        #expect(failures.map(\.found).suffix(4) == ["9", "1970-01-01T00:00:00.999999Z", "7", "6"])
    }
}
