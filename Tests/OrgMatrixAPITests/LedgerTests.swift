import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Metrics
import OrgMatrixCore
import OrgMatrixStore
import OrgMatrixTestSupport
import PostgresNIO
import SMCrypto
import Testing

/// The transfer ledger through the API: each transfer step writes its transaction, the acting
/// custodial org endorses it, the others endorse or dispute, a client-held org signs with plain
/// OpenSSL, and the sealer seals what is committed. The fixture's ledger section: WH-B
/// client-held, dispatch needs AND(sender, sender_settlement) (WH-A and NORTH), receipt
/// AND(receiver, sender).
@Suite struct LedgerTests {
    typealias API = IsolationTests.API


    /// A created transfer of 100 L from WH-A to WH-B (the item made unless an earlier transfer of
    /// the test made it, 500 L bought at WH-A first): its id.
    static func createdTransfer(_ api: API, _ fixture: TenantFixture) async throws -> Int {
        let item = try await api.post("/v1/items", key: fixture.key("hq-admin"), InventoryTests.milkItem).status
        #expect(item == .created || item == .conflict)
        let receipt = try await api.post(
            "/v1/purchase-receipts", key: fixture.key("a-operator"),
            #"{"supplier":"x","lines":[{"item":"MILK-FRESH","quantity":"500","unitCostFen":463}]}"#)
        #expect(receipt.status == .created, "\(receipt.text)")
        let created = json(try await api.post("/v1/transfers", key: fixture.key("a-operator"), #"{"to":"WH-B","lines":[{"item":"MILK-FRESH","quantity":"100"}]}"#))
        return try #require(created["id"] as? Int)
    }

    /// A dispatched transfer of 100 L from WH-A to WH-B; its dispatch transaction's hash.
    private func dispatchedTransfer(_ api: API, _ fixture: TenantFixture) async throws -> (id: Int, hash: String) {
        let id = try await Self.createdTransfer(api, fixture)
        let dispatched = try await api.post("/v1/transfers/\(id)/dispatch", key: fixture.key("a-operator"))
        #expect(dispatched.status == .ok, "\(dispatched.text)")
        let evidence = try #require(json(dispatched)["evidence"] as? [[String: Any]])
        #expect(evidence.count == 1 && evidence[0]["type"] as? String == "transfer.dispatched" && evidence[0]["status"] as? String == "pending")
        return (id, try #require(evidence[0]["hash"] as? String))
    }

    private func ledgerRows(_ fixture: TenantFixture) async throws -> [Int] {
        let environment = try await SharedDatabase.environment()
        return try await withConnection(environment.ownerURL) { connection in
            var counts: [Int] = []
            for table in ["ledger_transactions", "ledger_endorsements", "ledger_disputes", "ledger_commits", "ledger_blocks", "ledger_block_entries"] {
                counts.append(
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(table) WHERE tenant_id = '\(fixture.tenantID.rawValue)'"),
                        logger: testLogger
                    ).collect().first!.decode(Int.self))
            }
            return counts
        }
    }

    @Test func aDispatchIsEndorsedByItsSenderAndCommittedByItsSettlementOrg() async throws {
        let fixture = try await TenantFixture.create(label: "ledger", ledger: TenantFixture.ledger)
        try await withAPI { api in
            let (id, hash) = try await dispatchedTransfer(api, fixture)
            let tx = json(try await api.get("/v1/ledger/transactions/\(hash)", key: fixture.key("a-operator")))
            #expect(tx["status"] as? String == "pending")
            #expect(tx["policy"] as? String == "AND(sender, sender_settlement)")
            #expect(tx["endorsers"] as? [String: String] == ["sender": "WH-A", "sender_settlement": "NORTH"])
            #expect(tx["awaiting"] as? [String: String] == ["sender_settlement": "NORTH"])
            let canonical = try #require(tx["canonical"] as? String)
            // The hash is SM3 of exactly the canonical bytes, which parse as the transaction.
            #expect(LedgerHash.of(Array(canonical.utf8)).hex == hash)
            let parsed = try LedgerTransaction(canonicalBytes: Array(canonical.utf8))
            #expect(parsed.type == .transferDispatched && parsed.tenant == fixture.code)
            // Only the settlement org is asked; the sender endorsed when it dispatched.
            let pending = json(try await api.get("/v1/ledger/pending", key: fixture.key("north-operator")))
            #expect((pending["items"] as? [[String: Any]])?.compactMap { $0["hash"] as? String } == [hash])
            #expect((json(try await api.get("/v1/ledger/pending", key: fixture.key("a-operator")))["items"] as? [Any])?.isEmpty == true)
            // WH-A endorsed already; HQ and the receiver see it but are no endorsers of this dispatch;
            // WH-C's sandbox does not hold it; a supervisor may not write.
            #expect(try await api.post("/v1/ledger/transactions/\(hash)/approve", key: fixture.key("a-operator")).status == .conflict)
            #expect(try await api.post("/v1/ledger/transactions/\(hash)/approve", key: fixture.key("hq-admin")).status == .forbidden)
            #expect(try await api.post("/v1/ledger/transactions/\(hash)/approve", key: fixture.key("b-operator")).status == .forbidden)
            #expect(try await api.post("/v1/ledger/transactions/\(hash)/approve", key: fixture.key("qa-supervisor")).status == .forbidden)
            #expect(try await api.post("/v1/ledger/transactions/\(hash)/approve", key: fixture.key("c-operator")).status == .notFound)
            let approved = try await api.post("/v1/ledger/transactions/\(hash)/approve", key: fixture.key("north-operator"))
            #expect(approved.status == .ok, "\(approved.text)")
            let committed = json(approved)
            #expect(committed["status"] as? String == "committed")
            #expect((committed["endorsements"] as? [[String: Any]])?.compactMap { $0["org"] as? String }.sorted() == ["NORTH", "WH-A"])
            #expect((json(try await api.get("/v1/transfers/\(id)", key: fixture.key("a-operator")))["evidence"] as? [[String: Any]])?
                .first?["status"] as? String == "committed")
            // Each endorsement verifies with the org's key over the canonical bytes.
            let environment = try await SharedDatabase.environment()
            let keys = try await withClient(environment.ownerURL) { client in try await KeyAdmin(client: client, logger: testLogger).list(tenant: fixture.code) }
            for endorsement in committed["endorsements"] as? [[String: Any]] ?? [] {
                let org = try OrgCode(endorsement["org"] as! String)
                let key = try #require(keys.first { $0.owner == .org(org) }?.versions.first)
                let signature = try SM2Signature(derRepresentation: Array(Data(base64Encoded: endorsement["signature"] as! String)!))
                #expect(try key.publicKey.isValidSignature(signature, for: Array(canonical.utf8)))
            }
            #expect(try await api.post("/v1/ledger/transactions/\(hash)/dispute", key: fixture.key("north-operator"), #"{"reason":"late"}"#).status == .conflict)
        }
    }

    @Test func aDisputeStopsTheTransactionAndShowsOnTheTransfer() async throws {
        let fixture = try await TenantFixture.create(label: "dispute", ledger: TenantFixture.ledger)
        try await withAPI { api in
            let (id, hash) = try await dispatchedTransfer(api, fixture)
            let north = fixture.key("north-operator")
            #expect(try await api.post("/v1/ledger/transactions/\(hash)/dispute", key: north, #"{"reason":"  "}"#).status == .unprocessableContent)
            #expect(try await api.post("/v1/ledger/transactions/\(hash)/dispute", key: north, #"{}"#).status == .unprocessableContent)
            let disputed = try await api.post(
                "/v1/ledger/transactions/\(hash)/dispute", key: north, #"{"reason":"the unit cost is above the contract price"}"#)
            #expect(disputed.status == .ok, "\(disputed.text)")
            #expect(json(disputed)["status"] as? String == "disputed")
            let evidence = try #require(json(try await api.get("/v1/transfers/\(id)", key: fixture.key("a-operator")))["evidence"] as? [[String: Any]])
            #expect(evidence.first?["status"] as? String == "disputed")
            #expect((evidence.first?["dispute"] as? [String: String]) == ["org": "NORTH", "reason": "the unit cost is above the contract price"])
            let before = try await ledgerRows(fixture)
            #expect(try await api.post("/v1/ledger/transactions/\(hash)/approve", key: north).status == .conflict)
            #expect(try await api.post("/v1/ledger/transactions/\(hash)/dispute", key: north, #"{"reason":"again"}"#).status == .conflict)
            #expect(try await ledgerRows(fixture) == before)
            // The posting is not held back: the goods are on the road.
            #expect(json(try await api.get("/v1/transfers/\(id)", key: fixture.key("b-operator")))["status"] as? String == "dispatched")
        }
    }

    /// WH-B holds its own key: it signs the receipt's canonical bytes with plain `openssl dgst`,
    /// and the server verifies the signature before storing it. Every wrong signature, key
    /// version, foreign org and replay is refused and changes nothing.
    @Test func aClientHeldOrgEndorsesWithPlainOpenSSL() async throws {
        let fixture = try await TenantFixture.create(label: "client", ledger: TenantFixture.ledger)
        let environment = try await SharedDatabase.environment()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let generated = try runProcess("openssl", ["genpkey", "-algorithm", "SM2", "-out", "\(folder)/wh-b.pem"])
        #expect(generated.status == 0, "\(generated.standardError)")
        let publicKey = try runProcess("openssl", ["pkey", "-in", "\(folder)/wh-b.pem", "-pubout"])
        let registered = try await withClient(environment.ownerURL) { client in
            try await KeyAdmin(client: client, logger: testLogger).register(tenant: fixture.code, org: try OrgCode("WH-B"), publicKeyPEM: publicKey.text)
        }
        #expect(registered.version == 1)
        try await withAPI { api in
            let (id, _) = try await dispatchedTransfer(api, fixture)
            let received = try await api.post("/v1/transfers/\(id)/receive", key: fixture.key("b-operator"), #"{"freightFen":9000,"insuranceFen":100}"#)
            #expect(received.status == .ok, "\(received.text)")
            let evidence = try #require(json(received)["evidence"] as? [[String: Any]])
            let receipt = try #require(evidence.first { $0["type"] as? String == "transfer.received" })
            let hash = try #require(receipt["hash"] as? String)
            // WH-B's key is client-held: nothing was signed for it.
            #expect(receipt["status"] as? String == "pending")
            let pending = json(try await api.get("/v1/ledger/pending", key: fixture.key("b-operator")))
            #expect((pending["items"] as? [[String: Any]])?.compactMap { $0["hash"] as? String } == [hash])
            #expect(try await api.post("/v1/ledger/transactions/\(hash)/approve", key: fixture.key("b-operator")).status == .conflict)
            let canonical = try #require(json(try await api.get("/v1/ledger/transactions/\(hash)", key: fixture.key("b-operator")))["canonical"] as? String)
            try Data(canonical.utf8).write(to: URL(fileURLWithPath: "\(folder)/tx.json"))
            try Data((canonical + " ").utf8).write(to: URL(fileURLWithPath: "\(folder)/other.json"))
            func sign(_ file: String) throws -> String {
                let signed = try runProcess(
                    "openssl", ["dgst", "-sm3", "-sign", "\(folder)/wh-b.pem", "-sigopt", "distid:1234567812345678", "-out", "\(folder)/sig", "\(folder)/\(file)"])
                #expect(signed.status == 0, "\(signed.standardError)")
                return try Data(contentsOf: URL(fileURLWithPath: "\(folder)/sig")).base64EncodedString()
            }
            let good = try sign("tx.json")
            let wrong = try sign("other.json")
            let before = try await ledgerRows(fixture)
            let b = fixture.key("b-operator")
            let refusals: [(String, String, HTTPResponse.Status, String)] = [
                (b, #"{"org":"WH-B","keyVersion":1,"signature":"\#(wrong)"}"#, .conflict, "signature"),
                (b, #"{"org":"WH-B","keyVersion":2,"signature":"\#(good)"}"#, .conflict, "keyVersion"),
                (b, #"{"org":"WH-A","keyVersion":1,"signature":"\#(good)"}"#, .forbidden, "org"),
                (fixture.key("b-integration"), #"{"org":"WH-A","keyVersion":1,"signature":"\#(good)"}"#, .forbidden, "org"),
                (b, #"{"org":"WH-B","keyVersion":1,"signature":"bm90IGEgc2lnbmF0dXJl"}"#, .conflict, "signature"),  // base64, not DER
                (b, #"{"org":"WH-B","keyVersion":1,"signature":"not base64!"}"#, .unprocessableContent, "signature"),
                (b, #"{"org":"WH-B","keyVersion":1,"signature":"\#(good)","extra":1}"#, .unprocessableContent, "extra"),
                (fixture.key("qa-supervisor"), #"{"org":"QA","keyVersion":1,"signature":"\#(good)"}"#, .forbidden, ""),
            ]
            for (key, body, status, field) in refusals {
                let reply = try await api.post("/v1/ledger/transactions/\(hash)/endorsements", key: key, body)
                #expect(reply.status == status, "\(body) → \(reply.text)")
                #expect(field.isEmpty || json(reply)["field"] as? String == field, "\(body) → \(reply.text)")
            }
            #expect(try await ledgerRows(fixture) == before)
            let endorsed = try await api.post("/v1/ledger/transactions/\(hash)/endorsements", key: b, #"{"org":"WH-B","keyVersion":1,"signature":"\#(good)"}"#)
            #expect(endorsed.status == .ok, "\(endorsed.text)")
            #expect(json(endorsed)["status"] as? String == "pending")
            // Replayed: refused, nothing written.
            let afterEndorsement = try await ledgerRows(fixture)
            #expect(try await api.post("/v1/ledger/transactions/\(hash)/endorsements", key: b, #"{"org":"WH-B","keyVersion":1,"signature":"\#(good)"}"#).status == .conflict)
            #expect(try await ledgerRows(fixture) == afterEndorsement)
            // The sender's approval completes AND(receiver, sender).
            let approved = try await api.post("/v1/ledger/transactions/\(hash)/approve", key: fixture.key("a-operator"))
            #expect(json(approved)["status"] as? String == "committed", "\(approved.text)")
            // The stored signature is the one OpenSSL made, and OpenSSL verifies it.
            let stored = try #require((json(approved)["endorsements"] as? [[String: Any]])?.first { $0["org"] as? String == "WH-B" }?["signature"] as? String)
            #expect(stored == good)
            try Data(publicKey.standardOutput).write(to: URL(fileURLWithPath: "\(folder)/wh-b.pub"))
            _ = try sign("tx.json")
            func verify(_ file: String) throws -> Int32 {
                try runProcess(
                    "openssl",
                    ["dgst", "-sm3", "-verify", "\(folder)/wh-b.pub", "-sigopt", "distid:1234567812345678", "-signature", "\(folder)/sig", "\(folder)/\(file)"]
                ).status
            }
            #expect(try verify("other.json") != 0)
            let verifiedGood = try verify("tx.json")
            #expect(verifiedGood == 0)
        }
        // WH-B's laptop is stolen: its key is revoked, and a signature it makes of the next
        // receipt — valid over its bytes, by the key valid at the receipt's time — is refused.
        try await withAPI { api in
            let (id, _) = try await dispatchedTransfer(api, fixture)
            let received = try await api.post("/v1/transfers/\(id)/receive", key: fixture.key("b-operator"), #"{"freightFen":9000,"insuranceFen":100}"#)
            let evidence = try #require(json(received)["evidence"] as? [[String: Any]])
            let hash = try #require(evidence.first { $0["type"] as? String == "transfer.received" }?["hash"] as? String)
            _ = try await withClient(environment.ownerURL) { client in
                try await KeyAdmin(client: client, logger: testLogger).revoke(tenant: fixture.code, owner: .org(try OrgCode("WH-B")), version: 1, reason: "laptop stolen")
            }
            let canonical = try #require(json(try await api.get("/v1/ledger/transactions/\(hash)", key: fixture.key("b-operator")))["canonical"] as? String)
            try Data(canonical.utf8).write(to: URL(fileURLWithPath: "\(folder)/next.json"))
            let signed = try runProcess(
                "openssl", ["dgst", "-sm3", "-sign", "\(folder)/wh-b.pem", "-sigopt", "distid:1234567812345678", "-out", "\(folder)/next.sig", "\(folder)/next.json"])
            #expect(signed.status == 0, "\(signed.standardError)")
            let signature = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/next.sig")).base64EncodedString()
            let before = try await ledgerRows(fixture)
            let reply = try await api.post(
                "/v1/ledger/transactions/\(hash)/endorsements", key: fixture.key("b-operator"), #"{"org":"WH-B","keyVersion":1,"signature":"\#(signature)"}"#)
            #expect(reply.status == .conflict && json(reply)["field"] as? String == "keyVersion" && reply.text.contains("revoked"), "\(reply.text)")
            #expect(try await ledgerRows(fixture) == before)
        }
    }

    /// The sealer seals committed transactions only, each once, into blocks that chain and
    /// carry the tenant's whole log; a second sealer running at the same time seals nothing twice.
    @Test func theSealerSealsCommittedTransactionsIntoChainedBlocks() async throws {
        let fixture = try await TenantFixture.create(label: "sealer", ledger: TenantFixture.ledger)
        let environment = try await SharedDatabase.environment()
        let (committed, pendingHash) = try await withAPI { api -> ([String], String) in
            var committed: [String] = []
            for _ in 0..<3 {
                let (_, hash) = try await dispatchedTransfer(api, fixture)
                #expect(try await api.post("/v1/ledger/transactions/\(hash)/approve", key: fixture.key("north-operator")).status == .ok)
                committed.append(hash)
            }
            return (committed, try await dispatchedTransfer(api, fixture).hash)
        }
        let masterKey = try TestMasterKey.shared().key
        // Committed besides the three dispatches: the key registrations tenant apply wrote, which HQ endorsed.
        let allCommitted = try await withConnection(environment.ownerURL) { connection in
            try await connection.query(
                "SELECT encode(tx_hash, 'hex') FROM ledger_commits WHERE tenant_id = \(fixture.tenantID.rawValue)", logger: testLogger
            ).collect().map { try $0.decode(String.self) }
        }
        #expect(Set(committed).isSubset(of: allCommitted) && allCommitted.count > committed.count)
        let blocks = (allCommitted.count + 1) / 2
        try await withClient(environment.appURL) { client in
            let database = Database(client: client, maximumConnections: 4, metricsFactory: NOOPMetricsHandler.instance, masterKey: masterKey)
            // Not due yet: fewer than a full block, younger than a minute.
            let early = try await database.sealDueBlocks(rule: SealingRule(maxTransactions: 1000, maxAge: .seconds(60)), masterKey: masterKey, logger: testLogger, onlyTenant: fixture.code).blocks
            #expect(early.filter { $0.tenant == fixture.code }.isEmpty)
            // Two sealers at once, blocks of two: n committed transactions make ⌈n/2⌉ blocks, each once.
            let rule = SealingRule(maxTransactions: 2, maxAge: .milliseconds(0))
            async let first = database.sealDueBlocks(rule: rule, masterKey: masterKey, logger: testLogger, onlyTenant: fixture.code)
            async let second = database.sealDueBlocks(rule: rule, masterKey: masterKey, logger: testLogger, onlyTenant: fixture.code)
            let sealed = (try await first.blocks + second.blocks).filter { $0.tenant == fixture.code }.sorted { $0.header.number < $1.header.number }
            #expect(sealed.map(\.header.number) == (0..<Int64(blocks)).map { $0 })
            #expect(sealed.map(\.header.transactionCount).reduce(0, +) == Int64(allCommitted.count))
            #expect(sealed.last?.header.logSize == Int64(allCommitted.count))
            for (previous, next) in zip(sealed, sealed.dropFirst()) { #expect(next.header.previousHash == previous.blockHash) }
        }
        let stored = try await withConnection(environment.ownerURL) { connection in
            var rows: [(Int64, [UInt8], [UInt8], [UInt8], Int32)] = []
            for try await row in try await connection.query(
                "SELECT number, header, block_hash, signature, orderer_key_version FROM ledger_blocks WHERE tenant_id = \(fixture.tenantID.rawValue) ORDER BY number",
                logger: testLogger)
            {
                let (number, header, hash, signature, version) = try row.decode((Int64, ByteBuffer, ByteBuffer, ByteBuffer, Int32).self)
                rows.append((number, Array(header.readableBytesView), Array(hash.readableBytesView), Array(signature.readableBytesView), version))
            }
            var sealedHashes: [String] = []
            for try await row in try await connection.query(
                "SELECT tx_hash FROM ledger_block_entries WHERE tenant_id = \(fixture.tenantID.rawValue) ORDER BY log_index", logger: testLogger)
            {
                sealedHashes.append(try LedgerHash(Array(try row.decode(ByteBuffer.self).readableBytesView)).hex)
            }
            return (rows, sealedHashes)
        }
        #expect(Set(stored.1) == Set(allCommitted) && stored.1.count == allCommitted.count && !stored.1.contains(pendingHash))
        let orderer = try await withClient(environment.ownerURL) { client in
            try await KeyAdmin(client: client, logger: testLogger).list(tenant: fixture.code).first { $0.owner == .orderer }
        }
        var log = MerkleFrontier()
        var previous: BlockHeader?
        for (number, headerBytes, hash, signature, version) in stored.0 {
            let header = try BlockHeader(canonicalBytes: headerBytes)
            #expect(header.number == number && header.hash.bytes == hash && header.tenant == fixture.code)
            let listed = stored.1[Int(header.logSize - header.transactionCount)..<Int(header.logSize)].map { try! LedgerHash(hex: $0) }
            let expected = try BlockHeader.seal(tenant: fixture.code, after: previous, transactions: listed, log: &log, sealedAt: header.sealedAt)
            #expect(expected == header)
            let key = try #require(orderer?.versions.first { $0.version == version })
            #expect(try key.publicKey.isValidSignature(try SM2Signature(derRepresentation: signature), for: headerBytes))
            previous = header
        }
        // Nothing is left to seal but the pending transaction, which is not sealed.
        try await withClient(environment.appURL) { client in
            let database = Database(client: client, maximumConnections: 2, metricsFactory: NOOPMetricsHandler.instance, masterKey: masterKey)
            let again = try await database.sealDueBlocks(rule: SealingRule(maxTransactions: 2, maxAge: .milliseconds(0)), masterKey: masterKey, logger: testLogger, onlyTenant: fixture.code).blocks
            #expect(again.filter { $0.tenant == fixture.code }.isEmpty)
        }
    }

    /// The ledger is append-only for the application role too: it has no grant to change a row,
    /// and a block cannot be written outside the sealer's context.
    @Test func theAppRoleCannotChangeTheLedgerInRawSQL() async throws {
        let fixture = try await TenantFixture.create(label: "ledger-sql", ledger: TenantFixture.ledger)
        try await withAPI { api in _ = try await dispatchedTransfer(api, fixture) }
        let environment = try await SharedDatabase.environment()
        let before = try await ledgerRows(fixture)
        let key = APIKey(fixture.key("a-operator"))!
        for statement in [
            "UPDATE ledger_transactions SET at = now()", "DELETE FROM ledger_transactions", "TRUNCATE ledger_transactions",
            "UPDATE ledger_endorsements SET key_version = 2", "DELETE FROM ledger_endorsements",
            "INSERT INTO ledger_blocks (tenant_id, number, header, block_hash, prev_hash, tx_count, log_size, sealed_at, orderer_key_version, signature) "
                + "SELECT tenant_id, 0, '\\x7b7d', sha256('x'), sha256('y'), 1, 1, now(), 1, sha256('z') FROM ledger_transactions",
            // An endorsement for the other org the transaction names (NORTH), by WH-A's principal.
            "INSERT INTO ledger_endorsements (tenant_id, tx_hash, org_id, org_code, key_version, signature, principal_id) "
                + "SELECT t.tenant_id, t.tx_hash, o.org_id, 'NORTH', 1, sha256('s'), (SELECT principal_id FROM app_poster()) FROM ledger_transactions t "
                + "CROSS JOIN LATERAL unnest(t.endorser_org_ids) AS o (org_id) WHERE o.org_id <> (SELECT org_id FROM app_poster())",
            "INSERT INTO ledger_commits (tenant_id, tx_hash) SELECT tenant_id, sha256('nothing') FROM ledger_transactions",
        ] {
            let error = try await withConnection(environment.appURL) { connection -> String? in
                try await connection.query("BEGIN", logger: testLogger)
                _ = try await connection.query("SELECT 1 FROM app_begin(\(key.tenant.rawValue), \(ByteBuffer(bytes: key.hash)))", logger: testLogger).collect()
                do {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: testLogger)
                    try await connection.query("COMMIT", logger: testLogger)
                    return nil
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: testLogger)
                    return String(reflecting: error)
                }
            }
            #expect(error != nil, "\(statement) committed")
        }
        #expect(try await ledgerRows(fixture) == before)
        // Not even the owner updates or deletes a ledger row.
        let ownerError = try await withConnection(environment.ownerURL) { connection -> String? in
            do {
                try await connection.query("DELETE FROM ledger_transactions WHERE tenant_id = \(fixture.tenantID.rawValue)", logger: testLogger)
                return nil
            } catch { return String(reflecting: error) }
        }
        #expect(ownerError?.contains("append-only") == true, "\(ownerError ?? "deleted")")
    }
}
