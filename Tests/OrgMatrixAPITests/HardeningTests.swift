import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import OrgMatrixAPI
import OrgMatrixCore
import OrgMatrixStore
import OrgMatrixTestSupport
import PostgresNIO
import Testing

/// No request can crash the server or bend the books, and every check answers in its order:
/// authentication, authorization, then validation. The router runs in this test process, so a
/// trap anywhere on a request's path ends the whole test run.
@Suite struct HardeningTests {
    typealias API = IsolationTests.API

    private func withAPI(_ body: @escaping @Sendable (API) async throws -> Void) async throws {
        let environment = try await SharedDatabase.environment()
        try await makeApp(databaseURL: environment.appURL).test(.router) { client in try await body(API(client: client)) }
    }

    private func setUp(_ api: API, _ fixture: TenantFixture) async throws {
        #expect(try await api.post("/v1/items", key: fixture.key("hq-admin"), InventoryTests.milkItem).status == .created)
        let receipt = try await api.post(
            "/v1/purchase-receipts", key: fixture.key("a-operator"),
            #"{"supplier":"牧场","lines":[{"item":"MILK-FRESH","quantity":"5000","unitCostFen":463}]}"#)
        #expect(receipt.status == .created, "\(receipt.text)")
    }

    /// Integers at and around every boundary a request can reach, as JSON text (some beyond Int64).
    static let integers = [
        "0", "1", "-1", "\(Int64.max)", "\(Int64.min)", "\(Bounds.unitFenMax)", "\(Bounds.unitFenMax + 1)", "\(Bounds.amountFenMax)",
        "\(Bounds.amountFenMax + 1)", "9007199254740993", "9223372036854775808", "1e400", "1.5",
    ]
    /// Quantities at and around the bound of 10^9 base units, and text that is no quantity.
    static let quantities = [
        "0", "1", "0.001", "0.0001", "999999999", "999999999.999", "1000000000", "1000000001", "9223372036854775807",
        "99999999999999999999999999999", "-1", "1e3", "",
    ]

    @Test func extremeNumbersOnEveryEndpointNeverCrashTheServerOrBendTheBooks() async throws {
        let fixture = try await TenantFixture.create(label: "fuzz")
        try await withAPI { api in
            try await setUp(api, fixture)
            let operatorKey = fixture.key("a-operator")
            var statuses: [UInt: Int] = [:]
            func check(_ method: HTTPRequest.Method, _ path: String, key: String, _ body: String) async throws {
                let reply = try await api.call(method, path, key: key, json: body)
                statuses[UInt(reply.status.code), default: 0] += 1
                #expect(reply.status.code < 500, "\(method) \(path) \(body): \(reply.text)")
                if reply.status.code >= 400 {
                    #expect(reply.body["type"] != nil, "\(path) \(body): no problem+json")
                }
            }
            for amount in Self.integers {
                for quantity in Self.quantities {
                    let line = #"{"item":"MILK-FRESH","quantity":"\#(quantity)","unitCostFen":\#(amount)}"#
                    try await check(.post, "/v1/pricing/quote", key: operatorKey, #"{"from":"WH-A","to":"WH-B","lines":[\#(line)]}"#)
                    try await check(.post, "/v1/purchase-receipts", key: operatorKey, #"{"supplier":"s","lines":[\#(line)]}"#)
                    let sale = #"{"item":"MILK-FRESH","quantity":"\#(quantity)","unitPriceFen":\#(amount)}"#
                    try await check(.post, "/v1/sales-issues", key: operatorKey, #"{"customer":"c","lines":[\#(sale)]}"#)
                    let count = #"{"item":"MILK-FRESH","counted":"\#(quantity)","unitCostFen":\#(amount)}"#
                    try await check(.post, "/v1/stock-counts", key: fixture.key("b-operator"), #"{"reason":"fuzz","lines":[\#(count)]}"#)
                }
                let item = #"""
                    {"code":"X-\#(abs(amount.hashValue % 100000))","name":"x","baseUnit":"kg","quantityScale":\#(amount),"weightGramsPerUnit":\#(amount),
                     "category":"fresh_milk","shelfLifeDays":\#(amount),"taxCode":"1030201010000000000","taxRateBasisPoints":\#(amount)}
                    """#
                try await check(.post, "/v1/items", key: fixture.key("hq-admin"), item)
            }
            // Sums over many lines: 200 lines, each at the amount bound.
            let line = #"{"item":"MILK-FRESH","quantity":"100000","unitCostFen":\#(Bounds.unitFenMax)}"#
            let wide = #"{"supplier":"s","lines":[\#(Array(repeating: line, count: 200).joined(separator: ","))]}"#
            try await check(.post, "/v1/purchase-receipts", key: fixture.key("c-operator"), wide)
            try await check(.post, "/v1/pricing/quote", key: operatorKey, #"{"from":"WH-A","to":"WH-B","lines":[\#(line)]}"#)
            // Transfers and their receipts with extreme figures.
            for quantity in Self.quantities {
                try await check(.post, "/v1/transfers", key: operatorKey, #"{"to":"WH-B","lines":[{"item":"MILK-FRESH","quantity":"\#(quantity)"}]}"#)
            }
            let created = try await api.post("/v1/transfers", key: operatorKey, #"{"to":"WH-B","lines":[{"item":"MILK-FRESH","quantity":"10"}]}"#)
            let id = try #require(created.body["id"] as? String)
            #expect(try await api.post("/v1/transfers/\(id)/dispatch", key: operatorKey).status == .ok)
            for freight in Self.integers {
                for lost in ["0", "10", "10.001", "99999999999999999999", "-1"] {
                    let body = #"{"freightFen":\#(freight),"insuranceFen":\#(freight),"lost":{"MILK-FRESH":"\#(lost)"}}"#
                    try await check(.post, "/v1/transfers/\(id)/receive", key: fixture.key("b-operator"), body)
                }
            }
            #expect(try await api.get("/v1/stock", key: fixture.key("hq-admin")).status == .ok)
            #expect(statuses.keys.allSatisfy { $0 < 500 }, "\(statuses)")
            #expect(statuses[201, default: 0] > 0 && statuses[422, default: 0] > 0, "\(statuses)")
        }
        #expect(try await fixture.booksDiscrepancies() == [])
    }

    /// The request is well formed; the stored balance it would add to is what refuses it (409).
    @Test func aPostingThatWouldPushAStoredSumPastInt64IsA409AndChangesNothing() async throws {
        let fixture = try await TenantFixture.create(label: "sum")
        try await withAPI { api in
            #expect(try await api.post("/v1/items", key: fixture.key("hq-admin"), InventoryTests.milkItem).status == .created)
            // Each receipt adds 200 × 10^15 fen = 2 × 10^17; the 47th passes 2^63 − 1 ≈ 9.22 × 10^18.
            let line = #"{"item":"MILK-FRESH","quantity":"100000","unitCostFen":\#(Bounds.unitFenMax)}"#
            let body = #"{"supplier":"s","lines":[\#(Array(repeating: line, count: 200).joined(separator: ","))]}"#
            var refused: IsolationTests.Reply?
            for _ in 1...50 {
                let reply = try await api.post("/v1/purchase-receipts", key: fixture.key("a-operator"), body)
                guard reply.status == .created else {
                    refused = reply
                    break
                }
            }
            let reply = try #require(refused)
            #expect(reply.status == .conflict, "\(reply.text)")
            #expect(reply.body["field"] as? String == "lines")
            let stock = try await api.get("/v1/stock?org=WH-A", key: fixture.key("a-operator"))
            #expect(stock.text.contains("\"valueFen\":\(46 * 200 * Bounds.amountFenMax)"), "\(stock.text)")
        }
        #expect(try await fixture.booksDiscrepancies() == [])
    }

    /// Every endpoint that takes a body, with a body that is wrong in every way.
    static let writeEndpoints = [
        "/v1/items", "/v1/pricing/quote", "/v1/purchase-receipts", "/v1/stock-counts", "/v1/transfers", "/v1/transfers/1/dispatch",
        "/v1/transfers/1/cancel", "/v1/transfers/1/true-up", "/v1/transfers/1/claim-settlement", "/v1/transfers/1/receive", "/v1/sales-issues",
        "/v1/orgs", "/v1/relations",
        "/v1/relations/1/end", "/v1/principals", "/v1/principals/1/revoke",
    ]

    @Test func authenticationThenAuthorizationThenValidationWhateverTheBody() async throws {
        let fixture = try await TenantFixture.create(label: "order")
        let unknownKey = "omx_\(fixture.code.rawValue)_\(String(repeating: "ab", count: 24))"
        let tooLarge = String(repeating: "x", count: APILimits.requestBodyBytesMax + 1)
        try await withAPI { api in
            for path in Self.writeEndpoints {
                for body in ["not json", #"{"lines":"#, #"{"a":1,"a":2}"#, tooLarge] {
                    #expect(try await api.post(path, key: unknownKey, body).status == .unauthorized, "\(path)")
                    #expect(try await api.post(path, key: "garbage", body).status == .unauthorized, "\(path)")
                    // The auditor reads; it may write nothing, so it learns nothing about its body.
                    let auditor = try await api.post(path, key: fixture.key("hq-auditor"), body)
                    if path == "/v1/pricing/quote" {
                        #expect([.badRequest, .unprocessableContent, .contentTooLarge].contains(auditor.status), "\(path): \(auditor.text)")
                    } else {
                        #expect(auditor.status == .forbidden, "\(path): \(auditor.text)")
                    }
                }
                // Allowed to act, the body is judged: too large is 413 everywhere.
                let key = path.hasPrefix("/v1/items") || path.contains("orgs") || path.contains("relations") || path.contains("principals")
                    || path.contains("true-up") || path.contains("claim-settlement") ? fixture.key("hq-admin") : fixture.key("a-operator")
                #expect(try await api.post(path, key: key, tooLarge).status == .contentTooLarge, "\(path)")
            }
        }
    }

    @Test func nulCharactersDuplicateKeysAndWrongMethodsAre4xxNamingTheField() async throws {
        let fixture = try await TenantFixture.create(label: "input")
        try await withAPI { api in
            try await setUp(api, fixture)
            let key = fixture.key("a-operator")
            let before = try await fixture.rowCounts()
            let nul = try await api.post(
                "/v1/purchase-receipts", key: key, #"{"supplier":"a\u0000b","lines":[{"item":"MILK-FRESH","quantity":"1","unitCostFen":1}]}"#)
            #expect(nul.status == .unprocessableContent && nul.body["field"] as? String == "supplier", "\(nul.text)")
            let nulItem = try await api.post(
                "/v1/sales-issues", key: key, #"{"customer":"c","lines":[{"item":"MILK\u0000","quantity":"1","unitPriceFen":1}]}"#)
            #expect(nulItem.status == .unprocessableContent && nulItem.body["field"] as? String == "lines[0].item", "\(nulItem.text)")
            for (path, field) in [
                ("/v1/stock?item=%00", "item"), ("/v1/orgs?cursor=a%00", "cursor"), ("/v1/relations?as_of=%00", "as_of"),
                ("/v1/items?cursor=%00", "cursor"), ("/v1/stock-moves?limit=%00", "limit"),
            ] {
                let reply = try await api.get(path, key: fixture.key("hq-admin"))
                #expect(reply.status == .unprocessableContent && reply.body["field"] as? String == field, "\(path): \(reply.text)")
            }
            let twice = try await api.post(
                "/v1/purchase-receipts", key: key,
                #"{"supplier":"a","supplier":"b","lines":[{"item":"MILK-FRESH","quantity":"1","unitCostFen":1}]}"#)
            #expect(twice.status == .unprocessableContent && twice.body["field"] as? String == "supplier", "\(twice.text)")
            let nested = try await api.post(
                "/v1/purchase-receipts", key: key,
                #"{"supplier":"a","lines":[{"item":"MILK-FRESH","quantity":"1","quantity":"1000","unitCostFen":1}]}"#)
            #expect(nested.status == .unprocessableContent && nested.body["field"] as? String == "lines[0].quantity", "\(nested.text)")
            let escaped = try await api.post(
                "/v1/purchase-receipts", key: key,
                #"{"supplier":"a","supplie\u0072":"b","lines":[{"item":"MILK-FRESH","quantity":"1","unitCostFen":1}]}"#)
            #expect(escaped.status == .unprocessableContent && escaped.body["field"] as? String == "supplier", "\(escaped.text)")
            let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
            #expect(try await api.post("/v1/purchase-receipts", key: key, deep).status == .unprocessableContent)
            #expect(try await fixture.rowCounts() == before)

            for (method, path, allow) in [
                (HTTPRequest.Method.delete, "/v1/items", "GET, POST"), (.get, "/v1/transfers/7/dispatch", "POST"),
                (.put, "/v1/orgs/HQ", "GET"), (.post, "/v1/stock", "GET"), (.get, "/v1/pricing/quote", "POST"),
            ] {
                try await api.client.execute(uri: path, method: method, headers: [.authorization: "Bearer \(key)"]) { response in
                    #expect(response.status == .methodNotAllowed, "\(method) \(path)")
                    #expect(response.headers[.allow] == allow, "\(method) \(path)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
            }
            #expect(try await api.get("/v1/no-such-thing", key: key).status == .notFound)
        }
    }

    /// A tenant's ids count its own rows only: what other tenants post in between does not show.
    @Test func idsRevealNothingOfOtherTenants() async throws {
        let mine = try await TenantFixture.create(label: "mine")
        let theirs = try await TenantFixture.create(label: "theirs")
        try await withAPI { api in
            for fixture in [mine, theirs] {
                #expect(try await api.post("/v1/items", key: fixture.key("hq-admin"), InventoryTests.milkItem).status == .created)
            }
            let receipt = #"{"supplier":"s","lines":[{"item":"MILK-FRESH","quantity":"1","unitCostFen":1}]}"#
            func post(_ fixture: TenantFixture) async throws -> Int {
                let reply = try await api.post("/v1/purchase-receipts", key: fixture.key("a-operator"), receipt)
                #expect(reply.status == .created)
                return Int(reply.body["id"] as? String ?? "") ?? -1
            }
            let first = try await post(mine)
            for _ in 0..<3 { _ = try await post(theirs) }
            #expect(try await post(mine) == first + 1)
            #expect(first == 1, "a new tenant's first receipt is its number 1")
        }
    }

    @Test func theLastActiveHQAdminCannotBeRevoked() async throws {
        let fixture = try await TenantFixture.create(label: "admins")
        try await withAPI { api in
            let admin = fixture.key("hq-admin")
            let second = try await api.post("/v1/principals", key: admin, #"{"name":"hq-admin-two","org":"HQ","role":"hq_admin"}"#)
            #expect(second.status == .created, "\(second.text)")
            let secondID = try #require((try JSONSerialization.jsonObject(with: Data(second.text.utf8)) as? [String: Any])
                .flatMap { $0["principal"] as? [String: Any] }?["id"] as? Int)
            let secondKey = try #require(second.body["key"] as? String)
            let firstID = try await principalID(named: "hq-admin", fixture)
            #expect(try await api.post("/v1/principals/\(firstID)/revoke", key: secondKey).status == .ok)
            let last = try await api.post("/v1/principals/\(secondID)/revoke", key: secondKey)
            #expect(last.status == .conflict, "\(last.text)")
            #expect(try await api.get("/v1/me", key: secondKey).status == .ok)
        }
        // The database holds the rule whoever writes: the owner cannot revoke the last one either.
        let environment = try await SharedDatabase.environment()
        await #expect(throws: (any Error).self) {
            try await withConnection(environment.ownerURL) { connection in
                try await connection.query(
                    "UPDATE principals SET revoked_at = now() WHERE tenant_id = \(fixture.tenantID.rawValue) AND revoked_at IS NULL AND role = 'hq_admin'",
                    logger: testLogger)
            }
        }
    }

    private func principalID(named name: String, _ fixture: TenantFixture) async throws -> Int64 {
        let environment = try await SharedDatabase.environment()
        return try await withConnection(environment.ownerURL) { connection in
            try await connection.query(
                "SELECT principal_id FROM principals WHERE tenant_id = \(fixture.tenantID.rawValue) AND name = \(name)", logger: testLogger
            ).collect().first!.decode(Int64.self)
        }
    }

    @Test func listsArePaginatedToTheEnd() async throws {
        let fixture = try await TenantFixture.create(label: "pages")
        try await withAPI { api in
            let admin = fixture.key("hq-admin")
            var codes: [String] = []
            for index in 0..<5 {
                let code = "ITEM-\(index)"
                codes.append(code)
                let body = InventoryTests.milkItem.replacingOccurrences(of: "MILK-FRESH", with: code)
                #expect(try await api.post("/v1/items", key: admin, body).status == .created)
                for org in ["a-operator", "b-operator"] {
                    let receipt = #"{"supplier":"s","lines":[{"item":"\#(code)","quantity":"1","unitCostFen":1}]}"#
                    #expect(try await api.post("/v1/purchase-receipts", key: fixture.key(org), receipt).status == .created)
                }
            }
            func all(_ path: String) async throws -> [String] {
                var seen: [String] = []
                var cursor: String?
                for _ in 0..<20 {
                    let separator = path.contains("?") ? "&" : "?"
                    let page = try await api.get(path + separator + "limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), key: admin)
                    #expect(page.status == .ok, "\(page.text)")
                    let object = try #require(try JSONSerialization.jsonObject(with: Data(page.text.utf8)) as? [String: Any])
                    let items = try #require(object["items"] as? [[String: Any]])
                    seen += items.map { "\($0["org"] ?? "")\($0["code"] ?? "")/\($0["item"] ?? "")\($0["id"] ?? "")" }
                    guard let next = object["nextCursor"] as? String else { return seen }
                    cursor = next.addingPercentEncoding(withAllowedCharacters: .alphanumerics)
                }
                Issue.record("\(path) did not end")
                return seen
            }
            #expect(try await all("/v1/items").count == 5)
            let stock = try await all("/v1/stock")
            #expect(stock.count == 10 && Set(stock).count == 10, "\(stock)")
            #expect(try await all("/v1/stock?org=WH-B").count == 5)
            #expect(try await all("/v1/relations").count == 9)
            #expect(try await all("/v1/stock-moves").count == 10)
        }
    }
}
