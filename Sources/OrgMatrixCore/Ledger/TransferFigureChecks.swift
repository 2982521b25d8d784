/// The transfer events' figure checks (docs/LEDGER.md, "Verification"): every figure of every
/// dispatch, receipt, true-up and claim settlement recomputed with `TransferRules` from the
/// inputs its body records, its transfer's earlier events and the published rule version it
/// names, and compared one by one, each difference a failure naming the field, what the rules
/// give and what the body states.
///
/// A `LedgerBodyCheck` sees one transaction; these need the transfer's other events and the
/// tenant's rule versions, which may come in any chunk, in any order. So the verifier hands this
/// every readable transaction of `types` as it reads it (`add`), and `check()` runs once all are
/// in: the rule versions first, then each transfer's events in event order (by `at`; at one
/// moment the dispatch, the receipt, then HQ's steps).
///
/// Each event is recomputed from what the rules give for its predecessors, not from what they
/// state: a wrong figure is named on the event that states it, and once. Where a predecessor
/// cannot be recomputed (its rule version was never published, the formulas refuse its inputs)
/// its failure says why, and the events after it are held to what it states where they can be.
///
/// Memory: it keeps every pricing and transfer transaction's hash and canonical bytes in its
/// spool until `check()` (a dispatch of two lines is about 2 KB, a receipt about 1 KB), and in
/// memory only where each is and its status, by transfer; `check()` reads back one transfer at a
/// time. With a file spool (`verify-bundle`), what stays in memory is a few dozen bytes per
/// transaction.
public struct TransferFigureChecks: Sendable {
    /// The transaction types it reads.
    public static let types: Set<LedgerTransactionType> = [
        PricingRulesPublished.ledgerType, TransferEvent.Dispatched.ledgerType, TransferEvent.Received.ledgerType,
        TransferEvent.TruedUp.ledgerType, TransferEvent.ClaimSettled.ledgerType,
    ]

    /// One transaction taken: where its hash and bytes are, and its status.
    private struct Kept: Sendable {
        let handle: LedgerSpoolHandle
        let status: LedgerTransactionStatus
    }

    private let spool: any LedgerBodySpool
    private var publications: [Kept] = []
    /// Transfer events by transfer id.
    private var events: [Int64: [Kept]] = [:]
    /// Bodies without a readable `transfer_id`: they belong to no transfer.
    private var unreadable: [LedgerVerificationFailure] = []

    public init(spool: any LedgerBodySpool = LedgerMemorySpool()) { self.spool = spool }

    /// Takes one readable transaction of `types` (its envelope already parsed from
    /// `canonicalBytes`), stored under `hash` with the status the evidence gives it.
    public mutating func add(
        _ transaction: LedgerTransaction, canonicalBytes: [UInt8], hash: LedgerHash, status: LedgerTransactionStatus
    ) {
        precondition(Self.types.contains(transaction.type), "\(transaction.type.rawValue) has no figures to check")
        func kept() -> Kept { Kept(handle: spool.keep(hash.bytes + canonicalBytes), status: status) }
        if transaction.type == PricingRulesPublished.ledgerType {
            publications.append(kept())
            return
        }
        do {
            events[try LedgerFields.reading(transaction.body, path: "body").integer("transfer_id"), default: []].append(kept())
        } catch {
            unreadable.append(Entry(hash: hash, transaction: transaction, status: status).malformed(error))
        }
    }

    /// Every failure of the figures taken so far.
    public func check() -> [LedgerVerificationFailure] {
        var failures = unreadable
        // The bytes parsed once already: only a spool that did not give them back makes this fail,
        // and then the figures were not checked, which the report must say.
        func entries(_ kept: [Kept]) -> [Entry] {
            kept.compactMap { kept in
                guard let entry = entry(kept) else {
                    failures.append(
                        .init(
                            .malformedDocument, field: "canonical_bytes", expected: "the bytes the figure checks kept",
                            found: "other bytes read back from the spool"))
                    return nil
                }
                return entry
            }
        }
        let versions = RuleVersions(entries(publications), failures: &failures)
        for (transferID, kept) in events {
            var history = TransferHistory(transferID: transferID, versions: versions)
            for entry in entries(kept).sorted(by: Entry.inEventOrder) { failures += history.check(entry) }
        }
        return failures
    }

    /// The entry read back from the spool: the hash, then the transaction's bytes.
    private func entry(_ kept: Kept) -> Entry? {
        let bytes = spool.bytes(kept.handle)
        let hashCount = LedgerHash.zero.bytes.count
        guard bytes.count > hashCount, let hash = try? LedgerHash(Array(bytes[..<hashCount])),
            let transaction = try? LedgerTransaction(canonicalBytes: Array(bytes[hashCount...]))
        else { return nil }
        return Entry(hash: hash, transaction: transaction, status: kept.status)
    }
}

// MARK: entries

/// What the checks keep of one transaction.
private struct Entry: Sendable {
    let hash: LedgerHash
    let type: LedgerTransactionType
    let at: UTCMicros
    let status: LedgerTransactionStatus
    let endorsers: [EndorserRole: OrgCode]
    let body: JSONValue

    init(hash: LedgerHash, transaction: LedgerTransaction, status: LedgerTransactionStatus) {
        (self.hash, self.type, self.at, self.status) = (hash, transaction.type, transaction.at, status)
        (self.endorsers, self.body) = (transaction.endorsers, transaction.body)
    }

    /// By `at`; at one moment in the order a transfer's steps happen; then by hash, so the
    /// order is the same however the transactions came.
    static func inEventOrder(_ lhs: Entry, _ rhs: Entry) -> Bool {
        (lhs.at, lhs.rank, lhs.hash) < (rhs.at, rhs.rank, rhs.hash)
    }

    private var rank: Int {
        switch type {
        case .transferDispatched: 0
        case .transferReceived: 1
        case .transferTruedUp: 2
        default: 3
        }
    }

    func failure(_ kind: LedgerVerificationFailure.Kind, _ field: String, expected: String, found: String)
        -> LedgerVerificationFailure
    {
        LedgerVerificationFailure(kind, transaction: hash, field: field, expected: expected, found: found)
    }

    /// A body that is not its type's, the field named from `body` like the key events' are.
    func malformed(_ error: LedgerDocumentError) -> LedgerVerificationFailure {
        let (field, reason) = error.fieldAndReason
        return failure(
            .bodyMalformed, field.hasPrefix("body") ? field : "body.\(field)",
            expected: "a \(type.rawValue) body (docs/LEDGER.md)",
            found: reason)
    }

    /// The body as the strict reader of its type reads it, or the failure it finds: how a body
    /// whose figures cannot be recomputed is still held to its format, and what it states.
    func read<Event: TransferLedgerEvent>(_: Event.Type) -> (event: Event?, failures: [LedgerVerificationFailure]) {
        do {
            return (try Event(ledgerBody: body), [])
        } catch {
            return (nil, [malformed(error)])
        }
    }

    /// The envelope's sender and receiver, where it names them, are the transfer's.
    func partyFailures(sender: OrgCode, receiver: OrgCode) -> [LedgerVerificationFailure] {
        [(EndorserRole.sender, sender), (.receiver, receiver)].compactMap { role, org in
            guard let named = endorsers[role], named != org else { return nil }
            return failure(
                .transferPartyMismatch, "endorsers.\(role.rawValue)", expected: "\(org) (the transfer's \(role.rawValue))",
                found: named.rawValue)
        }
    }

    func repeated(after earlier: Entry) -> LedgerVerificationFailure {
        failure(
            .transferEventRepeated, "type", expected: "one \(type.rawValue) per transfer",
            found: "another after tx \(earlier.hash)")
    }

    func withoutPredecessor(_ predecessor: LedgerTransactionType, transferID: Int64) -> LedgerVerificationFailure {
        failure(
            .transferEventWithoutPredecessor, "body.transfer_id",
            expected: "a \(predecessor.rawValue) of transfer \(transferID) before it", found: "none")
    }

    /// The formulas refused what the body records.
    func refused(_ error: TransferError) -> LedgerVerificationFailure {
        failure(
            .transferInputsRefused, error.bodyField, expected: "inputs the transfer formulas (TransferRules) accept",
            found: error.description)
    }

    /// Every place the body differs from `expected`, the body the rules give: a figure that
    /// differs is a failure of `kind(field)`; a member missing or extra, or a value of another
    /// JSON type, makes the body malformed.
    func differences(from expected: JSONValue, kind: (String) -> LedgerVerificationFailure.Kind) -> [LedgerVerificationFailure] {
        var failures: [LedgerVerificationFailure] = []
        compare(expected, body, field: "body", kind: kind, into: &failures)
        return failures
    }

    private func compare(
        _ expected: JSONValue, _ found: JSONValue, field: String, kind: (String) -> LedgerVerificationFailure.Kind,
        into failures: inout [LedgerVerificationFailure]
    ) {
        let format = "a \(type.rawValue) body (docs/LEDGER.md)"
        switch (expected, found) {
        case (.object(let wanted), .object(let stated)):
            for (key, value) in wanted.sorted(by: { $0.key < $1.key }) {
                if let statedValue = stated[key] {
                    compare(value, statedValue, field: "\(field).\(key)", kind: kind, into: &failures)
                } else {
                    failures.append(failure(.bodyMalformed, "\(field).\(key)", expected: format, found: "missing"))
                }
            }
            for key in stated.keys.sorted() where wanted[key] == nil {
                failures.append(
                    failure(.bodyMalformed, "\(field).\(key)", expected: format, found: "is not a field of this document"))
            }
        case (.array(let wanted), .array(let stated)):
            if wanted.count != stated.count {
                failures.append(
                    failure(.bodyMalformed, field, expected: "\(wanted.count) elements", found: "\(stated.count) elements"))
            }
            for (index, (value, statedValue)) in zip(wanted, stated).enumerated() {
                compare(value, statedValue, field: "\(field)[\(index)]", kind: kind, into: &failures)
            }
        default:
            guard expected != found else { return }
            failures.append(
                Self.sameShape(expected, found)
                    ? failure(kind(field), field, expected: expected.text, found: found.text)
                    : failure(.bodyMalformed, field, expected: "\(expected.shape) (\(format))", found: found.shape))
        }
    }

    /// Two values a figure may take: of one JSON type, or an integer and null (a pricing error).
    private static func sameShape(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.bool, .bool), (.integer, .integer), (.string, .string), (.null, .null), (.integer, .null), (.null, .integer): true
        default: false
        }
    }
}

extension JSONValue {
    /// What a value is, as failures name it.
    fileprivate var shape: String {
        switch self {
        case .null: "null"
        case .bool: "true or false"
        case .integer: "an integer"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

extension LedgerFields {
    /// `value`'s members, whichever they are: how the checks read a body's inputs before they
    /// compare the whole body with the one the rules give.
    fileprivate static func reading(_ value: JSONValue, path: String) throws(LedgerDocumentError) -> LedgerFields {
        guard case .object(let members) = value else { throw .malformed(field: path, reason: "must be an object") }
        return try LedgerFields(value, expected: Set(members.keys), path: path)
    }
}

extension TransferError {
    /// The body field a refusal is about.
    fileprivate var bodyField: String {
        switch self {
        case .pricing(let line, _): "body.lines[\(line)]"
        case .insufficientStock(let line, _): "body.lines[\(line)].on_hand_before_scaled"
        case .itemTwice(let line): "body.lines[\(line)].item"
        case .invalidQuantity(let line): "body.lines[\(line)].quantity_scaled"
        case .lostOutsideSent(let line): "body.lines[\(line)].lost_scaled"
        case .reportedAmount(.freight): "body.actual_freight_fen"
        case .reportedAmount(.insurance): "body.actual_insurance_fen"
        case .noLines, .lineCount: "body.lines"
        case .outOfRange(_, let line?): "body.lines[\(line)]"
        case .recoveryOutsideClaim: "body.recovered_fen"
        case .noClaim: "body.claim_value_fen"
        case .outOfRange(_, nil), .notYourStep, .wrongState, .notFlagged, .truedUpAlready, .claimSettledAlready, .rulesVersion:
            "body"
        }
    }
}

// MARK: rule versions

/// The tenant's published rule versions, each by its first publication.
private struct RuleVersions {
    struct Version {
        let entry: Entry
        let published: PricingRulesPublished
    }

    private var first: [String: Version] = [:]

    init(_ publications: [Entry], failures: inout [LedgerVerificationFailure]) {
        for entry in publications.sorted(by: Entry.inEventOrder) {
            let published: PricingRulesPublished
            do { published = try PricingRulesPublished(ledgerBody: entry.body) } catch {
                failures.append(entry.malformed(error))
                continue
            }
            let version = published.rules.version
            if let earlier = first[version] {
                failures.append(
                    entry.failure(
                        .rulesVersionRepublished, "body.version", expected: "one publication of each rule version",
                        found: "\(version) published before by tx \(earlier.entry.hash)"))
                continue
            }
            first[version] = Version(entry: entry, published: published)
        }
    }

    /// The rules of `version`, when it was published at all (the figures are recomputed with
    /// them either way), and why naming it at `moment` fails: not published by an undisputed
    /// transaction by then, or not the version in force then (effective from at most `moment`,
    /// and no other such version published by then effective later).
    func named(_ version: String, at moment: UTCMicros, by entry: Entry) -> (
        rules: PricingRules?, failures: [LedgerVerificationFailure]
    ) {
        let field = "body.rules_version"
        let wanted = "a pricing.rules_published transaction of \(version) at or before \(moment)"
        guard let named = first[version] else {
            return (nil, [entry.failure(.rulesVersionNotPublished, field, expected: wanted, found: "none")])
        }
        var failures: [LedgerVerificationFailure] = []
        if named.entry.status == .disputed {
            failures.append(
                entry.failure(
                    .rulesVersionNotPublished, field, expected: wanted, found: "only by tx \(named.entry.hash), disputed"))
        } else if named.entry.at > moment {
            failures.append(
                entry.failure(
                    .rulesVersionNotPublished, field, expected: wanted,
                    found: "published at \(named.entry.at) by tx \(named.entry.hash)"))
        }
        let inForce = "the version in force at \(moment)"
        if named.published.effectiveFrom > moment {
            failures.append(
                entry.failure(
                    .rulesVersionNotInForce, field, expected: inForce,
                    found: "\(version), effective from \(named.published.effectiveFrom)"))
        } else if let latest = first.values.filter({
            $0.entry.status != .disputed && $0.entry.at <= moment && $0.published.effectiveFrom <= moment
        }).max(by: { $0.published.effectiveFrom < $1.published.effectiveFrom }),
            latest.published.effectiveFrom > named.published.effectiveFrom
        {
            failures.append(
                entry.failure(
                    .rulesVersionNotInForce, field, expected: inForce,
                    found: "\(version), superseded by \(latest.published.rules.version) from \(latest.published.effectiveFrom)"))
        }
        return (named.published.rules, failures)
    }
}

// MARK: one transfer

/// A transfer's events so far, as the checks walk them in event order.
private struct TransferHistory {
    /// The dispatch, with what later events are recomputed from.
    struct Dispatch {
        let entry: Entry
        /// The transfer's sender and receiver; nil when the body cannot state them.
        let parties: (sender: OrgCode, receiver: OrgCode)?
        /// The order as the rules price it, and those rules; nil when it could not be recomputed.
        let recomputed: (order: TransferOrder, rules: PricingRules)?
        /// The estimate recomputed, else as stated (nil when the body cannot state one).
        let estimateTotalFen: Int64?
    }

    /// The receipt: recomputed, else as stated (nil when the body cannot state one).
    struct Receipt {
        let entry: Entry
        let event: TransferEvent.Received?
    }

    let transferID: Int64
    let versions: RuleVersions
    private var dispatch: Dispatch?
    private var receipt: Receipt?
    private var trueUp: Entry?
    private var claim: Entry?

    init(transferID: Int64, versions: RuleVersions) { (self.transferID, self.versions) = (transferID, versions) }

    mutating func check(_ entry: Entry) -> [LedgerVerificationFailure] {
        switch entry.type {
        case .transferDispatched: dispatched(entry)
        case .transferReceived: received(entry)
        case .transferTruedUp: truedUp(entry)
        default: claimSettled(entry)
        }
    }

    /// Parties and rule version as named; every price, the estimate and the issue recomputed.
    private mutating func dispatched(_ entry: Entry) -> [LedgerVerificationFailure] {
        if let dispatch { return [entry.repeated(after: dispatch.entry)] }
        let inputs: DispatchInputs
        do { inputs = try DispatchInputs(entry.body) } catch {
            // Still the transfer's dispatch: what follows it is not without one.
            dispatch = Dispatch(entry: entry, parties: nil, recomputed: nil, estimateTotalFen: nil)
            return [entry.malformed(error)]
        }
        var failures = entry.partyFailures(sender: inputs.from, receiver: inputs.to)
        // Priced at creation, it ships whenever: the rules are those in force when it was priced.
        let named = versions.named(inputs.rulesVersion, at: inputs.pricedAt, by: entry)
        failures += named.failures
        if inputs.pricedAt > entry.at {
            failures.append(
                entry.failure(.pricedAfterDispatch, "body.priced_at", expected: "at or before the dispatch, \(entry.at)", found: "\(inputs.pricedAt)"))
        }
        var recomputed: TransferEvent.Dispatched?
        if let rules = named.rules {
            do { recomputed = try inputs.recompute(rules) } catch { failures.append(entry.refused(error)) }
        }
        var estimate = recomputed?.order.estimateTotalFen
        if let recomputed {
            failures += entry.differences(from: recomputed.ledgerBody, kind: Self.dispatchKind)
        } else {
            let stated = entry.read(TransferEvent.Dispatched.self)
            estimate = stated.event?.order.estimateTotalFen
            failures += stated.failures
        }
        dispatch = Dispatch(
            entry: entry, parties: (inputs.from, inputs.to),
            recomputed: recomputed.flatMap { event in named.rules.map { (event.order, $0) } }, estimateTotalFen: estimate)
        return failures
    }

    /// The envelope's parties against the dispatch's, when it states them.
    private func partyFailures(_ entry: Entry) -> [LedgerVerificationFailure] {
        dispatch?.parties.map { entry.partyFailures(sender: $0.sender, receiver: $0.receiver) } ?? []
    }

    /// Which figure of a dispatch a field is.
    private static func dispatchKind(_ field: String) -> LedgerVerificationFailure.Kind {
        if field == "body.estimate_total_fen" { return .estimateMismatch }
        if field.hasSuffix(".issue_value_fen") || field.hasSuffix(".issue_unit_cost_fen") { return .issueMismatch }
        return .priceMismatch
    }

    /// After its dispatch; every figure recomputed from the dispatch's order and the reported
    /// freight, insurance and losses.
    private mutating func received(_ entry: Entry) -> [LedgerVerificationFailure] {
        if let receipt { return [entry.repeated(after: receipt.entry)] }
        guard let dispatch else {
            let stated = entry.read(TransferEvent.Received.self)
            receipt = Receipt(entry: entry, event: stated.event)
            return [entry.withoutPredecessor(TransferEvent.Dispatched.ledgerType, transferID: transferID)] + stated.failures
        }
        var failures = partyFailures(entry)
        // The dispatch's own failures say why it could not be recomputed, and so neither can this.
        guard let recomputed = dispatch.recomputed else {
            let stated = entry.read(TransferEvent.Received.self)
            receipt = Receipt(entry: entry, event: stated.event)
            return failures + stated.failures
        }
        let report: ArrivalReport
        do { report = try Self.arrivalReport(entry.body) } catch {
            receipt = Receipt(entry: entry, event: nil)
            return failures + [entry.malformed(error)]
        }
        do {
            let expected = try TransferRules.receive(
                transferID: transferID, order: recomputed.order, report: report, rules: recomputed.rules)
            failures += entry.differences(from: expected.ledgerBody) { _ in .receiptMismatch }
            receipt = Receipt(entry: entry, event: expected)
        } catch {
            failures.append(entry.refused(error))
            receipt = Receipt(entry: entry, event: entry.read(TransferEvent.Received.self).event)
        }
        return failures
    }

    /// What the receiver reported: the actual freight and insurance, and per line the loss.
    private static func arrivalReport(_ body: JSONValue) throws(LedgerDocumentError) -> ArrivalReport {
        let fields = try LedgerFields.reading(body, path: "body")
        var lost: [Int64] = []
        for (index, line) in try BodyFields.array(fields, "lines").enumerated() {
            lost.append(try LedgerFields.reading(line, path: "body.lines[\(index)]").integer("lost_scaled"))
        }
        return ArrivalReport(
            freightFen: try fields.integer("actual_freight_fen"), insuranceFen: try fields.integer("actual_insurance_fen"),
            lostScaled: lost)
    }

    /// Once, after a flagged receipt: actual − estimate.
    private mutating func truedUp(_ entry: Entry) -> [LedgerVerificationFailure] {
        if let trueUp { return [entry.repeated(after: trueUp)] }
        trueUp = entry
        guard let receipt else {
            return [entry.withoutPredecessor(TransferEvent.Received.ledgerType, transferID: transferID)]
                + entry.read(TransferEvent.TruedUp.self).failures
        }
        var failures = partyFailures(entry)
        guard let received = receipt.event, let estimate = dispatch?.estimateTotalFen else {
            return failures + entry.read(TransferEvent.TruedUp.self).failures
        }
        if !received.flagged {
            let error = received.errorPartsPerMillion.map { "\($0) ppm" } ?? "none"
            failures.append(
                entry.failure(
                    .trueUpNotFlagged, "body.transfer_id", expected: "a flagged receipt of transfer \(transferID)",
                    found: "tx \(receipt.entry.hash), not flagged (error \(error))"))
        }
        do {
            let expected = try TransferRules.trueUp(
                transferID: transferID, estimateTotalFen: estimate, actualTotalFen: received.actualTotalFen)
            failures += entry.differences(from: expected.ledgerBody) { _ in .trueUpMismatch }
        } catch {
            failures.append(entry.refused(error))
        }
        return failures
    }

    /// Once, after a receipt that claimed something: the claim's value is the receipt's, the
    /// amount recovered 0 … that value, the rest unrecovered.
    private mutating func claimSettled(_ entry: Entry) -> [LedgerVerificationFailure] {
        if let claim { return [entry.repeated(after: claim)] }
        claim = entry
        guard let receipt else {
            return [entry.withoutPredecessor(TransferEvent.Received.ledgerType, transferID: transferID)]
                + entry.read(TransferEvent.ClaimSettled.self).failures
        }
        var failures = partyFailures(entry)
        guard let received = receipt.event else { return failures + entry.read(TransferEvent.ClaimSettled.self).failures }
        let recovered: Int64
        let claimValue: Int64
        do { recovered = try LedgerFields.reading(entry.body, path: "body").integer("recovered_fen") } catch {
            return failures + [entry.malformed(error)]
        }
        do { claimValue = try TransferRules.claimValue(received.lines.map(\.claimValueFen)) } catch {
            return failures + [entry.refused(error)]
        }
        do {
            let expected = try TransferRules.settleClaim(
                transferID: transferID, claimValueFen: claimValue, recoveredFen: recovered)
            return failures + entry.differences(from: expected.ledgerBody) { _ in .claimSettlementMismatch }
        } catch .noClaim {
            failures.append(
                entry.failure(
                    .claimSettledWithoutClaim, "body.claim_value_fen", expected: "a receipt that claimed something",
                    found: "tx \(receipt.entry.hash), which claimed nothing"))
        } catch .recoveryOutsideClaim {
            failures.append(
                entry.failure(.recoveryOutsideClaim, "body.recovered_fen", expected: "0–\(claimValue)", found: String(recovered)))
        } catch {
            failures.append(entry.refused(error))
        }
        // No settlement to compare with; the claim's value is still the receipt's.
        switch entry.body["claim_value_fen"] {
        case .integer(claimValue)?: break
        case let stated?:
            failures.append(
                entry.failure(.claimSettlementMismatch, "body.claim_value_fen", expected: String(claimValue), found: stated.text))
        case nil:
            failures.append(
                entry.failure(
                    .bodyMalformed, "body.claim_value_fen", expected: "a claim.settled body (docs/LEDGER.md)", found: "missing"))
        }
        return failures
    }
}

/// What a dispatch body records that the rules compute from: the transfer, its parties, the
/// rule version, the lane, each line's goods and the balance it left.
private struct DispatchInputs {
    let transferID: Int64
    let from: OrgCode
    let to: OrgCode
    let rulesVersion: String
    let pricedAt: UTCMicros
    let lane: PricedLane
    let goods: [TransferGoods]
    let balances: [StockOnHand]

    init(_ body: JSONValue) throws(LedgerDocumentError) {
        let fields = try LedgerFields.reading(body, path: "body")
        let lane = try LedgerFields.reading(try fields.value("lane"), path: "body.lane")
        self.lane = PricedLane(
            distanceKm: try BodyFields.int32(lane, "distance_km"), leadTimeHours: try BodyFields.int32(lane, "lead_time_hours"),
            markupBasisPoints: try lane.integer("markup_bp"))
        var goods: [TransferGoods] = []
        var balances: [StockOnHand] = []
        for (index, element) in try BodyFields.array(fields, "lines").enumerated() {
            let line = try LedgerFields.reading(element, path: "body.lines[\(index)]")
            goods.append(
                TransferGoods(
                    itemCode: try line.string("item"),
                    goods: PricedLine(
                        unitCostFen: try line.integer("unit_cost_fen"), scaledQuantity: try line.integer("quantity_scaled"),
                        quantityScale: try line.integer("quantity_scale"),
                        weightGramsPerUnit: try line.integer("weight_grams_per_unit"), category: try line.string("category"),
                        shelfLifeDays: try BodyFields.int32(line, "shelf_life_days"))))
            balances.append(
                StockOnHand(
                    onHandScaled: try line.integer("on_hand_before_scaled"), valueFen: try line.integer("value_before_fen")))
        }
        (self.goods, self.balances) = (goods, balances)
        transferID = try fields.integer("transfer_id")
        (from, to) = (try BodyFields.orgCode(fields, "from"), try BodyFields.orgCode(fields, "to"))
        rulesVersion = try fields.string("rules_version")
        pricedAt = try fields.moment("priced_at")
    }

    /// The dispatch the rules give: each line priced, the estimate, and the issue from each balance.
    func recompute(_ rules: PricingRules) throws(TransferError) -> TransferEvent.Dispatched {
        let lines = try TransferRules.price(goods, lane: lane, rules: rules)
        let order = try TransferOrder(from: from, to: to, rulesVersion: rulesVersion, pricedAt: pricedAt, lane: lane, lines: lines)
        return try TransferRules.dispatch(transferID: transferID, order: order, balances: balances)
    }
}
