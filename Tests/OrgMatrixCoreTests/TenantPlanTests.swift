import Foundation
import OrgMatrixCore
import Testing

@Suite struct TenantDefinitionTests {
    static func file(
        orgs: [TenantFile.OrgEntry]? = nil, relations: [TenantFile.RelationEntry]? = nil, principals: [TenantFile.PrincipalEntry]? = nil
    ) -> TenantFile {
        let location = TenantFile.LocationEntry(
            province: "130000", city: "130100", county: "130102", latitude: "38.042300", longitude: "114.514300")
        return TenantFile(
            tenant: .init(code: "dairy", name: "乳业"),
            orgs: orgs ?? [
                .init(code: "HQ", name: "总部", kind: "virtual", roles: ["settlement", "supervisory"], location: nil),
                .init(code: "NORTH", name: "华北销售大区", kind: "virtual", roles: ["settlement"], location: nil),
                .init(code: "SJZ-FW", name: "石家庄前置仓", kind: "physical", roles: ["fulfilment"], location: location),
                .init(code: "TY-FW", name: "太原前置仓", kind: "physical", roles: ["fulfilment"], location: location),
            ],
            relations: relations ?? [
                .init(kind: "reports_to", from: "NORTH", to: "HQ", purpose: nil, distanceKm: nil, leadTimeHours: nil, validFrom: nil),
                .init(kind: "reports_to", from: "SJZ-FW", to: "HQ", purpose: nil, distanceKm: nil, leadTimeHours: nil, validFrom: nil),
                .init(kind: "reports_to", from: "TY-FW", to: "HQ", purpose: nil, distanceKm: nil, leadTimeHours: nil, validFrom: nil),
                .init(kind: "settles_for", from: "NORTH", to: "SJZ-FW", purpose: "sales", distanceKm: nil, leadTimeHours: nil, validFrom: nil),
                .init(kind: "transfers_with", from: "SJZ-FW", to: "TY-FW", purpose: nil, distanceKm: 220, leadTimeHours: 5, validFrom: nil),
            ],
            principals: principals ?? [
                .init(name: "hq-admin", org: "HQ", role: "hq_admin"), .init(name: "sjz-operator", org: "SJZ-FW", role: "org_operator"),
            ])
    }

    @Test func aSoundFileValidates() throws {
        let definition = try TenantDefinition.validate(Self.file())
        #expect(definition.headquarters.rawValue == "HQ")
        #expect(definition.orgs.count == 4)
        #expect(definition.orgs[2].location?.latitudeMicrodegrees == 38_042_300)
    }

    @Test func everyProblemIsReportedWithItsField() {
        var orgs = Self.file().orgs
        orgs.append(.init(code: "bad code", name: "x", kind: "virtual", roles: ["settlement"], location: nil))
        orgs.append(.init(code: "FLOAT", name: "x", kind: "physical", roles: ["fulfilment"], location: .init(
            province: "130000", city: "140100", county: "130102", latitude: "38.0423001", longitude: "114.5")))
        let principals: [TenantFile.PrincipalEntry] = [.init(name: "hq-admin", org: "HQ", role: "superuser")]
        let error = #expect(throws: MatrixInvalid.self) { try TenantDefinition.validate(Self.file(orgs: orgs, principals: principals)) }
        let fields = Set(error?.problems.map(\.field) ?? [])
        #expect(fields.isSuperset(of: ["orgs[4].code", "orgs[5].location.latitude", "orgs[5].location.city", "principals[0].role"]))
    }

    @Test func rolesMustFitTheirOrgs() {
        let principals: [TenantFile.PrincipalEntry] = [
            .init(name: "hq-admin", org: "SJZ-FW", role: "hq_admin"), .init(name: "watcher", org: "NORTH", role: "supervisor"),
        ]
        let error = #expect(throws: MatrixInvalid.self) { try TenantDefinition.validate(Self.file(principals: principals)) }
        #expect(Set(error?.problems.map(\.field) ?? []) == ["principals[0].org", "principals[1].org"])
    }

    @Test func exactlyOneOrgReportsToNobody() {
        let relations = Array(Self.file().relations.dropFirst())
        let error = #expect(throws: MatrixInvalid.self) { try TenantDefinition.validate(Self.file(relations: relations)) }
        #expect(error?.problems.first?.reason.contains("exactly one org") == true)
    }

    @Test(arguments: [("39.904200", 39_904_200), ("-0.5", -500_000), ("116", 116_000_000), ("0.000001", 1)])
    func degreesBecomeIntegerMicrodegrees(text: String, expected: Int32) throws {
        #expect(try Location.microdegrees(text, limit: 180, field: "x") == expected)
    }

    @Test(arguments: ["39.9042001", "1e3", "", "181", "39,9", " 39.9"])
    func malformedDegreesAreRefused(text: String) {
        #expect(throws: MatrixProblem.self) { try Location.microdegrees(text, limit: 180, field: "x") }
    }
}

@Suite struct TenantPlannerTests {
    let now = TenantDefinition.defaultValidFrom.addingTimeInterval(200 * 86_400)

    func stored(_ definition: TenantDefinition) -> TenantSnapshot {
        TenantSnapshot(
            name: definition.name, orgs: definition.orgs,
            relations: definition.relations.enumerated().map { .init(id: Int64($0.offset + 1), relation: $0.element) },
            principals: definition.principals.enumerated().map { .init(id: Int64($0.offset + 1), spec: $0.element) })
    }

    @Test func aNewTenantIsCreatedWhole() throws {
        let definition = try TenantDefinition.validate(TenantDefinitionTests.file())
        let changes = try TenantPlanner.plan(current: nil, desired: definition, now: now)
        #expect(changes.count == 1 + 4 + 5 + 2)
        #expect(changes.first == .createTenant(name: "乳业"))
    }

    @Test func applyingTheSameFileAgainChangesNothing() throws {
        let definition = try TenantDefinition.validate(TenantDefinitionTests.file())
        #expect(try TenantPlanner.plan(current: stored(definition), desired: definition, now: now).isEmpty)
    }

    @Test func aChangedLaneIsEndDatedAndReplacedFromNow() throws {
        let before = try TenantDefinition.validate(TenantDefinitionTests.file())
        var relations = TenantDefinitionTests.file().relations
        relations[4] = .init(kind: "transfers_with", from: "SJZ-FW", to: "TY-FW", purpose: nil, distanceKm: 231, leadTimeHours: 5, validFrom: nil)
        relations.remove(at: 3)
        let after = try TenantDefinition.validate(TenantDefinitionTests.file(relations: relations))
        let changes = try TenantPlanner.plan(current: stored(before), desired: after, now: now)
        #expect(changes.count == 3)
        #expect(changes.contains { if case .endRelation(4, _, now) = $0 { true } else { false } })
        #expect(changes.contains { if case .endRelation(5, _, now) = $0 { true } else { false } })
        #expect(changes.contains { if case .createRelation(let relation) = $0 { relation.distanceKm == 231 && relation.validFrom == now } else { false } })
    }

    @Test func principalsAreRevokedNotDeletedAndRecreatedWhenTheirRoleChanges() throws {
        let before = try TenantDefinition.validate(TenantDefinitionTests.file())
        let after = try TenantDefinition.validate(TenantDefinitionTests.file(principals: [
            .init(name: "hq-admin", org: "HQ", role: "auditor"),
        ]))
        let changes = try TenantPlanner.plan(current: stored(before), desired: after, now: now)
        #expect(changes.filter { if case .revokePrincipal = $0 { true } else { false } }.count == 2)
        #expect(changes.contains { if case .createPrincipal(let spec) = $0 { spec.role == .auditor } else { false } })
    }

    @Test func orgsCannotDisappearOrChangeKind() throws {
        let before = try TenantDefinition.validate(TenantDefinitionTests.file())
        var orgs = TenantDefinitionTests.file().orgs
        orgs.removeLast()
        var relations = TenantDefinitionTests.file().relations
        relations.removeLast()
        relations.remove(at: 2)
        let after = try TenantDefinition.validate(TenantDefinitionTests.file(orgs: orgs, relations: relations))
        let error = #expect(throws: MatrixInvalid.self) { try TenantPlanner.plan(current: stored(before), desired: after, now: now) }
        #expect(error?.problems.first?.reason.contains("never deleted") == true)
    }
}
