import Foundation
import OrgMatrixCore
import SMCrypto
import Testing

/// Two transfers on the state machine tests' rules ("v1") and lane (WH-A → WH-B), as the
/// Store writes them, each transaction signed by its endorsers with real SM2 keys. Seconds
/// after 2026-10-01T00:00:00Z:
///
/// | second | what |
/// |---|---|
/// | 0 | keys HQ, WH-A, WH-B, WH-C v1 and their `key.registered` |
/// | 1 | `pricing.rules_published` v1 (effective 2026-01-01) |
/// | 3, 4 | transfer 7 (milk 1,000 L, powder 200 kg) dispatched, received: 12 L of milk lost (5 L allowed), freight 300.00 paid for 88.56 estimated: flagged |
/// | 5, 6 | transfer 7 trued up; its claim (7 L of milk, 32.41) settled for 30.00 |
/// | 7, 8 | transfer 8 (powder 200 kg) dispatched, received at the estimated freight and insurance: not flagged |
struct FigureLedger {
    static func t(_ seconds: Int64) -> UTCMicros { LedgerFixture.t(seconds) }
    typealias Machine = TransferStateMachineTests

    static let (hq, sender, receiver, stranger) = (
        try! OrgCode("HQ"), Machine.sender, Machine.receiver, try! OrgCode("WH-C")
    )
    static let senderAndReceiver = EndorsementPolicy.all([.role(.sender), .role(.receiver)])
    static let parties: [EndorserRole: OrgCode] = [.sender: sender, .receiver: receiver]

    /// `rules` under another version and effective date.
    static func rules(_ version: String, effectiveFrom: String, from rules: PricingRules = Machine.rules) -> PricingRules {
        PricingRules(
            version: version, effectiveFrom: UTCMicros(wholeSeconds: effectiveFrom)!, freightTiers: rules.freightTiers,
            categories: rules.categories, shortShelfLifeDays: rules.shortShelfLifeDays,
            expressLeadTimeHoursMax: rules.expressLeadTimeHoursMax, standardPremiumBasisPoints: rules.standardPremiumBasisPoints,
            expressPremiumBasisPoints: rules.expressPremiumBasisPoints,
            errorTolerancePartsPerMillion: rules.errorTolerancePartsPerMillion)
    }

    let tenant = try! TenantCode("dairy")
    private var privateKeys: [OrgCode: SM2PrivateKey] = [:]
    private(set) var transactions: [String: LedgerTransaction] = [:]
    private(set) var labels: [LedgerHash: String] = [:]
    var evidence: LedgerEvidence
    /// The events as Core's state machine decided them.
    let dispatched7: TransferEvent.Dispatched
    let received7: TransferEvent.Received
    let dispatched8: TransferEvent.Dispatched
    let received8: TransferEvent.Received

    /// `published`: the rule versions published, each with its label and moment; `pricing`:
    /// the version both transfers are priced with.
    init(
        published: [(String, PricingRules, UTCMicros)] = [("rules", Machine.rules, t(1))], pricing: PricingRules = Machine.rules,
        pricing8: PricingRules? = nil, pricedAt8: UTCMicros = t(7)
    ) throws {
        evidence = LedgerEvidence(tenant: tenant, keys: [], transactions: [], blocks: [])
        let hq = Self.hq
        let seven = TransferState(
            id: 7,
            created: try TransferRules.create(
                from: Self.sender, to: Self.receiver, goods: [Machine.milk(litres: 1_000_000), Machine.powder],
                onHandScaled: [2_400_500, 500_000], lane: Machine.lane, rules: pricing, pricedAt: Self.t(3)))
        dispatched7 = try seven.dispatch(
            by: Self.sender,
            balances: [.init(onHandScaled: 2_400_500, valueFen: 1_111_432), .init(onHandScaled: 500_000, valueFen: 1_400_003)])
        received7 = try seven.applying(.dispatched(dispatched7)).receive(
            by: Self.receiver, report: ArrivalReport(freightFen: 30_000, insuranceFen: 2_229, lostScaled: [12_000, 0]),
            rules: pricing)
        let settled7 = seven.applying(.dispatched(dispatched7)).applying(.received(received7))
        let eight = TransferState(
            id: 8,
            created: try TransferRules.create(
                from: Self.sender, to: Self.receiver, goods: [Machine.powder], onHandScaled: [300_000], lane: Machine.lane,
                rules: pricing8 ?? pricing, pricedAt: pricedAt8))
        dispatched8 = try eight.dispatch(by: Self.sender, balances: [.init(onHandScaled: 300_000, valueFen: 840_000)])
        received8 = try eight.applying(.dispatched(dispatched8)).receive(
            by: Self.receiver, report: ArrivalReport(freightFen: 1_440, insuranceFen: 840, lostScaled: [0]), rules: pricing8 ?? pricing)

        for org in [hq, Self.sender, Self.receiver, Self.stranger] {
            let key = SM2PrivateKey.generate()
            privateKeys[org] = key
            let row = LedgerEvidence.Key(
                owner: .org(org), version: 1, custody: .custodial, publicKeyDER: key.publicKey.derRepresentation,
                validFrom: Self.t(0), revocation: nil)
            evidence.keys.append(row)
            try add("reg\(org)", .keyRegistered, at: Self.t(0), [.hq: hq], .role(.hq), row.registration.ledgerBody)
        }
        for (label, rules, at) in published {
            try add(
                label, .pricingRulesPublished, at: at, [.hq: hq], .role(.hq), try PricingRulesPublished(rules: rules).ledgerBody)
        }

        let (parties, both) = (Self.parties, Self.senderAndReceiver)
        try add("dispatch7", .transferDispatched, at: Self.t(3), parties, both, dispatched7.ledgerBody)
        try add("receive7", .transferReceived, at: Self.t(4), parties, both, received7.ledgerBody)
        try add("trueUp7", .transferTruedUp, at: Self.t(5), [.hq: hq], .role(.hq), try settled7.trueUp().ledgerBody)
        try add(
            "claim7", .claimSettled, at: Self.t(6), [.hq: hq, .receiver: Self.receiver], .all([.role(.hq), .role(.receiver)]),
            try settled7.settleClaim(recoveredFen: 3_000).ledgerBody)
        try add("dispatch8", .transferDispatched, at: Self.t(7), parties, both, dispatched8.ledgerBody)
        try add("receive8", .transferReceived, at: Self.t(8), parties, both, received8.ledgerBody)
    }

    /// A committed transaction, endorsed by every org its envelope names.
    mutating func add(
        _ label: String, _ type: LedgerTransactionType, at: UTCMicros, _ endorsers: [EndorserRole: OrgCode],
        _ policy: EndorsementPolicy, _ body: JSONValue
    ) throws {
        let transaction = LedgerTransaction(type: type, tenant: tenant, at: at, endorsers: endorsers, policy: policy, body: body)
        transactions[label] = transaction
        labels[transaction.hash] = label
        evidence.transactions.append(try stored(transaction))
    }

    private func stored(_ transaction: LedgerTransaction) throws -> LedgerEvidence.Transaction {
        let bytes = transaction.canonicalBytes
        return .init(
            claimedHash: transaction.hash, canonicalBytes: bytes, claimedStatus: .committed,
            endorsements: try Set(transaction.endorsers.values).sorted { $0.rawValue < $1.rawValue }.map {
                .init(org: $0, keyVersion: 1, signatureDER: try privateKeys[$0]!.signature(for: bytes).derRepresentation)
            }, dispute: nil)
    }

    /// The ledger with `label` rewritten, canonicalized, hashed and signed again by the orgs it
    /// names (so only its figures can be wrong), still known by its label.
    func rewritten(
        _ label: String, at: UTCMicros? = nil, endorsers: [EndorserRole: OrgCode]? = nil,
        body change: (JSONValue) -> JSONValue = { $0 }
    ) throws -> FigureLedger {
        var copy = self
        let old = transactions[label]!
        let forged = LedgerTransaction(
            type: old.type, tenant: old.tenant, at: at ?? old.at, endorsers: endorsers ?? old.endorsers, policy: old.policy,
            body: change(old.body))
        let position = evidence.transactions.firstIndex { $0.claimedHash == old.hash }!
        copy.evidence.transactions[position] = try stored(forged)
        copy.transactions[label] = forged
        copy.labels[forged.hash] = label
        return copy
    }

    /// The ledger without `label`.
    func removing(_ label: String) -> FigureLedger {
        var copy = self
        copy.evidence.transactions.removeAll { $0.claimedHash == transactions[label]!.hash }
        return copy
    }

    func marks(_ report: LedgerVerificationReport) -> [Mark] {
        report.failures.map {
            Mark(
                kind: $0.kind, block: $0.blockNumber, transaction: $0.transactionHash.map { labels[$0] ?? $0.hex },
                field: $0.field)
        }.sorted()
    }
}

extension JSONValue {
    /// This value with the member at `path` (`lines[0].components[1].amount_fen`) replaced by
    /// `change` of it.
    func changing(_ path: String, _ change: (JSONValue) -> JSONValue) -> JSONValue {
        var steps: [Either] = []
        for segment in path.split(separator: ".") {
            let parts = segment.split(separator: "[")
            steps.append(.key(String(parts[0])))
            steps += parts.dropFirst().map { .index(Int($0.dropLast())!) }
        }
        return changing(steps[...], change)
    }

    private enum Either {
        case key(String)
        case index(Int)
    }

    private func changing(_ steps: ArraySlice<Either>, _ change: (JSONValue) -> JSONValue) -> JSONValue {
        guard let step = steps.first else { return change(self) }
        switch (self, step) {
        case (.object(var members), .key(let key)):
            members[key] = members[key]!.changing(steps.dropFirst(), change)
            return .object(members)
        case (.array(var elements), .index(let index)):
            elements[index] = elements[index].changing(steps.dropFirst(), change)
            return .array(elements)
        default:
            preconditionFailure("no \(step) in \(self)")
        }
    }

    /// One more than this integer (or the other boolean, or the text with a letter added).
    static func bumped(_ value: JSONValue) -> JSONValue {
        switch value {
        case .integer(let number): .integer(number + 1)
        case .bool(let flag): .bool(!flag)
        case .string(let text): .string(text + "x")
        default: preconditionFailure("\(value) is not a figure")
        }
    }
}

@Suite struct LedgerFigureTests {
    private func verify(_ ledger: FigureLedger) async -> LedgerVerificationReport { await ledger.evidence.verify() }

    private func expect(
        _ ledger: FigureLedger, _ expected: [Mark], sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        let report = await verify(ledger)
        #expect(
            ledger.marks(report) == expected.sorted(), "\(report.failures.map(\.description).joined(separator: "\n"))",
            sourceLocation: sourceLocation)
    }

    /// The figure checks read back what they kept from the spool they are given: a spool that
    /// gives other bytes back is a failure for each such transaction, not a check left out.
    @Test func aSpoolThatGivesOtherBytesBackIsNamed() async throws {
        let evidence = try FigureLedger().evidence
        var verifier = LedgerVerifier(tenant: evidence.tenant, keys: evidence.keys, spool: ForgetfulSpool())
        await verifier.add(transactions: evidence.transactions)
        await verifier.add(blocks: evidence.blocks)
        let spoolFailures = verifier.report().failures.filter { $0.field == "canonical_bytes" && $0.kind == .malformedDocument }
        let kept = evidence.transactions.filter {
            (try? LedgerTransaction(canonicalBytes: $0.canonicalBytes)).map { TransferFigureChecks.types.contains($0.type) } ?? false
        }
        #expect(!kept.isEmpty && spoolFailures.count == kept.count, "\(spoolFailures.count) of \(kept.count)")
    }

    @Test func anHonestLedgerOfTwoTransfersVerifiesClean() async throws {
        let ledger = try FigureLedger()
        // The figures are the state machine tests' hand-computed ones: milk's freight 7,416, the estimate 1,063,958.
        #expect(ledger.dispatched7.order.lines[0].price.freight.fen == 7_416)
        #expect(ledger.dispatched7.order.estimateTotalFen == 1_063_958)
        #expect(ledger.received7.flagged && ledger.received7.lines[0].claimValueFen == 3_241)
        #expect(!ledger.received8.flagged)
        let report = await verify(ledger)
        #expect(report.isClean, "\(report.failures.map(\.description))")
        #expect(report.counts.transactions == 11 && report.counts.committed == 11)
    }

    @Test func theFiguresAreCheckedWhateverTheOrderAndChunksOfTheTransactions() async throws {
        let ledger = try FigureLedger().rewritten("receive7") { $0.changing("lines[0].landed_value_fen", JSONValue.bumped) }
        let whole = await verify(ledger)
        #expect(ledger.marks(whole) == [.tx("receive7", .receiptMismatch, "body.lines[0].landed_value_fen")])
        var reversed = ledger.evidence
        reversed.transactions.reverse()
        #expect(await reversed.verify(concurrency: 1) == whole)
        var streamed = LedgerVerifier(tenant: reversed.tenant, keys: reversed.keys, concurrency: 2)
        for start in stride(from: 0, to: reversed.transactions.count, by: 3) {
            await streamed.add(transactions: Array(reversed.transactions[start..<min(start + 3, reversed.transactions.count)]))
        }
        #expect(streamed.report() == whole)
        // Without the figure checks the tampering is not seen: the signatures are good.
        #expect(await ledger.evidence.verify(transferFigures: false).isClean)
    }

    @Test func everyFigureOfADispatchIsRecomputed() async throws {
        let ledger = try FigureLedger()
        var cases: [(String, LedgerVerificationFailure.Kind)] = []
        for line in 0...1 {
            cases += (0...5).map { ("lines[\(line)].components[\($0)].amount_fen", .priceMismatch) }
            cases += [
                ("lines[\(line)].components[1].explanation", .priceMismatch), ("lines[\(line)].total_fen", .priceMismatch),
                ("lines[\(line)].issue_value_fen", .issueMismatch), ("lines[\(line)].issue_unit_cost_fen", .issueMismatch),
            ]
        }
        cases.append(("estimate_total_fen", .estimateMismatch))
        for (path, kind) in cases {
            let tampered = try ledger.rewritten("dispatch7") { $0.changing(path, JSONValue.bumped) }
            await expect(tampered, [.tx("dispatch7", kind, "body.\(path)")])
        }
        // What the failure says: the freight the engine gives, and the one stated.
        let freight = try ledger.rewritten("dispatch7") { $0.changing("lines[0].components[1].amount_fen", JSONValue.bumped) }
        let failure = try #require(await verify(freight).failures.first)
        #expect((failure.expected, failure.found) == ("7416", "7417"))
    }

    @Test func aDispatchRecordedFromAnotherBalanceIssuesAnotherCost() async throws {
        // The balance the milk left is stated at 1,200,000 instead of 1,111,432: its issue value
        // and unit cost no longer follow; the price (from the unit cost at creation) still does.
        let tampered = try FigureLedger().rewritten("dispatch7") {
            $0.changing("lines[0].value_before_fen") { _ in .integer(1_200_000) }
        }
        await expect(
            tampered,
            [
                .tx("dispatch7", .issueMismatch, "body.lines[0].issue_value_fen"),
                .tx("dispatch7", .issueMismatch, "body.lines[0].issue_unit_cost_fen"),
            ])
    }

    @Test func everyFigureOfAReceiptIsRecomputedFromItsDispatch() async throws {
        let ledger = try FigureLedger()
        var paths = ["actual_total_fen", "error_ppm", "flagged"]
        for line in 0...1 {
            paths += [
                "item", "arrived_scaled", "allowance_scaled", "claim_scaled", "claim_value_fen", "freight_fen", "insurance_fen",
                "actual_total_fen", "landed_value_fen", "landed_unit_cost_fen",
            ].map { "lines[\(line)].\($0)" }
        }
        for path in paths {
            let tampered = try ledger.rewritten("receive7") { $0.changing(path, JSONValue.bumped) }
            await expect(tampered, [.tx("receive7", .receiptMismatch, "body.\(path)")])
        }
        // A reported input changes every figure that follows from it.
        let moreFreight = try ledger.rewritten("receive7") { $0.changing("actual_freight_fen", JSONValue.bumped) }
        let marks = moreFreight.marks(await verify(moreFreight)).filter { $0.transaction == "receive7" }
        #expect(marks.contains(.tx("receive7", .receiptMismatch, "body.lines[0].freight_fen")))
        #expect(marks.contains(.tx("receive7", .receiptMismatch, "body.actual_total_fen")))
        #expect(Set(marks.map(\.kind)) == [.receiptMismatch])
    }

    @Test func aTrueUpIsActualMinusEstimateAndAClaimIsItsReceipts() async throws {
        let ledger = try FigureLedger()
        for path in ["true_up_fen", "estimate_total_fen", "actual_total_fen"] {
            let tampered = try ledger.rewritten("trueUp7") { $0.changing(path, JSONValue.bumped) }
            await expect(tampered, [.tx("trueUp7", .trueUpMismatch, "body.\(path)")])
        }
        for path in ["claim_value_fen", "unrecovered_fen"] {
            let tampered = try ledger.rewritten("claim7") { $0.changing(path, JSONValue.bumped) }
            await expect(tampered, [.tx("claim7", .claimSettlementMismatch, "body.\(path)")])
        }
        // Recovered 0 … 3,241, the claim's value: the unrecovered rest follows it.
        let unbalanced = try ledger.rewritten("claim7") { $0.changing("recovered_fen", JSONValue.bumped) }
        await expect(unbalanced, [.tx("claim7", .claimSettlementMismatch, "body.unrecovered_fen")])
        for recovered: Int64 in [3_242, -1] {
            let outside = try ledger.rewritten("claim7") {
                $0.changing("recovered_fen") { _ in .integer(recovered) }.changing("unrecovered_fen") { _ in
                    .integer(3_241 - recovered)
                }
            }
            await expect(outside, [.tx("claim7", .recoveryOutsideClaim, "body.recovered_fen")])
        }
        // A claim stated at more than the receipt's, to recover more than it: both are named.
        let inflated = try ledger.rewritten("claim7") {
            $0.changing("claim_value_fen") { _ in .integer(5_000) }.changing("recovered_fen") { _ in .integer(5_000) }
                .changing("unrecovered_fen") { _ in .integer(0) }
        }
        await expect(
            inflated,
            [
                .tx("claim7", .recoveryOutsideClaim, "body.recovered_fen"),
                .tx("claim7", .claimSettlementMismatch, "body.claim_value_fen"),
            ])
    }

    @Test func aRuleVersionMustBePublishedBeforeTheTransfer() async throws {
        // Never published: nothing can be recomputed, and the bodies still have their format.
        await expect(
            try FigureLedger().removing("rules"),
            [
                .tx("dispatch7", .rulesVersionNotPublished, "body.rules_version"),
                .tx("dispatch8", .rulesVersionNotPublished, "body.rules_version"),
            ])
        let unpriced = try FigureLedger().removing("rules").rewritten("receive7") {
            $0.changing("lines[0].landed_value_fen", JSONValue.bumped)
        }
        #expect(unpriced.marks(await verify(unpriced)).count == 2)

        // Published only after transfer 7's dispatch (second 3) and before transfer 8's (second 7).
        let late = try FigureLedger(published: [("rules", TransferStateMachineTests.rules, FigureLedger.t(5))])
        await expect(late, [.tx("dispatch7", .rulesVersionNotPublished, "body.rules_version")])
        let report = await verify(late)
        #expect(report.failures.first?.found.hasPrefix("published at 2026-10-01T00:00:05.000000Z") == true)

        // Published by a disputed transaction.
        var disputed = try FigureLedger()
        let position = disputed.evidence.transactions.firstIndex { $0.claimedHash == disputed.transactions["rules"]!.hash }!
        disputed.evidence.transactions[position].dispute = .init(org: FigureLedger.hq, reason: "not our rules")
        disputed.evidence.transactions[position].claimedStatus = .disputed
        await expect(
            disputed,
            [
                .tx("dispatch7", .rulesVersionNotPublished, "body.rules_version"),
                .tx("dispatch8", .rulesVersionNotPublished, "body.rules_version"),
            ])

        // A transfer priced with a version nobody published, though another one is.
        let v9 = FigureLedger.rules("v9", effectiveFrom: "2026-01-01T00:00:00Z")
        await expect(
            try FigureLedger(pricing: v9),
            [
                .tx("dispatch7", .rulesVersionNotPublished, "body.rules_version"),
                .tx("dispatch8", .rulesVersionNotPublished, "body.rules_version"),
            ])
    }

    @Test func aRuleVersionMustBeTheOneInForceAtTheTransfer() async throws {
        // Not yet effective at the dispatch (2026-10-01): the figures are still recomputed with it.
        let december = FigureLedger.rules("v1", effectiveFrom: "2026-12-01T00:00:00Z")
        let early = try FigureLedger(published: [("rules", december, FigureLedger.t(1))], pricing: december)
        await expect(
            early,
            [
                .tx("dispatch7", .rulesVersionNotInForce, "body.rules_version"),
                .tx("dispatch8", .rulesVersionNotInForce, "body.rules_version"),
            ])
        let tamperedEarly = try early.rewritten("dispatch8") { $0.changing("lines[0].total_fen", JSONValue.bumped) }
        #expect(
            tamperedEarly.marks(await verify(tamperedEarly)).contains(.tx("dispatch8", .priceMismatch, "body.lines[0].total_fen"))
        )

        // v2, effective 2026-09-01 and published at second 1, supersedes v1 before either dispatch.
        let september = FigureLedger.rules("v2", effectiveFrom: "2026-09-01T00:00:00Z")
        let superseded = try FigureLedger(
            published: [("rules", TransferStateMachineTests.rules, FigureLedger.t(1)), ("rulesV2", september, FigureLedger.t(1))])
        await expect(
            superseded,
            [
                .tx("dispatch7", .rulesVersionNotInForce, "body.rules_version"),
                .tx("dispatch8", .rulesVersionNotInForce, "body.rules_version"),
            ])
        #expect(await verify(superseded).failures.first?.found == "v1, superseded by v2 from 2026-09-01T00:00:00.000000Z")

        // v2 published only at second 6: transfer 7 (second 3) was right to use v1, transfer 8 (second 7) was not.
        let later = try FigureLedger(
            published: [("rules", TransferStateMachineTests.rules, FigureLedger.t(1)), ("rulesV2", september, FigureLedger.t(6))])
        await expect(later, [.tx("dispatch8", .rulesVersionNotInForce, "body.rules_version")])
        // …unless transfer 8 was priced before v2 was published (second 2), when v1 was in force:
        // it ships under v1 whenever it ships.
        let pricedEarly = try FigureLedger(
            published: [("rules", TransferStateMachineTests.rules, FigureLedger.t(1)), ("rulesV2", september, FigureLedger.t(6))],
            pricedAt8: FigureLedger.t(2))
        await expect(pricedEarly, [])
        // Priced under v2 at second 6, after it was published, and dispatched at second 7: also clean.
        await expect(
            try FigureLedger(
                published: [("rules", TransferStateMachineTests.rules, FigureLedger.t(1)), ("rulesV2", september, FigureLedger.t(6))],
                pricing8: september, pricedAt8: FigureLedger.t(6)),
            [])
        // A dispatch priced after it shipped.
        await expect(
            try FigureLedger(pricedAt8: FigureLedger.t(9)), [.tx("dispatch8", .pricedAfterDispatch, "body.priced_at")])

        // One version published twice: the second publication is named, the first one counts.
        let twice = try FigureLedger(
            published: [
                ("rules", TransferStateMachineTests.rules, FigureLedger.t(1)),
                ("again", TransferStateMachineTests.rules, FigureLedger.t(2)),
            ])
        await expect(twice, [.tx("again", .rulesVersionRepublished, "body.version")])
    }

    @Test func aTransferEventWithoutItsPredecessorIsNamed() async throws {
        // A receipt without its dispatch; the true-up and claim after it then have their receipt.
        await expect(
            try FigureLedger().removing("dispatch7"), [.tx("receive7", .transferEventWithoutPredecessor, "body.transfer_id")])
        // HQ's steps without the receipt.
        await expect(
            try FigureLedger().removing("receive7"),
            [
                .tx("trueUp7", .transferEventWithoutPredecessor, "body.transfer_id"),
                .tx("claim7", .transferEventWithoutPredecessor, "body.transfer_id"),
            ])
        // A receipt before its dispatch in time.
        await expect(
            try FigureLedger().rewritten("receive8", at: FigureLedger.t(6)),
            [.tx("receive8", .transferEventWithoutPredecessor, "body.transfer_id")])
    }

    @Test func onlyAFlaggedReceiptIsTruedUpAndOnlyOnce() async throws {
        var ledger = try FigureLedger()
        let trueUp8 = try TransferRules.trueUp(
            transferID: 8, estimateTotalFen: ledger.dispatched8.order.estimateTotalFen,
            actualTotalFen: ledger.received8.actualTotalFen)
        try ledger.add("trueUp8", .transferTruedUp, at: FigureLedger.t(9), [.hq: FigureLedger.hq], .role(.hq), trueUp8.ledgerBody)
        try ledger.add(
            "trueUp7again", .transferTruedUp, at: FigureLedger.t(9), [.hq: FigureLedger.hq], .role(.hq),
            ledger.transactions["trueUp7"]!.body.changing("true_up_fen", JSONValue.bumped))
        await expect(
            ledger,
            [.tx("trueUp8", .trueUpNotFlagged, "body.transfer_id"), .tx("trueUp7again", .transferEventRepeated, "type")])
    }

    @Test func aClaimIsSettledOnlyWhenTheReceiptClaimedSomething() async throws {
        var ledger = try FigureLedger()
        try ledger.add(
            "claim8", .claimSettled, at: FigureLedger.t(9), [.hq: FigureLedger.hq], .role(.hq),
            .object([
                "transfer_id": .integer(8), "claim_value_fen": .integer(0), "recovered_fen": .integer(0),
                "unrecovered_fen": .integer(0),
            ]))
        await expect(ledger, [.tx("claim8", .claimSettledWithoutClaim, "body.claim_value_fen")])
    }

    @Test func theEnvelopesPartiesAreTheTransfers() async throws {
        let ledger = try FigureLedger()
        await expect(
            try ledger.rewritten("receive7", endorsers: [.sender: FigureLedger.sender, .receiver: FigureLedger.stranger]),
            [.tx("receive7", .transferPartyMismatch, "endorsers.receiver")])
        await expect(
            try ledger.rewritten("claim7", endorsers: [.hq: FigureLedger.hq, .receiver: FigureLedger.stranger]),
            [.tx("claim7", .transferPartyMismatch, "endorsers.receiver")])
        await expect(
            try ledger.rewritten("dispatch8", endorsers: [.sender: FigureLedger.stranger, .receiver: FigureLedger.receiver]),
            [.tx("dispatch8", .transferPartyMismatch, "endorsers.sender")])
    }

    @Test func aBodyThatIsNotItsTypesIsMalformedByField() async throws {
        let ledger = try FigureLedger()
        func without(_ key: String) -> (JSONValue) -> JSONValue {
            { value in
                guard case .object(var members) = value else { return value }
                members[key] = nil
                return .object(members)
            }
        }
        await expect(try ledger.rewritten("dispatch7", body: without("lane")), [.tx("dispatch7", .bodyMalformed, "body.lane")])
        // A figure missing: the inputs are all there, so it is named among the figures recomputed.
        await expect(
            try ledger.rewritten("dispatch7", body: without("estimate_total_fen")),
            [.tx("dispatch7", .bodyMalformed, "body.estimate_total_fen")])
        await expect(
            try ledger.rewritten("receive7") { $0.changing("lines[1]") { _ in .integer(1) } },
            [.tx("receive7", .bodyMalformed, "body.lines[1]")])
        await expect(
            try ledger.rewritten("receive8") { $0.changing("flagged") { _ in .integer(0) } },
            [.tx("receive8", .bodyMalformed, "body.flagged")])
        await expect(
            try ledger.rewritten("trueUp7") {
                guard case .object(var members) = $0 else { return $0 }
                members["note"] = .string("x")
                return .object(members)
            }, [.tx("trueUp7", .bodyMalformed, "body.note")])
        await expect(
            try ledger.rewritten("claim7") { $0.changing("transfer_id") { _ in .string("7") } },
            [.tx("claim7", .bodyMalformed, "body.transfer_id")])
        await expect(
            try ledger.rewritten("rules") { $0.changing("freight_tiers[0].up_to_km") { _ in .string("300") } },
            [
                .tx("rules", .bodyMalformed, "body.freight_tiers[0].up_to_km"),
                .tx("dispatch7", .rulesVersionNotPublished, "body.rules_version"),
                .tx("dispatch8", .rulesVersionNotPublished, "body.rules_version"),
            ])
    }

    @Test func inputsTheFormulasRefuseAreNamed() async throws {
        let ledger = try FigureLedger()
        // Less on hand than sent.
        await expect(
            try ledger.rewritten("dispatch8") { $0.changing("lines[0].on_hand_before_scaled") { _ in .integer(199_999) } },
            [.tx("dispatch8", .transferInputsRefused, "body.lines[0].on_hand_before_scaled")])
        // A category the rule version does not have.
        await expect(
            try ledger.rewritten("dispatch8") { $0.changing("lines[0].category") { _ in .string("cheese") } },
            [.tx("dispatch8", .transferInputsRefused, "body.lines[0]")])
        // More lost than sent.
        await expect(
            try ledger.rewritten("receive8") { $0.changing("lines[0].lost_scaled") { _ in .integer(200_001) } },
            [.tx("receive8", .transferInputsRefused, "body.lines[0].lost_scaled")])
    }
}

@Suite struct PricingRulesPublishedTests {
    static let entryJSON = #"""
        {"version":"2026-01","effective_from":"2026-01-01T00:00:00Z",
         "freight_tiers":[{"up_to_km":300,"fen_per_tonne_km":60},{"fen_per_tonne_km":45}],
         "categories":{"milk_powder":{"insurance_bp":15,"loss_ppm":500}},
         "short_shelf_life_days":15,"express_lead_time_hours_max":12,"standard_premium_bp":0,"express_premium_bp":1500}
        """#

    static func published() throws -> PricingRulesPublished {
        let entry = try JSONDecoder().decode(TenantFile.PricingEntry.self, from: Data(entryJSON.utf8))
        return try PricingRulesPublished(rules: try entry.rules(field: "pricing[0]"))
    }

    @Test func aRuleVersionIsPublishedAsTheTenantFileStatesItWithItsDefaults() throws {
        let published = try Self.published()
        // The tolerance (8,000 ppm) and the short-shelf-life extra (0) the file leaves out are stated.
        #expect(
            String(decoding: CanonicalJSON.encode(published.ledgerBody), as: UTF8.self)
                == #"{"categories":{"milk_powder":{"insurance_bp":15,"loss_ppm":500,"short_shelf_life_extra_loss_ppm":0}},"#
                + #""effective_from":"2026-01-01T00:00:00.000000Z","error_tolerance_ppm":8000,"express_lead_time_hours_max":12,"#
                + #""express_premium_bp":1500,"freight_tiers":[{"fen_per_tonne_km":60,"up_to_km":300},{"fen_per_tonne_km":45}],"#
                + #""short_shelf_life_days":15,"standard_premium_bp":0,"version":"2026-01"}"#)
        let read = try PricingRulesPublished(ledgerBody: try CanonicalJSON.parse(CanonicalJSON.encode(published.ledgerBody)))
        #expect(read == published)
        #expect(read.rules == published.rules)
        #expect(read.effectiveFrom == UTCMicros("2026-01-01T00:00:00.000000Z")!)
        #expect(read.rules.freightTiers.last?.upToKm == nil)

        // The state machine tests' rules, three tiers and two categories, read back the same.
        let machine = try PricingRulesPublished(rules: TransferStateMachineTests.rules)
        #expect(try PricingRulesPublished(ledgerBody: machine.ledgerBody).rules == TransferStateMachineTests.rules)

        // A moment with microseconds keeps them through the rules and back.
        let fraction = published.ledgerBody.changing("effective_from") { _ in .string("2026-03-01T08:00:00.123457Z") }
        let precise = try PricingRulesPublished(ledgerBody: fraction)
        #expect(try PricingRulesPublished(rules: precise.rules).effectiveFrom == precise.effectiveFrom)
    }

    @Test func aBodyThatIsNoRuleVersionIsRefusedByField() throws {
        let body = try Self.published().ledgerBody
        guard case .object(let members) = body else { Issue.record("not an object"); return }
        let cases: [(JSONValue, String)] = [
            (.object(members.filter { $0.key != "version" }), "body.version: missing"),
            (.object(members.merging(["extra": .integer(1)]) { $1 }), "body.extra: is not a field of this document"),
            (body.changing("version") { _ in .string("v 1") }, "body.version: must be 1–40 letters"),
            (body.changing("effective_from") { _ in .string("2026-01-01T00:00:00Z") }, "body.effective_from: must be UTC time"),
            (
                body.changing("freight_tiers") { _ in
                    .array([
                        .object(["fen_per_tonne_km": .integer(45)]),
                        .object(["up_to_km": .integer(300), "fen_per_tonne_km": .integer(60)]),
                    ])
                },
                "body.freight_tiers[0].up_to_km: only the last tier is open-ended"
            ),
            (
                body.changing("freight_tiers[0].up_to_km") { _ in .string("300") },
                "body.freight_tiers[0].up_to_km: must be an integer"
            ),
            (
                body.changing("freight_tiers[1]") { _ in .object(["fen_per_tonne_km": .integer(45), "km": .integer(1)]) },
                "body.freight_tiers[1].km: is not a field"
            ),
            (
                body.changing("categories.milk_powder.insurance_bp") { _ in .integer(10_001) },
                "body.categories.milk_powder: rates must be"
            ),
            (
                body.changing("categories.milk_powder") { _ in .object(["insurance_bp": .integer(15)]) },
                "body.categories.milk_powder.loss_ppm: missing"
            ),
            (body.changing("short_shelf_life_days") { _ in .integer(1 << 40) }, "body.short_shelf_life_days: must fit 32 bits"),
            (body.changing("error_tolerance_ppm") { _ in .integer(-1) }, "body.error_tolerance_ppm: must be 0 or more"),
            (body.changing("express_premium_bp") { _ in .string("1500") }, "body.express_premium_bp: must be an integer"),
        ]
        for (candidate, message) in cases {
            #expect {
                try PricingRulesPublished(ledgerBody: candidate)
            } throws: { error in
                (error as? LedgerDocumentError)?.description.hasPrefix(message) == true
            }
        }
        // A version effective before the ledger's first moment cannot be published.
        let ancient = FigureLedger.rules("v0", effectiveFrom: "1970-01-01T00:00:00Z")
        #expect(throws: Never.self) { try PricingRulesPublished(rules: ancient) }
        let before = PricingRules(
            version: "v0", effectiveFrom: UTCMicros(microsecondsSinceEpoch: -1), freightTiers: ancient.freightTiers,
            categories: ancient.categories, shortShelfLifeDays: 1, expressLeadTimeHoursMax: 1, standardPremiumBasisPoints: 0,
            expressPremiumBasisPoints: 0)
        #expect(throws: LedgerDocumentError.malformed(field: "body.effective_from", reason: "must be in the years 1970–9999")) {
            try PricingRulesPublished(rules: before)
        }
    }
}

/// A spool that keeps nothing: what a broken disk would give back.
private final class ForgetfulSpool: LedgerBodySpool {
    func keep(_ bytes: [UInt8]) -> LedgerSpoolHandle { LedgerSpoolHandle(offset: 0, count: 0) }
    func bytes(_ handle: LedgerSpoolHandle) -> [UInt8] { [] }
}
