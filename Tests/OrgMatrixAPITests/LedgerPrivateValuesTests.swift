import Foundation
import HTTPTypes
import Metrics
import OrgMatrixCore
import OrgMatrixStore
import OrgMatrixTestSupport
import PostgresNIO
import SMCrypto
import Synchronization
import Testing

/// Private values through the API (docs/LEDGER.md, "Private fields"): a dispatch's carrier name
/// and contract price go into its ledger transaction as salted SM3 commitments only, are stored
/// sealed, and are shown to the transfer's parties and HQ's administrators, never to an auditor
/// or a supervisor; a bad value is refused naming its field, and nothing is written.
@Suite struct LedgerPrivateValuesTests {
    typealias API = IsolationTests.API

    private static let carrier = #"{"carrier":{"name":"顺丰速运 (SF Express)","contractPriceFen":180000}}"#

    private func privateRows(_ fixture: TenantFixture) async throws -> [(field: String, sealed: [UInt8])] {
        let environment = try await SharedDatabase.environment()
        return try await withConnection(environment.ownerURL) { connection in
            try await connection.query(
                "SELECT field, sealed FROM ledger_private_values WHERE tenant_id = \(fixture.tenantID.rawValue) ORDER BY field", logger: testLogger
            ).collect().map { row in
                let (field, sealed) = try row.decode((String, ByteBuffer).self)
                return (field, Array(sealed.readableBytesView))
            }
        }
    }

    @Test func aCarriersContractPriceIsCommittedSealedAndShownToItsPartiesOnly() async throws {
        let fixture = try await TenantFixture.create(label: "private", ledger: TenantFixture.ledger)
        try await withAPI { api in
            let id = try await LedgerTests.createdTransfer(api, fixture)
            let dispatch = "/v1/transfers/\(id)/dispatch"

            // Authorization before validation: a role that may not post gets 403 whatever the body.
            for principal in ["hq-auditor", "qa-supervisor"] {
                let refused = try await api.post(dispatch, key: fixture.key(principal), #"{"carrier":{"contractPriceFen":-1}}"#)
                #expect(refused.status == .forbidden, "\(principal): \(refused.text)")
            }
            // A bad value is refused naming its field; the transfer stays created, no value is stored.
            for (body, field) in [
                (#"{"carrier":{}}"#, "carrier"), (#"{"carrier":{"contractPriceFen":-1}}"#, "carrier.contractPriceFen"),
                (#"{"carrier":{"contractPriceFen":1000000000000001}}"#, "carrier.contractPriceFen"),
                (#"{"carrier":{"name":""}}"#, "carrier.name"), (#"{"carrier":{"name":"a\u0007b"}}"#, "carrier.name"),
                (#"{"carrier":{"name":"\#(String(repeating: "运", count: 201))"}}"#, "carrier.name"),
                (#"{"carrier":{"name":"x","tip":1}}"#, "carrier.tip"), (#"{"carrier":{"name":7}}"#, "carrier.name"),
            ] {
                let refused = try await api.post(dispatch, key: fixture.key("a-operator"), body)
                #expect(refused.status == .unprocessableContent && json(refused)["field"] as? String == field, "\(body): \(refused.text)")
            }
            #expect(json(try await api.get("/v1/transfers/\(id)", key: fixture.key("a-operator")))["status"] as? String == "created")
            #expect(try await privateRows(fixture).isEmpty)

            let idempotency: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "ship-\(id)"]
            let dispatched = try await api.call(.post, dispatch, key: fixture.key("a-operator"), json: Self.carrier, headers: idempotency)
            #expect(dispatched.status == .ok, "\(dispatched.text)")
            let replayed = try await api.call(.post, dispatch, key: fixture.key("a-operator"), json: Self.carrier, headers: idempotency)
            #expect(replayed.status == .ok && replayed.text == dispatched.text, "\(replayed.text)")
            // The idempotency record keeps a keyed digest of the body, not SM3 of it, which a
            // reader of the table could match against guessed prices.
            let plainDigest = Hex.encode(SM3.hash(Array("POST \(dispatch)\n".utf8) + Array(Self.carrier.utf8)))
            let stored = try await withConnection(try await SharedDatabase.environment().ownerURL) { connection in
                try await connection.query(
                    "SELECT request_hash FROM idempotency_keys WHERE tenant_id = \(fixture.tenantID.rawValue) AND idempotency_key = \("ship-\(id)")",
                    logger: testLogger
                ).collect().first!.decode(String.self)
            }
            #expect(stored.count == 64 && stored != plainDigest)
            let evidence = try #require(json(dispatched)["evidence"] as? [[String: Any]])
            let hash = try #require(evidence.first?["hash"] as? String)

            // The signed bytes hold commitments, not the values.
            let canonical = try #require(json(try await api.get("/v1/ledger/transactions/\(hash)", key: fixture.key("hq-auditor")))["canonical"] as? String)
            #expect(!canonical.contains("180000") && !canonical.contains("顺丰"), "\(canonical)")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(canonical.utf8)) as? [String: Any])
            let commitments = try #require(document["private"] as? [String: String])
            #expect(Set(commitments.keys) == ["carrier_name", "carrier_contract_price_fen"])
            // Sealed at rest: neither value's bytes are in any stored row.
            let rows = try await privateRows(fixture)
            #expect(rows.map(\.field) == ["carrier_contract_price_fen", "carrier_name"])
            for row in rows {
                #expect(row.sealed.first == 0x01)
                #expect(!Data(row.sealed).contains(Data("180000".utf8)) && !Data(row.sealed).contains(Data("顺丰".utf8)))
            }

            // The parties (sender, receiver, the sender's settlement org, an integration of the
            // receiver) and HQ's administrator read the values; each salt makes its commitment.
            let expected: [String: (value: Any, canonical: String)] = [
                "carrier_name": ("顺丰速运 (SF Express)", #""顺丰速运 (SF Express)""#), "carrier_contract_price_fen": (180000, "180000"),
            ]
            var salts: Set<String> = []
            for principal in ["a-operator", "b-operator", "north-operator", "b-integration", "hq-admin"] {
                let reply = try await api.get("/v1/ledger/transactions/\(hash)/private", key: fixture.key(principal))
                #expect(reply.status == .ok, "\(principal): \(reply.text)")
                let body = json(reply)
                #expect(body["transaction"] as? String == hash && body["type"] as? String == "transfer.dispatched")
                let values = try #require(body["values"] as? [[String: Any]])
                #expect(values.count == 2, "\(principal): \(reply.text)")
                for value in values {
                    let field = try #require(value["field"] as? String)
                    let want = try #require(expected[field])
                    #expect(String(describing: value["value"]!) == String(describing: want.value), "\(field): \(reply.text)")
                    let salt = try Hex.decode(try #require(value["salt"] as? String))
                    #expect(salt.count == 16)
                    salts.insert(Hex.encode(salt))
                    let commitment = Hex.encode(SM3.hash(salt + Array(want.canonical.utf8)))
                    #expect(value["commitment"] as? String == commitment && commitments[field] == commitment, "\(field)")
                }
            }
            #expect(salts.count == 2, "each value has its own salt, the same for every reader")

            // An auditor or a supervisor is refused; an org the transfer is not about sees no transaction.
            for principal in ["hq-auditor", "qa-supervisor"] {
                let refused = try await api.get("/v1/ledger/transactions/\(hash)/private", key: fixture.key(principal))
                #expect(refused.status == .forbidden, "\(principal): \(refused.text)")
            }
            #expect(try await api.get("/v1/ledger/transactions/\(hash)/private", key: fixture.key("c-operator")).status == .notFound)

            // A dispatch without a body commits to nothing and has no values.
            let plain = try await LedgerTests.createdTransfer(api, fixture)
            let bare = try await api.call(.post, "/v1/transfers/\(plain)/dispatch", key: fixture.key("a-operator"))
            #expect(bare.status == .ok, "\(bare.text)")
            let bareHash = try #require((json(bare)["evidence"] as? [[String: Any]])?.first?["hash"] as? String)
            let none = json(try await api.get("/v1/ledger/transactions/\(bareHash)/private", key: fixture.key("a-operator")))
            #expect((none["values"] as? [Any])?.isEmpty == true, "\(none)")
            let bareCanonical = json(try await api.get("/v1/ledger/transactions/\(bareHash)", key: fixture.key("a-operator")))["canonical"] as? String
            #expect(bareCanonical?.contains("\"private\"") == false)

            // Each reading that showed values is in the audit log, which HQ's auditor reads: by
            // whom, of which transaction, which fields. The refusals and the reading of a
            // transaction without values showed none and left none.
            var reads: [[String: Any]] = []
            var cursor: String?
            repeat {
                let page = json(try await api.get("/v1/audit-events?limit=100" + (cursor.map { "&cursor=\($0)" } ?? ""), key: fixture.key("hq-auditor")))
                reads += (page["items"] as? [[String: Any]] ?? []).filter { $0["action"] as? String == "ledger.private_values.read" }
                cursor = page["nextCursor"] as? String
            } while cursor != nil
            #expect(
                reads.map { $0["actor"] as? String ?? "?" }.sorted() == ["a-operator", "b-integration", "b-operator", "hq-admin", "north-operator"],
                "\(reads)")
            #expect(reads.allSatisfy { $0["subject"] as? String == hash && ($0["detail"] as? String)?.contains("carrier_contract_price_fen,carrier_name") == true })

            // The database keeps the values to those readers and to the transaction itself.
            let hashHex = "'\\x\(hash)'::bytea"
            for principal in ["hq-auditor", "qa-supervisor", "c-operator"] {
                let seen = try await fixture.rawSQL(as: principal, "SELECT count(*)::int FROM ledger_private_values").get()
                #expect(try seen.first!.decode(Int.self) == 0, "\(principal)")
            }
            let operatorSees = try await fixture.rawSQL(as: "b-operator", "SELECT count(*)::int FROM ledger_private_values").get()
            #expect(try operatorSees.first!.decode(Int.self) == 2)
            let later = try await fixture.rawSQL(
                as: "a-operator",
                """
                INSERT INTO ledger_private_values (tenant_id, tx_hash, field, data_key_version, sealed, principal_id)
                SELECT tenant_id, tx_hash, 'carrier_name', 1, decode(repeat('01', 60), 'hex'), principal_id
                FROM ledger_transactions WHERE tx_hash = \(hashHex)
                """)
            guard case .failure(let refusal) = later else { Issue.record("a value written after its transaction was taken"); return }
            #expect(refusal.byARule && refusal.description.contains("written with the transaction"), "\(refusal)")
            let environment = try await SharedDatabase.environment()
            let rewrite = try await withConnection(environment.ownerURL) { connection in
                do {
                    try await connection.query(
                        "UPDATE ledger_private_values SET sealed = sealed WHERE tenant_id = \(fixture.tenantID.rawValue)", logger: testLogger)
                    return "updated"
                } catch { return (error as? PSQLError)?.sqlState ?? "\(error)" }
            }
            #expect(rewrite == "42501", "the owner updated a private value: \(rewrite)")

            // The database's operator, holding the master key, swaps the sealed price for another
            // that opens (triggers disabled for it): the parties are refused a value that is not
            // the one they signed, not shown it with a commitment recomputed from it.
            let masterKey = try TestMasterKey.shared().key
            try await withConnection(environment.ownerURL) { connection in
                let forged = try await Keys(tenantID: fixture.tenantID, connection: connection, logger: testLogger).sealPrivateValue(
                    try LedgerPrivateValue(field: .carrierContractPriceFen, value: .integer(1), salt: Array(repeating: 9, count: 16)),
                    transaction: try LedgerHash(hex: hash), masterKey: masterKey)
                try await connection.query("BEGIN", logger: testLogger)
                try await connection.query("ALTER TABLE ledger_private_values DISABLE TRIGGER append_only", logger: testLogger)
                try await connection.query(
                    """
                    UPDATE ledger_private_values SET sealed = \(ByteBuffer(bytes: forged.sealed))
                    WHERE tenant_id = \(fixture.tenantID.rawValue) AND tx_hash = \(ByteBuffer(bytes: try LedgerHash(hex: hash).bytes))
                      AND field = 'carrier_contract_price_fen'
                    """, logger: testLogger)
                try await connection.query("ALTER TABLE ledger_private_values ENABLE TRIGGER append_only", logger: testLogger)
                try await connection.query("COMMIT", logger: testLogger)
            }
            let swapped = try await api.get("/v1/ledger/transactions/\(hash)/private", key: fixture.key("a-operator"))
            #expect(
                swapped.status == .conflict && json(swapped)["field"] as? String == "private.carrier_contract_price_fen", "\(swapped.text)")
        }
    }

    /// Many values on one page of an export, every one opened: they are opened after the page's
    /// rows are read, so no query (the data key's) is sent while another still streams its rows.
    @Test func anExportOpensEveryValueOfAFullPage() async throws {
        let fixture = try await TenantFixture.create(label: "private-page", ledger: TenantFixture.ledger)
        let transfers = 150
        try await withAPI { api in
            _ = try await LedgerTests.createdTransfer(api, fixture)
            for _ in 0..<transfers {
                let created = json(try await api.post("/v1/transfers", key: fixture.key("a-operator"), #"{"to":"WH-B","lines":[{"item":"MILK-FRESH","quantity":"1"}]}"#))
                let id = try #require(created["id"] as? Int)
                let shipped = try await api.post("/v1/transfers/\(id)/dispatch", key: fixture.key("a-operator"), Self.carrier)
                #expect(shipped.status == .ok, "\(shipped.text)")
            }
        }
        let environment = try await SharedDatabase.environment()
        let masterKey = try TestMasterKey.shared().key
        let values = Mutex(0)
        try await withClient(environment.appURL, maximumConnections: 1) { client in
            try await Database(client: client, maximumConnections: 1, metricsFactory: NOOPMetricsHandler.instance).readLedger(
                key: APIKey(fixture.key("hq-admin"))!, requestID: "test", logger: testLogger, privateValuesUnder: masterKey
            ) { page in
                if case .transactions(let transactions) = page { values.withLock { $0 += transactions.reduce(0) { $0 + $1.privateValues.count } } }
            }
        }
        let counted = values.withLock { $0 }
        #expect(counted == 2 * transfers, "\(counted) values opened")
    }

    @Test func aTransactionThatCommitsToAValueIsNotCommittedWithoutIt() async throws {
        let fixture = try await TenantFixture.create(label: "private-missing", ledger: TenantFixture.ledger)
        let environment = try await SharedDatabase.environment()
        // Even the owner: a transaction naming a private field is refused at commit without its value.
        let canonical = #"{"body":{},"private":{"carrier_name":"\#(String(repeating: "ab", count: 32))"},"type":"pricing.rules_published"}"#
        let refusal = try await withConnection(environment.ownerURL) { connection -> String in
            do {
                try await connection.query("BEGIN", logger: testLogger)
                try await connection.query(
                    """
                    INSERT INTO ledger_transactions (tenant_id, tx_hash, tx_type, at, canonical, endorser_org_ids)
                    VALUES (\(fixture.tenantID.rawValue), sha256(convert_to(\(canonical), 'UTF8')), 'pricing.rules_published', now(),
                        convert_to(\(canonical), 'UTF8'), '{}')
                    """, logger: testLogger)
                try await connection.query("COMMIT", logger: testLogger)
                return "committed"
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: testLogger)
                return String(reflecting: error)
            }
        }
        #expect(refusal.contains("commits to private fields"), "\(refusal)")
    }
}
