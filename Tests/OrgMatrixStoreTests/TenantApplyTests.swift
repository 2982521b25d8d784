import Foundation
import NIOCore
import OrgMatrixCore
import OrgMatrixStore
import OrgMatrixTestSupport
import PostgresNIO
import Testing

@Suite struct TenantApplyTests {
    private func apply(_ definition: TenantDefinition, dryRun: Bool = false) async throws -> TenantAdmin.Outcome {
        let environment = try await SharedDatabase.environment()
        let masterKey = try TestMasterKey.shared().key
        return try await withClient(environment.ownerURL) { client in
            try await TenantAdmin(client: client, logger: testLogger, masterKey: masterKey).apply(definition, dryRun: dryRun)
        }
    }

    private func uniqueCode() throws -> TenantCode { try TenantCode("t-" + UUID().uuidString.prefix(12).lowercased()) }

    private func keyWorks(_ key: String) async throws -> Bool {
        let environment = try await SharedDatabase.environment()
        let apiKey = try #require(APIKey(key))
        return try await withConnection(environment.appURL) { connection in
            try await connection.query(
                "SELECT 1 FROM app_begin(\(apiKey.tenant.rawValue), \(ByteBuffer(bytes: apiKey.hash)))", logger: testLogger
            ).collect().count == 1
        }
    }

    @Test func aSecondApplyOfTheSameFileChangesNothing() async throws {
        let definition = try TenantDefinition.validate(TenantFixture.file(code: try uniqueCode(), label: "x"))
        let first = try await apply(definition)
        let expectedChanges = 1 + 6 + 9 + 8 + 1  // tenant, orgs, relations, principals, pricing
        #expect(first.changes.count == expectedChanges)
        #expect(first.keys.count == 8)
        for key in first.keys.values { #expect(try await keyWorks(key)) }
        let second = try await apply(definition)
        #expect(second.changes.isEmpty)
        #expect(second.keys.isEmpty)
        #expect(second.tenantID == first.tenantID)
    }

    @Test func aDryRunPlansButWritesNothing() async throws {
        let definition = try TenantDefinition.validate(TenantFixture.file(code: try uniqueCode(), label: "x"))
        let planned = try await apply(definition, dryRun: true)
        #expect(!planned.changes.isEmpty)
        #expect(planned.keys.isEmpty)
        let applied = try await apply(definition)
        #expect(applied.changes.count == planned.changes.count)
    }

    @Test func changesEndDateRelationsAndRevokePrincipalsKeepingHistory() async throws {
        let code = try uniqueCode()
        let original = TenantFixture.file(code: code, label: "x")
        let first = try await apply(try TenantDefinition.validate(original))
        var relations = original.relations
        let laneIndex = try #require(relations.firstIndex { $0.kind == "transfers_with" && $0.from == "WH-A" })
        relations[laneIndex] = .init(
            kind: "transfers_with", from: "WH-A", to: "WH-B", purpose: nil, distanceKm: 130, leadTimeHours: 3, markupBasisPoints: 250,
            validFrom: nil)
        let principals = original.principals.filter { $0.name != "c-operator" }
        let changed = TenantFile(tenant: original.tenant, orgs: original.orgs, relations: relations, principals: principals, pricing: original.pricing)
        let second = try await apply(try TenantDefinition.validate(changed))
        #expect(second.changes.count == 3)
        #expect(try await !keyWorks(first.keys["c-operator"]!))
        #expect(try await keyWorks(first.keys["b-operator"]!))

        let environment = try await SharedDatabase.environment()
        let lanes = try await withConnection(environment.ownerURL) { connection in
            try await connection.query(
                """
                SELECT distance_km, valid_to IS NULL FROM relations
                WHERE tenant_id = \(first.tenantID.rawValue) AND kind = 'transfers_with' AND from_code = 'WH-A' ORDER BY relation_id
                """, logger: testLogger
            ).collect().map { try $0.decode((Int32, Bool).self) }
        }
        let distances: [Int32] = lanes.map(\.0)
        let open: [Bool] = lanes.map(\.1)
        #expect(distances == [120, 130])
        #expect(open == [false, true])
        #expect(try await apply(try TenantDefinition.validate(changed)).changes.isEmpty)
    }

    /// The shipped tenant files apply, and the database's visible sets (the ones the policies
    /// enforce) equal the Core's for every org.
    @Test(arguments: ["dairy.yaml", "building-materials.yaml"])
    func shippedTenantsApplyAndTheDatabaseAgreesWithCoreOnEveryVisibleSet(file: String) async throws {
        let text = try String(
            contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("Tenants").appendingPathComponent(file), encoding: .utf8)
        let parsed = try TenantFile.decode(yaml: text)
        let code = try uniqueCode()
        let renamed = TenantFile(
            tenant: .init(code: code.rawValue, name: parsed.tenant.name), orgs: parsed.orgs, relations: parsed.relations,
            principals: parsed.principals, pricing: parsed.pricing, ledger: parsed.ledger)
        let definition = try TenantDefinition.validate(renamed)
        let outcome = try await apply(definition)
        #expect(outcome.keys.count == definition.principals.count)
        let environment = try await SharedDatabase.environment()
        let moment = Date()
        let sqlSets = try await withConnection(environment.ownerURL) { connection in
            try await connection.query(
                """
                SELECT o.code, (SELECT array_agg(v.code ORDER BY v.code) FROM orgs v
                                 WHERE v.tenant_id = o.tenant_id AND v.org_id = ANY (visible_set(o.tenant_id, o.org_id, \(moment))))
                FROM orgs o WHERE o.tenant_id = \(outcome.tenantID.rawValue)
                """, logger: testLogger
            ).collect().map { try $0.decode((String, [String]).self) }
        }
        #expect(sqlSets.count == definition.orgs.count)
        let matrix = definition.matrix
        for (org, codes) in sqlSets {
            let expected = matrix.visibleSet(of: try OrgCode(org), at: moment).map(\.rawValue).sorted()
            #expect(codes == expected, "\(org)")
        }
        let headquartersSet = sqlSets.first { $0.0 == definition.headquarters.rawValue }?.1 ?? []
        #expect(headquartersSet.count == definition.orgs.count)

        // Its ledger section: the settings once, a custodial key for every org not client-held and
        // for the orderer, every lane's carrier; and a second apply finds nothing to do.
        let ledger = try #require(definition.ledger)
        let stored = try await withConnection(environment.ownerURL) { connection in
            let tenant = outcome.tenantID.rawValue
            return (
                try await connection.query("SELECT count(*)::int FROM ledger_settings WHERE tenant_id = \(tenant)", logger: testLogger)
                    .collect().first!.decode(Int.self),
                try await connection.query("SELECT owner, custody FROM org_keys WHERE tenant_id = \(tenant)", logger: testLogger)
                    .collect().map { try $0.decode((String, String).self) },
                try await connection.query(
                    "SELECT count(*)::int FROM relations WHERE tenant_id = \(tenant) AND carrier_code IS NOT NULL", logger: testLogger
                ).collect().first!.decode(Int.self))
        }
        #expect(stored.0 == 1)
        let custodial = Set(definition.orgs.map(\.code.rawValue)).subtracting(ledger.clientHeld.map(\.rawValue)).union(["orderer"])
        #expect(Set(stored.1.map(\.0)) == custodial && stored.1.count == custodial.count && stored.1.allSatisfy { $0.1 == "custodial" })
        #expect(stored.2 == definition.relations.filter { $0.carrier != nil }.count && stored.2 > 0)
        #expect(try await apply(definition).changes.isEmpty)
    }

    /// A changed ledger section is a new version of the settings, in force from that apply; keys
    /// are generated once per owner, and an org taken off client_held gets its custodial key then.
    @Test func ledgerSettingsAreVersionedAndKeysGeneratedOncePerOwner() async throws {
        let code = try uniqueCode()
        let first = try await apply(try TenantDefinition.validate(TenantFixture.file(code: code, label: "x", ledger: TenantFixture.ledger)))
        // The tenant, 6 orgs, 10 relations (HQ settles WH-B's sales in a ledger fixture), 8 principals,
        // pricing, the settings, 5 org keys and the orderer's.
        let expectedChanges = 1 + 6 + 10 + 8 + 1 + 1 + 6
        #expect(first.changes.count == expectedChanges)
        #expect(try await apply(try TenantDefinition.validate(TenantFixture.file(code: code, label: "x", ledger: TenantFixture.ledger))).changes.isEmpty)

        let stricter = TenantFile.LedgerEntry(
            hq: "HQ", clientHeld: ["WH-B"], policies: (TenantFixture.ledger.policies ?? [:]).merging(["claim.settled": "hq"]) { $1 })
        let second = try await apply(try TenantDefinition.validate(TenantFixture.file(code: code, label: "x", ledger: stricter)))
        #expect(second.changes.count == 1 && second.changes.allSatisfy { if case .setLedger = $0 { true } else { false } })
        let allCustodial = TenantFile.LedgerEntry(hq: "HQ", clientHeld: [], policies: stricter.policies)
        let third = try await apply(try TenantDefinition.validate(TenantFixture.file(code: code, label: "x", ledger: allCustodial)))
        #expect(third.changes.filter { if case .generateKey = $0 { true } else { false } } == [.generateKey(.org(try OrgCode("WH-B")))])

        let environment = try await SharedDatabase.environment()
        let versions = try await withConnection(environment.ownerURL) { connection in
            try await connection.query(
                """
                SELECT version, effective_from, client_held, policies ? 'claim.settled' FROM ledger_settings
                WHERE tenant_id = \(first.tenantID.rawValue) ORDER BY version
                """, logger: testLogger
            ).collect().map { try $0.decode((Int32, Date, [String], Bool).self) }
        }
        #expect(versions.map(\.0) == [1, 2, 3])
        #expect(versions[0].1 < versions[1].1 && versions[1].1 < versions[2].1)
        #expect(versions.map(\.2) == [["WH-B"], ["WH-B"], []])
        #expect(versions.map(\.3) == [false, true, true])
    }

    /// Without the master key an apply that would generate keys is refused before it writes anything.
    @Test func anApplyThatGeneratesKeysNeedsTheMasterKey() async throws {
        let definition = try TenantDefinition.validate(TenantFixture.file(code: try uniqueCode(), label: "x", ledger: TenantFixture.ledger))
        let environment = try await SharedDatabase.environment()
        let error = await #expect(throws: KeyError.self) {
            try await withClient(environment.ownerURL) { client in
                try await TenantAdmin(client: client, logger: testLogger).apply(definition, dryRun: false)
            }
        }
        #expect(error?.code == .masterKeyNotConfigured && error?.detail.contains("ORGMATRIX_MASTER_KEY_FILE") == true)
        let plan = try await withClient(environment.ownerURL) { client in
            try await TenantAdmin(client: client, logger: testLogger).apply(definition, dryRun: true)
        }
        #expect(plan.changes.first == .createTenant(name: definition.name))
    }

    @Test func pricingVersionsAreStoredOnceAndNeverChange() async throws {
        let original = TenantFixture.file(code: try uniqueCode(), label: "x")
        _ = try await apply(try TenantDefinition.validate(original))
        let entry = TenantFixture.pricing
        let edited = TenantFile.PricingEntry(
            version: entry.version, effectiveFrom: entry.effectiveFrom, freightTiers: [.init(upToKm: nil, fenPerTonneKm: 99)],
            categories: entry.categories, shortShelfLifeDays: 15, expressLeadTimeHoursMax: 12, standardPremiumBasisPoints: 0,
            expressPremiumBasisPoints: 1500, errorTolerancePartsPerMillion: 8000)
        let changed = TenantFile(
            tenant: original.tenant, orgs: original.orgs, relations: original.relations, principals: original.principals, pricing: [edited])
        let error = await #expect(throws: MatrixInvalid.self) { try await apply(try TenantDefinition.validate(changed)) }
        #expect(error?.problems.first?.reason.contains("never change") == true)
        let next = TenantFile.PricingEntry(
            version: "v2", effectiveFrom: "2026-07-01T00:00:00Z", freightTiers: [.init(upToKm: nil, fenPerTonneKm: 99)],
            categories: entry.categories, shortShelfLifeDays: 15, expressLeadTimeHoursMax: 12, standardPremiumBasisPoints: 0,
            expressPremiumBasisPoints: 1500, errorTolerancePartsPerMillion: nil)
        let added = TenantFile(
            tenant: original.tenant, orgs: original.orgs, relations: original.relations, principals: original.principals, pricing: [entry, next])
        #expect(try await apply(try TenantDefinition.validate(added)).changes.count == 1)
        #expect(try await apply(try TenantDefinition.validate(added)).changes.isEmpty)
    }

    /// The YAML decoder names a ledger setting of the wrong type by its path, and sees every key
    /// the section has, so a misspelt one is reported instead of dropped.
    @Test func aLedgerSectionIsReadFromYAMLWithItsMistakesNamed() throws {
        let base = """
            tenant: {code: "dairy", name: "x"}
            orgs:
              - {code: "HQ", name: "hq", kind: "virtual", roles: ["settlement"]}
            relations: []
            principals: []

            """
        let wrongType = #expect(throws: MatrixInvalid.self) {
            try TenantFile.decode(yaml: base + "ledger:\n  policies:\n    transfer.received: [\"receiver\"]\n")
        }
        #expect(wrongType?.problems.first?.field.hasPrefix("ledger.policies") == true, "\(String(describing: wrongType))")
        let misspelt = try TenantFile.decode(yaml: base + "ledger:\n  hq: \"HQ\"\n  clientheld: [\"HQ\"]\nledgr: {}\n")
        let error = #expect(throws: MatrixInvalid.self) { try TenantDefinition.validate(misspelt) }
        #expect(Set(error?.problems.map(\.field) ?? []) == ["ledgr", "ledger.clientheld"])
        let sound = try TenantDefinition.validate(
            try TenantFile.decode(yaml: base + "ledger:\n  client_held: []\n  policies:\n    transfer.trued_up: \"hq\"\n"))
        #expect(sound.ledger?.policies == ["transfer.trued_up": "hq"] && sound.ledger?.hq.rawValue == "HQ")
    }

    @Test func anInvalidFileNamesTheFieldAndAppliesNothing() throws {
        let yaml = """
            tenant: {code: "Bad Code", name: "x"}
            orgs:
              - {code: "HQ", name: "hq", kind: "virtual", roles: ["settlement"]}
            relations: []
            principals:
              - {name: "admin", org: "NOWHERE", role: "hq_admin"}
            """
        let error = #expect(throws: MatrixInvalid.self) { try TenantDefinition.validate(try TenantFile.decode(yaml: yaml)) }
        #expect(error?.problems.map(\.field).contains("tenant.code") == true)
        let missing = #expect(throws: MatrixInvalid.self) { try TenantFile.decode(yaml: "tenant: {code: dairy}\norgs: []") }
        #expect(missing?.problems.first?.field == "tenant.name")
    }
}
