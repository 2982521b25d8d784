import Foundation
import NIOCore
import OrgMatrixCore
import OrgMatrixStore
import OrgMatrixTestSupport
import PostgresNIO
import Testing

/// Who wrote a row, for which org and when, is the database's fact (Schema/0008_row_authorship.sql):
/// raw SQL as the application role, with a principal's own valid context, tries to write rows in
/// another principal's name, with its own timestamps, or booked to an org the matrix does not
/// name, and to reuse a signed context in a later transaction. Each attempt is refused (or its
/// value replaced by the context's), and the honest write next to it still works.
@Suite struct AuthorshipSQLTests {
    private func hash(_ key: String) -> ByteBuffer { ByteBuffer(bytes: APIKey(key)!.hash) }

    /// Ids the attacks name, read as the owner.
    private struct Ids {
        let principals: [String: Int64]
        let orgs: [String: Int64]
        let itemID: Int64
    }

    /// Looks up the fixture's principals and orgs and adds one item (as the owner).
    private func ids(_ fixture: TenantFixture) async throws -> Ids {
        let environment = try await SharedDatabase.environment()
        do {
            return try await readIds(fixture, environment.ownerURL)
        } catch let error as PSQLError {
            throw TestSetupError("reading the fixture's ids: " + String(reflecting: error))
        }
    }

    private func readIds(_ fixture: TenantFixture, _ ownerURL: DatabaseURL) async throws -> Ids {
        try await withConnection(ownerURL) { connection in
            var principals: [String: Int64] = [:]
            for try await (name, id) in try await connection.query(
                "SELECT name, principal_id FROM principals WHERE tenant_id = \(fixture.tenantID.rawValue)", logger: testLogger
            ).decode((String, Int64).self) { principals[name] = id }
            var orgs: [String: Int64] = [:]
            for try await (code, id) in try await connection.query(
                "SELECT code, org_id FROM orgs WHERE tenant_id = \(fixture.tenantID.rawValue)", logger: testLogger
            ).decode((String, Int64).self) { orgs[code] = id }
            let itemID = try await connection.query(
                """
                INSERT INTO items (tenant_id, code, name, base_unit, quantity_scale, weight_grams_per_unit, category, shelf_life_days,
                    tax_code, tax_rate_basis_points)
                VALUES (\(fixture.tenantID.rawValue), 'MILK', 'milk', 'kg', 1000, 1000, 'fresh_milk', 7, '1030201010000000000', 900)
                RETURNING item_id
                """, logger: testLogger
            ).collect().first!.decode(Int64.self)
            return Ids(principals: principals, orgs: orgs, itemID: itemID)
        }
    }

    /// Runs `statements` in one transaction that starts with `principal`'s own app_begin and
    /// commits; true when the database refused any of them (everything is then rolled back).
    private func refused(_ fixture: TenantFixture, _ principal: String, _ statements: [PostgresQuery]) async throws -> Bool {
        let environment = try await SharedDatabase.environment()
        return try await withConnection(environment.appURL) { connection in
            let begun: [PostgresRow]
            do {
                try await connection.query("BEGIN", logger: testLogger)
                begun = try await connection.query(
                    "SELECT principal_id FROM app_begin(\(fixture.code.rawValue), \(hash(fixture.key(principal))))",
                    logger: testLogger
                ).collect()
            } catch let error as PSQLError {
                throw TestSetupError("\(principal)'s app_begin: " + String(reflecting: error))
            }
            #expect(begun.count == 1, "\(principal) has a context")
            do {
                for statement in statements { _ = try await connection.query(statement, logger: testLogger).collect() }
                try await connection.query("COMMIT", logger: testLogger)
                return false
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: testLogger)
                return true
            }
        }
    }

    /// The first row of `query`, read as the owner.
    private func ownerRow(_ query: PostgresQuery) async throws -> PostgresRow? {
        let environment = try await SharedDatabase.environment()
        return try await withConnection(environment.ownerURL) { connection in
            try await connection.query(query, logger: testLogger).collect().first
        }
    }

    // MARK: (a) idempotency records

    @Test func idempotencyRecordsAreKeptOnlyUnderTheWritingPrincipal() async throws {
        let fixture = try await TenantFixture.create(label: "idem")
        let ids = try await ids(fixture)
        let tenant = fixture.tenantID.rawValue
        let orgB = ids.orgs["WH-B"]!
        // b-integration posts at WH-B too: b-operator must not store a response it would replay.
        for victim in ["b-integration", "hq-admin"] {
            let forged = try await refused(
                fixture, "b-operator",
                [
                    """
                    INSERT INTO idempotency_keys (tenant_id, principal_id, idempotency_key, org_id, request_hash, response_status, response_body)
                    VALUES (\(tenant), \(ids.principals[victim]!), 'planted', \(orgB), 'h', 201, '{"id":1}')
                    """
                ])
            #expect(forged, "a record under \(victim)")
        }
        let backdated = try await refused(
            fixture, "b-operator",
            [
                """
                INSERT INTO idempotency_keys (tenant_id, principal_id, idempotency_key, org_id, request_hash, response_status, response_body,
                    created_at)
                VALUES (\(tenant), \(ids.principals["b-operator"]!), 'backdated', \(orgB), 'h', 201, '{}', '2001-01-01T00:00:00Z')
                """
            ])
        if !backdated {
            let createdAt = try await ownerRow(
                "SELECT created_at FROM idempotency_keys WHERE tenant_id = \(tenant) AND idempotency_key = 'backdated'")?.decode(
                    Date.self)
            #expect(
                createdAt.map { abs($0.timeIntervalSinceNow) < 600 } == true,
                "created_at is the database's: \(String(describing: createdAt))")
        }
        let honest = try await refused(
            fixture, "b-operator",
            [
                """
                INSERT INTO idempotency_keys (tenant_id, principal_id, idempotency_key, org_id, request_hash, response_status, response_body)
                VALUES (\(tenant), \(ids.principals["b-operator"]!), 'mine', \(orgB), 'h', 201, '{}')
                """
            ])
        #expect(!honest)
        let stored = try await ownerRow(
            "SELECT count(*)::int FROM idempotency_keys WHERE tenant_id = \(tenant)")?.decode(Int.self)
        #expect(stored == (backdated ? 1 : 2))
    }

    // MARK: (b) API keys

    @Test func apiKeysAreIssuedOnlyThroughTheAuditedFunction() async throws {
        let fixture = try await TenantFixture.create(label: "keys")
        let ids = try await ids(fixture)
        let tenant = fixture.tenantID.rawValue
        let before = try await fixture.rowCounts()
        // HQ writes a key for a warehouse operator straight into the table: it could then act as them.
        let planted = APIKey.generate(tenant: fixture.code)
        let direct = try await refused(
            fixture, "hq-admin",
            [
                """
                INSERT INTO api_keys (tenant_id, principal_id, org_id, key_hash)
                VALUES (\(tenant), \(ids.principals["b-operator"]!), \(ids.orgs["WH-B"]!), \(ByteBuffer(bytes: planted.hash)))
                """
            ])
        #expect(direct)
        #expect(try await fixture.rowCounts() == before)
        let environment = try await SharedDatabase.environment()
        let plantedWorks = try await withConnection(environment.appURL) { connection in
            try await connection.query(
                "SELECT 1 FROM app_begin(\(fixture.code.rawValue), \(hash(planted.text)))", logger: testLogger
            )
            .collect().count == 1
        }
        #expect(!plantedWorks)

        // The function: not for other roles, not for principals HQ cannot see or that are revoked.
        let attempts: [(String, Int64)] = [
            ("b-operator", ids.principals["b-operator"]!), ("a-operator", ids.principals["b-operator"]!),
            ("north-operator", ids.principals["north-operator"]!), ("hq-auditor", ids.principals["b-operator"]!),
            // An id no principal of this tenant has (ids count per tenant, so another tenant's are the same numbers).
            ("hq-admin", ids.principals.values.max()! + 1), ("hq-admin", 0),
        ]
        for (caller, holder) in attempts {
            let key = APIKey.generate(tenant: fixture.code)
            let issued = try await refused(
                fixture, caller,
                [
                    "SELECT app_issue_api_key(\(holder), \(ByteBuffer(bytes: key.hash)), 'req-1')"
                ])
            #expect(issued, "\(caller) issues a key for principal \(holder)")
        }
        #expect(try await fixture.rowCounts() == before)

        // HQ issues one properly: the key works, and the audit log names HQ and the holder.
        let key = APIKey.generate(tenant: fixture.code)
        #expect(
            try await !refused(
                fixture, "hq-admin",
                [
                    "SELECT app_issue_api_key(\(ids.principals["b-operator"]!), \(ByteBuffer(bytes: key.hash)), 'req-issue')"
                ]))
        let holder = try await withConnection(environment.appURL) { connection in
            try await connection.query(
                "SELECT principal_name FROM app_begin(\(fixture.code.rawValue), \(hash(key.text)))", logger: testLogger
            )
            .collect().first?.decode(String.self)
        }
        #expect(holder == "b-operator")
        let audit = try await ownerRow(
            """
            SELECT actor, principal_id, org_id, subject, request_id FROM audit_events
            WHERE tenant_id = \(tenant) AND action = 'api_key.issue'
            """)?.decode((String, Int64, Int64, String, String).self)
        #expect(audit?.0 == "hq-admin")
        #expect(audit?.1 == ids.principals["hq-admin"]!)
        #expect(audit?.2 == ids.orgs["HQ"]!)
        #expect(audit?.3 == "b-operator")
        #expect(audit?.4 == "req-issue")

        // A revoked principal gets no new key.
        try await withConnection(environment.ownerURL) { connection in
            try await connection.query(
                "UPDATE principals SET revoked_at = now() WHERE tenant_id = \(tenant) AND principal_id = \(ids.principals["c-operator"]!)",
                logger: testLogger)
        }
        let revokedKey = APIKey.generate(tenant: fixture.code)
        #expect(
            try await refused(
                fixture, "hq-admin",
                [
                    "SELECT app_issue_api_key(\(ids.principals["c-operator"]!), \(ByteBuffer(bytes: revokedKey.hash)), 'req-2')"
                ]))
    }

    // MARK: (c) postings

    @Test func postingsAreAttributedToTheWritingPrincipalAndTheDatabasesClock() async throws {
        let fixture = try await TenantFixture.create(label: "post")
        let ids = try await ids(fixture)
        let tenant = fixture.tenantID.rawValue
        let orgB = ids.orgs["WH-B"]!
        let me = ids.principals["b-operator"]!
        let backdate = Date(timeIntervalSince1970: 978_307_200)  // 2001-01-01
        func receipt(_ principal: Int64) -> PostgresQuery {
            "INSERT INTO purchase_receipts (tenant_id, org_id, supplier, principal_id, request_id) VALUES (\(tenant), \(orgB), 's', \(principal), 'r')"
        }
        func move(_ principal: Int64) -> PostgresQuery {
            """
            INSERT INTO stock_moves (tenant_id, org_id, item_id, quantity_scaled, value_fen, unit_cost_fen, document_type, document_id,
                principal_id)
            VALUES (\(tenant), \(orgB), \(ids.itemID), 1000, 380, 380, 'purchase_receipt', 1, \(principal))
            """
        }
        func count(_ principal: Int64) -> PostgresQuery {
            "INSERT INTO stock_counts (tenant_id, org_id, reason, principal_id, request_id) VALUES (\(tenant), \(orgB), 'count', \(principal), 'r')"
        }
        for victim in ["b-integration", "hq-admin", "c-operator"] {
            let other = ids.principals[victim]!
            #expect(try await refused(fixture, "b-operator", [receipt(other)]), "receipt as \(victim)")
            #expect(try await refused(fixture, "b-operator", [move(other)]), "move as \(victim)")
            #expect(try await refused(fixture, "b-operator", [count(other)]), "count as \(victim)")
        }
        // Timestamps: refused, or replaced by the transaction's own time.
        let backdated: [(String, PostgresQuery, PostgresQuery)] = [
            (
                "purchase_receipts",
                "INSERT INTO purchase_receipts (tenant_id, org_id, supplier, principal_id, posted_at) VALUES (\(tenant), \(orgB), 'backdated', \(me), \(backdate))",
                "SELECT coalesce(bool_and(posted_at > now() - interval '1 day'), true) FROM purchase_receipts WHERE tenant_id = \(tenant)"
            ),
            (
                "stock_counts",
                "INSERT INTO stock_counts (tenant_id, org_id, reason, principal_id, posted_at) VALUES (\(tenant), \(orgB), 'backdated', \(me), \(backdate))",
                "SELECT coalesce(bool_and(posted_at > now() - interval '1 day'), true) FROM stock_counts WHERE tenant_id = \(tenant)"
            ),
            (
                "stock_moves",
                """
                INSERT INTO stock_moves (tenant_id, org_id, item_id, quantity_scaled, value_fen, unit_cost_fen, document_type, document_id,
                    principal_id, occurred_at)
                VALUES (\(tenant), \(orgB), \(ids.itemID), 1000, 380, 380, 'purchase_receipt', 1, \(me), \(backdate))
                """,
                "SELECT coalesce(bool_and(occurred_at > now() - interval '1 day'), true) FROM stock_moves WHERE tenant_id = \(tenant)"
            ),
        ]
        for (table, statement, check) in backdated {
            if try await !refused(fixture, "b-operator", [statement]) {
                #expect(try await ownerRow(check)?.decode(Bool.self) == true, "\(table): the time is the database's")
            }
        }
        // An id of the sequence's future, claimed with OVERRIDING SYSTEM VALUE, is not the writer's either.
        #expect(
            try await refused(
                fixture, "b-operator",
                [
                    "INSERT INTO purchase_receipts (receipt_id, tenant_id, org_id, supplier, principal_id) OVERRIDING SYSTEM VALUE VALUES (900000000, \(tenant), \(orgB), 's', \(me))"
                ]))
        // The honest postings still go through.
        #expect(try await !refused(fixture, "b-operator", [receipt(me), move(me), count(me)]))
        let stored = try await ownerRow(
            """
            SELECT (SELECT count(*)::int FROM purchase_receipts WHERE tenant_id = \(tenant) AND principal_id <> \(me)),
                   (SELECT count(*)::int FROM stock_moves WHERE tenant_id = \(tenant) AND principal_id <> \(me)),
                   (SELECT count(*)::int FROM stock_counts WHERE tenant_id = \(tenant) AND principal_id <> \(me)),
                   (SELECT count(*)::int FROM purchase_receipts WHERE tenant_id = \(tenant) AND supplier = 's')
            """)?.decode((Int, Int, Int, Int).self)
        #expect(stored?.0 == 0)
        #expect(stored?.1 == 0)
        #expect(stored?.2 == 0)
        #expect(stored?.3 == 1)
    }

    @Test func salesAreBookedByTheirWriterAndTheOrgTheMatrixNamesNow() async throws {
        let fixture = try await TenantFixture.create(label: "sales")
        let ids = try await ids(fixture)
        let tenant = fixture.tenantID.rawValue
        let orgA = ids.orgs["WH-A"]!
        let me = ids.principals["a-operator"]!
        func sale(settledBy settlement: Int64, principal: Int64, customer: String) -> PostgresQuery {
            """
            INSERT INTO sales_issues (tenant_id, org_id, settlement_org_id, customer, principal_id, request_id)
            VALUES (\(tenant), \(orgA), \(settlement), \(customer), \(principal), 'r')
            """
        }
        // NORTH settles WH-A's sales (the fixture's settles_for, purpose sales); HQ and WH-B do not.
        for code in ["HQ", "WH-B", "QA"] {
            #expect(
                try await refused(fixture, "a-operator", [sale(settledBy: ids.orgs[code]!, principal: me, customer: "c")]),
                "settled by \(code)")
        }
        #expect(
            try await refused(
                fixture, "a-operator",
                [sale(settledBy: ids.orgs["NORTH"]!, principal: ids.principals["hq-admin"]!, customer: "c")]))
        let backdated = try await refused(
            fixture, "a-operator",
            [
                """
                INSERT INTO sales_issues (tenant_id, org_id, settlement_org_id, customer, principal_id, posted_at)
                VALUES (\(tenant), \(orgA), \(ids.orgs["NORTH"]!), 'backdated', \(me), '2001-01-01T00:00:00Z')
                """
            ])
        if !backdated {
            let recent = try await ownerRow(
                "SELECT posted_at > now() - interval '1 day' FROM sales_issues WHERE tenant_id = \(tenant) AND customer = 'backdated'"
            )?.decode(Bool.self)
            #expect(recent == true)
        }
        #expect(
            try await !refused(fixture, "a-operator", [sale(settledBy: ids.orgs["NORTH"]!, principal: me, customer: "honest")]))
        // Once the relation has ended, NORTH no longer settles for WH-A.
        let environment = try await SharedDatabase.environment()
        try await withConnection(environment.ownerURL) { connection in
            try await connection.query(
                """
                UPDATE relations SET valid_to = now()
                WHERE tenant_id = \(tenant) AND kind = 'settles_for' AND from_org_id = \(ids.orgs["NORTH"]!) AND to_org_id = \(orgA)
                """, logger: testLogger)
        }
        #expect(try await refused(fixture, "a-operator", [sale(settledBy: ids.orgs["NORTH"]!, principal: me, customer: "late")]))
        let stored = try await ownerRow(
            "SELECT count(*)::int, min(customer) FROM sales_issues WHERE tenant_id = \(tenant) AND customer <> 'backdated'")?
            .decode((Int, String?).self)
        #expect(stored?.0 == 1)
        #expect(stored?.1 == "honest")
    }

    @Test func transfersAreCreatedByTheirSendersPrincipal() async throws {
        let fixture = try await TenantFixture.create(label: "transfer")
        let ids = try await ids(fixture)
        let tenant = fixture.tenantID.rawValue
        let lane = try await ownerRow(
            """
            SELECT relation_id FROM relations
            WHERE tenant_id = \(tenant) AND kind = 'transfers_with' AND from_code = 'WH-A' AND to_code = 'WH-B'
            """)!.decode(Int64.self)
        // The item as `weight` grams per kg (it is 1,000).
        func transfer(createdBy principal: Int64, weight: Int64 = 1000) -> [PostgresQuery] {
            [
                """
                INSERT INTO transfers (tenant_id, from_org_id, from_code, to_org_id, to_code, relation_id, status, rules_version,
                    estimate_total_fen, created_by)
                VALUES (\(tenant), \(ids.orgs["WH-A"]!), 'WH-A', \(ids.orgs["WH-B"]!), 'WH-B', \(lane), 'created', 'v1', 0, \(principal))
                """,
                """
                INSERT INTO transfer_lines (tenant_id, transfer_id, line_no, from_org_id, to_org_id, item_id, quantity_scaled, unit_cost_fen,
                    weight_grams_per_unit, category, shelf_life_days, base_cost_fen, freight_fen, insurance_fen, loss_allowance_fen,
                    timeliness_fen, markup_fen, total_fen, breakdown)
                VALUES (\(tenant), (SELECT max(transfer_id) FROM transfers WHERE tenant_id = \(tenant)), 1, \(ids.orgs["WH-A"]!),
                    \(ids.orgs["WH-B"]!), \(ids.itemID), 1, 0, \(weight), 'fresh_milk', 7, 0, 0, 0, 0, 0, 0, 0, '{}')
                """,
            ]
        }
        #expect(try await refused(fixture, "a-operator", transfer(createdBy: ids.principals["hq-admin"]!)))
        #expect(try await refused(fixture, "a-operator", transfer(createdBy: ids.principals["b-operator"]!)))
        // A line keeps the item as it is when priced (Schema/0011): a lighter one would cost less freight.
        #expect(try await refused(fixture, "a-operator", transfer(createdBy: ids.principals["a-operator"]!, weight: 1)))
        #expect(try await !refused(fixture, "a-operator", transfer(createdBy: ids.principals["a-operator"]!)))
        let creators = try await ownerRow(
            "SELECT array_agg(created_by) FROM transfers WHERE tenant_id = \(tenant)")?.decode([Int64].self)
        #expect(creators == [ids.principals["a-operator"]!])
    }

    // MARK: (d) audit events

    @Test func auditEventsNameTheirWriterAndTheDatabasesTime() async throws {
        let fixture = try await TenantFixture.create(label: "audit")
        let ids = try await ids(fixture)
        let tenant = fixture.tenantID.rawValue
        let me = ids.principals["b-operator"]!
        let orgB = ids.orgs["WH-B"]!
        // Another principal's id: refused.
        #expect(
            try await refused(
                fixture, "b-operator",
                [
                    "INSERT INTO audit_events (tenant_id, principal_id, actor, org_id, action, subject) VALUES (\(tenant), \(ids.principals["hq-admin"]!), 'hq-admin', \(orgB), 'forged.as', 'x')"
                ]))
        // Its own id with another's name: the stored actor is its own name.
        let named = try await refused(
            fixture, "b-operator",
            [
                "INSERT INTO audit_events (tenant_id, principal_id, actor, org_id, action, subject) VALUES (\(tenant), \(me), 'hq-admin', \(orgB), 'forged.name', 'x')"
            ])
        if !named {
            let actor = try await ownerRow(
                "SELECT actor FROM audit_events WHERE tenant_id = \(tenant) AND action = 'forged.name'")?.decode(String.self)
            #expect(actor == "b-operator")
        }
        // Another time: refused, or the database's.
        let dated = try await refused(
            fixture, "b-operator",
            [
                "INSERT INTO audit_events (tenant_id, principal_id, actor, org_id, action, subject, occurred_at) VALUES (\(tenant), \(me), 'b-operator', \(orgB), 'forged.time', 'x', '2001-01-01T00:00:00Z')"
            ])
        if !dated {
            let recent = try await ownerRow(
                "SELECT occurred_at > now() - interval '1 day' FROM audit_events WHERE tenant_id = \(tenant) AND action = 'forged.time'"
            )?.decode(Bool.self)
            #expect(recent == true)
        }
        // The honest event, with whatever actor the client sends, names the writer.
        #expect(
            try await !refused(
                fixture, "b-operator",
                [
                    "INSERT INTO audit_events (tenant_id, principal_id, actor, org_id, request_id, action, subject) VALUES (\(tenant), \(me), 'b-operator', \(orgB), 'req', 'honest.event', 'x')"
                ]))
        let honest = try await ownerRow(
            "SELECT actor, occurred_at > now() - interval '1 day' FROM audit_events WHERE tenant_id = \(tenant) AND action = 'honest.event'"
        )?.decode((String, Bool).self)
        #expect(honest?.0 == "b-operator")
        #expect(honest?.1 == true)
        // Nothing on the log names anyone but its writer.
        let misnamed = try await ownerRow(
            """
            SELECT count(*)::int FROM audit_events e JOIN principals p ON p.tenant_id = e.tenant_id AND p.principal_id = e.principal_id
            WHERE e.tenant_id = \(tenant) AND (e.actor <> p.name OR e.occurred_at < now() - interval '1 day')
            """)?.decode(Int.self)
        #expect(misnamed == 0)
    }

    // MARK: replay

    /// Settings copied out of one transaction and set again in a later one on the same backend,
    /// with float output coarsened so the old binding's rendering of the start time stays the
    /// same for years: no context, also once the principal is revoked.
    @Test func aSignedContextIsNotReplayedInALaterTransaction() async throws {
        let fixture = try await TenantFixture.create(label: "replay")
        let ids = try await ids(fixture)
        let environment = try await SharedDatabase.environment()
        let names = [
            "app.tenant_id", "app.principal_id", "app.org_id", "app.role", "app.visible_orgs", "app.context_mac",
            "app.visible_mac",
        ]
        try await withConnection(environment.appURL) { connection in
            try await connection.query("SET extra_float_digits = -15", logger: testLogger)
            try await connection.query("BEGIN", logger: testLogger)
            _ = try await connection.query(
                "SELECT 1 FROM app_begin(\(fixture.code.rawValue), \(hash(fixture.key("a-operator"))))", logger: testLogger
            ).collect()
            var saved: [String] = []
            for name in names {
                saved.append(
                    try await connection.query("SELECT current_setting(\(name))", logger: testLogger).collect().first!.decode(
                        String.self))
            }
            let original = try await connection.query("SELECT count(*)::int FROM orgs", logger: testLogger).collect().first!
                .decode(Int.self)
            #expect(original == 2)
            try await connection.query("COMMIT", logger: testLogger)

            func replay(_ label: String) async throws {
                for digits in [-15, -10, 0, 1] {
                    try await connection.query(
                        "SELECT set_config('extra_float_digits', \(String(digits)), false)", logger: testLogger)
                    try await connection.query("BEGIN", logger: testLogger)
                    for (name, value) in zip(names, saved) {
                        try await connection.query("SELECT set_config(\(name), \(value), true)", logger: testLogger)
                    }
                    let context = try await connection.query(
                        "SELECT app_tenant_id(), (SELECT w.principal_id FROM app_writer() w), (SELECT count(*)::int FROM orgs)",
                        logger: testLogger
                    ).collect().first!.decode((UUID?, Int64?, Int).self)
                    #expect(context.0 == nil, "\(label), extra_float_digits \(digits): tenant")
                    #expect(context.1 == nil, "\(label), extra_float_digits \(digits): writer")
                    #expect(context.2 == 0, "\(label), extra_float_digits \(digits): orgs")
                    do {
                        try await connection.query(
                            """
                            INSERT INTO audit_events (tenant_id, principal_id, actor, org_id, action, subject)
                            VALUES (\(fixture.tenantID.rawValue), \(ids.principals["a-operator"]!), 'a-operator', \(ids.orgs["WH-A"]!),
                                'replayed', 'x')
                            """, logger: testLogger)
                        Issue.record("\(label), extra_float_digits \(digits): a replayed context wrote an audit event")
                    } catch let error as PSQLError {
                        #expect(error.sqlState == "42501", "\(label): \(String(reflecting: error))")
                    }
                    try await connection.query("ROLLBACK", logger: testLogger)
                }
            }
            try await replay("later transaction")
            try await withConnection(environment.ownerURL) { owner in
                try await owner.query(
                    """
                    UPDATE principals SET revoked_at = now()
                    WHERE tenant_id = \(fixture.tenantID.rawValue) AND principal_id = \(ids.principals["a-operator"]!)
                    """, logger: testLogger)
            }
            try await replay("after revocation")
            // A fresh app_begin with the revoked key gets nothing either.
            try await connection.query("RESET extra_float_digits", logger: testLogger)
            let rows = try await connection.query(
                "SELECT 1 FROM app_begin(\(fixture.code.rawValue), \(hash(fixture.key("a-operator"))))", logger: testLogger
            ).collect()
            #expect(rows.isEmpty)
        }
    }

    /// The binding is the transaction's start in whole microseconds, rendered the same whatever
    /// the session's float settings.
    @Test func theContextBindsTheExactTransactionStart() async throws {
        let environment = try await SharedDatabase.environment()
        try await withConnection(environment.ownerURL) { connection in
            for digits in [-15, 0, 3] {
                try await connection.query(
                    "SELECT set_config('extra_float_digits', \(String(digits)), false)", logger: testLogger)
                let (core, micros) = try await connection.query(
                    "SELECT app_context_core(), (extract(epoch FROM now()) * 1000000)::bigint", logger: testLogger
                ).collect().first!.decode((String, Int64).self)
                let parts = core.split(separator: "|", omittingEmptySubsequences: false)
                #expect(parts.last.map(String.init) == String(micros), "extra_float_digits \(digits): \(core)")
            }
        }
    }
}
