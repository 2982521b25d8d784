import Foundation
import OrgMatrixCore
import SMCrypto
import Testing

private func code(_ text: String) -> OrgCode { try! OrgCode(text) }
private let start = TenantDefinition.defaultValidFrom
private let hour: TimeInterval = 3_600

/// Which key version signs at a moment (docs/LEDGER.md, "Endorsements"), worked out by hand on a
/// timeline in hours after `start`:
///
///     v1  [0, 10)          ended by v2 at 10
///     v2  [10, 15)         revoked at 15 (before v3 starts)
///     —   [15, 20)         no key
///     v3  [20, 30)         revoked at 30, after v4 started at 25: v4's start ends it first
///     v4  [25, …)          current
@Suite struct KeyValidityTests {
    static let owner = KeyOwner.org(code("SJZ-FW"))

    static func key(_ version: Int32, from hours: Double, revokedAt revoked: Double? = nil) -> OrgKeyVersion {
        OrgKeyVersion(
            owner: owner, version: version, custody: .client, publicKey: SM2PrivateKey.generate().publicKey,
            validFrom: start.addingTimeInterval(hours * hour),
            revocation: revoked.map { KeyRevocation(revokedAt: start.addingTimeInterval($0 * hour), reason: "lost laptop") })
    }

    static let history = OrgKeyHistory(
        owner: owner,
        versions: [key(3, from: 20, revokedAt: 30), key(1, from: 0), key(2, from: 10, revokedAt: 15), key(4, from: 25)])

    @Test(
        arguments: [
            (-1, nil), (0, 1), (9.99, 1), (10, 2), (14.99, 2), (15, nil), (19.99, nil), (20, 3), (24.99, 3), (25, 4), (30, 4),
            (1000, 4),
        ] as [(Double, Int32?)])
    func theVersionValidAtAMoment(hours: Double, version: Int32?) {
        #expect(Self.history.valid(at: start.addingTimeInterval(hours * hour))?.version == version, "at \(hours) h")
    }

    @Test func eachVersionEndsAtItsSuccessorsStartOrItsRevocationWhicheverIsFirst() {
        let ends = (1...4).map { Self.history.validTo(version: Int32($0)) }
        #expect(ends == [10, 15, 25].map { start.addingTimeInterval($0 * hour) } + [nil])
        #expect(Self.history.validTo(version: 9) == nil)
        #expect(Self.history.versions.map(\.version) == [1, 2, 3, 4])
        #expect(Self.history.latest?.version == 4)
    }

    /// 2025-12-02T03:19:37.000002Z twice: as PostgresNIO decodes a timestamptz (microseconds since
    /// 2000 added to 2000-01-01) and as a ledger transaction's `at` becomes a Date (microseconds
    /// since 1970 divided): the two Doubles differ in their last bit, the first the later. A key
    /// valid from the one is valid at the other.
    @Test func aKeyIsValidFromItsOwnMomentHoweverTheDateWasBuilt() {
        let micros: Int64 = 1_764_645_577_000_002
        let decoded = Date(timeInterval: Double(micros - 946_684_800_000_000) / 1_000_000, since: Date(timeIntervalSince1970: 946_684_800))
        let built = Date(timeIntervalSince1970: Double(micros) / 1_000_000)
        #expect(built < decoded)
        let history = OrgKeyHistory(
            owner: Self.owner,
            versions: [
                OrgKeyVersion(
                    owner: Self.owner, version: 1, custody: .custodial, publicKey: SM2PrivateKey.generate().publicKey, validFrom: decoded,
                    revocation: nil)
            ])
        #expect(history.valid(at: built)?.version == 1)
        // A microsecond before is before.
        #expect(history.valid(at: Date(timeIntervalSince1970: Double(micros - 1) / 1_000_000)) == nil)
    }

    @Test func noKeysMeansNoValidKey() {
        #expect(OrgKeyHistory(owner: .orderer, versions: []).valid(at: start) == nil)
    }

    @Test func aRevokedCurrentKeyLeavesNoValidKeyFromItsRevocationOn() {
        let history = OrgKeyHistory(owner: Self.owner, versions: [Self.key(1, from: 0, revokedAt: 5)])
        #expect(history.valid(at: start.addingTimeInterval(4.99 * hour))?.version == 1)
        #expect(history.valid(at: start.addingTimeInterval(5 * hour)) == nil)
        #expect(history.validTo(version: 1) == start.addingTimeInterval(5 * hour))
    }

    @Test(arguments: ["orderer", "SJZ-FW"])
    func ownersRoundTripTheirNames(name: String) throws {
        #expect(try KeyOwner(name: name).name == name)
    }

    @Test(arguments: ["Orderer", "sjz-fw", "", "ORDERER "])
    func anOwnerIsAnOrgCodeOrTheOrderer(name: String) {
        #expect(throws: MatrixProblem.self) { try KeyOwner(name: name) }
    }

    @Test func ownersSortOrgsByCodeAndTheOrdererLast() {
        #expect(
            [.orderer, .org(code("TY-FW")), .org(code("BJ-CW"))].sorted() == [
                KeyOwner.org(code("BJ-CW")), .org(code("TY-FW")), .orderer,
            ])
    }

    @Test(arguments: [
        ("", false), ("   ", false), ("key file lost", true), (String(repeating: "密", count: 500), true),
        (String(repeating: "密", count: 501), false),
    ])
    func aRevocationSaysWhyInAtMost500Characters(reason: String, accepted: Bool) {
        #expect((KeyRevocation.reasonProblem(reason) == nil) == accepted)
    }
}

@Suite struct LedgerSectionTests {
    static func file(ledger: TenantFile.LedgerEntry?, relations: [TenantFile.RelationEntry]? = nil) -> TenantFile {
        let base = TenantDefinitionTests.file(relations: relations)
        var orgs = base.orgs
        orgs.append(
            .init(code: "CARRIER", name: "冷链物流", kind: "physical", roles: ["fulfilment"], location: base.orgs[2].location))
        var edges = relations ?? base.relations
        if relations == nil {
            edges.append(
                .init(
                    kind: "reports_to", from: "CARRIER", to: "HQ", purpose: nil, distanceKm: nil, leadTimeHours: nil,
                    validFrom: nil))
        }
        return TenantFile(tenant: base.tenant, orgs: orgs, relations: edges, principals: base.principals, ledger: ledger)
    }

    /// A small tenant file as JSON (what the YAML decodes to), with `extra` top-level members.
    static func decode(_ extra: String) throws -> TenantFile {
        let text = """
            {"tenant": {"code": "dairy", "name": "乳业"},
             "orgs": [{"code": "HQ", "name": "总部", "kind": "virtual", "roles": ["settlement"]},
                      {"code": "SJZ-FW", "name": "石家庄前置仓", "kind": "physical", "roles": ["fulfilment"],
                       "location": {"province": "130000", "city": "130100", "county": "130102", "latitude": "38.042300", "longitude": "114.514300"}}],
             "relations": [{"kind": "reports_to", "from": "SJZ-FW", "to": "HQ"}],
             "principals": [],
             \(extra)}
            """
        return try JSONDecoder().decode(TenantFile.self, from: Data(text.utf8))
    }

    @Test func aSoundSectionValidatesAndHQDefaultsToTheHeadquarters() throws {
        let entry = TenantFile.LedgerEntry(
            hq: nil, clientHeld: ["SJZ-FW"], policies: ["transfer.dispatched": "AND(sender, sender_settlement)"])
        let definition = try TenantDefinition.validate(Self.file(ledger: entry))
        let ledger = try #require(definition.ledger)
        #expect(ledger.hq == code("HQ"))
        #expect(ledger.clientHeld == [code("SJZ-FW")])
        #expect(ledger.policies == ["transfer.dispatched": "AND(sender, sender_settlement)"])
        #expect(ledger.custody(of: code("SJZ-FW")) == .client)
        #expect(ledger.custody(of: code("TY-FW")) == .custodial)
        #expect(try TenantDefinition.validate(Self.file(ledger: nil)).ledger == nil)
    }

    @Test func everyProblemOfTheSectionNamesItsField() {
        let entry = TenantFile.LedgerEntry(
            hq: "NOWHERE", clientHeld: ["SJZ-FW", "SJZ-FW", "GHOST", "bad code"],
            policies: [
                "transfer.teleported": "hq", "transfer.received": "  ", "claim.settled": String(repeating: "x", count: 1001),
            ])
        let error = #expect(throws: MatrixInvalid.self) { try TenantDefinition.validate(Self.file(ledger: entry)) }
        let fields = (error?.problems ?? []).map(\.field)
        #expect(
            Set(fields) == [
                "ledger.hq", "ledger.client_held[1]", "ledger.client_held[2]", "ledger.client_held[3]",
                "ledger.policies.transfer.teleported",
                "ledger.policies.transfer.received", "ledger.policies.claim.settled",
            ])
        #expect(error?.problems.first { $0.field == "ledger.client_held[1]" }?.reason.contains("twice") == true)
        #expect(error?.problems.first { $0.field == "ledger.hq" }?.reason.contains("NOWHERE") == true)
    }

    @Test func unknownKeysOfTheSectionAndTheFileAreNamed() throws {
        let file = try Self.decode(#""ledger": {"hq": "HQ", "client_hold": ["SJZ-FW"], "polices": {}}, "ledgr": {}"#)
        #expect(file.ledger?.unknownKeys == ["client_hold", "polices"])
        #expect(file.unknownKeys == ["ledgr"])
        let error = #expect(throws: MatrixInvalid.self) { try TenantDefinition.validate(file) }
        let fields: [String] = error?.problems.map(\.field) ?? []
        #expect(Set(fields) == ["ledgr", "ledger.client_hold", "ledger.polices"])
    }

    /// A policy that no transaction on some lane could ever meet is refused, naming the lane and the
    /// role nobody plays there (the base lane SJZ-FW → TY-FW: NORTH settles SJZ-FW's sales, nobody
    /// TY-FW's purchases, no carrier).
    @Test func aPolicyALaneCannotMeetIsRefusedNamingTheLaneAndTheRole() {
        let entry = TenantFile.LedgerEntry(
            hq: nil, clientHeld: [],
            policies: [
                "transfer.dispatched": "OR(carrier, sender_settlement)", "transfer.received": "AND(receiver, receiver_settlement)",
                "claim.settled": "AND(hq, carrier)", "key.revoked": "sender",
            ])
        let error = #expect(throws: MatrixInvalid.self) { try TenantDefinition.validate(Self.file(ledger: entry)) }
        let problems = error?.problems ?? []
        #expect(Set(problems.map(\.field)) == ["ledger.policies.transfer.received", "ledger.policies.claim.settled", "ledger.policies.key.revoked"])
        #expect(
            problems.first { $0.field == "ledger.policies.transfer.received" }?.reason
                == "cannot be met on the lane SJZ-FW → TY-FW: no org plays receiver_settlement there")
        #expect(problems.first { $0.field == "ledger.policies.claim.settled" }?.reason.contains("carrier") == true)
        #expect(problems.first { $0.field == "ledger.policies.key.revoked" }?.reason.contains("only the hq role") == true)
    }

    /// A settlement org counts for the purpose it settles: purchases only is no sender's settlement.
    @Test func aSettlementCountsOnlyForItsPurpose() {
        var relations = TenantDefinitionTests.file().relations
        relations[3] = .init(kind: "settles_for", from: "NORTH", to: "SJZ-FW", purpose: "purchases", distanceKm: nil, leadTimeHours: nil, validFrom: nil)
        relations.append(.init(kind: "reports_to", from: "CARRIER", to: "HQ", purpose: nil, distanceKm: nil, leadTimeHours: nil, validFrom: nil))
        let entry = TenantFile.LedgerEntry(hq: nil, clientHeld: [], policies: ["transfer.dispatched": "AND(sender, sender_settlement)"])
        let error = #expect(throws: MatrixInvalid.self) { try TenantDefinition.validate(Self.file(ledger: entry, relations: relations)) }
        #expect(error?.problems.map(\.field) == ["ledger.policies.transfer.dispatched"])
        let lane = CarrierTests.lane(carrier: "CARRIER")
        var withCarrier = CarrierTests.relations(replacingLaneWith: lane)
        withCarrier[3] = relations[3]
        let either = TenantFile.LedgerEntry(
            hq: nil, clientHeld: [], policies: ["transfer.dispatched": "AND(sender, OR(sender_settlement, carrier))", "transfer.received": "AND(receiver, carrier)"])
        #expect(throws: Never.self) { try TenantDefinition.validate(Self.file(ledger: either, relations: withCarrier)) }
    }

    @Test func aDecodedSectionValidates() throws {
        let file = try Self.decode(
            #""ledger": {"hq": "HQ", "client_held": ["SJZ-FW"], "policies": {"transfer.dispatched": "AND(sender, sender_settlement)", "transfer.received": "AND(receiver, sender)"}}"#
        )
        let definition = try TenantDefinition.validate(file)
        #expect(definition.ledger?.policies.count == 2)
        #expect(definition.ledger?.clientHeld == [code("SJZ-FW")])
        #expect(file.unknownKeys.isEmpty && file.ledger?.unknownKeys.isEmpty == true)
    }
}

@Suite struct CarrierTests {
    static func lane(carrier: String?) -> TenantFile.RelationEntry {
        .init(
            kind: "transfers_with", from: "SJZ-FW", to: "TY-FW", purpose: nil, distanceKm: 220, leadTimeHours: 5, validFrom: nil,
            carrier: carrier)
    }

    static func relations(replacingLaneWith lane: TenantFile.RelationEntry) -> [TenantFile.RelationEntry] {
        var relations = TenantDefinitionTests.file().relations
        relations[4] = lane
        relations.append(
            .init(
                kind: "reports_to", from: "CARRIER", to: "HQ", purpose: nil, distanceKm: nil, leadTimeHours: nil, validFrom: nil))
        return relations
    }

    @Test func aLaneNamesAPhysicalCarrier() throws {
        let definition = try TenantDefinition.validate(
            LedgerSectionTests.file(ledger: nil, relations: Self.relations(replacingLaneWith: Self.lane(carrier: "CARRIER"))))
        #expect(definition.relations.first { $0.kind == .transfersWith }?.carrier == code("CARRIER"))
    }

    @Test(arguments: [
        ("NOWHERE", "no org NOWHERE"), ("NORTH", "must be a physical org"), ("SJZ-FW", "another org than the lane's two ends"),
        ("TY-FW", "another org than the lane's two ends"),
    ])
    func aCarrierMustBeAnotherPhysicalOrgOfTheTenant(carrier: String, reason: String) {
        let error = #expect(throws: MatrixInvalid.self) {
            try TenantDefinition.validate(
                LedgerSectionTests.file(ledger: nil, relations: Self.relations(replacingLaneWith: Self.lane(carrier: carrier))))
        }
        #expect(error?.problems.map(\.field) == ["relations[4].carrier"], "\(String(describing: error))")
        #expect(error?.problems.first?.reason.contains(reason) == true, "\(String(describing: error))")
    }

    @Test func onlyALaneHasACarrier() {
        let relation = Relation(kind: .reportsTo, from: code("WH-A"), to: code("HQ"), carrier: code("CARRIER"), validFrom: start)
        #expect(relation.formProblems().map(\.field) == [.carrier])
    }

    /// Changing a lane's carrier is a change of its terms: the lane is ended and replaced.
    @Test func aNewCarrierEndsTheLaneAndStartsAnother() throws {
        let before = try TenantDefinition.validate(
            LedgerSectionTests.file(ledger: nil, relations: Self.relations(replacingLaneWith: Self.lane(carrier: nil))))
        let after = try TenantDefinition.validate(
            LedgerSectionTests.file(ledger: nil, relations: Self.relations(replacingLaneWith: Self.lane(carrier: "CARRIER"))))
        let now = start.addingTimeInterval(100 * 86_400)
        let changes = try TenantPlanner.plan(current: TenantPlannerTests().stored(before), desired: after, now: now)
        #expect(changes.count == 2)
        #expect(changes.contains { if case .endRelation(5, _, now) = $0 { true } else { false } })
        #expect(
            changes.contains {
                if case .createRelation(let lane) = $0 { lane.carrier == code("CARRIER") && lane.validFrom == now } else { false }
            })
    }
}

@Suite struct LedgerPlanTests {
    let now = start.addingTimeInterval(200 * 86_400)
    static let entry = TenantFile.LedgerEntry(
        hq: "HQ", clientHeld: ["SJZ-FW"], policies: ["transfer.received": "AND(receiver, sender)"])

    func stored(_ definition: TenantDefinition, ledger: LedgerDefinition?, keyOwners: Set<KeyOwner>) -> TenantSnapshot {
        let plain = TenantPlannerTests().stored(definition)
        return TenantSnapshot(
            name: plain.name, orgs: plain.orgs, relations: plain.relations, principals: plain.principals, ledger: ledger,
            keyOwners: keyOwners)
    }

    /// HQ, NORTH, TY-FW and CARRIER get custodial keys, and so does the orderer; SJZ-FW registers its own.
    @Test func aNewTenantGetsItsSettingsAndACustodialKeyForEveryOrgNotClientHeld() throws {
        let definition = try TenantDefinition.validate(LedgerSectionTests.file(ledger: Self.entry))
        let changes = try TenantPlanner.plan(current: nil, desired: definition, now: now)
        #expect(changes.contains(.setLedger(definition.ledger!)))
        let owners = changes.compactMap { if case .generateKey(let owner) = $0 { owner } else { nil } }
        #expect(owners == ["HQ", "NORTH", "TY-FW", "CARRIER"].map { KeyOwner.org(code($0)) } + [.orderer])
    }

    @Test func onlyOwnersWithoutAKeyGetOneAndUnchangedSettingsAreNotStoredAgain() throws {
        let definition = try TenantDefinition.validate(LedgerSectionTests.file(ledger: Self.entry))
        let current = stored(definition, ledger: definition.ledger, keyOwners: [.org(code("HQ")), .org(code("TY-FW")), .orderer])
        let changes = try TenantPlanner.plan(current: current, desired: definition, now: now)
        #expect(changes == [.generateKey(.org(code("NORTH"))), .generateKey(.org(code("CARRIER")))])
    }

    @Test func changedSettingsAreANewVersionAndAFileWithoutTheSectionLeavesThemAndTheKeys() throws {
        let definition = try TenantDefinition.validate(LedgerSectionTests.file(ledger: Self.entry))
        let owners: Set<KeyOwner> = Set(["HQ", "NORTH", "TY-FW", "CARRIER"].map { KeyOwner.org(code($0)) } + [.orderer])
        let older = LedgerDefinition(hq: code("HQ"), clientHeld: [], policies: [:])
        #expect(
            try TenantPlanner.plan(current: stored(definition, ledger: older, keyOwners: owners), desired: definition, now: now)
                == [.setLedger(definition.ledger!)])
        let without = try TenantDefinition.validate(LedgerSectionTests.file(ledger: nil))
        #expect(
            try TenantPlanner.plan(current: stored(without, ledger: older, keyOwners: owners), desired: without, now: now).isEmpty
        )
    }

    @Test func withoutTheSectionNoKeysArePlanned() throws {
        let changes = try TenantPlanner.plan(
            current: nil, desired: try TenantDefinition.validate(LedgerSectionTests.file(ledger: nil)), now: now)
        #expect(!changes.contains { if case .generateKey = $0 { true } else { false } })
        #expect(!changes.contains { if case .setLedger = $0 { true } else { false } })
    }
}
