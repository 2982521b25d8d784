import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OrgMatrixAPI
import OrgMatrixCore
import OrgMatrixStore
import OrgMatrixTestSupport
import Testing

/// The sandbox through the API: every principal × every org × every endpoint, two tenants with
/// the same org codes, forged fields, and writes that must change nothing.
@Suite struct IsolationTests {
    struct Reply: Sendable {
        let status: HTTPResponse.Status
        let body: [String: any Sendable]
        var text: String
    }

    /// Runs `body` against the real router on the shared database.
    private func withAPI(_ body: @escaping @Sendable (API) async throws -> Void) async throws {
        let environment = try await SharedDatabase.environment()
        try await makeApp(databaseURL: environment.appURL).test(.router) { client in try await body(API(client: client)) }
    }

    struct API: Sendable {
        let client: any TestClientProtocol

        func call(
            _ method: HTTPRequest.Method, _ path: String, key: String?, json: String? = nil, headers extra: HTTPFields = [:]
        ) async throws -> Reply {
            var headers: HTTPFields = extra
            if let key { headers[.authorization] = "Bearer \(key)" }
            if json != nil { headers[.contentType] = "application/json" }
            return try await client.execute(uri: path, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) }) {
                response in
                let text = String(buffer: response.body)
                let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
                return Reply(status: response.status, body: object.mapValues { "\($0)" }, text: text)
            }
        }

        func get(_ path: String, key: String?) async throws -> Reply { try await call(.get, path, key: key) }
        func post(_ path: String, key: String?, _ json: String = "{}") async throws -> Reply {
            try await call(.post, path, key: key, json: json)
        }
    }

    /// A lane lists its carrier's code, as it lists its far end's, even to a principal whose
    /// sandbox holds neither (WH-B sees the lane WH-A → WH-B and that WH-C carries on it).
    @Test func aLaneShowsItsCarrierEvenOutsideTheReadersSandbox() async throws {
        let environment = try await SharedDatabase.environment()
        let code = try TenantCode("t-" + UUID().uuidString.prefix(12).lowercased())
        let plain = TenantFixture.file(code: code, label: "carrier")
        let relations = plain.relations.map { entry in
            entry.kind == "transfers_with" && entry.from == "WH-A"
                ? TenantFile.RelationEntry(
                    kind: entry.kind, from: entry.from, to: entry.to, purpose: nil, distanceKm: entry.distanceKm, leadTimeHours: entry.leadTimeHours,
                    markupBasisPoints: entry.markupBasisPoints, validFrom: nil, carrier: "WH-C")
                : entry
        }
        let file = TenantFile(tenant: plain.tenant, orgs: plain.orgs, relations: relations, principals: plain.principals, pricing: plain.pricing)
        let outcome = try await withClient(environment.ownerURL) { client in
            try await TenantAdmin(client: client, logger: testLogger).apply(try TenantDefinition.validate(file), dryRun: false)
        }
        try await withAPI { api in
            for principal in ["b-operator", "hq-admin"] {
                let list = try await api.get("/v1/relations", key: outcome.keys[principal]!)
                #expect(list.status == .ok)
                let items = (try JSONSerialization.jsonObject(with: Data(list.text.utf8)) as! [String: Any])["items"] as! [[String: Any]]
                let lanes = items.filter { $0["kind"] as? String == "transfers_with" }
                let carried = lanes.filter { $0["from"] as? String == "WH-A" }
                #expect(carried.count == 1 && carried.first?["carrier"] as? String == "WH-C", "\(principal): \(list.text)")
                #expect(lanes.filter { $0["from"] as? String != "WH-A" }.allSatisfy { $0["carrier"] == nil }, "\(principal): \(list.text)")
            }
        }
    }

    @Test func everyPrincipalReadsExactlyItsSandboxThroughEveryReadEndpoint() async throws {
        let mine = try await TenantFixture.create(label: "mine")
        let theirs = try await TenantFixture.create(label: "theirs")
        try await withAPI { api in
            for (fixture, label) in [(mine, "mine"), (theirs, "theirs")] {
                for principal in TenantFixture.principals {
                    let key = fixture.key(principal.name)
                    let me = try await api.get("/v1/me", key: key)
                    #expect(me.status == .ok)
                    #expect(me.body["actingOrg"] as? String == principal.org)
                    let list = try await api.get("/v1/orgs", key: key)
                    let items = try JSONSerialization.jsonObject(with: Data(list.text.utf8)) as! [String: Any]
                    let orgs = (items["items"] as! [[String: Any]])
                    #expect(Set(orgs.map { $0["code"] as! String }) == principal.visible, "\(label) \(principal.name)")
                    #expect(orgs.allSatisfy { ($0["name"] as! String).hasPrefix(label + " ") })
                    for code in TenantFixture.orgCodes {
                        let expected: HTTPResponse.Status = principal.visible.contains(code) ? .ok : .notFound
                        for path in ["/v1/orgs/\(code)", "/v1/orgs/\(code)/visible", "/v1/relations?org=\(code)"] {
                            let reply = try await api.get(path, key: key)
                            #expect(reply.status == expected, "\(label) \(principal.name) GET \(path)")
                            if expected == .ok, path == "/v1/orgs/\(code)" {
                                #expect((reply.body["name"] as? String)?.hasPrefix(label + " ") == true)
                            }
                        }
                    }
                    let audit = try await api.get("/v1/audit-events", key: key)
                    #expect(audit.status == (["hq_admin", "auditor"].contains(principal.role) ? .ok : .forbidden), "\(principal.name)")
                }
            }
        }
    }

    @Test func readOnlyAndOperatorRolesCannotAdministerAndChangeNothing() async throws {
        let fixture = try await TenantFixture.create()
        let before = try await fixture.rowCounts()
        try await withAPI { api in
            let relations = try await api.get("/v1/relations", key: fixture.key("hq-admin"))
            let relationID = (try JSONSerialization.jsonObject(with: Data(relations.text.utf8)) as! [String: Any])["items"]
                .map { ($0 as! [[String: Any]])[0]["id"] as! Int }!
            let writes: [(String, String)] = [
                ("/v1/orgs", #"{"code":"ROGUE","name":"x","kind":"virtual","roles":["settlement"],"reportsTo":"HQ"}"#),
                ("/v1/relations", #"{"kind":"supervises","from":"QA","to":"WH-B"}"#),
                ("/v1/relations/\(relationID)/end", "{}"),
                ("/v1/principals", #"{"name":"rogue","org":"WH-B","role":"org_operator"}"#),
                ("/v1/principals/1/revoke", "{}"),
            ]
            for principal in TenantFixture.principals where principal.role != "hq_admin" {
                for (path, json) in writes {
                    let reply = try await api.post(path, key: fixture.key(principal.name), json)
                    #expect(reply.status == .forbidden, "\(principal.name) POST \(path): \(reply.text)")
                }
            }
        }
        #expect(try await fixture.rowCounts() == before)
    }

    @Test func anotherTenantsRowsAndForgedFieldsGetNothing() async throws {
        let mine = try await TenantFixture.create(label: "mine")
        let theirs = try await TenantFixture.create(label: "theirs")
        try await withAPI { api in
            // An org only the other tenant has.
            let created = try await api.post(
                "/v1/orgs", key: theirs.key("hq-admin"),
                #"{"code":"WH-X","name":"theirs WH-X","kind":"physical","roles":["fulfilment"],"reportsTo":"HQ","location":{"province":"130000","city":"130100","county":"130102","latitude":"38.0","longitude":"114.5"}}"#
            )
            #expect(created.status == .created, "\(created.text)")
            let theirRelations = try await api.get("/v1/relations", key: theirs.key("hq-admin"))
            let theirRelationID = ((try JSONSerialization.jsonObject(with: Data(theirRelations.text.utf8)) as! [String: Any])["items"]
                as! [[String: Any]]).last!["id"] as! Int
            let theirPrincipal = try await api.post(
                "/v1/principals", key: theirs.key("hq-admin"), #"{"name":"x-operator","org":"WH-X","role":"org_operator"}"#)
            #expect(theirPrincipal.status == .created)
            let theirPrincipalID = try #require(
                ((try JSONSerialization.jsonObject(with: Data(theirPrincipal.text.utf8)) as! [String: Any])["principal"]
                    as? [String: Any])?["id"] as? Int)

            let before = (try await mine.rowCounts(), try await theirs.rowCounts())
            let key = mine.key("hq-admin")
            #expect(try await api.get("/v1/orgs/WH-X", key: key).status == .notFound)
            #expect(try await api.get("/v1/orgs/WH-X/visible", key: key).status == .notFound)
            #expect(try await api.get("/v1/relations?org=WH-X", key: key).status == .notFound)
            #expect(try await api.post("/v1/relations/\(theirRelationID)/end", key: key).status == .notFound)
            #expect(try await api.post("/v1/principals/\(theirPrincipalID)/revoke", key: key).status == .notFound)
            // An org named in a body is looked up in the sandbox like one in a path: another
            // tenant's does not exist (404), the same answer as for a code nobody has.
            let relation = try await api.post("/v1/relations", key: key, #"{"kind":"supervises","from":"QA","to":"WH-X"}"#)
            #expect(relation.status == .notFound)
            #expect(relation.body["field"] as? String == "to")
            let principal = try await api.post("/v1/principals", key: key, #"{"name":"spy","org":"WH-X","role":"org_operator"}"#)
            #expect(principal.status == .notFound)
            #expect(principal.body["field"] as? String == "org")
            // Tenant and org named in the body or the query string are not the principal's to choose:
            // a body field the request does not have is refused, naming it; the query is ignored.
            let newOrg = #""code":"MINE-NEW","name":"mine new","kind":"virtual","roles":["settlement"],"reportsTo":"HQ""#
            let forgedBody = try await api.post(
                "/v1/orgs", key: key, #"{"tenant":"\#(theirs.code)","tenantId":"\#(theirs.tenantID)",\#(newOrg)}"#)
            #expect(forgedBody.status == .unprocessableContent)
            #expect(forgedBody.body["field"] as? String == "tenant")
            #expect(try await mine.rowCounts() == before.0)
            let forged = try await api.post("/v1/orgs?tenant=\(theirs.code)&tenantId=\(theirs.tenantID)", key: key, "{\(newOrg)}")
            #expect(forged.status == .created)
            #expect(try await api.get("/v1/orgs/MINE-NEW", key: theirs.key("hq-admin")).status == .notFound)
            #expect(try await api.get("/v1/orgs/MINE-NEW", key: key).status == .ok)
            let after = (try await mine.rowCounts(), try await theirs.rowCounts())
            #expect(after.1 == before.1)
            #expect(after.0["orgs"] == before.0["orgs"]! + 1)
        }
    }

    @Test func missingMalformedRevokedAndForeignKeysAre401() async throws {
        let fixture = try await TenantFixture.create()
        let other = try await TenantFixture.create()
        try await withAPI { api in
            let key = fixture.key("b-operator")
            let secret = key.split(separator: "_").last!
            for presented in [nil, "", "omx_", "Basic abc", "omx_\(fixture.code)_\(secret.dropLast())", "omx_\(other.code)_\(secret)"] {
                let reply = try await api.get("/v1/me", key: presented)
                #expect(reply.status == .unauthorized, "\(presented ?? "none")")
                #expect(reply.body["type"] as? String == "urn:orgmatrix:problem:unauthenticated")
            }
            let principals = try await api.call(.get, "/v1/me", key: key)
            #expect(principals.status == .ok)
            // HQ revokes b-operator; its key stops working at once.
            let created = try await api.post("/v1/principals", key: fixture.key("hq-admin"), #"{"name":"temp","org":"WH-B","role":"org_operator"}"#)
            let body = try JSONSerialization.jsonObject(with: Data(created.text.utf8)) as! [String: Any]
            let newKey = body["key"] as! String
            let id = (body["principal"] as! [String: Any])["id"] as! Int
            #expect(try await api.get("/v1/me", key: newKey).status == .ok)
            #expect(try await api.post("/v1/principals/\(id)/revoke", key: fixture.key("hq-admin")).status == .ok)
            #expect(try await api.get("/v1/me", key: newKey).status == .unauthorized)
            #expect(try await api.post("/v1/principals/\(id)/revoke", key: fixture.key("hq-admin")).status == .conflict)
        }
    }

    @Test func hqAdministersTheMatrixWithValidationAndAnAuditTrail() async throws {
        let fixture = try await TenantFixture.create()
        try await withAPI { api in
            let key = fixture.key("hq-admin")
            // Well-formed relations the stored matrix refuses (a cycle, the wrong kind of org, an
            // overlap) are conflicts with it: 409 naming the field.
            let cycle = try await api.post("/v1/relations", key: key, #"{"kind":"reports_to","from":"HQ","to":"WH-B"}"#)
            #expect(cycle.status == .conflict)
            #expect(cycle.text.contains("cycle") || cycle.text.contains("report to both"))
            let badKind = try await api.post("/v1/relations", key: key, #"{"kind":"owns","from":"HQ","to":"WH-B"}"#)
            #expect(badKind.body["field"] as? String == "kind")
            let badSettle = try await api.post("/v1/relations", key: key, #"{"kind":"settles_for","from":"QA","to":"WH-C","purpose":"all"}"#)
            #expect(badSettle.status == .conflict)
            #expect(badSettle.body["field"] as? String == "from")
            let lane = try await api.post("/v1/relations", key: key, #"{"kind":"transfers_with","from":"WH-C","to":"WH-A","distanceKm":300,"leadTimeHours":6}"#)
            #expect(lane.status == .created, "\(lane.text)")
            let laneID = try #require(Int(lane.body["id"] as? String ?? ""))
            let duplicate = try await api.post("/v1/relations", key: key, #"{"kind":"transfers_with","from":"WH-C","to":"WH-A","distanceKm":310,"leadTimeHours":6}"#)
            #expect(duplicate.status == .conflict)
            let ended = try await api.post("/v1/relations/\(laneID)/end", key: key)
            #expect(ended.status == .ok)
            #expect(ended.body["validTo"] != nil)
            #expect(try await api.post("/v1/relations/\(laneID)/end", key: key).status == .conflict)

            // Supervision granted now widens QA's sandbox now, and not in the past.
            let supervise = try await api.post("/v1/relations", key: key, #"{"kind":"supervises","from":"QA","to":"WH-A"}"#)
            #expect(supervise.status == .created)
            #expect(try await api.get("/v1/orgs/WH-B", key: fixture.key("qa-supervisor")).status == .ok)
            let past = try await api.get("/v1/orgs/QA/visible?as_of=2026-02-01T00:00:00Z", key: key)
            #expect(past.text.contains("WH-C") && !past.text.contains("WH-A"))
            #expect(try await api.get("/v1/orgs/QA/visible?as_of=yesterday", key: key).status == .unprocessableContent)

            let audit = try await api.get("/v1/audit-events?limit=100", key: fixture.key("hq-auditor"))
            #expect(audit.status == .ok)
            for action in ["tenant.apply", "relation.create", "relation.end"] { #expect(audit.text.contains(action)) }
            #expect(try await api.get("/v1/audit-events?limit=0", key: key).status == .unprocessableContent)
        }
    }
}
