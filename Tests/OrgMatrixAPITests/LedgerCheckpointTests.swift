import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Metrics
import OrgMatrixCore
import OrgMatrixTestSupport
import PostgresNIO
import SMCrypto
import Testing

import OrgMatrixStore

/// Checkpoints (docs/LEDGER.md, "Checkpoints"): cut by HQ on demand and by the sealer at a
/// quarter's end, signed by every org with a key (custodial ones on their principal's approval,
/// the client-held one with its own key), checked by the verifier, refused by the database when
/// out of order or signed for another org.
@Suite struct LedgerCheckpointTests {
    typealias API = IsolationTests.API

    static let allOrgs = ["HQ", "NORTH", "QA", "WH-A", "WH-B", "WH-C"]

    /// A writing principal of QA (the fixture's QA principal supervises, and a supervisor signs nothing).
    private func qaOperator(_ api: API, _ scenario: LedgerScenario) async throws -> String {
        let reply = try await api.post(
            "/v1/principals", key: scenario.fixture.key("hq-admin"), #"{"name":"qa-operator","org":"QA","role":"org_operator"}"#)
        #expect(reply.status == .created, "\(reply.text)")
        return try #require(json(reply)["key"] as? String)
    }

    @Test func aCheckpointIsCompleteOnceEveryOrgWithAKeyHasSignedAndTheVerifierChecksIt() async throws {
        let scenario = try await LedgerScenario.make(label: "checkpoints")
        let key = scenario.fixture.key
        try await withAPI { api in
            let empty = json(try await api.get("/v1/ledger/checkpoints", key: key("b-operator")))
            #expect((empty["items"] as? [Any])?.isEmpty == true && empty["nextCursor"] == nil)
            // Only HQ cuts one, whatever the body.
            for principal in ["a-operator", "hq-auditor", "qa-supervisor"] {
                let refused = try await api.post("/v1/ledger/checkpoints", key: key(principal), #"{"nonsense":1}"#)
                #expect(refused.status == .forbidden, "\(principal): \(refused.text)")
            }
            let cut = try await api.post("/v1/ledger/checkpoints", key: key("hq-admin"))
            #expect(cut.status == .created, "\(cut.text)")
            let checkpoint = json(cut)
            #expect(checkpoint["number"] as? Int == 0 && checkpoint["period"] as? String == "on-demand")
            #expect(checkpoint["signers"] as? [String] == Self.allOrgs && checkpoint["unsigned"] as? [String] == Self.allOrgs)
            #expect(checkpoint["complete"] as? Bool == false && (checkpoint["signatures"] as? [Any])?.isEmpty == true)
            #expect(checkpoint["logSize"] as? Int == LedgerScenario.committedTransactions && checkpoint["previousLogSize"] as? Int == 0)
            #expect((checkpoint["consistencyProof"] as? [Any])?.isEmpty == true)
            // The document is canonical and says what the fields say; it names the newest block as the API shows it.
            let canonical = Array(try #require(checkpoint["canonical"] as? String).utf8)
            let document = try LedgerCheckpoint(canonicalBytes: canonical)
            let lastBlock = try #require(checkpoint["lastBlock"] as? Int)
            let block = json(try await api.get("/v1/ledger/blocks/\(lastBlock)", key: key("b-operator")))
            #expect(document.lastBlockHash.hex == block["hash"] as? String && document.logRoot.hex == block["logRoot"] as? String)
            #expect(document.number == 0 && document.signers.map(\.rawValue) == Self.allOrgs && lastBlock == 4)
            #expect(try await api.get("/v1/ledger/blocks/\(lastBlock + 1)", key: key("b-operator")).status == .notFound)

            // Custodial orgs sign when their principal approves, once.
            let qa = try await qaOperator(api, scenario)
            for principal in ["hq-admin", "north-operator", "a-operator", "c-operator"] {
                let approved = try await api.post("/v1/ledger/checkpoints/0/approve", key: key(principal))
                #expect(approved.status == .ok, "\(principal): \(approved.text)")
            }
            #expect(try await api.post("/v1/ledger/checkpoints/0/approve", key: qa).status == .ok)
            let again = try await api.post("/v1/ledger/checkpoints/0/approve", key: key("a-operator"))
            #expect(again.status == .conflict && again.text.contains("already"), "\(again.text)")
            // A supervisor writes nothing; the client-held org is told where its signature goes.
            #expect(try await api.post("/v1/ledger/checkpoints/0/approve", key: key("qa-supervisor")).status == .forbidden)
            let clientHeld = try await api.post("/v1/ledger/checkpoints/0/approve", key: key("b-operator"))
            #expect(clientHeld.status == .conflict && clientHeld.text.contains("/v1/ledger/checkpoints/0/signatures"), "\(clientHeld.text)")

            // WH-B signs on its own machine: not for another org, not over other bytes.
            func body(_ org: String, _ signature: [UInt8]) -> String {
                #"{"org":"\#(org)","keyVersion":1,"signature":"\#(Data(signature).base64EncodedString())"}"#
            }
            let good = try scenario.clientKey.signature(for: canonical).derRepresentation
            let forOther = try await api.post("/v1/ledger/checkpoints/0/signatures", key: key("b-operator"), body("WH-A", good))
            #expect(forOther.status == .forbidden && json(forOther)["field"] as? String == "org", "\(forOther.text)")
            let wrongBytes = try scenario.clientKey.signature(for: canonical + [0x20]).derRepresentation
            let forged = try await api.post("/v1/ledger/checkpoints/0/signatures", key: key("b-operator"), body("WH-B", wrongBytes))
            #expect(forged.status == .conflict && json(forged)["field"] as? String == "signature", "\(forged.text)")
            let halfway = json(try await api.get("/v1/ledger/checkpoints/0", key: key("b-operator")))
            #expect(halfway["unsigned"] as? [String] == ["WH-B"] && halfway["complete"] as? Bool == false)
            let signed = try await api.post("/v1/ledger/checkpoints/0/signatures", key: key("b-operator"), body("WH-B", good))
            #expect(signed.status == .ok, "\(signed.text)")
            let complete = json(signed)
            #expect(complete["complete"] as? Bool == true && (complete["unsigned"] as? [String])?.isEmpty == true)
            #expect((complete["signatures"] as? [[String: Any]])?.compactMap { $0["org"] as? String } == Self.allOrgs)

            for path in ["/v1/ledger/checkpoints/1", "/v1/ledger/checkpoints/-1", "/v1/ledger/checkpoints/x"] {
                #expect(try await api.get(path, key: key("b-operator")).status == .notFound, "\(path)")
            }
            #expect(try await api.post("/v1/ledger/checkpoints/1/approve", key: key("a-operator")).status == .notFound)
            #expect(try await api.get("/v1/ledger/checkpoints", key: nil).status == .unauthorized)
        }

        // The verifier checks every signature and the document against block 4.
        let clean = try await scenario.verify()
        #expect(clean.report.isClean, "\(clean.report.failures)")
        // A signature changed by whoever holds the database is named.
        try await scenario.tamper(disabling: ["ledger_checkpoint_signatures"]) { connection, tenant in
            try await connection.query(
                """
                UPDATE ledger_checkpoint_signatures SET signature = (SELECT s.signature FROM ledger_checkpoint_signatures s
                    WHERE s.tenant_id = \(tenant) AND s.org_code = 'HQ')
                WHERE tenant_id = \(tenant) AND org_code = 'NORTH'
                """, logger: testLogger)
        }
        let tampered = try await scenario.verify().report.failures.map { "\($0.field) [\($0.kind.rawValue)]" }
        #expect(tampered == ["checkpoints[0].signatures[NORTH] [signature-invalid]"], "\(tampered)")
        // A stored document that is no checkpoint at all is read and named too, not a failed read.
        try await scenario.tamper(disabling: ["ledger_checkpoints"]) { connection, tenant in
            try await connection.query(
                "UPDATE ledger_checkpoints SET canonical = convert_to('not a checkpoint', 'UTF8') WHERE tenant_id = \(tenant) AND number = 0",
                logger: testLogger)
        }
        let unreadable = try await scenario.verify().report.failures.map { "\($0.field) [\($0.kind.rawValue)]" }
        #expect(unreadable == ["checkpoints[0].checkpoint [checkpoint-malformed]"], "\(unreadable)")
    }

    @Test func theSealerClosesEachQuarterOnceAndTheNextCheckpointProvesItsLogExtendsTheLast() async throws {
        let scenario = try await LedgerScenario.make(label: "quarters")
        let environment = try await SharedDatabase.environment()
        let code = scenario.fixture.code
        let now = UTCMicros(Date())
        let (period, end) = LedgerCheckpoint.Period.lastClosedQuarter(at: now)
        // The scenario's blocks were sealed today; their rows are moved into the last closed
        // quarter for the sealer to close it, and back afterwards (their headers keep their time).
        let dayBeforeEnd = end.microsecondsSinceEpoch - 86_400_000_000
        try await scenario.tamper(disabling: ["ledger_blocks"]) { connection, tenant in
            try await connection.query(
                "UPDATE ledger_blocks SET sealed_at = timestamptz 'epoch' + \(dayBeforeEnd) * interval '1 microsecond' WHERE tenant_id = \(tenant)",
                logger: testLogger)
        }
        let (cuts, again, ahead) = try await withClient(environment.appURL, maximumConnections: 1) { client in
            let database = Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance)
            let cuts = try await database.cutDueCheckpoints(now: now, logger: testLogger, onlyTenant: code)
            let again = try await database.cutDueCheckpoints(now: now, logger: testLogger, onlyTenant: code)
            // A server clock a quarter ahead would close the quarter running now: the database refuses.
            let ahead = try await database.cutDueCheckpoints(
                now: UTCMicros(microsecondsSinceEpoch: end.microsecondsSinceEpoch + 100 * 86_400_000_000), logger: testLogger, onlyTenant: code)
            return (cuts, again, ahead)
        }
        try await scenario.tamper(disabling: ["ledger_blocks"]) { connection, tenant in
            try await connection.query(
                """
                UPDATE ledger_blocks SET sealed_at = (convert_from(header, 'UTF8')::jsonb ->> 'sealed_at')::timestamptz
                WHERE tenant_id = \(tenant)
                """, logger: testLogger)
        }
        #expect(cuts.map { "\($0.tenant) \($0.number) \($0.period) \($0.lastBlock)" } == ["\(code) 0 \(period) 4"])
        #expect(again.isEmpty && ahead.isEmpty)

        // WH-A completes the pending receipt: one more transaction, one more block.
        try await withAPI { api throws in
            let receipt = scenario.hash(scenario.received, .transferReceived)
            #expect(try await api.post("/v1/ledger/transactions/\(receipt.hex)/approve", key: scenario.fixture.key("a-operator")).status == .ok)
        }
        try await LedgerScenario.seal(scenario.fixture)
        try await withAPI { api in
            let cut = json(try await api.post("/v1/ledger/checkpoints", key: scenario.fixture.key("hq-admin")))
            let size = LedgerScenario.committedTransactions
            #expect(cut["number"] as? Int == 1 && cut["previousLogSize"] as? Int == size && cut["logSize"] as? Int == size + 1, "\(cut)")
            let quarter = json(try await api.get("/v1/ledger/checkpoints/0", key: scenario.fixture.key("b-operator")))
            #expect(quarter["period"] as? String == period.description)
            // The proof leads from the quarter's root to this one's, as Core checks it.
            let proof = try (cut["consistencyProof"] as? [String] ?? []).map { try LedgerHash(hex: $0).bytes }
            #expect(!proof.isEmpty)
            try MerkleHashing.sm3.verifyConsistency(
                oldSize: size, newSize: size + 1, oldRoot: try LedgerHash(hex: quarter["logRoot"] as! String).bytes,
                newRoot: try LedgerHash(hex: cut["logRoot"] as! String).bytes, proof: proof)
            // Pages go to the end.
            let first = json(try await api.get("/v1/ledger/checkpoints?limit=1", key: scenario.fixture.key("b-operator")))
            #expect((first["items"] as? [[String: Any]])?.first?["number"] as? Int == 0 && first["nextCursor"] as? String == "0")
            let second = json(try await api.get("/v1/ledger/checkpoints?limit=1&cursor=0", key: scenario.fixture.key("b-operator")))
            #expect((second["items"] as? [[String: Any]])?.first?["number"] as? Int == 1)
            let reply = try await api.get("/v1/ledger/checkpoints?cursor=x", key: scenario.fixture.key("b-operator"))
            #expect(reply.status == .unprocessableContent && json(reply)["field"] as? String == "cursor")
        }
        let verification = try await scenario.verify()
        #expect(verification.report.isClean, "\(verification.report.failures)")
    }

    /// A key registered in a transaction that began before a checkpoint was cut would change,
    /// after the cut read the keys, who had to sign it: the database refuses it as a
    /// serialization failure (the Store retries those); begun after the cut, it is taken.
    @Test func aKeyRegisteredByATransactionBegunBeforeACutIsRefused() async throws {
        let scenario = try await LedgerScenario.make(label: "checkpoint-keys")
        let environment = try await SharedDatabase.environment()
        let tenant = scenario.fixture.tenantID.rawValue
        let publicKey = ByteBuffer(bytes: SM2PrivateKey.generate().publicKey.derRepresentation)
        let insert: PostgresQuery = """
            INSERT INTO org_keys (tenant_id, owner, org_id, version, custody, public_key)
            SELECT \(tenant), 'WH-B', o.org_id, 2, 'client', \(publicKey) FROM orgs o WHERE o.tenant_id = \(tenant) AND o.code = 'WH-B'
            """
        let sqlState = try await withConnection(environment.ownerURL) { connection -> String? in
            try await connection.query("BEGIN", logger: testLogger)
            _ = try await connection.query("SELECT now()", logger: testLogger).collect()
            try await withAPI { api throws in
                #expect(try await api.post("/v1/ledger/checkpoints", key: scenario.fixture.key("hq-admin")).status == .created)
            }
            var refused: String?
            do { try await connection.query(insert, logger: testLogger) } catch let error as PSQLError { refused = error.serverInfo?[.sqlState] }
            try await connection.query("ROLLBACK", logger: testLogger)
            return refused
        }
        #expect(sqlState == "40001")
        try await withConnection(environment.ownerURL) { connection in
            try await connection.query("BEGIN", logger: testLogger)
            try await connection.query(insert, logger: testLogger)
            try await connection.query("ROLLBACK", logger: testLogger)
        }
    }

    /// The database's own rules, as the application role meets them with SQL of its own.
    @Test func theDatabaseRefusesCheckpointsOutOfOrderAndSignaturesForAnotherOrg() async throws {
        let scenario = try await LedgerScenario.make(label: "checkpoint-sql")
        try await withAPI { api throws in
            #expect(try await api.post("/v1/ledger/checkpoints", key: scenario.fixture.key("hq-admin")).status == .created)
        }
        let environment = try await SharedDatabase.environment()
        /// The SQLSTATE the database refuses `sql` with, run in `principal`'s sandbox (nil when it is accepted).
        func refusal(_ principal: String, _ sql: @escaping @Sendable (Sandbox) -> PostgresQuery) async throws -> String? {
            try await withClient(environment.appURL, maximumConnections: 1) { client in
                let database = Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance)
                return try await database.withSandbox(key: APIKey(scenario.fixture.key(principal))!, requestID: "sql", logger: testLogger) {
                    sandbox -> String? in
                    do {
                        _ = try await sandbox.connection.query(sql(sandbox), logger: testLogger)
                        return nil
                    } catch let error as PSQLError {
                        // The transaction is aborted now: its COMMIT rolls back.
                        return error.serverInfo?[.sqlState] ?? "\(error)"
                    }
                }
            }
        }
        // WH-A's principal signs as WH-B, an org of its sandbox: the policy refuses it (row-level security).
        let forOther = try await refusal("a-operator") { sandbox in
            """
            INSERT INTO ledger_checkpoint_signatures (tenant_id, checkpoint_number, org_id, org_code, key_version, signature, principal_id)
            SELECT \(sandbox.principal.tenantID.rawValue), 0, o.org_id, o.code, 1, '\\x3006020101020101'::bytea, \(sandbox.principal.principalID)
            FROM orgs o WHERE o.tenant_id = \(sandbox.principal.tenantID.rawValue) AND o.code = 'WH-B'
            """
        }
        #expect(forOther == "42501", "\(forOther ?? "accepted")")
        // HQ skips a number, and an operator cuts one at all.
        func checkpointRow(number: Int64) -> @Sendable (Sandbox) -> PostgresQuery {
            { sandbox in
                """
                INSERT INTO ledger_checkpoints (tenant_id, number, period, at, last_block, last_block_hash, log_size, previous_log_size,
                    signer_org_ids, canonical, consistency_proof, principal_id)
                SELECT b.tenant_id, \(number), 'on-demand', now(), b.number, b.block_hash, b.log_size, b.log_size, '{}', '\\x7b7d'::bytea,
                    ''::bytea, \(sandbox.principal.principalID)
                FROM ledger_blocks b WHERE b.tenant_id = \(sandbox.principal.tenantID.rawValue) ORDER BY b.number DESC LIMIT 1
                """
            }
        }
        let skipped = try await refusal("hq-admin", checkpointRow(number: 5))
        #expect(skipped == "23514", "\(skipped ?? "accepted")")
        let byOperator = try await refusal("a-operator", checkpointRow(number: 1))
        #expect(byOperator == "42501", "\(byOperator ?? "accepted")")
        // Nobody changes one.
        let update = try await refusal("hq-admin") { sandbox in
            "UPDATE ledger_checkpoints SET period = '2026-Q1' WHERE tenant_id = \(sandbox.principal.tenantID.rawValue)"
        }
        #expect(update == "42501", "\(update ?? "accepted")")
        // And the next one HQ cuts is numbered 1, what the refused rows left as it was.
        let everyOrg = try await withAPI { api throws -> [String] in
            let cut = json(try await api.post("/v1/ledger/checkpoints", key: scenario.fixture.key("hq-admin")))
            #expect(cut["number"] as? Int == 1)
            return cut["signers"] as? [String] ?? []
        }
        #expect(everyOrg.count > 1 && everyOrg.contains("HQ"))
        // HQ stores a document naming every org with a key but columns naming only itself, so that
        // no other org could sign: refused. The same row with the columns its document states is taken.
        func documented(signers: [String], columns: [String]) -> @Sendable (Sandbox) -> PostgresQuery {
            { sandbox in
                let tenant = sandbox.principal.tenantID.rawValue
                return """
                    INSERT INTO ledger_checkpoints (tenant_id, number, period, at, last_block, last_block_hash, log_size, previous_log_size,
                        signer_org_ids, canonical, consistency_proof, principal_id)
                    SELECT b.tenant_id, 2, 'on-demand', now(), b.number, b.block_hash, b.log_size, b.log_size,
                        ARRAY(SELECT o.org_id FROM orgs o WHERE o.tenant_id = b.tenant_id AND o.code = ANY(\(columns)::text[])),
                        convert_to(jsonb_build_object('version', 1, 'tenant', t.code, 'number', 2, 'period', 'on-demand',
                            'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'log_size', b.log_size,
                            'log_root', '', 'last_block', b.number, 'last_block_hash', encode(b.block_hash, 'hex'),
                            'previous_log_size', b.log_size, 'signers', to_jsonb(\(signers)::text[]))::text, 'UTF8'),
                        ''::bytea, \(sandbox.principal.principalID)
                    FROM ledger_blocks b JOIN tenants t USING (tenant_id)
                    WHERE b.tenant_id = \(tenant) ORDER BY b.number DESC LIMIT 1
                    """
            }
        }
        let narrowed = try await refusal("hq-admin", documented(signers: everyOrg, columns: ["HQ"]))
        #expect(narrowed == "23514", "\(narrowed ?? "accepted")")
        let matching = try await refusal("hq-admin", documented(signers: everyOrg, columns: everyOrg))
        #expect(matching == nil, "\(matching ?? "accepted")")
    }
}
