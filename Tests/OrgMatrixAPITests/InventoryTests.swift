import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OrgMatrixAPI
import OrgMatrixStore
import PostgresNIO
import OrgMatrixTestSupport
import Testing

/// Items, receipts, sales and stock through the API, inside the sandbox.
@Suite struct InventoryTests {
    typealias API = IsolationTests.API

    private func withAPI(_ body: @escaping @Sendable (API) async throws -> Void) async throws {
        let environment = try await SharedDatabase.environment()
        try await makeApp(databaseURL: environment.appURL).test(.router) { client in try await body(API(client: client)) }
    }

    static let milkItem = #"""
        {"code":"MILK-FRESH","name":"鲜牛奶","baseUnit":"L","quantityScale":1000,"weightGramsPerUnit":1030,"category":"fresh_milk",
         "shelfLifeDays":7,"taxCode":"1030201010000000000","taxRateBasisPoints":900}
        """#

    /// What a posting answered is what reading it back answers.
    private func sameJSON(_ a: IsolationTests.Reply, _ b: IsolationTests.Reply) -> Bool {
        func canonical(_ reply: IsolationTests.Reply) -> String? {
            (try? JSONSerialization.data(withJSONObject: json(reply), options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
        }
        return !json(a).isEmpty && canonical(a) == canonical(b)
    }

    /// Every (path, body) posted at once as `key`; the statuses as they come back.
    private func concurrently(_ api: API, key: String, _ posts: [(String, String)]) async throws -> [HTTPResponse.Status] {
        try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
            for (path, body) in posts {
                group.addTask { try await api.post(path, key: key, body).status }
            }
            return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
        }
    }

    /// Balance = Σ moves and every transfer's goods accounted for, in the whole tenant.
    private func expectBooksBalance(_ fixture: TenantFixture) async throws {
        let books = try await fixture.booksDiscrepancies()
        #expect(books.isEmpty, "\(books.count) discrepancies:\n\(books.joined(separator: "\n"))")
    }

    private func balance(_ api: API, _ key: String, org: String) async throws -> [String: Any]? {
        let reply = try await api.get("/v1/stock?org=\(org)&item=MILK-FRESH", key: key)
        return (json(reply)["items"] as? [[String: Any]])?.first
    }

    private func setUp(_ api: API, _ fixture: TenantFixture, litres: String = "2400.500") async throws {
        let item = try await api.post("/v1/items", key: fixture.key("hq-admin"), Self.milkItem)
        #expect(item.status == .created, "\(item.text)")
        let receipt = try await api.post(
            "/v1/purchase-receipts", key: fixture.key("a-operator"),
            #"{"supplier":"正蓝旗牧民合作社","lines":[{"item":"MILK-FRESH","quantity":"\#(litres)","unitCostFen":463}]}"#)
        #expect(receipt.status == .created, "\(receipt.text)")
    }

    @Test func receiveSellAndSeeStockAtMovingAverageCost() async throws {
        let fixture = try await TenantFixture.create()
        try await withAPI { api in
            try await setUp(api, fixture)
            var stock = try #require(try await balance(api, fixture.key("a-operator"), org: "WH-A"))
            #expect(stock["onHand"] as? String == "2400.500")
            // 463 × 2,400.500 = 1,111,431.5 → 1,111,432 (half-even)
            #expect(stock["valueFen"] as? Int == 1_111_432)
            #expect(stock["unitCostFen"] as? Int == 463)

            let sale = try await api.post(
                "/v1/sales-issues", key: fixture.key("a-operator"),
                #"{"customer":"石家庄某超市","lines":[{"item":"MILK-FRESH","quantity":"1000","unitPriceFen":650}]}"#)
            #expect(sale.status == .created, "\(sale.text)")
            let line = try #require((json(sale)["lines"] as? [[String: Any]])?.first)
            #expect(json(sale)["settlementOrg"] as? String == "NORTH")
            // cost = 1,111,432 × 1,000,000 / 2,400,500 = 463,000.21 → 463,000; revenue 650 × 1,000
            #expect(line["costFen"] as? Int == 463_000)
            #expect(line["amountFen"] as? Int == 650_000)
            stock = try #require(try await balance(api, fixture.key("a-operator"), org: "WH-A"))
            #expect(stock["onHand"] as? String == "1400.500")
            #expect(stock["valueFen"] as? Int == 648_432)

            // HQ reads through; the settlement org sees the warehouse it settles for; a sibling sees nothing.
            #expect(try await balance(api, fixture.key("hq-admin"), org: "WH-A")?["valueFen"] as? Int == 648_432)
            #expect(try await balance(api, fixture.key("north-operator"), org: "WH-A") != nil)
            #expect(try await api.get("/v1/stock?org=WH-A", key: fixture.key("c-operator")).status == .notFound)
            #expect((json(try await api.get("/v1/stock", key: fixture.key("c-operator")))["items"] as? [Any])?.isEmpty == true)
            let moves = try await api.get("/v1/stock-moves", key: fixture.key("c-operator"))
            #expect((json(moves)["items"] as? [Any])?.isEmpty == true)
            let ownMoves = try await api.get("/v1/stock-moves", key: fixture.key("a-operator"))
            #expect((json(ownMoves)["items"] as? [[String: Any]])?.map { $0["quantity"] as? String } == ["2400.500", "-1000.000"])
        }
    }

    @Test func onlyTheOwnPhysicalOrgWithAWritingRolePosts() async throws {
        let fixture = try await TenantFixture.create()
        try await withAPI { api in
            try await setUp(api, fixture)
            let before = try await fixture.rowCounts()
            let receipt = #"{"supplier":"x","lines":[{"item":"MILK-FRESH","quantity":"1","unitCostFen":1}]}"#
            for principal in ["hq-admin", "hq-auditor", "qa-supervisor", "north-operator"] {
                let reply = try await api.post("/v1/purchase-receipts", key: fixture.key(principal), receipt)
                #expect(reply.status == .forbidden, "\(principal): \(reply.text)")
            }
            // A warehouse with no settlement org for its sales cannot sell.
            let receiptAtC = try await api.post("/v1/purchase-receipts", key: fixture.key("c-operator"), receipt)
            #expect(receiptAtC.status == .created)
            let sale = try await api.post(
                "/v1/sales-issues", key: fixture.key("c-operator"), #"{"customer":"x","lines":[{"item":"MILK-FRESH","quantity":"1","unitPriceFen":1}]}"#)
            #expect(sale.status == .conflict)
            #expect(sale.body["field"] as? String == "settlementOrg")
            // The refused posts and the refused sale wrote nothing; C's receipt wrote its document,
            // its move, C's new balance and its audit row.
            var expected = before
            for table in ["purchase_receipts", "stock_moves", "stock_balances", "audit_events"] { expected[table, default: 0] += 1 }
            #expect(try await fixture.rowCounts() == expected)
        }
    }

    @Test func badLinesAreNamedAndAFailedPostingChangesNothing() async throws {
        let fixture = try await TenantFixture.create()
        try await withAPI { api in
            try await setUp(api, fixture, litres: "10")
            let key = fixture.key("a-operator")
            let cases: [(String, String, HTTPResponse.Status)] = [
                // More decimals than the stored item has, an item the tenant does not have: stored
                // data decides (409, 404); more decimals than any item may have is malformed (422).
                (#"{"item":"MILK-FRESH","quantity":"1.0001","unitPriceFen":1}"#, "lines[1].quantity", .conflict),
                (#"{"item":"MILK-FRESH","quantity":"1.0000001","unitPriceFen":1}"#, "lines[1].quantity", .unprocessableContent),
                (#"{"item":"MILK-FRESH","quantity":"01","unitPriceFen":1}"#, "lines[1].quantity", .unprocessableContent),
                (#"{"item":"CHEESE","quantity":"1","unitPriceFen":1}"#, "lines[1].item", .notFound),
                (#"{"item":"MILK-FRESH","quantity":"-1","unitPriceFen":1}"#, "lines[1].quantity", .unprocessableContent),
                (#"{"item":"MILK-FRESH","quantity":"1","unitPriceFen":-5}"#, "lines[1].unitPriceFen", .unprocessableContent),
                (#"{"item":"MILK-FRESH","quantity":"9.5","unitPriceFen":1}"#, "lines[1].quantity", .conflict),
            ]
            for (second, field, status) in cases {
                // The first line alone would succeed; the second fails, so nothing of either may stay.
                let body = #"{"customer":"x","lines":[{"item":"MILK-FRESH","quantity":"1","unitPriceFen":1},\#(second)]}"#
                let reply = try await api.post("/v1/sales-issues", key: key, body)
                #expect(reply.status == status, "\(second): \(reply.text)")
                #expect(reply.body["field"] as? String == field, "\(second)")
                #expect(try await balance(api, key, org: "WH-A")?["onHand"] as? String == "10.000")
            }
            let short = try await api.post(
                "/v1/sales-issues", key: key, #"{"customer":"x","lines":[{"item":"MILK-FRESH","quantity":"12.25","unitPriceFen":1}]}"#)
            #expect(short.text.contains("short by 2.250 L"))
        }
    }

    @Test func postingsAreIdempotentByKey() async throws {
        let fixture = try await TenantFixture.create()
        try await withAPI { api in
            try await setUp(api, fixture, litres: "10")
            let key = fixture.key("a-operator")
            let body = #"{"customer":"x","lines":[{"item":"MILK-FRESH","quantity":"2","unitPriceFen":700}]}"#
            let headers: HTTPFields = [.authorization: "Bearer \(key)", .contentType: "application/json", HTTPField.Name("Idempotency-Key")!: "sale-1"]
            let first = try await api.client.execute(uri: "/v1/sales-issues", method: .post, headers: headers, body: ByteBuffer(string: body)) {
                ($0.status, String(buffer: $0.body), $0.headers[HTTPField.Name("Idempotency-Replayed")!])
            }
            let second = try await api.client.execute(uri: "/v1/sales-issues", method: .post, headers: headers, body: ByteBuffer(string: body)) {
                ($0.status, String(buffer: $0.body), $0.headers[HTTPField.Name("Idempotency-Replayed")!])
            }
            #expect(first.0 == .created)
            #expect(second.0 == .created)
            #expect(first.1 == second.1)
            #expect(first.2 == nil)
            #expect(second.2 == "true")
            #expect(try await balance(api, key, org: "WH-A")?["onHand"] as? String == "8.000")
            let other = try await api.client.execute(
                uri: "/v1/sales-issues", method: .post, headers: headers, body: ByteBuffer(string: body.replacingOccurrences(of: "\"2\"", with: "\"3\""))
            ) { $0.status }
            #expect(other == .conflict)
            #expect(try await balance(api, key, org: "WH-A")?["onHand"] as? String == "8.000")
        }
    }

    /// Twenty parallel sales of 100 L against 1,000 L: exactly ten succeed, nothing is oversold
    /// and no update is lost.
    @Test func concurrentSalesNeverOversell() async throws {
        let fixture = try await TenantFixture.create()
        try await withAPI { api in
            try await setUp(api, fixture, litres: "1000")
            let key = fixture.key("a-operator")
            let statuses = try await concurrently(api, key: key, (0..<20).map { index in
                ("/v1/sales-issues", #"{"customer":"c\#(index)","lines":[{"item":"MILK-FRESH","quantity":"100","unitPriceFen":600}]}"#)
            })
            #expect(statuses.filter { $0 == .created }.count == 10)
            #expect(statuses.filter { $0 == .conflict }.count == 10)
            let stock = try #require(try await balance(api, key, org: "WH-A"))
            #expect(stock["onHand"] as? String == "0.000")
            #expect(stock["valueFen"] as? Int == 0)
        }
        try await expectBooksBalance(fixture)
    }

    /// Two counts of an item the warehouse never held, at once, ten times over: the first to
    /// lock the (new) balance books what it found, the second the difference from that, so the
    /// balance stays the sum of its moves.
    @Test func concurrentCountsOfAnItemNeverHeldKeepBalanceEqualToMoves() async throws {
        let fixture = try await TenantFixture.create()
        try await withAPI { api in
            let key = fixture.key("a-operator")
            for attempt in 0..<10 {
                let code = "MILK-NEW\(attempt)"
                let item = Self.milkItem.replacingOccurrences(of: "MILK-FRESH", with: code)
                #expect(try await api.post("/v1/items", key: fixture.key("hq-admin"), item).status == .created)
                let statuses = try await concurrently(api, key: key, ["5", "7"].map { counted in
                    ("/v1/stock-counts", #"{"reason":"发现未入账","lines":[{"item":"\#(code)","counted":"\#(counted)","unitCostFen":400}]}"#)
                })
                #expect(statuses == [.created, .created], "attempt \(attempt)")
            }
        }
        try await expectBooksBalance(fixture)
    }

    /// A count racing purchase receipts of an item the warehouse never held, ten times over:
    /// whichever locks the balance first, the balance ends equal to the sum of the moves.
    @Test func aCountRacingReceiptsKeepsBalanceEqualToMoves() async throws {
        let fixture = try await TenantFixture.create()
        try await withAPI { api in
            let key = fixture.key("a-operator")
            for attempt in 0..<10 {
                let code = "MILK-RACE\(attempt)"
                let item = Self.milkItem.replacingOccurrences(of: "MILK-FRESH", with: code)
                #expect(try await api.post("/v1/items", key: fixture.key("hq-admin"), item).status == .created)
                let count = ("/v1/stock-counts", #"{"reason":"月末盘点","lines":[{"item":"\#(code)","counted":"3","unitCostFen":450}]}"#)
                let receipts = (0..<3).map { index in
                    ("/v1/purchase-receipts", #"{"supplier":"s\#(index)","lines":[{"item":"\#(code)","quantity":"10","unitCostFen":463}]}"#)
                }
                let statuses = try await concurrently(api, key: key, [count] + receipts)
                #expect(statuses.allSatisfy { $0 == .created }, "attempt \(attempt): \(statuses)")
            }
        }
        try await expectBooksBalance(fixture)
    }

    @Test func aQuoteExplainsItsPriceAndPostsNothing() async throws {
        let fixture = try await TenantFixture.create()
        try await withAPI { api in
            try await setUp(api, fixture)
            let before = try await fixture.rowCounts()
            let request = #"{"from":"WH-A","to":"WH-B","lines":[{"item":"MILK-FRESH","quantity":"1000"}]}"#
            let quote = try await api.post("/v1/pricing/quote", key: fixture.key("a-operator"), request)
            #expect(quote.status == .ok, "\(quote.text)")
            let body = json(quote)
            // base 463 × 1,000 = 463,000; freight 120 km × 60 fen × 1.03 t = 7,416; insurance 30 bp = 1,389;
            // loss 5,000 ppm = 2,315; express premium 15 % of 7,416 = 1,112.4 → 1,112;
            // markup 250 bp of 475,232 = 11,880.8 → 11,881; total 487,113.
            #expect(body["totalFen"] as? Int == 487_113)
            #expect(body["rulesVersion"] as? String == "v1")
            let components = try #require(((body["lines"] as? [[String: Any]])?.first?["components"]) as? [[String: Any]])
            #expect(components.map { $0["amountFen"] as? Int } == [463_000, 7_416, 1_389, 2_315, 1_112, 11_881])
            #expect((components[1]["explanation"] as? String)?.contains("120 km") == true)
            #expect(try await fixture.rowCounts() == before)

            // The receiver cannot see the sender's stock, so it states the unit cost itself.
            let blind = try await api.post("/v1/pricing/quote", key: fixture.key("b-operator"), request)
            #expect(blind.status == .conflict)
            #expect(blind.body["field"] as? String == "lines[0].unitCostFen")
            let stated = try await api.post(
                "/v1/pricing/quote", key: fixture.key("b-operator"),
                #"{"from":"WH-A","to":"WH-B","lines":[{"item":"MILK-FRESH","quantity":"1000","unitCostFen":463}]}"#)
            #expect(json(stated)["totalFen"] as? Int == 487_113)

            let noLane = try await api.post(
                "/v1/pricing/quote", key: fixture.key("hq-admin"),
                #"{"from":"WH-A","to":"WH-C","lines":[{"item":"MILK-FRESH","quantity":"1","unitCostFen":1}]}"#)
            #expect(noLane.status == .notFound)
            #expect(noLane.body["field"] as? String == "to")
            let outside = try await api.post(
                "/v1/pricing/quote", key: fixture.key("c-operator"),
                #"{"from":"WH-A","to":"WH-B","lines":[{"item":"MILK-FRESH","quantity":"1","unitCostFen":1}]}"#)
            #expect(outside.status == .notFound)
            let beforeRules = try await api.post(
                "/v1/pricing/quote", key: fixture.key("a-operator"),
                #"{"from":"WH-A","to":"WH-B","at":"2025-06-01T00:00:00Z","lines":[{"item":"MILK-FRESH","quantity":"1","unitCostFen":1}]}"#)
            #expect(beforeRules.status == .notFound)
        }
    }

    @Test func aCountAdjustsTheBookAtTheMovingAverageWithAReason() async throws {
        let fixture = try await TenantFixture.create()
        try await withAPI { api in
            try await setUp(api, fixture, litres: "10")
            let key = fixture.key("a-operator")
            let noReason = try await api.post("/v1/stock-counts", key: key, #"{"reason":"","lines":[{"item":"MILK-FRESH","counted":"9.5"}]}"#)
            #expect(noReason.body["field"] as? String == "reason")
            let count = try await api.post(
                "/v1/stock-counts", key: key, #"{"reason":"月末盘点: 破损","lines":[{"item":"MILK-FRESH","counted":"9.5"}]}"#)
            #expect(count.status == .created, "\(count.text)")
            let line = try #require((json(count)["lines"] as? [[String: Any]])?.first)
            // 10 L worth 4,630 fen; 0.5 L short: 4,630 × 500 / 10,000 = 231.5 → 232 (half-even)
            #expect(line["adjustment"] as? String == "-0.500")
            #expect(line["adjustmentValueFen"] as? Int == -232)
            #expect(json(count)["type"] as? String == "stock_count")
            let stock = try #require(try await balance(api, key, org: "WH-A"))
            #expect(stock["onHand"] as? String == "9.500")
            #expect(stock["valueFen"] as? Int == 4_398)
            let empty = try await api.post("/v1/stock-counts", key: key, #"{"reason":"全部报废","lines":[{"item":"MILK-FRESH","counted":"0"}]}"#)
            #expect(empty.status == .created)
            #expect(try await balance(api, key, org: "WH-A")?["valueFen"] as? Int == 0)
            // Found stock with no book to average needs a unit cost.
            let found = try await api.post("/v1/stock-counts", key: fixture.key("b-operator"), #"{"reason":"发现未入账","lines":[{"item":"MILK-FRESH","counted":"2"}]}"#)
            #expect(found.body["field"] as? String == "lines[0].unitCostFen")
            let valued = try await api.post(
                "/v1/stock-counts", key: fixture.key("b-operator"),
                #"{"reason":"发现未入账","lines":[{"item":"MILK-FRESH","counted":"2","unitCostFen":500}]}"#)
            #expect(valued.status == .created)
            #expect(try await balance(api, fixture.key("b-operator"), org: "WH-B")?["valueFen"] as? Int == 1_000)
            #expect(try await api.post("/v1/stock-counts", key: fixture.key("qa-supervisor"), #"{"reason":"xyz","lines":[{"item":"MILK-FRESH","counted":"1"}]}"#).status == .forbidden)
        }
    }

    @Test func aTransferIsPricedDispatchedAndReceivedAtLandedCost() async throws {
        let fixture = try await TenantFixture.create()
        try await withAPI { api in
            try await setUp(api, fixture)
            let (a, b, c) = (fixture.key("a-operator"), fixture.key("b-operator"), fixture.key("c-operator"))
            let created = try await api.post("/v1/transfers", key: a, #"{"to":"WH-B","lines":[{"item":"MILK-FRESH","quantity":"1000"}]}"#)
            #expect(created.status == .created, "\(created.text)")
            let transfer = json(created)
            let id = try #require(transfer["id"] as? Int)
            #expect(transfer["status"] as? String == "created")
            #expect(transfer["estimateTotalFen"] as? Int == 487_113)  // the same arithmetic as the quote test
            #expect(try await api.get("/v1/transfers/\(id)", key: b).status == .ok)
            #expect(try await api.get("/v1/transfers/\(id)", key: c).status == .notFound)

            #expect(try await api.post("/v1/transfers/\(id)/dispatch", key: b).status == .forbidden)
            #expect(try await api.post("/v1/transfers/\(id)/receive", key: b, #"{"freightFen":1,"insuranceFen":1}"#).status == .conflict)
            let dispatched = try await api.post("/v1/transfers/\(id)/dispatch", key: a)
            #expect(dispatched.status == .ok, "\(dispatched.text)")
            #expect(json(dispatched)["status"] as? String == "dispatched")
            #expect(sameJSON(try await api.get("/v1/transfers/\(id)", key: a), dispatched))
            var sender = try #require(try await balance(api, a, org: "WH-A"))
            #expect(sender["onHand"] as? String == "1400.500")
            #expect(sender["inTransit"] as? String == "1000.000")
            #expect(try await api.post("/v1/transfers/\(id)/dispatch", key: a).status == .conflict)
            #expect(try await api.post("/v1/transfers/\(id)/cancel", key: a).status == .conflict)
            #expect(try await api.post("/v1/transfers/\(id)/receive", key: a, #"{"freightFen":1,"insuranceFen":1}"#).status == .forbidden)

            let received = try await api.post(
                "/v1/transfers/\(id)/receive", key: b, #"{"freightFen":7600,"insuranceFen":1389,"lost":{"MILK-FRESH":"6"}}"#)
            #expect(received.status == .ok, "\(received.text)")
            #expect(sameJSON(try await api.get("/v1/transfers/\(id)", key: b), received))
            let done = json(received)
            // Actual: 463,000 + 7,600 + 1,389 + lost 6 L × 4.63 = 2,778 + premium 15 % of 7,600 = 1,140 = 475,907;
            // markup 2.5 % = 11,897.675 → 11,898; actual 487,805. Error (487,113 − 487,805) / 487,805 = −1,418.6 ppm → −1,419.
            #expect(done["actualTotalFen"] as? Int == 487_805)
            #expect(done["errorPpm"] as? Int == -1_419)
            #expect(done["flagged"] as? Bool == false)
            let line = try #require((done["lines"] as? [[String: Any]])?.first)
            // Tolerance 5,000 ppm of 1,000 L = 5 L absorbed; 1 L claimed (463 fen).
            #expect(line["lossAllowance"] as? String == "5.000")
            #expect(line["claim"] as? String == "1.000")
            #expect(line["claimValueFen"] as? Int == 463)
            // Landed: 487,113 × 994 / 1,000 = 484,190.3 → 484,190
            #expect(line["landedValueFen"] as? Int == 484_190)
            let receiver = try #require(try await balance(api, b, org: "WH-B"))
            #expect(receiver["onHand"] as? String == "994.000")
            #expect(receiver["valueFen"] as? Int == 484_190)
            sender = try #require(try await balance(api, a, org: "WH-A"))
            #expect(sender["inTransit"] as? String == "0.000")
            #expect(try await api.post("/v1/transfers/\(id)/receive", key: b, #"{"freightFen":1,"insuranceFen":1}"#).status == .conflict)
            let views = try #require(done["views"] as? [String: Any])
            #expect((views["sender"] as? [String: Any])?["receivableFen"] as? Int == 487_113)
            #expect((views["receiver"] as? [String: Any])?["payableFen"] as? Int == 487_113)
        }
    }

    @Test func aLargePricingErrorIsFlaggedAndACancelledTransferMovesNothing() async throws {
        let fixture = try await TenantFixture.create()
        try await withAPI { api in
            try await setUp(api, fixture)
            let (a, b) = (fixture.key("a-operator"), fixture.key("b-operator"))
            let body = #"{"to":"WH-B","lines":[{"item":"MILK-FRESH","quantity":"100"}]}"#
            let cancelled = json(try await api.post("/v1/transfers", key: a, body))
            let cancelID = try #require(cancelled["id"] as? Int)
            #expect(json(try await api.post("/v1/transfers/\(cancelID)/cancel", key: a))["status"] as? String == "cancelled")
            #expect(try await api.post("/v1/transfers/\(cancelID)/dispatch", key: a).status == .conflict)
            #expect(try await balance(api, a, org: "WH-A")?["onHand"] as? String == "2400.500")

            let id = try #require(json(try await api.post("/v1/transfers", key: a, body))["id"] as? Int)
            #expect(try await api.post("/v1/transfers/\(id)/dispatch", key: a).status == .ok)
            let received = json(try await api.post("/v1/transfers/\(id)/receive", key: b, #"{"freightFen":20000,"insuranceFen":139}"#))
            #expect(received["flagged"] as? Bool == true)
            #expect(((received["errorPpm"] as? Int) ?? 0) < -8000)
            // Only HQ trues up, once; the receivable and payable become the actual cost.
            #expect(try await api.post("/v1/transfers/\(id)/true-up", key: a).status == .forbidden)
            let trued = json(try await api.post("/v1/transfers/\(id)/true-up", key: fixture.key("hq-admin")))
            let actual = try #require(received["actualTotalFen"] as? Int)
            let estimate = try #require(received["estimateTotalFen"] as? Int)
            #expect(trued["trueUpFen"] as? Int == actual - estimate)
            #expect(((trued["views"] as? [String: Any])?["receiver"] as? [String: Any])?["payableFen"] as? Int == actual)
            #expect(try await api.post("/v1/transfers/\(id)/true-up", key: fixture.key("hq-admin")).status == .conflict)
            #expect(try await api.post("/v1/transfers/\(cancelID)/true-up", key: fixture.key("hq-admin")).status == .conflict)
            #expect(try await api.post("/v1/transfers", key: a, #"{"to":"WH-C","lines":[{"item":"MILK-FRESH","quantity":"1"}]}"#).status == .notFound)
            #expect(try await api.post("/v1/transfers", key: a, #"{"to":"WH-B","lines":[{"item":"MILK-FRESH","quantity":"99999"}]}"#).status == .conflict)
        }
    }

    /// HQ settles a receipt's claim against the carrier or insurer, once, for 0 … its value; the
    /// receivable and payable stay the transfer price.
    @Test func aClaimIsSettledOnceByHQForNoMoreThanItsValue() async throws {
        let fixture = try await TenantFixture.create()
        try await withAPI { api in
            try await setUp(api, fixture)
            let (a, b, hq) = (fixture.key("a-operator"), fixture.key("b-operator"), fixture.key("hq-admin"))
            var ids: [Int] = []
            for quantity in ["1000", "100", "10"] {
                let id = try #require(json(try await api.post("/v1/transfers", key: a, #"{"to":"WH-B","lines":[{"item":"MILK-FRESH","quantity":"\#(quantity)"}]}"#))["id"] as? Int)
                ids.append(id)
            }
            for id in ids.prefix(2) { #expect(try await api.post("/v1/transfers/\(id)/dispatch", key: a).status == .ok) }
            // 6 L lost of 1,000: 5 L absorbed, 1 L claimed at ¥4.63 = 463 fen.
            let received = try await api.post("/v1/transfers/\(ids[0])/receive", key: b, #"{"freightFen":7600,"insuranceFen":1389,"lost":{"MILK-FRESH":"6"}}"#)
            #expect((json(received)["lines"] as? [[String: Any]])?.first?["claimValueFen"] as? Int == 463)
            let claim = "/v1/transfers/\(ids[0])/claim-settlement"
            #expect(try await api.post(claim, key: a, #"{"recoveredFen":400}"#).status == .forbidden)
            #expect(try await api.post(claim, key: b, #"{"recoveredFen":400}"#).status == .forbidden)
            let tooMuch = try await api.post(claim, key: hq, #"{"recoveredFen":464}"#)
            #expect(tooMuch.status == .conflict && tooMuch.body["field"] as? String == "recoveredFen", "\(tooMuch.text)")
            let negative = try await api.post(claim, key: hq, #"{"recoveredFen":-1}"#)
            #expect(negative.status == .unprocessableContent && negative.body["field"] as? String == "recoveredFen", "\(negative.text)")
            let settled = try await api.post(claim, key: hq, #"{"recoveredFen":400}"#)
            #expect(settled.status == .ok, "\(settled.text)")
            #expect(json(settled)["claimRecoveredFen"] as? Int == 400)
            #expect(json(settled)["status"] as? String == "received")
            #expect(((json(settled)["views"] as? [String: Any])?["receiver"] as? [String: Any])?["payableFen"] as? Int == 487_113)
            #expect(sameJSON(try await api.get("/v1/transfers/\(ids[0])", key: b), settled))
            #expect(try await api.post(claim, key: hq, #"{"recoveredFen":0}"#).status == .conflict)
            // Nothing lost beyond the tolerance is no claim; a transfer on the road or not yet sent has none yet.
            #expect(try await api.post("/v1/transfers/\(ids[1])/receive", key: b, #"{"freightFen":742,"insuranceFen":139}"#).status == .ok)
            for id in ids[1...] {
                let refused = try await api.post("/v1/transfers/\(id)/claim-settlement", key: hq, #"{"recoveredFen":0}"#)
                #expect(refused.status == .conflict, "\(id): \(refused.text)")
            }
            #expect(try await api.post("/v1/transfers/99999/claim-settlement", key: hq, #"{"recoveredFen":0}"#).status == .notFound)
            let audit = try await api.get("/v1/audit-events?limit=200", key: hq).text
            #expect(audit.contains("transfer.claim_settle"))
        }
    }

    /// Postings whose lines name the same two items in opposite orders, and receipts releasing
    /// the sender's in-transit while it dispatches more, all at once: balances are locked in item
    /// order everywhere, so none deadlocks (no transaction had to be retried) and every one posts.
    @Test func postingsInAnyLineOrderNeverDeadlock() async throws {
        let fixture = try await TenantFixture.create()
        try await withAPI { api in
            let (a, b) = (fixture.key("a-operator"), fixture.key("b-operator"))
            let skim = Self.milkItem.replacingOccurrences(of: "MILK-FRESH", with: "MILK-SKIM")
            for item in [Self.milkItem, skim] {
                #expect(try await api.post("/v1/items", key: fixture.key("hq-admin"), item).status == .created)
            }
            let receipt = try await api.post(
                "/v1/purchase-receipts", key: a,
                #"{"supplier":"牧场","lines":[{"item":"MILK-FRESH","quantity":"1000","unitCostFen":400},{"item":"MILK-SKIM","quantity":"1000","unitCostFen":300}]}"#)
            #expect(receipt.status == .created, "\(receipt.text)")
            func lines(_ index: Int, quantity: String, priced: Bool = true) -> String {
                let prices = priced ? [#","unitPriceFen":600"#, #","unitPriceFen":500"#] : ["", ""]
                let pair = [#"{"item":"MILK-FRESH","quantity":"\#(quantity)"\#(prices[0])}"#, #"{"item":"MILK-SKIM","quantity":"\#(quantity)"\#(prices[1])}"#]
                return "[" + (index % 2 == 0 ? pair : pair.reversed()).joined(separator: ",") + "]"
            }
            var transfers: [Int] = []
            for index in 0..<8 {
                let created = try await api.post("/v1/transfers", key: a, #"{"to":"WH-B","lines":\#(lines(index, quantity: "10", priced: false))}"#)
                transfers.append(try #require(json(created)["id"] as? Int, "\(created.text)"))
            }
            for id in transfers.prefix(4) { #expect(try await api.post("/v1/transfers/\(id)/dispatch", key: a).status == .ok) }
            let statuses = try await withThrowingTaskGroup(of: (String, HTTPResponse.Status).self) { group in
                for (index, id) in transfers.enumerated() {
                    group.addTask {
                        index < 4
                            ? ("receive", try await api.post("/v1/transfers/\(id)/receive", key: b, #"{"freightFen":100,"insuranceFen":10}"#).status)
                            : ("dispatch", try await api.post("/v1/transfers/\(id)/dispatch", key: a).status)
                    }
                }
                for index in 0..<16 {
                    group.addTask {
                        ("sale", try await api.post("/v1/sales-issues", key: a, #"{"customer":"c\#(index)","lines":\#(lines(index, quantity: "5"))}"#).status)
                    }
                }
                return try await group.reduce(into: [(String, HTTPResponse.Status)]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0.1 == .ok || ($0.0 == "sale" && $0.1 == .created) }, "\(statuses)")
            let metrics = try await api.get("/metrics", key: metricsToken).text
            let retried = metrics.split(separator: "\n").first { $0.hasPrefix("orgmatrix_db_transaction_retries_total ") }
            #expect(retried.flatMap { Double($0.split(separator: " ").last!) } == 0, "\(retried ?? "no retries counter")")
            // 1,000 − 8 transfers × 10 − 16 sales × 5 = 840 of each; the last four transfers are on the road.
            for item in ["MILK-FRESH", "MILK-SKIM"] {
                let stock = try #require((json(try await api.get("/v1/stock?org=WH-A&item=\(item)", key: a))["items"] as? [[String: Any]])?.first)
                #expect(stock["onHand"] as? String == "840.000")
                #expect(stock["inTransit"] as? String == "40.000")
            }
        }
        try await expectBooksBalance(fixture)
    }

    /// Statements for raw-SQL attacks on a `TransferScenario`'s transfers (5 L of fresh milk each).
    struct TransferSQL {
        /// The ledger transaction Schema/0013 requires beside a transfer's step, written in raw SQL
        /// as the acting principal: the database checks that it accompanies the step, not what it
        /// says (that is the verifier's), so any bytes do.
        static func evidence(_ transferID: some BinaryInteger, _ type: String) -> String {
            "INSERT INTO ledger_transactions (tenant_id, tx_hash, tx_type, at, canonical, endorser_org_ids, transfer_id, principal_id) "
                + "SELECT p.tenant_id, sha256(convert_to(gen_random_uuid()::text, 'UTF8')), '\(type)', now(), convert_to('{}', 'UTF8'), "
                + "ARRAY[p.org_id], \(transferID), p.principal_id FROM app_poster() p"
        }

        let scenario: TransferScenario

        /// Books the dispatched transfer's line: 5,000 ppm of 5,000 mL is absorbed (25); beyond it,
        /// a claim at ¥4.63/L; the landed value pro rata unless given.
        func booking(lost: Int, allowance: Int = 25, claim: Int, claimValue: Int = 0, landed: String? = nil) -> String {
            "UPDATE transfer_lines SET lost_scaled = \(lost), allowance_scaled = \(allowance), claim_scaled = \(claim), "
                + "claim_value_fen = \(claimValue), landed_value_fen = \(landed ?? "total_fen * (5000 - \(lost)) / 5000") "
                + "WHERE transfer_id = \(scenario.dispatched)"
        }

        /// Marks the dispatched transfer received with these figures.
        func receipt(total: String, error: String, flagged: Bool) -> String {
            "UPDATE transfers SET status = 'received', received_at = now(), actual_freight_fen = 0, actual_insurance_fen = 0, "
                + "actual_total_fen = \(total), error_ppm = \(error), flagged = \(flagged) WHERE transfer_id = \(scenario.dispatched)"
        }

        /// HQ's true-up of `transfer` by `amount`, in the name of `by` (the principal's own id by default).
        func trueUp(_ transfer: Int64, amount: String, by: String = "current_setting('app.principal_id')::bigint") -> String {
            "UPDATE transfers SET true_up_fen = \(amount), trued_up_by = \(by), trued_up_at = now() WHERE transfer_id = \(transfer)"
        }

        /// HQ's settlement of `transfer`'s claim for `recovered`.
        func settlement(_ transfer: Int64, recovered: String, also: String = "") -> String {
            "UPDATE transfers SET claim_recovered_fen = \(recovered), claim_settled_by = current_setting('app.principal_id')::bigint, "
                + "claim_settled_at = now()\(also) WHERE transfer_id = \(transfer)"
        }
    }

    static let skim = Item(
        code: "MILK-SKIM", name: "脱脂奶", baseUnit: "L", quantityScale: 1000, weightGramsPerUnit: 1030, category: "fresh_milk", shelfLifeDays: 7,
        taxCode: "1030201010000000000", taxRateBasisPoints: 900)

    /// The database, not only Swift, decides who advances a transfer and what a step may change:
    /// HQ's raw SQL cannot dispatch it, the receiver cannot cancel it, nobody can move it
    /// backwards, rewrite its price, add lines to it, create one already received, touch
    /// in-transit stock, mark it received before its lines are booked or without its figures,
    /// book a line twice, by halves or with more lost than sent, true it up or settle its claim
    /// unless HQ, once, in its own name, for no more than was claimed; the right step by the
    /// right party still goes through. (Which figures a step writes is Core's: see
    /// `figuresTheRulesDoNotGiveAreWrittenAsGivenForTheVerifierToName`.)
    @Test func onlyTheRightPartyAdvancesATransferEvenInRawSQL() async throws {
        let scenario = try await TransferScenario.make(label: "raw", items: [Self.skim])
        let sql = TransferSQL(scenario: scenario)
        let (created, dispatched, received) = (scenario.created, scenario.dispatched, scenario.received)
        let lineColumns = "tenant_id, transfer_id, line_no, from_org_id, to_org_id, item_id, quantity_scaled, unit_cost_fen, "
            + "weight_grams_per_unit, category, shelf_life_days, base_cost_fen, freight_fen, insurance_fen, loss_allowance_fen, timeliness_fen, "
            + "markup_fen, total_fen, breakdown"
        let headerColumns = "tenant_id, from_org_id, from_code, to_org_id, to_code, relation_id, status, rules_version, estimate_total_fen, created_by"
        let copyHeader = "INSERT INTO transfers (\(headerColumns)) SELECT \(headerColumns.replacingOccurrences(of: "status", with: "'created'")) "
            + "FROM transfers WHERE transfer_id = \(created)"
        // The created transfer's line, copied into the newest transfer (the sender's copy of the header).
        func copiedLine(number: Int, item: String, weight: String = "weight_grams_per_unit") -> String {
            let values = lineColumns.replacingOccurrences(of: "transfer_id", with: "(SELECT max(transfer_id) FROM transfers)")
                .replacingOccurrences(of: "line_no", with: String(number))
                .replacingOccurrences(of: ", item_id,", with: ", (SELECT item_id FROM items WHERE code = '\(item)'),")
                .replacingOccurrences(of: "weight_grams_per_unit", with: weight)
            return "INSERT INTO transfer_lines (\(lineColumns)) SELECT \(values) FROM transfer_lines WHERE transfer_id = \(created)"
        }
        let copyLine = copiedLine(number: 1, item: "MILK-FRESH")
        let secondLine = copiedLine(number: 2, item: "MILK-SKIM")
        // The received transfer lost 1 L, 975 mL beyond the tolerance: a claim worth 451 fen; its
        // error is beyond the tolerance: flagged.
        let attempts: [(principal: String, setup: [String], statement: String, allowed: Bool)] = [
            ("hq-admin", [], "UPDATE transfers SET status = 'dispatched' WHERE transfer_id = \(created)", false),
            ("b-operator", [], "UPDATE transfers SET status = 'cancelled' WHERE transfer_id = \(created)", false),
            ("b-operator", [], "UPDATE transfers SET status = 'received' WHERE transfer_id = \(created)", false),
            ("a-operator", [], "UPDATE transfers SET status = 'received' WHERE transfer_id = \(created)", false),
            ("a-operator", [], "UPDATE transfers SET status = 'dispatched', flagged = true WHERE transfer_id = \(created)", false),
            ("a-operator", [], "UPDATE transfers SET status = 'dispatched', estimate_total_fen = 1 WHERE transfer_id = \(created)", false),
            ("a-operator", [], "UPDATE transfer_lines SET total_fen = 1 WHERE transfer_id = \(created)", false),
            ("a-operator", [], "UPDATE transfer_lines SET weight_grams_per_unit = 1 WHERE transfer_id = \(created)", false),
            ("a-operator", [], "UPDATE transfers SET status = 'cancelled', cancelled_at = now() WHERE transfer_id = \(created)", true),
            ("a-operator", [], "UPDATE stock_balances SET in_transit_scaled = 0", false),
            ("b-operator", [], "UPDATE transfers SET status = 'received', dispatched_at = now() WHERE transfer_id = \(dispatched)", false),
            ("a-operator", [], sql.booking(lost: 0, claim: 0), false),
            ("b-operator", [], "UPDATE transfer_lines SET lost_scaled = 0, landed_value_fen = 0 WHERE transfer_id = \(dispatched)", false),
            ("b-operator", [], sql.booking(lost: 5001, claim: 4976), false),
            ("b-operator", [], sql.booking(lost: -1, claim: 0), false),
            ("b-operator", [], sql.booking(lost: 100, claim: 75, claimValue: 35), true),
            ("b-operator", [], sql.booking(lost: 0, claim: 0), true),
            ("b-operator", [sql.booking(lost: 0, claim: 0)], sql.booking(lost: 0, claim: 0), false),
            ("b-operator", [], sql.receipt(total: "estimate_total_fen", error: "0", flagged: false), false),
            ("b-operator", [sql.booking(lost: 0, claim: 0)], sql.receipt(total: "NULL", error: "0", flagged: false), false),
            ("b-operator", [sql.booking(lost: 0, claim: 0)], sql.receipt(total: "-1", error: "0", flagged: false), false),
            ("b-operator", [sql.booking(lost: 0, claim: 0)], sql.receipt(total: "estimate_total_fen", error: "0", flagged: false), true),
            ("a-operator", [], "INSERT INTO transfer_lines (\(lineColumns)) SELECT \(lineColumns.replacingOccurrences(of: "line_no", with: "2")) "
                + "FROM transfer_lines WHERE transfer_id = \(dispatched)", false),
            ("c-operator", [], "INSERT INTO transfer_lines (\(lineColumns)) SELECT o.tenant_id, \(created), 2, o.org_id, o.org_id, i.item_id, "
                + "1000, 1, i.weight_grams_per_unit, i.category, i.shelf_life_days, 1, 0, 0, 0, 0, 0, 1, '[]' "
                + "FROM orgs o JOIN items i USING (tenant_id) WHERE o.code = 'WH-C' AND i.code = 'MILK-FRESH'", false),
            ("a-operator", [], copyHeader.replacingOccurrences(of: "'created'", with: "'received'"), false),
            ("a-operator", [], copyHeader, true),
            ("a-operator", [copyHeader], copyLine, true),
            // The goods as priced are the item as it is: a lighter one would have cost less freight.
            ("a-operator", [copyHeader], copiedLine(number: 1, item: "MILK-FRESH", weight: "1"), false),
            // Checked once early, the estimate would let a later line through: every line is checked.
            ("a-operator", [copyHeader, copyLine, "SET CONSTRAINTS ALL IMMEDIATE"], secondLine, false),
            ("b-operator", [], "UPDATE transfer_lines SET landed_value_fen = 0 WHERE transfer_id = \(received)", false),
            ("a-operator", [], "UPDATE transfer_lines SET landed_value_fen = 0 WHERE transfer_id = \(received)", false),
            ("b-operator", [], "UPDATE transfers SET actual_total_fen = 1 WHERE transfer_id = \(received)", false),
            // HQ's steps on the received transfer: 2,902 actual − 2,436 estimated = 466.
            ("hq-admin", [], sql.trueUp(received, amount: "466"), true),
            ("a-operator", [], sql.trueUp(received, amount: "466"), false),
            ("b-operator", [], sql.trueUp(received, amount: "466"), false),
            ("hq-admin", [], sql.trueUp(received, amount: "466", by: "created_by"), false),
            ("hq-admin", [sql.trueUp(received, amount: "466")], sql.trueUp(received, amount: "466"), false),
            ("hq-admin", [], sql.trueUp(dispatched, amount: "0"), false),
            ("hq-admin", [], sql.settlement(received, recovered: "451"), true),
            ("hq-admin", [sql.trueUp(received, amount: "466")], sql.settlement(received, recovered: "0"), true),
            ("hq-admin", [], sql.settlement(received, recovered: "452"), false),
            ("hq-admin", [], sql.settlement(received, recovered: "-1"), false),
            ("hq-admin", [], sql.settlement(received, recovered: "1", also: ", flagged = false"), false),
            ("hq-admin", [], sql.settlement(received, recovered: "1", also: ", true_up_fen = 466"), false),
            ("hq-admin", [sql.settlement(received, recovered: "1")], sql.settlement(received, recovered: "1"), false),
            ("hq-admin", [], sql.settlement(dispatched, recovered: "0"), false),
            ("a-operator", [], sql.settlement(received, recovered: "1"), false),
            ("b-operator", [], sql.settlement(received, recovered: "1"), false),
        ]
        for attempt in attempts {
            let returning = attempt.statement.hasPrefix("SET") ? "" : " RETURNING 1"
            let outcome = try await scenario.rawSQL(as: attempt.principal, setup: attempt.setup, attempt.statement + returning)
            let updated = (try? outcome.get())?.isEmpty == false
            #expect(updated == attempt.allowed, "\(attempt.principal): \(attempt.statement) → \(outcome.map { "\($0.count) rows" })")
            if case .failure(let refusal) = outcome { #expect(refusal.byARule, "\(attempt.principal): \(attempt.statement) → \(refusal)") }
        }
    }

    /// Which figures a step writes is Core's (Schema/0011): raw SQL by the receiver with a
    /// claim, allowance, claim value, landed value, actual total, error or flag the rules do not
    /// give, or by HQ with a true-up that is not actual − estimate, is written as given. The
    /// ledger verifier (issue 11 §5) recomputes each from the evidence and names it; its tests
    /// start from the same `TransferScenario` and statements.
    @Test func figuresTheRulesDoNotGiveAreWrittenAsGivenForTheVerifierToName() async throws {
        let scenario = try await TransferScenario.make(label: "figures")
        let sql = TransferSQL(scenario: scenario)
        let booked = " RETURNING lost_scaled, allowance_scaled, claim_scaled, claim_value_fen, landed_value_fen"
        // Core: 5 L lost is 25 mL absorbed and 4,975 mL claimed (2,303 fen), landed 0; nothing lost is
        // 25 mL allowed and landed at the whole 2,436; 100 mL lost is 75 mL claimed, 35 fen.
        let lines: [(statement: String, written: [Int64])] = [
            (sql.booking(lost: 5000, claim: 0), [5000, 25, 0, 0, 0]),
            (sql.booking(lost: 0, allowance: 0, claim: 0), [0, 0, 0, 0, 2436]),
            (sql.booking(lost: 100, claim: 75, claimValue: 1_000_000_000), [100, 25, 75, 1_000_000_000, 2387]),
            (sql.booking(lost: 0, claim: 0, landed: "1"), [0, 25, 0, 0, 1]),
        ]
        for (statement, written) in lines {
            let rows = try await scenario.rawSQL(as: "b-operator", statement + booked).get()
            let row = try rows.first.map { try $0.decode((Int64, Int64, Int64, Int64, Int64).self) }
            #expect(row.map { [$0.0, $0.1, $0.2, $0.3, $0.4] } == written, "\(statement)")
        }
        let header = " RETURNING actual_total_fen, error_ppm, flagged"
        // Core: nothing lost and no freight is an actual cost near the estimate, an error of a few
        // thousand ppm, not flagged; an actual total of 1 fen and a flag without an error are not Core's.
        let receipts: [(statement: String, written: (Int64, Int64?, Bool))] = [
            (sql.receipt(total: "1", error: "0", flagged: false), (1, 0, false)),
            (sql.receipt(total: "estimate_total_fen", error: "NULL", flagged: true), (2436, nil, true)),
        ]
        for (statement, written) in receipts {
            let rows = try await scenario.rawSQL(as: "b-operator", setup: [sql.booking(lost: 0, claim: 0)], statement + header).get()
            let row = try rows.first.map { try $0.decode((Int64, Int64?, Bool).self) }
            #expect(row?.0 == written.0 && row?.1 == written.1 && row?.2 == written.2, "\(statement)")
        }
        // Core: 2,902 − 2,436 = 466.
        let trueUp = try await scenario.rawSQL(as: "hq-admin", sql.trueUp(scenario.received, amount: "1") + " RETURNING true_up_fen").get()
        #expect(try trueUp.first?.decode(Int64.self) == 1)
        // Committed with the moves of what arrived at that landed value, the books hold (every
        // quantity is accounted for): the figures are the verifier's to judge, and the Store reads
        // the transfer as written.
        let arrival = "INSERT INTO stock_moves (tenant_id, org_id, item_id, quantity_scaled, value_fen, unit_cost_fen, document_type, document_id, "
            + "principal_id, bucket) SELECT l.tenant_id, l.to_org_id, l.item_id, 5000, 1, 0, 'transfer_receipt', l.transfer_id, "
            + "current_setting('app.principal_id')::bigint, 'on_hand' FROM transfer_lines l WHERE l.transfer_id = \(scenario.dispatched)"
        _ = try await scenario.rawSQL(
            as: "b-operator",
            setup: [
                sql.booking(lost: 0, claim: 0, landed: "1"), sql.receipt(total: "1", error: "0", flagged: false),
                TransferSQL.evidence(scenario.dispatched, "transfer.received"),
            ], arrival, commit: true
        ).get()
        #expect(try await scenario.fixture.booksDiscrepancies() == [])
        let environment = try await SharedDatabase.environment()
        try await makeApp(databaseURL: environment.appURL).test(.router) { client in
            let written = json(try await IsolationTests.API(client: client).get("/v1/transfers/\(scenario.dispatched)", key: scenario.fixture.key("b-operator")))
            #expect(written["actualTotalFen"] as? Int == 1)
            #expect((written["lines"] as? [[String: Any]])?.first?["landedValueFen"] as? Int == 1)
        }
        // It claimed nothing, so HQ has no claim of it to settle, even in raw SQL.
        let settled = try await scenario.rawSQL(as: "hq-admin", sql.settlement(scenario.dispatched, recovered: "0") + " RETURNING 1")
        guard case .failure(let refusal) = settled else { Issue.record("HQ settled a claim of nothing"); return }
        #expect(refusal.byARule, "\(refusal)")
    }

    /// Raw SQL as the application role, with valid principals, committing: no balance is
    /// written but by the database from moves, and a transfer becomes dispatched only with
    /// dispatch moves equal to its lines, received only with receipt moves equal to what arrived
    /// (the deferred checks run at COMMIT); moves without their state are refused too. The
    /// same steps with exactly their moves commit, and the books hold afterwards.
    @Test func balancesAndTransferStatesFollowOnlyFromMovesEvenInRawSQL() async throws {
        let fixture = try await TenantFixture.create()
        let environment = try await SharedDatabase.environment()
        let (created, dispatched) = try await makeApp(databaseURL: environment.appURL).test(.router) { client in
            let api = API(client: client)
            try await setUp(api, fixture)
            let a = fixture.key("a-operator")
            var ids: [Int] = []
            for _ in 0..<2 {
                let transfer = try await api.post("/v1/transfers", key: a, #"{"to":"WH-B","lines":[{"item":"MILK-FRESH","quantity":"5"}]}"#)
                ids.append(try #require(json(transfer)["id"] as? Int))
            }
            #expect(try await api.post("/v1/transfers/\(ids[1])/dispatch", key: a).status == .ok)
            return (ids[0], ids[1])
        }
        let moveColumns = "tenant_id, org_id, item_id, quantity_scaled, value_fen, unit_cost_fen, document_type, document_id, principal_id, bucket"
        // Moves of `transfer` at its sender (or receiver), one per (quantity, value, bucket).
        func moves(_ transfer: Int, _ document: String, at side: String, _ rows: [(Int, String, String)]) -> String {
            let values = rows.map { "(\($0.0), \($0.1), '\($0.2)')" }.joined(separator: ", ")
            return "INSERT INTO stock_moves (\(moveColumns)) SELECT l.tenant_id, l.\(side)_org_id, l.item_id, m.q, m.v, 463, '\(document)', "
                + "l.transfer_id, current_setting('app.principal_id')::bigint, m.bucket FROM transfer_lines l CROSS JOIN LATERAL (VALUES \(values)) AS m (q, v, bucket) "
                + "WHERE l.transfer_id = \(transfer)"
        }
        let dispatch = "UPDATE transfers SET status = 'dispatched', dispatched_at = now() WHERE transfer_id = \(created)"
        let dispatchMoves = moves(created, "transfer_dispatch", at: "from", [(-5000, "-2315", "on_hand"), (5000, "2315", "in_transit")])
        let booking = "UPDATE transfer_lines SET lost_scaled = 0, allowance_scaled = 25, claim_scaled = 0, claim_value_fen = 0, "
            + "landed_value_fen = total_fen WHERE transfer_id = \(dispatched)"
        let receipt = "UPDATE transfers SET status = 'received', received_at = now(), actual_freight_fen = 0, actual_insurance_fen = 0, "
            + "actual_total_fen = estimate_total_fen, error_ppm = 0, flagged = false WHERE transfer_id = \(dispatched)"
        func arrival(_ quantity: Int, value: String = "l.landed_value_fen") -> String {
            moves(dispatched, "transfer_receipt", at: "to", [(quantity, value, "on_hand")])
        }
        let (denied, unmatched) = ("permission denied", "has not exactly the stock moves of its state")
        let refused: [(principal: String, statements: [String], error: String)] = [
            ("a-operator", ["INSERT INTO stock_balances (tenant_id, org_id, item_id, on_hand_scaled, value_fen) "
                + "SELECT tenant_id, org_id, item_id, on_hand_scaled + 1000, value_fen FROM stock_balances"], denied),
            ("a-operator", ["UPDATE stock_balances SET on_hand_scaled = on_hand_scaled + 1000"], denied),
            ("a-operator", ["UPDATE stock_balances SET in_transit_scaled = 0"], denied),
            ("a-operator", ["SELECT * FROM stock_balances FOR UPDATE"], denied),
            // Dispatched without its moves, with half of them, with half the quantity, at another
            // value in transit than left on hand; moves without the state.
            ("a-operator", [dispatch], unmatched),
            ("a-operator", [moves(created, "transfer_dispatch", at: "from", [(-5000, "-2315", "on_hand")]), dispatch], unmatched),
            ("a-operator", [moves(created, "transfer_dispatch", at: "from", [(-2500, "-1158", "on_hand"), (2500, "1158", "in_transit")]), dispatch],
                unmatched),
            ("a-operator", [moves(created, "transfer_dispatch", at: "from", [(-5000, "-2315", "on_hand"), (5000, "9999", "in_transit")]), dispatch],
                unmatched),
            ("a-operator", [dispatchMoves], unmatched),
            // In transit only by transfers; a dispatched transfer's goods stay on the road until received.
            ("a-operator", [moves(created, "stock_count", at: "from", [(5000, "0", "in_transit")])], "stock_moves_in_transit_by_transfers"),
            ("a-operator", [moves(dispatched, "transfer_receipt", at: "from", [(-5000, "-2315", "in_transit")])], unmatched),
            // Received without what arrived, with more than was sent, or at another value; arrived without being received.
            ("b-operator", [booking, receipt], unmatched),
            ("b-operator", [booking, arrival(6000), receipt], unmatched),
            ("b-operator", [booking, arrival(5000, value: "l.landed_value_fen + 1000"), receipt], unmatched),
            ("b-operator", [booking, arrival(5000)], unmatched),
            // No step without its ledger transaction (the trailing space keeps `commit` from adding
            // it), no ledger transaction without its step.
            ("a-operator", [dispatchMoves, dispatch + " "], "without its ledger transaction"),
            ("a-operator", [TransferSQL.evidence(created, "transfer.dispatched")], "is written with that step"),
            ("b-operator", [TransferSQL.evidence(created, "transfer.received")], "is written with that step"),
        ]
        let allowed: [(principal: String, statements: [String])] = [
            ("a-operator", [dispatchMoves, dispatch]),
            ("b-operator", [booking, receipt, arrival(5000)]),
        ]
        func commit(_ principal: String, _ statements: [String]) async throws -> String? {
            try await withConnection(environment.appURL) { connection -> String? in
                try await connection.query("BEGIN", logger: testLogger)
                let apiKey = APIKey(fixture.key(principal))!
                _ = try await connection.query(
                    "SELECT 1 FROM app_begin(\(apiKey.tenant.rawValue), \(ByteBuffer(bytes: apiKey.hash)))", logger: testLogger
                ).collect()
                // Each step with the ledger transaction 0013 requires beside it, so what is tried
                // here is the moves.
                let withEvidence = statements.flatMap { statement in
                    statement == dispatch
                        ? [statement, TransferSQL.evidence(created, "transfer.dispatched")]
                        : statement == receipt ? [statement, TransferSQL.evidence(dispatched, "transfer.received")] : [statement]
                }
                do {
                    for statement in withEvidence { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: testLogger) }
                    try await connection.query("COMMIT", logger: testLogger)
                    return nil
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: testLogger)
                    return String(reflecting: error)
                }
            }
        }
        let before = try await fixture.rowCounts()
        for attempt in refused {
            let error = try await commit(attempt.principal, attempt.statements)
            #expect(error?.contains(attempt.error) == true, "\(attempt.principal): \(attempt.statements) → \(error ?? "committed")")
        }
        // The owner writes no balance either.
        let ownerError = try await withConnection(environment.ownerURL) { connection -> String? in
            do {
                try await connection.query(
                    "UPDATE stock_balances SET on_hand_scaled = on_hand_scaled + 1 WHERE tenant_id = \(fixture.tenantID.rawValue)", logger: testLogger)
                return nil
            } catch {
                return String(reflecting: error)
            }
        }
        #expect(ownerError?.contains("from stock moves only") == true, "\(ownerError ?? "owner updated a balance")")
        #expect(try await fixture.rowCounts() == before)
        for attempt in allowed {
            let error = try await commit(attempt.principal, attempt.statements)
            #expect(error == nil, "\(attempt.principal): \(attempt.statements) → \(error ?? "")")
        }
        try await expectBooksBalance(fixture)
    }
}
