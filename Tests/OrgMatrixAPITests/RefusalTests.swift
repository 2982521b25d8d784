import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import OrgMatrixCore
import OrgMatrixTestSupport
import Testing

/// Which status a refusal gets says whose fault it is. A request that breaks a rule of the
/// OpenAPI document is malformed whatever the tenant holds: 422 naming the field. A well-formed
/// request that stored data refuses is 404 when it names something the sandbox does not have (an
/// org, an item, a lane, pricing rules in force then) and 409 when it conflicts with what is
/// stored (the matrix, an item's decimals, a transfer's lines, a balance). The contract fuzzer
/// relies on this: a request the document allows is never answered 422.
@Suite struct RefusalTests {
    typealias API = IsolationTests.API
    typealias Reply = IsolationTests.Reply

    private func withAPI(_ body: @escaping @Sendable (API) async throws -> Void) async throws {
        let environment = try await SharedDatabase.environment()
        try await makeApp(databaseURL: environment.appURL).test(.router) { client in try await body(API(client: client)) }
    }

    /// The fixture with fresh milk (3 decimals) and 100 L of it at WH-A.
    private func stocked(_ api: API, _ fixture: TenantFixture) async throws {
        #expect(try await api.post("/v1/items", key: fixture.key("hq-admin"), InventoryTests.milkItem).status == .created)
        let receipt = try await api.post(
            "/v1/purchase-receipts", key: fixture.key("a-operator"), #"{"supplier":"牧场","lines":[{"item":"MILK-FRESH","quantity":"100","unitCostFen":463}]}"#)
        #expect(receipt.status == .created, "\(receipt.text)")
    }

    private func expect(
        _ reply: Reply, _ status: HTTPResponse.Status, field: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(reply.status == status, "\(what): \(reply.text)", sourceLocation: sourceLocation)
        #expect(reply.body["field"] as? String == field, "\(what): \(reply.text)", sourceLocation: sourceLocation)
    }

    @Test func aBodyKeyTheRequestDoesNotHaveIs422NamingItAndChangesNothing() async throws {
        let fixture = try await TenantFixture.create(label: "keys")
        try await withAPI { api in
            try await stocked(api, fixture)
            let before = try await fixture.rowCounts()
            let a = fixture.key("a-operator")
            // A misspelt optional field must not fall back to its default (here: the only settlement org).
            expect(
                try await api.post("/v1/sales-issues", key: a, #"{"customer":"c","settlementorg":"NORTH","lines":[{"item":"MILK-FRESH","quantity":"1","unitPriceFen":5}]}"#),
                .unprocessableContent, field: "settlementorg", "a misspelt top-level key")
            expect(
                try await api.post("/v1/purchase-receipts", key: a, #"{"supplier":"s","lines":[{"item":"MILK-FRESH","quantity":"1","unitCostFen":5,"unitPriceFen":6}]}"#),
                .unprocessableContent, field: "lines[0].unitPriceFen", "a key of another document's lines")
            expect(
                try await api.post("/v1/transfers", key: a, #"{"to":"WH-B","lines":[{"item":"MILK-FRESH","quantity":"1","unitCostFen":1}]}"#),
                .unprocessableContent, field: "lines[0].unitCostFen", "a price a transfer takes from the books")
            let location = #"{"province":"130000","city":"130100","county":"130102","latitude":"38","longitude":"114","altitude":"80"}"#
            expect(
                try await api.post(
                    "/v1/orgs", key: fixture.key("hq-admin"),
                    #"{"code":"WH-D","name":"d","kind":"physical","roles":["fulfilment"],"reportsTo":"HQ","location":\#(location)}"#),
                .unprocessableContent, field: "location.altitude", "a key of a nested object")
            #expect(try await fixture.rowCounts() == before)
        }
    }

    @Test func storedDataRefusesWith404Or409NamingTheFieldAndChangesNothing() async throws {
        let fixture = try await TenantFixture.create(label: "stored")
        try await withAPI { api in
            try await stocked(api, fixture)
            let (hq, a, b) = (fixture.key("hq-admin"), fixture.key("a-operator"), fixture.key("b-operator"))
            let created = try await api.post("/v1/transfers", key: a, #"{"to":"WH-B","lines":[{"item":"MILK-FRESH","quantity":"10"}]}"#)
            let transfer = try #require(created.body["id"] as? String, "\(created.text)")
            #expect(try await api.post("/v1/transfers/\(transfer)/dispatch", key: a).status == .ok)
            let skim = InventoryTests.milkItem.replacingOccurrences(of: "MILK-FRESH", with: "MILK-SKIM")
            #expect(try await api.post("/v1/items", key: hq, skim).status == .created)
            let relations = try JSONSerialization.jsonObject(with: Data(try await api.get("/v1/relations", key: hq).text.utf8)) as! [String: Any]
            let relation = try #require((relations["items"] as? [[String: Any]])?.first?["id"] as? Int)
            let before = try await fixture.rowCounts()

            expect(
                try await api.post("/v1/orgs", key: hq, #"{"code":"EAST","name":"east","kind":"virtual","roles":["settlement"],"reportsTo":"NOBODY"}"#),
                .notFound, field: "reportsTo", "a parent the sandbox does not have")
            expect(
                try await api.post("/v1/relations", key: hq, #"{"kind":"supervises","from":"QA","to":"NOBODY"}"#),
                .notFound, field: "to", "an org the sandbox does not have")
            expect(
                try await api.post("/v1/principals", key: hq, #"{"name":"a-admin","org":"WH-A","role":"hq_admin"}"#),
                .conflict, field: "org", "an hq_admin away from HQ")
            expect(
                try await api.post("/v1/principals", key: hq, #"{"name":"a-watch","org":"WH-A","role":"supervisor"}"#),
                .conflict, field: "org", "a supervisor at an org without the supervisory role")
            expect(
                try await api.post("/v1/relations/\(relation)/end", key: hq, #"{"at":"2025-01-01T00:00:00Z"}"#),
                .conflict, field: "at", "an end before the relation's start")
            expect(
                try await api.post("/v1/stock-counts", key: b, #"{"reason":"月末盘点","lines":[{"item":"CHEESE","counted":"1"}]}"#),
                .notFound, field: "lines[0].item", "an item the tenant does not have")
            expect(
                try await api.post("/v1/stock-counts", key: b, #"{"reason":"月末盘点","lines":[{"item":"MILK-SKIM","counted":"1"}]}"#),
                .conflict, field: "lines[0].unitCostFen", "stock found where the book holds none, without a unit cost")
            expect(
                try await api.post("/v1/stock-counts", key: a, #"{"reason":"月末盘点","lines":[{"item":"MILK-FRESH","counted":"99.0005"}]}"#),
                .conflict, field: "lines[0].counted", "more decimals than the item has")
            expect(
                try await api.post("/v1/pricing/quote", key: a, #"{"from":"WH-A","to":"WH-A","lines":[{"item":"MILK-FRESH","quantity":"1"}]}"#),
                .notFound, field: "to", "a lane from an org to itself, which no matrix has")
            for (lost, field, what) in [
                (#"{"MILK-SKIM":"1"}"#, "lost.MILK-SKIM", "an item not on the transfer"),
                (#"{"MILK-FRESH":"10.5"}"#, "lost.MILK-FRESH", "more lost than was sent"),
                (#"{"MILK-FRESH":"1.0005"}"#, "lost.MILK-FRESH", "more decimals than the item has"),
            ] {
                expect(
                    try await api.post("/v1/transfers/\(transfer)/receive", key: b, #"{"freightFen":100,"insuranceFen":10,"lost":\#(lost)}"#),
                    .conflict, field: field, what)
            }
            #expect(try await fixture.rowCounts() == before)
        }
        #expect(try await fixture.booksDiscrepancies() == [])
    }

    /// Three rules JSON Schema cannot state: the document says them in words, and the server
    /// refuses them as malformed like any other rule of the document.
    @Test func formRulesTheSchemaCannotStateAre422() async throws {
        let fixture = try await TenantFixture.create(label: "unstated")
        try await withAPI { api in
            try await stocked(api, fixture)
            let before = try await fixture.rowCounts()
            let a = fixture.key("a-operator")
            expect(
                try await api.post("/v1/relations", key: fixture.key("hq-admin"), #"{"kind":"supervises","from":"QA","to":"QA"}"#),
                .unprocessableContent, field: "to", "a relation from an org to itself")
            // 10^6 L at 10^9 + 1 fen is 10^15 + 10^6 fen; at 10^9 fen it is exactly the bound.
            expect(
                try await api.post("/v1/purchase-receipts", key: a, #"{"supplier":"s","lines":[{"item":"MILK-FRESH","quantity":"1000000","unitCostFen":1000000001}]}"#),
                .unprocessableContent, field: "lines[0]", "a line worth more than 10^15 fen")
            expect(
                try await api.post(
                    "/v1/transfers", key: a, #"{"to":"WH-B","lines":[{"item":"MILK-FRESH","quantity":"1"},{"item":"MILK-FRESH","quantity":"2"}]}"#),
                .unprocessableContent, field: "lines[1].item", "an item twice in a transfer")
            expect(
                try await api.post(
                    "/v1/stock-counts", key: a, #"{"reason":"月末盘点","lines":[{"item":"MILK-FRESH","counted":"1"},{"item":"MILK-FRESH","counted":"2"}]}"#),
                .unprocessableContent, field: "lines[1].item", "an item counted twice")
            #expect(try await fixture.rowCounts() == before)
            let atTheBound = try await api.post(
                "/v1/purchase-receipts", key: a, #"{"supplier":"s","lines":[{"item":"MILK-FRESH","quantity":"1000000","unitCostFen":1000000000}]}"#)
            #expect(atTheBound.status == .created, "\(atTheBound.text)")
        }
    }

    /// What the document's patterns allow is what the server takes, to the character: lengths in
    /// code points as JSON Schema counts them, times in UTC that exist, keys of visible ASCII.
    @Test func lengthsTimesAndKeysAreReadAsTheDocumentSpellsThem() async throws {
        let fixture = try await TenantFixture.create(label: "spelling")
        try await withAPI { api in
            try await stocked(api, fixture)
            let a = fixture.key("a-operator")
            // 200 "é" spelt e + U+0301: 200 characters to Swift, 400 code points to JSON Schema.
            let decomposed = String(repeating: "e\u{301}", count: 200)
            expect(
                try await api.post("/v1/purchase-receipts", key: a, #"{"supplier":"\#(decomposed)","lines":[{"item":"MILK-FRESH","quantity":"1","unitCostFen":5}]}"#),
                .unprocessableContent, field: "supplier", "a supplier of 400 code points")
            // "e" and two combining marks: one character to Swift, three code points: a reason long enough.
            let count = try await api.post("/v1/stock-counts", key: a, #"{"reason":"e\#u{301}\#u{302}","lines":[{"item":"MILK-FRESH","counted":"100"}]}"#)
            #expect(count.status == .created, "\(count.text)")
            for asOf in ["2026-02-31T00:00:00Z", "2026-01-01T00:00:00+08:00", "2026-01-01T24:00:00Z", "1969-12-31T23:59:59Z"] {
                expect(try await api.get("/v1/relations?as_of=\(asOf.replacingOccurrences(of: "+", with: "%2B"))", key: a), .unprocessableContent, field: "as_of", asOf)
            }
            #expect(try await api.get("/v1/relations?as_of=2028-02-29T23:59:59Z", key: a).status == .ok)
            for (key, status) in [("rcpt 1", HTTPResponse.Status.unprocessableContent), ("rcpt-1", .created)] {
                let body = #"{"supplier":"s","lines":[{"item":"MILK-FRESH","quantity":"1","unitCostFen":5}]}"#
                try await api.client.execute(
                    uri: "/v1/purchase-receipts", method: .post,
                    headers: [.authorization: "Bearer \(a)", .contentType: "application/json", HTTPField.Name("Idempotency-Key")!: key],
                    body: ByteBuffer(string: body)
                ) { response in
                    #expect(response.status == status, "Idempotency-Key \(key): \(String(buffer: response.body))")
                }
            }
        }
    }
}
