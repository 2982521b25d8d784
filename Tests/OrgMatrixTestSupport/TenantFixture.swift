import Foundation
import Logging
import OrgMatrixCore
import OrgMatrixStore
import PostgresNIO

/// The one database every tenant-isolated test shares: the test cluster's `orgmatrix`
/// database, migrated once per test process. Tests isolate themselves by creating tenants of
/// their own in it, the way the product isolates tenants.
public enum SharedDatabase {
    private static let migrated = Task<TestEnvironment, any Error> {
        let environment = try TestEnvironment.load()
        try await withClient(environment.ownerURL) { client in
            _ = try await Migrator.load(directory: TestEnvironment.schemaDirectory).migrate(client: client, logger: testLogger)
        }
        return environment
    }

    public static func environment() async throws -> TestEnvironment { try await migrated.value }
}

/// A small tenant with nested orgs, applied through `TenantAdmin` with a unique code:
///
///     HQ (virtual: settlement, supervisory)
///     ├── NORTH (virtual: settlement) — settles_for WH-A
///     ├── QA (virtual: supervisory)   — supervises WH-C
///     ├── WH-A (physical) ── WH-B (physical)
///     └── WH-C (physical)
///     lanes: WH-A → WH-B, WH-B → WH-C
public struct TenantFixture: Sendable {
    public let code: TenantCode
    public let tenantID: TenantID
    /// Principal name → API key.
    public let keys: [String: String]

    /// Who each principal is, and what it must see.
    public static let principals: [(name: String, org: String, role: String, visible: Set<String>)] = [
        ("hq-admin", "HQ", "hq_admin", ["HQ", "NORTH", "QA", "WH-A", "WH-B", "WH-C"]),
        ("hq-auditor", "HQ", "auditor", ["HQ", "NORTH", "QA", "WH-A", "WH-B", "WH-C"]),
        ("qa-supervisor", "QA", "supervisor", ["QA", "WH-C"]),
        ("north-operator", "NORTH", "org_operator", ["NORTH", "WH-A", "WH-B"]),
        ("a-operator", "WH-A", "org_operator", ["WH-A", "WH-B"]),
        ("b-operator", "WH-B", "org_operator", ["WH-B"]),
        ("b-integration", "WH-B", "integration", ["WH-B"]),
        ("c-operator", "WH-C", "org_operator", ["WH-C"]),
    ]
    public static let orgCodes = ["HQ", "NORTH", "QA", "WH-A", "WH-B", "WH-C"]

    public func key(_ name: String) -> String { keys[name]! }

    /// Creates a fresh tenant in the shared database; `label` goes into org names so that a
    /// response can be traced to its tenant. With a `ledger` section, its custodial keys are
    /// sealed under the shared test master key.
    public static func create(label: String = "fixture", ledger: TenantFile.LedgerEntry? = nil) async throws -> TenantFixture {
        let environment = try await SharedDatabase.environment()
        let code = try TenantCode("t-" + UUID().uuidString.prefix(12).lowercased())
        let definition = try TenantDefinition.validate(file(code: code, label: label, ledger: ledger))
        let masterKey = try TestMasterKey.shared().key
        let outcome = try await withClient(environment.ownerURL) { client in
            try await TenantAdmin(client: client, logger: testLogger, masterKey: masterKey).apply(definition, dryRun: false)
        }
        return TenantFixture(code: code, tenantID: outcome.tenantID, keys: outcome.keys)
    }

    public static func file(code: TenantCode, label: String, ledger: TenantFile.LedgerEntry? = nil) -> TenantFile {
        let location = TenantFile.LocationEntry(
            province: "130000", city: "130100", county: "130102", latitude: "38.042300", longitude: "114.514300")
        func org(_ code: String, _ kind: String, _ roles: [String]) -> TenantFile.OrgEntry {
            .init(code: code, name: "\(label) \(code)", kind: kind, roles: roles, location: kind == "physical" ? location : nil)
        }
        func relation(_ kind: String, _ from: String, _ to: String) -> TenantFile.RelationEntry {
            .init(
                kind: kind, from: from, to: to, purpose: kind == "settles_for" ? "sales" : nil,
                distanceKm: kind == "transfers_with" ? 120 : nil, leadTimeHours: kind == "transfers_with" ? 3 : nil,
                markupBasisPoints: kind == "transfers_with" ? 250 : nil, validFrom: nil)
        }
        return TenantFile(
            tenant: .init(code: code.rawValue, name: "\(label) group"),
            orgs: [
                org("HQ", "virtual", ["settlement", "supervisory"]), org("NORTH", "virtual", ["settlement"]),
                org("QA", "virtual", ["supervisory"]), org("WH-A", "physical", ["fulfilment"]), org("WH-B", "physical", ["fulfilment"]),
                org("WH-C", "physical", ["fulfilment"]),
            ],
            relations: [
                relation("reports_to", "NORTH", "HQ"), relation("reports_to", "QA", "HQ"), relation("reports_to", "WH-A", "HQ"),
                relation("reports_to", "WH-B", "WH-A"), relation("reports_to", "WH-C", "HQ"), relation("settles_for", "NORTH", "WH-A"),
                relation("supervises", "QA", "WH-C"), relation("transfers_with", "WH-A", "WH-B"), relation("transfers_with", "WH-B", "WH-C"),
            ]
                // The ledger's dispatch policy names the sender's settlement org: WH-B's is HQ.
                + (ledger == nil ? [] : [relation("settles_for", "HQ", "WH-B")]),
            principals: principals.map { .init(name: $0.name, org: $0.org, role: $0.role) },
            pricing: [pricing], ledger: ledger)
    }

    /// A ledger section for the fixture: WH-B holds its own key, every other org's is custodial.
    public static let ledger = TenantFile.LedgerEntry(
        hq: "HQ", clientHeld: ["WH-B"],
        policies: ["transfer.dispatched": "AND(sender, sender_settlement)", "transfer.received": "AND(receiver, sender)"])

    /// Pricing rules "v1": tiers 60/45/35 fen per t·km at 300/1000 km; fresh milk 30 bp insurance,
    /// 2,000 + 3,000 ppm loss (shelf life ≤ 15 days); express (≤ 12 h) premium 1,500 bp of freight.
    public static let pricing = TenantFile.PricingEntry(
        version: "v1", effectiveFrom: "2026-01-01T00:00:00Z",
        freightTiers: [.init(upToKm: 300, fenPerTonneKm: 60), .init(upToKm: 1000, fenPerTonneKm: 45), .init(upToKm: nil, fenPerTonneKm: 35)],
        categories: ["fresh_milk": .init(insuranceBasisPoints: 30, lossPartsPerMillion: 2000, shortShelfLifeExtraLossPartsPerMillion: 3000)],
        shortShelfLifeDays: 15, expressLeadTimeHoursMax: 12, standardPremiumBasisPoints: 0, expressPremiumBasisPoints: 1500,
        errorTolerancePartsPerMillion: 8000)

    /// Row counts of every tenant table for this tenant, read as the owner: compared before and
    /// after an attack to prove it changed nothing.
    public func rowCounts() async throws -> [String: Int] {
        let environment = try await SharedDatabase.environment()
        return try await withConnection(environment.ownerURL) { connection in
            var counts: [String: Int] = [:]
            for table in [
                "tenants", "orgs", "relations", "principals", "api_keys", "audit_events", "items", "stock_balances", "stock_moves",
                "purchase_receipts", "sales_issues", "stock_counts", "transfers", "transfer_lines", "idempotency_keys",
                "tenant_data_keys", "org_keys", "custodial_private_keys", "org_key_revocations", "ledger_settings",
            ] {
                counts[table] = try await connection.query(
                    PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(table) WHERE tenant_id = $1", binds: binds(tenantID.rawValue)),
                    logger: testLogger
                ).collect().first!.decode(Int.self)
            }
            counts["relations_ended"] = try await connection.query(
                "SELECT count(*)::int FROM relations WHERE tenant_id = \(tenantID.rawValue) AND valid_to IS NOT NULL", logger: testLogger
            ).collect().first!.decode(Int.self)
            counts["principals_revoked"] = try await connection.query(
                "SELECT count(*)::int FROM principals WHERE tenant_id = \(tenantID.rawValue) AND revoked_at IS NOT NULL",
                logger: testLogger
            ).collect().first!.decode(Int.self)
            return counts
        }
    }
}

private func binds(_ value: UUID) -> PostgresBindings {
    var bindings = PostgresBindings()
    bindings.append(value)
    return bindings
}

extension TenantFixture {
    /// What is wrong with this tenant's books, read as the owner; empty when they hold:
    /// every balance's on hand, value, in transit and in-transit value equal the sum of its
    /// moves of that bucket (a balance without moves is zero, moves without a balance sum to
    /// zero), and every transfer conserves its goods — dispatched by moves equal to its lines,
    /// on the road until received, received (for what arrived) plus lost equal to what was
    /// dispatched, nothing moved for one never dispatched — and each sender's in-transit equals
    /// its dispatched, not yet received lines.
    ///
    /// Called after every concurrency and fault test.
    public func booksDiscrepancies() async throws -> [String] {
        let environment = try await SharedDatabase.environment()
        return try await withConnection(environment.ownerURL) { connection in
            let rows = try await connection.query(
                """
                WITH moved AS (
                    SELECT org_id, item_id, coalesce(sum(quantity_scaled) FILTER (WHERE bucket = 'on_hand'), 0) AS on_hand,
                        coalesce(sum(value_fen) FILTER (WHERE bucket = 'on_hand'), 0) AS value,
                        coalesce(sum(quantity_scaled) FILTER (WHERE bucket = 'in_transit'), 0) AS in_transit,
                        coalesce(sum(value_fen) FILTER (WHERE bucket = 'in_transit'), 0) AS in_transit_value
                    FROM stock_moves WHERE tenant_id = \(tenantID.rawValue) GROUP BY org_id, item_id
                ), on_the_road AS (
                    SELECT l.from_org_id AS org_id, l.item_id, sum(l.quantity_scaled) AS in_transit
                    FROM transfer_lines l JOIN transfers t USING (tenant_id, transfer_id)
                    WHERE t.tenant_id = \(tenantID.rawValue) AND t.status = 'dispatched' GROUP BY l.from_org_id, l.item_id
                ), books AS (
                    SELECT coalesce(b.org_id, m.org_id, r.org_id) AS org_id, coalesce(b.item_id, m.item_id, r.item_id) AS item_id,
                        coalesce(b.on_hand_scaled, 0) AS on_hand, coalesce(m.on_hand, 0) AS moved_on_hand,
                        coalesce(b.value_fen, 0) AS value, coalesce(m.value, 0) AS moved_value,
                        coalesce(b.in_transit_scaled, 0) AS in_transit, coalesce(m.in_transit, 0) AS moved_in_transit,
                        coalesce(r.in_transit, 0) AS dispatched_not_received,
                        coalesce(b.in_transit_value_fen, 0) AS in_transit_value, coalesce(m.in_transit_value, 0) AS moved_in_transit_value
                    FROM (SELECT * FROM stock_balances WHERE tenant_id = \(tenantID.rawValue)) b
                    FULL JOIN moved m USING (org_id, item_id)
                    FULL JOIN on_the_road r ON r.org_id = coalesce(b.org_id, m.org_id) AND r.item_id = coalesce(b.item_id, m.item_id)
                ), lines AS (
                    SELECT t.transfer_id, t.status, l.line_no, l.from_org_id, l.to_org_id, l.item_id, l.quantity_scaled, l.lost_scaled,
                        coalesce((SELECT -sum(m.quantity_scaled) FROM stock_moves m
                                   WHERE m.tenant_id = t.tenant_id AND m.document_type = 'transfer_dispatch' AND m.document_id = t.transfer_id
                                     AND m.org_id = l.from_org_id AND m.item_id = l.item_id AND m.bucket = 'on_hand'), 0) AS dispatched,
                        coalesce((SELECT sum(m.quantity_scaled) FROM stock_moves m
                                   WHERE m.tenant_id = t.tenant_id AND m.document_id = t.transfer_id AND m.bucket = 'in_transit'
                                     AND m.document_type IN ('transfer_dispatch', 'transfer_receipt')
                                     AND m.org_id = l.from_org_id AND m.item_id = l.item_id), 0) AS on_the_road,
                        coalesce((SELECT sum(m.quantity_scaled) FROM stock_moves m
                                   WHERE m.tenant_id = t.tenant_id AND m.document_type = 'transfer_receipt' AND m.document_id = t.transfer_id
                                     AND m.org_id = l.to_org_id AND m.item_id = l.item_id AND m.bucket = 'on_hand'), 0) AS arrived
                    FROM transfers t JOIN transfer_lines l USING (tenant_id, transfer_id)
                    WHERE t.tenant_id = \(tenantID.rawValue)
                )
                SELECT format('balance org %s item %s: on hand %s, moves %s; value %s, moves %s; in transit %s, moves %s, dispatched not received %s; '
                    || 'in-transit value %s, moves %s',
                    org_id, item_id, on_hand, moved_on_hand, value, moved_value, in_transit, moved_in_transit, dispatched_not_received,
                    in_transit_value, moved_in_transit_value)
                FROM books
                WHERE on_hand <> moved_on_hand OR value <> moved_value OR in_transit <> moved_in_transit OR in_transit <> dispatched_not_received
                   OR in_transit_value <> moved_in_transit_value
                UNION ALL
                SELECT format('transfer %s (%s) line %s: %s sent, %s dispatched, %s on the road, %s arrived, %s lost',
                    transfer_id, status, line_no, quantity_scaled, dispatched, on_the_road, arrived, lost_scaled)
                FROM lines
                WHERE (status IN ('created', 'cancelled') AND (dispatched <> 0 OR on_the_road <> 0 OR arrived <> 0))
                   OR (status = 'dispatched' AND (dispatched <> quantity_scaled OR on_the_road <> dispatched OR arrived <> 0))
                   OR (status = 'received' AND (dispatched <> quantity_scaled OR on_the_road <> 0 OR arrived + lost_scaled <> dispatched))
                UNION ALL
                SELECT format('move %s of %s %s names no line of a transfer', m.move_id, m.document_type, m.document_id)
                FROM stock_moves m
                WHERE m.tenant_id = \(tenantID.rawValue) AND m.document_type IN ('transfer_dispatch', 'transfer_receipt')
                  AND NOT EXISTS (SELECT 1 FROM transfer_lines l WHERE l.tenant_id = m.tenant_id AND l.transfer_id = m.document_id
                                    AND l.item_id = m.item_id AND m.org_id IN (l.from_org_id, l.to_org_id))
                """, logger: testLogger)
            var found: [String] = []
            for try await line in rows.decode(String.self) { found.append(line) }
            return found
        }
    }
}
