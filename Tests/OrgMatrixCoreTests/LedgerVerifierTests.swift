import Foundation
import OrgMatrixCore
import SMCrypto
import Testing

/// A small, valid ledger of the dairy tenant, built and signed here with real SM2 keys, and the
/// means to tamper with it. Seconds after 2026-10-01T00:00:00Z, by `t(_:)`:
///
/// | second | what |
/// |---|---|
/// | 0 | keys HQ v1, orderer v1, BJ-CW v1 (custodial), SJZ-FW v1 (client) start; their four `key.registered` |
/// | 1 | block 0 seals those four |
/// | 2–4 | `pricing.rules_published` (hq), `transfer.dispatched` (sender BJ-CW and hq), `transfer.received` (receiver SJZ-FW and sender) |
/// | 5 | block 1 seals those three |
/// | 10 | HQ v2 starts (rotation): `key.registered` |
/// | 20 | SJZ-FW v1 revoked, SJZ-FW v2 starts: `key.revoked`, `key.registered` |
/// | 21 | `transfer.trued_up` (hq) |
/// | 22 | block 2 seals the four since block 1 |
/// | 23 | `claim.settled`, AND(hq, receiver), endorsed by HQ only: pending |
/// | 24 | `transfer.received` disputed by its sender |
/// | 25 | `transfer.received`, committed, not sealed yet |
///
/// The pricing and transfer bodies are placeholders: these tests are about envelopes,
/// signatures, keys and blocks, and run without the figure checks (LedgerFigureTests has those).
struct LedgerFixture {
    static let base = UTCMicros("2026-10-01T00:00:00.000000Z")!
    static func t(_ seconds: Int64) -> UTCMicros {
        UTCMicros(microsecondsSinceEpoch: base.microsecondsSinceEpoch + seconds * 1_000_000)
    }

    let tenant = try! TenantCode("dairy")
    let hq = try! OrgCode("HQ")
    let bj = try! OrgCode("BJ-CW")
    let sjz = try! OrgCode("SJZ-FW")
    let carrier = try! OrgCode("LOGI-CARRIER")

    private(set) var privateKeys: [KeyOwner: [Int64: SM2PrivateKey]] = [:]
    /// Each transaction by the label the tests use.
    private(set) var transactions: [String: LedgerTransaction] = [:]
    private(set) var labels: [LedgerHash: String] = [:]
    var evidence: LedgerEvidence

    init() throws {
        evidence = LedgerEvidence(tenant: try TenantCode("dairy"), keys: [], transactions: [], blocks: [])
        let (hq, bj, sjz) = (self.hq, self.bj, self.sjz)
        for (owner, version, custody, from) in [
            (KeyOwner.org(hq), Int64(1), KeyCustody.custodial, Self.t(0)), (.orderer, 1, .custodial, Self.t(0)),
            (.org(bj), 1, .custodial, Self.t(0)), (.org(sjz), 1, .client, Self.t(0)),
            (.org(hq), 2, .custodial, Self.t(10)), (.org(sjz), 2, .client, Self.t(20)),
        ] {
            addKey(owner, version, custody, validFrom: from)
        }
        evidence.keys[3].revocation = .init(revokedAt: Self.t(20), reason: "device lost")

        let keyPolicy = EndorsementPolicy.role(.hq)
        for (label, owner, at) in [
            ("regHQ1", KeyOwner.org(hq), Self.t(0)), ("regOrderer1", .orderer, Self.t(0)), ("regBJ1", .org(bj), Self.t(0)),
            ("regSJZ1", .org(sjz), Self.t(0)),
        ] {
            let body = evidence.keys.first { $0.owner == owner }!.registration.ledgerBody
            try add(label, .keyRegistered, at: at, [.hq: hq], keyPolicy, body, by: [(hq, 1)])
        }
        try add(
            "rules", .pricingRulesPublished, at: Self.t(2), [.hq: hq], keyPolicy, .object(["rules_version": .integer(3)]),
            by: [(hq, 1)])
        try add(
            "dispatch", .transferDispatched, at: Self.t(3), [.sender: bj, .hq: hq], .all([.role(.sender), .role(.hq)]),
            .object(["transfer_id": .integer(7), "estimate_total_fen": .integer(1_234_500)]), by: [(bj, 1), (hq, 1)])
        try add(
            "receive", .transferReceived, at: Self.t(4), [.receiver: sjz, .sender: bj], .all([.role(.receiver), .role(.sender)]),
            .object(["transfer_id": .integer(7), "actual_freight_fen": .integer(12_345)]), by: [(sjz, 1), (bj, 1)])
        try add(
            "regHQ2", .keyRegistered, at: Self.t(10), [.hq: hq], keyPolicy, evidence.keys[4].registration.ledgerBody,
            by: [(hq, 2)])
        try add(
            "revokeSJZ1", .keyRevoked, at: Self.t(20), [.hq: hq], keyPolicy, evidence.keys[3].revocationEvent!.ledgerBody,
            by: [(hq, 2)])
        try add(
            "regSJZ2", .keyRegistered, at: Self.t(20), [.hq: hq], keyPolicy, evidence.keys[5].registration.ledgerBody,
            by: [(hq, 2)])
        try add(
            "trueUp", .transferTruedUp, at: Self.t(21), [.hq: hq], keyPolicy,
            .object(["transfer_id": .integer(7), "amount_fen": .integer(-1_200)]), by: [(hq, 2)])
        try add(
            "claim", .claimSettled, at: Self.t(23), [.hq: hq, .receiver: sjz], .all([.role(.hq), .role(.receiver)]),
            .object(["transfer_id": .integer(7), "recovered_fen": .integer(900)]), by: [(hq, 2)], status: .pending)
        try add(
            "disputed", .transferReceived, at: Self.t(24), [.receiver: sjz, .sender: bj],
            .all([.role(.receiver), .role(.sender)]),
            .object(["transfer_id": .integer(8), "actual_freight_fen": .integer(99_999)]), by: [(sjz, 2)], status: .disputed,
            dispute: .init(org: bj, reason: "freight overstated"))
        try add(
            "unsealed", .transferReceived, at: Self.t(25), [.receiver: sjz, .sender: bj],
            .all([.role(.receiver), .role(.sender)]),
            .object(["transfer_id": .integer(9), "actual_freight_fen": .integer(4_000)]), by: [(sjz, 2), (bj, 1)])
        evidence.blocks = try sealed(
            [
                ["regHQ1", "regOrderer1", "regBJ1", "regSJZ1"], ["rules", "dispatch", "receive"],
                ["regHQ2", "revokeSJZ1", "regSJZ2", "trueUp"],
            ].map { $0.map(hash) }, at: [Self.t(1), Self.t(5), Self.t(22)])
    }

    mutating func addKey(
        _ owner: KeyOwner, _ version: Int64, _ custody: KeyCustody, validFrom: UTCMicros, publicKeyDER: [UInt8]? = nil
    ) {
        let key = SM2PrivateKey.generate()
        privateKeys[owner, default: [:]][version] = key
        evidence.keys.append(
            .init(
                owner: owner, version: version, custody: custody, publicKeyDER: publicKeyDER ?? key.publicKey.derRepresentation,
                validFrom: validFrom, revocation: nil))
    }

    func signature(_ owner: KeyOwner, _ version: Int64, _ bytes: [UInt8]) throws -> [UInt8] {
        try privateKeys[owner]![version]!.signature(for: bytes).derRepresentation
    }

    /// A transaction stored with the endorsements of `by`, each signing with its own key.
    mutating func add(
        _ label: String, _ type: LedgerTransactionType, at: UTCMicros, _ endorsers: [EndorserRole: OrgCode],
        _ policy: EndorsementPolicy, _ body: JSONValue,
        by signers: [(OrgCode, Int64)], status: LedgerTransactionStatus = .committed, dispute: LedgerEvidence.Dispute? = nil,
        tenant: TenantCode? = nil
    ) throws {
        let transaction = LedgerTransaction(
            type: type, tenant: tenant ?? self.tenant, at: at, endorsers: endorsers, policy: policy, body: body)
        let bytes = transaction.canonicalBytes
        let endorsements = try signers.map {
            LedgerEvidence.Endorsement(org: $0.0, keyVersion: $0.1, signatureDER: try signature(.org($0.0), $0.1, bytes))
        }
        transactions[label] = transaction
        labels[transaction.hash] = label
        evidence.transactions.append(
            .init(
                claimedHash: transaction.hash, canonicalBytes: bytes, claimedStatus: status, endorsements: endorsements,
                dispute: dispute))
    }

    func hash(_ label: String) -> LedgerHash { transactions[label]!.hash }

    func index(_ label: String) -> Int { evidence.transactions.firstIndex { $0.claimedHash == hash(label) }! }

    /// Blocks as the sealer cuts them: each header after the one before, the log carried along,
    /// signed by orderer v1.
    func sealed(_ listings: [[LedgerHash]], at moments: [UTCMicros], tenant: TenantCode? = nil) throws -> [LedgerEvidence.Block] {
        var log = MerkleFrontier()
        var previous: BlockHeader?
        var blocks: [LedgerEvidence.Block] = []
        for (listing, moment) in zip(listings, moments) {
            let header = try BlockHeader.seal(
                tenant: tenant ?? self.tenant, after: previous, transactions: listing, log: &log, sealedAt: moment)
            blocks.append(
                .init(
                    number: header.number, headerBytes: header.canonicalBytes, claimedHash: header.hash, ordererKeyVersion: 1,
                    ordererSignatureDER: try signature(.orderer, 1, header.canonicalBytes), transactionHashes: listing))
            previous = header
        }
        return blocks
    }

    /// The evidence with the blocks re-cut from these listings by whoever holds the orderer key.
    func resealed(_ evidence: LedgerEvidence, listings: [[LedgerHash]], tenant: TenantCode? = nil) throws -> LedgerEvidence {
        var copy = evidence
        let moments = try evidence.blocks.map { try BlockHeader(canonicalBytes: $0.headerBytes).sealedAt }
        copy.blocks = try sealed(listings, at: moments, tenant: tenant)
        return copy
    }

    /// The transaction `label` rewritten with another body, under its new hash, keeping its
    /// endorsements as stored (the forger lacks the endorsers' keys) unless `resign`.
    func rewritten(_ label: String, body: JSONValue, in evidence: inout LedgerEvidence, resign: Bool = false) throws -> LedgerHash
    {
        let old = transactions[label]!
        let forged = LedgerTransaction(
            type: old.type, tenant: old.tenant, at: old.at, endorsers: old.endorsers, policy: old.policy, body: body)
        let position = evidence.transactions.firstIndex { $0.claimedHash == old.hash }!
        evidence.transactions[position].canonicalBytes = forged.canonicalBytes
        evidence.transactions[position].claimedHash = forged.hash
        if resign {
            for (slot, endorsement) in evidence.transactions[position].endorsements.enumerated() {
                evidence.transactions[position].endorsements[slot].signatureDER = try signature(
                    .org(endorsement.org), endorsement.keyVersion, forged.canonicalBytes)
            }
        }
        return forged.hash
    }

    func listings(_ evidence: LedgerEvidence) -> [[LedgerHash]] { evidence.blocks.map(\.transactionHashes) }
}

/// A failure as the tests name it: kind, block, transaction label, field.
struct Mark: Hashable, Comparable, CustomStringConvertible {
    let kind: LedgerVerificationFailure.Kind
    let block: Int64?
    let transaction: String?
    let field: String

    static func tx(_ label: String, _ kind: LedgerVerificationFailure.Kind, _ field: String) -> Mark {
        Mark(kind: kind, block: nil, transaction: label, field: field)
    }
    static func block(_ number: Int64, _ kind: LedgerVerificationFailure.Kind, _ field: String) -> Mark {
        Mark(kind: kind, block: number, transaction: nil, field: field)
    }
    static func sealed(_ number: Int64, _ label: String, _ kind: LedgerVerificationFailure.Kind, _ field: String = "transactions")
        -> Mark
    {
        Mark(kind: kind, block: number, transaction: label, field: field)
    }
    static func key(_ kind: LedgerVerificationFailure.Kind, _ field: String) -> Mark {
        Mark(kind: kind, block: nil, transaction: nil, field: field)
    }

    var description: String { "\(kind.rawValue) block \(block.map(String.init) ?? "-") tx \(transaction ?? "-") \(field)" }
    static func < (lhs: Mark, rhs: Mark) -> Bool { lhs.description < rhs.description }
}

extension LedgerFixture {
    func marks(_ report: LedgerVerificationReport, extra: [LedgerHash: String] = [:]) -> [Mark] {
        report.failures.map { failure in
            Mark(
                kind: failure.kind, block: failure.blockNumber,
                transaction: failure.transactionHash.map { extra[$0] ?? labels[$0] ?? $0.hex }, field: failure.field)
        }.sorted()
    }
}

@Suite struct LedgerVerifierTests {
    private func verify(_ evidence: LedgerEvidence) async -> LedgerVerificationReport {
        await evidence.verify(transferFigures: false)
    }

    private func expect(
        _ evidence: LedgerEvidence, _ fixture: LedgerFixture, _ expected: [Mark], extra: [LedgerHash: String] = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        let report = await verify(evidence)
        #expect(
            fixture.marks(report, extra: extra) == expected.sorted(),
            "\(report.failures.map(\.description).joined(separator: "\n"))", sourceLocation: sourceLocation)
    }

    @Test func aValidLedgerVerifiesCleanAndIsCounted() async throws {
        let fixture = try LedgerFixture()
        let report = await verify(fixture.evidence)
        #expect(report.isClean, "\(report.failures.map(\.description))")
        var counts = LedgerVerificationReport.Counts()
        (counts.transactions, counts.committed, counts.pending, counts.disputed) = (14, 12, 1, 1)
        (counts.blocks, counts.endorsementsChecked, counts.sealedTransactions) = (3, 17, 11)
        #expect(report.counts == counts)
    }

    @Test func oneChangedByteOfATransactionIsNamedEverywhereItShows() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        let position = fixture.index("receive")
        let text = String(decoding: evidence.transactions[position].canonicalBytes, as: UTF8.self)
        evidence.transactions[position].canonicalBytes = Array(text.replacingOccurrences(of: "12345", with: "12346").utf8)
        #expect(evidence.transactions[position].canonicalBytes.count == text.utf8.count)
        // The row keeps its hash; the bytes no longer hash to it, so no endorsement signs them and
        // the block's hash names no stored transaction.
        await expect(
            evidence, fixture,
            [
                .tx("receive", .transactionHashMismatch, "tx_hash"),
                .tx("receive", .signatureInvalid, "endorsements[SJZ-FW].signature"),
                .tx("receive", .signatureInvalid, "endorsements[BJ-CW].signature"), .tx("receive", .statusMismatch, "status"),
                .sealed(1, "receive", .sealedTransactionMissing),
            ])
    }

    @Test func oneChangedByteOfAHeaderBreaksItsHashItsSignatureAndTheNextLink() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        var bytes = evidence.blocks[0].headerBytes
        let digit = Array(#""data_hash":""#.utf8).count + 1  // the first hex digit of data_hash
        bytes[digit] = bytes[digit] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        evidence.blocks[0].headerBytes = bytes
        await expect(
            evidence, fixture,
            [
                .block(0, .blockHashMismatch, "block_hash"), .block(0, .dataHashMismatch, "data_hash"),
                .block(0, .signatureInvalid, "orderer_signature"),
                .block(1, .previousHashMismatch, "prev_hash"),
            ])
    }

    @Test func aWrongClaimedHashIsNamedAndNothingElse() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        let forged = LedgerHash.of(Array("not the rules".utf8))
        evidence.transactions[fixture.index("rules")].claimedHash = forged
        await expect(evidence, fixture, [.tx("forged", .transactionHashMismatch, "tx_hash")], extra: [forged: "forged"])
        let report = await verify(evidence)
        #expect(report.failures.first?.expected == fixture.hash("rules").hex && report.failures.first?.found == forged.hex)

        var blockEvidence = fixture.evidence
        blockEvidence.blocks[1].claimedHash = forged
        await expect(blockEvidence, fixture, [.block(1, .blockHashMismatch, "block_hash")])
    }

    @Test func aDeletedTransactionThatABlockListsIsMissing() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        evidence.transactions.remove(at: fixture.index("dispatch"))
        await expect(evidence, fixture, [.sealed(1, "dispatch", .sealedTransactionMissing)])
    }

    @Test func anExtraTransactionInABlockBreaksItsTreesAndItsCount() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        evidence.blocks[2].transactionHashes.append(fixture.hash("unsealed"))
        await expect(
            evidence, fixture,
            [
                .block(2, .dataHashMismatch, "data_hash"), .block(2, .transactionCountMismatch, "tx_count"),
                .block(2, .logSizeMismatch, "log_size"),
                .block(2, .logRootMismatch, "log_root"), .sealed(2, "unsealed", .sealedBeforeTransaction, "sealed_at"),
            ])
    }

    @Test func reorderedBlocksBreakTheirNumbersLinksLogsAndTimes() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        evidence.blocks.swapAt(1, 2)
        await expect(
            evidence, fixture,
            [
                .block(2, .blockOutOfSequence, "number"), .block(2, .previousHashMismatch, "prev_hash"),
                .block(2, .logSizeMismatch, "log_size"),
                .block(2, .logRootMismatch, "log_root"),
                .block(1, .blockOutOfSequence, "number"), .block(1, .previousHashMismatch, "prev_hash"),
                .block(1, .logSizeMismatch, "log_size"),
                .block(1, .logRootMismatch, "log_root"), .block(1, .sealedBeforePrevious, "sealed_at"),
            ])
    }

    /// The order inside a block is part of its tree and of the log every later block extends.
    @Test func reorderedTransactionsInABlockBreakItsTreeAndTheLogFromThereOn() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        evidence.blocks[1].transactionHashes.swapAt(0, 1)
        await expect(
            evidence, fixture,
            [
                .block(1, .dataHashMismatch, "data_hash"), .block(1, .logRootMismatch, "log_root"),
                .block(2, .logRootMismatch, "log_root"),
            ])
    }

    @Test func signaturesSwappedBetweenEndorsersVerifyForNeither() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        let position = fixture.index("receive")
        let signatures = evidence.transactions[position].endorsements.map(\.signatureDER)
        evidence.transactions[position].endorsements[0].signatureDER = signatures[1]
        evidence.transactions[position].endorsements[1].signatureDER = signatures[0]
        await expect(
            evidence, fixture,
            [
                .tx("receive", .signatureInvalid, "endorsements[SJZ-FW].signature"),
                .tx("receive", .signatureInvalid, "endorsements[BJ-CW].signature"),
                .tx("receive", .statusMismatch, "status"), .sealed(1, "receive", .sealedTransactionNotCommitted),
            ])
    }

    /// Another public key in BJ-CW's row: nothing it signed verifies, and its registration no longer states the row.
    @Test func aReplacedPublicKeyFailsEverySignatureAndItsRegistration() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        let row = evidence.keys.firstIndex { $0.owner == .org(fixture.bj) && $0.version == 1 }!
        evidence.keys[row].publicKeyDER = SM2PrivateKey.generate().publicKey.derRepresentation
        await expect(
            evidence, fixture,
            [
                .tx("dispatch", .signatureInvalid, "endorsements[BJ-CW].signature"), .tx("dispatch", .statusMismatch, "status"),
                .tx("receive", .signatureInvalid, "endorsements[BJ-CW].signature"), .tx("receive", .statusMismatch, "status"),
                .tx("unsealed", .signatureInvalid, "endorsements[BJ-CW].signature"), .tx("unsealed", .statusMismatch, "status"),
                .sealed(1, "dispatch", .sealedTransactionNotCommitted), .sealed(1, "receive", .sealedTransactionNotCommitted),
                .tx("regBJ1", .keyEventMismatch, "body.public_key"), .key(.keyNotRegistered, "keys[BJ-CW/1]"),
            ])
    }

    /// Good signatures by keys that could not sign then: each named, none counted.
    @Test func aRevokedANotYetValidAndARotatedOutKeyDoNotEndorse() async throws {
        let base = try LedgerFixture()
        let received = EndorsementPolicy.all([.role(.receiver), .role(.sender)])
        let cases:
            [(String, LedgerTransactionType, UTCMicros, [EndorserRole: OrgCode], EndorsementPolicy, [(OrgCode, Int64)], Mark)] = [
                (
                    "afterRevocation", .transferReceived, LedgerFixture.t(26), [.receiver: base.sjz, .sender: base.bj], received,
                    [(base.sjz, 1), (base.bj, 1)],
                    .tx("afterRevocation", .keyRevoked, "endorsements[SJZ-FW].key_version")
                ),
                (
                    "beforeValid", .transferReceived, LedgerFixture.t(12), [.receiver: base.sjz, .sender: base.bj], received,
                    [(base.sjz, 2), (base.bj, 1)],
                    .tx("beforeValid", .keyNotYetValid, "endorsements[SJZ-FW].key_version")
                ),
                (
                    "rotatedOut", .transferTruedUp, LedgerFixture.t(15), [.hq: base.hq], .role(.hq), [(base.hq, 1)],
                    .tx("rotatedOut", .keySuperseded, "endorsements[HQ].key_version")
                ),
            ]
        for (label, type, at, endorsers, policy, signers, mark) in cases {
            var fixture = base
            try fixture.add(label, type, at: at, endorsers, policy, .object(["transfer_id": .integer(10)]), by: signers)
            await expect(fixture.evidence, fixture, [mark, .tx(label, .statusMismatch, "status")])
            let report = await verify(fixture.evidence)
            #expect(report.counts.pending == 2 && report.counts.committed == 12)
        }
    }

    @Test func theValidityWindowIsClosedAtItsStartAndOpenAtItsEnds() throws {
        let key = LedgerEvidence.Key(
            owner: .orderer, version: 1, custody: .custodial, publicKeyDER: [], validFrom: LedgerFixture.t(10),
            revocation: .init(revokedAt: LedgerFixture.t(30), reason: "rotated early"))
        var next = key
        next.version = 2
        next.validFrom = LedgerFixture.t(20)
        let micro = UTCMicros(microsecondsSinceEpoch: LedgerFixture.t(20).microsecondsSinceEpoch - 1)
        #expect(KeyValidity.of(key, next: next, at: LedgerFixture.t(10)) == .valid)
        #expect(KeyValidity.of(key, next: next, at: micro) == .valid)
        #expect(
            KeyValidity.of(key, next: next, at: UTCMicros(microsecondsSinceEpoch: LedgerFixture.t(10).microsecondsSinceEpoch - 1))
                == .notYetValid(validFrom: LedgerFixture.t(10)))
        #expect(
            KeyValidity.of(key, next: next, at: LedgerFixture.t(20)) == .superseded(byVersion: 2, validFrom: LedgerFixture.t(20)))
        #expect(KeyValidity.of(key, next: nil, at: LedgerFixture.t(30)) == .revoked(revokedAt: LedgerFixture.t(30)))
        #expect(KeyValidity.of(key, next: nil, at: micro) == .valid)
        // Revoked and superseded both: the revocation is named.
        #expect(KeyValidity.of(key, next: next, at: LedgerFixture.t(31)) == .revoked(revokedAt: LedgerFixture.t(30)))
    }

    @Test func anEndorsementByAnOrgTheTransactionDoesNotNameIsRefused() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        let position = fixture.index("unsealed")
        let signature = try fixture.signature(.org(fixture.hq), 2, evidence.transactions[position].canonicalBytes)
        evidence.transactions[position].endorsements.append(.init(org: fixture.hq, keyVersion: 2, signatureDER: signature))
        await expect(evidence, fixture, [.tx("unsealed", .endorserNotNamed, "endorsements[HQ]")])
        let report = await verify(evidence)
        #expect(report.failures.first?.expected == "an endorsement by BJ-CW (sender), SJZ-FW (receiver)")
    }

    @Test func aSecondEndorsementByTheSameOrgIsADuplicate() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        let position = fixture.index("receive")
        let again = try fixture.signature(.org(fixture.bj), 1, evidence.transactions[position].canonicalBytes)
        evidence.transactions[position].endorsements.append(.init(org: fixture.bj, keyVersion: 1, signatureDER: again))
        await expect(evidence, fixture, [.tx("receive", .duplicateEndorsement, "endorsements[BJ-CW]")])
    }

    @Test func aClaimedCommitmentThePolicyDoesNotGiveIsNamed() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        evidence.transactions[fixture.index("claim")].claimedStatus = .committed
        await expect(evidence, fixture, [.tx("claim", .statusMismatch, "status")])

        // One endorsement of a sealed AND(receiver, sender) gone: pending, so its block sealed too early.
        var sealed = fixture.evidence
        sealed.transactions[fixture.index("receive")].endorsements.removeFirst()
        await expect(
            sealed, fixture, [.tx("receive", .statusMismatch, "status"), .sealed(1, "receive", .sealedTransactionNotCommitted)])

        // A dispute stops a transaction; only an org it names may dispute.
        var disputes = fixture.evidence
        disputes.transactions[fixture.index("dispatch")].dispute = .init(org: fixture.hq, reason: "price")
        disputes.transactions[fixture.index("claim")].dispute = .init(org: fixture.bj, reason: "not ours")
        await expect(
            disputes, fixture,
            [
                .tx("dispatch", .statusMismatch, "status"), .sealed(1, "dispatch", .sealedTransactionNotCommitted),
                .tx("claim", .disputeByUnnamedOrg, "dispute.org"),
            ])
    }

    /// The orderer re-seals block 1 over a changed transaction: its own signature and trees are
    /// right, but the endorsers never signed the new bytes, and block 2 still links to and
    /// extends the block 1 it replaced.
    @Test func aForgedBlockResealedByTheOrdererBreaksTheNextBlock() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        let forged = try fixture.rewritten(
            "dispatch", body: .object(["transfer_id": .integer(7), "estimate_total_fen": .integer(2_234_500)]), in: &evidence)
        var listings = fixture.listings(evidence)
        listings[1][1] = forged
        let resealed = try fixture.resealed(evidence, listings: listings)
        var tampered = resealed
        tampered.blocks[2] = evidence.blocks[2]  // block 2 as it was: the forger re-sealed only block 1
        await expect(
            tampered, fixture,
            [
                .tx("forged", .signatureInvalid, "endorsements[BJ-CW].signature"),
                .tx("forged", .signatureInvalid, "endorsements[HQ].signature"),
                .tx("forged", .statusMismatch, "status"), .sealed(1, "forged", .sealedTransactionNotCommitted),
                .block(2, .previousHashMismatch, "prev_hash"), .block(2, .logRootMismatch, "log_root"),
            ], extra: [forged: "forged"])
    }

    /// In the last block there is no next block to break: what still shows is that the
    /// transaction's endorsers did not sign it. If the forger also held every endorser's key (all
    /// custodial, on the server), nothing in one copy of the ledger shows it; only a checkpoint an
    /// org kept outside (DESIGN.md, "Checkpoints") does, which is why the verifier is not all.
    @Test func aForgedLastBlockShowsOnlyInTheEndorsementsTheForgerCouldNotMake() async throws {
        let fixture = try LedgerFixture()
        let body = JSONValue.object(["transfer_id": .integer(7), "amount_fen": .integer(-99_000)])
        var evidence = fixture.evidence
        let forged = try fixture.rewritten("trueUp", body: body, in: &evidence)
        var listings = fixture.listings(evidence)
        listings[2][3] = forged
        await expect(
            try fixture.resealed(evidence, listings: listings), fixture,
            [
                .tx("forged", .signatureInvalid, "endorsements[HQ].signature"), .tx("forged", .statusMismatch, "status"),
                .sealed(2, "forged", .sealedTransactionNotCommitted),
            ], extra: [forged: "forged"])

        var everyKey = fixture.evidence
        let reendorsed = try fixture.rewritten("trueUp", body: body, in: &everyKey, resign: true)
        listings[2][3] = reendorsed
        await expect(try fixture.resealed(everyKey, listings: listings), fixture, [])
    }

    /// A block that the orderer sealed correctly may still seal what it must not.
    @Test func aWellSealedBlockMayNotSealATransactionTwiceOrUncommittedOrBeforeItHappened() async throws {
        let fixture = try LedgerFixture()
        var listings = fixture.listings(fixture.evidence)
        listings[2] += [fixture.hash("rules"), fixture.hash("claim")]
        await expect(
            try fixture.resealed(fixture.evidence, listings: listings), fixture,
            [
                .sealed(2, "rules", .transactionSealedTwice), .sealed(2, "claim", .sealedTransactionNotCommitted),
                .sealed(2, "claim", .sealedBeforeTransaction, "sealed_at"),
            ])
    }

    @Test func documentsMustBeCanonicalTransactionsOfThisTenant() async throws {
        var fixture = try LedgerFixture()
        var evidence = fixture.evidence
        let position = fixture.index("rules")
        let spaced = Array(
            String(decoding: evidence.transactions[position].canonicalBytes, as: UTF8.self).replacingOccurrences(
                of: ",", with: ", "
            ).utf8)
        evidence.transactions[position].canonicalBytes = spaced
        evidence.transactions[position].claimedHash = .of(spaced)
        await expect(
            evidence, fixture, [.tx("spaced", .notCanonical, "canonical_bytes"), .sealed(1, "rules", .sealedTransactionMissing)],
            extra: [.of(spaced): "spaced"])

        try fixture.add(
            "elsewhere", .transferTruedUp, at: LedgerFixture.t(26), [.hq: fixture.hq], .role(.hq), .object([:]),
            by: [(fixture.hq, 2)], tenant: try TenantCode("cement"))
        await expect(fixture.evidence, fixture, [.tx("elsewhere", .tenantMismatch, "tenant")])
    }

    @Test func unknownKeysAndMalformedSignaturesAreNamed() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        let position = fixture.index("receive")
        evidence.transactions[position].endorsements[0].keyVersion = 9
        evidence.transactions[position].endorsements[1].signatureDER = [0x30, 0x00]
        evidence.blocks[2].ordererKeyVersion = 2
        await expect(
            evidence, fixture,
            [
                .tx("receive", .keyUnknown, "endorsements[SJZ-FW].key_version"),
                .tx("receive", .signatureMalformed, "endorsements[BJ-CW].signature"),
                .tx("receive", .statusMismatch, "status"), .sealed(1, "receive", .sealedTransactionNotCommitted),
                .block(2, .keyUnknown, "orderer_key_version"),
            ])
    }

    /// Orderer v2 starts at second 3: blocks 1 and 2, sealed later, are still signed by v1.
    @Test func theOrdererSignsWithTheKeyValidAtSealedAt() async throws {
        var fixture = try LedgerFixture()
        fixture.addKey(.orderer, 2, .custodial, validFrom: LedgerFixture.t(3))
        try fixture.add(
            "regOrderer2", .keyRegistered, at: LedgerFixture.t(3), [.hq: fixture.hq], .role(.hq),
            fixture.evidence.keys.last!.registration.ledgerBody, by: [(fixture.hq, 1)])
        await expect(
            fixture.evidence, fixture,
            [.block(1, .keySuperseded, "orderer_key_version"), .block(2, .keySuperseded, "orderer_key_version")])
    }

    @Test func blockRowsAndHeadersMustAgreeAndBeReadable() async throws {
        let fixture = try LedgerFixture()
        var renumbered = fixture.evidence
        renumbered.blocks[1].number = 5
        await expect(renumbered, fixture, [.block(5, .blockOutOfSequence, "number"), .block(5, .blockRowMismatch, "number")])

        // Spaces in block 1's header: unreadable, so its own trees go unchecked, but it is still
        // hashed, its signature still checked, and block 2 still links to its bytes as stored.
        var spaced = fixture.evidence
        spaced.blocks[1].headerBytes = Array(
            String(decoding: spaced.blocks[1].headerBytes, as: UTF8.self).replacingOccurrences(of: ",", with: ", ").utf8)
        await expect(
            spaced, fixture,
            [
                .block(1, .notCanonical, "canonical_bytes"), .block(1, .blockHashMismatch, "block_hash"),
                .block(1, .signatureInvalid, "orderer_signature"), .block(2, .previousHashMismatch, "prev_hash"),
            ])

        let elsewhere = try fixture.resealed(
            fixture.evidence, listings: fixture.listings(fixture.evidence), tenant: try TenantCode("cement"))
        await expect(
            elsewhere, fixture,
            [.block(0, .tenantMismatch, "tenant"), .block(1, .tenantMismatch, "tenant"), .block(2, .tenantMismatch, "tenant")])
    }

    @Test func aTransactionOrAKeyStoredTwiceIsNamed() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        evidence.transactions.append(evidence.transactions[fixture.index("rules")])
        evidence.keys.append(evidence.keys[0])
        await expect(
            evidence, fixture,
            [.tx("rules", .duplicateTransaction, "canonical_bytes"), .key(.keyVersionOutOfSequence, "keys[HQ/1].key_version")])
        #expect(await evidence.verify().counts.transactions == 15)

        // Canonical JSON that is no transaction.
        var notATransaction = fixture.evidence
        let bytes = Array(#"{"version":1}"#.utf8)
        notATransaction.transactions.append(
            .init(claimedHash: .of(bytes), canonicalBytes: bytes, claimedStatus: .pending, endorsements: [], dispute: nil))
        await expect(notATransaction, fixture, [.tx("bare", .malformedDocument, "at")], extra: [.of(bytes): "bare"])
    }

    @Test func keyRowsFollowTheirLifecycleAndAreEvidencedByTheirEvents() async throws {
        let base = try LedgerFixture()
        let hq = EndorsementPolicy.role(.hq)

        // A gap in BJ-CW's versions.
        var gap = base
        gap.addKey(.org(gap.bj), 3, .custodial, validFrom: LedgerFixture.t(30))
        try gap.add(
            "regBJ3", .keyRegistered, at: LedgerFixture.t(30), [.hq: gap.hq], hq, gap.evidence.keys.last!.registration.ledgerBody,
            by: [(gap.hq, 2)])
        await expect(gap.evidence, gap, [.key(.keyVersionOutOfSequence, "keys[BJ-CW/3].key_version")])

        // A second version that starts before the first.
        var order = base
        for (version, second) in [(Int64(1), Int64(8)), (2, 6)] {
            order.addKey(.org(order.carrier), version, .custodial, validFrom: LedgerFixture.t(second))
            try order.add(
                "regCarrier\(version)", .keyRegistered, at: LedgerFixture.t(second), [.hq: order.hq], hq,
                order.evidence.keys.last!.registration.ledgerBody,
                by: [(order.hq, 1)])
        }
        await expect(order.evidence, order, [.key(.keyValidFromNotIncreasing, "keys[LOGI-CARRIER/2].valid_from")])

        // A revocation row without its key.revoked.
        var silent = base
        silent.evidence.keys[2].revocation = .init(revokedAt: LedgerFixture.t(30), reason: "left the group")
        await expect(silent.evidence, silent, [.key(.keyRevocationNotRecorded, "keys[BJ-CW/1].revocation")])

        // A key.registered without its row, and one valid from before it was registered.
        var events = base
        let ghost = KeyEvent.Registered(
            owner: .org(events.carrier), version: 1, custody: .client,
            publicKeyDER: SM2PrivateKey.generate().publicKey.derRepresentation,
            validFrom: LedgerFixture.t(26))
        try events.add(
            "ghost", .keyRegistered, at: LedgerFixture.t(26), [.hq: events.hq], hq, ghost.ledgerBody, by: [(events.hq, 2)])
        events.addKey(.orderer, 2, .custodial, validFrom: LedgerFixture.t(27))
        try events.add(
            "backdated", .keyRegistered, at: LedgerFixture.t(28), [.hq: events.hq], hq,
            events.evidence.keys.last!.registration.ledgerBody, by: [(events.hq, 2)])
        await expect(
            events.evidence, events,
            [.tx("ghost", .keyEventWithoutKey, "body.key_version"), .tx("backdated", .keyBackdated, "body.valid_from")])

        // A disputed registration evidences nothing; its block should not have sealed it either.
        var disputed = base
        let position = disputed.index("regBJ1")
        disputed.evidence.transactions[position].dispute = .init(org: disputed.hq, reason: "not our key")
        disputed.evidence.transactions[position].claimedStatus = .disputed
        await expect(
            disputed.evidence, disputed,
            [.key(.keyNotRegistered, "keys[BJ-CW/1]"), .sealed(0, "regBJ1", .sealedTransactionNotCommitted)])

        // A row whose public key is not one, registered by a body that cannot state it.
        var broken = base
        broken.addKey(.org(broken.carrier), 1, .client, validFrom: LedgerFixture.t(26), publicKeyDER: [0x30, 0x00])
        try broken.add(
            "regBroken", .keyRegistered, at: LedgerFixture.t(26), [.hq: broken.hq], hq,
            broken.evidence.keys.last!.registration.ledgerBody, by: [(broken.hq, 2)])
        await expect(
            broken.evidence, broken,
            [
                .key(.keyMalformed, "keys[LOGI-CARRIER/1].public_key"), .key(.keyNotRegistered, "keys[LOGI-CARRIER/1]"),
                .tx("regBroken", .bodyMalformed, "body.public_key"),
            ])

        // A revocation stated otherwise than its row.
        var reason = base
        reason.evidence.keys[3].revocation!.reason = "stolen"
        await expect(
            reason.evidence, reason,
            [.tx("revokeSJZ1", .keyEventMismatch, "body.reason"), .key(.keyRevocationNotRecorded, "keys[SJZ-FW/1].revocation")])
    }

    /// Many tamperings in one ledger: each is named as it is alone, and the report is the same
    /// however the work is split (one task or several, whole or in chunks).
    @Test func everyTamperingIsNamedAndTheReportIsTheSameHoweverTheWorkIsSplit() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        let forged = LedgerHash.of(Array("not the rules".utf8))
        evidence.transactions[fixture.index("rules")].claimedHash = forged
        let digit = Array(#""data_hash":""#.utf8).count + 1
        evidence.blocks[0].headerBytes[digit] =
            evidence.blocks[0].headerBytes[digit] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        let receive = fixture.index("receive")
        evidence.transactions[receive].endorsements.append(
            .init(
                org: fixture.bj, keyVersion: 1,
                signatureDER: try fixture.signature(.org(fixture.bj), 1, evidence.transactions[receive].canonicalBytes)))
        let unsealed = fixture.index("unsealed")
        evidence.transactions[unsealed].endorsements.append(
            .init(
                org: fixture.hq, keyVersion: 2,
                signatureDER: try fixture.signature(.org(fixture.hq), 2, evidence.transactions[unsealed].canonicalBytes)))
        evidence.transactions.remove(at: fixture.index("dispatch"))

        let expected: [Mark] = [
            .tx("forged", .transactionHashMismatch, "tx_hash"), .block(0, .blockHashMismatch, "block_hash"),
            .block(0, .dataHashMismatch, "data_hash"),
            .block(0, .signatureInvalid, "orderer_signature"), .block(1, .previousHashMismatch, "prev_hash"),
            .tx("receive", .duplicateEndorsement, "endorsements[BJ-CW]"), .tx("unsealed", .endorserNotNamed, "endorsements[HQ]"),
            .sealed(1, "dispatch", .sealedTransactionMissing),
        ]
        await expect(evidence, fixture, expected, extra: [forged: "forged"])

        let whole = await evidence.verify()
        #expect(whole.failures == whole.failures.sorted())
        #expect(await evidence.verify(concurrency: 1) == whole)
        #expect(await evidence.verify(concurrency: 5) == whole)
        var streamed = LedgerVerifier(tenant: evidence.tenant, keys: evidence.keys, concurrency: 2)
        for start in stride(from: 0, to: evidence.blocks.count, by: 1) {
            // Blocks and transactions interleaved, in chunks of one block and three transactions.
            await streamed.add(blocks: [evidence.blocks[start]])
            await streamed.add(
                transactions: Array(evidence.transactions[(start * 3)..<min(start * 3 + 3, evidence.transactions.count)]))
        }
        await streamed.add(transactions: Array(evidence.transactions[9...]))
        #expect(streamed.report() == whole)
    }

    @Test func withoutBodyChecksKeyEventsAreNotCheckedAgainstTheirRows() async throws {
        let fixture = try LedgerFixture()
        var evidence = fixture.evidence
        evidence.keys[3].revocation!.reason = "stolen"
        let checked = await evidence.verify(transferFigures: false)
        let unchecked = await evidence.verify(bodyChecks: [:], transferFigures: false)
        #expect(checked.failures.map(\.kind) == [.keyRevocationNotRecorded, .keyEventMismatch])
        // The rows still need their events whatever checks run: coverage is the verifier's own.
        #expect(unchecked.failures.map(\.kind) == [.keyRevocationNotRecorded])
    }
}

@Suite struct KeyEventTests {
    private let der = SM2PrivateKey.generate().publicKey.derRepresentation

    @Test func aRegistrationIsItsKeyRowInCanonicalJSON() throws {
        let event = KeyEvent.Registered(
            owner: .org(try OrgCode("SJZ-FW")), version: 2, custody: .client, publicKeyDER: der,
            validFrom: UTCMicros("2026-12-02T03:19:37.000120Z")!)
        let base64 = Data(der).base64EncodedString()
        // SPKI: id-ecPublicKey, sm2p256v1, an uncompressed point.
        #expect(base64.hasPrefix("MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAE"))
        #expect(
            String(decoding: CanonicalJSON.encode(event.ledgerBody), as: UTF8.self)
                == #"{"custody":"client","key_version":2,"org":"SJZ-FW","public_key":""# + base64
                + #"","valid_from":"2026-12-02T03:19:37.000120Z"}"#)
        #expect(try KeyEvent.Registered(ledgerBody: event.ledgerBody) == event)
        let orderer = KeyEvent.Registered(
            owner: .orderer, version: 1, custody: .custodial, publicKeyDER: der,
            validFrom: UTCMicros("2026-12-02T03:19:37.000120Z")!)
        #expect(String(decoding: CanonicalJSON.encode(orderer.ledgerBody), as: UTF8.self).contains(#""org":"orderer""#))
        #expect(try KeyEvent.Registered(ledgerBody: orderer.ledgerBody).owner == .orderer)
    }

    @Test func aRevocationIsItsRowInCanonicalJSON() throws {
        let event = KeyEvent.Revoked(
            owner: .org(try OrgCode("HQ")), version: 1, revokedAt: UTCMicros("2026-12-02T03:19:37.000120Z")!, reason: "设备丢失")
        #expect(
            String(decoding: CanonicalJSON.encode(event.ledgerBody), as: UTF8.self)
                == #"{"key_version":1,"org":"HQ","reason":"设备丢失","revoked_at":"2026-12-02T03:19:37.000120Z"}"#)
        #expect(try KeyEvent.Revoked(ledgerBody: event.ledgerBody) == event)
    }

    @Test func malformedKeyEventBodiesAreRefusedByField() throws {
        let good = KeyEvent.Registered(
            owner: .orderer, version: 1, custody: .custodial, publicKeyDER: der,
            validFrom: UTCMicros("2026-12-02T03:19:37.000120Z")!
        ).ledgerBody
        guard case .object(let members) = good else { Issue.record("not an object"); return }
        let base64 = Data(der).base64EncodedString()
        let cases: [([String: JSONValue], String)] = [
            (members.merging(["custody": .string("escrow")]) { $1 }, "body.custody: must be custodial or client"),
            (members.merging(["public_key": .string(String(base64.dropLast()))]) { $1 }, "body.public_key: must be base64"),
            (
                members.merging(["public_key": .string(String(base64.prefix(40)) + "\n" + base64.dropFirst(40))]) { $1 },
                "body.public_key: must be base64"
            ),
            (
                members.merging(["public_key": .string(Data([0x30, 0x00]).base64EncodedString())]) { $1 },
                "body.public_key: must be an SM2 public key"
            ),
            (members.merging(["org": .string("sjz")]) { $1 }, "body.org: must be an org code or orderer"),
            (members.merging(["key_version": .integer(0)]) { $1 }, "body.key_version: must be 1 or more"),
            (members.merging(["valid_from": .string("2026-12-02T03:19:37Z")]) { $1 }, "body.valid_from: must be UTC time"),
            (members.merging(["extra": .integer(1)]) { $1 }, "body.extra: is not a field"),
            (members.filter { $0.key != "custody" }, "body.custody: missing"),
        ]
        for (body, message) in cases {
            #expect {
                try KeyEvent.Registered(ledgerBody: .object(body))
            } throws: { error in
                (error as? LedgerDocumentError)?.description.hasPrefix(message) == true
            }
        }
        let revoked = KeyEvent.Revoked(
            owner: .orderer, version: 1, revokedAt: UTCMicros("2026-12-02T03:19:37.000120Z")!, reason: "x"
        ).ledgerBody
        guard case .object(let revokedMembers) = revoked else { Issue.record("not an object"); return }
        #expect {
            try KeyEvent.Revoked(ledgerBody: .object(revokedMembers.merging(["reason": .string("  ")]) { $1 }))
        } throws: { ($0 as? LedgerDocumentError)?.description.hasPrefix("body.reason: must say why") == true }
    }
}
