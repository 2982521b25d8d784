import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import OrgMatrixCore
import OrgMatrixTestSupport
import PostgresNIO
import SMCrypto
import Testing

/// `GET /v1/ledger/verify`: who may ask (401, then 403 before the query is even read), the
/// report's shape, and failures paged without one left out.
@Suite struct LedgerVerifyTests {
    typealias API = IsolationTests.API


    @Test func hqAndItsAuditorGetTheReportAndEveryOtherRoleIsRefusedFirst() async throws {
        let scenario = try await LedgerScenario.make(label: "verify-api")
        let fixture = scenario.fixture
        try await withAPI { api in
            #expect(try await api.get("/v1/ledger/verify", key: nil).status == .unauthorized)
            for principal in ["a-operator", "north-operator", "qa-supervisor", "b-integration"] {
                // Forbidden whatever the query says.
                for path in ["/v1/ledger/verify", "/v1/ledger/verify?limit=0&cursor=x"] {
                    let reply = try await api.get(path, key: fixture.key(principal))
                    #expect(reply.status == .forbidden, "\(principal) \(path): \(reply.text)")
                    #expect(json(reply)["type"] as? String == "urn:orgmatrix:problem:forbidden")
                }
            }
            for principal in ["hq-admin", "hq-auditor"] {
                let reply = try await api.get("/v1/ledger/verify", key: fixture.key(principal))
                #expect(reply.status == .ok, "\(reply.text)")
                let report = json(reply)
                #expect(report["tenant"] as? String == fixture.code.rawValue)
                #expect(
                    report["clean"] as? Bool == true && report["failureCount"] as? Int == 0
                        && report["truncated"] as? Bool == false)
                #expect((report["failures"] as? [Any])?.isEmpty == true && report["nextCursor"] is NSNull, "\(reply.text)")
                let counts = try #require(report["counts"] as? [String: Int])
                #expect(
                    counts == [
                        "keys": 7, "transactions": LedgerScenario.transactions, "committed": LedgerScenario.committedTransactions, "pending": 1,
                        "disputed": 1, "endorsementsChecked": LedgerScenario.endorsements,
                        "blocks": counts["blocks"] ?? -1, "sealedTransactions": LedgerScenario.committedTransactions, "transfersReconciled": 4,
                    ], "\(counts)")
                #expect((counts["blocks"] ?? 0) >= 5)
            }
            for query in ["limit=0", "limit=1001", "cursor=-1", "cursor=abc"] {
                let reply = try await api.get("/v1/ledger/verify?\(query)", key: fixture.key("hq-auditor"))
                #expect(reply.status == .unprocessableContent, "\(query): \(reply.text)")
                #expect(json(reply)["field"] as? String == String(query.prefix { $0 != "=" }))
            }
        }
    }

    @Test func failuresComeAPageAtATimeAndNoneIsLeftOut() async throws {
        let scenario = try await LedgerScenario.make(label: "verify-pages")
        // NORTH's public key replaced: its key event and both dispatches it endorsed fail (8 failures, LedgerTamperTests).
        let replacement = SM2PrivateKey.generate().publicKey.derRepresentation
        try await scenario.tamper(disabling: ["org_keys"]) { connection, tenant in
            try await connection.query(
                "UPDATE org_keys SET public_key = \(ByteBuffer(bytes: replacement)) WHERE tenant_id = \(tenant) AND owner = 'NORTH'",
                logger: testLogger)
        }
        try await withAPI { api in
            let key = scenario.fixture.key("hq-admin")
            let whole = json(try await api.get("/v1/ledger/verify?limit=1000", key: key))
            let all = try #require(whole["failures"] as? [[String: Any]])
            #expect(whole["clean"] as? Bool == false && whole["failureCount"] as? Int == all.count && all.count >= 8, "\(whole)")
            #expect(whole["truncated"] as? Bool == false && whole["nextCursor"] is NSNull)
            // Every failure has its six members, the place null when it is not about one.
            for failure in all {
                #expect(Set(failure.keys) == ["kind", "block", "transaction", "field", "expected", "found"], "\(failure)")
            }
            #expect(
                all.contains {
                    $0["kind"] as? String == "key-not-registered" && $0["block"] is NSNull && $0["transaction"] is NSNull
                })
            var paged: [[String: Any]] = []
            var cursor: String?
            repeat {
                let page = json(try await api.get("/v1/ledger/verify?limit=3" + (cursor.map { "&cursor=\($0)" } ?? ""), key: key))
                let failures = try #require(page["failures"] as? [[String: Any]])
                paged += failures
                cursor = page["nextCursor"] as? String
                #expect(page["truncated"] as? Bool == (cursor != nil))
                #expect(page["failureCount"] as? Int == all.count)
            } while cursor != nil && paged.count <= all.count
            let text = { (failures: [[String: Any]]) in
                failures.map {
                    String(decoding: try! JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self)
                }
            }
            #expect(text(paged) == text(all))
            // Past the end: nothing, and nothing more to ask for.
            let beyond = json(try await api.get("/v1/ledger/verify?cursor=\(all.count + 5)", key: key))
            #expect((beyond["failures"] as? [Any])?.isEmpty == true && beyond["truncated"] as? Bool == false)
        }
    }
}
