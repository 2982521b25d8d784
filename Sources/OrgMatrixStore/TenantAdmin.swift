import Foundation
import Logging
import OrgMatrixCore
import PostgresNIO

/// `orgmatrix tenant apply`: converges a tenant's orgs, relations, principals, pricing and ledger
/// settings to its file, and generates the custodial keys its ledger section calls for, as the
/// owner role, in one transaction.
public struct TenantAdmin: Sendable {
    public let client: PostgresClient
    public let logger: Logger
    /// Wraps the tenant data key that seals custodial keys; needed only when an apply generates keys.
    public let masterKey: MasterKey?

    public init(client: PostgresClient, logger: Logger, masterKey: MasterKey? = nil) {
        self.client = client
        self.logger = logger
        self.masterKey = masterKey
    }

    public struct Outcome: Sendable {
        public let tenantID: TenantID
        public let changes: [TenantChange]
        /// Keys of the principals created now, by principal name; shown once, stored only hashed.
        public let keys: [String: String]
        /// Whether the changes were carried out (false for a dry run, or a plan only shown).
        public let applied: Bool

        public init(tenantID: TenantID, changes: [TenantChange], keys: [String: String], applied: Bool) {
            (self.tenantID, self.changes, self.keys, self.applied) = (tenantID, changes, keys, applied)
        }
    }

    /// Plans (and unless `dryRun`, applies) the changes; a second apply of the same file changes nothing.
    /// A plan that cannot be applied throws `MatrixInvalid` (not wrapped in a transaction error).
    public func apply(_ definition: TenantDefinition, dryRun: Bool, now: Date = Date()) async throws -> Outcome {
        do {
            return try await transaction(definition, dryRun: dryRun, now: now)
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error
        }
    }

    private func transaction(_ definition: TenantDefinition, dryRun: Bool, now: Date) async throws -> Outcome {
        try await client.withTransaction(logger: logger) { connection in
            // One apply per tenant at a time, so two runs cannot both create the same rows.
            try await connection.query(
                "SELECT pg_advisory_xact_lock(hashtext('orgmatrix.tenant-apply'), hashtext(\(definition.code.rawValue)))",
                logger: logger)
            let existing = try await snapshot(code: definition.code, connection: connection)
            let changes = try TenantPlanner.plan(current: existing?.1, desired: definition, now: now)
            let tenantID = existing?.0 ?? TenantID(UUID())
            guard !dryRun, !changes.isEmpty else { return Outcome(tenantID: tenantID, changes: changes, keys: [:], applied: !dryRun) }
            if masterKey == nil, changes.contains(where: \.generatesKey) {
                throw KeyError(
                    .masterKeyNotConfigured,
                    "applying \(definition.code) generates custodial keys, which are sealed under the master key: set \(Settings.masterKeyEnvironmentKey)")
            }
            var keys: [String: String] = [:]
            var published: [PricingRules] = []
            var orgIDs = try await orgIDs(tenantID, connection: connection)
            for change in changes {
                switch change {
                case .createTenant(let name):
                    try await connection.query(
                        "INSERT INTO tenants (tenant_id, code, name) VALUES (\(tenantID.rawValue), \(definition.code.rawValue), \(name))",
                        logger: logger)
                case .renameTenant(let name):
                    try await connection.query("UPDATE tenants SET name = \(name) WHERE tenant_id = \(tenantID.rawValue)", logger: logger)
                case .createOrg(let org):
                    try await MatrixWrites.insertOrg(org, tenantID: tenantID, connection: connection, logger: logger)
                    orgIDs[org.code] = try await connection.query(
                        "SELECT org_id FROM orgs WHERE tenant_id = \(tenantID.rawValue) AND code = \(org.code.rawValue)", logger: logger
                    ).collect().first!.decode(Int64.self)
                case .updateOrg(let org):
                    try await connection.query(
                        """
                        UPDATE orgs SET name = \(org.name), can_settle = \(org.roles.contains(.settlement)),
                            can_fulfil = \(org.roles.contains(.fulfilment)), can_supervise = \(org.roles.contains(.supervisory)),
                            province_code = \(org.location?.provinceCode), city_code = \(org.location?.cityCode),
                            county_code = \(org.location?.countyCode),
                            latitude_microdegrees = \(org.location.map { Int32($0.latitudeMicrodegrees) }),
                            longitude_microdegrees = \(org.location.map { Int32($0.longitudeMicrodegrees) })
                        WHERE tenant_id = \(tenantID.rawValue) AND code = \(org.code.rawValue)
                        """, logger: logger)
                case .endRelation(let id, _, let at):
                    try await connection.query(
                        "UPDATE relations SET valid_to = \(at) WHERE tenant_id = \(tenantID.rawValue) AND relation_id = \(id)",
                        logger: logger)
                case .createRelation(let relation):
                    _ = try await MatrixWrites.insertRelation(
                        relation, fromID: orgIDs[relation.from]!, toID: orgIDs[relation.to]!, carrierID: relation.carrier.map { orgIDs[$0]! },
                        tenantID: tenantID, connection: connection, logger: logger)
                case .revokePrincipal(let id, _):
                    try await MatrixWrites.revokePrincipal(id: id, at: now, tenantID: tenantID, connection: connection, logger: logger)
                case .createPricing(let version):
                    published.append(version.rules)
                    let body = String(decoding: try JSONEncoder().encode(version.entry), as: UTF8.self)
                    try await connection.query(
                        """
                        INSERT INTO pricing_rules (tenant_id, version, effective_from, body)
                        VALUES (\(tenantID.rawValue), \(version.rules.version),
                            timestamptz 'epoch' + \(version.rules.effectiveFrom.microsecondsSinceEpoch) * interval '1 microsecond', \(body)::jsonb)
                        """, logger: logger)
                case .createPrincipal(let spec):
                    let key = try await MatrixWrites.createPrincipal(
                        spec, orgID: orgIDs[spec.org]!, tenantID: tenantID, tenantCode: definition.code, issuer: .owner,
                        connection: connection, logger: logger)
                    keys[spec.name.rawValue] = key.text
                case .setLedger(let ledger):
                    let policies = String(decoding: try Self.policiesEncoder().encode(ledger.policies), as: UTF8.self)
                    try await connection.query(
                        """
                        INSERT INTO ledger_settings (tenant_id, version, hq_org_id, hq_code, client_held, policies)
                        SELECT \(tenantID.rawValue), coalesce(max(version), 0) + 1, \(orgIDs[ledger.hq]!), \(ledger.hq.rawValue),
                            \(ledger.clientHeld.sorted().map(\.rawValue)), \(policies)::jsonb
                        FROM ledger_settings WHERE tenant_id = \(tenantID.rawValue)
                        """, logger: logger)
                case .generateKey(let owner):
                    _ = try await Keys(tenantID: tenantID, connection: connection, logger: logger)
                        .generateCustodialKey(for: owner, masterKey: masterKey!)
                }
            }
            // Each new rule version is published on the ledger (after the ledger settings above, so
            // it names the tenant's hq), so a verifier can recompute every price offline.
            let ledger = TenantLedger(tenantID: tenantID, connection: connection, logger: logger)
            for rules in published {
                try await ledger.record(.pricingRulesPublished, body: try PricingRulesPublished(rules: rules).ledgerBody)
            }
            // HQ endorses the key events and rule versions written above once its own key exists.
            if let masterKey {
                try await TenantLedger(tenantID: tenantID, connection: connection, logger: logger).endorseAsHQ(masterKey: masterKey)
            }
            let headquarters = orgIDs[definition.headquarters]!
            let summary = changes.map(\.description).joined(separator: "\n")
            try await connection.query(
                """
                INSERT INTO audit_events (tenant_id, actor, org_id, action, subject, detail)
                VALUES (\(tenantID.rawValue), 'cli:tenant-apply', \(headquarters), 'tenant.apply', \(definition.code.rawValue),
                    jsonb_build_object('changes', \(summary)))
                """, logger: logger)
            return Outcome(tenantID: tenantID, changes: changes, keys: keys, applied: true)
        }
    }

    /// The tenant's stored state, or nil when there is no such tenant.
    func snapshot(code: TenantCode, connection: PostgresConnection) async throws -> (TenantID, TenantSnapshot)? {
        let tenantRows = try await connection.query(
            "SELECT tenant_id, name FROM tenants WHERE code = \(code.rawValue)", logger: logger
        ).collect()
        guard let (tenantUUID, name) = try tenantRows.first?.decode((UUID, String).self) else { return nil }
        var orgs: [Org] = []
        var codes: [Int64: OrgCode] = [:]
        let orgRows = try await connection.query(
            """
            SELECT org_id, code, name, kind, can_settle, can_fulfil, can_supervise, province_code, city_code, county_code,
                latitude_microdegrees, longitude_microdegrees
            FROM orgs WHERE tenant_id = \(tenantUUID) ORDER BY org_id
            """, logger: logger)
        for try await row in orgRows {
            let record = try OrgRecord(row: row)
            codes[record.id.rawValue] = record.org.code
            orgs.append(record.org)
        }
        var relations: [TenantSnapshot.StoredRelation] = []
        let relationRows = try await connection.query(
            """
            SELECT relation_id, kind, from_code, to_code, purpose, distance_km, lead_time_hours, markup_basis_points, valid_from, valid_to,
                carrier_code
            FROM relations WHERE tenant_id = \(tenantUUID)
            """, logger: logger)
        for try await row in relationRows {
            let record = try RelationRecord(row: row)
            relations.append(.init(id: record.id, relation: record.relation))
        }
        var principals: [TenantSnapshot.StoredPrincipal] = []
        let principalRows = try await connection.query(
            "SELECT principal_id, name, org_id, role FROM principals WHERE tenant_id = \(tenantUUID) AND revoked_at IS NULL",
            logger: logger)
        for try await (id, name, orgID, role) in principalRows.decode((Int64, String, Int64, String).self) {
            principals.append(.init(
                id: id, spec: PrincipalSpec(name: try PrincipalName(name), org: codes[orgID]!, role: PrincipalRole(rawValue: role)!)))
        }
        var pricing: [TenantFile.PricingEntry] = []
        let pricingRows = try await connection.query(
            "SELECT body::text FROM pricing_rules WHERE tenant_id = \(tenantUUID) ORDER BY effective_from", logger: logger)
        for try await body in pricingRows.decode(String.self) {
            pricing.append(try JSONDecoder().decode(TenantFile.PricingEntry.self, from: Data(body.utf8)))
        }
        var ledger: LedgerDefinition?
        let ledgerRows = try await connection.query(
            """
            SELECT hq_code, client_held, policies::text FROM ledger_settings WHERE tenant_id = \(tenantUUID) ORDER BY version DESC LIMIT 1
            """, logger: logger)
        for try await (hq, clientHeld, policies) in ledgerRows.decode((String, [String], String).self) {
            ledger = LedgerDefinition(
                hq: try OrgCode(hq), clientHeld: Set(try clientHeld.map { try OrgCode($0) }),
                policies: try JSONDecoder().decode([String: String].self, from: Data(policies.utf8)))
        }
        var keyOwners: Set<KeyOwner> = []
        let ownerRows = try await connection.query("SELECT DISTINCT owner FROM org_keys WHERE tenant_id = \(tenantUUID)", logger: logger)
        for try await owner in ownerRows.decode(String.self) { keyOwners.insert(try KeyOwner(name: owner)) }
        return (
            TenantID(tenantUUID),
            TenantSnapshot(
                name: name, orgs: orgs, relations: relations, principals: principals, pricing: pricing, ledger: ledger, keyOwners: keyOwners)
        )
    }

    /// Policies are stored with their keys sorted, so equal settings are equal text.
    private static func policiesEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    private func orgIDs(_ tenantID: TenantID, connection: PostgresConnection) async throws -> [OrgCode: Int64] {
        var ids: [OrgCode: Int64] = [:]
        let rows = try await connection.query("SELECT code, org_id FROM orgs WHERE tenant_id = \(tenantID.rawValue)", logger: logger)
        for try await (code, id) in rows.decode((String, Int64).self) { ids[try OrgCode(code)] = id }
        return ids
    }
}

extension TenantChange {
    /// Whether carrying the change out needs the master key.
    public var generatesKey: Bool {
        if case .generateKey = self { true } else { false }
    }
}
